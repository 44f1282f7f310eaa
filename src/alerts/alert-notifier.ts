/*
 * Supervisors' alert email. Anything that alerts (an SLA breach, a queue under its service-level target, a
 * contact waiting past its threshold) calls notify(); when SUPERVISOR_ALERT_EMAIL names recipients and a
 * mailer is attached (the email channel's first mailbox with SMTP), the alert is mailed, at most once per
 * `everyMinutes` per alert key across every process (a Redis key taken with SET NX PX). Without recipients
 * or a mailer, notify does nothing: the dashboard shows every alert anyway.
 */
import type { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';

export interface Alert {
  /** Alerts with one key are one alert for throttling: `sla:breach:billing:firstResponse`. */
  key: string;
  subject: string;
  text: string;
}

export type Mailer = (notice: { to: string[]; subject: string; text: string }) => Promise<void>;

export function createAlertNotifier(deps: {
  to: readonly string[];
  everyMinutes: number;
  redis: Redis;
  prefix: string;
  log: FastifyBaseLogger;
}) {
  let mailer: Mailer | null = null;
  return {
    /** Attached once the email channel is up (it may be off: then alerts are not mailed). */
    useMailer(send: Mailer | null) {
      mailer = send;
    },

    /** Mails the alert unless one with its key went out within the period; true when it was sent. */
    async notify(alert: Alert): Promise<boolean> {
      if (deps.to.length === 0 || !mailer) return false;
      const taken = await deps.redis.set(
        `${deps.prefix}alert-mail:${alert.key}`,
        new Date().toISOString(),
        'PX',
        deps.everyMinutes * 60_000,
        'NX',
      );
      if (taken !== 'OK') return false;
      try {
        await mailer({ to: [...deps.to], subject: `[Switchboard] ${alert.subject}`, text: alert.text });
        deps.log.info({ key: alert.key, to: deps.to }, 'alert mailed to supervisors');
        return true;
      } catch (err) {
        // Not sent: let the next alert of this key try again rather than wait out the period.
        await deps.redis.del(`${deps.prefix}alert-mail:${alert.key}`);
        throw err;
      }
    },
  };
}

export type AlertNotifier = ReturnType<typeof createAlertNotifier>;

/*
 * Keeps every process on the same rules. A change is picked up by each process's folder watcher, or by an
 * admin's reload request, which also tells the other processes (Redis pub/sub) to reload. Every outcome is
 * audited once for the cluster (a Redis SET NX on the version or the refusal decides which process writes
 * it): which rule set came into force, replacing which, or why a change was refused while the rules in force
 * stayed.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LoadOutcome, RulesStore } from './rules/rules.loader.js';

export interface RulesAudit {
  record(entry: {
    actorId: string | null;
    action: string;
    subjectType: string;
    subjectId: string;
    details: Record<string, unknown>;
  }): Promise<string>;
}

export interface RulesSyncLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export function startRulesSync(deps: {
  rules: RulesStore;
  redis: Redis;
  prefix: string;
  audit: RulesAudit;
  log: RulesSyncLog;
  watch: boolean;
}) {
  const channel = `${deps.prefix}routing:rules-reload`;
  // No ready check: it sends INFO, which a connection in subscriber mode may not (ioredis would throw).
  const subscriber = deps.redis.duplicate({ enableReadyCheck: false });
  // Redis going away is logged here; without a listener ioredis prints every reconnect attempt to stderr.
  subscriber.on('error', (err: Error) =>
    deps.log.warn({ err: err.message }, 'redis error (routing rules reloads)'),
  );

  async function record(outcome: LoadOutcome, actorId: string | null, trigger: string) {
    if (outcome.status === 'unchanged') return;
    const subject =
      outcome.status === 'loaded'
        ? outcome.rules.fingerprint
        : createHash('sha256').update(JSON.stringify(outcome.problems)).digest('hex');
    const key = `${deps.prefix}routing:rules-audited:${outcome.status}:${subject}`;
    // Every process sees the same change; one writes it down.
    const isFirst = await deps.redis.set(key, '1', 'EX', 3600, 'NX');
    if (outcome.status === 'loaded') {
      deps.log.info({ fingerprint: subject, files: outcome.rules.files, trigger }, 'routing rules loaded');
    } else {
      deps.log.error(
        { problems: outcome.problems, trigger },
        'routing rules refused; the rules in force stay',
      );
    }
    if (isFirst !== 'OK') return;
    await deps.audit.record({
      actorId,
      action: outcome.status === 'loaded' ? 'routing.rules.loaded' : 'routing.rules.refused',
      subjectType: 'routing_rules',
      subjectId: subject,
      details:
        outcome.status === 'loaded'
          ? {
              trigger,
              files: outcome.rules.files,
              queues: [...outcome.rules.queues.keys()],
              previousFingerprint: outcome.previous?.fingerprint ?? null,
            }
          : {
              trigger,
              problems: outcome.problems,
              inForceFingerprint: outcome.inForce?.fingerprint ?? null,
            },
    });
  }

  const handle = (actorId: string | null, trigger: string) => (outcome: LoadOutcome) => {
    record(outcome, actorId, trigger).catch((err: unknown) =>
      deps.log.error({ err }, 'recording a routing rules change failed'),
    );
  };

  const stopWatching = deps.watch ? deps.rules.watch(handle(null, 'file change')) : () => undefined;
  subscriber.on('message', (_channel, actorId: string) => {
    deps.rules
      .load()
      .then(handle(actorId || null, 'reload requested'), (err: unknown) =>
        deps.log.error({ err }, 'reloading routing rules failed'),
      );
  });
  const subscribed = subscriber.subscribe(channel).catch((err: unknown) => {
    deps.log.error({ err }, 'cannot subscribe to routing rules reloads');
  });

  return {
    /** Reloads here, tells the other processes, and returns this process's outcome. */
    async reload(actorId: string): Promise<LoadOutcome> {
      const outcome = await deps.rules.load();
      await record(outcome, actorId, 'reload requested');
      await deps.redis.publish(channel, actorId);
      return outcome;
    },
    async stop(): Promise<void> {
      stopWatching();
      await subscribed;
      subscriber.disconnect();
    },
  };
}

export type RulesSync = ReturnType<typeof startRulesSync>;

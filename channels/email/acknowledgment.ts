/*
 * Acknowledgments of new email interactions, following RFC 3834: never to a message that is itself
 * automatic (Auto-Submitted other than "no", Precedence bulk/list/junk/auto_reply, X-Autoreply,
 * X-Auto-Response-Suppress, mailing-list headers, a null Return-Path, mailer-daemon: see auto-reply.ts),
 * never to a bounce, never to ourselves, and at most `maxPerSenderPerHour` to one sender (a sliding hour
 * counted in Redis, across every process). The acknowledgment itself is marked Auto-Submitted: auto-replied
 * by the sender (smtp-sender.ts), so that well-behaved auto-responders do not answer it.
 */
import type { Redis } from 'ioredis';
import type { IngestResult } from '../../src/interactions/inbound-contact.js';
import type { Mailbox } from './mailboxes.js';
import { splitAddress } from './thread-clues.js';
import type { ParsedEmail } from './types.js';

export interface Acknowledger {
  /** Sends the mailbox's acknowledgment for a new interaction, unless it must not. Returns why not. */
  acknowledge(
    result: Pick<IngestResult, 'interactionId'>,
    parsed: ParsedEmail,
  ): Promise<{ isSent: boolean; reason: string }>;
}

// Drops entries older than the window, then adds this one only if under the limit: one atomic step.
const takeSlot = `
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[1], ARGV[4])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1`;

export function createAcknowledger(deps: {
  mailbox: Mailbox;
  redis: Redis;
  prefix: string;
  sendAutomatic: (
    interactionId: string,
    content: { automatic: 'acknowledgment'; subject: string; text: string },
  ) => Promise<unknown>;
  ticketOf: (interactionId: string) => Promise<number>;
  log: { info(obj: object, msg: string): void };
}): Acknowledger {
  const { mailbox } = deps;
  const settings = mailbox.acknowledgment;
  const [ownLocal, ownDomain] = splitAddress(mailbox.address);

  async function whyNot(parsed: ParsedEmail): Promise<string | null> {
    if (!settings.enabled) return 'acknowledgments are off for this mailbox';
    if (parsed.bounce) return 'a delivery status notification';
    if (parsed.automatic) return `automatic message: ${parsed.automatic}`;
    const to = (parsed.replyTo[0] ?? parsed.from)?.address?.trim().toLowerCase();
    if (!to) return 'no sender address';
    const [local, domain] = splitAddress(to);
    if (domain === ownDomain && (local === ownLocal || local.startsWith(`${ownLocal}+`)))
      return 'the sender is this mailbox';
    if (settings.maxPerSenderPerHour === 0) return 'the per-sender limit is 0';
    const key = `${deps.prefix}email:acks:${mailbox.id}:${to}`;
    const now = Date.now();
    const taken = await deps.redis.eval(
      takeSlot,
      1,
      key,
      String(now),
      String(3_600_000),
      String(settings.maxPerSenderPerHour),
      `${now}:${Math.random()}`,
    );
    return taken === 1 ? null : `already ${settings.maxPerSenderPerHour} acknowledgments to ${to} this hour`;
  }

  return {
    async acknowledge(result, parsed) {
      const reason = await whyNot(parsed);
      if (reason) {
        deps.log.info(
          { mailbox: mailbox.id, interactionId: result.interactionId, reason },
          'no acknowledgment',
        );
        return { isSent: false, reason };
      }
      const ticket = await deps.ticketOf(result.interactionId);
      const fill = (template: string) =>
        template.replace(/\{\{\s*(ticket|subject|name)\s*\}\}/g, (_, key: string) =>
          key === 'ticket'
            ? String(ticket)
            : key === 'subject'
              ? parsed.subject || '(no subject)'
              : parsed.from?.name || 'there',
        );
      await deps.sendAutomatic(result.interactionId, {
        automatic: 'acknowledgment',
        subject: fill(settings.subject)
          .replace(/[\r\n]+/g, ' ')
          .slice(0, 300),
        text: fill(settings.text),
      });
      return { isSent: true, reason: 'new interaction' };
    },
  };
}

/*
 * From a raw message to the log, for one mailbox. Each message is parsed (never failing: what cannot be
 * read is flagged for a person), its raw bytes and attachments kept, threaded, and ingested idempotently
 * on its Message-ID (or, without one, a hash of its bytes); then its Message-ID and participants are
 * recorded for threading, and a new interaction is acknowledged when RFC 3834 allows. A bounce on one of
 * our messages is not a customer's message: it is attached to the interaction of the message it reports.
 *
 * Messages of a batch are parsed ahead of time but logged one after another, in UID order, so that a reply
 * finds the message it answers even when both arrived together.
 */
import { createHash } from 'node:crypto';
import type { EmailRepository } from '../../src/db/repositories/email.repository.js';
import type { KeptAttachment } from '../../src/interactions/attachments.service.js';
import type { EmailThreading } from '../../src/interactions/email-threading.service.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { Acknowledger } from './acknowledgment.js';
import type { FetchedMessage } from './imap-poller.js';
import type { Mailbox } from './mailboxes.js';
import { parseEmail } from './parse.js';
import { rewriteInlineImages } from './sanitize.js';
import { threadCluesOf } from './thread-clues.js';
import type { EmailAddress, ParsedEmail } from './types.js';

export interface MailIngestDeps {
  mailbox: Mailbox;
  ingest: (contact: InboundContact) => Promise<IngestResult>;
  threading: Pick<EmailThreading, 'resolve'>;
  email: Pick<EmailRepository, 'recordMessages' | 'ourMessage' | 'logBounce' | 'loggedExternalIds'>;
  attachments: {
    keep(content: Buffer, file: { fileName: string; contentType: string }): Promise<KeptAttachment>;
    discard(attachment: KeptAttachment): Promise<void>;
  };
  acknowledger: Acknowledger;
  /** Where agents' browsers fetch a kept attachment (inline images in HTML). */
  attachmentUrl: (id: string) => string;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export type MailOutcome =
  | { kind: 'logged'; result: IngestResult; externalId: string }
  | { kind: 'duplicate'; externalId: string }
  | { kind: 'bounce'; interactionId: string; isNew: boolean };

export function createMailIngest(deps: MailIngestDeps) {
  const { mailbox } = deps;
  const limits = {
    maxAttachmentBytes: mailbox.maxAttachmentBytes,
    maxTotalAttachmentBytes: Math.max(mailbox.maxAttachmentBytes, 4 * mailbox.maxAttachmentBytes),
  };

  async function logOne(raw: Buffer, parsed: ParsedEmail, internalDate: Date | null): Promise<MailOutcome> {
    const externalId =
      parsed.messageId ?? `<sha256.${createHash('sha256').update(raw).digest('hex')}@no-message-id>`;

    // A bounce on one of our messages goes to that message's interaction.
    if (parsed.bounce?.originalMessageId) {
      const ours = await deps.email.ourMessage(parsed.bounce.originalMessageId);
      if (ours) {
        const { bounce } = parsed;
        const isNew = await deps.email.logBounce({
          interactionId: ours.interactionId,
          bounceMessageId: externalId,
          messageEventId: ours.eventId,
          reason: `bounced: ${[bounce.status, bounce.diagnostic].filter(Boolean).join(' ') || 'undeliverable'}`,
          payload: {
            originalMessageId: bounce.originalMessageId,
            recipients: bounce.recipients,
            action: bounce.action,
            status: bounce.status,
            diagnostic: bounce.diagnostic,
          },
        });
        return { kind: 'bounce', interactionId: ours.interactionId, isNew };
      }
    }

    const kept: KeptAttachment[] = [];
    try {
      // The raw message first: whatever parsing missed, a person can still open the original.
      const original = await deps.attachments.keep(raw, {
        fileName: 'original-message.eml',
        contentType: 'message/rfc822',
      });
      kept.push(original);
      const urls = new Map<string, string>();
      for (const a of parsed.attachments) {
        const file = await deps.attachments.keep(a.content, {
          fileName: a.fileName,
          contentType: a.contentType,
        });
        kept.push(file);
        if (a.contentId) urls.set(a.contentId.toLowerCase(), deps.attachmentUrl(file.id));
      }
      const clues = threadCluesOf(parsed, mailbox.address);
      const decision = await deps.threading.resolve(clues);
      const from = parsed.from;
      const contact: InboundContact = {
        channel: 'email',
        externalId,
        identities: from?.address ? [{ kind: 'email', value: from.address }] : [],
        ...(from?.name && { displayName: from.name }),
        subject: parsed.subject,
        text: parsed.text,
        ...(parsed.html && { html: rewriteInlineImages(parsed.html, urls) }),
        attachments: kept.slice(1).concat(original),
        hints: {
          mailbox: mailbox.queueHint,
          receivedOn: mailbox.address,
          ...(parsed.automatic && { automatic: true }),
          ...(parsed.problems.length > 0 && { needsAttention: true }),
        },
        details: detailsOf(mailbox.id, parsed, decision.refused),
        ...((parsed.date ?? internalDate) && { occurredAt: plausibleDate(parsed.date, internalDate) }),
        ...(decision.match && {
          thread: {
            interactionId: decision.match.interactionId,
            reason: decision.match.reason,
            reopenWithinSeconds: mailbox.reopenWithinSeconds,
          },
        }),
      };
      const result = await deps.ingest(contact);
      if (result.isDuplicate) {
        await Promise.all(kept.map((k) => deps.attachments.discard(k)));
      }
      await deps.email.recordMessages([
        {
          messageId: externalId,
          interactionId: result.interactionId,
          eventId: result.eventId,
          direction: 'inbound',
          isOurs: false,
          participants: participantsOf(parsed),
        },
      ]);
      if (result.isDuplicate) return { kind: 'duplicate', externalId };
      if (result.isNewInteraction) await deps.acknowledger.acknowledge(result, parsed);
      return { kind: 'logged', result, externalId };
    } catch (err) {
      await Promise.all(kept.map((k) => deps.attachments.discard(k).catch(() => undefined)));
      throw err;
    }
  }

  return {
    /**
     * Logs a batch in order; throws on the first message that could not be logged (the caller keeps its
     * cursor before it and retries). Messages already in the log are recognised before their parts are kept.
     */
    async handle(messages: FetchedMessage[]): Promise<MailOutcome[]> {
      const parsed = await Promise.all(messages.map((m) => parseEmail(m.source, limits)));
      const ids = parsed.map((p) => p.messageId).filter((id): id is string => id !== null);
      const logged = new Set(await deps.email.loggedExternalIds(ids));
      const outcomes: MailOutcome[] = [];
      for (const [i, message] of messages.entries()) {
        const p = parsed[i]!;
        if (p.messageId && logged.has(p.messageId) && !p.bounce) {
          outcomes.push({ kind: 'duplicate', externalId: p.messageId });
          continue;
        }
        outcomes.push(await logOne(message.source, p, message.internalDate));
      }
      return outcomes;
    },
  };
}

export type MailIngest = ReturnType<typeof createMailIngest>;

const lower = (list: EmailAddress[]) => list.map((a) => a.address.trim().toLowerCase()).filter(Boolean);

function participantsOf(parsed: ParsedEmail): string[] {
  const all = [...(parsed.from ? [parsed.from] : []), ...parsed.to, ...parsed.cc, ...parsed.replyTo];
  return [...new Set(lower(all))].slice(0, 100);
}

function detailsOf(
  mailboxId: string,
  parsed: ParsedEmail,
  threadingRefused: string[],
): Record<string, unknown> {
  const list = (l: EmailAddress[]) =>
    l.slice(0, 50).map((a) => (a.name ? { address: a.address, name: a.name } : { address: a.address }));
  return {
    mailbox: mailboxId,
    messageId: parsed.messageId,
    ...(parsed.from && { from: list([parsed.from])[0] }),
    to: list(parsed.to),
    ...(parsed.cc.length > 0 && { cc: list(parsed.cc) }),
    ...(parsed.replyTo.length > 0 && { replyTo: list(parsed.replyTo) }),
    ...(parsed.inReplyTo.length > 0 && { inReplyTo: parsed.inReplyTo.slice(0, 5) }),
    ...(parsed.references.length > 0 && { references: parsed.references.slice(-20) }),
    ...(parsed.date && { date: parsed.date.toISOString() }),
    ...(parsed.automatic && { automatic: parsed.automatic }),
    ...(parsed.problems.length > 0 && { problems: parsed.problems }),
    ...(parsed.omittedAttachments.length > 0 && {
      omittedAttachments: parsed.omittedAttachments.slice(0, 50),
    }),
    ...(threadingRefused.length > 0 && { threadingRefused: threadingRefused.slice(0, 10) }),
  };
}

/** The Date header unless it is absurd (years off, or in the future), else the server's arrival time. */
function plausibleDate(header: Date | null, internal: Date | null): Date {
  const now = Date.now();
  if (
    header &&
    !Number.isNaN(header.getTime()) &&
    header.getTime() <= now + 5 * 60_000 &&
    header.getTime() > now - 5 * 365 * 86_400_000
  )
    return header;
  return internal ?? new Date();
}

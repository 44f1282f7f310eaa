/*
 * From raw messages to the log, for one mailbox, a batch at a time. Each message is parsed (never failing:
 * what cannot be read is flagged for a person), its raw bytes and attachments kept, threaded, and ingested
 * idempotently on its Message-ID (or, without one, a hash of its bytes); then its Message-ID and
 * participants are recorded for threading, and a new interaction is acknowledged when RFC 3834 allows. A
 * bounce on one of our messages is not a customer's message: it is attached to the interaction of the
 * message it reports.
 *
 * A batch costs a fixed number of round trips, not a number per message: the bytes of every message are
 * kept in one statement, threading reads the whole batch's clues in three queries, the messages are
 * ingested together (ingest groups concurrent calls into one statement), and recorded in one. A message
 * that answers another of the same batch waits for it, so that it finds its thread.
 */
import { createHash } from 'node:crypto';
import type { EmailRepository } from '../../src/db/repositories/email.repository.js';
import type { KeptAttachment } from '../../src/interactions/attachments.service.js';
import type { EmailThreading, ThreadDecision } from '../../src/interactions/email-threading.service.js';
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
  threading: Pick<EmailThreading, 'resolveMany'>;
  email: Pick<
    EmailRepository,
    'recordMessages' | 'ourMessage' | 'logBounce' | 'loggedExternalIds' | 'unacknowledgedOpeners'
  >;
  attachments: {
    keepMany(
      files: readonly { content: Buffer; fileName: string; contentType: string }[],
    ): Promise<KeptAttachment[]>;
    discardMany(attachments: readonly KeptAttachment[]): Promise<void>;
  };
  acknowledger: Acknowledger;
  /**
   * A mailbox that is a fax line (a fax-to-email gateway's): each message with PDF or TIFF documents is
   * handed here as faxes instead of being logged as an email. Idempotent on the message's id.
   */
  faxLine?: (mail: FaxLineMail) => Promise<void>;
  /** Where agents' browsers fetch a kept attachment (inline images in HTML). */
  attachmentUrl: (id: string) => string;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** A fax-to-email gateway's message, with the fax documents it carries. */
export interface FaxLineMail {
  mailboxId: string;
  /** The fax line's own number, from the mailbox file. */
  faxNumber: string | null;
  /** The Message-ID (or the hash that stands for it): the faxes' ids derive from it. */
  externalId: string;
  subject: string;
  from: { name: string | null; address: string | null };
  text: string;
  date: Date | null;
  documents: { content: Buffer; fileName: string; contentType: string }[];
}

export type MailOutcome =
  | { kind: 'logged'; result: IngestResult; externalId: string }
  | { kind: 'fax'; externalId: string; documents: number }
  | { kind: 'duplicate'; externalId: string }
  | { kind: 'bounce'; interactionId: string; isNew: boolean };

/** A message of the batch on its way to the log. */
interface Pending {
  index: number;
  raw: Buffer;
  parsed: ParsedEmail;
  externalId: string;
  internalDate: Date | null;
  original?: KeptAttachment;
  files: KeptAttachment[];
  urls: Map<string, string>;
}

export function createMailIngest(deps: MailIngestDeps) {
  const { mailbox } = deps;
  const limits = {
    maxAttachmentBytes: mailbox.maxAttachmentBytes,
    maxTotalAttachmentBytes: Math.max(mailbox.maxAttachmentBytes, 4 * mailbox.maxAttachmentBytes),
  };

  /** A bounce on one of our messages, attached to its interaction; undefined when it names none of ours. */
  async function logBounce(message: Pending): Promise<MailOutcome | undefined> {
    const { bounce } = message.parsed;
    if (!bounce?.originalMessageId) return undefined;
    const ours = await deps.email.ourMessage(bounce.originalMessageId);
    if (!ours) return undefined;
    const isNew = await deps.email.logBounce({
      interactionId: ours.interactionId,
      bounceMessageId: message.externalId,
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

  function contactOf(message: Pending, decision: ThreadDecision): InboundContact {
    const { parsed, original } = message;
    const from = parsed.from;
    return {
      channel: 'email',
      externalId: message.externalId,
      identities: from?.address ? [{ kind: 'email', value: from.address }] : [],
      ...(from?.name && { displayName: from.name }),
      subject: parsed.subject,
      text: parsed.text,
      ...(parsed.html && { html: rewriteInlineImages(parsed.html, message.urls) }),
      attachments: [...message.files, original!],
      hints: {
        mailbox: mailbox.queueHint,
        receivedOn: mailbox.address,
        ...(parsed.automatic && { automatic: true }),
        ...(parsed.problems.length > 0 && { needsAttention: true }),
      },
      details: detailsOf(mailbox.id, parsed, decision.refused),
      ...((parsed.date ?? message.internalDate) && {
        occurredAt: plausibleDate(parsed.date, message.internalDate),
      }),
      ...(decision.match && {
        thread: {
          interactionId: decision.match.interactionId,
          reason: decision.match.reason,
          reopenWithinSeconds: mailbox.reopenWithinSeconds,
        },
      }),
    };
  }

  /** Threads and ingests these messages together; records them; returns their outcomes in order. */
  async function logTogether(messages: Pending[]): Promise<MailOutcome[]> {
    const decisions = await deps.threading.resolveMany(
      messages.map((m) => threadCluesOf(m.parsed, mailbox.address)),
    );
    const results = await Promise.all(messages.map((m, i) => deps.ingest(contactOf(m, decisions[i]!))));
    await deps.email.recordMessages(
      messages.map((m, i) => ({
        messageId: m.externalId,
        interactionId: results[i]!.interactionId,
        eventId: results[i]!.eventId,
        direction: 'inbound' as const,
        isOurs: false,
        participants: participantsOf(m.parsed),
      })),
    );
    const duplicates = messages.filter((_, i) => results[i]!.isDuplicate);
    if (duplicates.length > 0)
      await deps.attachments.discardMany(duplicates.flatMap((m) => [...m.files, m.original!]));
    const outcomes: MailOutcome[] = [];
    for (const [i, m] of messages.entries()) {
      const result = results[i]!;
      if (result.isDuplicate) outcomes.push({ kind: 'duplicate', externalId: m.externalId });
      else {
        if (result.isNewInteraction) await deps.acknowledger.acknowledge(result, m.parsed);
        outcomes.push({ kind: 'logged', result, externalId: m.externalId });
      }
    }
    return outcomes;
  }

  return {
    /** Parses a batch (no I/O): the poller runs it ahead, while the previous batch is committed. */
    async prepare(fetched: FetchedMessage[]): Promise<ParsedEmail[]> {
      return Promise.all(fetched.map((m) => parseEmail(m.source, limits)));
    },

    /**
     * Logs a batch (in UID order); throws if any message could not be logged (the caller keeps its cursor
     * before the batch and reads it again: everything here is idempotent). Messages already in the log are
     * recognised before their parts are kept.
     */
    async handle(fetched: FetchedMessage[], prepared?: ParsedEmail[]): Promise<MailOutcome[]> {
      const parsed = prepared ?? (await this.prepare(fetched));
      const all: Pending[] = fetched.map((m, index) => {
        const p = parsed[index]!;
        return {
          index,
          raw: m.source,
          parsed: p,
          externalId:
            p.messageId ?? `<sha256.${createHash('sha256').update(m.source).digest('hex')}@no-message-id>`,
          internalDate: m.internalDate,
          files: [],
          urls: new Map(),
        };
      });
      const outcomes: (MailOutcome | undefined)[] = all.map(() => undefined);
      const logged = new Set(await deps.email.loggedExternalIds(all.map((m) => m.externalId)));
      // Read again after a crash that came between logging a new interaction and acknowledging it: the
      // acknowledgment is still owed (decided afresh: automatic mail and the hourly limit still count).
      const earlier = all.filter((m) => logged.has(m.externalId) && !m.parsed.bounce);
      const owed = await deps.email.unacknowledgedOpeners(earlier.map((m) => m.externalId));
      for (const m of earlier) {
        const interactionId = owed.get(m.externalId);
        if (interactionId) await deps.acknowledger.acknowledge({ interactionId }, m.parsed);
      }
      let pending: Pending[] = [];
      for (const m of all) {
        if (logged.has(m.externalId) && !m.parsed.bounce)
          outcomes[m.index] = { kind: 'duplicate', externalId: m.externalId };
        else if (m.parsed.bounce) outcomes[m.index] = await logBounce(m);
        if (!outcomes[m.index]) pending.push(m);
      }

      // A fax line's messages that carry documents are faxes, not emails.
      if (mailbox.faxLine && deps.faxLine) {
        const emails: Pending[] = [];
        for (const m of pending) {
          const documents = m.parsed.attachments.filter(isFaxDocument);
          if (documents.length === 0) {
            emails.push(m);
            continue;
          }
          await deps.faxLine({
            mailboxId: mailbox.id,
            faxNumber: mailbox.faxLine.number,
            externalId: m.externalId,
            subject: m.parsed.subject,
            from: { name: m.parsed.from?.name ?? null, address: m.parsed.from?.address ?? null },
            text: m.parsed.text,
            date: m.parsed.date ?? m.internalDate,
            documents: documents.map((d) => ({
              content: d.content,
              fileName: d.fileName,
              contentType: d.contentType,
            })),
          });
          outcomes[m.index] = { kind: 'fax', externalId: m.externalId, documents: documents.length };
        }
        pending = emails;
      }

      // The bytes: every original and attachment of the batch in one statement.
      const files = pending.flatMap((m) => [
        { content: m.raw, fileName: 'original-message.eml', contentType: 'message/rfc822' },
        ...m.parsed.attachments.map((a) => ({
          content: a.content,
          fileName: a.fileName,
          contentType: a.contentType,
        })),
      ]);
      const kept = await deps.attachments.keepMany(files);
      let at = 0;
      for (const m of pending) {
        m.original = kept[at++]!;
        for (const a of m.parsed.attachments) {
          const file = kept[at++]!;
          m.files.push(file);
          if (a.contentId) m.urls.set(a.contentId.toLowerCase(), deps.attachmentUrl(file.id));
        }
      }

      try {
        // Rounds: a message waits for any earlier message of the batch that it answers.
        while (pending.length > 0) {
          const round: Pending[] = [];
          const later: Pending[] = [];
          const waitingIds = new Set<string>();
          for (const m of pending) {
            const answers = [...m.parsed.inReplyTo, ...m.parsed.references];
            if (answers.some((id) => waitingIds.has(id))) later.push(m);
            else round.push(m);
            waitingIds.add(m.externalId);
          }
          const done = await logTogether(round);
          round.forEach((m, i) => (outcomes[m.index] = done[i]));
          pending = later;
        }
      } catch (err) {
        // What was not logged gives its bytes back; a retry keeps them again.
        await deps.attachments
          .discardMany(pending.flatMap((m) => [...m.files, ...(m.original ? [m.original] : [])]))
          .catch(() => undefined);
        throw err;
      }
      return outcomes as MailOutcome[];
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

/** A PDF or TIFF, by its bytes (gateways label them loosely: application/octet-stream, image/tif...). */
function isFaxDocument(attachment: { content: Buffer }): boolean {
  const head = attachment.content.subarray(0, 5);
  const magic = head.subarray(0, 4).toString('hex');
  return head.toString('latin1') === '%PDF-' || magic === '49492a00' || magic === '4d4d002a';
}

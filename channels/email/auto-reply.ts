/*
 * Loop safety for the email channel, read from raw header fields: whether a message must never be answered
 * automatically (RFC 3834 and the vendor headers that predate it), and whether it is a bounce (an RFC 3464
 * delivery status notification, or one of the common free-text ones) and for which of our messages.
 *
 * Everything here is pure: parse.ts reads the header fields and the MIME parts, these functions only look.
 */
import type { BounceReport, EmailAddress } from './types.js';

/**
 * A header section: lower-cased field names to their values in the order they appear, unfolded and
 * trimmed, otherwise raw (RFC 2047 encoded words are not decoded).
 */
export type EmailHeaders = ReadonlyMap<string, readonly string[]>;

export interface HeaderSection {
  headers: EmailHeaders;
  /** Lines in the section that are neither a field nor the continuation of one. */
  malformedLines: number;
}

// RFC 5322 field name: printable ASCII except the colon.
const headerField = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/;

/**
 * Reads the header section at the start of `text`, up to its first empty line. A leading mbox `From ` line
 * is skipped; lines that are not fields are counted, not kept.
 */
export function readHeaderSection(text: string): HeaderSection {
  const headers = new Map<string, string[]>();
  let malformedLines = 0;
  let current: { name: string; value: string } | null = null;
  const flush = () => {
    if (!current) return;
    const values = headers.get(current.name) ?? [];
    values.push(current.value.trim());
    headers.set(current.name, values);
    current = null;
  };
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') break;
    if (index === 0 && line.startsWith('From ')) continue;
    if (/^[ \t]/.test(line) && current) {
      // Unfolding removes the line break only (RFC 5322 2.2.3).
      current.value += line;
      continue;
    }
    const field = headerField.exec(line);
    flush();
    if (field?.[1] === undefined) {
      malformedLines++;
      continue;
    }
    current = { name: field[1].toLowerCase(), value: field[2] ?? '' };
  }
  flush();
  return { headers, malformedLines };
}

/** The blocks of fields a `message/delivery-status` body is made of, separated by empty lines. */
export function readHeaderSections(text: string): EmailHeaders[] {
  return text
    .split(/\r?\n[ \t]*\r?\n/)
    .map((block) => readHeaderSection(block.replace(/^(?:[ \t]*\r?\n)+/, '')).headers)
    .filter((headers) => headers.size > 0);
}

/** The first value of a field, or null when the field is absent. */
export function headerValue(headers: EmailHeaders, name: string): string | null {
  return headers.get(name)?.[0] ?? null;
}

/** A structured value without its parameters, lower-cased: `Auto-Submitted: Auto-Replied; x=1` → `auto-replied`. */
function mainValue(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase();
}

function localPart(from: EmailAddress | null): string {
  const address = from?.address ?? '';
  return address.slice(0, Math.max(address.lastIndexOf('@'), 0)).toLowerCase();
}

const daemonSender = /^(?:mailer-daemon|postmaster)$/;
const noReplySender = /^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply)(?:$|[-_.+])/;
const listPrecedence = new Set(['bulk', 'list', 'junk', 'auto_reply', 'auto-reply']);

/**
 * Why a message must never be answered automatically, or null when an auto-acknowledgement is safe. The
 * first matching reason is returned. Judged from the header fields, the From address and the Return-Path
 * (`''` for the null path `<>`).
 *
 * From `noreply@`, `no-reply@`, `donotreply@` (and `no-reply-aws@`...) is a judgment call, not RFC 3834: the
 * sender says nobody reads replies, so an answer is wasted at best and bounces back at worst. That includes
 * web forms that send from a no-reply address with the customer in Reply-To: they are notifications, and
 * an acknowledgement to them is the kind of mail loop this guards against.
 */
export function automaticReason(
  headers: EmailHeaders,
  from: EmailAddress | null,
  returnPath: string | null,
): string | null {
  const autoSubmitted = headerValue(headers, 'auto-submitted');
  if (autoSubmitted !== null && mainValue(autoSubmitted) !== 'no') {
    return `Auto-Submitted: ${mainValue(autoSubmitted) || '(empty)'}`;
  }
  const precedence = headerValue(headers, 'precedence');
  if (precedence !== null && listPrecedence.has(mainValue(precedence))) {
    return `Precedence: ${mainValue(precedence)}`;
  }
  const autoreply = headerValue(headers, 'x-autoreply');
  if (autoreply !== null && mainValue(autoreply) !== 'no') return 'X-Autoreply present';
  if (headers.has('x-autorespond')) return 'X-Autorespond present';
  const suppress = headerValue(headers, 'x-auto-response-suppress');
  // Microsoft's values list what to suppress (All, OOF, AutoReply, DR, NDR, RN, NRN); None asks for nothing.
  if (suppress !== null && suppress.trim() !== '' && mainValue(suppress) !== 'none') {
    return `X-Auto-Response-Suppress: ${suppress.trim()}`;
  }
  if (headers.has('list-id')) return 'mailing list (List-Id)';
  if (headers.has('list-unsubscribe')) return 'mailing list or bulk sender (List-Unsubscribe)';
  if (headers.has('x-failed-recipients')) return 'delivery failure report (X-Failed-Recipients)';
  if (returnPath === '') return 'null Return-Path (<>)';
  const sender = localPart(from);
  if (daemonSender.test(sender)) return `sent by ${sender}`;
  if (noReplySender.test(sender)) return `sent from a no-reply address (${sender})`;
  const contentType = headerValue(headers, 'content-type');
  if (contentType !== null && mainValue(contentType) === 'multipart/report')
    return 'report (multipart/report)';
  return null;
}

/** A MIME part of the message, as parse.ts found it. */
export interface MessagePart {
  /** Lower-case MIME type. */
  contentType: string;
  content: Buffer;
}

export interface BounceInput {
  headers: EmailHeaders;
  from: EmailAddress | null;
  subject: string;
  /** The human-readable text of the message. */
  text: string;
  /** Every non-body part, the delivery-status and returned-message parts among them. */
  parts: readonly MessagePart[];
}

const deliveryStatusTypes = new Set(['message/delivery-status', 'message/global-delivery-status']);
const returnedMessageTypes = new Set([
  'message/rfc822',
  'message/global',
  'text/rfc822-headers',
  'message/global-headers',
]);
// The subjects of free-text bounces (Exim, qmail, Postfix without DSN, Exchange, Gmail, Yahoo).
const bounceSubject =
  /undeliver|undelivered mail|returned mail|delivery status notification|delivery (?:has )?fail|mail delivery|failure notice|non-?delivery|could not be delivered|delivery problem|warning: could not send/i;
const delaySubject = /\(delay\)|delayed|warning: could not send|not yet been delivered/i;
// How much of a returned message is read for its header section.
const returnedHeadersLimit = 64 * 1024;

/**
 * The bounce report a message carries, or null for a message that is not a bounce. A standard DSN
 * (multipart/report; report-type=delivery-status, or any message/delivery-status part) is read field by
 * field; a free-text one (From mailer-daemon or postmaster with a bounce-like subject, or any message with
 * X-Failed-Recipients) is searched for the returned headers' Message-ID and an enhanced status code.
 */
export function parseBounce(input: BounceInput): BounceReport | null {
  const contentType = headerValue(input.headers, 'content-type') ?? '';
  const isReport =
    mainValue(contentType) === 'multipart/report' &&
    /report-type\s*=\s*"?delivery-status"?/i.test(contentType);
  const statusPart = input.parts.find((part) => deliveryStatusTypes.has(part.contentType));
  if (isReport || statusPart) return standardBounce(input, statusPart);

  const sender = localPart(input.from);
  const failedRecipients = input.headers.get('x-failed-recipients');
  const isDaemonBounce = daemonSender.test(sender) && bounceSubject.test(input.subject);
  if (!isDaemonBounce && !failedRecipients) return null;
  return freeTextBounce(input, failedRecipients ?? []);
}

function standardBounce(input: BounceInput, statusPart: MessagePart | undefined): BounceReport {
  const blocks = statusPart ? readHeaderSections(statusPart.content.toString('utf8')) : [];
  const [perMessage, ...perRecipient] = blocks;
  const recipients = unique(
    perRecipient.flatMap((block) =>
      ['original-recipient', 'final-recipient']
        .map((name) => headerValue(block, name))
        .filter((value): value is string => value !== null)
        .map(withoutAddressType)
        .filter((address) => address !== ''),
    ),
  );
  const reported =
    perRecipient.find((block) => headerValue(block, 'action')?.toLowerCase() === 'failed') ?? perRecipient[0];
  const field = (name: string) => {
    const value = reported ? headerValue(reported, name) : null;
    return value === null || value === '' ? null : value;
  };
  const diagnostic = field('diagnostic-code');
  const envelopeId = perMessage ? headerValue(perMessage, 'original-envelope-id') : null;
  return {
    originalMessageId: returnedMessageId(input) ?? (envelopeId ? (messageIds(envelopeId)[0] ?? null) : null),
    recipients,
    action: field('action')?.toLowerCase() ?? null,
    status: field('status')?.split(/\s/)[0] ?? null,
    diagnostic: diagnostic === null ? null : withoutAddressType(diagnostic).replace(/\s+/g, ' '),
  };
}

function freeTextBounce(input: BounceInput, failedRecipients: readonly string[]): BounceReport {
  const fromText = /^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)/im.exec(input.text)?.[1] ?? null;
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(input.text)?.[1] ?? null;
  const diagnostic = /^.*\b[45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b.*$/m.exec(input.text)?.[0]?.trim() ?? null;
  const recipients = unique(
    failedRecipients.flatMap((value) =>
      value
        .split(',')
        .map((address) => address.trim().replace(/^<|>$/g, ''))
        .filter((address) => address !== ''),
    ),
  );
  const isDelay = delaySubject.test(input.subject) || status?.startsWith('4.') === true;
  return {
    originalMessageId: returnedMessageId(input) ?? fromText,
    recipients,
    action: isDelay ? 'delayed' : 'failed',
    status,
    diagnostic,
  };
}

/** The Message-ID in the header section of the first returned message (or returned headers) part. */
function returnedMessageId(input: BounceInput): string | null {
  for (const part of input.parts) {
    if (!returnedMessageTypes.has(part.contentType)) continue;
    const head = part.content.subarray(0, returnedHeadersLimit).toString('utf8');
    const id = headerValue(readHeaderSection(head).headers, 'message-id');
    const normalized = id === null ? undefined : messageIds(id)[0];
    if (normalized) return normalized;
  }
  return null;
}

/** `rfc822; bob@example.com` → `bob@example.com`; `smtp; 550 5.1.1 ...` → `550 5.1.1 ...`. */
function withoutAddressType(value: string): string {
  const typed = /^[\w-]+[ \t]*;[ \t]*(.*)$/s.exec(value);
  return (typed?.[1] ?? value).trim().replace(/^<(.*)>$/, '$1');
}

function unique(values: readonly string[]): string[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const key = value.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The Message-IDs in a Message-ID, In-Reply-To or References value, each as `<id>`, in order, without
 * repeats. When the value has bracketed ids only those count (legacy clients add `(Bob's message of ...)`);
 * otherwise each word is taken as an id.
 */
export function messageIds(value: string): string[] {
  const bracketed = value.match(/<[^<>]*>/g);
  const tokens = bracketed ?? value.split(/[\s,]+/);
  const ids = tokens.map((token) => token.replace(/^<|>$/g, '').trim()).filter((id) => id !== '');
  return [...new Set(ids.map((id) => `<${id}>`))];
}

/*
 * Telnyx Programmable Fax (API v2) webhooks, one URL for every fax event of the fax application. Pure: the
 * route verifies, parses and hands the result on.
 *
 * Every webhook is JSON `{ data: { record_type: 'event', id, event_type, occurred_at, payload }, meta }`,
 * signed with Ed25519 over `${telnyx-timestamp}|${raw body}` (headers telnyx-signature-ed25519, base64, and
 * telnyx-timestamp, unix seconds) under the account's key. Payload fields read: fax_id, direction, from, to,
 * media_url (a signed link, valid minutes), page_count, partial_content, status, failure_reason.
 *
 * Events (developers.telnyx.com/docs/programmable-fax/receive-a-fax-api and .../receiving-webhooks):
 * - inbound: fax.receiving.started and fax.media.processing.started (ignored), fax.received (the PDF is
 *   ready), fax.failed with direction inbound;
 * - outbound, a fax we sent: fax.queued, fax.media.processed, fax.sending.started, fax.delivered, fax.failed.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { FaxPayloadError, type FaxReceipt, type FaxSendStatus, maxFaxPages } from '../types.js';

export type TelnyxVerification = { ok: true } | { ok: false; reason: 'missing' | 'stale' | 'invalid' };

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw 32-byte key follows it. */
const ed25519SpkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * The key Telnyx's portal shows (base64 of the raw 32-byte Ed25519 public key) as a KeyObject. Throws on
 * anything else: a wrong key is a configuration error, not a bad request.
 */
export function telnyxPublicKey(base64: string): KeyObject {
  const raw = Buffer.from(base64.trim(), 'base64');
  if (raw.length !== 32)
    throw new Error('telnyx: the public key must be the base64 of a raw 32-byte Ed25519 key');
  return createPublicKey({ key: Buffer.concat([ed25519SpkiPrefix, raw]), format: 'der', type: 'spki' });
}

/**
 * Checks telnyx-signature-ed25519 over `${timestamp}|${rawBody}`. A timestamp further than `toleranceSeconds`
 * from `now`, past or future, is stale (a replay, or a clock to fix) whatever the signature.
 */
export function verifyTelnyx(input: {
  publicKey: string;
  signature: string | undefined;
  timestamp: string | undefined;
  rawBody: Buffer;
  now: Date;
  toleranceSeconds: number;
}): TelnyxVerification {
  const { signature, timestamp } = input;
  if (!signature || !timestamp) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'invalid' };
  const ageSeconds = input.now.getTime() / 1000 - Number(timestamp);
  if (Math.abs(ageSeconds) > input.toleranceSeconds) return { ok: false, reason: 'stale' };
  const signatureBytes = Buffer.from(signature, 'base64');
  if (signatureBytes.length !== 64) return { ok: false, reason: 'invalid' };
  const signed = Buffer.concat([Buffer.from(`${timestamp}|`), input.rawBody]);
  return verify(null, signed, telnyxPublicKey(input.publicKey), signatureBytes)
    ? { ok: true }
    : { ok: false, reason: 'invalid' };
}

export type TelnyxFaxEvent =
  | { kind: 'inbound'; receipt: FaxReceipt }
  | { kind: 'outbound'; status: FaxSendStatus }
  | { kind: 'ignored'; eventType: string; eventId: string };

const outboundStatuses: Record<string, FaxSendStatus['status']> = {
  'fax.queued': 'sending',
  'fax.media.processed': 'sending',
  'fax.sending.started': 'sending',
  'fax.delivered': 'delivered',
  'fax.failed': 'failed',
};

/**
 * A verified webhook body (parsed JSON) as an event of the fax channel. fax.received is `partial` when
 * partial_content is true; fax.failed is an inbound failure when its direction is inbound, else the failure
 * of a fax we sent. Other event types are `ignored`. Throws FaxPayloadError for a body that is not a Telnyx
 * event, or a fax event without a fax_id (or a fax.received without a media_url).
 */
export function parseTelnyxEvent(body: unknown): TelnyxFaxEvent {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data)) throw new FaxPayloadError('telnyx: the body has no data object');
  const eventType = data.event_type;
  const eventId = data.id;
  if (typeof eventType !== 'string' || !eventType)
    throw new FaxPayloadError('telnyx: data.event_type missing');
  if (typeof eventId !== 'string' || !eventId) throw new FaxPayloadError('telnyx: data.id missing');
  const payload = isObject(data.payload) ? data.payload : {};
  const isInbound = payload.direction === 'inbound';

  if (eventType === 'fax.received' || (eventType === 'fax.failed' && isInbound)) {
    return { kind: 'inbound', receipt: receiptOf(eventType, eventId, occurredAt(data.occurred_at), payload) };
  }
  const status = outboundStatuses[eventType];
  if (status && !isInbound) {
    const error = text(payload.failure_reason);
    return {
      kind: 'outbound',
      status: {
        provider: 'telnyx',
        providerFaxId: faxIdOf(payload, eventType),
        status,
        pageCount: count(payload.page_count),
        error: error === null ? null : { code: error, message: null },
      },
    };
  }
  return { kind: 'ignored', eventType, eventId };
}

function receiptOf(
  eventType: 'fax.received' | 'fax.failed',
  eventId: string,
  at: Date | undefined,
  payload: Record<string, unknown>,
): FaxReceipt {
  const faxId = faxIdOf(payload, eventType);
  const mediaUrl = text(payload.media_url);
  const failureReason = text(payload.failure_reason);
  if (eventType === 'fax.received' && mediaUrl === null) {
    throw new FaxPayloadError(`telnyx: fax.received for ${faxId} has no media_url`);
  }
  const outcome =
    eventType === 'fax.failed' ? 'failed' : payload.partial_content === true ? 'partial' : 'received';
  return {
    provider: 'telnyx',
    faxId,
    eventId,
    ...(at && { occurredAt: at }),
    outcome,
    from: caller(payload.from) ?? caller(payload.caller_id),
    to: text(payload.to),
    // Telnyx does not pass on the sending machine's TSI.
    stationId: null,
    pageCount: count(payload.page_count),
    error: failureReason === null ? null : { code: failureReason, message: null },
    document: outcome === 'failed' || mediaUrl === null ? null : { kind: 'url', url: mediaUrl },
    details: { event_type: eventType, ...detailsOf(payload) },
  };
}

function faxIdOf(payload: Record<string, unknown>, eventType: string): string {
  const faxId = text(payload.fax_id);
  if (faxId === null) throw new FaxPayloadError(`telnyx: ${eventType} without payload.fax_id`);
  return faxId;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() ? value.trim() : null;
}

/** Caller ids that say the number was withheld rather than give one. */
const withheldCallers = /^(anonymous|restricted|private|unknown|unavailable|withheld)$/i;

function caller(value: unknown): string | null {
  const from = text(value);
  return from === null || withheldCallers.test(from) ? null : from;
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= maxFaxPages
    ? value
    : null;
}

function occurredAt(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The payload's plain fields for the log, without the media link (a signed URL to the document). */
function detailsOf(payload: Record<string, unknown>): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (key === 'media_url') continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) details[key] = value;
  }
  return details;
}

/*
 * Phaxio (Sinch) fax callbacks: multipart/form-data POSTs, one for a received fax (with the PDF) and one when
 * a fax we sent completes. Pure: the route parses the multipart body, verifies, parses and hands on.
 *
 * Fields read (www.phaxio.com/docs/api/v2/faxes/receive_callback, .../send_callback, .../v2/intro/objects):
 * success ('true' | 'false'), is_test, direction ('received' | 'sent'), fax (the Fax Object as JSON: id,
 * direction, num_pages, status, caller_id, from_number, to_number, error_type, error_message, error_id,
 * created_at, completed_at, recipients...), and for a received fax the PDF as a file part (named `filename`
 * in v1/v2 callbacks, `file` in v2.1 webhooks). v2.1 webhooks drop success and direction (the Fax Object
 * carries direction and status) and add event_type (fax_completed; transmitting_page and retry_scheduled
 * when inflight webhooks are on): all are read.
 *
 * X-Phaxio-Signature (www.phaxio.com/docs/security/callbacks): hex HMAC-SHA1, under the account's callback
 * token, of the callback URL as given to Phaxio, then every field's name and value sorted by name, then every
 * file part's name and the hex SHA-1 of its bytes sorted by name.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  FaxPayloadError,
  type FaxOutcome,
  type FaxReceipt,
  type FaxSendStatus,
  maxFaxPages,
} from '../types.js';

export interface PhaxioSignedRequest {
  callbackToken: string;
  url: string;
  fields: Record<string, string>;
  files: { fieldName: string; content: Buffer }[];
}

export interface PhaxioFile {
  fieldName: string;
  fileName: string;
  contentType: string;
  content: Buffer;
}

export type PhaxioCallback =
  { kind: 'inbound'; receipt: FaxReceipt } | { kind: 'outbound'; status: FaxSendStatus };

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The X-Phaxio-Signature Phaxio sends for this request (lowercase hex). */
export function phaxioSignature(input: PhaxioSignedRequest): string {
  const hmac = createHmac('sha1', input.callbackToken);
  hmac.update(input.url);
  for (const name of Object.keys(input.fields).sort(byName)) hmac.update(`${name}${input.fields[name]}`);
  const files = [...input.files].sort((a, b) => byName(a.fieldName, b.fieldName));
  for (const file of files) {
    hmac.update(`${file.fieldName}${createHash('sha1').update(file.content).digest('hex')}`);
  }
  return hmac.digest('hex');
}

/** True when `signature` (the X-Phaxio-Signature header) signs this request; compared in constant time. */
export function verifyPhaxio(input: PhaxioSignedRequest & { signature: string | undefined }): boolean {
  if (!input.signature || !input.callbackToken) return false;
  const expected = Buffer.from(phaxioSignature(input));
  const given = Buffer.from(input.signature.trim().toLowerCase());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A verified callback as an inbound receipt or the status of a fax we sent. Received: `received` when Phaxio
 * says success and the PDF came; `partial` when it says failure but a PDF came (with pages, or with no page
 * count); otherwise `failed`. Sent: by the Fax Object's status (queued, pendingbatch, inprogress: sending; success: delivered;
 * failure, partialsuccess: failed), else by `success`. eventId is `${fax id}:${outcome}`: Phaxio's callbacks
 * carry no id of their own. Throws FaxPayloadError when `fax` is missing, not JSON, or has no id.
 */
export function parsePhaxioCallback(fields: Record<string, string>, file: PhaxioFile | null): PhaxioCallback {
  const fax = faxObject(fields.fax);
  const faxId = String(fax.id);
  const direction = text(fields.direction) ?? text(fax.direction);
  if (direction === 'sent') return { kind: 'outbound', status: sendStatusOf(faxId, fields, fax) };
  if (direction !== 'received') {
    throw new FaxPayloadError(`phaxio: fax ${faxId} has no direction 'received' or 'sent'`);
  }

  const isSuccess = fields.success !== undefined ? fields.success === 'true' : fax.status === 'success';
  const pageCount = count(fax.num_pages);
  const hasDocument = file !== null && file.content.length > 0;
  const outcome: FaxOutcome = isSuccess
    ? hasDocument
      ? 'received'
      : 'failed'
    : // A PDF with no page count is kept as partial (as HylaFAX's is): the sender's pages are not dropped.
      hasDocument && pageCount !== 0
      ? 'partial'
      : 'failed';
  const error =
    errorOf(fax, fields) ??
    (isSuccess && !hasDocument
      ? { code: 'no_document', message: 'Phaxio reported the fax received but sent no file' }
      : null);
  const at = timestamp(fax.completed_at) ?? timestamp(fax.created_at);
  return {
    kind: 'inbound',
    receipt: {
      provider: 'phaxio',
      faxId,
      eventId: `${faxId}:${outcome}`,
      ...(at && { occurredAt: at }),
      outcome,
      from: caller(fax.from_number),
      to: text(fax.to_number),
      // Phaxio does not pass on the sending machine's TSI; caller_name (CNAM) stays in details.
      stationId: null,
      pageCount,
      error,
      document:
        outcome === 'failed' || !file
          ? null
          : {
              kind: 'bytes',
              content: file.content,
              fileName: file.fileName || `phaxio-${faxId}.pdf`,
              contentType: file.contentType || 'application/pdf',
            },
      details: detailsOf(fields, fax),
    },
  };
}

const sendStatuses: Record<string, FaxSendStatus['status']> = {
  queued: 'sending',
  pendingbatch: 'sending',
  inprogress: 'sending',
  success: 'delivered',
  failure: 'failed',
  partialsuccess: 'failed',
};

function sendStatusOf(faxId: string, fields: Record<string, string>, fax: FaxObject): FaxSendStatus {
  const status =
    (typeof fax.status === 'string' ? sendStatuses[fax.status] : undefined) ??
    (fields.success === 'true' ? 'delivered' : fields.success === 'false' ? 'failed' : undefined);
  if (!status) throw new FaxPayloadError(`phaxio: sent fax ${faxId} has no status`);
  return {
    provider: 'phaxio',
    providerFaxId: faxId,
    status,
    pageCount: count(fax.num_pages),
    error: status === 'delivered' ? null : errorOf(fax, fields),
  };
}

type FaxObject = Record<string, unknown> & { id: string | number };

function faxObject(json: string | undefined): FaxObject {
  if (json === undefined) throw new FaxPayloadError('phaxio: the callback has no fax field');
  let fax: unknown;
  try {
    fax = JSON.parse(json);
  } catch {
    throw new FaxPayloadError('phaxio: the fax field is not JSON');
  }
  if (typeof fax !== 'object' || fax === null || Array.isArray(fax)) {
    throw new FaxPayloadError('phaxio: the fax field is not a JSON object');
  }
  const id = (fax as Record<string, unknown>).id;
  if (!((typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.trim()))) {
    throw new FaxPayloadError('phaxio: the fax object has no id');
  }
  return fax as FaxObject;
}

/**
 * The fax's error as Phaxio words it: error_type (lineError, faxError...) or error_id as the code,
 * error_message (v2) or error_code (v1, a description) or the callback's `message` as the message; a sent
 * fax's first recipient's error when the fax has none.
 */
function errorOf(fax: FaxObject, fields: Record<string, string>): FaxReceipt['error'] {
  const recipient = Array.isArray(fax.recipients) ? (fax.recipients[0] as unknown) : undefined;
  for (const source of [fax, typeof recipient === 'object' && recipient !== null ? recipient : {}]) {
    const s = source as Record<string, unknown>;
    const code = text(s.error_type) ?? text(s.error_id);
    const message = text(s.error_message) ?? text(s.error_code);
    if (code !== null || message !== null) return { code, message };
  }
  const message = text(fields.message);
  return message === null ? null : { code: null, message };
}

function text(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.trim() ? value.trim() : null;
}

/** Caller ids that say the number was withheld rather than give one. */
const withheldCallers = /^(anonymous|restricted|private|unknown|unavailable|withheld)$/i;

function caller(value: unknown): string | null {
  const from = text(value);
  return from === null || withheldCallers.test(from) ? null : from;
}

function count(value: unknown): number | null {
  const n = typeof value === 'string' && value.trim() ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= maxFaxPages ? n : null;
}

/** RFC 3339 (v2) or unix seconds (v1). */
function timestamp(value: unknown): Date | undefined {
  const at =
    typeof value === 'number' ? new Date(value * 1000) : typeof value === 'string' ? new Date(value) : null;
  return at && !Number.isNaN(at.getTime()) ? at : undefined;
}

/** The callback's plain fields and the Fax Object's, for the log. */
function detailsOf(fields: Record<string, string>, fax: FaxObject): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (key !== 'fax') details[key] = value;
  for (const [key, value] of Object.entries(fax)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
      details[`fax.${key}`] = value;
  }
  return details;
}

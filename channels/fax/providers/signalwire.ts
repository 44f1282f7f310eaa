/*
 * SignalWire's Twilio-compatible fax API (cXML/LaML), and any provider that speaks it. Pure: the routes
 * verify, answer and hand the result on.
 *
 * Webhooks answered:
 * - The incoming-fax request (FaxSid, AccountSid, From, To, ApiVersion): answered with `receiveFaxTwiml`, a
 *   <Receive> whose action is our receipt URL.
 * - The <Receive> action callback, once the fax is received or has failed: the same fields plus
 *   RemoteStationId (the sender's TSI), FaxStatus, NumPages, MediaUrl, ErrorCode, ErrorMessage
 *   (developer.signalwire.com/compatibility-api/xml/fax/receive). Read by `parseSignalWireFax`.
 * - The status callback of a fax we sent: FaxSid, FaxStatus (queued, processing, sending, delivered,
 *   no-answer, busy, failed, canceled), NumPages, ErrorCode, ErrorMessage. Read by `parseSignalWireSendStatus`.
 *
 * Every request carries X-SignalWire-Signature (X-Twilio-Signature from compatible providers): Twilio's
 * HMAC-SHA1 over the full URL and the sorted parameters, under the space's signing key.
 */
import twilio from 'twilio';
import {
  FaxPayloadError,
  type FaxOutcome,
  type FaxReceipt,
  type FaxSendStatus,
  maxFaxPages,
} from '../types.js';

export type SignalWireParams = Record<string, string>;

/**
 * True when `signature` is the provider's signature of `url` (exactly as the provider requested it, query
 * included) and `params` (the posted form fields), under `signingKey`.
 */
export function verifySignalWire(input: {
  signingKey: string;
  signature: string | undefined;
  url: string;
  params: SignalWireParams;
}): boolean {
  if (!input.signature || !input.signingKey) return false;
  return twilio.validateRequest(input.signingKey, input.signature, input.url, input.params);
}

/** The answer to the incoming-fax request: receive the fax, then post the outcome to `actionUrl`. */
export function receiveFaxTwiml(actionUrl: string): string {
  const response = new twilio.twiml.FaxResponse();
  response.receive({ action: actionUrl, method: 'POST' });
  return response.toString();
}

/**
 * The <Receive> action callback as a receipt: FaxStatus `received` with a MediaUrl (and pages, when NumPages
 * says) is `received`; any other status that still left a MediaUrl and pages is `partial`; the rest is
 * `failed`. eventId is FaxSid:FaxStatus. Throws FaxPayloadError without a FaxSid.
 */
export function parseSignalWireFax(params: SignalWireParams): FaxReceipt {
  const faxId = requiredSid(params);
  const status = text(params.FaxStatus) ?? '';
  const mediaUrl = text(params.MediaUrl);
  const pageCount = pages(params.NumPages);
  // NumPages is optional: a fax reported received with a MediaUrl and no page count is taken at its word; a
  // failed one counts as partial only when it says pages came.
  const outcome: FaxOutcome =
    status === 'received'
      ? mediaUrl !== null && pageCount !== 0
        ? 'received'
        : 'failed'
      : mediaUrl !== null && pageCount !== null && pageCount > 0
        ? 'partial'
        : 'failed';
  return {
    provider: 'signalwire',
    faxId,
    eventId: `${faxId}:${status}`,
    outcome,
    from: caller(params.From),
    to: text(params.To),
    stationId: text(params.RemoteStationId),
    pageCount,
    error: errorOf(params),
    document: outcome === 'failed' || mediaUrl === null ? null : { kind: 'url', url: mediaUrl },
    details: detailsOf(params),
  };
}

const sendStatuses: Record<string, FaxSendStatus['status']> = {
  queued: 'sending',
  processing: 'sending',
  sending: 'sending',
  delivered: 'delivered',
  failed: 'failed',
  'no-answer': 'failed',
  busy: 'failed',
  canceled: 'failed',
};

/** The status callback of a fax we sent. Throws FaxPayloadError without a FaxSid or with an unknown FaxStatus. */
export function parseSignalWireSendStatus(params: SignalWireParams): FaxSendStatus {
  const providerFaxId = requiredSid(params);
  const status = sendStatuses[params.FaxStatus ?? ''];
  if (!status) throw new FaxPayloadError(`signalwire: unknown FaxStatus for a sent fax: ${params.FaxStatus}`);
  return {
    provider: 'signalwire',
    providerFaxId,
    status,
    pageCount: pages(params.NumPages),
    error: errorOf(params),
  };
}

function requiredSid(params: SignalWireParams): string {
  const sid = text(params.FaxSid);
  if (sid === null) throw new FaxPayloadError('signalwire: the callback has no FaxSid');
  return sid;
}

function text(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

/** Caller ids that say the number was withheld rather than give one. */
const withheldCallers = /^(anonymous|restricted|private|unknown|unavailable|withheld)$/i;

function caller(value: string | undefined): string | null {
  const from = text(value);
  return from === null || withheldCallers.test(from) ? null : from;
}

function pages(value: string | undefined): number | null {
  const count = Number(text(value) ?? Number.NaN);
  return Number.isInteger(count) && count >= 0 && count <= maxFaxPages ? count : null;
}

function errorOf(params: SignalWireParams): FaxReceipt['error'] {
  const code = text(params.ErrorCode);
  const message = text(params.ErrorMessage);
  return code === null && message === null ? null : { code, message };
}

/** The callback's fields for the log, without the media link (it fetches the document). */
function detailsOf(params: SignalWireParams): Record<string, unknown> {
  const { MediaUrl: _mediaUrl, ...rest } = params;
  return rest;
}

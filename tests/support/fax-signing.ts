/*
 * Requests exactly as each fax provider makes them, for tests of the fax providers and routes: SignalWire's
 * signed form parameters, Telnyx's Ed25519-signed JSON events, Phaxio's signed multipart callbacks and the
 * multipart post of our HylaFAX faxrcvd. Multipart bodies are encoded here by hand (RFC 7578), so what a
 * route parses is what a provider would send, not what our own code would.
 */
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import twilio from 'twilio';

// ---------------------------------------------------------------------------------------------------------
// SignalWire (Twilio's algorithm)

/** X-SignalWire-Signature for a form POST of `params` to `url`. */
export function signSignalWire(signingKey: string, url: string, params: Record<string, string>): string {
  return twilio.getExpectedTwilioSignature(signingKey, url, params);
}

/** The <Receive> action callback's parameters for one fax, received in full unless overridden. */
export function signalWireFaxParams(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    FaxSid: 'b3877c40-da60-4998-90ad-b792e98472fx',
    AccountSid: 'b3877c40-da60-4998-90ad-b792e98472ac',
    ApiVersion: 'v1',
    From: '+13103383454',
    To: '+13104456789',
    RemoteStationId: '+1 310 338 3454',
    FaxStatus: 'received',
    NumPages: '2',
    MediaUrl: 'https://example.signalwire.com/api/laml/2010-04-01/Accounts/ac/Faxes/fx/Media/me',
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Telnyx

export interface TelnyxKeys {
  /** base64 of the raw 32-byte public key, as Telnyx's portal shows it. */
  publicKey: string;
  /** telnyx-signature-ed25519 for this timestamp and body. */
  sign(timestamp: string | number, rawBody: Buffer | string): string;
}

/** A fresh Ed25519 key pair standing in for a Telnyx account's. */
export function telnyxKeys(): TelnyxKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // The SPKI DER of an Ed25519 key ends with the raw 32-byte key.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    publicKey: raw.toString('base64'),
    sign: (timestamp, rawBody) =>
      sign(null, Buffer.concat([Buffer.from(`${timestamp}|`), Buffer.from(rawBody)]), privateKey).toString(
        'base64',
      ),
  };
}

export interface TelnyxEvent {
  data: {
    record_type: 'event';
    id: string;
    event_type: string;
    occurred_at: string;
    payload: Record<string, unknown>;
  };
  meta: { attempt: number; delivered_to: string };
}

/** One webhook of `eventType`, as Telnyx wraps it. */
export function telnyxEvent(
  eventType: string,
  payload: Record<string, unknown>,
  options: { id?: string; occurredAt?: string } = {},
): TelnyxEvent {
  return {
    data: {
      record_type: 'event',
      id: options.id ?? randomUUID(),
      event_type: eventType,
      occurred_at: options.occurredAt ?? '2020-08-27T16:33:36.843054Z',
      payload,
    },
    meta: { attempt: 1, delivered_to: 'https://switchboard.example.com/webhooks/fax/telnyx' },
  };
}

const inboundPayload = {
  connection_id: '1447842681660114324',
  direction: 'inbound',
  fax_id: 'f72eebbe-f9b6-4f0f-b652-03e742e110d5',
  from: '+16132484850',
  to: '+17733372863',
  user_id: '19a75cea-02c6-4b9a-84fa-c9bc8341feb8',
  caller_id: '+16132484872',
};

/** fax.received: the PDF is ready at media_url (partial_content false unless overridden). */
export function telnyxFaxReceived(payload: Record<string, unknown> = {}, options: { id?: string } = {}) {
  return telnyxEvent(
    'fax.received',
    {
      ...inboundPayload,
      call_duration_secs: 50,
      media_url: 'https://s3.amazonaws.com/faxes-prod/f72eebbe.pdf?X-Amz-Signature=abc',
      page_count: 2,
      partial_content: false,
      status: 'received',
      ...payload,
    },
    options,
  );
}

/** fax.failed for an inbound fax (the sender hung up unless overridden). */
export function telnyxFaxFailed(payload: Record<string, unknown> = {}, options: { id?: string } = {}) {
  return telnyxEvent(
    'fax.failed',
    { ...inboundPayload, failure_reason: 'sender_call_dropped', status: 'failed', ...payload },
    options,
  );
}

/** An event of a fax we sent: fax.queued, fax.media.processed, fax.sending.started, fax.delivered, fax.failed. */
export function telnyxOutboundEvent(
  eventType: 'fax.queued' | 'fax.media.processed' | 'fax.sending.started' | 'fax.delivered' | 'fax.failed',
  payload: Record<string, unknown> = {},
  options: { id?: string } = {},
) {
  const status = {
    'fax.queued': 'queued',
    'fax.media.processed': 'media.processed',
    'fax.sending.started': 'sending',
    'fax.delivered': 'delivered',
    'fax.failed': 'failed',
  }[eventType];
  return telnyxEvent(
    eventType,
    {
      connection_id: '234423',
      direction: 'outbound',
      fax_id: 'f8338808-3dc6-4f2b-942a-5d1f39255784',
      from: '+17733372107',
      to: '+15107882622',
      original_media_url: 'https://switchboard.example.com/fax-media/abc.pdf',
      status,
      ...(eventType === 'fax.delivered' && { page_count: 2, call_duration_secs: 25 }),
      ...(eventType === 'fax.failed' && { failure_reason: 'receiver_no_answer' }),
      ...payload,
    },
    options,
  );
}

/** The body and headers of a signed Telnyx webhook. */
export function telnyxRequest(
  keys: TelnyxKeys,
  event: unknown,
  options: { timestamp?: number } = {},
): { rawBody: Buffer; headers: Record<string, string> } {
  const rawBody = Buffer.from(JSON.stringify(event));
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  return {
    rawBody,
    headers: {
      'content-type': 'application/json',
      'telnyx-timestamp': timestamp,
      'telnyx-signature-ed25519': keys.sign(timestamp, rawBody),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Multipart (RFC 7578)

export interface MultipartFile {
  fieldName: string;
  fileName: string;
  contentType: string;
  content: Buffer;
}

/** Quotes a name or file name the way browsers do (HTML's multipart/form-data encoding). */
const quoted = (value: string) =>
  `"${value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22')}"`;

/** A multipart/form-data body: the fields in order, then the files. */
export function multipartBody(
  fields: Record<string, string>,
  files: MultipartFile[] = [],
): { body: Buffer; contentType: string } {
  const boundary = `----switchboard${randomBytes(12).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`,
      ),
    );
  }
  for (const file of files) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.fieldName)}; ` +
          `filename=${quoted(file.fileName)}\r\nContent-Type: ${file.contentType}\r\n\r\n`,
      ),
      file.content,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

// ---------------------------------------------------------------------------------------------------------
// Phaxio

/** X-Phaxio-Signature, computed here independently of channels/fax/providers/phaxio.ts. */
export function signPhaxio(
  callbackToken: string,
  url: string,
  fields: Record<string, string>,
  files: { fieldName: string; content: Buffer }[],
): string {
  let signed = url;
  for (const name of Object.keys(fields).sort()) signed += name + fields[name];
  for (const file of [...files].sort((a, b) =>
    a.fieldName < b.fieldName ? -1 : a.fieldName > b.fieldName ? 1 : 0,
  )) {
    signed += file.fieldName + createHash('sha1').update(file.content).digest('hex');
  }
  return createHmac('sha1', callbackToken).update(signed).digest('hex');
}

/** The fields of a Phaxio v2 callback about `fax` (its direction: `received` unless the fax says `sent`). */
export function phaxioFields(
  fax: Record<string, unknown>,
  options: { success?: boolean; isTest?: boolean } = {},
): Record<string, string> {
  return {
    success: String(options.success ?? true),
    is_test: String(options.isTest ?? false),
    direction: fax.direction === 'sent' ? 'sent' : 'received',
    fax: JSON.stringify(fax),
  };
}

/** A received fax's Fax Object, received in full unless overridden. */
export function phaxioReceivedFax(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 123456,
    direction: 'received',
    num_pages: 3,
    cost: 21,
    status: 'success',
    is_test: false,
    created_at: '2024-03-01T10:00:00.000-06:00',
    from_number: '+18475551234',
    to_number: '+13125556789',
    caller_name: 'ACME CLINIC',
    error_type: null,
    error_message: null,
    error_id: null,
    completed_at: '2024-03-01T10:01:30.000-06:00',
    ...overrides,
  };
}

/** A sent fax's Fax Object, delivered unless overridden. */
export function phaxioSentFax(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 654321,
    direction: 'sent',
    num_pages: 2,
    cost: 14,
    status: 'success',
    is_test: false,
    created_at: '2024-03-01T11:00:00.000-06:00',
    caller_id: '+13125556789',
    recipients: [{ phone_number: '+18475551234', status: 'success', retry_count: 0, completed_at: null }],
    tags: { reference: 'evt_1' },
    completed_at: '2024-03-01T11:02:00.000-06:00',
    ...overrides,
  };
}

/** A signed Phaxio callback: its multipart body and X-Phaxio-Signature. */
export function phaxioMultipart(input: {
  url: string;
  callbackToken: string;
  fields: Record<string, string>;
  file?: { fieldName?: string; fileName?: string; contentType?: string; content: Buffer } | null;
}): { body: Buffer; contentType: string; signature: string } {
  const files: MultipartFile[] = input.file
    ? [
        {
          fieldName: input.file.fieldName ?? 'filename',
          fileName: input.file.fileName ?? 'fax.pdf',
          contentType: input.file.contentType ?? 'application/pdf',
          content: input.file.content,
        },
      ]
    : [];
  const { body, contentType } = multipartBody(input.fields, files);
  return { body, contentType, signature: signPhaxio(input.callbackToken, input.url, input.fields, files) };
}

// ---------------------------------------------------------------------------------------------------------
// HylaFAX (our faxrcvd)

/** The fields faxrcvd posts for one fax; a whole fax from a known sender unless overridden. */
export function hylafaxFields(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    commid: '000000123',
    device: 'ttyS0',
    sender: '+1 415 965 7824',
    callid: '4159657824',
    callid2: 'ACME CLINIC',
    pages: '3',
    error: '',
    to: '',
    ...overrides,
  };
}

/** faxrcvd's post: multipart body and Authorization header. */
export function hylafaxMultipart(input: {
  token: string;
  fields: Record<string, string>;
  file?: { fileName?: string; contentType?: string; content: Buffer } | null;
}): { body: Buffer; contentType: string; authorization: string } {
  const files: MultipartFile[] = input.file
    ? [
        {
          fieldName: 'file',
          fileName: input.file.fileName ?? 'fax00012.tif',
          contentType: input.file.contentType ?? 'image/tiff',
          content: input.file.content,
        },
      ]
    : [];
  const { body, contentType } = multipartBody(input.fields, files);
  return { body, contentType, authorization: `Bearer ${input.token}` };
}

/** A tiny little-endian TIFF header and one empty IFD: enough bytes to stand for a received fax. */
export const tinyTiff = Buffer.from([
  0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
]);

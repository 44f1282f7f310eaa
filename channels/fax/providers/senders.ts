import { FaxSendError, type FaxSender, type FaxSendRequest } from '../types.js';

/*
 * Outbound faxes through the API providers, one FaxSender each, over fetch (no SDKs). Each send is one POST:
 *
 *   SignalWire  POST {space}/api/laml/2010-04-01/Accounts/{ProjectID}/Faxes.json, form-encoded
 *               To, From, MediaUrl, StatusCallback; Basic ProjectID:APIToken.
 *               2xx: the fax resource, `sid` is its id. Errors: Twilio's body { code, message, more_info, status }.
 *   Telnyx      POST {api}/v2/faxes, JSON connection_id, to, from, media_url, webhook_url (this fax's webhooks),
 *               client_state (base64, echoed in every webhook); Bearer API key.
 *               202: { data: { id, status: 'queued', ... } }. Errors: { errors: [{ code, title, detail }] }.
 *   Phaxio v2.1 POST {api}/v2.1/faxes, multipart to, caller_id, callback_url, tag[reference], file (the PDF);
 *               Basic key:secret. 200: { success: true, message, data: { id: <number> } }.
 *               Errors: { success: false, message }.
 *
 * SignalWire and Telnyx fetch the document from `mediaUrl` after answering; Phaxio gets it in the upload.
 *
 * Failures are FaxSendError. Permanent (`isPermanent`): any 4xx but 408 and 429, since the same request would
 * be refused again. Retryable: 408, 429, 5xx, a network error, no answer within `timeoutMs`. Messages name the
 * provider, the status and the provider's own words, never a credential: the credentials are scrubbed from
 * the message in case a provider echoes one back.
 */

const defaultTimeoutMs = 30_000;
/** The longest provider error text kept in a message. */
const maxProviderMessage = 300;

interface ProviderRequest {
  url: string;
  init: { headers: Record<string, string>; body: string | URLSearchParams | FormData };
}

/** What differs between providers; `postFax` does the rest. */
interface ProviderSpec {
  provider: FaxSender['provider'];
  label: string;
  timeoutMs: number;
  /** Credentials as they could appear in text (raw and in an Authorization header), for scrubbing. */
  secrets: string[];
  buildRequest(request: FaxSendRequest): ProviderRequest;
  /** The provider's id for the fax in a 2xx answer, or undefined when it has none. */
  readId(body: unknown): string | undefined;
  /** The provider's own explanation in an error answer. */
  readError(body: unknown): string | undefined;
}

export interface SignalWireFaxSenderOptions {
  /** https://example.signalwire.com (a bare host gets https://), or a test double's base URL. */
  spaceUrl: string;
  projectId: string;
  apiToken: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

export function createSignalWireFaxSender(options: SignalWireFaxSenderOptions): FaxSender {
  const space = withoutTrailingSlash(
    /^https?:\/\//i.test(options.spaceUrl) ? options.spaceUrl : `https://${options.spaceUrl}`,
  );
  const url = `${space}/api/laml/2010-04-01/Accounts/${encodeURIComponent(options.projectId)}/Faxes.json`;
  const authorization = basicAuth(options.projectId, options.apiToken);
  return faxSender({
    provider: 'signalwire',
    label: 'SignalWire',
    timeoutMs: options.timeoutMs ?? defaultTimeoutMs,
    secrets: [options.apiToken, authorization.slice('Basic '.length)],
    buildRequest: (request) => ({
      url,
      init: {
        headers: { Authorization: authorization, Accept: 'application/json' },
        body: new URLSearchParams({
          To: request.to,
          From: request.from,
          MediaUrl: request.mediaUrl,
          StatusCallback: request.statusCallbackUrl,
        }),
      },
    }),
    readId: (body) => nonEmptyString(field(body, 'sid')),
    readError: (body) => nonEmptyString(field(body, 'message')) ?? jsonApiErrors(body),
  });
}

export interface TelnyxFaxSenderOptions {
  /** Default https://api.telnyx.com. */
  apiBaseUrl?: string;
  apiKey: string;
  /** The Fax Application (connection) the fax is sent with. */
  connectionId: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

export function createTelnyxFaxSender(options: TelnyxFaxSenderOptions): FaxSender {
  const url = `${withoutTrailingSlash(options.apiBaseUrl ?? 'https://api.telnyx.com')}/v2/faxes`;
  return faxSender({
    provider: 'telnyx',
    label: 'Telnyx',
    timeoutMs: options.timeoutMs ?? defaultTimeoutMs,
    secrets: [options.apiKey],
    buildRequest: (request) => ({
      url,
      init: {
        headers: {
          Authorization: `Bearer ${options.apiKey}`,
          Accept: 'application/json',
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          connection_id: options.connectionId,
          to: request.to,
          from: request.from,
          media_url: request.mediaUrl,
          // Overrides the Fax Application's webhook URL for this fax only.
          webhook_url: request.statusCallbackUrl,
          // Telnyx requires base64 and returns it unchanged in every webhook about this fax.
          client_state: Buffer.from(request.reference, 'utf8').toString('base64'),
        }),
      },
    }),
    readId: (body) => nonEmptyString(field(field(body, 'data'), 'id')),
    readError: jsonApiErrors,
  });
}

export interface PhaxioFaxSenderOptions {
  /** Default https://api.phaxio.com. */
  apiBaseUrl?: string;
  apiKey: string;
  apiSecret: string;
  /** Default 30 s; the PDF is uploaded within it. */
  timeoutMs?: number;
}

export function createPhaxioFaxSender(options: PhaxioFaxSenderOptions): FaxSender {
  const url = `${withoutTrailingSlash(options.apiBaseUrl ?? 'https://api.phaxio.com')}/v2.1/faxes`;
  const authorization = basicAuth(options.apiKey, options.apiSecret);
  return faxSender({
    provider: 'phaxio',
    label: 'Phaxio',
    timeoutMs: options.timeoutMs ?? defaultTimeoutMs,
    secrets: [options.apiKey, options.apiSecret, authorization.slice('Basic '.length)],
    buildRequest: (request) => {
      const form = new FormData();
      form.append('to', request.to);
      // Phaxio's name for the sending number; it must be one of the account's numbers.
      form.append('caller_id', request.from);
      form.append('callback_url', request.statusCallbackUrl);
      form.append('tag[reference]', request.reference);
      // A copy: Blob wants an ArrayBuffer-backed view, a Buffer may sit in Node's shared pool.
      const pdf = new Blob([new Uint8Array(request.document.content)], { type: 'application/pdf' });
      form.append('file', pdf, request.document.fileName);
      return {
        url,
        init: { headers: { Authorization: authorization, Accept: 'application/json' }, body: form },
      };
    },
    // Phaxio's ids are numbers; a `success: false` answer has no id even with a 2xx status.
    readId: (body) =>
      field(body, 'success') === false ? undefined : idString(field(field(body, 'data'), 'id')),
    readError: (body) => nonEmptyString(field(body, 'message')),
  });
}

function faxSender(spec: ProviderSpec): FaxSender {
  return { provider: spec.provider, send: (request) => postFax(spec, request) };
}

async function postFax(spec: ProviderSpec, request: FaxSendRequest): Promise<{ providerFaxId: string }> {
  const fail = (message: string, isPermanent: boolean, status?: number) =>
    new FaxSendError(scrub(message, spec.secrets), isPermanent, status);
  const { url, init } = spec.buildRequest(request);

  let status: number;
  let statusText: string;
  let text: string;
  try {
    // The timeout covers reading the answer too.
    const response = await fetch(url, {
      method: 'POST',
      ...init,
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    status = response.status;
    statusText = response.statusText;
    text = await response.text();
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') {
      throw fail(`${spec.label} did not answer within ${spec.timeoutMs} ms`, false);
    }
    throw fail(`${spec.label} could not be reached: ${networkCause(error)}`, false);
  }

  const body = parseJson(text);
  if (status < 200 || status >= 300) {
    const explanation = truncate(spec.readError(body) ?? (statusText || 'no error message'));
    const isPermanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
    throw fail(`${spec.label} refused the fax: HTTP ${status}: ${explanation}`, isPermanent, status);
  }

  const providerFaxId = spec.readId(body);
  if (providerFaxId === undefined) {
    // Permanent on purpose. The provider took the request (2xx), so the fax may well be queued: a retry could
    // fax the recipient twice, on paper, and an answer we cannot read would not read better the next time.
    // Without an id no status report can be matched to the send either, so a person should look at it.
    const explanation = spec.readError(body);
    throw fail(
      `${spec.label} answered HTTP ${status} without a fax id${explanation ? `: ${truncate(explanation)}` : ''}`,
      true,
      status,
    );
  }
  return { providerFaxId };
}

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function idString(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : nonEmptyString(value);
}

/** Telnyx's error list (JSON:API style): "title: detail" for each error. */
function jsonApiErrors(body: unknown): string | undefined {
  const errors = field(body, 'errors');
  if (!Array.isArray(errors)) return undefined;
  const parts = errors
    .map((error) => {
      const title = nonEmptyString(field(error, 'title'));
      const detail = nonEmptyString(field(error, 'detail')) ?? nonEmptyString(field(error, 'message'));
      const code = idString(field(error, 'code'));
      const text = [...new Set([title, detail])].filter((part) => part !== undefined).join(': ');
      return code !== undefined && text !== '' ? `${text} (${code})` : text;
    })
    .filter((text) => text !== '');
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** Why fetch failed, from undici's cause (ECONNREFUSED, ENOTFOUND...). */
function networkCause(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = nonEmptyString(field(cause, 'code'));
  const message =
    cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
  return code !== undefined && !message.includes(code) ? `${code} ${message}` : message;
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > maxProviderMessage ? `${oneLine.slice(0, maxProviderMessage)}…` : oneLine;
}

function scrub(text: string, secrets: readonly string[]): string {
  return secrets
    .filter((secret) => secret !== '')
    .reduce((scrubbed, secret) => scrubbed.split(secret).join('[redacted]'), text);
}

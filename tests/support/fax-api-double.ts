import { randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A local stand-in for the send APIs of the three fax providers, on their paths with their auth and their JSON
 * shapes, for tests of channels/fax/providers/senders.ts:
 *
 *   SignalWire  POST /api/laml/2010-04-01/Accounts/{ProjectID}/Faxes.json   form To, From, MediaUrl,
 *               StatusCallback; Basic ProjectID:APIToken; 201 with the fax resource (sid); errors as
 *               { code, message, more_info, status }.
 *   Telnyx      POST /v2/faxes   JSON connection_id, to, from, media_url, webhook_url, client_state (base64);
 *               Bearer API key; 202 { data: { record_type: 'fax', id, status: 'queued', ... } }; errors as
 *               { errors: [{ code, title, detail, source }] }.
 *   Phaxio      POST /v2.1/faxes   multipart to, file, caller_id, callback_url, tag[name]; Basic key:secret;
 *               200 { success: true, message: 'Fax queued for sending', data: { id } }; errors as
 *               { success: false, message }.
 *
 * Like the real providers, the SignalWire and Telnyx parts fetch the media URL of every fax they accept and
 * record what they got (bytes or the failure); they do it before answering, so a test sees the result as soon
 * as the send resolves. A failed fetch does not change the answer: the real providers report it later, in a
 * webhook. The double never calls status callbacks.
 *
 * Every request is recorded under its provider, with the status the double answered. Credentials are never
 * recorded: the Authorization header keeps only its scheme.
 */

export type FaxApiProvider = 'signalwire' | 'telnyx' | 'phaxio';

export interface FaxApiCredentials {
  signalwire: { projectId: string; apiToken: string };
  telnyx: { apiKey: string; connectionId: string };
  phaxio: { apiKey: string; apiSecret: string };
}

export interface FaxApiDoubleOptions {
  /** Test credentials by default (see `credentials` on the double). */
  credentials?: { [P in FaxApiProvider]?: Partial<FaxApiCredentials[P]> };
  /** How long a media fetch may take before it is recorded as failed. Default 5 s. */
  mediaFetchTimeoutMs?: number;
}

/** What the double got when it fetched a fax's media URL. */
export type MediaFetch =
  | { isFetched: true; status: number; contentType: string | null; bytes: Buffer }
  | { isFetched: false; status: number | null; error: string };

export interface RecordedFaxSend {
  provider: FaxApiProvider;
  method: string;
  path: string;
  /** The status the double answered; 0 for a request it holds unanswered (stallNext). */
  status: number;
  /** Request headers, lower-case; `authorization` is reduced to its scheme ("Basic [redacted]"). */
  headers: Record<string, string>;
  /** The credentials' scheme, and whether they were the right ones. */
  auth: { scheme: 'basic' | 'bearer' | 'none' | 'other'; isValid: boolean };
  /**
   * The body's fields as sent: form or multipart text fields (files left out), or the JSON object. Empty when
   * the body was never read: a failNext answer, a stall, wrong credentials.
   */
  fields: Record<string, unknown>;
  to?: string;
  from?: string;
  mediaUrl?: string;
  statusCallbackUrl?: string;
  /** Our reference as the provider keeps it: Telnyx client_state decoded, Phaxio tag[reference]. */
  reference?: string;
  /** The uploaded document (Phaxio). */
  file?: { fileName: string; contentType: string; bytes: Buffer };
  /** The media fetch (SignalWire, Telnyx), for an accepted fax. */
  media?: MediaFetch;
  /** The id the double gave the fax, for an accepted fax. */
  providerFaxId?: string;
  at: Date;
}

export interface FaxApiDouble {
  /** Give it to a sender as SignalWire's space URL or Telnyx's and Phaxio's API base URL. */
  baseUrl: string;
  credentials: FaxApiCredentials;
  /** Requests per provider in arrival order; the same arrays for the double's lifetime. */
  sent: Record<FaxApiProvider, RecordedFaxSend[]>;
  /**
   * The provider's next `times` requests are answered with `status` and its error body (`message` or a
   * stock one), before any auth or validation: an outage, a rate limit, a refusal.
   */
  failNext(provider: FaxApiProvider, status: number, times?: number, message?: string): void;
  /** The provider's next `times` requests get no answer until the double closes: a provider that hangs. */
  stallNext(provider: FaxApiProvider, times?: number): void;
  close(): Promise<void>;
}

const host = '127.0.0.1';
const defaultCredentials: FaxApiCredentials = {
  signalwire: { projectId: 'b3877c40-da60-4998-90ad-b792e98472ac', apiToken: 'PTsignalwire-test-token' },
  telnyx: { apiKey: 'KEYtelnyx-test-key', connectionId: '1293384261075731499' },
  phaxio: { apiKey: 'phaxio-test-key', apiSecret: 'phaxio-test-secret' },
};

const e164 = /^\+[1-9]\d{6,14}$/;

/** An error answer in the provider's words; `field` names the offending parameter, where the API says so. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface ParsedBody {
  fields: Record<string, unknown>;
  files: Map<string, { fileName: string; contentType: string; bytes: Buffer }>;
}

export async function startFaxApiDouble(options: FaxApiDoubleOptions = {}): Promise<FaxApiDouble> {
  const credentials: FaxApiCredentials = {
    signalwire: { ...defaultCredentials.signalwire, ...options.credentials?.signalwire },
    telnyx: { ...defaultCredentials.telnyx, ...options.credentials?.telnyx },
    phaxio: { ...defaultCredentials.phaxio, ...options.credentials?.phaxio },
  };
  const mediaFetchTimeoutMs = options.mediaFetchTimeoutMs ?? 5_000;
  const sent: FaxApiDouble['sent'] = { signalwire: [], telnyx: [], phaxio: [] };
  const failures: Record<FaxApiProvider, { status: number; message?: string | undefined }[]> = {
    signalwire: [],
    telnyx: [],
    phaxio: [],
  };
  const stalls: Record<FaxApiProvider, number> = { signalwire: 0, telnyx: 0, phaxio: 0 };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const method = request.method ?? 'GET';
    const route = routeOf(method, path);
    const raw = await readBody(request);
    if (!route) {
      sendJson(response, 404, { message: `No route for ${method} ${path}` });
      return;
    }
    const { provider } = route;
    const recorded: RecordedFaxSend = {
      provider,
      method,
      path,
      status: 0,
      headers: redactedHeaders(request),
      auth: { scheme: authScheme(request), isValid: false },
      fields: {},
      at: new Date(),
    };
    sent[provider].push(recorded);

    if (stalls[provider] > 0) {
      stalls[provider] -= 1;
      return; // never answered; close() drops the connection
    }
    try {
      const failure = failures[provider].shift();
      if (failure) throw new ApiError(failure.status, failure.message ?? stockMessage(failure.status));
      recorded.auth.isValid = isAuthorized(provider, request);
      if (!recorded.auth.isValid) throw new ApiError(401, authFailureMessage(provider));
      const body = await parseBody(request, raw, provider);
      recorded.fields = body.fields;
      const answer = await accept(provider, route.accountId, body, recorded);
      recorded.status = answer.status;
      sendJson(response, answer.status, answer.body);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      recorded.status = error.status;
      sendJson(response, error.status, errorBody(provider, error));
    }
  }

  function isAuthorized(provider: FaxApiProvider, request: IncomingMessage): boolean {
    const header = request.headers.authorization ?? '';
    switch (provider) {
      case 'signalwire':
        return isBasic(header, credentials.signalwire.projectId, credentials.signalwire.apiToken);
      case 'telnyx': {
        const token = /^Bearer (.+)$/.exec(header)?.[1];
        return token !== undefined && sameSecret(token, credentials.telnyx.apiKey);
      }
      case 'phaxio':
        return isBasic(header, credentials.phaxio.apiKey, credentials.phaxio.apiSecret);
    }
  }

  /** Validates an authorized request like the provider does, records it, and gives the success answer. */
  async function accept(
    provider: FaxApiProvider,
    accountId: string | undefined,
    body: ParsedBody,
    recorded: RecordedFaxSend,
  ): Promise<{ status: number; body: unknown }> {
    const text = (name: string) => {
      const value = body.fields[name];
      return typeof value === 'string' ? value : undefined;
    };
    switch (provider) {
      case 'signalwire': {
        if (accountId !== credentials.signalwire.projectId) {
          throw new ApiError(404, `The requested resource /Accounts/${accountId}/Faxes.json was not found`);
        }
        const fax = {
          to: required(text('To'), 'To', 400),
          from: required(text('From'), 'From', 400),
          mediaUrl: required(text('MediaUrl'), 'MediaUrl', 400),
        };
        checkNumber(fax.to, 'To', 400);
        checkNumber(fax.from, 'From', 400);
        const statusCallbackUrl = text('StatusCallback');
        Object.assign(recorded, fax, statusCallbackUrl !== undefined && { statusCallbackUrl });
        const sid = randomUUID();
        recorded.providerFaxId = sid;
        recorded.media = await fetchMedia(fax.mediaUrl);
        return { status: 201, body: signalWireFax(accountId, sid, fax, text('Quality')) };
      }
      case 'telnyx': {
        const connectionId = text('connection_id');
        if (connectionId === undefined || connectionId !== credentials.telnyx.connectionId) {
          throw new ApiError(422, 'The connection_id is invalid.', 'connection_id', '10015');
        }
        const fax = {
          to: required(text('to'), 'to', 422),
          from: required(text('from'), 'from', 422),
          mediaUrl: required(text('media_url'), 'media_url', 422),
        };
        checkNumber(fax.to, 'to', 422);
        checkNumber(fax.from, 'from', 422);
        const clientState = body.fields.client_state;
        if (clientState !== undefined && !isBase64(clientState)) {
          throw new ApiError(
            422,
            'client_state must be a valid Base-64 encoded string.',
            'client_state',
            '10015',
          );
        }
        const webhookUrl = text('webhook_url');
        Object.assign(
          recorded,
          fax,
          webhookUrl !== undefined && { statusCallbackUrl: webhookUrl },
          typeof clientState === 'string' && {
            reference: Buffer.from(clientState, 'base64').toString('utf8'),
          },
        );
        const id = randomUUID();
        recorded.providerFaxId = id;
        recorded.media = await fetchMedia(fax.mediaUrl);
        const now = new Date().toISOString();
        return {
          status: 202,
          body: {
            data: {
              record_type: 'fax',
              id,
              connection_id: connectionId,
              direction: 'outbound',
              from: fax.from,
              to: fax.to,
              media_url: fax.mediaUrl,
              quality: 'high',
              store_media: false,
              webhook_url: webhookUrl ?? '',
              webhook_failover_url: '',
              status: 'queued',
              client_state: typeof clientState === 'string' ? clientState : null,
              created_at: now,
              updated_at: now,
            },
          },
        };
      }
      case 'phaxio': {
        const to = required(text('to'), 'to', 422);
        checkNumber(to, 'to', 422);
        const file = body.files.get('file') ?? body.files.get('file[]');
        if (!file && text('content_url') === undefined) {
          throw new ApiError(422, 'You must provide at least one file or content_url');
        }
        const from = text('caller_id');
        if (from !== undefined) checkNumber(from, 'caller_id', 422);
        const statusCallbackUrl = text('callback_url');
        const reference = text('tag[reference]');
        Object.assign(
          recorded,
          { to },
          from !== undefined && { from },
          statusCallbackUrl !== undefined && { statusCallbackUrl },
          reference !== undefined && { reference },
          file && { file },
        );
        const id = randomInt(10_000_000, 99_999_999);
        recorded.providerFaxId = String(id);
        return { status: 200, body: { success: true, message: 'Fax queued for sending', data: { id } } };
      }
    }
  }

  async function fetchMedia(url: string): Promise<MediaFetch> {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(mediaFetchTimeoutMs) });
      const bytes = Buffer.from(await response.arrayBuffer());
      if (!response.ok)
        return { isFetched: false, status: response.status, error: `HTTP ${response.status}` };
      return {
        isFetched: true,
        status: response.status,
        contentType: response.headers.get('content-type'),
        bytes,
      };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      return { isFetched: false, status: null, error: `${String(error)}${cause}` };
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) return;
      response.statusCode = 500;
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://${host}:${port}`,
    credentials,
    sent,
    failNext(provider, status, times = 1, message) {
      for (let i = 0; i < times; i += 1) failures[provider].push({ status, message });
    },
    stallNext(provider, times = 1) {
      stalls[provider] += times;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function routeOf(method: string, path: string): { provider: FaxApiProvider; accountId?: string } | undefined {
  if (method !== 'POST') return undefined;
  const signalwire = /^\/api\/laml\/2010-04-01\/Accounts\/([^/]+)\/Faxes\.json$/.exec(path);
  if (signalwire?.[1]) return { provider: 'signalwire', accountId: decodeURIComponent(signalwire[1]) };
  if (path === '/v2/faxes') return { provider: 'telnyx' };
  if (path === '/v2.1/faxes') return { provider: 'phaxio' };
  return undefined;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** The body by its content type, as each provider accepts it (SignalWire: form, Telnyx: JSON, Phaxio: both). */
async function parseBody(
  request: IncomingMessage,
  raw: Buffer,
  provider: FaxApiProvider,
): Promise<ParsedBody> {
  const contentType = request.headers['content-type'] ?? '';
  const parsed: ParsedBody = { fields: {}, files: new Map() };
  if (contentType.startsWith('application/json') && provider === 'telnyx') {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ApiError(400, 'The request body is not valid JSON.', undefined, '10002');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ApiError(400, 'The request body must be a JSON object.', undefined, '10002');
    }
    parsed.fields = json as Record<string, unknown>;
    return parsed;
  }
  if (contentType.startsWith('application/x-www-form-urlencoded') && provider !== 'telnyx') {
    for (const [name, value] of new URLSearchParams(raw.toString('utf8'))) parsed.fields[name] ??= value;
    return parsed;
  }
  if (contentType.startsWith('multipart/form-data') && provider === 'phaxio') {
    // undici's multipart parser, through a Response, reads the parts the way a server framework would.
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } })
      .formData()
      .catch(() => {
        throw new ApiError(400, 'The multipart body could not be read');
      });
    // The DOM lib this project compiles with has no FormData iterator; forEach keeps the parts' order.
    const entries: [string, FormDataEntryValue][] = [];
    form.forEach((value, name) => entries.push([name, value]));
    for (const [name, value] of entries) {
      if (typeof value === 'string') {
        parsed.fields[name] ??= value;
      } else if (!parsed.files.has(name)) {
        const bytes = Buffer.from(await value.arrayBuffer());
        parsed.files.set(name, { fileName: value.name, contentType: value.type, bytes });
      }
    }
    return parsed;
  }
  throw new ApiError(provider === 'telnyx' ? 415 : 400, `Unsupported content type: ${contentType || 'none'}`);
}

function required(value: string | undefined, name: string, status: number): string {
  if (value === undefined || value === '')
    throw new ApiError(status, `Missing required parameter ${name}`, name);
  return value;
}

function checkNumber(value: string, name: string, status: number): void {
  if (!e164.test(value))
    throw new ApiError(status, `The ${name} number ${value} is not a valid E.164 number`, name);
}

function isBase64(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    /^[A-Za-z0-9+/]*={0,2}$/.test(value) &&
    value.length % 4 === 0 &&
    value !== ''
  );
}

/** SignalWire's fax resource, as its Compatibility API returns it. */
function signalWireFax(
  projectId: string,
  sid: string,
  fax: { to: string; from: string; mediaUrl: string },
  quality: string | undefined,
): Record<string, unknown> {
  const path = `/api/laml/2010-04-01/Accounts/${projectId}/Faxes/${sid}`;
  const now = new Date().toISOString();
  return {
    account_sid: projectId,
    api_version: 'v1',
    date_created: now,
    date_updated: now,
    direction: 'outbound',
    from: fax.from,
    media_url: fax.mediaUrl,
    media_sid: randomUUID(),
    num_pages: null,
    price: null,
    price_unit: null,
    quality: quality ?? 'fine',
    sid,
    status: 'queued',
    to: fax.to,
    duration: null,
    links: { media: `${path}/Media` },
    url: path,
  };
}

function errorBody(provider: FaxApiProvider, error: ApiError): unknown {
  switch (provider) {
    case 'signalwire':
      return {
        code: error.status === 401 ? 20003 : error.status === 404 ? 20404 : error.status,
        message: error.message,
        more_info: 'https://developer.signalwire.com/compatibility-api/rest/',
        status: error.status,
      };
    case 'telnyx':
      return {
        errors: [
          {
            code: error.code ?? (error.status === 401 ? '10009' : String(error.status)),
            title: telnyxTitle(error.status),
            detail: error.message,
            ...(error.field !== undefined && { source: { pointer: `/${error.field}` } }),
          },
        ],
      };
    case 'phaxio':
      return { success: false, message: error.message };
  }
}

function telnyxTitle(status: number): string {
  if (status === 401) return 'Authentication failed';
  if (status === 422) return 'Invalid parameter';
  if (status === 429) return 'Too many requests';
  if (status >= 500) return 'Service unavailable';
  return 'Bad request';
}

function authFailureMessage(provider: FaxApiProvider): string {
  switch (provider) {
    case 'signalwire':
      return 'Authentication Failed';
    case 'telnyx':
      return 'The API key is missing or invalid.';
    case 'phaxio':
      return 'Invalid API credentials';
  }
}

function stockMessage(status: number): string {
  if (status === 429) return 'Rate limit exceeded';
  if (status >= 500) return 'Internal server error';
  return `Request refused (${status})`;
}

function redactedHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    headers[name] = name === 'authorization' ? `${text.split(' ')[0] ?? ''} [redacted]` : text;
  }
  return headers;
}

function authScheme(request: IncomingMessage): RecordedFaxSend['auth']['scheme'] {
  const scheme = (request.headers.authorization ?? '').split(' ')[0]?.toLowerCase() ?? '';
  if (scheme === '') return 'none';
  return scheme === 'basic' || scheme === 'bearer' ? scheme : 'other';
}

function isBasic(header: string, user: string, password: string): boolean {
  const encoded = /^Basic (.+)$/.exec(header)?.[1];
  if (encoded === undefined) return false;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return (
    colon >= 0 && sameSecret(decoded.slice(0, colon), user) && sameSecret(decoded.slice(colon + 1), password)
  );
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  response.end(text);
}

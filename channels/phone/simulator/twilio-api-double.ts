import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A local stand-in for the part of Twilio's REST API (2010-04-01) that Switchboard's twilio client calls, on
 * Twilio's paths with Twilio's JSON shapes, so the real twilio-node client can talk to it once its requests
 * are pointed here (local-twilio-client.ts):
 *
 *   POST   /2010-04-01/Accounts/{AccountSid}/Calls.json              create: To, From, Url|Twiml, Method,
 *                                                                    StatusCallback, StatusCallbackEvent...
 *   GET    /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json    fetch
 *   POST   /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json    update: Twiml, Url, Method, Status
 *   GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.wav|.mp3]   the audio
 *   GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json   the recording resource
 *   DELETE /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.json]
 *
 * Every request is kept in `requests`. Creates and updates are also emitted ('call.created', 'call.updated')
 * so a CallSimulator can act on them the way Twilio would; the double itself never calls webhooks.
 * HTTP Basic auth is checked against the account SID and auth token it was given; errors use Twilio's body
 * ({ code, message, more_info, status }).
 */

export type FormValue = string | string[];
/** Form fields as sent; a repeated field (StatusCallbackEvent=ringing&StatusCallbackEvent=answered) is a list. */
export type FormParams = Record<string, FormValue>;

/** The first value of a form field, or undefined. */
export function formValue(params: FormParams, name: string): string | undefined {
  const value = params[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a form field, splitting space-separated lists (both forms are accepted by Twilio). */
export function formValues(params: FormParams, name: string): string[] {
  const value = params[name];
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.flatMap((v) => v.split(/\s+/)).filter((v) => v !== '');
}

export type CallStatus =
  'queued' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'failed' | 'no-answer' | 'canceled';

const finalStatuses: readonly CallStatus[] = ['completed', 'busy', 'failed', 'no-answer', 'canceled'];

export function isFinalStatus(status: CallStatus): boolean {
  return finalStatuses.includes(status);
}

export type CallDirection = 'inbound' | 'outbound-api' | 'outbound-dial';

/** The double's view of one call; `toResource()` gives Twilio's JSON for it. */
export interface CallRecord {
  sid: string;
  from: string;
  to: string;
  direction: CallDirection;
  status: CallStatus;
  parentCallSid?: string;
  dateCreated: Date;
  dateUpdated: Date;
  startTime?: Date;
  endTime?: Date;
  /** Whole seconds, set when the call ends. */
  duration?: number;
  /** The form fields of the REST request that created the call. */
  createParams?: FormParams;
}

export interface CallUpdate {
  call: CallRecord;
  /** The form fields of the update: Twiml, Url, Method, Status, StatusCallback... */
  params: FormParams;
}

export type ApiOperation =
  | 'calls.create'
  | 'calls.fetch'
  | 'calls.update'
  | 'recordings.media'
  | 'recordings.fetch'
  | 'recordings.delete'
  | 'unknown';

export interface RecordedRequest {
  operation: ApiOperation;
  method: string;
  path: string;
  query: FormParams;
  /** The form body. */
  params: FormParams;
  /** The call or recording SID in the path, if any. */
  sid?: string;
  status: number;
  at: Date;
}

interface StoredRecording {
  bytes: Buffer;
  contentType: string;
  callSid?: string;
  durationSeconds?: number;
  deleted: boolean;
}

export interface TwilioApiDoubleOptions {
  accountSid: string;
  authToken: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /**
   * What a recording nobody registered returns: a short silent WAV (default, so a server can download any
   * RecordingUrl the simulator invented) or Twilio's 404.
   */
  unknownRecordings?: 'silent-wav' | 'not-found';
  /**
   * Whether recording media needs Basic auth, as with the account setting "Enforce HTTP Auth on Media URLs".
   * Default true: a server that downloads without credentials works against the double only if it also works
   * against an account with that setting on.
   */
  mediaAuth?: boolean;
}

export interface TwilioApiDoubleEvents {
  'call.created': [call: CallRecord];
  'call.updated': [update: CallUpdate];
  request: [request: RecordedRequest];
}

const apiVersion = '2010-04-01';

/** A fresh Twilio SID: two letters and 32 hex digits. */
export function newSid(prefix: 'CA' | 'RE' | 'TR' | 'QU' | 'AC' | 'PN'): string {
  return prefix + randomBytes(16).toString('hex');
}

/** Twilio's RFC 2822 dates: "Tue, 31 Aug 2010 20:36:28 +0000". */
export function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

function formatted(number: string): string {
  const us = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number);
  return us ? `(${us[1]}) ${us[2]}-${us[3]}` : number;
}

/** A mono 8 kHz 16-bit PCM WAV of silence, the format Twilio records in. */
export function silentWav(seconds: number): Buffer {
  const sampleRate = 8000;
  const dataBytes = Math.max(0, Math.round(seconds * sampleRate)) * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([header, Buffer.alloc(dataBytes)]);
}

function parseForm(text: string): FormParams {
  const params: FormParams = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = params[key];
    params[key] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return params;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class TwilioApiDouble extends EventEmitter<TwilioApiDoubleEvents> {
  readonly accountSid: string;
  /** Every request in arrival order; the same array for the double's lifetime. */
  readonly requests: RecordedRequest[] = [];
  private readonly calls = new Map<string, CallRecord>();
  private readonly recordings = new Map<string, StoredRecording>();
  private readonly server: Server;
  private address?: AddressInfo;

  /** Creates the double and starts listening. */
  static async start(options: TwilioApiDoubleOptions): Promise<TwilioApiDouble> {
    const double = new TwilioApiDouble(options);
    await double.listen();
    return double;
  }

  constructor(private readonly options: TwilioApiDoubleOptions) {
    super();
    // One listener per simulated call: a benchmark runs hundreds against one double.
    this.setMaxListeners(0);
    this.accountSid = options.accountSid;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.address = this.server.address() as AddressInfo;
  }

  /** The base URL to give a twilio client in place of https://api.twilio.com. */
  get url(): string {
    if (!this.address) throw new Error('the Twilio API double is not listening');
    return `http://${this.options.host ?? '127.0.0.1'}:${this.address.port}`;
  }

  get port(): number {
    if (!this.address) throw new Error('the Twilio API double is not listening');
    return this.address.port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve, reject) =>
      this.server.close((error) => (error ? reject(error) : resolve())),
    );
  }

  /** A call the double did not create (an inbound call), so that REST requests about it succeed. */
  addCall(init: Omit<CallRecord, 'dateCreated' | 'dateUpdated'>): CallRecord {
    const now = new Date();
    const call: CallRecord = { ...init, dateCreated: now, dateUpdated: now };
    this.calls.set(call.sid, call);
    return call;
  }

  getCall(sid: string): CallRecord | undefined {
    return this.calls.get(sid);
  }

  /** Calls created through the REST API, oldest first. */
  createdCalls(): CallRecord[] {
    return [...this.calls.values()].filter((call) => call.createParams !== undefined);
  }

  /** Records what the call did, as Twilio's call resource would show it. */
  setCallStatus(sid: string, status: CallStatus, durationSeconds?: number): void {
    const call = this.calls.get(sid);
    if (!call) return;
    const now = new Date();
    if (status === 'in-progress' && !call.startTime) call.startTime = now;
    if (isFinalStatus(status)) {
      call.endTime ??= now;
      // The simulator's figure (on its own clock) wins over the double's first estimate.
      if (durationSeconds !== undefined || call.duration === undefined) call.duration = durationSeconds ?? 0;
    }
    call.status = status;
    call.dateUpdated = now;
  }

  /** Audio served at the recording's media URL, with or without .wav/.mp3 (no transcoding is done). */
  addRecording(
    sid: string,
    bytes: Buffer | Uint8Array,
    contentType = 'audio/x-wav',
    details: { callSid?: string; durationSeconds?: number } = {},
  ): void {
    this.recordings.set(sid, { bytes: Buffer.from(bytes), contentType, ...details, deleted: false });
  }

  /** The first request, past or future, that matches; rejects after `timeoutMs`. */
  waitFor(predicate: (request: RecordedRequest) => boolean, timeoutMs = 5_000): Promise<RecordedRequest> {
    return this.waitForEvent('request', () => this.requests.find(predicate), timeoutMs, 'request');
  }

  /** The first call created through the REST API, past or future, that matches. */
  waitForCall(predicate: (call: CallRecord) => boolean = () => true, timeoutMs = 5_000): Promise<CallRecord> {
    return this.waitForEvent(
      'call.created',
      () => this.createdCalls().find(predicate),
      timeoutMs,
      'created call',
    );
  }

  private waitForEvent<T>(
    event: 'request' | 'call.created',
    probe: () => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found === undefined) return;
        clearTimeout(timer);
        this.off(event, check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.off(event, check);
        reject(new Error(`no matching ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on(event, check);
      check();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    const body = await readBody(request);
    const isForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const params = isForm ? parseForm(body) : {};
    const route = this.route(method, url.pathname);
    const recorded: RecordedRequest = {
      operation: route.operation,
      method,
      path: url.pathname,
      query: parseForm(url.search.slice(1)),
      params,
      status: 0,
      at: new Date(),
    };
    if (route.sid !== undefined) recorded.sid = route.sid;

    let status: number;
    try {
      if (!this.isAuthorized(request, route.operation)) {
        response.setHeader('WWW-Authenticate', 'Basic realm="Twilio API"');
        throw new ApiError(401, 20003, 'Authenticate');
      }
      if (route.accountSid !== undefined && route.accountSid !== this.accountSid) {
        throw this.notFound(url.pathname);
      }
      status = this.respond(route, params, url.pathname, response);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status = error.status;
      this.sendJson(response, status, {
        code: error.code,
        message: error.message,
        more_info: `https://www.twilio.com/docs/errors/${error.code}`,
        status,
      });
    }
    recorded.status = status;
    this.requests.push(recorded);
    this.emit('request', recorded);
  }

  private route(
    method: string,
    path: string,
  ): { operation: ApiOperation; accountSid?: string; sid?: string; format?: string } {
    const calls = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls(?:\/([^/.]+))?\.json$/.exec(path);
    if (calls) {
      const [, accountSid, sid] = calls as unknown as [string, string, string | undefined];
      if (sid === undefined) return { operation: method === 'POST' ? 'calls.create' : 'unknown', accountSid };
      const operation = method === 'POST' ? 'calls.update' : method === 'GET' ? 'calls.fetch' : 'unknown';
      return { operation, accountSid, sid };
    }
    const recordings = /^\/2010-04-01\/Accounts\/([^/]+)\/Recordings\/([^/.]+)(\.wav|\.mp3|\.json)?$/.exec(
      path,
    );
    if (recordings) {
      const [, accountSid, sid, format] = recordings as unknown as [
        string,
        string,
        string,
        string | undefined,
      ];
      if (method === 'DELETE') return { operation: 'recordings.delete', accountSid, sid };
      if (method !== 'GET') return { operation: 'unknown', accountSid, sid };
      const operation = format === '.json' ? 'recordings.fetch' : 'recordings.media';
      return format === undefined ? { operation, accountSid, sid } : { operation, accountSid, sid, format };
    }
    return { operation: 'unknown' };
  }

  private isAuthorized(request: IncomingMessage, operation: ApiOperation): boolean {
    if (operation === 'recordings.media' && this.options.mediaAuth === false) return true;
    const match = /^Basic (.+)$/.exec(request.headers.authorization ?? '');
    if (!match?.[1]) return false;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    return (
      sameSecret(decoded.slice(0, colon), this.options.accountSid) &&
      sameSecret(decoded.slice(colon + 1), this.options.authToken)
    );
  }

  private notFound(path: string): ApiError {
    return new ApiError(404, 20404, `The requested resource ${path} was not found`);
  }

  /** Answers an authorized request; returns the HTTP status sent. */
  private respond(
    route: { operation: ApiOperation; sid?: string; format?: string },
    params: FormParams,
    path: string,
    response: ServerResponse,
  ): number {
    switch (route.operation) {
      case 'calls.create': {
        const call = this.createCall(params);
        this.sendJson(response, 201, this.toResource(call));
        this.emit('call.created', call);
        return 201;
      }
      case 'calls.fetch': {
        const call = this.calls.get(route.sid ?? '');
        if (!call) throw this.notFound(path);
        this.sendJson(response, 200, this.toResource(call));
        return 200;
      }
      case 'calls.update': {
        const call = this.calls.get(route.sid ?? '');
        if (!call) throw this.notFound(path);
        this.updateCall(call, params);
        this.sendJson(response, 200, this.toResource(call));
        this.emit('call.updated', { call, params });
        return 200;
      }
      case 'recordings.media': {
        const recording = this.findRecording(route.sid ?? '', path);
        response.statusCode = 200;
        response.setHeader('Content-Type', recording.contentType);
        response.setHeader('Content-Length', recording.bytes.length);
        response.end(recording.bytes);
        return 200;
      }
      case 'recordings.fetch': {
        const sid = route.sid ?? '';
        const recording = this.findRecording(sid, path);
        this.sendJson(response, 200, this.recordingResource(sid, recording));
        return 200;
      }
      case 'recordings.delete': {
        const recording = this.recordings.get(route.sid ?? '');
        if (!recording || recording.deleted) throw this.notFound(path);
        recording.deleted = true;
        response.statusCode = 204;
        response.end();
        return 204;
      }
      case 'unknown':
        throw this.notFound(path);
    }
  }

  private findRecording(sid: string, path: string): StoredRecording {
    const recording = this.recordings.get(sid);
    if (recording?.deleted) throw this.notFound(path);
    if (recording) return recording;
    if (this.options.unknownRecordings === 'not-found' || !sid.startsWith('RE')) throw this.notFound(path);
    return { bytes: silentWav(0.1), contentType: 'audio/x-wav', deleted: false };
  }

  private createCall(params: FormParams): CallRecord {
    const to = formValue(params, 'To');
    const from = formValue(params, 'From');
    if (!to) throw new ApiError(400, 21201, "No 'To' number is specified");
    if (!from) throw new ApiError(400, 21213, "No 'From' number is specified");
    const hasInstructions = ['Url', 'Twiml', 'ApplicationSid'].some((name) => formValue(params, name));
    if (!hasInstructions) throw new ApiError(400, 21205, 'Url parameter is required.');
    const now = new Date();
    const call: CallRecord = {
      sid: newSid('CA'),
      from,
      to,
      direction: 'outbound-api',
      status: 'queued',
      dateCreated: now,
      dateUpdated: now,
      createParams: params,
    };
    this.calls.set(call.sid, call);
    return call;
  }

  /**
   * Twilio's rules: a call that has ended cannot be updated (21220); Status=canceled ends only a call that
   * is queued or ringing and is ignored once it is in progress; Status=completed ends any live call.
   */
  private updateCall(call: CallRecord, params: FormParams): void {
    if (isFinalStatus(call.status)) {
      throw new ApiError(400, 21220, 'Unable to update record: Call is not in-progress. Cannot redirect.');
    }
    const status = formValue(params, 'Status');
    if (status !== undefined && status !== 'completed' && status !== 'canceled') {
      throw new ApiError(400, 20001, `Invalid Status: ${status}`);
    }
    if (status === 'completed') this.setCallStatus(call.sid, 'completed', this.elapsedSeconds(call));
    if (status === 'canceled' && (call.status === 'queued' || call.status === 'ringing')) {
      this.setCallStatus(call.sid, 'canceled', 0);
    }
    call.dateUpdated = new Date();
  }

  private elapsedSeconds(call: CallRecord): number {
    return call.startTime ? Math.round((Date.now() - call.startTime.getTime()) / 1000) : 0;
  }

  private callPath(sid: string): string {
    return `/${apiVersion}/Accounts/${this.accountSid}/Calls/${sid}`;
  }

  /** Twilio's JSON for a call resource, every field its API returns. */
  toResource(call: CallRecord): Record<string, unknown> {
    const base = this.callPath(call.sid);
    const sub = (name: string) => `${base}/${name}.json`;
    return {
      account_sid: this.accountSid,
      answered_by: null,
      api_version: apiVersion,
      caller_name: null,
      date_created: rfc2822(call.dateCreated),
      date_updated: rfc2822(call.dateUpdated),
      direction: call.direction,
      duration: call.duration === undefined ? null : String(call.duration),
      end_time: call.endTime ? rfc2822(call.endTime) : null,
      forwarded_from: null,
      from: call.from,
      from_formatted: formatted(call.from),
      group_sid: null,
      parent_call_sid: call.parentCallSid ?? null,
      phone_number_sid: null,
      price: null,
      price_unit: 'USD',
      sid: call.sid,
      start_time: call.startTime ? rfc2822(call.startTime) : null,
      status: call.status,
      subresource_uris: {
        notifications: sub('Notifications'),
        recordings: sub('Recordings'),
        payments: sub('Payments'),
        events: sub('Events'),
        siprec: sub('Siprec'),
        streams: sub('Streams'),
        transcriptions: sub('Transcriptions'),
        user_defined_message_subscriptions: sub('UserDefinedMessageSubscriptions'),
        user_defined_messages: sub('UserDefinedMessages'),
      },
      to: call.to,
      to_formatted: formatted(call.to),
      trunk_sid: null,
      uri: `${base}.json`,
      queue_time: '0',
    };
  }

  private recordingResource(sid: string, recording: StoredRecording): Record<string, unknown> {
    const uri = `/${apiVersion}/Accounts/${this.accountSid}/Recordings/${sid}.json`;
    const now = rfc2822(new Date());
    return {
      account_sid: this.accountSid,
      api_version: apiVersion,
      call_sid: recording.callSid ?? null,
      conference_sid: null,
      date_created: now,
      date_updated: now,
      start_time: now,
      duration: String(recording.durationSeconds ?? 0),
      sid,
      price: null,
      price_unit: 'USD',
      status: 'completed',
      channels: 1,
      source: 'RecordVerb',
      error_code: null,
      uri,
      encryption_details: null,
      media_url: `https://api.twilio.com/${apiVersion}/Accounts/${this.accountSid}/Recordings/${sid}`,
      subresource_uris: {
        add_on_results: uri.replace('.json', '/AddOnResults.json'),
        transcriptions: uri.replace('.json', '/Transcriptions.json'),
      },
    };
  }

  private sendJson(response: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    response.statusCode = status;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(text));
    response.end(text);
  }
}

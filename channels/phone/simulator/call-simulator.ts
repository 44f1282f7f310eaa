import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import twilio from 'twilio';
import { checkTwiml, parseTwiml, textOf, type TwimlContext, type TwimlElement } from './twiml-rules.js';
import {
  formValue,
  formValues,
  isFinalStatus,
  newSid,
  rfc2822,
  silentWav,
  type CallDirection,
  type CallRecord,
  type CallStatus,
  type CallUpdate,
  type TwilioApiDouble,
} from './twilio-api-double.js';

/*
 * Plays Twilio's side of one voice call against a Switchboard server: sends the webhooks Twilio sends, signed
 * as Twilio signs them (X-Twilio-Signature over the public URL), and follows the TwiML that comes back verb by
 * verb. The test plays the caller (press, say, silence, record, hangup) and the far end of a <Dial>
 * (agentHangsUp); REST updates of the call made on the TwilioApiDouble interrupt whatever the call is doing,
 * as they do on Twilio.
 *
 * Webhooks sent, every one a form-encoded POST unless the TwiML asks for GET, with Twilio's standard
 * parameters (AccountSid, ApiVersion, CallSid, CallStatus, Direction, From, To, Caller, Called):
 *   incoming call                        paths.incoming            CallStatus=ringing
 *   <Gather action>                      Digits | SpeechResult, Confidence
 *   <Record action>                      RecordingUrl, RecordingSid, RecordingDuration, Digits
 *   <Record recordingStatusCallback>     RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration,
 *                                        RecordingChannels, RecordingSource, RecordingStartTime
 *   <Record transcribeCallback>          TranscriptionSid, TranscriptionText, TranscriptionStatus,
 *                                        TranscriptionUrl, RecordingSid, RecordingUrl
 *   <Enqueue waitUrl>                    QueuePosition, QueueSid, QueueTime, AvgQueueTime, CurrentQueueSize,
 *                                        MaxQueueSize
 *   <Enqueue action>                     QueueResult, QueueSid, QueueTime
 *   <Dial action>                        DialCallStatus, DialCallSid, DialCallDuration, DialBridged
 *   <Number|Client url> (whisper)        the child leg's parameters, Direction=outbound-dial, ParentCallSid
 *   <Number|Client statusCallback>       CallStatus per statusCallbackEvent, Timestamp, SequenceNumber...
 *   end of the call                      paths.status (inbound) or the create's StatusCallback (outbound):
 *                                        CallStatus, CallDuration, Timestamp, CallbackSource, SequenceNumber
 *
 * Time is the `clock`'s: durations and queue times are what the test advanced it by; <Pause> and media are
 * recorded in `heard`, never waited for. Real time only paces the queue loop (`waitLoopMs`).
 *
 * Simplifications, each chosen so that tests stay deterministic:
 *   - a <Gather> waits for the test however long it takes, except in a wait document, where it times out
 *     after waitLoopMs so the queue loop runs on its own;
 *   - a <Dial> rings its first noun only, which answers or not as `nextDialOutcome` says;
 *   - recording and transcription callbacks follow the <Record> action at once, before its TwiML runs;
 *   - <Start>/<Stop> are accepted and do nothing; <Connect>, <Pay>, <Refer> and <Echo> end the call with a
 *     problem saying they are not simulated.
 */

// ---------------------------------------------------------------------------------------------------------
// Clocks

/** Where simulated time comes from, in milliseconds since the epoch. */
export interface SimClock {
  now(): number;
}

export const realClock: SimClock = { now: () => Date.now() };

/** Time that moves only when the test says so. */
export class ManualClock implements SimClock {
  private current: number;

  constructor(start: Date | number = Date.UTC(2026, 0, 5, 15, 0, 0)) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  advance(seconds: number): void {
    this.current += seconds * 1000;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shared queues

export interface QueueMember {
  callSid: string;
  /** Milliseconds on the member's clock when it joined. */
  enqueuedAt: number;
  sim: CallSimulator;
}

export interface DequeueRequest {
  /** The simulator whose <Dial><Queue> picked the member up; absent for sim.dequeue(). */
  by?: CallSimulator;
  /** The <Queue url> document to play to the member before the bridge. */
  url?: string;
  method?: HttpMethod;
}

/**
 * Twilio's call queues as the simulated calls see them: who waits in which queue, in order. Each simulator
 * has its own unless given a shared one, with which positions and sizes count every simulated caller and a
 * simulated agent's <Dial><Queue> picks up the caller at the front.
 */
export class SimulatedQueues {
  private readonly queues = new Map<string, QueueMember[]>();
  private readonly joinListeners = new Set<(queue: string) => void>();

  /** A stable QueueSid per queue name, the same in every simulator. */
  static sidOf(queue: string): string {
    return 'QU' + createHash('sha256').update(queue).digest('hex').slice(0, 32);
  }

  join(queue: string, member: QueueMember): void {
    const members = this.queues.get(queue) ?? [];
    members.push(member);
    this.queues.set(queue, members);
    for (const listener of this.joinListeners) listener(queue);
  }

  leave(queue: string, member: QueueMember): void {
    const members = this.queues.get(queue);
    const index = members?.indexOf(member) ?? -1;
    if (index >= 0) members?.splice(index, 1);
  }

  /** 1 for the caller at the front; 0 when the member is not in the queue. */
  position(queue: string, member: QueueMember): number {
    return (this.queues.get(queue)?.indexOf(member) ?? -1) + 1;
  }

  size(queue: string): number {
    return this.queues.get(queue)?.length ?? 0;
  }

  front(queue: string): QueueMember | undefined {
    return this.queues.get(queue)?.[0];
  }

  /** The average time, in whole seconds, that the callers now in the queue have waited. */
  averageWaitSeconds(queue: string, now: number): number {
    const members = this.queues.get(queue) ?? [];
    if (members.length === 0) return 0;
    const total = members.reduce((sum, member) => sum + Math.max(0, now - member.enqueuedAt), 0);
    return Math.floor(total / members.length / 1000);
  }

  /** Calls `listener` with the queue's name whenever a caller joins one; returns the unsubscribe function. */
  onJoin(listener: (queue: string) => void): () => void {
    this.joinListeners.add(listener);
    return () => this.joinListeners.delete(listener);
  }
}

// ---------------------------------------------------------------------------------------------------------
// What a test sees

export type HttpMethod = 'GET' | 'POST';
export type Params = Record<string, string>;
export type CallState = 'ringing' | 'ivr' | 'queued' | 'bridged' | 'ended';
export type Leg = 'caller' | 'agent';

/** What a leg heard, in order. `at` is in seconds since the call started, on the simulator's clock. */
export type Heard =
  | { verb: 'Say'; leg: Leg; text: string; voice?: string; language?: string; loop: number; at: number }
  | { verb: 'Play'; leg: Leg; url?: string; digits?: string; loop: number; at: number }
  | { verb: 'Pause'; leg: Leg; seconds: number; at: number };

export type RequestPurpose =
  | 'incoming'
  | 'outbound-answer'
  | 'gather-action'
  | 'record-action'
  | 'redirect'
  | 'rest-redirect'
  | 'wait'
  | 'enqueue-action'
  | 'dial-action'
  | 'dial-whisper'
  | 'queue-whisper'
  | 'recording-status'
  | 'transcription'
  | 'leg-status'
  | 'call-status';

/** One HTTP request the simulator sent, with the answer. */
export interface SentRequest {
  purpose: RequestPurpose;
  method: HttpMethod;
  /** The public URL, as signed. */
  url: string;
  /** Where it was sent: the public URL moved onto serverUrl. */
  sentTo: string;
  params: Params;
  status: number;
  contentType: string;
  body: string;
}

/** A TwiML document the call ran, with where it came from and what checkTwiml found. */
export interface ReceivedDocument {
  purpose: RequestPurpose | 'rest-twiml' | 'create-twiml';
  url: string;
  leg: Leg;
  context: TwimlContext;
  xml: string;
  problems: string[];
}

/** A webhook that did not get a 2xx, or could not be sent. `status` 0 when no answer came. */
export interface FailedRequest {
  purpose: RequestPurpose;
  url: string;
  status: number;
  body: string;
}

export type Rest =
  /** A <Gather> waits for the caller: press, say, silence. */
  | 'gather'
  /** A <Record> waits for the caller: record, silence. */
  | 'record'
  /** A whisper's <Gather> waits for the agent: agentPress, agentSilence. */
  | 'agent-gather'
  /** In a queue, between two runs of the wait document. */
  | 'queue'
  /** Connected to the far end of a <Dial> or to the agent who dequeued the call. */
  | 'bridge'
  /** A <Dial><Queue> waits for someone to join the queue. */
  | 'dial-queue'
  | 'ended';

export interface RecordingInput {
  seconds: number;
  /** Sent as TranscriptionText when the <Record> asks for a transcription; without it the transcription fails. */
  transcript?: string;
  /** What ended the recording: a key (its Digits), 'hangup' (the caller hangs up), or silence (default). */
  endedBy?: string;
  /** The audio the API double serves at RecordingUrl; default: silence of `seconds`. */
  audio?: { bytes: Buffer | Uint8Array; contentType: string };
}

export type DialOutcome = 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled';

export interface CallSimulatorOptions {
  /** Where requests go, e.g. http://127.0.0.1:3000. */
  serverUrl: string;
  /** Switchboard's PUBLIC_BASE_URL: signatures are over public URLs; URLs under it are fetched from serverUrl. */
  publicBaseUrl: string;
  accountSid: string;
  authToken: string;
  /** The REST double: the simulator registers its call there and follows updates made to it. */
  api?: TwilioApiDouble;
  paths?: { incoming?: string; status?: string };
  /** The caller's number; default +14155550100. */
  from?: string;
  /** The number called; default +18005550100. */
  to?: string;
  clock?: SimClock;
  /** The least real time between two runs of a wait document; default 200 ms. */
  waitLoopMs?: number;
  /** Shared with other simulators for queue positions across calls and <Dial><Queue>. */
  queues?: SimulatedQueues;
  /** Added to every webhook, e.g. { FromCountry: 'US' }. */
  extraParams?: Params;
  /** How long press(), say()... wait for the call to be ready for them; default 5000 ms. */
  stepTimeoutMs?: number;
}

export interface AnswerOutboundOptions extends Omit<CallSimulatorOptions, 'from' | 'to' | 'paths'> {
  /** What the callee does; default 'answered'. Otherwise only the status callbacks are sent. */
  outcome?: 'answered' | 'busy' | 'no-answer' | 'failed';
}

export interface CallSimulatorEvents {
  request: [request: SentRequest];
  heard: [heard: Heard];
  state: [state: CallState];
  rest: [rest: Rest];
  problem: [problem: string];
  failure: [failure: FailedRequest];
}

// ---------------------------------------------------------------------------------------------------------
// Internals

type Input =
  | { type: 'digits'; digits: string }
  | { type: 'speech'; text: string; confidence: number }
  | { type: 'silence' }
  | { type: 'recording'; recording: RecordingInput };

/** Interrupts whatever the call is doing. */
type Signal =
  | { type: 'hangup' }
  | { type: 'remote-end'; status: CallStatus }
  | { type: 'rest-redirect'; twiml?: string; url?: string; method: HttpMethod };

type SimEvent =
  | Signal
  | { type: 'input'; leg: Leg; input: Input }
  | { type: 'far-end-hangup' }
  | { type: 'dequeued'; request: DequeueRequest }
  | { type: 'queue-joined'; queue: string };

const timedOut = Symbol('timed out');

function isSignal(event: SimEvent): event is Signal {
  return event.type === 'hangup' || event.type === 'remote-end' || event.type === 'rest-redirect';
}

interface LoadedDocument {
  /** The public URL it came from (relative URLs in it resolve against this), or undefined when inline. */
  url?: string;
  response: TwimlElement;
}

type DocumentRequest =
  | { kind: 'fetch'; purpose: RequestPurpose; url: string; method: HttpMethod; params: Params }
  | { kind: 'inline'; purpose: 'rest-twiml' | 'create-twiml'; twiml: string }
  /** Already fetched by the verb that asked for it (it had more to do before running it). */
  | { kind: 'loaded'; document: LoadedDocument | undefined };

/** What running a verb, or a document, leads to. */
type Outcome =
  | { kind: 'next' }
  | { kind: 'goto'; request: DocumentRequest }
  | { kind: 'end'; status?: CallStatus }
  | { kind: 'leave' }
  | { kind: 'signal'; signal: Signal };

interface StoredRecording {
  sid: string;
  /** https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid} */
  url: string;
  /** Milliseconds on the simulator's clock. */
  startedAt: number;
}

/** Requests the <Dial> action (if any) with the outcome's parameters; `callerGone` when the caller hung up. */
type AfterDial = (extra: Params, callerGone: boolean) => Promise<Outcome>;

interface RunContext {
  context: TwimlContext;
  leg: Leg;
  /** The document's public URL, for relative URLs and default actions. */
  url?: string;
  /** The child leg's parameters when leg is 'agent'. */
  legParams?: Params;
}

const defaultHoldMusic = 'https://s3.amazonaws.com/com.twilio.sounds.music/index.xml';
const webhookTimeoutMs = 15_000;

function attribute(element: TwimlElement, name: string): string | undefined {
  return element.attributes[name];
}

function methodOf(value: string | undefined): HttpMethod {
  return value === 'GET' ? 'GET' : 'POST';
}

function loopOf(element: TwimlElement): number {
  const loop = Number(attribute(element, 'loop') ?? '1');
  return Number.isInteger(loop) && loop >= 0 ? loop : 1;
}

function childElements(element: TwimlElement): TwimlElement[] {
  return element.children.filter((child): child is TwimlElement => child.kind === 'element');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class CallSimulator extends EventEmitter<CallSimulatorEvents> {
  /** Set by the constructor; outbound calls take the SID Twilio's create returned. */
  callSid: string;
  state: CallState = 'ringing';
  /** What the caller (and the agent leg, during whispers) heard. */
  readonly heard: Heard[] = [];
  /** Every TwiML document the call ran. */
  readonly documents: ReceivedDocument[] = [];
  /** Every request the simulator sent, webhooks and callbacks alike. */
  readonly requests: SentRequest[] = [];
  /** What Twilio would have refused in the TwiML it got, and what the simulator cannot play; tests expect none. */
  readonly problems: string[] = [];
  /** Requests that did not get a 2xx answer; tests expect none. */
  readonly errors: FailedRequest[] = [];
  /** How the next <Dial> to a number or client goes; reset to 'completed' (answered) after each Dial. */
  nextDialOutcome: DialOutcome = 'completed';
  /** The call's final status once ended. */
  finalStatus?: CallStatus;
  /** What the call is waiting for, when it is waiting. */
  resting: Rest | null = null;

  readonly from: string;
  readonly to: string;
  readonly direction: CallDirection;

  private readonly options: CallSimulatorOptions;
  private readonly clock: SimClock;
  private readonly publicBaseUrl: string;
  private readonly serverUrl: string;
  private readonly queues: SimulatedQueues;
  private readonly inbox: SimEvent[] = [];
  private readonly watchers = new Set<() => void>();
  private wake?: () => void;
  private restCount = 0;
  private startedAt: number;
  private answeredAt?: number;
  private sequenceNumber = 0;
  private statusCallback?: { url: string; method: HttpMethod; events: string[] };
  private partner?: CallSimulator;
  /** Whether the <Dial> now bridged ends when the caller presses `*`. */
  private hangupOnStar = false;
  /** Whether the <Gather> now waiting takes speech. */
  private gatherTakesSpeech = false;
  private fatal?: Error;
  private finishing = false;
  private running?: Promise<void>;
  private readonly onUpdate = (update: CallUpdate) => this.receiveUpdate(update);

  /** `init` is for calls that already have a SID and direction: answerOutbound() passes the created call's. */
  constructor(options: CallSimulatorOptions, init: { callSid?: string; direction?: CallDirection } = {}) {
    super();
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, '');
    this.serverUrl = options.serverUrl.replace(/\/+$/, '');
    this.queues = options.queues ?? new SimulatedQueues();
    this.callSid = init.callSid ?? newSid('CA');
    this.direction = init.direction ?? 'inbound';
    this.from = options.from ?? '+14155550100';
    this.to = options.to ?? '+18005550100';
    this.startedAt = this.clock.now();
  }

  // -------------------------------------------------------------------------------------------------------
  // Starting a call

  /** Places the inbound call: the incoming webhook, then its TwiML, until the call waits for something. */
  async start(): Promise<this> {
    if (this.running) throw new Error('the call has already started');
    this.options.api?.addCall({
      sid: this.callSid,
      from: this.from,
      to: this.to,
      direction: 'inbound',
      status: 'ringing',
    });
    this.options.api?.on('call.updated', this.onUpdate);
    const path = this.options.paths?.incoming ?? '/webhooks/twilio/voice/incoming';
    const status = this.options.paths?.status ?? '/webhooks/twilio/voice/status';
    this.statusCallback = { url: this.publicBaseUrl + status, method: 'POST', events: ['completed'] };
    const first: DocumentRequest = {
      kind: 'fetch',
      purpose: 'incoming',
      url: this.publicBaseUrl + path,
      method: 'POST',
      params: this.params(),
    };
    this.running = this.drive(first);
    await this.settled();
    return this;
  }

  /**
   * Plays the callee of a call Switchboard placed through the REST API (a 'call.created' on the double):
   * status callbacks to the create's StatusCallback for the StatusCallbackEvent it listed (completed by
   * default), then its Url (with Direction=outbound-api, CallStatus=in-progress) or Twiml.
   */
  static async answerOutbound(
    api: TwilioApiDouble,
    created: CallRecord,
    options: AnswerOutboundOptions,
  ): Promise<CallSimulator> {
    const sim = new CallSimulator(
      { ...options, api, from: created.from, to: created.to },
      { callSid: created.sid, direction: 'outbound-api' },
    );
    await sim.answer(created, options.outcome ?? 'answered');
    return sim;
  }

  private async answer(created: CallRecord, outcome: NonNullable<AnswerOutboundOptions['outcome']>) {
    const api = this.options.api;
    const params = created.createParams ?? {};
    const callback = formValue(params, 'StatusCallback');
    if (callback) {
      const events = formValues(params, 'StatusCallbackEvent');
      this.statusCallback = {
        url: callback,
        method: methodOf(formValue(params, 'StatusCallbackMethod')),
        events: events.length > 0 ? events : ['completed'],
      };
    }
    if (created.status === 'canceled') {
      this.running = this.finish('canceled');
      await this.running;
      return;
    }
    api?.on('call.updated', this.onUpdate);
    await this.sendCallProgress('initiated', 'initiated');
    if (outcome !== 'failed') {
      api?.setCallStatus(this.callSid, 'ringing');
      await this.sendCallProgress('ringing', 'ringing');
    }
    if (outcome !== 'answered') {
      this.running = this.finish(outcome);
      await this.running;
      return;
    }
    this.markAnswered();
    await this.sendCallProgress('answered', 'in-progress');
    const twiml = formValue(params, 'Twiml');
    const url = formValue(params, 'Url');
    let first: DocumentRequest;
    if (twiml !== undefined) {
      first = { kind: 'inline', purpose: 'create-twiml', twiml };
    } else if (url !== undefined) {
      const method = methodOf(formValue(params, 'Method'));
      first = { kind: 'fetch', purpose: 'outbound-answer', url, method, params: this.params() };
    } else {
      this.problem('the call was created with neither Url nor Twiml (ApplicationSid is not simulated)');
      this.running = this.finish('failed');
      await this.running;
      return;
    }
    this.running = this.drive(first);
    await this.settled();
  }

  // -------------------------------------------------------------------------------------------------------
  // The test's side of the call

  /** Keys pressed at a <Gather> (or `*` to leave a <Dial hangupOnStar>); resolves when the call waits again. */
  async press(digits: string): Promise<void> {
    await this.until(
      () => this.resting === 'gather' || (this.resting === 'bridge' && this.hangupOnStar && digits === '*'),
      `a <Gather> to press ${digits} at`,
    );
    await this.deliver({ type: 'input', leg: 'caller', input: { type: 'digits', digits } });
  }

  /** Speech at a <Gather input="speech"> (or "dtmf speech"). */
  async say(text: string, confidence = 0.92): Promise<void> {
    await this.until(() => this.resting === 'gather', `a <Gather> to say "${text}" at`);
    if (!this.gatherTakesSpeech)
      throw new Error(`the <Gather> does not take speech: say "${text}" cannot be heard`);
    await this.deliver({ type: 'input', leg: 'caller', input: { type: 'speech', text, confidence } });
  }

  /** Nothing, until the <Gather> or <Record> times out. */
  async silence(): Promise<void> {
    await this.until(() => this.resting === 'gather' || this.resting === 'record', 'a <Gather> or <Record>');
    await this.deliver({ type: 'input', leg: 'caller', input: { type: 'silence' } });
  }

  /** A message left at a <Record>: its action, recordingStatusCallback and transcribeCallback follow. */
  async record(recording: RecordingInput): Promise<void> {
    await this.until(() => this.resting === 'record', 'a <Record>');
    await this.deliver({ type: 'input', leg: 'caller', input: { type: 'recording', recording } });
  }

  /** The caller hangs up; resolves once the call has ended and its last callbacks were sent. */
  async hangup(): Promise<void> {
    if (this.state === 'ended') return;
    this.push({ type: 'hangup' });
    await this.until(() => this.resting === 'ended', 'the call to end', true);
  }

  /** The far end of the <Dial> (or the agent who dequeued the call) hangs up. */
  async agentHangsUp(): Promise<void> {
    await this.until(() => this.resting === 'bridge', 'a bridged call for the agent to hang up');
    await this.deliver({ type: 'far-end-hangup' });
  }

  /** Keys the agent presses at a whisper's <Gather>. */
  async agentPress(digits: string): Promise<void> {
    await this.until(() => this.resting === 'agent-gather', `a whisper <Gather> to press ${digits} at`);
    await this.deliver({ type: 'input', leg: 'agent', input: { type: 'digits', digits } });
  }

  async agentSilence(): Promise<void> {
    await this.until(() => this.resting === 'agent-gather', 'a whisper <Gather>');
    await this.deliver({ type: 'input', leg: 'agent', input: { type: 'silence' } });
  }

  /** Someone outside the simulation dequeues the caller (a <Dial><Queue> on an agent's call). */
  async dequeue(): Promise<void> {
    await this.until(() => this.resting === 'queue', 'a queued call to dequeue');
    await this.deliver({ type: 'dequeued', request: {} });
  }

  /** Resolves once `predicate` holds; rejects after `timeoutMs` or when the simulator fails. */
  waitFor(predicate: (sim: this) => boolean, timeoutMs = this.options.stepTimeoutMs ?? 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate(this)) {
          done();
          resolve();
        } else if (this.fatal) {
          done();
          reject(this.fatal);
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`condition not met within ${timeoutMs} ms (state ${this.state}, ${this.describe()})`),
        );
      }, timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  /** Resolves when the call waits for something or has ended. */
  settled(timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.resting !== null, timeoutMs);
  }

  /** What the caller heard said, in order: the text of every <Say>. */
  get said(): string[] {
    return this.heard.flatMap((h) => (h.verb === 'Say' && h.leg === 'caller' ? [h.text] : []));
  }

  /** The requests sent for one purpose, e.g. every 'wait' request of the queue loop. */
  requestsFor(purpose: RequestPurpose): SentRequest[] {
    return this.requests.filter((request) => request.purpose === purpose);
  }

  private describe(): string {
    const last = this.requests.at(-1);
    const lastRequest = last ? `last request ${last.method} ${last.url} → ${last.status}` : 'no request yet';
    return `${this.resting ? `waiting at ${this.resting}` : 'busy'}, ${lastRequest}`;
  }

  /** Waits for the call to be ready for a step; throws if it ended or failed first. */
  private async until(ready: () => boolean, what: string, endedIsReady = false): Promise<void> {
    await this.waitFor(() => ready() || this.state === 'ended').catch((error: unknown) => {
      throw new Error(`waited for ${what}: ${errorMessage(error)}`);
    });
    if (!ready() && !endedIsReady) {
      const errors = this.errors.map((e) => `${e.status} from ${e.url}: ${e.body.slice(0, 200)}`);
      throw new Error(
        `the call ended (${this.finalStatus}) before ${what}${errors.length ? `; ${errors.join('; ')}` : ''}`,
      );
    }
  }

  /** Hands an event to the waiting call and resolves when the call waits again (or ends). */
  private async deliver(event: SimEvent): Promise<void> {
    const restsBefore = this.restCount;
    this.push(event);
    await this.waitFor(() => this.restCount > restsBefore && this.resting !== null);
    if (this.fatal) throw this.fatal;
  }

  private push(event: SimEvent): void {
    this.inbox.push(event);
    this.wake?.();
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  private setState(state: CallState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
    this.notify();
  }

  private setRest(rest: Rest | null): void {
    if (rest !== null && this.resting === null) {
      this.restCount += 1;
      this.resting = rest;
      this.emit('rest', rest);
    } else {
      this.resting = rest;
    }
    this.notify();
  }

  /**
   * Waits for an event `pick` accepts, or a signal, or `timeoutMs`. Events nobody picks stay in the inbox
   * for a later wait (keys pressed while a document is still loading reach the next <Gather>).
   */
  private async block<T>(
    rest: Rest,
    pick: (event: SimEvent) => T | undefined,
    timeoutMs?: number,
  ): Promise<T | Signal | typeof timedOut> {
    for (;;) {
      for (let index = 0; index < this.inbox.length; index += 1) {
        const event = this.inbox[index] as SimEvent;
        const picked = isSignal(event) ? event : pick(event);
        if (picked === undefined) continue;
        this.inbox.splice(index, 1);
        this.setRest(null);
        return picked;
      }
      this.setRest(rest);
      const woken = await new Promise<boolean>((resolve) => {
        const timer = timeoutMs === undefined ? undefined : setTimeout(() => resolve(false), timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = undefined;
      if (!woken) {
        this.setRest(null);
        return timedOut;
      }
    }
  }

  /** A pending signal, taken from the inbox: checked between verbs and after every request. */
  private takeSignal(): Signal | undefined {
    const index = this.inbox.findIndex(isSignal);
    if (index < 0) return undefined;
    return this.inbox.splice(index, 1)[0] as Signal;
  }

  private receiveUpdate({ call, params }: CallUpdate): void {
    if (call.sid !== this.callSid || this.state === 'ended') return;
    const status = formValue(params, 'Status');
    if (status !== undefined && isFinalStatus(call.status)) {
      this.push({ type: 'remote-end', status: call.status });
      return;
    }
    const twiml = formValue(params, 'Twiml');
    const url = formValue(params, 'Url');
    if (twiml !== undefined || url !== undefined) {
      const method = methodOf(formValue(params, 'Method'));
      this.push({ type: 'rest-redirect', method, ...(twiml !== undefined ? { twiml } : { url }) });
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Running the call

  private async drive(first: DocumentRequest): Promise<void> {
    let status: CallStatus = 'completed';
    try {
      let request: DocumentRequest | undefined = first;
      while (request) {
        const document = await this.load(request, { context: 'call', leg: 'caller' });
        if (!document) break;
        const outcome = await this.runDocument(document, {
          context: 'call',
          leg: 'caller',
          url: document.url,
        });
        request = undefined;
        switch (outcome.kind) {
          case 'goto':
            request = outcome.request;
            break;
          case 'end':
            status = outcome.status ?? 'completed';
            break;
          case 'signal': {
            const handled = this.plainSignal(outcome.signal);
            if (handled.kind === 'goto') request = handled.request;
            if (handled.kind === 'end') status = handled.status ?? 'completed';
            break;
          }
          case 'next':
          case 'leave':
            // The document ran out: Twilio hangs up.
            break;
        }
      }
    } catch (error) {
      this.fatal = error instanceof Error ? error : new Error(String(error));
      this.problem(`simulator failure: ${this.fatal.message}`);
    }
    await this.finish(status);
  }

  /** A signal nothing more specific handled: hang up, or run the REST update's TwiML. */
  private plainSignal(signal: Signal): Outcome {
    switch (signal.type) {
      case 'hangup':
        return { kind: 'end' };
      case 'remote-end':
        return { kind: 'end', status: signal.status };
      case 'rest-redirect':
        return { kind: 'goto', request: this.restRequest(signal) };
    }
  }

  private restRequest(signal: Extract<Signal, { type: 'rest-redirect' }>): DocumentRequest {
    if (signal.twiml !== undefined) return { kind: 'inline', purpose: 'rest-twiml', twiml: signal.twiml };
    return {
      kind: 'fetch',
      purpose: 'rest-redirect',
      url: signal.url ?? '',
      method: signal.method,
      params: this.params(),
    };
  }

  /** Ends the call: its status on the double, then the status callback; `state` is 'ended' after both. */
  private async finish(status: CallStatus): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.options.api?.off('call.updated', this.onUpdate);
    this.unbridge();
    this.finalStatus = status;
    const duration = this.callDuration();
    this.options.api?.setCallStatus(this.callSid, this.finalStatus, duration);
    if (this.statusCallback?.events.includes('completed')) {
      await this.sendCallProgress('completed', this.finalStatus, { CallDuration: String(duration) });
    }
    this.setState('ended');
    this.setRest('ended');
  }

  /** Ends the bridge with the other simulated call, if any, telling it its far end hung up. */
  private unbridge(): void {
    const partner = this.partner;
    this.partner = undefined;
    if (partner?.partner !== this) return;
    partner.partner = undefined;
    partner.push({ type: 'far-end-hangup' });
  }

  private callDuration(): number {
    return this.answeredAt === undefined ? 0 : Math.round((this.clock.now() - this.answeredAt) / 1000);
  }

  private markAnswered(): void {
    if (this.answeredAt !== undefined) return;
    this.answeredAt = this.clock.now();
    this.options.api?.setCallStatus(this.callSid, 'in-progress');
  }

  private get callStatus(): CallStatus {
    if (this.finalStatus) return this.finalStatus;
    return this.answeredAt === undefined ? 'ringing' : 'in-progress';
  }

  /** Twilio's standard request parameters for this call. */
  private params(extra: Params = {}): Params {
    return {
      AccountSid: this.options.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: this.callSid,
      CallStatus: this.callStatus,
      Direction: this.direction,
      From: this.from,
      To: this.to,
      Caller: this.from,
      Called: this.to,
      ...this.options.extraParams,
      ...extra,
    };
  }

  private paramsFor(run: RunContext, extra: Params = {}): Params {
    return run.legParams ? { ...run.legParams, ...extra } : this.params(extra);
  }

  private async sendCallProgress(
    event: string,
    status: CallStatus | 'initiated',
    extra: Params = {},
  ): Promise<void> {
    const callback = this.statusCallback;
    if (!callback?.events.includes(event)) return;
    const params = this.params({
      CallStatus: status,
      ...extra,
      Timestamp: rfc2822(new Date(this.clock.now())),
      CallbackSource: 'call-progress-events',
      SequenceNumber: String(this.sequenceNumber++),
    });
    await this.send('call-status', callback.url, callback.method, params);
  }

  // -------------------------------------------------------------------------------------------------------
  // HTTP

  /** The public URL a TwiML URL means, resolved against the document it appears in. */
  private resolveUrl(url: string, base: string | undefined): string | undefined {
    try {
      return new URL(url, base).toString();
    } catch {
      return undefined;
    }
  }

  private async send(
    purpose: RequestPurpose,
    url: string,
    method: HttpMethod,
    params: Params,
  ): Promise<SentRequest> {
    const query = new URLSearchParams(params).toString();
    const signedUrl = method === 'GET' && query ? `${url}${url.includes('?') ? '&' : '?'}${query}` : url;
    const signature = twilio.getExpectedTwilioSignature(
      this.options.authToken,
      signedUrl,
      method === 'GET' ? {} : params,
    );
    const sentTo = signedUrl.startsWith(this.publicBaseUrl)
      ? this.serverUrl + signedUrl.slice(this.publicBaseUrl.length)
      : undefined;
    const request: SentRequest = {
      purpose,
      method,
      url,
      sentTo: sentTo ?? signedUrl,
      params,
      status: 0,
      contentType: '',
      body: '',
    };
    if (sentTo === undefined) {
      request.body = `not sent: ${url} is outside the public base URL ${this.publicBaseUrl}`;
    } else {
      try {
        const response = await fetch(sentTo, {
          method,
          headers: {
            'X-Twilio-Signature': signature,
            'User-Agent': 'TwilioProxy/1.1',
            Accept: '*/*',
            'Cache-Control': 'max-age=259200',
            'I-Twilio-Idempotency-Token': randomBytes(16).toString('hex'),
            ...(method === 'POST'
              ? { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' }
              : {}),
          },
          ...(method === 'POST' ? { body: query } : {}),
          signal: AbortSignal.timeout(webhookTimeoutMs),
        });
        request.status = response.status;
        request.contentType = response.headers.get('content-type') ?? '';
        request.body = await response.text();
      } catch (error) {
        request.body = errorMessage(error);
      }
    }
    this.requests.push(request);
    this.emit('request', request);
    if (request.status < 200 || request.status > 299) {
      const failure: FailedRequest = { purpose, url, status: request.status, body: request.body };
      this.errors.push(failure);
      this.emit('failure', failure);
    }
    this.notify();
    return request;
  }

  /**
   * Fetches (or takes inline) a TwiML document and checks it. Undefined when there is nothing to run: the
   * request failed or the document is not TwiML, which on Twilio ends the call with an application error.
   */
  private async load(request: DocumentRequest, run: RunContext): Promise<LoadedDocument | undefined> {
    if (request.kind === 'loaded') return request.document;
    let xml: string;
    let url: string | undefined;
    let label: string;
    if (request.kind === 'inline') {
      xml = request.twiml;
      label = request.purpose;
    } else {
      const sent = await this.send(request.purpose, request.url, request.method, request.params);
      url = request.url;
      label = `${request.purpose} ${request.method} ${request.url}`;
      if (sent.status < 200 || sent.status > 299) return undefined;
      if (/^audio\//i.test(sent.contentType)) {
        // Twilio plays an audio answer as if it were <Play>: a waitUrl may point at an MP3.
        xml = `<Response><Play>${request.url.replace(/&/g, '&amp;')}</Play></Response>`;
      } else {
        xml = sent.body;
        if (!/^(text|application)\/xml\b/i.test(sent.contentType)) {
          this.problem(`${label}: Content-Type "${sent.contentType}" is not text/xml or application/xml`);
        }
      }
    }
    const problems = checkTwiml(xml, { context: run.context }).map((problem) => `${label}: ${problem}`);
    for (const problem of problems) this.problem(problem);
    this.documents.push({
      purpose: request.purpose,
      url: url ?? `(${request.purpose})`,
      leg: run.leg,
      context: run.context,
      xml,
      problems,
    });
    this.notify();
    const { response } = parseTwiml(xml);
    if (!response) return undefined;
    return url === undefined ? { response } : { url, response };
  }

  private problem(problem: string): void {
    this.problems.push(problem);
    this.emit('problem', problem);
    this.notify();
  }

  // -------------------------------------------------------------------------------------------------------
  // Verbs

  private async runDocument(document: LoadedDocument, run: RunContext): Promise<Outcome> {
    for (const verb of childElements(document.response)) {
      const signal = run.leg === 'caller' ? this.takeSignal() : undefined;
      if (signal) return { kind: 'signal', signal };
      // Being dequeued cuts the hold music short.
      if (run.context === 'wait' && this.inbox.some((event) => event.type === 'dequeued'))
        return { kind: 'next' };
      if (run.context === 'call' && run.leg === 'caller' && this.state === 'ringing') {
        if (verb.name !== 'Reject') this.markAnswered();
        this.setState('ivr');
      }
      const outcome = await this.runVerb(verb, run);
      if (outcome.kind !== 'next') return outcome;
    }
    return { kind: 'next' };
  }

  private async runVerb(verb: TwimlElement, run: RunContext): Promise<Outcome> {
    switch (verb.name) {
      case 'Say':
      case 'Play':
      case 'Pause':
        this.hear(verb, run.leg);
        return { kind: 'next' };
      case 'Gather':
        return this.gather(verb, run);
      case 'Record':
        return this.recordVerb(verb, run);
      case 'Redirect': {
        const url = this.actionUrl(textOf(verb), run, 'Redirect');
        if (!url) return { kind: 'end' };
        const method = methodOf(attribute(verb, 'method'));
        return {
          kind: 'goto',
          request: { kind: 'fetch', purpose: 'redirect', url, method, params: this.paramsFor(run) },
        };
      }
      case 'Hangup':
        return { kind: 'end' };
      case 'Reject':
        // <Reject> page: the call ends busy or no-answer, depending on the reason; answered calls just end.
        return {
          kind: 'end',
          status:
            this.answeredAt !== undefined
              ? 'completed'
              : attribute(verb, 'reason') === 'busy'
                ? 'busy'
                : 'no-answer',
        };
      case 'Leave':
        return run.context === 'wait' ? { kind: 'leave' } : { kind: 'next' };
      case 'Enqueue':
        return this.enqueue(verb, run);
      case 'Dial':
        return this.dial(verb, run);
      case 'Start':
      case 'Stop':
        // Media streams and background recordings run beside the call; nothing a caller hears.
        return { kind: 'next' };
      default:
        this.problem(`<${verb.name}> is not simulated; the call ends there`);
        return { kind: 'end' };
    }
  }

  private hear(verb: TwimlElement, leg: Leg): void {
    const at = Math.round((this.clock.now() - this.startedAt) / 1000);
    let heard: Heard;
    if (verb.name === 'Say') {
      heard = { verb: 'Say', leg, text: textOf(verb), loop: loopOf(verb), at };
      const voice = attribute(verb, 'voice');
      const language = attribute(verb, 'language');
      if (voice !== undefined) heard.voice = voice;
      if (language !== undefined) heard.language = language;
    } else if (verb.name === 'Play') {
      heard = { verb: 'Play', leg, loop: loopOf(verb), at };
      const url = textOf(verb);
      const digits = attribute(verb, 'digits');
      if (url !== '') heard.url = url;
      if (digits !== undefined) heard.digits = digits;
    } else {
      heard = { verb: 'Pause', leg, seconds: Number(attribute(verb, 'length') ?? '1'), at };
    }
    this.heard.push(heard);
    this.emit('heard', heard);
    this.notify();
  }

  /**
   * The public URL of an action, Redirect or callback attribute. Twilio needs absolute URLs in TwiML that
   * came inline (a REST update's Twiml), as there is no document URL to resolve against.
   */
  private actionUrl(value: string | undefined, run: RunContext, what: string): string | undefined {
    const target = value === undefined || value === '' ? run.url : value;
    if (target === undefined) {
      this.problem(
        `${what} has no URL and the TwiML came inline, so there is no document URL to fall back on`,
      );
      return undefined;
    }
    const resolved = this.resolveUrl(target, run.url);
    if (!resolved)
      this.problem(
        `${what} URL "${target}" cannot be resolved${run.url ? '' : ' (inline TwiML needs absolute URLs)'}`,
      );
    return resolved;
  }

  private async gather(verb: TwimlElement, run: RunContext): Promise<Outcome> {
    for (const nested of childElements(verb)) this.hear(nested, run.leg);
    const inputs = (attribute(verb, 'input') ?? 'dtmf').split(/\s+/);
    const finishOnKey = attribute(verb, 'finishOnKey') ?? '#';
    this.gatherTakesSpeech = inputs.includes('speech');
    const rest: Rest = run.leg === 'agent' ? 'agent-gather' : 'gather';
    // In a wait document nobody is expected to answer: the Gather times out after waitLoopMs of real time
    // (as if the caller let it run out), so the queue loop keeps going on its own. Being dequeued ends it.
    const inQueue = run.context === 'wait';
    const got = await this.block(
      rest,
      (event) => {
        if (inQueue && event.type === 'dequeued') return event;
        return event.type === 'input' && event.leg === run.leg && event.input.type !== 'recording'
          ? event.input
          : undefined;
      },
      inQueue ? (this.options.waitLoopMs ?? 200) : undefined,
    );
    if (isSignalLike(got)) return { kind: 'signal', signal: got };
    if (got !== timedOut && got.type === 'dequeued') {
      this.inbox.unshift(got); // for the queue loop, which ends the wait document and bridges
      return { kind: 'next' };
    }
    const input = got === timedOut ? { type: 'silence' as const } : got;
    let extra: Params;
    if (input.type === 'digits') {
      const digits =
        finishOnKey !== '' && input.digits.endsWith(finishOnKey) ? input.digits.slice(0, -1) : input.digits;
      extra = { Digits: digits };
      if (digits === '' && attribute(verb, 'actionOnEmptyResult') !== 'true') return { kind: 'next' };
    } else if (input.type === 'speech') {
      extra = { SpeechResult: input.text, Confidence: input.confidence.toFixed(8) };
    } else {
      if (attribute(verb, 'actionOnEmptyResult') !== 'true') return { kind: 'next' };
      extra = inputs.includes('dtmf') ? { Digits: '' } : {};
    }
    const url = this.actionUrl(attribute(verb, 'action'), run, 'Gather action');
    if (!url) return { kind: 'end' };
    const method = methodOf(attribute(verb, 'method'));
    return {
      kind: 'goto',
      request: { kind: 'fetch', purpose: 'gather-action', url, method, params: this.paramsFor(run, extra) },
    };
  }

  private async recordVerb(verb: TwimlElement, run: RunContext): Promise<Outcome> {
    const got = await this.block('record', (event) =>
      event.type === 'input' &&
      event.leg === 'caller' &&
      (event.input.type === 'recording' || event.input.type === 'silence')
        ? event.input
        : undefined,
    );
    if (got === timedOut) return { kind: 'next' };
    if (isSignalLike(got)) return { kind: 'signal', signal: got };
    // Nothing recorded: Twilio moves on to the verb after <Record> (the "I did not receive a recording" pattern).
    if (got.type !== 'recording') return { kind: 'next' };
    const { recording } = got;
    const stored = this.storeRecording(recording.seconds, recording.audio);
    const { sid: recordingSid, url: recordingUrl } = stored;
    const hungUp = recording.endedBy === 'hangup';
    if (hungUp) this.finalStatus = 'completed';

    const events = formValues(verb.attributes, 'recordingStatusCallbackEvent');
    const statusEvents = events.length > 0 ? events : ['completed'];
    const statusUrl = attribute(verb, 'recordingStatusCallback');
    const statusMethod = methodOf(attribute(verb, 'recordingStatusCallbackMethod'));
    const recordingParams = (status: string): Params => ({
      ...this.recordingParams(stored, status, recording.seconds),
      RecordingChannels: '1',
      RecordingSource: 'RecordVerb',
    });
    const statusTarget =
      statusUrl === undefined ? undefined : this.actionUrl(statusUrl, run, 'recordingStatusCallback');
    if (statusTarget && statusEvents.includes('in-progress')) {
      await this.send('recording-status', statusTarget, statusMethod, recordingParams('in-progress'));
    }

    const actionParams: Params = {
      RecordingUrl: recordingUrl,
      RecordingSid: recordingSid,
      RecordingDuration: String(recording.seconds),
    };
    if (recording.endedBy !== undefined && recording.endedBy !== 'silence')
      actionParams.Digits = recording.endedBy;
    const actionUrl = this.actionUrl(attribute(verb, 'action'), run, 'Record action');
    const next = actionUrl
      ? await this.load(
          {
            kind: 'fetch',
            purpose: 'record-action',
            url: actionUrl,
            method: methodOf(attribute(verb, 'method')),
            params: this.params(actionParams),
          },
          run,
        )
      : undefined;

    // Sent after the action, in this order, so tests see a fixed sequence; Twilio sends them when ready.
    if (statusTarget && statusEvents.includes('completed')) {
      await this.send('recording-status', statusTarget, statusMethod, recordingParams('completed'));
    }
    const transcribeUrl = attribute(verb, 'transcribeCallback');
    if (attribute(verb, 'transcribe') === 'true' && transcribeUrl !== undefined) {
      const target = this.actionUrl(transcribeUrl, run, 'transcribeCallback');
      const transcriptionSid = newSid('TR');
      if (target) {
        await this.send(
          'transcription',
          target,
          'POST',
          this.params({
            TranscriptionSid: transcriptionSid,
            TranscriptionText: recording.transcript ?? '',
            TranscriptionStatus: recording.transcript === undefined ? 'failed' : 'completed',
            TranscriptionUrl: `https://api.twilio.com/2010-04-01/Accounts/${this.options.accountSid}/Transcriptions/${transcriptionSid}`,
            RecordingSid: recordingSid,
            RecordingUrl: recordingUrl,
          }),
        );
      }
    }
    if (hungUp || !actionUrl) return { kind: 'end' };
    return { kind: 'goto', request: { kind: 'loaded', document: next } };
  }

  /** A recording Twilio would now hold: registered with the API double, which serves it at its URL. */
  private storeRecording(seconds: number, audio?: RecordingInput['audio']): StoredRecording {
    const sid = newSid('RE');
    const url = `https://api.twilio.com/2010-04-01/Accounts/${this.options.accountSid}/Recordings/${sid}`;
    const { bytes, contentType } = audio ?? { bytes: silentWav(seconds), contentType: 'audio/x-wav' };
    this.options.api?.addRecording(sid, bytes, contentType, {
      callSid: this.callSid,
      durationSeconds: seconds,
    });
    return { sid, url, startedAt: this.clock.now() - seconds * 1000 };
  }

  /** The recordingStatusCallback parameters every recording source shares. */
  private recordingParams(recording: StoredRecording, status: string, seconds: number): Params {
    return {
      AccountSid: this.options.accountSid,
      CallSid: this.callSid,
      RecordingSid: recording.sid,
      RecordingUrl: recording.url,
      RecordingStatus: status,
      RecordingDuration: String(seconds),
      RecordingStartTime: rfc2822(new Date(recording.startedAt)),
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // <Enqueue>

  private async enqueue(verb: TwimlElement, run: RunContext): Promise<Outcome> {
    const name = textOf(verb) || `workflow:${attribute(verb, 'workflowSid') ?? ''}`;
    const queueSid = SimulatedQueues.sidOf(name);
    const maxSize = Number(attribute(verb, 'maxQueueSize') ?? '1000');
    const actionUrl =
      attribute(verb, 'action') === undefined
        ? undefined
        : this.actionUrl(attribute(verb, 'action'), run, 'Enqueue action');
    const actionMethod = methodOf(attribute(verb, 'method'));
    const member: QueueMember = { callSid: this.callSid, enqueuedAt: this.clock.now(), sim: this };
    const queueTime = () => String(Math.floor((this.clock.now() - member.enqueuedAt) / 1000));
    const actionRequest = (result: string, withQueue = true): DocumentRequest | undefined =>
      actionUrl === undefined
        ? undefined
        : {
            kind: 'fetch',
            purpose: 'enqueue-action',
            url: actionUrl,
            method: actionMethod,
            params: this.params({
              QueueResult: result,
              ...(withQueue ? { QueueSid: queueSid, QueueTime: queueTime() } : {}),
            }),
          };
    /** The action's answer is followed unless the call is over or was redirected elsewhere. */
    const leaveWith = async (result: string, then: 'follow' | Outcome): Promise<Outcome> => {
      this.queues.leave(name, member);
      const request = actionRequest(result);
      if (then === 'follow') {
        this.setState('ivr');
        return request ? { kind: 'goto', request } : { kind: 'next' };
      }
      if (request) await this.load(request, run);
      return then;
    };

    if (this.queues.size(name) >= maxSize) {
      const request = actionRequest('queue-full', false);
      return request ? { kind: 'goto', request } : { kind: 'next' };
    }
    this.queues.join(name, member);
    this.setState('queued');

    const waitAttribute = attribute(verb, 'waitUrl');
    const waitUrl =
      waitAttribute === undefined || waitAttribute === ''
        ? undefined
        : this.actionUrl(waitAttribute, run, 'waitUrl');
    const waitMethod = methodOf(attribute(verb, 'waitUrlMethod'));
    if (waitAttribute === undefined) {
      this.hear(
        {
          kind: 'element',
          name: 'Play',
          attributes: {},
          children: [{ kind: 'text', text: defaultHoldMusic }],
        },
        'caller',
      );
    }
    const waitRun: RunContext = { context: 'wait', leg: 'caller' };
    let pending: DocumentRequest | undefined;
    for (;;) {
      if (waitUrl !== undefined || pending) {
        const request: DocumentRequest = pending ?? {
          kind: 'fetch',
          purpose: 'wait',
          url: waitUrl ?? '',
          method: waitMethod,
          params: this.params({
            QueuePosition: String(this.queues.position(name, member)),
            QueueSid: queueSid,
            QueueTime: queueTime(),
            AvgQueueTime: String(this.queues.averageWaitSeconds(name, this.clock.now())),
            CurrentQueueSize: String(this.queues.size(name)),
            MaxQueueSize: String(maxSize),
          }),
        };
        pending = undefined;
        const document = await this.load(request, waitRun);
        // A wait document that fails is Twilio's QueueResult=error.
        if (!document) return leaveWith('error', { kind: 'end' });
        const outcome = await this.runDocument(document, { ...waitRun, url: document.url });
        if (outcome.kind === 'goto') {
          pending = outcome.request;
          continue;
        }
        if (outcome.kind === 'leave') return leaveWith('leave', 'follow');
        if (outcome.kind === 'end') return leaveWith('hangup', { kind: 'end' });
        if (outcome.kind === 'signal') return this.queuedSignal(outcome.signal, leaveWith);
      }
      const waitLoopMs = this.options.waitLoopMs ?? 200;
      const got = await this.block(
        'queue',
        (event) => (event.type === 'dequeued' ? event : undefined),
        waitUrl === undefined ? undefined : waitLoopMs,
      );
      if (got === timedOut) continue;
      if (isSignalLike(got)) return this.queuedSignal(got, leaveWith);
      // Dequeued: bridged to whoever dequeued the call until one side hangs up.
      this.queues.leave(name, member);
      return this.bridgeFromQueue(got.request, queueSid, queueTime, leaveWith);
    }
  }

  private async queuedSignal(
    signal: Signal,
    leaveWith: (result: string, then: 'follow' | Outcome) => Promise<Outcome>,
  ): Promise<Outcome> {
    switch (signal.type) {
      case 'hangup':
        this.finalStatus = 'completed';
        return leaveWith('hangup', { kind: 'end' });
      case 'remote-end':
        this.finalStatus = signal.status;
        return leaveWith('hangup', { kind: 'end', status: signal.status });
      case 'rest-redirect':
        return leaveWith('redirected', { kind: 'goto', request: this.restRequest(signal) });
    }
  }

  private async bridgeFromQueue(
    request: DequeueRequest,
    queueSid: string,
    queueTime: () => string,
    leaveWith: (result: string, then: 'follow' | Outcome) => Promise<Outcome>,
  ): Promise<Outcome> {
    if (request.url !== undefined) {
      const whisper = await this.load(
        {
          kind: 'fetch',
          purpose: 'queue-whisper',
          url: request.url,
          method: request.method ?? 'POST',
          params: this.params({
            QueueSid: queueSid,
            QueueTime: queueTime(),
            DequeingCallSid: request.by?.callSid ?? '',
          }),
        },
        { context: 'queue-whisper', leg: 'caller' },
      );
      if (whisper)
        await this.runDocument(whisper, { context: 'queue-whisper', leg: 'caller', url: whisper.url });
    }
    this.setState('bridged');
    const got = await this.block('bridge', (event) => (event.type === 'far-end-hangup' ? event : undefined));
    this.unbridge();
    if (!isSignalLike(got)) return leaveWith('bridged', 'follow');
    switch (got.type) {
      case 'hangup':
        this.finalStatus = 'completed';
        return leaveWith('bridged', { kind: 'end' });
      case 'remote-end':
        this.finalStatus = got.status;
        return leaveWith('bridged', { kind: 'end', status: got.status });
      case 'rest-redirect':
        return leaveWith('redirected-from-bridged', { kind: 'goto', request: this.restRequest(got) });
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // <Dial>

  private async dial(verb: TwimlElement, run: RunContext): Promise<Outcome> {
    const nouns = childElements(verb);
    const actionUrl =
      attribute(verb, 'action') === undefined
        ? undefined
        : this.actionUrl(attribute(verb, 'action'), run, 'Dial action');
    const method = methodOf(attribute(verb, 'method'));
    // Sent after the action: Twilio's <Dial> page warns the recording may not be ready when the action comes.
    let recordingCallback: (() => Promise<void>) | undefined;
    const afterDial: AfterDial = async (extra, callerGone) => {
      if (!callerGone) this.setState('ivr');
      let outcome: Outcome = callerGone ? { kind: 'end' } : { kind: 'next' };
      if (actionUrl !== undefined) {
        const request: DocumentRequest = {
          kind: 'fetch',
          purpose: 'dial-action',
          url: actionUrl,
          method,
          params: this.params(extra),
        };
        // When the caller hung up, Twilio still requests the action, and ignores its answer.
        const document = await this.load(request, run);
        if (!callerGone) outcome = { kind: 'goto', request: { kind: 'loaded', document } };
      }
      await recordingCallback?.();
      return outcome;
    };
    const queueNoun = nouns.find((noun) => noun.name === 'Queue');
    if (queueNoun) return this.dialQueue(queueNoun, run, afterDial);

    const noun = nouns[0];
    const conference = noun?.name === 'Conference';
    const target = noun === undefined ? textOf(verb) : this.legAddress(noun);
    const outcome = this.nextDialOutcome;
    this.nextDialOutcome = 'completed';
    const childSid = newSid('CA');
    const legParams: Params = {
      AccountSid: this.options.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: childSid,
      ParentCallSid: this.callSid,
      Direction: 'outbound-dial',
      From: attribute(verb, 'callerId') ?? this.from,
      To: target,
      Caller: attribute(verb, 'callerId') ?? this.from,
      Called: target,
      CallStatus: 'in-progress',
    };
    const legEvents = noun === undefined ? undefined : this.legCallbacks(noun, run, legParams);
    await legEvents?.send('initiated', 'initiated');
    await legEvents?.send('ringing', 'ringing');

    if (outcome !== 'completed' && !conference) {
      await legEvents?.send('completed', outcome, { CallDuration: '0' });
      return afterDial(
        { DialCallStatus: outcome, DialCallSid: childSid, DialCallDuration: '0', DialBridged: 'false' },
        false,
      );
    }

    await legEvents?.send('answered', 'in-progress');
    const whisperUrl = noun === undefined ? undefined : attribute(noun, 'url');
    if (whisperUrl !== undefined) {
      const accepted = await this.whisper(whisperUrl, noun as TwimlElement, run, legParams);
      if (accepted !== true) {
        await legEvents?.send('completed', 'completed', { CallDuration: '0' });
        if (accepted === false) {
          // The agent declined in the whisper (<Hangup>): answered, never bridged.
          return afterDial(
            {
              DialCallStatus: 'completed',
              DialCallSid: childSid,
              DialCallDuration: '0',
              DialBridged: 'false',
            },
            false,
          );
        }
        return this.dialSignal(accepted, afterDial, {
          DialCallStatus: 'completed',
          DialCallSid: childSid,
          DialCallDuration: '0',
          DialBridged: 'false',
        });
      }
    }

    const bridgedAt = this.clock.now();
    this.hangupOnStar = attribute(verb, 'hangupOnStar') === 'true';
    this.setState('bridged');
    const got = await this.block('bridge', (event) =>
      event.type === 'far-end-hangup' ||
      (this.hangupOnStar &&
        event.type === 'input' &&
        event.leg === 'caller' &&
        event.input.type === 'digits' &&
        event.input.digits === '*')
        ? event
        : undefined,
    );
    this.hangupOnStar = false;
    const talked = String(Math.round((this.clock.now() - bridgedAt) / 1000));
    await legEvents?.send('completed', 'completed', { CallDuration: talked });
    const result: Params = conference
      ? { DialCallStatus: 'answered', DialBridged: 'true' }
      : { DialCallStatus: 'completed', DialCallSid: childSid, DialCallDuration: talked, DialBridged: 'true' };
    const recordMode = attribute(verb, 'record') ?? 'do-not-record';
    if (recordMode !== 'do-not-record' && recordMode !== 'false') {
      const recording = this.storeRecording(Number(talked));
      result.RecordingUrl = recording.url;
      const callbackUrl = attribute(verb, 'recordingStatusCallback');
      const target =
        callbackUrl === undefined
          ? undefined
          : this.actionUrl(callbackUrl, run, 'Dial recordingStatusCallback');
      const events = formValues(verb.attributes, 'recordingStatusCallbackEvent');
      if (target && (events.length === 0 || events.includes('completed'))) {
        recordingCallback = async () => {
          await this.send(
            'recording-status',
            target,
            methodOf(attribute(verb, 'recordingStatusCallbackMethod')),
            {
              ...this.recordingParams(recording, 'completed', Number(talked)),
              RecordingChannels: recordMode.endsWith('-dual') ? '2' : '1',
              RecordingSource: 'DialVerb',
              RecordingTrack: attribute(verb, 'recordingTrack') ?? 'both',
            },
          );
        };
      }
    }
    if (!isSignalLike(got)) return afterDial(result, false);
    return this.dialSignal(got, afterDial, result);
  }

  private async dialSignal(signal: Signal, afterDial: AfterDial, result: Params): Promise<Outcome> {
    switch (signal.type) {
      case 'hangup':
        this.finalStatus = 'completed';
        return afterDial(result, true);
      case 'remote-end':
        this.finalStatus = signal.status;
        await afterDial(result, true);
        return { kind: 'end', status: signal.status };
      case 'rest-redirect':
        // The parent call moves on to the new TwiML; the child leg is dropped without a Dial action.
        return { kind: 'goto', request: this.restRequest(signal) };
    }
  }

  /** The To of a <Dial> noun's leg: client:identity for clients, the text otherwise. */
  private legAddress(noun: TwimlElement): string {
    if (noun.name === 'Client') {
      const identity = childElements(noun).find((child) => child.name === 'Identity');
      const text = textOf({ ...noun, children: noun.children.filter((c) => c.kind === 'text') });
      return `client:${identity ? textOf(identity) : text}`;
    }
    return textOf(noun);
  }

  /** The statusCallback of a <Dial> noun, for the events its statusCallbackEvent lists (completed by default). */
  private legCallbacks(noun: TwimlElement, run: RunContext, legParams: Params) {
    const url = attribute(noun, 'statusCallback');
    if (url === undefined) return undefined;
    const target = this.actionUrl(url, run, `<${noun.name}> statusCallback`);
    const listed = formValues(noun.attributes, 'statusCallbackEvent');
    const events = listed.length > 0 ? listed : ['completed'];
    const method = methodOf(attribute(noun, 'statusCallbackMethod'));
    let sequence = 0;
    return {
      send: async (event: string, status: string, extra: Params = {}) => {
        if (!target || !events.includes(event)) return;
        await this.send('leg-status', target, method, {
          ...legParams,
          CallStatus: status,
          ...extra,
          Timestamp: rfc2822(new Date(this.clock.now())),
          CallbackSource: 'call-progress-events',
          SequenceNumber: String(sequence++),
        });
      },
    };
  }

  /**
   * Runs a <Number|Client url> document on the agent's leg. True when the agent accepted (the document ran
   * out), false when it hung up (<Hangup>), or the caller's signal that cut it short.
   */
  private async whisper(
    url: string,
    noun: TwimlElement,
    run: RunContext,
    legParams: Params,
  ): Promise<true | false | Signal> {
    const agentRun: RunContext = { context: 'dial-whisper', leg: 'agent', legParams };
    let request: DocumentRequest | undefined;
    const first = this.actionUrl(url, run, `<${noun.name}> url`);
    if (first) {
      request = {
        kind: 'fetch',
        purpose: 'dial-whisper',
        url: first,
        method: methodOf(attribute(noun, 'method')),
        params: legParams,
      };
    }
    while (request) {
      const document = await this.load(request, agentRun);
      if (!document) return false;
      const outcome = await this.runDocument(document, { ...agentRun, url: document.url });
      const signal = this.takeSignal();
      if (signal) return signal;
      if (outcome.kind === 'goto') {
        request = outcome.request;
        continue;
      }
      if (outcome.kind === 'signal') return outcome.signal;
      return outcome.kind !== 'end';
    }
    return false;
  }

  private async dialQueue(noun: TwimlElement, run: RunContext, afterDial: AfterDial): Promise<Outcome> {
    const name = textOf(noun);
    const queueSid = SimulatedQueues.sidOf(name);
    let member = this.queues.front(name);
    if (!member) {
      const stop = this.queues.onJoin((queue) => {
        if (queue === name) this.push({ type: 'queue-joined', queue });
      });
      const got = await this.block('dial-queue', (event) =>
        event.type === 'queue-joined' ? event : undefined,
      );
      stop();
      if (isSignalLike(got))
        return this.dialSignal(got, afterDial, { DialCallStatus: 'canceled', QueueSid: queueSid });
      member = this.queues.front(name);
      if (!member) return afterDial({ DialCallStatus: 'failed', QueueSid: queueSid }, false);
    }
    const dequeued = member;
    const queueTime = String(Math.floor((this.clock.now() - dequeued.enqueuedAt) / 1000));
    const urlAttribute = attribute(noun, 'url');
    const url = urlAttribute === undefined ? undefined : this.actionUrl(urlAttribute, run, '<Queue> url');
    const request: DequeueRequest = { by: this };
    if (url !== undefined) {
      request.url = url;
      request.method = methodOf(attribute(noun, 'method'));
    }
    // Linked both ways at once, so whichever side hangs up first, even during the whisper, ends both.
    this.partner = dequeued.sim;
    dequeued.sim.partner = this;
    dequeued.sim.push({ type: 'dequeued', request });
    const bridgedAt = this.clock.now();
    this.setState('bridged');
    const got = await this.block('bridge', (event) => (event.type === 'far-end-hangup' ? event : undefined));
    this.unbridge();
    const talked = String(Math.round((this.clock.now() - bridgedAt) / 1000));
    const result: Params = {
      DialCallStatus: 'completed',
      DialCallSid: dequeued.callSid,
      DialCallDuration: talked,
      DialBridged: 'true',
      QueueSid: queueSid,
      QueueTime: queueTime,
    };
    if (!isSignalLike(got)) return afterDial(result, false);
    return this.dialSignal(got, afterDial, result);
  }
}

function isSignalLike(value: unknown): value is Signal {
  return typeof value === 'object' && value !== null && 'type' in value && isSignal(value as SimEvent);
}

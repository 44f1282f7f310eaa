import type * as VoiceSdk from '@twilio/voice-sdk';
import type { Call, Device } from '@twilio/voice-sdk';
import { notify } from './alerts.js';
import { ApiError, api, type PhoneToken } from './api.js';

/*
 * The softphone: the browser end of the phone channel, the only file of the console that knows Twilio's
 * Voice SDK. The SDK (about 100 KB gzipped) is imported only once the server has handed out a token
 * (`GET /api/phone/token`), so a console whose server has no phone keys (503 PHONE_CHANNEL_OFF) never
 * downloads it and shows "Phone off". The Device registers under the agent's client identity; the token is
 * renewed when the SDK says it will expire.
 *
 * A call reaches this browser after the agent accepted a voice offer (the server dials the agent's client).
 * It is answered at once when the agent accepted a voice contact in the last minute, or has one on hold
 * (taking it back rings the agent again); any other call rings until the agent accepts or rejects it.
 * Components read a snapshot (`subscribe`, `snapshot`) and call the verbs; mute stays in the browser.
 */

export type Registration =
  /** Asking the server for a token, or loading the SDK. */
  | { state: 'starting' }
  /** The server's phone channel is off: no token, nothing to show but that. */
  | { state: 'off' }
  | { state: 'registering' }
  | { state: 'registered' }
  /** Not reachable by calls, and why (the SDK's error, a token that could not be had). */
  | { state: 'offline'; reason: string };

export interface SoftphoneCall {
  /** The contact the call is for, when the console knows it (it expected the call). */
  interactionId: string | null;
  /** The caller as the provider presents them (a number, or a client name). */
  from: string;
  status: 'ringing' | 'connecting' | 'open';
  isMuted: boolean;
  /** When the audio connected (ms since the epoch), for the call timer. */
  connectedAt: number | null;
}

export interface SoftphoneSnapshot {
  registration: Registration;
  call: SoftphoneCall | null;
  /** What went wrong with the last call (the SDK's error), until the next call. */
  callProblem: string | null;
}

/** Why a call is expected: the agent just accepted its contact, or put it on hold (taking it back rings). */
export type CallExpectation = 'accepted' | 'on-hold';

type Sdk = typeof VoiceSdk;

export interface SoftphoneDeps {
  fetchToken: () => Promise<PhoneToken>;
  loadSdk: () => Promise<Sdk>;
  now: () => number;
}

/** How long after accepting a voice offer its call is answered without asking. */
export const answerWindowMs = 60_000;
/** A Device neither registered nor failed after this long is shown offline (it keeps trying). */
const registrationTimeoutMs = 20_000;

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === 'string' ? error : 'unknown error';

export class Softphone {
  #snapshot: SoftphoneSnapshot = { registration: { state: 'starting' }, call: null, callProblem: null };
  readonly #listeners = new Set<(snapshot: SoftphoneSnapshot) => void>();
  readonly #expected = new Map<string, { why: CallExpectation; at: number }>();
  readonly #deps: SoftphoneDeps;
  #device: Device | null = null;
  #call: Call | null = null;
  #isStarted = false;
  #isStopped = false;
  #registrationTimer: number | undefined;

  constructor(deps: Partial<SoftphoneDeps> = {}) {
    this.#deps = {
      fetchToken: deps.fetchToken ?? api.phoneToken,
      loadSdk: deps.loadSdk ?? (() => import('@twilio/voice-sdk')),
      now: deps.now ?? Date.now,
    };
  }

  get snapshot(): SoftphoneSnapshot {
    return this.#snapshot;
  }

  subscribe(listener: (snapshot: SoftphoneSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Gets a token and registers; never throws (what went wrong is the registration's `reason`). */
  async start(): Promise<void> {
    if (this.#isStarted || this.#isStopped) return;
    this.#isStarted = true;
    let token: PhoneToken;
    try {
      token = await this.#deps.fetchToken();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'PHONE_CHANNEL_OFF') this.#register({ state: 'off' });
      else this.#register({ state: 'offline', reason: `No phone token: ${describe(error)}` });
      return;
    }
    try {
      const { Call: CallClass, Device: DeviceClass } = await this.#deps.loadSdk();
      if (this.#isStopped) return;
      const device = new DeviceClass(token.token, {
        codecPreferences: [CallClass.Codec.Opus, CallClass.Codec.PCMU],
        closeProtection: true,
      });
      this.#device = device;
      this.#listen(device);
      this.#register({ state: 'registering' });
      this.#registrationTimer = window.setTimeout(() => {
        if (this.#snapshot.registration.state === 'registering')
          this.#register({ state: 'offline', reason: 'The phone service did not answer (still trying).' });
      }, registrationTimeoutMs);
      await device.register();
    } catch (error) {
      if (!this.#isStopped) this.#register({ state: 'offline', reason: describe(error) });
    }
  }

  /** Tears the Device down (logout); a stopped softphone does not start again. */
  stop(): void {
    this.#isStopped = true;
    window.clearTimeout(this.#registrationTimer);
    this.#expected.clear();
    this.#device?.destroy();
    this.#device = null;
    this.#call = null;
  }

  /** The next call for `interactionId` is answered without asking (see the file's comment). */
  expectCall(interactionId: string, why: CallExpectation): void {
    this.#expected.set(interactionId, { why, at: this.#deps.now() });
  }

  /** The contact's call is no longer expected (the accept failed, the call ended). */
  forgetCall(interactionId: string): void {
    this.#expected.delete(interactionId);
  }

  accept(): void {
    const call = this.#call;
    if (!call || this.#snapshot.call?.status !== 'ringing') return;
    call.accept();
    this.#updateCall({ status: 'connecting' });
  }

  reject(): void {
    if (this.#snapshot.call?.status !== 'ringing') return;
    this.#call?.reject();
    this.#endCall();
  }

  mute(isMuted: boolean): void {
    this.#call?.mute(isMuted);
  }

  /** Hangs the softphone's call up; nothing when no call is connected. */
  hangUp(): void {
    if (this.#snapshot.call?.status === 'ringing') return;
    this.#call?.disconnect();
  }

  #listen(device: Device): void {
    device.on('registering', () => this.#register({ state: 'registering' }));
    device.on('registered', () => {
      window.clearTimeout(this.#registrationTimer);
      this.#register({ state: 'registered' });
    });
    device.on('unregistered', () => {
      if (this.#isStopped || this.#snapshot.registration.state === 'offline') return;
      this.#register({ state: 'offline', reason: 'Unregistered from the phone service.' });
    });
    device.on('error', (error: unknown, call?: Call) => {
      window.clearTimeout(this.#registrationTimer);
      if (call) this.#set({ callProblem: describe(error) });
      else this.#register({ state: 'offline', reason: describe(error) });
    });
    device.on('tokenWillExpire', () => {
      this.#deps.fetchToken().then(
        ({ token }) => device.updateToken(token),
        (error: unknown) =>
          this.#register({
            state: 'offline',
            reason: `The phone token could not be renewed: ${describe(error)}`,
          }),
      );
    });
    device.on('incoming', (call: Call) => this.#onIncoming(call));
  }

  #onIncoming(call: Call): void {
    this.#call = call;
    const interactionId = this.#expectedInteraction();
    this.#set({
      call: {
        interactionId,
        from: call.parameters.From ?? 'Unknown caller',
        status: 'ringing',
        isMuted: false,
        connectedAt: null,
      },
      callProblem: null,
    });
    call.on('accept', () => this.#updateCall({ status: 'open', connectedAt: this.#deps.now() }));
    call.on('mute', (isMuted: boolean) => this.#updateCall({ isMuted }));
    call.on('error', (error: unknown) => this.#set({ callProblem: describe(error) }));
    for (const event of ['disconnect', 'cancel', 'reject'] as const)
      call.on(event, () => {
        if (this.#call === call) this.#endCall();
      });
    if (interactionId) {
      if (this.#expected.get(interactionId)?.why === 'accepted') this.#expected.delete(interactionId);
      this.accept();
    } else {
      notify('Incoming call', `${this.#snapshot.call?.from ?? 'A caller'} is calling you.`);
    }
  }

  /** The contact whose call this is likely to be: on hold first, else the newest accepted in the window. */
  #expectedInteraction(): string | null {
    const now = this.#deps.now();
    let best: { id: string; at: number } | null = null;
    for (const [id, { why, at }] of this.#expected) {
      if (why === 'on-hold') return id;
      if (now - at <= answerWindowMs && (!best || at > best.at)) best = { id, at };
    }
    return best?.id ?? null;
  }

  #endCall(): void {
    this.#call = null;
    this.#set({ call: null });
  }

  #updateCall(change: Partial<SoftphoneCall>): void {
    const current = this.#snapshot.call;
    if (current) this.#set({ call: { ...current, ...change } });
  }

  #register(registration: Registration): void {
    this.#set({ registration });
  }

  #set(change: Partial<SoftphoneSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...change };
    for (const listener of this.#listeners) listener(this.#snapshot);
  }
}

/*
 * Simulated agents for tests/integration/routing-load.test.ts: each one is what an agent's console does, over
 * the real surfaces (HTTP login and close, the /agent socket for state and offers), against a cluster of
 * server processes that may lose a member.
 *
 * Behaviour, from a seeded generator per agent (a failing run replays with its seed):
 *   - an offer is accepted (~75%), rejected with a reason (~10%) or ignored (~15%: it expires), after a short
 *     think; never once the console shows it expired. In the drain (`Cluster.isDraining`) every new offer is
 *     accepted and nobody takes a break or reloads.
 *   - accepted work is held for a short random time, then closed over HTTP with a disposition.
 *   - agents that take breaks go away ('state:set' away with a reason) now and then and come back.
 *   - an agent the server set away (missed offers) or offline notices the `state` push and comes back after a
 *     while; so does an agent who just connected and is offline.
 *   - now and then a console reloads: the socket closes and a new one opens on a random live process.
 *   - when the process holding its socket dies, the console opens a new socket on another live process
 *     after `reconnectDelayMs`.
 * An answer whose acknowledgement was lost (socket gone, or no answer in 5 s) is not retried: an accept's fate
 * is read back over HTTP 3 s later (GET the interaction: assigned to me means the accept committed).
 * A close is retried on another process until it is answered (a repeated close is refused as already closed).
 */
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import type { AgentState } from '../../src/agents/agent-state.service.js';
import type {
  AckResult,
  AgentClientToServerEvents,
  AgentRequest,
  AgentRequestName,
  AgentRequestResults,
  AgentServerToClientEvents,
  OfferPush,
  StatePush,
} from '../../src/realtime/index.js';

type Client = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;

/** mulberry32: a small seeded generator. */
export function randomFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the agents share: which processes are alive, the browser origin, and the phase of the run. */
export interface Cluster {
  readonly origin: string;
  /** Base URLs of the processes that are up. */
  liveUrls(): readonly string[];
  /** The drain: every new offer is accepted, nobody takes breaks or reloads. */
  readonly isDraining: boolean;
}

export interface Behaviour {
  acceptShare: number;
  rejectShare: number;
  thinkMs: [number, number];
  holdMs: [number, number];
  /** Between two chances to take a break (agents that take breaks), and how long a break lasts. */
  breakEveryMs: [number, number];
  breakMs: [number, number];
  /** How long an agent set away or offline by the server waits before coming back. */
  comebackMs: [number, number];
  /** Chance, every `breakEveryMs`, that a console reloads (any agent). */
  reloadChance: number;
  reloadGapMs: [number, number];
  /** How long a console whose process died waits before connecting to another one. */
  reconnectDelayMs: [number, number];
}

export interface AgentStats {
  offers: number;
  /** Offers seen again in a snapshot after a reconnect. */
  resent: number;
  accepted: number;
  rejected: number;
  ignored: number;
  /** Answers refused because the offer was no longer live (expired, withdrawn meanwhile). */
  tooLate: number;
  /** Offers not answered because the console showed them expired. */
  expiredOnScreen: number;
  /** Answers whose acknowledgement was lost with the socket. */
  unacknowledged: number;
  closed: number;
  breaks: number;
  /** Set away (missed offers) or offline by the server, then came back. */
  comebacks: number;
  reloads: number;
  /** New sockets after the process holding the old one died. */
  failovers: number;
  /** Anything a correct engine should never answer (logged in full). */
  errors: string[];
}

export interface AgentIdentity {
  agentId: string;
  email: string;
  password: string;
  seed: number;
  takesBreaks: boolean;
  /** The process the console first connects to. */
  homeUrl: string;
}

interface OfferCard {
  offer: OfferPush;
  decision: 'accept' | 'reject' | 'ignore';
  /** thinking: will answer; waiting: its think ended while disconnected; done: answered or given up. */
  status: 'thinking' | 'waiting' | 'done';
}

export class SimulatedAgent {
  readonly stats: AgentStats = {
    offers: 0,
    resent: 0,
    accepted: 0,
    rejected: 0,
    ignored: 0,
    tooLate: 0,
    expiredOnScreen: 0,
    unacknowledged: 0,
    closed: 0,
    breaks: 0,
    comebacks: 0,
    reloads: 0,
    failovers: 0,
    errors: [],
  };
  state: AgentState = 'offline';
  private socket: Client | undefined;
  private url: string;
  private cookie = '';
  private readonly random: () => number;
  private readonly cards = new Map<string, OfferCard>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly work = new Set<Promise<void>>();
  private isOnBreak = false;
  private isComingBack = false;
  private isStopped = false;

  constructor(
    readonly identity: AgentIdentity,
    private readonly cluster: Cluster,
    private readonly behaviour: Behaviour,
  ) {
    this.random = randomFrom(identity.seed);
    this.url = identity.homeUrl;
  }

  get agentId(): string {
    return this.identity.agentId;
  }

  /** The process holding this agent's live socket, if any. */
  get connectedUrl(): string | undefined {
    return this.socket?.connected ? this.url : undefined;
  }

  /** Work accepted and not closed yet, answers or a break in progress. */
  get isBusy(): boolean {
    return this.work.size > 0;
  }

  /** Logs in and opens the console; the agent makes themselves available. */
  async start(): Promise<void> {
    this.cookie = await this.login();
    await this.connect(this.url);
  }

  /** From now on the agent takes breaks and reloads now and then. */
  beginRoutine(): void {
    this.schedule(this.between(this.behaviour.breakEveryMs), () => this.maybeBreakOrReload());
  }

  /** Closes the socket and drops every timer; work in flight is awaited. */
  async stop(): Promise<void> {
    this.isStopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.socket?.disconnect();
    while (this.work.size) await Promise.allSettled([...this.work]);
  }

  // --- the console's surfaces ------------------------------------------------------------------------

  private async login(): Promise<string> {
    const response = await this.http('POST', '/api/auth/login', {
      email: this.identity.email,
      password: this.identity.password,
    });
    if (response.status !== 200) throw new Error(`login failed: ${response.status} ${response.text}`);
    const cookie = response.setCookies.find((c) => c.startsWith('sb_session='));
    if (!cookie) throw new Error('no session cookie');
    return cookie.split(';')[0]!;
  }

  /**
   * One HTTP request to the agent's process, or, when that one does not answer (it died), to another live
   * one, as a balancer would. A slow answer is waited for (a busy machine is not a dead process); only a
   * connection that fails, or a 503, is tried again elsewhere.
   */
  private async http(
    method: 'GET' | 'POST',
    path: string,
    body?: object,
  ): Promise<{ status: number; text: string; setCookies: string[] }> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      const live = this.cluster.liveUrls();
      const url = live.includes(this.url) && attempt === 0 ? this.url : this.pick(live);
      try {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: {
            origin: this.cluster.origin,
            ...(this.cookie && { cookie: this.cookie }),
            ...(body && { 'content-type': 'application/json' }),
          },
          ...(body && { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(60_000),
        });
        const text = await response.text();
        // 503: a backing service hiccup, tried again like a dead process.
        if (response.status === 503) throw new Error(`503 ${text}`);
        return { status: response.status, text, setCookies: response.headers.getSetCookie() };
      } catch (error) {
        if (error instanceof DOMException && error.name === 'TimeoutError') throw error;
        lastError = error;
        await sleep(100 + 100 * attempt);
      }
    }
    throw new Error(`${method} ${path}: no process answered: ${String(lastError)}`);
  }

  private connect(url: string): Promise<void> {
    this.url = url;
    const socket: Client = connectClient(`${url}/agent`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { origin: this.cluster.origin, cookie: this.cookie },
    });
    this.socket = socket;
    socket.on('state', (push) => this.onState(push));
    socket.on('offer', (offer) => this.onOffer(offer));
    socket.on('disconnect', (reason) => {
      // io client disconnect: a reload or the end, which reconnect themselves (or not).
      if (reason !== 'io client disconnect' && socket === this.socket) this.failover();
    });
    return new Promise((resolve) => {
      socket.once('connect', () => {
        this.afterConnect();
        resolve();
      });
      socket.once('connect_error', () => {
        // The process died while we dialed, or was too slow: try a live one.
        if (socket === this.socket)
          this.schedule(200, () => void this.connect(this.pick(this.cluster.liveUrls())));
        resolve();
      });
    });
  }

  /** The process holding the socket died (or dropped it): a new socket on another live process, later. */
  private failover() {
    if (this.isStopped) return;
    this.stats.failovers += 1;
    const dead = this.url;
    this.schedule(this.between(this.behaviour.reconnectDelayMs), () => {
      const live = this.cluster.liveUrls().filter((u) => u !== dead);
      void this.connect(this.pick(live.length ? live : this.cluster.liveUrls()));
    });
  }

  private afterConnect() {
    for (const card of this.cards.values()) if (card.status === 'waiting') this.answer(card);
  }

  // --- server pushes ---------------------------------------------------------------------------------

  private onState(push: StatePush) {
    this.state = push.state;
    if ((push.state === 'away' || push.state === 'offline') && !this.isOnBreak && !this.isComingBack) {
      if (push.from !== null) this.stats.comebacks += 1;
      this.isComingBack = true;
      this.schedule(this.between(this.behaviour.comebackMs), () => void this.comeBack());
    }
  }

  private async comeBack() {
    const result = await this.ask('state:set', { state: 'available' });
    this.isComingBack = false;
    // Not acknowledged (socket gone): the snapshot on reconnect says what the state is, and we act on it.
    if (result && !result.ok) this.stats.errors.push(`state:set available: ${JSON.stringify(result.error)}`);
  }

  private onOffer(offer: OfferPush) {
    const known = this.cards.get(offer.offerId);
    if (known) {
      this.stats.resent += 1;
      if (known.status === 'waiting') this.answer(known);
      return;
    }
    this.stats.offers += 1;
    const roll = this.random();
    const decision = this.cluster.isDraining
      ? 'accept'
      : roll < this.behaviour.acceptShare
        ? 'accept'
        : roll < this.behaviour.acceptShare + this.behaviour.rejectShare
          ? 'reject'
          : 'ignore';
    const card: OfferCard = { offer, decision, status: 'thinking' };
    this.cards.set(offer.offerId, card);
    if (decision === 'ignore') {
      this.stats.ignored += 1;
      card.status = 'done';
      return;
    }
    this.schedule(this.between(this.behaviour.thinkMs), () => this.answer(card));
  }

  private answer(card: OfferCard) {
    if (this.isStopped) return;
    if (Date.now() > Date.parse(card.offer.expiresAt) - 100) {
      // The console took the card down at its expiry.
      this.stats.expiredOnScreen += 1;
      card.status = 'done';
      return;
    }
    if (!this.socket?.connected) {
      card.status = 'waiting';
      return;
    }
    card.status = 'done';
    const { offerId, interactionId } = card.offer;
    this.track(
      (async () => {
        const result =
          card.decision === 'accept'
            ? await this.ask('offer:accept', { offerId })
            : await this.ask('offer:reject', { offerId, reason: 'not my topic' });
        if (!result) {
          this.stats.unacknowledged += 1;
          // Read back once any transaction of a process that died with the request has long finished.
          if (card.decision === 'accept') this.schedule(3000, () => this.track(this.readBack(interactionId)));
          return;
        }
        if (!result.ok) {
          if (result.error.code === 'OFFER_NOT_LIVE') this.stats.tooLate += 1;
          else this.stats.errors.push(`${card.decision} ${offerId}: ${JSON.stringify(result.error)}`);
          return;
        }
        if (card.decision === 'reject') {
          this.stats.rejected += 1;
          return;
        }
        this.stats.accepted += 1;
        await this.workOn(interactionId);
      })(),
    );
  }

  /** An accept whose acknowledgement was lost: the interaction says whether it committed. */
  private async readBack(interactionId: string): Promise<void> {
    const response = await this.http('GET', `/api/interactions/${interactionId}`);
    if (response.status !== 200) {
      this.stats.errors.push(`read back ${interactionId}: ${response.status} ${response.text}`);
      return;
    }
    const { interaction } = JSON.parse(response.text) as {
      interaction: { status: string; assigneeId: string | null };
    };
    if (interaction.status === 'assigned' && interaction.assigneeId === this.agentId) {
      this.stats.accepted += 1;
      await this.workOn(interactionId);
    }
  }

  private async workOn(interactionId: string): Promise<void> {
    await sleep(this.between(this.behaviour.holdMs));
    const response = await this.http('POST', `/api/interactions/${interactionId}/close`, {
      disposition: 'resolved',
    });
    // 409: an earlier attempt, on a process that died before answering, had closed it.
    if (response.status === 204 || (response.status === 409 && response.text.includes('INTERACTION_CLOSED')))
      this.stats.closed += 1;
    else this.stats.errors.push(`close ${interactionId}: ${response.status} ${response.text}`);
  }

  // --- the agent's own moves -------------------------------------------------------------------------

  private maybeBreakOrReload() {
    if (this.isStopped) return;
    this.schedule(this.between(this.behaviour.breakEveryMs), () => this.maybeBreakOrReload());
    if (this.cluster.isDraining || !this.socket?.connected) return;
    if (this.random() < this.behaviour.reloadChance) {
      this.reload();
      return;
    }
    if (!this.identity.takesBreaks || this.isOnBreak || this.isComingBack || this.random() < 0.5) return;
    if (this.state !== 'available' && this.state !== 'on_contact') return;
    this.isOnBreak = true;
    this.stats.breaks += 1;
    this.track(
      (async () => {
        await this.ask('state:set', { state: 'away', reason: 'coffee break' });
        await sleep(this.between(this.behaviour.breakMs));
        this.isOnBreak = false;
        const result = await this.ask('state:set', { state: 'available' });
        if (!result?.ok && !this.isComingBack) {
          // Lost with the socket: come back once connected again.
          this.isComingBack = true;
          this.schedule(this.between(this.behaviour.comebackMs), () => void this.comeBack());
        }
      })(),
    );
  }

  private reload() {
    this.stats.reloads += 1;
    const old = this.socket;
    this.socket = undefined;
    old?.disconnect();
    this.schedule(
      this.between(this.behaviour.reloadGapMs),
      () => void this.connect(this.pick(this.cluster.liveUrls())),
    );
  }

  // --- plumbing --------------------------------------------------------------------------------------

  /** A request with an acknowledgement; undefined when the ack never came (socket gone or too slow). */
  private async ask<E extends AgentRequestName>(
    name: E,
    request: AgentRequest<E>,
  ): Promise<AckResult<AgentRequestResults[E]> | undefined> {
    const socket = this.socket;
    if (!socket?.connected) return undefined;
    try {
      // socket.io's typings cannot spread a generic event's arguments; the event map types both ends.
      const untyped = socket.timeout(5_000) as unknown as ClientSocket;
      return (await untyped.emitWithAck(name, request)) as AckResult<AgentRequestResults[E]>;
    } catch {
      return undefined;
    }
  }

  private track(work: Promise<void>) {
    const tracked = work.catch((error: unknown) => {
      this.stats.errors.push(error instanceof Error ? error.message : String(error));
    });
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }

  private schedule(ms: number, run: () => void) {
    if (this.isStopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.isStopped) run();
    }, ms);
    this.timers.add(timer);
  }

  private between([low, high]: [number, number]): number {
    return low + this.random() * (high - low);
  }

  private pick(urls: readonly string[]): string {
    if (urls.length === 0) throw new Error('no live process');
    return urls[Math.floor(this.random() * urls.length)]!;
  }
}

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSessionStore, type SessionStore } from '../../src/agents/session.store.js';
import { buildApp } from '../../src/app.js';
import type { Role } from '../../src/db/repositories/agents.repository.js';
import type { DomainEventMap } from '../../src/events.js';
import type {
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  OfferPush,
  SocketError,
} from '../../src/realtime/index.js';
import { queueContact, resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { waitFor } from '../support/wait-for.js';

/*
 * The agent console's socket (namespace /agent) with real socket.io-client connections to a listening app on
 * a real Postgres and Redis: the handshake (session cookie, Origin), offers pushed to the agent's room and
 * answered with acknowledgements, bad input answered with error acks, and presence: an agent whose sockets
 * are all gone for the grace is set offline, and not before; one who comes back within the grace keeps
 * their state. A second app on the same schema and prefix, and a separate process killed outright, show
 * that emits and presence span processes.
 *
 * What must never happen: a socket admitted without a live session or from a foreign Origin; an answer
 * served for a revoked session; an agent set offline while any of their sockets, on any process, is live;
 * an agent set offline before the grace has passed; a bad payload crashing or disconnecting the socket.
 */

const graceMs = 1000;
const heartbeatMs = 100;
const allowedOrigin = 'http://localhost:3000';

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let baseUrl: string;
let redis: Redis;
let sessions: SessionStore;
let worker: WorkerProcess | undefined;
let workerReady: Promise<{ port: number; pid: number }> | undefined;
const sockets: Client[] = [];

type Client = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;

beforeAll(async () => {
  rules = writeRulesFolder();
  // The job worker runs here: presence checks and the presence sweep run through BullMQ as in production.
  ctx = await createTestContext({
    config: {
      routingRulesDir: rules.dir,
      presenceGraceMs: graceMs,
      presenceHeartbeatMs: heartbeatMs,
      routeOnIngest: false,
    },
    isWorker: true,
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  // Sessions minted by the real store, without a password hash per agent (scrypt is slow by design); the
  // login route itself is exercised in the handshake tests.
  redis = new Redis(ctx.config.redisUrl!);
  sessions = createSessionStore(redis, ctx.config.redisPrefix, 3600);
  // The separate server process for the killed-process test boots while the other tests run.
  worker = startWorkerProcess(new URL('../support/realtime-worker.ts', import.meta.url), ctx.config, 60_000);
  const { publicBaseUrl } = ctx.config;
  worker.send(
    `start ${JSON.stringify({ presenceGraceMs: graceMs, presenceHeartbeatMs: heartbeatMs, publicBaseUrl })}`,
  );
  workerReady = worker.expectLine('ready').then((line) => JSON.parse(line) as { port: number; pid: number });
  workerReady.catch(() => undefined); // awaited (and reported) by its test
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await worker?.stop().catch(() => undefined); // killed by its test: it exits by signal, not with 0
  redis?.disconnect();
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

function connect(url: string, headers: { cookie?: string; origin?: string } = {}): Client {
  const socket: Client = connectClient(`${url}/agent`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { origin: allowedOrigin, ...headers },
  });
  sockets.push(socket);
  return socket;
}

/** Every event the socket received, in order, from the moment it was created. */
function recorder(socket: Client) {
  const seen: { name: string; payload: unknown }[] = [];
  socket.onAny((name: string, payload: unknown) => seen.push({ name, payload }));
  return {
    all: <E extends keyof AgentServerToClientEvents>(name: E) =>
      seen
        .filter((e) => e.name === name)
        .map((e) => e.payload as Parameters<AgentServerToClientEvents[E]>[0]),
    next: <E extends keyof AgentServerToClientEvents>(
      name: E,
      match: (payload: Parameters<AgentServerToClientEvents[E]>[0]) => boolean = () => true,
    ) =>
      waitFor(async () => {
        const found = seen.find(
          (e) => e.name === name && match(e.payload as Parameters<AgentServerToClientEvents[E]>[0]),
        );
        return found?.payload as Parameters<AgentServerToClientEvents[E]>[0] | undefined;
      }),
  };
}

function opened(socket: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

function refused(socket: Client): Promise<Error & { data?: SocketError }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('the socket was admitted')));
    socket.once('connect_error', resolve);
  });
}

function closed(socket: Client): Promise<string> {
  return new Promise((resolve) => {
    if (socket.disconnected) resolve('already');
    else socket.once('disconnect', (reason) => resolve(reason));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A new agent with a live session; returns its cookie header. */
async function agentWithSession(role: Role = 'agent'): Promise<{ agentId: string; cookie: string }> {
  const name = `${role}-${randomBytes(5).toString('hex')}`;
  const agent = await ctx.services.repositories.agents.create({
    email: `${name}@realtime.test`,
    displayName: name,
    role,
    passwordHash: 'not-a-real-hash',
    skills: {},
    capacity: {},
  });
  return { agentId: agent.id, cookie: `sb_session=${await sessions.create(agent.id)}` };
}

/** A new agent's console socket on `url` (the test's app unless said otherwise), open, with its first state. */
async function consoleOf(role: Role = 'agent', url = baseUrl) {
  const login = await agentWithSession(role);
  const socket = connect(url, { cookie: login.cookie });
  const events = recorder(socket);
  await opened(socket);
  await events.next('state');
  return { ...login, socket, events };
}

const stateOf = async (agentId: string) =>
  (await ctx.services.agentStates.status(agentId))?.state ?? 'offline';

/** Records when each agent went offline, from the domain events of the given apps. */
function offlineWatch(...buses: { subscribe: TestContext['services']['events']['subscribe'] }[]) {
  const at = new Map<string, number>();
  const stops = buses.map((bus) =>
    bus.subscribe('agent.stateChanged', (change: DomainEventMap['agent.stateChanged']) => {
      if (change.to === 'offline' && !at.has(change.agentId)) at.set(change.agentId, Date.now());
    }),
  );
  return { at, stop: () => stops.forEach((stop) => stop()) };
}

async function offerFor(agentId: string, socket: ReturnType<typeof recorder>): Promise<OfferPush> {
  const interactionId = await queueContact(ctx.services, 'chat');
  const { offers } = await ctx.services.routing.dispatcher.dispatch({ interactionIds: [interactionId] });
  expect(offers.map((o) => o.agentId)).toEqual([agentId]);
  return socket.next('offer', (o) => o.interactionId === interactionId);
}

describe('handshake', () => {
  it('refuses a socket without a session, with a bad cookie, or with a dead session', async () => {
    const bare = await refused(connect(baseUrl));
    expect(bare.data).toEqual({ code: 'NOT_AUTHENTICATED', message: 'Log in first.' });
    expect(bare.message).toBe('Log in first.');

    const forged = await refused(connect(baseUrl, { cookie: 'sb_session=not-a-session' }));
    expect(forged.data?.code).toBe('NOT_AUTHENTICATED');

    const { cookie } = await ctx.loginAs('agent');
    await ctx.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie } });
    expect((await refused(connect(baseUrl, { cookie }))).data?.code).toBe('NOT_AUTHENTICATED');
  });

  it('refuses a socket from a foreign Origin, even with a valid session', async () => {
    const { cookie } = await agentWithSession();
    const foreign = await refused(connect(baseUrl, { cookie, origin: 'https://evil.example' }));
    expect(foreign.data).toEqual({ code: 'FORBIDDEN', message: 'Cross-origin connection refused.' });

    // The public origin and the host the client dialed are both the console's own.
    const own = connect(baseUrl, { cookie, origin: baseUrl });
    await opened(own);
    own.disconnect();
  });

  it('refuses a disabled agent', async () => {
    const { cookie, agentId } = await agentWithSession();
    await ctx.services.agents.update(agentId, { isDisabled: true }, null);
    expect((await refused(connect(baseUrl, { cookie }))).data?.code).toBe('NOT_AUTHENTICATED');
  });

  it('admits a live session, sends the current state, and connecting does not make the agent available', async () => {
    const { agentId, socket, events } = await consoleOf();
    expect(events.all('state')).toEqual([{ agentId, state: 'offline', from: null, awayReason: null }]);
    await sleep(3 * heartbeatMs);
    expect(await stateOf(agentId)).toBe('offline');
    expect(await ctx.services.presence.liveSockets(agentId)).toBe(1);
    socket.disconnect();
  });

  it('ends the sockets of a revoked session within a heartbeat, and never serves them a request', async () => {
    const { agentId, socket, events } = await consoleOf();
    const gone = closed(socket);
    await ctx.services.agents.update(agentId, { isDisabled: true }, null);
    // The request races the heartbeat's session check: either answer is a refusal, never a served request.
    const answer: unknown = await socket
      .timeout(2000)
      .emitWithAck('state:set', { state: 'available' })
      .catch(() => undefined);
    if (answer)
      expect(answer).toEqual({ ok: false, error: { code: 'NOT_AUTHENTICATED', message: 'Log in first.' } });
    expect(await gone).toBe('io server disconnect');
    expect(events.all('session:ended')[0]?.code).toBe('NOT_AUTHENTICATED');
    expect(await stateOf(agentId)).toBe('offline');
  });
});

describe('requests and offers', () => {
  it('sets the agent’s state with an ack and pushes the change to every socket of theirs', async () => {
    const first = await consoleOf();
    const second = connect(baseUrl, { cookie: first.cookie });
    const secondEvents = recorder(second);
    await opened(second);

    expect(await first.socket.emitWithAck('state:set', { state: 'available' })).toEqual({
      ok: true,
      state: 'available',
      awayReason: null,
    });
    const pushed = { agentId: first.agentId, state: 'available', from: 'offline', awayReason: null };
    expect(await first.events.next('state', (s) => s.from !== null)).toEqual(pushed);
    expect(await secondEvents.next('state', (s) => s.from !== null)).toEqual(pushed);

    expect(await first.socket.emitWithAck('state:set', { state: 'away', reason: 'coffee' })).toEqual({
      ok: true,
      state: 'away',
      awayReason: 'coffee',
    });
    // Away needs a reason: the service's refusal comes back as an error ack.
    expect(await first.socket.emitWithAck('state:set', { state: 'away' })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_AGENT_STATE' },
    });
    expect(await stateOf(first.agentId)).toBe('away');
    first.socket.disconnect();
    second.disconnect();
  });

  it('pushes an offer to the agent’s socket only, and accepts it by socket', async () => {
    const alice = await consoleOf();
    const bob = await consoleOf();
    await alice.socket.emitWithAck('state:set', { state: 'available' });

    const offer = await offerFor(alice.agentId, alice.events);
    expect(offer).toMatchObject({ channel: 'chat', offerId: expect.any(String) as string });
    expect(Date.parse(offer.expiresAt)).toBeGreaterThan(Date.now());
    expect(offer.reason).toContain(
      (await ctx.services.repositories.agents.findById(alice.agentId))!.displayName,
    );

    // Not Bob's: he never sees it, and cannot answer it.
    expect(await bob.socket.emitWithAck('offer:accept', { offerId: offer.offerId })).toMatchObject({
      ok: false,
      error: { code: 'OFFER_NOT_YOURS' },
    });
    expect(await bob.socket.emitWithAck('offer:reject', { offerId: offer.offerId })).toMatchObject({
      ok: false,
      error: { code: 'OFFER_NOT_YOURS' },
    });

    expect(await alice.socket.emitWithAck('offer:accept', { offerId: offer.offerId })).toEqual({
      ok: true,
      interactionId: offer.interactionId,
    });
    expect(await alice.events.next('offer:ended')).toEqual({
      offerId: offer.offerId,
      interactionId: offer.interactionId,
      outcome: 'accepted',
    });
    expect(await alice.socket.emitWithAck('offer:accept', { offerId: offer.offerId })).toMatchObject({
      ok: false,
      error: { code: 'OFFER_NOT_LIVE' },
    });
    expect(bob.events.all('offer')).toEqual([]);
    expect(bob.events.all('offer:ended')).toEqual([]);
    alice.socket.disconnect();
    bob.socket.disconnect();
  });

  it('rejects an offer by socket, and re-sends live offers to a console that reconnects', async () => {
    const alice = await consoleOf();
    await alice.socket.emitWithAck('state:set', { state: 'available' });
    const offer = await offerFor(alice.agentId, alice.events);

    // A reloaded console gets its live offer again on connect.
    const reloaded = connect(baseUrl, { cookie: alice.cookie });
    const reloadedEvents = recorder(reloaded);
    await opened(reloaded);
    expect(await reloadedEvents.next('offer')).toEqual(offer);

    expect(
      await alice.socket.emitWithAck('offer:reject', { offerId: offer.offerId, reason: 'not my language' }),
    ).toEqual({ ok: true });
    expect(await reloadedEvents.next('offer:ended')).toMatchObject({ outcome: 'rejected' });
    alice.socket.disconnect();
    reloaded.disconnect();
  });

  it('answers bad input with error acks and keeps the socket', async () => {
    const { socket } = await consoleOf();
    const ask = (name: string, ...args: unknown[]) =>
      (socket.timeout(2000) as unknown as ClientSocket).emitWithAck(name, ...args) as Promise<unknown>;
    const refusal = (code: string) => ({ ok: false, error: { code, message: expect.any(String) as string } });

    expect(await ask('offer:accept', {})).toEqual(refusal('VALIDATION_FAILED'));
    expect(await ask('offer:accept', { offerId: 'not-a-uuid' })).toEqual(refusal('VALIDATION_FAILED'));
    expect(await ask('offer:accept', { offerId: crypto.randomUUID(), extra: 1 })).toEqual(
      refusal('VALIDATION_FAILED'),
    );
    expect(await ask('offer:accept')).toEqual(refusal('VALIDATION_FAILED'));
    expect(await ask('offer:accept', 'a string')).toEqual(refusal('VALIDATION_FAILED'));
    expect(await ask('offer:reject', { offerId: crypto.randomUUID(), reason: 'x'.repeat(501) })).toEqual(
      refusal('VALIDATION_FAILED'),
    );
    expect(await ask('state:set', { state: 'on_contact' })).toEqual(refusal('VALIDATION_FAILED'));
    expect(await ask('offer:accept', { offerId: crypto.randomUUID() })).toEqual(refusal('OFFER_NOT_FOUND'));
    expect(await ask('offer:steal', { offerId: crypto.randomUUID() })).toEqual(refusal('NOT_FOUND'));
    const validation = (await ask('offer:accept', { offerId: 42 })) as { error: SocketError };
    expect(validation.error.message).toMatch(/offerId/);

    // Requests without an acknowledgement are served or refused silently, never a crash.
    (socket as unknown as ClientSocket).emit('offer:accept', { offerId: 'nope' });
    (socket as unknown as ClientSocket).emit('state:set');
    expect(await socket.emitWithAck('state:set', { state: 'offline' })).toMatchObject({ ok: true });
    expect(socket.connected).toBe(true);
    socket.disconnect();
  });
});

describe('presence', () => {
  it('sets an agent offline once their last socket has been gone for the grace, not before, and withdraws their offers', async () => {
    const watch = offlineWatch(ctx.services.events);
    const { agentId, socket, events } = await consoleOf();
    await socket.emitWithAck('state:set', { state: 'available' });
    const offer = await offerFor(agentId, events);

    const leftAt = Date.now();
    socket.disconnect();
    await waitFor(async () => ((await ctx.services.presence.liveSockets(agentId)) === 0 ? true : undefined));
    await sleep(graceMs / 2);
    expect(await stateOf(agentId)).toBe('available');

    await waitFor(async () => watch.at.get(agentId));
    expect(watch.at.get(agentId)! - leftAt).toBeGreaterThanOrEqual(graceMs);
    expect(await stateOf(agentId)).toBe('offline');
    // Going offline withdraws the live offer (right after the state change), so the contact can go elsewhere.
    const withdrawn = await waitFor(async () => {
      const [stored] = await ctx.services.repositories.routing.offersOf(offer.interactionId);
      return stored?.status === 'offered' ? undefined : stored;
    });
    expect(withdrawn.status).toBe('cancelled');
    watch.stop();
  });

  it('keeps the state of an agent who reconnects within the grace', async () => {
    const watch = offlineWatch(ctx.services.events);
    const { agentId, cookie, socket } = await consoleOf();
    await socket.emitWithAck('state:set', { state: 'away', reason: 'lunch' });

    socket.disconnect();
    await sleep(graceMs / 4);
    const back = connect(baseUrl, { cookie });
    const backEvents = recorder(back);
    await opened(back);
    expect(await backEvents.next('state')).toEqual({
      agentId,
      state: 'away',
      from: null,
      awayReason: 'lunch',
    });

    await sleep(graceMs + 5 * heartbeatMs);
    expect(await stateOf(agentId)).toBe('away');
    expect(watch.at.has(agentId)).toBe(false);
    back.disconnect();
    watch.stop();
  });

  it('keeps an agent with one tab of two closed, and never touches an agent who had no console', async () => {
    const watch = offlineWatch(ctx.services.events);
    const { agentId, cookie, socket } = await consoleOf();
    const otherTab = connect(baseUrl, { cookie });
    await opened(otherTab);
    await socket.emitWithAck('state:set', { state: 'available' });
    // An agent made available without any socket (by an admin tool, say): presence does not know them.
    const headless = await agentWithSession();
    await ctx.services.agentStates.setState(headless.agentId, 'available');

    socket.disconnect();
    await sleep(graceMs + 5 * heartbeatMs);
    expect(await stateOf(agentId)).toBe('available');
    expect(await stateOf(headless.agentId)).toBe('available');
    expect(await ctx.services.presence.liveSockets(agentId)).toBe(1);
    expect(watch.at.size).toBe(0);
    otherTab.disconnect();
    watch.stop();
  });
});

describe('across processes', () => {
  let second: Awaited<ReturnType<typeof buildApp>>;
  let secondUrl: string;

  beforeAll(async () => {
    // A second app on the same schema and prefix: another member of the cluster (no job worker of its own).
    second = await buildApp({ config: ctx.config, isWorker: false });
    await second.app.listen({ host: '127.0.0.1', port: 0 });
    secondUrl = `http://127.0.0.1:${(second.app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await second?.app.close();
  });

  it('delivers an offer made on one process to the agent’s socket on another, and takes the answer there', async () => {
    const { agentId, socket, events } = await consoleOf('agent', secondUrl);
    expect(await socket.emitWithAck('state:set', { state: 'available' })).toMatchObject({ ok: true });

    // Routed by the test's app: the offer.created event is published there, the socket is held by the second.
    const offer = await offerFor(agentId, events);
    expect(await socket.emitWithAck('offer:accept', { offerId: offer.offerId })).toEqual({
      ok: true,
      interactionId: offer.interactionId,
    });
    expect(await events.next('offer:ended')).toMatchObject({ outcome: 'accepted' });

    // Accepting made the agent's sockets, on every process, follow the interaction: a note added on the
    // test's app reaches the socket held by the second.
    const author = await ctx.services.agents.get(agentId);
    const note = await ctx.services.interactions.addNote(offer.interactionId, 'called back', author);
    expect(await events.next('interaction:event')).toEqual({
      interactionId: offer.interactionId,
      type: 'note.added',
      eventId: note.id,
      payload: { agentId },
    });
    socket.disconnect();
  });

  it('counts an agent’s sockets on every process: one closing never sets them offline while another lives', async () => {
    const watch = offlineWatch(ctx.services.events, second.services.events);
    const here = await consoleOf('supervisor');
    const there = connect(secondUrl, { cookie: here.cookie });
    await opened(there);
    await here.socket.emitWithAck('state:set', { state: 'available' });
    expect(await ctx.services.presence.liveSockets(here.agentId)).toBe(2);

    here.socket.disconnect();
    await sleep(graceMs + 5 * heartbeatMs);
    expect(await stateOf(here.agentId)).toBe('available');
    expect(await second.services.presence.liveSockets(here.agentId)).toBe(1);
    expect(watch.at.has(here.agentId)).toBe(false);

    // The last one, on the other process, leaves: now the grace runs, and then the agent is offline.
    const leftAt = Date.now();
    there.disconnect();
    await waitFor(async () => watch.at.get(here.agentId));
    expect(watch.at.get(here.agentId)! - leftAt).toBeGreaterThanOrEqual(graceMs);
    watch.stop();
  });

  it('sets offline, after the grace, an agent whose only socket died with a killed process', async () => {
    const { port, pid } = await workerReady!;

    const watch = offlineWatch(ctx.services.events);
    const { agentId, socket } = await consoleOf('agent', `http://127.0.0.1:${port}`);
    await socket.emitWithAck('state:set', { state: 'available' });
    await sleep(3 * heartbeatMs);
    expect(await ctx.services.presence.liveSockets(agentId)).toBe(1);

    // SIGKILL: no disconnect handler runs, the socket's presence entry just stops being refreshed.
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await closed(socket);
    await sleep(graceMs / 2);
    expect(await stateOf(agentId)).toBe('available');

    await waitFor(async () => watch.at.get(agentId));
    expect(watch.at.get(agentId)! - killedAt).toBeGreaterThanOrEqual(graceMs - heartbeatMs);
    expect(await ctx.services.presence.liveSockets(agentId)).toBe(0);
    watch.stop();
  });
});

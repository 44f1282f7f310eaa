import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSessionStore, type SessionStore } from '../../src/agents/session.store.js';
import type { Role } from '../../src/db/repositories/agents.repository.js';
import type { AgentClientToServerEvents, AgentServerToClientEvents } from '../../src/realtime/index.js';
import { queueContact, resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Transfer to a colleague over HTTP, on a real Postgres and Redis: the picker's list (every colleague with
 * state, load and capacity on the channel, those who can take it first, the others with their reason), and
 * the transfer refused with the colleague's name and the reason when they are not working, not eligible for
 * the contact's queue, or full, with nothing changed; accepted otherwise. The agent sockets follow the move:
 * the new holder's socket follows the interaction (also one that connects later), the old one's stops.
 */

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let sessions: SessionStore;
let redis: Redis;
let baseUrl: string;
const sockets: Client[] = [];

type Client = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({ config: { routingRulesDir: rules.dir, routeOnIngest: false } });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  redis = new Redis(ctx.config.redisUrl!);
  sessions = createSessionStore(redis, ctx.config.redisPrefix, 3600);
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  redis?.disconnect();
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

interface TestAgent {
  agentId: string;
  name: string;
  cookie: string;
}

async function agent(
  name: string,
  options: { role?: Role; skills?: Record<string, number>; state?: 'available' | 'away' | 'offline' } = {},
): Promise<TestAgent> {
  const unique = `${name} ${randomBytes(3).toString('hex')}`;
  const created = await ctx.services.repositories.agents.create({
    email: `${unique.replace(/\s/g, '-').toLowerCase()}@transfer.test`,
    displayName: unique,
    role: options.role ?? 'agent',
    passwordHash: 'not-a-real-hash',
    skills: options.skills ?? {},
    capacity: {},
  });
  if (options.state)
    await ctx.services.agentStates.setState(
      created.id,
      options.state,
      options.state === 'away' ? 'Lunch' : null,
    );
  return {
    agentId: created.id,
    name: unique,
    cookie: `sb_session=${await sessions.create(created.id)}`,
  };
}

/** A chat waiting in the billing queue (skills: billing 2), assigned by hand to `holder`. */
async function billingChatOf(holder: TestAgent): Promise<string> {
  const id = await queueContact(ctx.services, 'chat', 'a question about my invoice');
  await ctx.services.routing.move(
    id,
    'assign',
    { agentId: holder.agentId, role: 'supervisor' },
    { agentId: holder.agentId },
    null,
  );
  return id;
}

const http = (method: 'GET' | 'POST', url: string, who: TestAgent, payload?: object) =>
  ctx.app.inject({ method, url, headers: { cookie: who.cookie }, ...(payload && { payload }) });

const holderOf = async (id: string) =>
  (await ctx.services.repositories.interactions.findById(id))?.assigneeId;

interface Target {
  agentId: string;
  displayName: string;
  state: string;
  awayReason: string | null;
  load: number;
  capacity: number;
  refusal: { code: string; reason: string } | null;
}

/** A team around Ada, who holds a billing chat: one colleague who can take it, and one per reason not to. */
async function team() {
  const ada = await agent('Ada', { state: 'available' });
  const bob = await agent('Bob', { skills: { billing: 3 }, state: 'available' });
  const cy = await agent('Cy', { skills: { billing: 3 }, state: 'away' });
  const dee = await agent('Dee', { skills: { spanish: 3 }, state: 'available' });
  const eve = await agent('Eve', { skills: { billing: 2 }, state: 'available' });
  const fay = await agent('Fay', { skills: { billing: 5 } });
  // Eve holds two chats: the test rules' chat capacity.
  for (let i = 0; i < 2; i++) await billingChatOf(eve);
  const chat = await billingChatOf(ada);
  return { ada, bob, cy, dee, eve, fay, chat };
}

describe('GET /api/interactions/:id/transfer-targets', () => {
  it('lists every colleague with state and load, who can take it first, the others with their reason', async () => {
    const { ada, bob, cy, dee, eve, fay, chat } = await team();
    const response = await http('GET', `/api/interactions/${chat}/transfer-targets`, ada);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ channel: string; queue: string; agents: Target[] }>();
    expect(body).toMatchObject({ channel: 'chat', queue: 'billing' });
    const mine = new Set([bob, cy, dee, eve, fay].map((a) => a.agentId));
    const listed = body.agents.filter((a) => mine.has(a.agentId));
    // Ada, who asks and holds it, is not listed; agents of other tests are (they are colleagues too).
    expect(body.agents.some((a) => a.agentId === ada.agentId)).toBe(false);
    expect(listed[0]).toEqual({
      agentId: bob.agentId,
      displayName: bob.name,
      state: 'available',
      awayReason: null,
      load: 0,
      capacity: 2,
      refusal: null,
    });
    const byId = new Map(listed.map((a) => [a.agentId, a]));
    expect(byId.get(cy.agentId)).toMatchObject({
      state: 'away',
      awayReason: 'Lunch',
      refusal: { code: 'AGENT_NOT_WORKING', reason: 'is away (Lunch)' },
    });
    expect(byId.get(dee.agentId)?.refusal).toEqual({
      code: 'AGENT_NOT_ELIGIBLE',
      reason: 'lacks skill billing',
    });
    expect(byId.get(eve.agentId)).toMatchObject({
      state: 'on_contact',
      load: 2,
      capacity: 2,
      refusal: { code: 'AGENT_AT_CAPACITY', reason: 'is at chat capacity (2/2)' },
    });
    expect(byId.get(fay.agentId)).toMatchObject({
      state: 'offline',
      refusal: { code: 'AGENT_NOT_WORKING', reason: 'is offline' },
    });
    // Those who can take it come before every one who cannot.
    const firstRefused = body.agents.findIndex((a) => a.refusal !== null);
    expect(body.agents.slice(firstRefused).every((a) => a.refusal !== null)).toBe(true);
  });

  it('answers 404 for an unknown interaction', async () => {
    const ada = await agent('Ada');
    const response = await http(
      'GET',
      '/api/interactions/00000000-0000-4000-8000-000000000000/transfer-targets',
      ada,
    );
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'INTERACTION_NOT_FOUND' } });
  });
});

describe('POST /api/interactions/:id/transfer to an agent', () => {
  it('refuses a colleague who is not working, not eligible or full, by name and reason, changing nothing', async () => {
    const { ada, cy, dee, eve, fay, chat } = await team();
    const refusals = [
      [cy, 409, 'AGENT_NOT_WORKING', `${cy.name} is away (Lunch): choose someone else, or a queue.`],
      [fay, 409, 'AGENT_NOT_WORKING', `${fay.name} is offline: choose someone else, or a queue.`],
      [dee, 409, 'AGENT_NOT_ELIGIBLE', `${dee.name} lacks skill billing: choose someone else, or a queue.`],
      [
        eve,
        409,
        'AGENT_AT_CAPACITY',
        `${eve.name} is at chat capacity (2/2): choose someone else, or a queue.`,
      ],
    ] as const;
    for (const [target, status, code, message] of refusals) {
      const response = await http('POST', `/api/interactions/${chat}/transfer`, ada, {
        agentId: target.agentId,
        note: 'please take over',
      });
      expect(response.statusCode, response.body).toBe(status);
      expect(response.json()).toMatchObject({ error: { code, message } });
    }
    expect(await holderOf(chat)).toBe(ada.agentId);
    const { events } = await ctx.services.interactions.detail(chat);
    expect(events.filter((e) => e.type === 'routing.transferred' && e.payload.kind === 'transfer')).toEqual(
      [],
    );
  });

  it('moves the chat to an eligible colleague with the note, and the old holder can no longer move it', async () => {
    const { ada, bob, chat } = await team();
    const response = await http('POST', `/api/interactions/${chat}/transfer`, ada, {
      agentId: bob.agentId,
      note: 'customer wants a refund',
    });
    expect(response.statusCode, response.body).toBe(204);
    expect(await holderOf(chat)).toBe(bob.agentId);
    expect((await ctx.services.agentStates.status(ada.agentId))?.loads).toEqual({});
    expect((await ctx.services.agentStates.status(bob.agentId))?.loads).toEqual({ chat: 1 });
    const { events } = await ctx.services.interactions.detail(chat);
    const transfer = events.find((e) => e.type === 'routing.transferred' && e.payload.kind === 'transfer');
    expect(transfer?.payload).toMatchObject({
      kind: 'transfer',
      fromAgentId: ada.agentId,
      toAgentId: bob.agentId,
      note: 'customer wants a refund',
    });

    const again = await http('POST', `/api/interactions/${chat}/transfer`, ada, { agentId: ada.agentId });
    expect(again.statusCode).toBe(403);
    expect(again.json()).toMatchObject({ error: { code: 'NOT_ASSIGNEE' } });
    const toHolder = await http('POST', `/api/interactions/${chat}/transfer`, bob, { agentId: bob.agentId });
    expect(toHolder.statusCode).toBe(400);
    expect(toHolder.json()).toMatchObject({
      error: { code: 'VALIDATION_FAILED', message: 'That agent already holds this contact.' },
    });
  });

  it('leaves a supervisor’s assign free to override state and skills', async () => {
    const { cy, chat } = await team();
    const sue = await agent('Sue', { role: 'supervisor' });
    const response = await http('POST', `/api/interactions/${chat}/assign`, sue, { agentId: cy.agentId });
    expect(response.statusCode, response.body).toBe(204);
    expect(await holderOf(chat)).toBe(cy.agentId);
  });

  it('transfers to a queue as before', async () => {
    const { ada, chat } = await team();
    const response = await http('POST', `/api/interactions/${chat}/transfer`, ada, { queue: 'general' });
    expect(response.statusCode, response.body).toBe(204);
    expect(await ctx.services.repositories.interactions.findById(chat)).toMatchObject({
      assigneeId: null,
      queue: 'general',
    });
  });
});

describe('the agent sockets follow a transfer', () => {
  function connect(who: TestAgent): Promise<Client> {
    const socket: Client = connectClient(`${baseUrl}/agent`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { origin: ctx.config.publicBaseUrl, cookie: who.cookie },
    });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }

  const typing = async (socket: Client, interactionId: string) =>
    socket.emitWithAck('typing', { interactionId, isTyping: true });

  it('a socket that connects later follows its agent’s work; the old holder’s stops following it', async () => {
    const { ada, bob, chat } = await team();
    // Ada's console connects after the chat was assigned to her: it follows it all the same.
    const adaSocket = await connect(ada);
    await expect.poll(() => typing(adaSocket, chat)).toEqual({ ok: true });

    const pushed: string[] = [];
    adaSocket.on('interaction:event', (event) => pushed.push(event.type));
    const moved = await http('POST', `/api/interactions/${chat}/transfer`, ada, { agentId: bob.agentId });
    expect(moved.statusCode, moved.body).toBe(204);
    // The transfer reaches Ada's console; after it, she may not type on the chat any more.
    await expect.poll(() => pushed).toContain('interaction.assigned');
    await expect
      .poll(async () => typing(adaSocket, chat))
      .toMatchObject({ ok: false, error: { code: 'NOT_ASSIGNEE' } });

    const bobSocket = await connect(bob);
    await expect.poll(() => typing(bobSocket, chat)).toEqual({ ok: true });
  });
});

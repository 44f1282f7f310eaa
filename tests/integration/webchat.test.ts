import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  ChatSessionPush,
} from '../../channels/webchat/index.js';
import { createSessionStore, type SessionStore } from '../../src/agents/session.store.js';
import { buildApp } from '../../src/app.js';
import type {
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  SocketError,
} from '../../src/realtime/index.js';
import { resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { recorder, waitFor } from '../support/wait-for.js';

/*
 * The web chat channel end to end with real socket.io-client connections on a real Postgres and Redis: the
 * visitor on the test's app, the agent's console on a second app on the same schema and prefix (another
 * member of the cluster). The handshake (widget, Origin, identity validation with the HMAC vector),
 * a message ingested as a chat interaction and routed, the agent's acceptance, typing and reply reaching
 * the visitor and the visitor's typing and messages reaching the agent, a reconnect with the stored token,
 * idempotent resends, limits, chat:close, and leave-a-message.
 *
 * What must never happen: a visitor admitted with a wrong identity hash or from a site the widget does not
 * allow; a resent message ingested twice; HTML in a message changed or interpreted by the server.
 */

const widgetOrigin = 'https://shop.example';
const identitySecret = 'webwidget-hmac-token-example';

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let visitorUrl: string;
let agentUrl: string;
let second: Awaited<ReturnType<typeof buildApp>>;
let redis: Redis;
let sessions: SessionStore;
const sockets: { disconnect(): unknown }[] = [];

type Visitor = ClientSocket<ChatServerToClientEvents, ChatClientToServerEvents>;
type Console = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({
    config: {
      routingRulesDir: rules.dir,
      webchat: {
        widgets: {
          shop: { allowedOrigins: [widgetOrigin], identitySecret, isIdentityRequired: false },
          strict: { allowedOrigins: ['*'], identitySecret, isIdentityRequired: true },
        },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 10,
        rateLimitWindowMs: 10_000,
      },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  visitorUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  second = await buildApp({ config: ctx.config, isWorker: false });
  await second.app.listen({ host: '127.0.0.1', port: 0 });
  agentUrl = `http://127.0.0.1:${(second.app.server.address() as AddressInfo).port}`;
  redis = new Redis(ctx.config.redisUrl!);
  sessions = createSessionStore(redis, ctx.config.redisPrefix, 3600);
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await second?.app.close();
  redis?.disconnect();
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

function visitor(auth: Record<string, string>, origin = widgetOrigin, url = visitorUrl): Visitor {
  const socket: Visitor = connectClient(`${url}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: { origin },
  });
  sockets.push(socket);
  return socket;
}

/** A visitor's socket, open, with its session push. */
async function openVisitor(auth: Record<string, string> = { widgetId: 'shop' }) {
  const socket = visitor(auth);
  const events = recorder(socket);
  const session = await events.next<ChatSessionPush>('chat:session');
  return { socket, events, session };
}

function refused(socket: Visitor): Promise<Error & { data?: SocketError }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('the socket was admitted')));
    socket.once('connect_error', resolve);
  });
}

/** An available agent with a console socket on the second app. */
async function availableAgent() {
  const name = `Agent ${randomBytes(3).toString('hex')}`;
  const agent = await ctx.services.repositories.agents.create({
    email: `${randomBytes(5).toString('hex')}@webchat.test`,
    displayName: name,
    role: 'agent',
    passwordHash: 'not-a-real-hash',
    skills: {},
    capacity: {},
  });
  const cookie = `sb_session=${await sessions.create(agent.id)}`;
  const socket: Console = connectClient(`${agentUrl}/agent`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { cookie, origin: ctx.config.publicBaseUrl },
  });
  sockets.push(socket);
  const events = recorder(socket);
  await events.next('state');
  expect(await socket.emitWithAck('state:set', { state: 'available' })).toMatchObject({ ok: true });
  return { agent, socket, events };
}

const clientId = () => randomBytes(6).toString('hex');

describe('handshake', () => {
  it('accepts the identity vector and refuses a wrong hash (401)', async () => {
    const good = await openVisitor({
      widgetId: 'shop',
      userId: 'user-42',
      userHash: '7919e2edee1bb029e35893e35c54e4962fdb8459c82c8c993a5451863fbaf5a6',
    });
    expect(good.session.conversationId).toMatch(/^u-/);

    const bad = refused(visitor({ widgetId: 'shop', userId: 'user-42', userHash: '00'.repeat(32) }));
    expect((await bad).data).toMatchObject({ code: 'NOT_AUTHENTICATED' });
    const missing = refused(visitor({ widgetId: 'strict' }));
    expect((await missing).data).toMatchObject({ code: 'NOT_AUTHENTICATED' });
  });

  it('refuses an unknown widget and a site the widget does not allow', async () => {
    expect((await refused(visitor({ widgetId: 'nope' }))).data).toMatchObject({ code: 'FORBIDDEN' });
    expect((await refused(visitor({ widgetId: 'shop' }, 'https://evil.example'))).data).toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('starts a new conversation for a forged token', async () => {
    const { session } = await openVisitor({ widgetId: 'shop' });
    const forged = `${session.conversationId}.${'A'.repeat(43)}`;
    const again = await openVisitor({ widgetId: 'shop', token: forged });
    expect(again.session.conversationId).not.toBe(session.conversationId);
  });
});

describe('a chat', () => {
  it('reaches an agent on another process and back, and survives a reconnect', async () => {
    const { agent, socket: agentSocket, events: agentEvents } = await availableAgent();
    const { socket, events, session } = await openVisitor();
    expect(session).toMatchObject({ interactionId: null, isOpen: false, messages: [] });
    expect(await socket.emitWithAck('chat:start', { name: 'Ada', email: 'ada@example.com' })).toEqual({
      ok: true,
      isOffline: false,
    });

    const first = clientId();
    const sent = await socket.emitWithAck('message:send', { clientId: first, text: 'Hello, anyone?' });
    if (!sent.ok) throw new Error(sent.error.message);
    expect(sent.isDuplicate).toBe(false);

    // Ingested as a chat interaction with the visitor's identities, routed, offered to the agent (held
    // by the second process).
    const { interaction, events: logged } = await ctx.services.interactions.detail(sent.interactionId);
    expect(interaction).toMatchObject({ channel: 'chat', threadKey: `webchat:${session.conversationId}` });
    const received = logged.find((e) => e.type === 'message.received');
    expect(received?.payload).toMatchObject({
      text: 'Hello, anyone?',
      identities: [
        { kind: 'chat_visitor', value: session.conversationId },
        { kind: 'email', value: 'ada@example.com' },
      ],
    });
    const offer = await agentEvents.next<{ offerId: string; interactionId: string }>(
      'offer',
      (o) => o.interactionId === sent.interactionId,
    );
    expect(await agentSocket.emitWithAck('offer:accept', { offerId: offer.offerId })).toMatchObject({
      ok: true,
    });
    expect(await events.next('agent:joined')).toEqual({ name: agent.displayName });

    // Typing both ways.
    expect(
      await agentSocket.emitWithAck('typing', { interactionId: sent.interactionId, isTyping: true }),
    ).toEqual({ ok: true });
    expect(await events.next('typing')).toEqual({ from: 'agent', isTyping: true });
    expect(await socket.emitWithAck('typing', { isTyping: true })).toEqual({ ok: true });
    expect(
      await agentEvents.next<{ type: string; payload: unknown }>(
        'interaction:event',
        (e) => e.type === 'typing.changed',
      ),
    ).toMatchObject({ interactionId: sent.interactionId, payload: { from: 'customer', isTyping: true } });

    // The visitor's next message reaches the agent's console; the agent's reply reaches the visitor.
    const next = await socket.emitWithAck('message:send', { clientId: clientId(), text: 'My order is late' });
    expect(next).toMatchObject({ ok: true, interactionId: sent.interactionId });
    await agentEvents.next<{ type: string }>('interaction:event', (e) => e.type === 'message.received');
    await second.services.outbound.reply(sent.interactionId, agent, { text: 'Let me check that.' });
    expect(await events.next('message', (m) => m.from === 'agent')).toMatchObject({
      from: 'agent',
      text: 'Let me check that.',
      agentName: agent.displayName,
    });

    // A reload: the stored token brings back the same conversation, interaction and history.
    socket.disconnect();
    const again = await openVisitor({ widgetId: 'shop', token: session.token });
    expect(again.session).toMatchObject({
      conversationId: session.conversationId,
      interactionId: sent.interactionId,
      isOpen: true,
      agentName: agent.displayName,
    });
    expect(again.session.messages.map((m) => [m.from, m.text])).toEqual([
      ['visitor', 'Hello, anyone?'],
      ['visitor', 'My order is late'],
      ['agent', 'Let me check that.'],
    ]);
    expect(again.session.messages[0]?.clientId).toBe(first);

    // A resend after the reconnect is not ingested twice.
    const resent = await again.socket.emitWithAck('message:send', {
      clientId: first,
      text: 'Hello, anyone?',
    });
    expect(resent).toEqual({ ok: true, id: sent.id, interactionId: sent.interactionId, isDuplicate: true });
    const after = await ctx.services.interactions.detail(sent.interactionId);
    expect(after.events.filter((e) => e.type === 'message.received')).toHaveLength(2);

    // The visitor ends the chat: the interaction closes and every tab hears it.
    const otherTab = await openVisitor({ widgetId: 'shop', token: session.token });
    expect(await again.socket.emitWithAck('chat:close', {})).toEqual({ ok: true, wasOpen: true });
    expect(await otherTab.events.next('chat:closed')).toMatchObject({ reason: 'visitor closed the chat' });
    expect((await ctx.services.interactions.detail(sent.interactionId)).interaction.status).toBe('closed');
  });

  it('echoes a visitor message to their other tabs, not to the tab that sent it', async () => {
    const first = await openVisitor();
    const other = await openVisitor({ widgetId: 'shop', token: first.session.token });
    const id = clientId();
    expect(await first.socket.emitWithAck('message:send', { clientId: id, text: 'hi' })).toMatchObject({
      ok: true,
    });
    expect(await other.events.next('message')).toMatchObject({ clientId: id, from: 'visitor', text: 'hi' });
    expect(first.events.all('message')).toEqual([]);
  });

  it('withdraws a live offer when the visitor closes the chat', async () => {
    const { events: agentEvents } = await availableAgent();
    const { socket } = await openVisitor();
    const sent = await socket.emitWithAck('message:send', { clientId: clientId(), text: 'hello' });
    if (!sent.ok) throw new Error(sent.error.message);
    await agentEvents.next<{ interactionId: string }>('offer', (o) => o.interactionId === sent.interactionId);
    expect(await socket.emitWithAck('chat:close', {})).toEqual({ ok: true, wasOpen: true });
    expect(await agentEvents.next('offer:ended')).toMatchObject({
      interactionId: sent.interactionId,
      outcome: 'cancelled',
    });
  });
});

describe('content and limits', () => {
  it('stores HTML in a message and a name verbatim', async () => {
    const { socket } = await openVisitor();
    const html = '<img src=x onerror="alert(1)"><script>alert(2)</script> & <b>bold</b>';
    await socket.emitWithAck('chat:start', { name: '<b>Eve</b>' });
    const sent = await socket.emitWithAck('message:send', { clientId: clientId(), text: html });
    if (!sent.ok) throw new Error(sent.error.message);
    const { events } = await ctx.services.interactions.detail(sent.interactionId);
    expect(events.find((e) => e.type === 'message.received')?.payload.text).toBe(html);
    const { rows } = await ctx.services.pool.query<{ display_name: string }>(
      'select c.display_name from customers c join interactions i on i.customer_id = c.id where i.id = $1',
      [sent.interactionId],
    );
    expect(rows[0]?.display_name).toBe('<b>Eve</b>');
  });

  it('refuses a message over the size limit, and messages over the rate limit', async () => {
    const { socket } = await openVisitor();
    expect(
      await socket.emitWithAck('message:send', { clientId: clientId(), text: 'x'.repeat(4001) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
    const answers = [];
    for (let i = 0; i < 11; i += 1)
      answers.push(await socket.emitWithAck('message:send', { clientId: clientId(), text: `n${i}` }));
    // A message refused for its size is not counted: 10 in the window, the 11th refused.
    expect(answers.filter((a) => a.ok)).toHaveLength(10);
    expect(answers.at(-1)).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
  });

  it('answers a bad payload with an error ack', async () => {
    const { socket } = await openVisitor();
    expect(await socket.emitWithAck('message:send', { clientId: 'bad id!', text: '' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED' },
    });
  });
});

describe('leave a message', () => {
  it('with nobody working, the widget is told so and a left message becomes a queued interaction', async () => {
    const { socket } = await openVisitor();
    expect(await socket.emitWithAck('chat:start', { name: 'Bob' })).toEqual({ ok: true, isOffline: true });
    const left = await socket.emitWithAck('message:leave', {
      clientId: clientId(),
      text: 'Please call me back',
      email: 'Bob@Example.com',
    });
    if (!left.ok) throw new Error(left.error.message);
    const { interaction, events } = await waitFor(async () => {
      const detail = await ctx.services.interactions.detail(left.interactionId);
      return detail.interaction.status === 'queued' ? detail : undefined;
    });
    expect(interaction.channel).toBe('chat');
    expect(events.find((e) => e.type === 'message.received')?.payload).toMatchObject({
      text: 'Please call me back',
      hints: { leftMessage: true },
      identities: expect.arrayContaining([{ kind: 'email', value: 'bob@example.com' }]) as unknown,
    });
  });
});

describe('the widget script', () => {
  it('serves /widget.js and the socket.io client, publicly', async () => {
    const widget = await ctx.app.inject({ method: 'GET', url: '/widget.js' });
    expect(widget.statusCode).toBe(200);
    expect(widget.headers['content-type']).toMatch(/javascript/);
    expect(widget.body).toContain('SwitchboardChat');
    expect(widget.body).not.toMatch(/innerHTML|insertAdjacentHTML|document\.write/);
    const client = await ctx.app.inject({ method: 'GET', url: '/chat/socket.io.min.js' });
    expect(client.statusCode).toBe(200);
  });
});

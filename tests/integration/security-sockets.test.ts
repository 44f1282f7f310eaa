import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Manager, io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { chatRequestSchemas } from '../../channels/webchat/chat-events.js';
import { createSessionStore, type SessionStore } from '../../src/agents/session.store.js';
import type { Role } from '../../src/db/repositories/agents.repository.js';
import type { ErrorCode } from '../../src/errors.js';
import type { agentRequestSchemas } from '../../src/realtime/agent-events.js';
import { resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { recorder } from '../support/wait-for.js';

/*
 * Role × socket namespace × client event, on a listening app with real socket.io-client connections:
 *
 * - the handshake of /agent, /supervisor and /chat (the web chat widget's) for every caller: nobody, a chat
 *   visitor (their conversation token, offered as the session cookie, the bearer header and the handshake
 *   auth), an agent, a supervisor and an admin. Admitted callers connect; the rest get `connect_error` with
 *   `data.code` from src/errors.ts;
 * - every client event of every namespace, sent by every admitted caller: its own namespace's events are
 *   answered by an acknowledgement (a result, or a domain refusal, never a role refusal for a role the event
 *   admits), and the other namespaces' events are refused (NOT_FOUND) or, on /supervisor, which takes no
 *   requests, ignored with no effect;
 * - isolation: a visitor never receives another visitor's messages, nor any agent event (offers, states,
 *   internal notes); an agent receives no offer or event of an interaction they do not follow, cannot type
 *   on it, and cannot ask to join another agent's room.
 *
 * Absence is shown without sleeping: a socket's own acknowledged round trip comes after any push the server
 * sent it earlier on that connection.
 */

type Caller = 'anonymous' | 'visitor' | Role;
type Nsp = '/agent' | '/supervisor' | '/chat';
const callers: Caller[] = ['anonymous', 'visitor', 'agent', 'supervisor', 'admin'];
const namespaces: Nsp[] = ['/agent', '/supervisor', '/chat'];
const widgetOrigin = 'https://shop.example';

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let baseUrl: string;
let consoleOrigin: string;
let redis: Redis;
let sessions: SessionStore;
const opened: { disconnect(): unknown }[] = [];

type AnyClient = ClientSocket;
type Ack = { ok: true; [key: string]: unknown } | { ok: false; error: { code: ErrorCode; message: string } };

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({
    config: {
      routingRulesDir: rules.dir,
      webchat: {
        widgets: { shop: { allowedOrigins: [widgetOrigin], isIdentityRequired: false } },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 100,
        rateLimitWindowMs: 10_000,
      },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  consoleOrigin = new URL(ctx.config.publicBaseUrl).origin;
  redis = new Redis(ctx.config.redisUrl!);
  sessions = createSessionStore(redis, ctx.config.redisPrefix, 3600);
});

afterAll(async () => {
  for (const socket of opened) socket.disconnect();
  redis?.disconnect();
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

/** A new agent of `role` with a live session (minted by the real store: no password hashing per agent). */
async function staff(role: Role) {
  const name = `${role}-${randomBytes(4).toString('hex')}`;
  const agent = await ctx.services.repositories.agents.create({
    email: `${name}@sockets.test`,
    displayName: name,
    role,
    passwordHash: 'not-a-real-hash',
    skills: {},
    capacity: {},
  });
  return { agentId: agent.id, name, cookie: `sb_session=${await sessions.create(agent.id)}` };
}

/** A chat visitor's conversation token, as the widget keeps it (from a socket that then goes away). */
async function visitorToken(): Promise<string> {
  const socket = chatSocket({ widgetId: 'shop' });
  const session = await recorder(socket).next<{ token: string }>('chat:session');
  socket.disconnect();
  return session.token;
}

function chatSocket(auth: Record<string, string>, headers: Record<string, string> = {}): AnyClient {
  const socket = connectClient(`${baseUrl}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: { origin: widgetOrigin, ...headers },
  });
  opened.push(socket);
  return socket;
}

/** What each caller presents: headers, and the handshake auth a widget would send. */
async function credentialsOf(
  caller: Caller,
  nsp: Nsp,
): Promise<{ headers: Record<string, string>; auth: Record<string, string>; agentId?: string }> {
  const origin = nsp === '/chat' ? widgetOrigin : consoleOrigin;
  if (caller === 'anonymous') return { headers: { origin }, auth: {} };
  if (caller === 'visitor') {
    const token = await visitorToken();
    return {
      headers: { origin, cookie: `sb_session=${token}`, authorization: `Bearer ${token}` },
      auth: nsp === '/chat' ? { widgetId: 'shop', token } : { token },
    };
  }
  const { cookie, agentId } = await staff(caller);
  return { headers: { origin, cookie }, auth: {}, agentId };
}

function connectAs(nsp: Nsp, credentials: { headers: Record<string, string>; auth: Record<string, string> }) {
  const socket = connectClient(`${baseUrl}${nsp}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: credentials.auth,
    extraHeaders: credentials.headers,
  });
  opened.push(socket);
  return socket;
}

/** Resolves with null once admitted, or with the refusal's code. */
function handshake(socket: AnyClient): Promise<string | null> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(null));
    socket.once('connect_error', (error: Error & { data?: { code?: string } }) =>
      resolve(error.data?.code ?? `no code: ${error.message}`),
    );
  });
}

/** Who each namespace admits; everyone else is refused with the code given. */
const handshakeTable: Record<Nsp, Record<Caller, ErrorCode | 'admitted'>> = {
  '/agent': {
    anonymous: 'NOT_AUTHENTICATED',
    visitor: 'NOT_AUTHENTICATED',
    agent: 'admitted',
    supervisor: 'admitted',
    admin: 'admitted',
  },
  '/supervisor': {
    anonymous: 'NOT_AUTHENTICATED',
    visitor: 'NOT_AUTHENTICATED',
    agent: 'FORBIDDEN',
    supervisor: 'admitted',
    admin: 'admitted',
  },
  // The widget's socket knows no session cookie: staff without a widget handshake are strangers there.
  '/chat': {
    anonymous: 'VALIDATION_FAILED',
    visitor: 'admitted',
    agent: 'VALIDATION_FAILED',
    supervisor: 'VALIDATION_FAILED',
    admin: 'VALIDATION_FAILED',
  },
};

describe('handshake: caller × namespace', () => {
  const cases = namespaces.flatMap((nsp) =>
    callers.map((caller) => ({ nsp, caller, expected: handshakeTable[nsp][caller] })),
  );
  it.each(cases)('$caller on $nsp: $expected', async ({ nsp, caller, expected }) => {
    const socket = connectAs(nsp, await credentialsOf(caller, nsp));
    expect(await handshake(socket)).toBe(expected === 'admitted' ? null : expected);
    socket.disconnect();
  });

  it('a visitor on /chat gets their own conversation back, never a session of the staff', async () => {
    const token = await visitorToken();
    const socket = chatSocket({ widgetId: 'shop', token });
    const session = await recorder(socket).next<{ token: string; conversationId: string }>('chat:session');
    expect(session.token).toBe(token);
    // A staff cookie beside a widget handshake changes nothing: it is an anonymous visitor's new chat.
    const { cookie } = await staff('admin');
    const mixed = chatSocket({ widgetId: 'shop' }, { cookie });
    const mixedSession = await recorder(mixed).next<{ conversationId: string }>('chat:session');
    expect(mixedSession.conversationId).not.toBe(session.conversationId);
  });
});

/*
 * Each namespace's events with a valid payload, and what an admitted caller is answered: `ok`, or the domain
 * refusal the payload earns (an offer or interaction that is not theirs). A role refusal here would be a bug:
 * every /agent event admits any staff role, every /chat event any visitor.
 */
const agentEventCases: Record<
  keyof typeof agentRequestSchemas,
  { payload: () => object; answer: 'ok' | ErrorCode }
> = {
  'state:set': { payload: () => ({ state: 'away', reason: 'matrix' }), answer: 'ok' },
  'offer:accept': { payload: () => ({ offerId: randomUUID() }), answer: 'OFFER_NOT_FOUND' },
  'offer:reject': { payload: () => ({ offerId: randomUUID() }), answer: 'OFFER_NOT_FOUND' },
  typing: { payload: () => ({ interactionId: randomUUID(), isTyping: true }), answer: 'NOT_ASSIGNEE' },
};
const chatEventCases: Record<
  keyof typeof chatRequestSchemas,
  { payload: () => object; answer: 'ok' | ErrorCode }
> = {
  'chat:start': { payload: () => ({ name: 'Matrix Visitor' }), answer: 'ok' },
  'message:send': { payload: () => ({ clientId: randomUUID(), text: 'matrix hello' }), answer: 'ok' },
  typing: { payload: () => ({ isTyping: true }), answer: 'ok' },
  'chat:close': { payload: () => ({}), answer: 'ok' },
  'message:leave': { payload: () => ({ clientId: randomUUID(), text: 'matrix left' }), answer: 'ok' },
  'suggestions:answer': {
    payload: () => ({ interactionId: randomUUID(), replyId: null }),
    answer: 'CANNED_REPLY_NOT_SUGGESTED',
  },
};
const eventsOf: Record<Nsp, Record<string, { payload: () => object; answer: 'ok' | ErrorCode }>> = {
  '/agent': agentEventCases,
  // The supervisor dashboard's socket takes no requests (supervisor-events.ts): it only pushes the board.
  '/supervisor': {},
  '/chat': chatEventCases,
};
const allEvents = [
  ...Object.entries(agentEventCases).map(([name, c]) => ({ name, ...c })),
  ...Object.entries(chatEventCases).map(([name, c]) => ({ name, ...c })),
  // Names a hostile client might try: room joins and other namespaces' pushes.
  { name: 'join', payload: () => ({ room: 'agent:someone' }), answer: 'NOT_FOUND' },
  { name: 'board.snapshot', payload: () => ({}), answer: 'NOT_FOUND' },
];

function answerOf(ack: Ack): string {
  return ack.ok ? 'ok' : ack.error.code;
}

describe('events: admitted caller × namespace × event', () => {
  const admitted = namespaces.flatMap((nsp) =>
    callers.filter((caller) => handshakeTable[nsp][caller] === 'admitted').map((caller) => ({ nsp, caller })),
  );

  it.each(admitted.filter(({ nsp }) => nsp !== '/supervisor'))(
    '$caller on $nsp: its events are answered, every other name is refused',
    async ({ nsp, caller }) => {
      const credentials = await credentialsOf(caller, nsp);
      const own = eventsOf[nsp];
      // Its own events, then every other name (a name both namespaces know, `typing`, is its own here).
      const events = [
        ...Object.entries(own).map(([name, c]) => ({ name, ...c })),
        ...allEvents
          .filter((e) => !Object.hasOwn(own, e.name))
          .map((e) => ({ ...e, answer: 'NOT_FOUND' as const })),
      ];
      for (const event of events) {
        // A fresh socket per event: a closed chat or a state set by one event does not shape the next.
        const socket = connectAs(nsp, credentials);
        expect(await handshake(socket)).toBeNull();
        const ack = (await socket.timeout(10_000).emitWithAck(event.name, event.payload())) as Ack;
        expect(answerOf(ack), `${event.name} on ${nsp} as ${caller}: ${JSON.stringify(ack)}`).toBe(
          event.answer,
        );
        socket.disconnect();
      }
      if (nsp === '/agent' && credentials.agentId)
        expect((await ctx.services.agentStates.status(credentials.agentId))?.state).toBe('away');
    },
  );

  it.each(admitted.filter(({ nsp }) => nsp === '/supervisor'))(
    '$caller on /supervisor: no event is served, and none has an effect',
    async ({ caller }) => {
      const { cookie, agentId } = await staff(caller as Role);
      // One connection for both namespaces: packets are handled in the order they were sent, so the /agent
      // acknowledgement below comes after /supervisor has dealt with everything sent to it before.
      const manager = new Manager(baseUrl, {
        transports: ['websocket'],
        reconnection: false,
        extraHeaders: { origin: consoleOrigin, cookie },
      });
      const board = manager.socket('/supervisor');
      const agentSide = manager.socket('/agent');
      opened.push(board, agentSide);
      const handshakes = Promise.all([handshake(board), handshake(agentSide)]);
      board.connect();
      agentSide.connect();
      expect(await handshakes).toEqual([null, null]);
      const answered: string[] = [];
      for (const event of allEvents)
        board.emit(event.name, { ...event.payload(), state: 'available' }, () => answered.push(event.name));
      expect(answerOf((await agentSide.emitWithAck('offer:accept', { offerId: randomUUID() })) as Ack)).toBe(
        'OFFER_NOT_FOUND',
      );
      expect(answered).toEqual([]);
      expect((await ctx.services.agentStates.status(agentId))?.state ?? 'offline').toBe('offline');
      board.disconnect();
      agentSide.disconnect();
    },
  );
});

describe('isolation', () => {
  const chatPushes = new Set([
    'chat:session',
    'message',
    'agent:joined',
    'typing',
    'chat:closed',
    'answers:suggested',
  ]);
  const seenText = (seen: { name: string; payload: unknown }[]) => JSON.stringify(seen);

  it('visitors hear only their own conversation and no agent event; agents only the work they follow', async () => {
    // Agent B takes the chat; agent A is connected but not available, and follows nothing.
    const a = await staff('agent');
    const b = await staff('agent');
    const supervisor = await staff('supervisor');
    const consoleOf = (cookie: string) =>
      connectAs('/agent', { headers: { origin: consoleOrigin, cookie }, auth: {} });
    const aSocket = consoleOf(a.cookie);
    const bSocket = consoleOf(b.cookie);
    const supSocket = consoleOf(supervisor.cookie);
    const everything = new Map<AnyClient, { name: string; payload: unknown }[]>();
    const handshakes: Promise<string | null>[] = [];
    for (const socket of [aSocket, bSocket, supSocket]) {
      const seen: { name: string; payload: unknown }[] = [];
      socket.onAny((name: string, payload: unknown) => seen.push({ name, payload }));
      everything.set(socket, seen);
      handshakes.push(handshake(socket));
    }
    expect(await Promise.all(handshakes)).toEqual([null, null, null]);
    const bEvents = recorder(bSocket);
    expect(answerOf((await bSocket.emitWithAck('state:set', { state: 'available' })) as Ack)).toBe('ok');

    const v1 = chatSocket({ widgetId: 'shop' });
    const v2 = chatSocket({ widgetId: 'shop' });
    const v1Seen: { name: string; payload: unknown }[] = [];
    const v2Seen: { name: string; payload: unknown }[] = [];
    v1.onAny((name: string, payload: unknown) => v1Seen.push({ name, payload }));
    v2.onAny((name: string, payload: unknown) => v2Seen.push({ name, payload }));
    const v1Events = recorder(v1);
    const v2Events = recorder(v2);
    await Promise.all([v1Events.next('chat:session'), v2Events.next('chat:session')]);

    const secret = `secret-of-v1-${randomUUID()}`;
    const sent = (await v1.emitWithAck('message:send', { clientId: 'v1-first', text: secret })) as Ack & {
      interactionId: string;
    };
    expect(sent.ok).toBe(true);
    const interactionId = sent.interactionId;
    const offer = await bEvents.next<{ offerId: string; interactionId: string }>(
      'offer',
      (o) => o.interactionId === interactionId,
    );
    // A cannot take B's offer.
    expect(answerOf((await aSocket.emitWithAck('offer:accept', { offerId: offer.offerId })) as Ack)).toBe(
      'OFFER_NOT_YOURS',
    );
    expect(answerOf((await bSocket.emitWithAck('offer:accept', { offerId: offer.offerId })) as Ack)).toBe(
      'ok',
    );
    await v1Events.next('agent:joined');

    // An internal note reaches B's console, and no visitor.
    const note = `internal-note-${randomUUID()}`;
    const noted = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${interactionId}/notes`,
      headers: { cookie: b.cookie, origin: consoleOrigin },
      payload: { text: note },
    });
    expect(noted.statusCode, noted.body).toBe(201);
    await bEvents.next<{ type: string }>('interaction:event', (e) => e.type === 'note.added');

    // B types and replies: visitor 1 hears it, visitor 2 does not.
    expect(answerOf((await bSocket.emitWithAck('typing', { interactionId, isTyping: true })) as Ack)).toBe(
      'ok',
    );
    await v1Events.next('typing');
    const reply = `reply-to-v1-${randomUUID()}`;
    const bAgent = (await ctx.services.repositories.agents.findById(b.agentId))!;
    await ctx.services.outbound.reply(interactionId, bAgent, { text: reply });
    await v1Events.next<{ text: string }>('message', (m) => m.text === reply);

    // Visitor 2 writes too; visitor 1 must not hear it.
    const other = `secret-of-v2-${randomUUID()}`;
    expect(((await v2.emitWithAck('message:send', { clientId: 'v2-first', text: other })) as Ack).ok).toBe(
      true,
    );

    // A cannot type on B's chat, nor ask to join B's room or the interaction's.
    expect(answerOf((await aSocket.emitWithAck('typing', { interactionId, isTyping: true })) as Ack)).toBe(
      'NOT_ASSIGNEE',
    );
    for (const room of [`agent:${b.agentId}`, `interaction:${interactionId}`])
      expect(answerOf((await aSocket.emitWithAck('join', room)) as Ack)).toBe('NOT_FOUND');

    // B adds another note after A's attempts: A still hears nothing of it.
    const later = await ctx.services.interactions.addNote(interactionId, 'after the join attempt', bAgent);
    await bEvents.next<{ eventId: string }>('interaction:event', (e) => e.eventId === later.id);

    // Round trips: whatever was pushed to these sockets before has arrived.
    await aSocket.emitWithAck('offer:reject', { offerId: randomUUID() });
    await supSocket.emitWithAck('offer:reject', { offerId: randomUUID() });
    await v1.emitWithAck('typing', { isTyping: false });
    await v2.emitWithAck('typing', { isTyping: false });

    // Agent A and the supervisor (who does not follow it either) saw nothing of the interaction.
    for (const socket of [aSocket, supSocket]) {
      const seen = everything.get(socket)!;
      expect(seen.filter((e) => e.name === 'offer' || e.name === 'interaction:event')).toEqual([]);
      expect(seenText(seen)).not.toContain(interactionId);
      expect(seenText(seen)).not.toContain(b.agentId);
    }
    // The visitors got chat pushes only, and each only their own conversation's.
    for (const seen of [v1Seen, v2Seen]) {
      expect(seen.map((e) => e.name).filter((name) => !chatPushes.has(name))).toEqual([]);
      expect(seenText(seen)).not.toContain(note);
      expect(seenText(seen)).not.toContain('after the join attempt');
      expect(seenText(seen)).not.toContain(offer.offerId);
    }
    expect(seenText(v2Seen)).not.toContain(secret);
    expect(seenText(v2Seen)).not.toContain(reply);
    expect(seenText(v1Seen)).not.toContain(other);
    // Nor did the visitor's pushes name the agent's id or role.
    expect(seenText(v1Seen)).not.toContain(b.agentId);
  });

  it('a token of one conversation never opens another: a tampered token starts a new chat', async () => {
    const first = chatSocket({ widgetId: 'shop' });
    const session = await recorder(first).next<{ token: string; conversationId: string }>('chat:session');
    const other = await visitorToken();
    const otherSignature = other.slice(other.lastIndexOf('.') + 1);
    // The first conversation's id under another conversation's signature.
    const forged = `${session.conversationId}.${otherSignature}`;
    const socket = chatSocket({ widgetId: 'shop', token: forged });
    const forgedSession = await recorder(socket).next<{ conversationId: string }>('chat:session');
    expect(forgedSession.conversationId).not.toBe(session.conversationId);
  });
});

import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  ChatSessionPush,
  ChatSuggestionsPush,
} from '../../channels/webchat/index.js';
import { createSessionStore, type SessionStore } from '../../src/agents/session.store.js';
import type { Agent } from '../../src/db/repositories/agents.repository.js';
import type { AgentClientToServerEvents, AgentServerToClientEvents } from '../../src/realtime/index.js';
import { resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { recorder, waitFor } from '../support/wait-for.js';

/*
 * Standard answers offered to a web chat visitor before they wait for a person, with real socket.io
 * clients on a real Postgres and Redis: the visitor's first message is matched by keywords against the
 * answers flagged for visitors; matches arrive as `answers:suggested` while routing goes on (an available
 * agent is offered the chat meanwhile); the visitor's answer is logged; "that answered me" closes the
 * contact as self-served (the agent's offer withdrawn), "I still need a person" leaves it to routing.
 *
 * What must never happen: a reply not flagged for visitors, not for chat, or with a placeholder the visitor
 * would see unfilled, offered; a visitor answering for a conversation that is not theirs; one answer
 * recorded twice.
 */

const origin = 'https://shop.example';
let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let url: string;
let redis: Redis;
let sessions: SessionStore;
let supervisor: Agent;
const sockets: { disconnect(): unknown }[] = [];
const replyIds: Record<string, string> = {};

type Visitor = ClientSocket<ChatServerToClientEvents, ChatClientToServerEvents>;
type Console = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({
    config: {
      routingRulesDir: rules.dir,
      webchat: {
        widgets: { shop: { allowedOrigins: [origin], identitySecret: undefined, isIdentityRequired: false } },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 50,
        rateLimitWindowMs: 10_000,
      },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  redis = new Redis(ctx.config.redisUrl!);
  sessions = createSessionStore(redis, ctx.config.redisPrefix, 3600);
  supervisor = await ctx.services.agents.get((await ctx.loginAs('supervisor')).agentId);

  const answers = ctx.services.cannedReplies;
  const add = async (key: string, input: Parameters<typeof answers.create>[0]) => {
    replyIds[key] = (await answers.create(input, supervisor)).id;
  };
  await add('password', {
    title: 'Reset your password',
    body: 'Hi {{customer.firstName}}: use "Forgot password" on the login page. Your ticket is {{ticket}}.',
    keywords: ['password', 'reset password', 'login'],
    isVisitorSuggestible: true,
  });
  await add('refund', {
    title: 'Refunds',
    body: 'Refunds reach your card within 5 days.',
    keywords: ['refund'],
    channels: ['chat', 'email'],
    isVisitorSuggestible: true,
  });
  // Each of these matches "password" too, and must never reach a visitor.
  await add('internal', {
    title: 'Password (internal)',
    body: 'Check the admin panel.',
    keywords: ['password'],
    isVisitorSuggestible: false,
  });
  await add('emailOnly', {
    title: 'Password by email',
    body: 'See the attached guide.',
    keywords: ['password'],
    channels: ['email'],
    isVisitorSuggestible: true,
  });
  await add('needsAgent', {
    title: 'Password, signed',
    body: 'Regards, {{agent.name}}',
    keywords: ['password'],
    isVisitorSuggestible: true,
  });
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

async function openVisitor(auth: Record<string, string> = { widgetId: 'shop' }) {
  const socket: Visitor = connectClient(`${url}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: { origin },
  });
  sockets.push(socket);
  const events = recorder(socket);
  const session = await events.next<ChatSessionPush>('chat:session');
  return { socket, events, session };
}

/** A visitor who gave their name and sent a first message; the message's interaction. */
async function chatting(text: string, name = 'Ada Lovelace') {
  const visitor = await openVisitor();
  expect(await visitor.socket.emitWithAck('chat:start', { name })).toMatchObject({ ok: true });
  const sent = await visitor.socket.emitWithAck('message:send', {
    clientId: randomBytes(6).toString('hex'),
    text,
  });
  if (!sent.ok) throw new Error(sent.error.message);
  return { ...visitor, interactionId: sent.interactionId };
}

async function availableAgent() {
  const agent = await ctx.services.repositories.agents.create({
    email: `${randomBytes(5).toString('hex')}@suggestions.test`,
    displayName: `Agent ${randomBytes(3).toString('hex')}`,
    role: 'agent',
    passwordHash: 'not-a-real-hash',
    skills: {},
    capacity: {},
  });
  const socket: Console = connectClient(`${url}/agent`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: {
      cookie: `sb_session=${await sessions.create(agent.id)}`,
      origin: ctx.config.publicBaseUrl,
    },
  });
  sockets.push(socket);
  const events = recorder(socket);
  await events.next('state');
  expect(await socket.emitWithAck('state:set', { state: 'available' })).toMatchObject({ ok: true });
  return { agent, socket, events };
}

const logOf = async (interactionId: string) => ctx.services.interactions.detail(interactionId);
const typesOf = async (interactionId: string) => (await logOf(interactionId)).events.map((e) => e.type);

describe('standard answers offered to a visitor', () => {
  it('offers the matching visitor answers, rendered, while routing goes on; "answered" closes it as self-served', async () => {
    const { events: agentEvents } = await availableAgent();
    const visitor = await chatting('Hi, my LOGIN fails: I forgot my password');

    const pushed = await visitor.events.next<ChatSuggestionsPush>('answers:suggested');
    const { interaction } = await logOf(visitor.interactionId);
    expect(pushed).toEqual({
      interactionId: visitor.interactionId,
      suggestions: [
        {
          id: replyIds.password,
          title: 'Reset your password',
          text: `Hi Ada: use "Forgot password" on the login page. Your ticket is #${interaction.ticketNumber}.`,
        },
      ],
    });
    // Routing did not wait: the agent has the offer.
    const offer = await agentEvents.next<{ offerId: string; interactionId: string }>(
      'offer',
      (o) => o.interactionId === visitor.interactionId,
    );
    const suggested = (await logOf(visitor.interactionId)).events.find(
      (e) => e.type === 'cannedReply.suggested',
    );
    expect(suggested).toMatchObject({
      actorType: 'system',
      payload: {
        replies: [
          { replyId: replyIds.password, title: 'Reset your password', text: pushed.suggestions[0]!.text },
        ],
        matched: ['password', 'login'],
      },
    });

    const answer = await visitor.socket.emitWithAck('suggestions:answer', {
      interactionId: visitor.interactionId,
      replyId: replyIds.password!,
    });
    expect(answer).toEqual({ ok: true, isRecorded: true, isClosed: true });
    expect(await visitor.events.next('chat:closed')).toMatchObject({
      reason: 'self-served: the standard answer "Reset your password" answered them',
    });
    expect(await agentEvents.next('offer:ended', (e) => e.offerId === offer.offerId)).toMatchObject({
      outcome: 'cancelled',
    });
    const after = await logOf(visitor.interactionId);
    expect(after.interaction.status).toBe('closed');
    expect(after.events.find((e) => e.type === 'cannedReply.accepted')).toMatchObject({
      actorType: 'customer',
      payload: { replyId: replyIds.password, title: 'Reset your password', suggestedEventId: suggested!.id },
    });
    expect(after.events.find((e) => e.type === 'interaction.closed')?.payload).toMatchObject({
      reason: 'self-served: the standard answer "Reset your password" answered them',
    });

    // Another tab answering afterwards records nothing more.
    expect(
      await visitor.socket.emitWithAck('suggestions:answer', {
        interactionId: visitor.interactionId,
        replyId: null,
      }),
    ).toEqual({ ok: true, isRecorded: false, isClosed: true });
    expect((await typesOf(visitor.interactionId)).filter((t) => t.startsWith('cannedReply.'))).toEqual([
      'cannedReply.suggested',
      'cannedReply.accepted',
    ]);
  });

  it('"I still need a person" is logged and the contact waits in its queue as before', async () => {
    const visitor = await chatting('Where is my refund?');
    const pushed = await visitor.events.next<ChatSuggestionsPush>('answers:suggested');
    expect(pushed.suggestions.map((s) => s.id)).toEqual([replyIds.refund]);
    expect(
      await visitor.socket.emitWithAck('suggestions:answer', {
        interactionId: visitor.interactionId,
        replyId: null,
      }),
    ).toEqual({ ok: true, isRecorded: true, isClosed: false });
    // Routing goes on as if nothing was offered: the contact waits in its queue (nobody is available).
    await waitFor(async () =>
      (await logOf(visitor.interactionId)).interaction.status === 'queued' ? true : undefined,
    );
    const { events } = await logOf(visitor.interactionId);
    expect(events.find((e) => e.type === 'cannedReply.declined')).toMatchObject({
      actorType: 'customer',
      payload: { replyIds: [replyIds.refund] },
    });

    // An agent who becomes available still gets it.
    const { events: agentEvents } = await availableAgent();
    await agentEvents.next<{ interactionId: string }>(
      'offer',
      (o) => o.interactionId === visitor.interactionId,
    );
  });

  it('records "answered" on a chat an agent already took, and leaves the chat to them', async () => {
    const { socket: agentSocket, events: agentEvents } = await availableAgent();
    const visitor = await chatting('password reset please');
    await visitor.events.next('answers:suggested');
    const offer = await agentEvents.next<{ offerId: string; interactionId: string }>(
      'offer',
      (o) => o.interactionId === visitor.interactionId,
    );
    expect(await agentSocket.emitWithAck('offer:accept', { offerId: offer.offerId })).toMatchObject({
      ok: true,
    });
    expect(
      await visitor.socket.emitWithAck('suggestions:answer', {
        interactionId: visitor.interactionId,
        replyId: replyIds.password!,
      }),
    ).toEqual({ ok: true, isRecorded: true, isClosed: false });
    const { interaction, events } = await logOf(visitor.interactionId);
    expect(interaction.status).toBe('assigned');
    expect(events.map((e) => e.type)).toContain('cannedReply.accepted');
  });

  it('shows unanswered suggestions again after a reload, and none once answered', async () => {
    const visitor = await chatting('reset password please');
    await visitor.events.next('answers:suggested');
    visitor.socket.disconnect();
    const again = await openVisitor({ widgetId: 'shop', token: visitor.session.token });
    expect(again.session.suggestions).toEqual({
      interactionId: visitor.interactionId,
      suggestions: [expect.objectContaining({ id: replyIds.password })],
    });
    await again.socket.emitWithAck('suggestions:answer', {
      interactionId: visitor.interactionId,
      replyId: null,
    });
    const third = await openVisitor({ widgetId: 'shop', token: visitor.session.token });
    expect(third.session.suggestions).toBeNull();
  });

  it('offers nothing for a message that matches nothing, for later messages, or for unfillable replies', async () => {
    const visitor = await chatting('Hello there');
    // The second message matches, but it is not the first of the contact.
    await visitor.socket.emitWithAck('message:send', { clientId: randomUUID(), text: 'my password?' });
    // A visitor with no name: the password answer needs {{customer.firstName}}, the others are not for them.
    const nameless = await openVisitor();
    await nameless.socket.emitWithAck('message:send', { clientId: randomUUID(), text: 'password' });
    const matched = await chatting('refund');
    await matched.events.next('answers:suggested');
    expect(visitor.events.all('answers:suggested')).toEqual([]);
    expect(nameless.events.all('answers:suggested')).toEqual([]);
    expect(await typesOf(visitor.interactionId)).not.toContain('cannedReply.suggested');
  });

  it('refuses an answer for a conversation that is not the visitor’s, or for a reply not offered', async () => {
    const victim = await chatting('forgot my password');
    await victim.events.next('answers:suggested');
    const intruder = await chatting('hello');
    expect(
      await intruder.socket.emitWithAck('suggestions:answer', {
        interactionId: victim.interactionId,
        replyId: replyIds.password!,
      }),
    ).toMatchObject({ ok: false, error: { code: 'CANNED_REPLY_NOT_SUGGESTED' } });
    expect(
      await victim.socket.emitWithAck('suggestions:answer', {
        interactionId: victim.interactionId,
        replyId: replyIds.refund!,
      }),
    ).toMatchObject({ ok: false, error: { code: 'CANNED_REPLY_NOT_SUGGESTED' } });
    expect(
      await intruder.socket.emitWithAck('suggestions:answer', {
        interactionId: intruder.interactionId,
        replyId: null,
      }),
    ).toMatchObject({ ok: false, error: { code: 'CANNED_REPLY_NOT_SUGGESTED' } });
    expect(
      await victim.socket.emitWithAck('suggestions:answer', {
        interactionId: 'not-a-uuid',
        replyId: null,
      }),
    ).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    const { interaction, events } = await logOf(victim.interactionId);
    expect(interaction.status).not.toBe('closed');
    expect(events.map((e) => e.type)).not.toContain('cannedReply.accepted');
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Channel } from '../../src/interactions/inbound-contact.js';
import { PermanentDeliveryError, type OutboundMessage } from '../../src/interactions/outbound-message.js';
import { createAgent, createContact, resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Agents' replies: logged first (message.sent, first response time), then delivered through the channel's
 * sender, in-process (chat) or by the retry-safe delivery job (email), the outcome logged once. Senders here
 * stand in for channel adapters through the registry they register with; what a real adapter does with the
 * message is tested with that adapter.
 */

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
const sent: OutboundMessage[] = [];
/** Email delivery attempts fail this many times (a provider having a bad minute) before succeeding. */
let emailFailures = 0;
let emailIsRefused = false;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({
    config: { routingRulesDir: rules.dir, routeOnIngest: false },
    isWorker: true,
  });
  // The web chat adapter registered the (immediate) chat sender; its send is stubbed here.
  vi.spyOn(ctx.services.outboundRegistry.senderFor('chat')!, 'send').mockImplementation(async (message) => {
    sent.push(message);
    return { providerId: `socket-${message.eventId}` };
  });
  ctx.services.outboundRegistry.register('email', {
    isImmediate: false,
    send: async (message) => {
      sent.push(message);
      if (emailIsRefused) throw new PermanentDeliveryError('550 mailbox does not exist');
      if (emailFailures > 0) {
        emailFailures -= 1;
        throw new Error('421 try again later');
      }
      return { providerId: `<${message.eventId}@smtp>` };
    },
  });
});

afterAll(async () => {
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  sent.length = 0;
  emailFailures = 0;
  emailIsRefused = false;
  await resetRouting(ctx.services);
});

async function assignedContact(channel: Channel, agentId: string): Promise<string> {
  const id = await createContact(ctx.services, channel);
  const boss = { agentId, role: 'supervisor' as const };
  await ctx.services.routing.queueing.enqueue(id);
  await ctx.services.routing.move(id, 'assign', boss, { agentId }, null);
  return id;
}

async function eventsOf(id: string, type: string) {
  return (await ctx.services.interactions.detail(id)).events.filter((e) => e.type === type);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const agentOf = async (id: string) =>
  (await ctx.services.agents.get(id)) as Parameters<typeof ctx.services.outbound.reply>[1];

describe('replies', () => {
  it('logs the reply, stamps the first response, and delivers a chat reply at once to the visitor', async () => {
    const agentId = await createAgent(ctx.services, { name: 'replier' });
    const id = await assignedContact('chat', agentId);
    const contact = await ctx.services.interactions.detail(id);
    expect(contact.interaction.firstResponseAt).toBeNull();

    const event = await ctx.services.outbound.reply(id, await agentOf(agentId), {
      text: 'Hello, how can I help?',
    });
    expect(event).toMatchObject({ type: 'message.sent', actorType: 'agent', actorId: agentId });
    expect((await ctx.services.interactions.detail(id)).interaction.firstResponseAt).not.toBeNull();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      eventId: event.id,
      interactionId: id,
      channel: 'chat',
      text: 'Hello, how can I help?',
      agent: { id: agentId, displayName: 'replier' },
    });
    const [delivered] = await eventsOf(id, 'message.delivered');
    expect(delivered?.payload).toEqual({ messageEventId: event.id, providerId: `socket-${event.id}` });
  });

  it('retries an email through the job until the provider takes it, and logs the delivery once', async () => {
    const agentId = await createAgent(ctx.services);
    const id = await assignedContact('email', agentId);
    emailFailures = 2;
    const event = await ctx.services.outbound.reply(id, await agentOf(agentId), { text: 'We refunded you.' });
    const [delivered] = await waitFor(async () => {
      const found = await eventsOf(id, 'message.delivered');
      return found.length > 0 ? found : undefined;
    });
    expect(delivered?.payload).toMatchObject({ messageEventId: event.id });
    // Three attempts, one message: every attempt carried the same idempotency key.
    expect(sent.map((m) => m.eventId)).toEqual([event.id, event.id, event.id]);
    expect(sent[0]!.to.map((a) => a.kind)).toEqual(['email']);
    expect(sent[0]!.to[0]!.value).toMatch(/@example\.com$/);
    // A retried job after the outcome was logged sends nothing again.
    expect(await ctx.services.outbound.deliver(event.id)).toBe('already-settled');
    expect(sent).toHaveLength(3);
    expect(await eventsOf(id, 'message.delivered')).toHaveLength(1);
  });

  it('logs message.failed when the provider refuses for good, without retrying', async () => {
    const agentId = await createAgent(ctx.services);
    const id = await assignedContact('email', agentId);
    emailIsRefused = true;
    const event = await ctx.services.outbound.reply(id, await agentOf(agentId), { text: 'Hello?' });
    const [failed] = await waitFor(async () => {
      const found = await eventsOf(id, 'message.failed');
      return found.length > 0 ? found : undefined;
    });
    expect(failed?.payload).toEqual({ messageEventId: event.id, reason: '550 mailbox does not exist' });
    expect(sent).toHaveLength(1);
  });

  it('refuses a reply from someone else’s agent, on a closed interaction, or on a channel that cannot write', async () => {
    const agentId = await createAgent(ctx.services);
    const other = await createAgent(ctx.services);
    const id = await assignedContact('chat', agentId);
    await expect(ctx.services.outbound.reply(id, await agentOf(other), { text: 'x' })).rejects.toMatchObject({
      code: 'NOT_ASSIGNEE',
    });
    await ctx.services.agentStates.setState(agentId, 'available'); // A call goes only to a working agent.
    const call = await assignedContact('voice', agentId);
    await expect(
      ctx.services.outbound.reply(call, await agentOf(agentId), { text: 'x' }),
    ).rejects.toMatchObject({
      code: 'CHANNEL_CANNOT_SEND',
    });
    await ctx.services.routing.endContact(id, { actor: { type: 'agent', id: agentId }, reason: 'done' });
    await expect(
      ctx.services.outbound.reply(id, await agentOf(agentId), { text: 'x' }),
    ).rejects.toMatchObject({
      code: 'INTERACTION_CLOSED',
    });
    expect(sent).toEqual([]);
    expect(await eventsOf(id, 'message.sent')).toEqual([]);
  });

  it('answers over HTTP for the logged-in assignee', async () => {
    const { cookie, agentId } = await ctx.loginAs('agent');
    const id = await assignedContact('chat', agentId);
    const response = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${id}/messages`,
      headers: { cookie, origin: 'http://localhost:3000' },
      payload: { text: 'From the console' },
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(sent.map((m) => m.text)).toEqual(['From the console']);
  });
});

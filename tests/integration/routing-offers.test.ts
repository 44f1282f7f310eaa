import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../src/db/repositories/interactions.repository.js';
import type { Channel } from '../../src/interactions/inbound-contact.js';
import {
  createAgent,
  createContact,
  queueContact,
  resetRouting,
  storedLoads,
  writeRulesFolder,
} from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * Routing in one process, on a real Postgres and Redis: enqueue by rule, dispatch by strategy, the atomic
 * claim's refusals, accept, reject and re-offer, timeouts through the real BullMQ worker, misses setting an
 * agent away, priority order, capacity per channel, and voice being exclusive. Every test starts from no
 * waiting contacts and every agent offline (resetRouting).
 */

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;

beforeAll(async () => {
  rules = writeRulesFolder();
  // The job worker runs here, so offer timeouts fire through BullMQ as in production.
  ctx = await createTestContext({
    config: { routingRulesDir: rules.dir, routeOnIngest: false },
    isWorker: true,
  });
});

afterAll(async () => {
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

const routing = () => ctx.services.routing;
const available = (agentId: string) => ctx.services.agentStates.setState(agentId, 'available');

async function interaction(id: string) {
  const found = await ctx.services.repositories.interactions.findById(id);
  if (!found) throw new Error(`no interaction ${id}`);
  return found;
}

async function eventsOf(id: string, prefix = ''): Promise<LoggedEvent[]> {
  const events = await ctx.services.repositories.interactions.eventsOf(id);
  return events.filter((e) => e.type.startsWith(prefix));
}

async function liveOffer(interactionId: string) {
  const offers = await ctx.services.repositories.routing.offersOf(interactionId);
  return offers.filter((o) => o.status === 'offered');
}

describe('enqueue', () => {
  it('puts a new interaction in the first matching rule’s queue with its priority and logs the reason', async () => {
    const id = await createContact(ctx.services, 'email', 'This is URGENT, please');
    const outcome = await routing().queueing.enqueue(id);
    expect(outcome).toMatchObject({ isQueued: true, queue: 'general', priority: 50 });

    const queued = await interaction(id);
    expect(queued).toMatchObject({ status: 'queued', queue: 'general', priority: 50 });
    const [event, ...more] = await eventsOf(id, 'routing.');
    expect(more).toEqual([]);
    expect(event?.type).toBe('routing.queued');
    expect(event?.payload).toMatchObject({
      queue: 'general',
      priority: 50,
      rule: 'urgent',
      isQueueOpen: true,
    });
    expect(event?.payload.reason).toContain("keyword 'urgent'");

    // Enqueueing again changes nothing and logs nothing.
    expect(await routing().queueing.enqueue(id)).toEqual({ isQueued: false, status: 'queued' });
    expect(await eventsOf(id, 'routing.')).toHaveLength(1);
  });
});

describe('offers', () => {
  it('offers a waiting contact to the strategy’s pick, and accepting assigns it', async () => {
    const longIdle = await createAgent(ctx.services);
    const shortIdle = await createAgent(ctx.services);
    await available(longIdle);
    await available(shortIdle);
    const id = await queueContact(ctx.services, 'chat');

    const { offers } = await routing().dispatcher.dispatch();
    expect(offers).toHaveLength(1);
    const [offer] = offers as [(typeof offers)[number]];
    expect(offer).toMatchObject({ interactionId: id, agentId: longIdle, channel: 'chat' });
    expect((await interaction(id)).status).toBe('offered');
    const [created] = await eventsOf(id, 'offer.');
    expect(created?.payload).toMatchObject({
      offerId: offer.offerId,
      agentId: longIdle,
      queue: 'general',
      strategy: 'longest-idle',
      trigger: 'dispatch',
    });
    // Reasons name agents as people read them; the ids are in the payload's fields.
    const longIdleName = (await ctx.services.repositories.agents.findById(longIdle))!.displayName;
    expect(created?.payload.reason).toMatch(new RegExp(`^${longIdleName} has been idle .*the longest of 2`));
    expect(created?.payload.passedOver).toEqual([
      { agentId: shortIdle, why: `ranked below ${longIdleName}` },
    ]);
    expect((await storedLoads(ctx.services)).get(`${longIdle}/chat`)).toBe(1);

    // Nothing more to do: a second dispatch offers nothing.
    expect((await routing().dispatcher.dispatch()).offers).toEqual([]);

    await expect(routing().offers.accept(offer.offerId, shortIdle)).rejects.toMatchObject({
      code: 'OFFER_NOT_YOURS',
    });
    expect(await routing().offers.accept(offer.offerId, longIdle)).toEqual({ interactionId: id });
    expect(await interaction(id)).toMatchObject({ status: 'assigned', assigneeId: longIdle });
    expect(await ctx.services.agentStates.status(longIdle)).toMatchObject({
      state: 'on_contact',
      loads: { chat: 1 },
    });
    await expect(routing().offers.accept(offer.offerId, longIdle)).rejects.toMatchObject({
      code: 'OFFER_NOT_LIVE',
    });
    await expect(routing().offers.reject(offer.offerId, longIdle)).rejects.toMatchObject({
      code: 'OFFER_NOT_LIVE',
    });
    expect((await eventsOf(id, 'offer.')).map((e) => e.type)).toEqual(['offer.created', 'offer.accepted']);
  });

  it('re-offers a rejected contact to another agent, never back to the one who rejected it', async () => {
    const first = await createAgent(ctx.services);
    const second = await createAgent(ctx.services);
    await available(first);
    await available(second);
    const id = await queueContact(ctx.services, 'email');

    const [offer] = (await routing().dispatcher.dispatch()).offers;
    expect(offer?.agentId).toBe(first);
    await routing().offers.reject(offer!.offerId, first, 'not my area');

    const [reOffer, ...others] = await liveOffer(id);
    expect(others).toEqual([]);
    expect(reOffer?.agentId).toBe(second);
    expect((await storedLoads(ctx.services)).get(`${first}/email`)).toBeUndefined();
    const offerEvents = await eventsOf(id, 'offer.');
    expect(offerEvents.map((e) => [e.type, e.payload.agentId])).toEqual([
      ['offer.created', first],
      ['offer.rejected', first],
      ['offer.created', second],
    ]);
    expect(offerEvents[1]?.payload).toMatchObject({ reason: 'not my area', missesInARow: 0 });
    expect(offerEvents[2]?.payload.passedOver).toEqual([
      { agentId: first, why: 'already declined or missed this contact' },
    ]);

    // The second agent rejects too: nobody is left, the contact waits.
    await routing().offers.reject(reOffer!.id, second);
    expect(await liveOffer(id)).toEqual([]);
    expect((await interaction(id)).status).toBe('queued');
  });

  it('expires an unanswered offer through the delayed job and re-offers it elsewhere', async () => {
    const slow = await createAgent(ctx.services);
    const other = await createAgent(ctx.services);
    await available(slow);
    await available(other);
    const id = await queueContact(ctx.services, 'chat', 'a quick question');

    const [offer] = (await routing().dispatcher.dispatch()).offers;
    expect(offer?.agentId).toBe(slow);
    // The queue's timeout is 1 s; the worker in this process runs the delayed job.
    const reOffer = await waitFor(async () => (await liveOffer(id)).find((o) => o.agentId === other));
    expect((await ctx.services.repositories.routing.findOffer(offer!.offerId))?.status).toBe('expired');
    expect(reOffer.status).toBe('offered');
    expect(await ctx.services.agentStates.status(slow)).toMatchObject({
      state: 'available',
      missedInARow: 1,
    });
    const expired = (await eventsOf(id, 'offer.expired'))[0];
    expect(expired?.payload).toMatchObject({ offerId: offer!.offerId, agentId: slow, missesInARow: 1 });

    // A retried or late timeout job does nothing.
    expect(await routing().offers.expire(offer!.offerId)).toBe('already-settled');
    expect(await ctx.services.agentStates.status(slow)).toMatchObject({ missedInARow: 1 });
    // Accepting after the timeout is refused.
    await expect(routing().offers.accept(offer!.offerId, slow)).rejects.toMatchObject({
      code: 'OFFER_NOT_LIVE',
    });
  });

  it('sets an agent away after missesBeforeAway timeouts in a row; an answer in between resets the count', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const expireNext = async (): Promise<string> => {
      const id = await queueContact(ctx.services, 'email');
      const [offer] = (await routing().dispatcher.dispatch()).offers;
      expect(offer?.interactionId).toBe(id);
      expect(await routing().offers.expire(offer!.offerId)).toBe('expired');
      return id;
    };

    await expireNext();
    expect(await ctx.services.agentStates.status(agent)).toMatchObject({
      state: 'available',
      missedInARow: 1,
    });
    // A reject is an answer: the run of misses starts again.
    await queueContact(ctx.services, 'email');
    const [answered] = (await routing().dispatcher.dispatch()).offers;
    await routing().offers.reject(answered!.offerId, agent);
    expect(await ctx.services.agentStates.status(agent)).toMatchObject({
      state: 'available',
      missedInARow: 0,
    });

    await expireNext();
    expect(await ctx.services.agentStates.status(agent)).toMatchObject({
      state: 'available',
      missedInARow: 1,
    });
    const last = await expireNext();
    expect(await ctx.services.agentStates.status(agent)).toMatchObject({
      state: 'away',
      awayReason: 'missed 2 offers in a row',
      missedInARow: 2,
      loads: {},
    });
    const [stateChanged] = await eventsOf(last, 'agent.');
    expect(stateChanged?.payload).toEqual({
      agentId: agent,
      from: 'available',
      to: 'away',
      reason: 'missed 2 offers in a row',
    });
    // Away: nothing more is offered to them.
    await queueContact(ctx.services, 'email');
    expect((await routing().dispatcher.dispatch()).offers).toEqual([]);
  });
});

describe('order and capacity', () => {
  it('serves higher priority first, then the longest waiting', async () => {
    const agent = await createAgent(ctx.services, { capacity: { chat: 1 } });
    await available(agent);
    const older = await queueContact(ctx.services, 'chat', 'first');
    const newer = await queueContact(ctx.services, 'chat', 'second');
    const urgent = await queueContact(ctx.services, 'chat', 'urgent matter');

    await routing().dispatcher.dispatch();
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      // One chat slot: one live offer at a time. A reject frees it, and re-dispatches the next contact.
      const [offer, ...more] = await ctx.services.repositories.routing.liveOffersOf(agent);
      expect(more).toEqual([]);
      order.push(offer!.interactionId);
      await routing().offers.reject(offer!.id, agent);
    }
    expect(order).toEqual([urgent, older, newer]);
    expect(await ctx.services.repositories.routing.liveOffersOf(agent)).toEqual([]);
  });

  it('an agent who becomes available takes the best waiting contacts they can, across queues', async () => {
    const agent = await createAgent(ctx.services, { skills: { billing: 3 }, capacity: { email: 2 } });
    const general = await queueContact(ctx.services, 'email', 'hello');
    const billing = await queueContact(ctx.services, 'email', 'my invoice');
    const urgent = await queueContact(ctx.services, 'email', 'urgent');
    const unskilled = await createAgent(ctx.services);

    await available(agent);
    const offers = await ctx.services.repositories.routing.liveOffersOf(agent);
    expect(offers.map((o) => o.interactionId)).toEqual([urgent, billing]);
    expect(offers.map((o) => o.queue)).toEqual(['general', 'billing']);
    const [created] = await eventsOf(billing, 'offer.created');
    expect(created?.payload).toMatchObject({ trigger: 'agent-available', strategy: 'skills' });
    expect(created?.payload.reason).toMatch(/became available and this is the best waiting contact/);
    expect((await interaction(general)).status).toBe('queued');

    // An agent without the billing skill gets the general contact, never the billing one.
    await available(unskilled);
    expect(
      (await ctx.services.repositories.routing.liveOffersOf(unskilled)).map((o) => o.interactionId),
    ).toEqual([general]);
  });

  it('an agent who becomes available is not starved by a full batch of contacts only others can take', async () => {
    // A batch of two: the two billing contacts (priority 10) rank above the general one (priority 0).
    const { createDispatcher } = await import('../../src/routing/dispatch.service.js');
    const smallBatch = createDispatcher({
      routing: ctx.services.repositories.routing,
      rules: routing().rules,
      jobs: ctx.services.jobs,
      events: ctx.services.events,
      batchSize: 2,
    });
    await queueContact(ctx.services, 'email', 'my invoice');
    await queueContact(ctx.services, 'email', 'another invoice');
    const general = await queueContact(ctx.services, 'email', 'hello');
    const unskilled = await createAgent(ctx.services);
    await ctx.services.repositories.agentStates.setState(unskilled, 'available', null);

    const { offers } = await smallBatch.dispatchForAgent(unskilled);
    expect(offers.map((o) => o.interactionId)).toEqual([general]);
  });

  it('keeps each channel within its own capacity (defaults and the agent’s override)', async () => {
    const byDefault = await createAgent(ctx.services); // chat 2, email 3 from the rules
    const overridden = await createAgent(ctx.services, { capacity: { chat: 1, email: 0 } });
    await available(byDefault);
    await available(overridden);
    for (let i = 0; i < 5; i++) await queueContact(ctx.services, 'chat');
    for (let i = 0; i < 5; i++) await queueContact(ctx.services, 'email');

    const { offers } = await routing().dispatcher.dispatch();
    const count = (agentId: string, channel: Channel) =>
      offers.filter((o) => o.agentId === agentId && o.channel === channel).length;
    expect([count(byDefault, 'chat'), count(byDefault, 'email')]).toEqual([2, 3]);
    expect([count(overridden, 'chat'), count(overridden, 'email')]).toEqual([1, 0]);
    expect(await storedLoads(ctx.services)).toEqual(
      new Map([
        [`${byDefault}/chat`, 2],
        [`${byDefault}/email`, 3],
        [`${overridden}/chat`, 1],
      ]),
    );
    // Full: nothing more, although 2 chats and 2 emails wait.
    expect((await routing().dispatcher.dispatch()).offers).toEqual([]);
  });

  it('treats voice as exclusive: a call blocks other work, open chats do not block a call', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const call = await queueContact(ctx.services, 'voice');
    const chat = await queueContact(ctx.services, 'chat');

    const { offers } = await routing().dispatcher.dispatch();
    expect(offers.map((o) => o.interactionId)).toEqual([call]);
    expect((await interaction(chat)).status).toBe('queued');

    await resetRouting(ctx.services);
    const chatter = await createAgent(ctx.services);
    await available(chatter);
    const openChat = await queueContact(ctx.services, 'chat');
    const [chatOffer] = (await routing().dispatcher.dispatch()).offers;
    expect(chatOffer?.interactionId).toBe(openChat);
    await routing().offers.accept(chatOffer!.offerId, chatter);
    const laterCall = await queueContact(ctx.services, 'voice');
    const [callOffer] = (await routing().dispatcher.dispatch()).offers;
    expect(callOffer).toMatchObject({ interactionId: laterCall, agentId: chatter });
  });

  it('round-robin continues its persisted rotation in a fresh dispatcher', async () => {
    const agents = [
      await createAgent(ctx.services),
      await createAgent(ctx.services),
      await createAgent(ctx.services),
    ];
    for (const a of agents) await available(a);
    const sorted = [...agents].sort();
    await queueContact(ctx.services, 'chat', 'rotate');
    await queueContact(ctx.services, 'chat', 'rotate');
    const first = (await routing().dispatcher.dispatch()).offers.map((o) => o.agentId);
    expect(first).toEqual([sorted[0], sorted[1]]);

    // A new dispatcher (as after a restart) reads the cursor from Postgres.
    const { createDispatcher } = await import('../../src/routing/dispatch.service.js');
    const restarted = createDispatcher({
      routing: ctx.services.repositories.routing,
      rules: routing().rules,
      jobs: ctx.services.jobs,
      events: ctx.services.events,
    });
    await queueContact(ctx.services, 'chat', 'rotate');
    await queueContact(ctx.services, 'chat', 'rotate');
    const next = (await restarted.dispatch()).offers.map((o) => o.agentId);
    expect(next).toEqual([sorted[2], sorted[0]]);
  });
});

describe('the atomic claim', () => {
  const claimFor = async (agentId: string, interactionId: string, channel: Channel, capacity: number) =>
    ctx.services.repositories.routing.claim({
      agentId,
      interactionId,
      channel,
      capacity,
      exclusiveChannels: ['voice'],
      queue: 'general',
      strategy: 'longest-idle',
      reason: 'test claim',
      timeoutSeconds: 600,
      rotationQueue: null,
      eventPayload: {
        agentId,
        queue: 'general',
        strategy: 'longest-idle',
        reason: 'test claim',
        trigger: 'dispatch',
        passedOver: [],
      },
    });

  it('refuses a contact that already has a live offer, an agent at capacity, on a call, or not working', async () => {
    const a = await createAgent(ctx.services);
    const b = await createAgent(ctx.services);
    const away = await createAgent(ctx.services);
    await available(a);
    await available(b);
    await ctx.services.agentStates.setState(away, 'away', 'lunch');
    const chat1 = await queueContact(ctx.services, 'chat');
    const chat2 = await queueContact(ctx.services, 'chat');
    const call = await queueContact(ctx.services, 'voice');

    expect(await claimFor(a, chat1, 'chat', 1)).toMatchObject({ status: 'claimed', loadAfter: 1 });
    expect(await claimFor(b, chat1, 'chat', 2)).toEqual({ status: 'contact_taken' });
    expect(await claimFor(a, chat2, 'chat', 1)).toEqual({
      status: 'agent_unavailable',
      state: 'available',
      loads: { chat: 1 },
    });
    expect(await claimFor(away, chat2, 'chat', 2)).toMatchObject({
      status: 'agent_unavailable',
      state: 'away',
    });
    expect(await claimFor(b, call, 'voice', 1)).toMatchObject({ status: 'claimed' });
    // On a call: no chat, whatever the chat capacity says.
    expect(await claimFor(b, chat2, 'chat', 2)).toMatchObject({
      status: 'agent_unavailable',
      loads: { voice: 1 },
    });
    expect((await interaction(chat2)).status).toBe('queued');
    expect(await liveOffer(chat2)).toEqual([]);
  });
});

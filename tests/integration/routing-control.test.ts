import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../src/db/repositories/interactions.repository.js';
import type { Channel } from '../../src/interactions/inbound-contact.js';
import {
  createAgent,
  createContact,
  resetRouting,
  storedLoads,
  writeRulesFolder,
} from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Routing after the offer, on a real Postgres and Redis: routing on ingest and the sweep for contacts it
 * missed, closing work and wrap-up, the customer leaving, agents going away with live offers, manual
 * assignment, transfer and pull, escalation on a controllable clock, and after-hours actions.
 */

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

// A calendar closed today whatever the time: open all week, with yesterday, today and tomorrow (UTC) holidays.
const rulesText = `
calendars:
  closed-today:
    timeZone: UTC
    weekly:
      mon: ['00:00-24:00']
      tue: ['00:00-24:00']
      wed: ['00:00-24:00']
      thu: ['00:00-24:00']
      fri: ['00:00-24:00']
      sat: ['00:00-24:00']
      sun: ['00:00-24:00']
    holidays:
      - { date: '${day(-1)}' }
      - { date: '${day(0)}', name: Test Day }
      - { date: '${day(1)}' }
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
  - { name: calls, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 1 }
  - name: expert
    strategy: skills
    skills: { billing: 3 }
    channels: [voice, email, chat, fax]
    escalation:
      - { afterSeconds: 60, action: relax-skills, levels: 1 }
      - { afterSeconds: 120, action: add-queue, queue: spanish }
      - { afterSeconds: 180, action: raise-priority, by: 7 }
      - { afterSeconds: 240, action: move-to, queue: general }
  - { name: spanish, strategy: skills, skills: { spanish: 2 }, channels: [voice, email, chat, fax] }
  - name: owned
    strategy: account-owner
    secondaryStrategy: longest-idle
    channels: [voice, email, chat, fax]
    offerTimeoutSeconds: 1
  - name: night-close
    strategy: longest-idle
    channels: [voice, email, chat, fax]
    hours: closed-today
    afterHours: { action: close-with-message, message: We are closed today. }
  - name: night-move
    strategy: longest-idle
    channels: [voice, email, chat, fax]
    hours: closed-today
    afterHours: { action: move-to, queue: general }
  - { name: night-wait, strategy: longest-idle, channels: [voice, email, chat, fax], hours: closed-today }
  - name: night-voicemail
    strategy: longest-idle
    channels: [voice, email, chat, fax]
    hours: closed-today
    afterHours: { action: voicemail, greeting: Leave a message. }
rules:
  - { name: expert, when: { keywords: expert }, queue: expert, priority: 0 }
  - { name: wrap, when: { keywords: wrapme }, queue: calls, priority: 0 }
  - { name: owned, when: { keywords: owned }, queue: owned, priority: 0 }
  - { name: night-close, when: { keywords: nightclose }, queue: night-close, priority: 0 }
  - { name: night-move, when: { keywords: nightmove }, queue: night-move, priority: 0 }
  - { name: night-wait, when: { keywords: nightwait }, queue: night-wait, priority: 0 }
  - { name: night-voicemail, when: { keywords: nightvoicemail }, queue: night-voicemail, priority: 0 }
  - { name: default, queue: general, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 2 }
  email: { max: 2 }
  fax: { max: 1 }
options:
  offerTimeoutSeconds: 600
  missesBeforeAway: 3
`;

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;

beforeAll(async () => {
  rules = writeRulesFolder(rulesText);
  // Routing on ingest is on (the default), and the job worker runs here (wrap-up timers, rechecks).
  ctx = await createTestContext({ config: { routingRulesDir: rules.dir }, isWorker: true });
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
const supervisor = (agentId: string) => ({ agentId, role: 'supervisor' as const });
const asAgent = (agentId: string) => ({ agentId, role: 'agent' as const });

async function interaction(id: string) {
  const found = await ctx.services.repositories.interactions.findById(id);
  if (!found) throw new Error(`no interaction ${id}`);
  return found;
}

async function eventsOf(id: string, prefix = ''): Promise<LoggedEvent[]> {
  const events = await ctx.services.repositories.interactions.eventsOf(id);
  return events.filter((e) => e.type.startsWith(prefix));
}

async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The live offer of an interaction, once there is one. */
const offerOf = (interactionId: string, timeoutMs?: number) =>
  waitFor(async () => {
    const offers = await ctx.services.repositories.routing.offersOf(interactionId);
    return offers.find((o) => o.status === 'offered');
  }, timeoutMs);

async function noOfferFor(interactionId: string, ms = 300) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const offers = await ctx.services.repositories.routing.offersOf(interactionId);
  expect(offers.filter((o) => o.status === 'offered')).toEqual([]);
}

/** Ingests a contact; routing on ingest queues it. Resolves once it left status 'new'. */
async function arrive(channel: Channel, text = 'hello'): Promise<string> {
  const id = await createContact(ctx.services, channel, text);
  await waitFor(async () => (await interaction(id)).status !== 'new');
  return id;
}

async function state(agentId: string) {
  return (await ctx.services.agentStates.status(agentId))!;
}

async function acceptedBy(agentId: string, channel: Channel, text = 'hello') {
  const id = await arrive(channel, text);
  const offer = await offerOf(id);
  expect(offer.agentId).toBe(agentId);
  await routing().offers.accept(offer.id, agentId);
  return id;
}

describe('routing on ingest', () => {
  it('offers a new contact to an available agent without anyone enqueuing it by hand', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const id = await createContact(ctx.services, 'chat', 'hello there');
    const offer = await offerOf(id);
    expect(offer).toMatchObject({ agentId: agent, queue: 'general' });
    expect((await eventsOf(id, 'routing.queued')).length).toBe(1);
  });

  it('routes, through the sweep, an interaction that ingest left new (the routing step was lost)', async () => {
    const id = await createContact(ctx.services, 'email');
    await waitFor(async () => (await interaction(id)).status !== 'new');
    // Simulate a process that died between ingest and routing.
    await ctx.services.pool.query(
      "update interactions set status = 'new', queue = null, created_at = now() - interval '1 minute' where id = $1",
      [id],
    );
    const swept = await routing().sweep(1000);
    expect(swept.routed).toBeGreaterThanOrEqual(1);
    expect(await interaction(id)).toMatchObject({ status: 'queued', queue: 'general' });
    // Never twice: a second sweep finds nothing of it, and it was queued once more, not duplicated.
    await routing().sweep(1000);
    expect((await eventsOf(id, 'routing.queued')).length).toBe(2);
  });
});

describe('closing work and wrap-up', () => {
  it('releases the load, starts wrap-up for the queue’s seconds, then the timer returns the agent to work', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const id = await acceptedBy(agent, 'voice', 'wrapme please');
    expect(await state(agent)).toMatchObject({ state: 'on_contact', loads: { voice: 1 } });

    await routing().endContact(id, {
      actor: { type: 'agent', id: agent },
      reason: 'agent closed',
      disposition: 'resolved',
      onlyAssignee: agent,
    });
    const closed = await interaction(id);
    expect(closed.status).toBe('closed');
    const wrapping = await state(agent);
    expect(wrapping.state).toBe('wrap_up');
    expect(wrapping.loads).toEqual({});
    // A contact arriving during wrap-up waits for the agent.
    const next = await arrive('chat');
    await noOfferFor(next, 200);
    // The wrap-up job (1 s) returns the agent to work and the waiting contact is offered to them.
    const offer = await offerOf(next, 5000);
    expect(offer.agentId).toBe(agent);
    expect((await state(agent)).state).toBe('available');
    const [closedEvent] = await eventsOf(id, 'interaction.closed');
    expect(closedEvent?.payload).toMatchObject({ reason: 'agent closed', disposition: 'resolved' });
  });

  it('lets an agent end wrap-up early, and goes straight back to available when the queue has none', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const first = await acceptedBy(agent, 'voice', 'wrapme');
    await routing().endContact(first, {
      actor: { type: 'agent', id: agent },
      reason: 'done',
      onlyAssignee: agent,
    });
    expect((await state(agent)).state).toBe('wrap_up');
    expect(await routing().endWrapUp(agent)).toBe(true);
    expect((await state(agent)).state).toBe('available');
    expect(await routing().endWrapUp(agent)).toBe(false);

    const second = await acceptedBy(agent, 'voice', 'no wrap in general');
    await routing().endContact(second, {
      actor: { type: 'agent', id: agent },
      reason: 'done',
      onlyAssignee: agent,
    });
    expect((await state(agent)).state).toBe('available');
  });

  it('keeps an agent with other open work on contact, and refuses to close twice or someone else’s work', async () => {
    const agent = await createAgent(ctx.services);
    const other = await createAgent(ctx.services);
    await available(agent);
    const a = await acceptedBy(agent, 'chat');
    const b = await acceptedBy(agent, 'chat');
    await expect(
      routing().endContact(a, { actor: { type: 'agent', id: other }, reason: 'x', onlyAssignee: other }),
    ).rejects.toMatchObject({ code: 'NOT_ASSIGNEE' });
    await routing().endContact(a, {
      actor: { type: 'agent', id: agent },
      reason: 'done',
      onlyAssignee: agent,
    });
    expect(await state(agent)).toMatchObject({ state: 'on_contact', loads: { chat: 1 } });
    await expect(
      routing().endContact(a, { actor: { type: 'agent', id: agent }, reason: 'again', onlyAssignee: agent }),
    ).rejects.toMatchObject({ code: 'INTERACTION_CLOSED' });
    await routing().endContact(b, {
      actor: { type: 'agent', id: agent },
      reason: 'done',
      onlyAssignee: agent,
    });
    expect(await storedLoads(ctx.services)).toEqual(new Map());
  });
});

describe('the customer leaves', () => {
  it('withdraws the live offer, releases the agent, and records an abandoned contact', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const id = await arrive('voice');
    const offer = await offerOf(id);
    const result = await routing().endContact(id, {
      actor: { type: 'customer', id: null },
      reason: 'caller hung up',
    });
    expect(result.wasWaiting).toBe(true);
    expect((await ctx.services.repositories.routing.findOffer(offer.id))?.status).toBe('cancelled');
    expect(await storedLoads(ctx.services)).toEqual(new Map());
    expect((await eventsOf(id, 'offer.cancelled')).length).toBe(1);
    const [closed] = await eventsOf(id, 'interaction.closed');
    expect(closed?.payload).toMatchObject({ reason: 'caller hung up', wasWaiting: true });
    // The agent can take the next call at once.
    const next = await arrive('voice');
    expect((await offerOf(next)).agentId).toBe(agent);
  });
});

describe('agents going away', () => {
  it('withdraws their live offers, which go to another agent', async () => {
    const first = await createAgent(ctx.services, { name: 'a-first' });
    await available(first);
    const id = await arrive('email');
    const offer = await offerOf(id);
    expect(offer.agentId).toBe(first);
    const second = await createAgent(ctx.services, { name: 'b-second' });
    await available(second);
    await ctx.services.agentStates.setState(first, 'away', 'lunch');
    expect((await ctx.services.repositories.routing.findOffer(offer.id))?.status).toBe('cancelled');
    const next = await offerOf(id);
    expect(next.agentId).toBe(second);
    expect((await state(first)).loads).toEqual({});
  });
});

describe('manual control', () => {
  it('lets a supervisor assign a waiting contact to an agent within capacity, and audits it', async () => {
    const boss = await createAgent(ctx.services);
    const agent = await createAgent(ctx.services);
    const id = await arrive('email'); // Nobody is available: it waits.
    await routing().move(id, 'assign', supervisor(boss), { agentId: agent }, 'VIP, take it');
    expect(await interaction(id)).toMatchObject({ status: 'assigned', assigneeId: agent });
    expect((await state(agent)).loads).toEqual({ email: 1 });
    const worklist = await ctx.services.repositories.routing.worklistOf(agent);
    expect(worklist.map((w) => [w.interactionId, w.channel])).toEqual([[id, 'email']]);
    const [event] = await eventsOf(id, 'routing.transferred');
    expect(event?.payload).toMatchObject({
      kind: 'assign',
      byAgentId: boss,
      toAgentId: agent,
      note: 'VIP, take it',
    });
    const { rows } = await ctx.services.pool.query(
      "select actor_id, action from audit_log where subject_id = $1 and action = 'interaction.assign'",
      [id],
    );
    expect(rows).toEqual([{ actor_id: boss, action: 'interaction.assign' }]);

    // Capacity holds for supervisors too: email max is 2.
    await routing().move(await arrive('email'), 'assign', supervisor(boss), { agentId: agent }, null);
    await expect(
      routing().move(await arrive('email'), 'assign', supervisor(boss), { agentId: agent }, null),
    ).rejects.toMatchObject({ code: 'AGENT_AT_CAPACITY' });
    expect((await state(agent)).loads).toEqual({ email: 2 });
    // Agents may not assign.
    await expect(
      routing().move(await arrive('email'), 'assign', asAgent(agent), { agentId: boss }, null),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('reassigns from one agent to another, cancelling a live offer and releasing the first agent', async () => {
    const boss = await createAgent(ctx.services);
    const first = await createAgent(ctx.services);
    const second = await createAgent(ctx.services);
    await available(first);
    const id = await arrive('chat');
    const offer = await offerOf(id);
    expect(offer.agentId).toBe(first);
    await routing().move(id, 'assign', supervisor(boss), { agentId: second }, null);
    expect((await ctx.services.repositories.routing.findOffer(offer.id))?.status).toBe('cancelled');
    expect(await interaction(id)).toMatchObject({ status: 'assigned', assigneeId: second });
    const loads = await storedLoads(ctx.services);
    expect(loads.get(`${first}/chat`)).toBeUndefined();
    expect(loads.get(`${second}/chat`)).toBe(1);
  });

  it('lets the assignee transfer to a queue or an agent with a note, and nobody else', async () => {
    const agent = await createAgent(ctx.services);
    const colleague = await createAgent(ctx.services);
    await available(agent);
    const id = await acceptedBy(agent, 'email');
    await expect(
      routing().move(id, 'transfer', asAgent(colleague), { queue: 'spanish' }, 'not mine'),
    ).rejects.toMatchObject({ code: 'NOT_ASSIGNEE' });
    await expect(
      routing().move(id, 'transfer', asAgent(agent), { queue: 'nope' }, null),
    ).rejects.toMatchObject({
      code: 'QUEUE_NOT_FOUND',
    });
    await routing().move(id, 'transfer', asAgent(agent), { queue: 'spanish' }, 'customer writes in Spanish');
    expect(await interaction(id)).toMatchObject({ status: 'queued', queue: 'spanish', assigneeId: null });
    expect((await state(agent)).loads).toEqual({});
    expect((await state(agent)).state).toBe('available');

    const speaker = await createAgent(ctx.services, { skills: { spanish: 2 } });
    await available(speaker);
    const offer = await offerOf(id);
    expect(offer.agentId).toBe(speaker);
    await routing().offers.accept(offer.id, speaker);
    await routing().move(id, 'transfer', asAgent(speaker), { agentId: colleague }, 'over to you');
    expect(await interaction(id)).toMatchObject({ status: 'assigned', assigneeId: colleague });
    const transfers = await eventsOf(id, 'routing.transferred');
    expect(transfers.map((e) => e.payload)).toMatchObject([
      { kind: 'transfer', toQueue: 'spanish', note: 'customer writes in Spanish', fromAgentId: agent },
      { kind: 'transfer', toAgentId: colleague, note: 'over to you', fromAgentId: speaker },
    ]);
  });

  it('lets an agent pull a waiting contact they are eligible for, and refuses one they are not', async () => {
    const generalist = await createAgent(ctx.services);
    // Nobody is available, so both wait; the agent (away, doing back-office work) looks at the queue.
    await ctx.services.agentStates.setState(generalist, 'away', 'back office');
    const expertWait = await arrive('email', 'expert question');
    const plain = await arrive('email', 'plain question');
    await expect(
      routing().move(expertWait, 'pull', asAgent(generalist), { agentId: generalist }, null),
    ).rejects.toThrow(/lacks skill billing/);
    await routing().move(plain, 'pull', asAgent(generalist), { agentId: generalist }, null);
    expect(await interaction(plain)).toMatchObject({ status: 'assigned', assigneeId: generalist });
    expect((await state(generalist)).loads).toEqual({ email: 1 });
    await expect(
      routing().move(plain, 'pull', asAgent(generalist), { agentId: generalist }, null),
    ).rejects.toMatchObject({ code: 'INTERACTION_NOT_WAITING' });
  });
});

describe('escalation (controllable clock)', () => {
  it('applies each step when due, once, and the contact reaches agents it could not before', async () => {
    const level2 = await createAgent(ctx.services, { skills: { billing: 2 }, name: 'level2' });
    await available(level2);
    const id = await arrive('email', 'expert question');
    expect(await interaction(id)).toMatchObject({ status: 'queued', queue: 'expert' });
    const now = Date.now();

    expect(await routing().escalate(new Date(now + 30_000))).toEqual([]);
    await noOfferFor(id, 50);

    // After 60 s: levels relax by one, so billing 2 will do.
    expect(await routing().escalate(new Date(now + 61_000))).toEqual([id]);
    const offer = await offerOf(id);
    expect(offer.agentId).toBe(level2);
    // The step is not applied twice.
    expect(await routing().escalate(new Date(now + 61_000))).toEqual([]);
    const [step] = await eventsOf(id, 'routing.escalated');
    expect(step?.payload).toMatchObject({
      queue: 'expert',
      step: 0,
      action: 'relax-skills',
      afterSeconds: 60,
    });
    expect((step?.payload as { reason: string }).reason).toMatch(/lowered by 1/);
  });

  it('adds another queue’s agents, raises priority, then moves the contact to another queue', async () => {
    const speaker = await createAgent(ctx.services, { skills: { spanish: 2 } });
    const id = await arrive('email', 'expert question');
    const now = Date.now();
    // Everything due at 3 minutes at once: relax, add-queue, raise-priority (not yet the move at 4 minutes).
    expect(await routing().escalate(new Date(now + 181_000))).toEqual([id]);
    expect(await interaction(id)).toMatchObject({ queue: 'expert', priority: 7 });
    const steps = await eventsOf(id, 'routing.escalated');
    expect(steps.map((e) => (e.payload as { action: string }).action)).toEqual([
      'relax-skills',
      'add-queue',
      'raise-priority',
    ]);
    // The Spanish queue's agent may take it now.
    await available(speaker);
    const offer = await offerOf(id);
    expect(offer.agentId).toBe(speaker);
    await routing().offers.reject(offer.id, speaker, 'not really Spanish');

    expect(await routing().escalate(new Date(now + 241_000))).toEqual([id]);
    expect(await interaction(id)).toMatchObject({ queue: 'general', priority: 7 });
    const moved = await eventsOf(id, 'routing.escalated');
    expect(moved.at(-1)?.payload).toMatchObject({ action: 'move-to', step: 3 });
  });
});

describe('account owner', () => {
  it('holds a contact for its busy owner until the queue’s timeout, then the recheck job falls back', async () => {
    const owner = await createAgent(ctx.services, { capacity: { chat: 1 }, name: 'a-owner' });
    await available(owner);
    await acceptedBy(owner, 'chat'); // The owner is now full on chat.
    const other = await createAgent(ctx.services, { name: 'b-other' });
    await available(other);

    const email = `owned-${Date.now()}@example.com`;
    const first = await ctx.services.ingest({
      channel: 'email',
      externalId: `first-${email}`,
      identities: [{ kind: 'email', value: email }],
      text: 'before the account',
    });
    await waitFor(async () => (await interaction(first.interactionId)).status !== 'new');
    await routing().endContact(first.interactionId, {
      actor: { type: 'system', id: null },
      reason: 'test setup',
    });
    const accountId = await ctx.services.repositories.customers.createAccount({
      name: 'Owned Inc',
      tier: 'gold',
      ownerAgentId: owner,
    });
    await ctx.services.repositories.customers.setAccount(first.customerId, accountId);

    const started = Date.now();
    const second = await ctx.services.ingest({
      channel: 'chat',
      externalId: `second-${email}`,
      identities: [{ kind: 'email', value: email }],
      text: 'owned account question',
    });
    const id = second.interactionId;
    await waitFor(async () => (await interaction(id)).status !== 'new');
    await noOfferFor(id, 300);
    // Nobody dispatches it again by hand: the recheck job at the 1 s deadline does.
    const offer = await offerOf(id, 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(offer).toMatchObject({ agentId: other, strategy: 'longest-idle' });
    expect(offer.reason).toMatch(/owner/i);
  });
});

describe('after hours', () => {
  it('closes with the queue’s message', async () => {
    const id = await arrive('chat', 'nightclose');
    await waitFor(async () => (await interaction(id)).status === 'closed');
    expect(await interaction(id)).toMatchObject({ status: 'closed', queue: 'night-close' });
    const [after] = await eventsOf(id, 'routing.afterHours');
    expect(after?.payload).toMatchObject({ action: 'close-with-message', message: 'We are closed today.' });
    expect((after?.payload as { openingReason: string }).openingReason).toMatch(/holiday Test Day/);
  });

  it('moves to another queue', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const id = await arrive('chat', 'nightmove');
    expect((await offerOf(id)).queue).toBe('general');
    const [queued] = await eventsOf(id, 'routing.queued');
    expect((queued?.payload as { reason: string }).reason).toMatch(/moved it to general/);
  });

  it('waits in a closed queue, offered to nobody, and asks the voice channel for voicemail', async () => {
    const agent = await createAgent(ctx.services);
    await available(agent);
    const requested: string[] = [];
    const stop = ctx.services.events.subscribe('interaction.voicemailRequested', (e) =>
      requested.push(e.interactionId),
    );
    const waiting = await arrive('chat', 'nightwait');
    const voicemail = await arrive('voice', 'nightvoicemail');
    // Published right after the after-hours event is logged, a moment after the contact was queued.
    await waitFor(async () => requested.length > 0 || undefined);
    stop();
    await noOfferFor(waiting);
    await noOfferFor(voicemail, 0);
    expect(await interaction(waiting)).toMatchObject({ status: 'queued', queue: 'night-wait' });
    expect(requested).toEqual([voicemail]);
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLiveBoardRepository } from '../../src/db/repositories/live-board.repository.js';
import { createSlaService } from '../../src/sla/sla.service.js';
import { createContact, queueContact, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The SLA sweep on a real Postgres: clocks follow the log (a queued chat gets its first-response clock, an
 * agent's reply stops it, a customer's next message starts the next one), a warning and a breach are each
 * logged and acted on once however many sweeps run at once (priority raised, moved to another queue with
 * routing.escalated, supervisors alerted by email once per period), and the console's route serves the
 * clocks with their status.
 */

const slaRules = `
queues:
  - name: general
    strategy: longest-idle
    channels: [email, chat]
    sla:
      - channels: chat
        firstResponse: 1h
        nextResponse: 2h
        resolution: 8h
        warnBefore: 10m
        onWarning: [{ action: raise-priority, by: 5 }]
        onBreach: [{ action: raise-priority, by: 20 }, { action: move-to, queue: escalations }, { action: alert }]
  - { name: escalations, strategy: longest-idle, channels: [email, chat] }
  - name: urgent
    strategy: longest-idle
    channels: [chat]
    sla:
      - { firstResponse: 1s, onBreach: [{ action: alert }] }
rules:
  - { name: urgent, when: { keywords: urgent }, queue: urgent, priority: 50 }
  - { name: default, queue: general, priority: 0 }
capacity:
  chat: { max: 20 }
options:
  offerTimeoutSeconds: 600
`;

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let cookie: string;
let agentId: string;
const mailed: { to: string[]; subject: string; text: string }[] = [];

beforeAll(async () => {
  rules = writeRulesFolder(slaRules);
  ctx = await createTestContext({
    config: {
      routingRulesDir: rules.dir,
      routeOnIngest: false,
      alertEmail: { to: ['supervisors@example.com'], everyMinutes: 15 },
    },
  });
  ({ cookie, agentId } = await ctx.loginAs('agent'));
  // The mail transport seam: what the email channel's first mailbox would send.
  ctx.services.alerts.useMailer(async (notice) => {
    mailed.push(notice);
  });
});

afterAll(async () => {
  await ctx?.close();
  rules?.remove();
});

beforeEach(() => {
  mailed.length = 0;
});

const minutes = (n: number) => n * 60_000;
const get = (url: string) => ctx.app.inject({ method: 'GET', url, headers: { cookie } });

async function eventsOf(id: string, type: string) {
  const { rows } = await ctx.services.pool.query<{ payload: Record<string, unknown>; occurred_at: Date }>(
    `select payload, occurred_at from interaction_events where interaction_id = $1 and type = $2 order by id`,
    [id, type],
  );
  return rows;
}

async function interaction(id: string) {
  const { rows } = await ctx.services.pool.query<{ queue: string; priority: number; status: string }>(
    `select queue, priority, status from interactions where id = $1`,
    [id],
  );
  return rows[0]!;
}

async function createdAt(id: string): Promise<Date> {
  return (await eventsOf(id, 'interaction.created'))[0]!.occurred_at;
}

async function newChat(): Promise<string> {
  return queueContact(ctx.services, 'chat', `hello ${randomBytes(3).toString('hex')}`);
}

describe('clocks follow the log', () => {
  it('a queued chat has a running first-response and resolution clock, served to the console', async () => {
    const id = await newChat();
    await ctx.services.sla.sweep();
    const start = await createdAt(id);
    const response = await get(`/api/interactions/${id}/sla`);
    expect(response.statusCode, response.body).toBe(200);
    const { clocks } = response.json<{ clocks: Record<string, unknown>[] }>();
    expect(clocks).toEqual([
      expect.objectContaining({
        metric: 'firstResponse',
        label: 'first response',
        queue: 'general',
        targetSeconds: 3600,
        startedAt: start.toISOString(),
        warnAt: new Date(start.getTime() + minutes(50)).toISOString(),
        dueAt: new Date(start.getTime() + minutes(60)).toISOString(),
        stoppedAt: null,
        status: 'running',
      }),
      expect.objectContaining({ metric: 'resolution', targetSeconds: 8 * 3600, status: 'running' }),
    ]);
  });

  it("an agent's reply stops the first response; the customer's next message starts next response #1", async () => {
    const id = await newChat();
    await ctx.services.routing.move(id, 'assign', { agentId, role: 'supervisor' }, { agentId }, null);
    const reply = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${id}/messages`,
      headers: { cookie, origin: 'http://localhost:3000' },
      payload: { text: 'Hello, how can I help?' },
    });
    expect(reply.statusCode, reply.body).toBe(201);
    await ctx.services.sla.sweep();
    let clocks = (await get(`/api/interactions/${id}/sla`)).json<{ clocks: Record<string, unknown>[] }>()
      .clocks;
    expect(clocks.find((c) => c.metric === 'firstResponse')).toMatchObject({ status: 'met' });

    await ctx.services.pool.query(
      `insert into interaction_events (interaction_id, type, actor_type, channel, payload)
       values ($1, 'message.received', 'customer', 'chat', '{"text":"one more thing"}')`,
      [id],
    );
    await ctx.services.sla.sweep();
    clocks = (await get(`/api/interactions/${id}/sla`)).json<{ clocks: Record<string, unknown>[] }>().clocks;
    expect(clocks.map((c) => `${String(c.metric)}:${String(c.cycle)}:${String(c.status)}`).sort()).toEqual([
      'firstResponse:0:met',
      'nextResponse:1:running',
      'resolution:0:running',
    ]);
  });
  it('a contact queued after a sweep saw it unqueued gets its clocks (queueing is a change the sweep sees)', async () => {
    // No grace: the sweep reads only what was recorded since its last run.
    const sweeper = createSlaService({
      sla: ctx.services.repositories.sla,
      rules: ctx.services.routing.rules,
      dispatcher: ctx.services.routing.dispatcher,
      events: ctx.services.events,
      log: ctx.app.log,
      graceMs: 0,
    });
    const id = await createContact(ctx.services, 'chat', `hello ${randomBytes(3).toString('hex')}`);
    await sweeper.sweep();
    expect(await ctx.services.repositories.sla.clocksOf(id)).toEqual([]);
    await ctx.services.routing.queueing.enqueue(id);
    await sweeper.sweep();
    expect((await ctx.services.repositories.sla.clocksOf(id)).map((c) => c.metric)).toEqual([
      'firstResponse',
      'resolution',
    ]);
  });
});

describe('warnings and breaches', () => {
  it('are logged and acted on once, however many sweeps run at once', async () => {
    const id = await newChat();
    await ctx.services.sla.sweep();
    const start = await createdAt(id);
    const before = await interaction(id);

    // 50 minutes in: the warning, from four sweeps at once.
    const warnAt = new Date(start.getTime() + minutes(50) + 1000);
    await Promise.all([1, 2, 3, 4].map(() => ctx.services.sla.sweep(warnAt)));
    await ctx.services.sla.sweep(warnAt);
    const warnings = await eventsOf(id, 'sla.warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.payload).toMatchObject({
      metric: 'firstResponse',
      queue: 'general',
      dueAt: new Date(start.getTime() + minutes(60)).toISOString(),
      done: ['priority raised by 5'],
    });
    expect(await interaction(id)).toMatchObject({ queue: 'general', priority: before.priority + 5 });
    expect(mailed).toEqual([]);

    // Past due: the breach, from four sweeps at once: raised, moved, alerted.
    const breachAt = new Date(start.getTime() + minutes(60) + 1000);
    await Promise.all([1, 2, 3, 4].map(() => ctx.services.sla.sweep(breachAt)));
    await ctx.services.sla.sweep(breachAt);
    const breaches = await eventsOf(id, 'sla.breached');
    expect(breaches).toHaveLength(1);
    expect(breaches[0]!.payload).toMatchObject({
      metric: 'firstResponse',
      done: ['priority raised by 20', 'moved to escalations'],
    });
    expect(await interaction(id)).toMatchObject({
      queue: 'escalations',
      priority: before.priority + 25,
      status: 'queued',
    });
    const escalated = await eventsOf(id, 'routing.escalated');
    expect(escalated.map((e) => e.payload)).toEqual([
      expect.objectContaining({
        queue: 'general',
        step: -1,
        action: 'move-to',
        movedTo: 'escalations',
        priority: before.priority + 25,
      }),
    ]);
    expect(mailed).toHaveLength(1);
    expect(mailed[0]).toMatchObject({
      to: ['supervisors@example.com'],
      subject: '[Switchboard] SLA breached: first response in general',
    });

    // Moved to a queue without a policy, it keeps its clocks and their breach.
    await ctx.services.sla.sweep(breachAt);
    const kept = await ctx.services.repositories.sla.clocksOf(id);
    const first = kept.find((c) => c.metric === 'firstResponse');
    expect(first).toMatchObject({ queue: 'general', stoppedAt: null });
    expect(first?.breachedAt).toBeInstanceOf(Date);
    expect(first?.warnedAt).toBeInstanceOf(Date);
  });

  it('a second breach of the same kind in the same queue is logged, but mailed once per period', async () => {
    const first = await newChat();
    const second = await newChat();
    await ctx.services.sla.sweep();
    const latest = Math.max((await createdAt(first)).getTime(), (await createdAt(second)).getTime());
    await ctx.services.sla.sweep(new Date(latest + minutes(61)));
    expect(await eventsOf(first, 'sla.breached')).toHaveLength(1);
    expect(await eventsOf(second, 'sla.breached')).toHaveLength(1);
    // The previous test's breach took this period's mail for (breach, general, first response).
    expect(mailed).toEqual([]);
  });

  it('a reply after the due time is logged as a breach, without acting on the contact', async () => {
    const id = await newChat();
    await ctx.services.sla.sweep();
    const start = await createdAt(id);
    await ctx.services.routing.move(id, 'assign', { agentId, role: 'supervisor' }, { agentId }, null);
    // The agent answered 61 minutes in (the log says so): the sweep never saw the clock running past due.
    await ctx.services.pool.query(
      `insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
       values ($1, 'message.sent', 'agent', $2, 'chat', $3, $4)`,
      [
        id,
        agentId,
        JSON.stringify({ agentId, text: 'sorry for the wait' }),
        new Date(start.getTime() + minutes(61)),
      ],
    );
    const priority = (await interaction(id)).priority;
    await ctx.services.sla.sweep(new Date(start.getTime() + minutes(62)));
    const breaches = await eventsOf(id, 'sla.breached');
    expect(breaches).toHaveLength(1);
    expect(breaches[0]!.payload).toMatchObject({
      metric: 'firstResponse',
      stoppedAt: new Date(start.getTime() + minutes(61)).toISOString(),
    });
    expect(breaches[0]!.payload.done).toBeUndefined();
    expect(await interaction(id)).toMatchObject({ priority, status: 'assigned' });
    const clocks = (await get(`/api/interactions/${id}/sla`)).json<{ clocks: Record<string, unknown>[] }>()
      .clocks;
    expect(clocks.find((c) => c.metric === 'firstResponse')).toMatchObject({ status: 'missed' });
  });

  it('the live board counts open contacts past due, by queue and channel, as time really passes', async () => {
    const changed: string[] = [];
    const stop = ctx.services.events.subscribe('sla.changed', ({ interactionId, settled }) => {
      if (settled?.kind === 'breach') changed.push(interactionId);
    });
    const board = createLiveBoardRepository(ctx.services.db);
    const id = await queueContact(ctx.services, 'chat', `urgent ${randomBytes(3).toString('hex')}`);
    await ctx.services.sla.sweep();
    expect((await board.slaBreached()).filter((r) => r.queue === 'urgent')).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await ctx.services.sla.sweep();
    stop();
    expect(await board.slaBreached()).toContainEqual({ queue: 'urgent', channel: 'chat', breached: 1 });
    expect(changed).toEqual([id]);
    expect(mailed.map((m) => m.subject)).toEqual(['[Switchboard] SLA breached: first response in urgent']);
  });
});

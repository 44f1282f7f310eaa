import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Historical reports from the real log: a hand-made morning of four chats in the billing queue (threshold
 * 20 s) written into interaction_events and agent_state_history with their own times, rolled up by the hour,
 * and read back through the API. Every figure expected is worked out here by hand.
 *
 *   c1  queued 09:00:00, answered 09:00:15 (waited 15 s: within), closed 09:05:15, wrap-up to 09:06:15
 *   c2  queued 09:10:00, answered 09:10:40 (waited 40 s: not within), closed 09:20:40, wrap-up to 09:21:40
 *   c3  queued 09:30:00, the customer left at 09:30:10 (abandoned within the threshold)
 *   c4  queued 09:50:00, the customer left at 10:01:00 (abandoned after it, in the next hour)
 */

const day = '2026-11-20';
const at = (time: string) => new Date(`${day}T${time}Z`);

describe('historical reports', () => {
  let ctx: TestContext;
  let agentId: string;
  let cookie: string;
  const rules = writeRulesFolder();

  beforeAll(async () => {
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir, routeOnIngest: false } });
    const db = ctx.services.db;
    agentId = (
      await ctx.services.agents.create(
        {
          email: 'reporting@agent.test',
          displayName: 'Rita Reports',
          role: 'agent',
          password: 'correct horse battery',
        },
        null,
      )
    ).id;
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const { interactionId } = await ctx.services.ingest({
        channel: 'chat',
        externalId: `report-c${n}`,
        identities: [{ kind: 'chat_visitor', value: `report-visitor-${n}` }],
        text: 'my invoice',
      });
      ids.push(interactionId);
    }
    // What ingest logged (and the agent's creation) is dated today, days after the morning reported on (the
    // log is append-only: the morning is written beside it).

    const queued = {
      queue: 'billing',
      priority: 0,
      rule: 'billing',
      reason: 'keyword',
      isQueueOpen: true,
      openingReason: 'open',
    };
    const offer = (offerId: string) => ({
      offerId,
      agentId,
      queue: 'billing',
      strategy: 'skills',
      reason: 'test',
      trigger: 'dispatch',
      passedOver: [],
      expiresAt: at('12:00:00').toISOString(),
    });
    const agent = { actor_type: 'agent' as const, actor_id: agentId };
    const system = { actor_type: 'system' as const, actor_id: null };
    const customer = { actor_type: 'customer' as const, actor_id: null };
    const rows = [
      [ids[0], '09:00:00', 'routing.queued', queued, system],
      [ids[0], '09:00:05', 'offer.created', offer('o1'), system],
      [ids[0], '09:00:15', 'offer.accepted', { offerId: 'o1', agentId, missesInARow: 0 }, agent],
      [ids[0], '09:05:15', 'interaction.closed', { disposition: 'resolved' }, agent],
      [ids[1], '09:10:00', 'routing.queued', queued, system],
      [ids[1], '09:10:30', 'offer.created', offer('o2'), system],
      [ids[1], '09:10:40', 'offer.accepted', { offerId: 'o2', agentId, missesInARow: 0 }, agent],
      [ids[1], '09:20:40', 'interaction.closed', {}, agent],
      [ids[2], '09:30:00', 'routing.queued', queued, system],
      [ids[2], '09:30:10', 'interaction.closed', { wasWaiting: true }, customer],
      [ids[3], '09:50:00', 'routing.queued', queued, system],
      [ids[3], '10:01:00', 'interaction.closed', { wasWaiting: true }, customer],
    ] as const;
    await db
      .insertInto('interaction_events')
      .values(
        rows.map(([interactionId, time, type, payload, actor]) => ({
          interaction_id: interactionId!,
          type,
          channel: 'chat',
          ...actor,
          payload: JSON.stringify(payload),
          occurred_at: at(time),
        })),
      )
      .execute();
    await db
      .insertInto('agent_state_history')
      .values(
        (
          [
            ['09:00:00', 'available'],
            ['09:00:15', 'on_contact'],
            ['09:05:15', 'wrap_up'],
            ['09:06:15', 'available'],
            ['09:10:40', 'on_contact'],
            ['09:20:40', 'wrap_up'],
            ['09:21:40', 'available'],
          ] as const
        ).map(([time, state]) => ({ agent_id: agentId, state, away_reason: null, at: at(time) })),
      )
      .execute();
    // Two runs at once (two processes' jobs): each hour is saved once.
    const built = await Promise.all([
      ctx.services.rollups.buildDue(at('12:00:00'), { graceMs: 0 }),
      ctx.services.rollups.buildDue(at('12:00:00'), { graceMs: 0 }),
    ]);
    // 09:00 (the first event's hour), 10:00 and 11:00, by one run or shared between them.
    expect(built[0] + built[1]).toBe(3);
    cookie = (await ctx.loginAs('supervisor')).cookie;
  });

  afterAll(async () => {
    await ctx?.close();
    rules.remove();
  });

  const get = async (url: string) => ctx.app.inject({ method: 'GET', url, headers: { cookie } });
  const window = `from=${day}T09:00:00Z&to=${day}T11:00:00Z`;

  it('sums the queue over the morning, ratios from the sums', async () => {
    const response = await get(`/api/reports/contacts?${window}&by=queue`);
    expect(response.statusCode).toBe(200);
    const body = response.json<{ builtThrough: string; rows: Record<string, unknown>[] }>();
    expect(body.builtThrough).toBe(at('12:00:00').toISOString());
    expect(body.rows).toHaveLength(1);
    expect(body.rows[0]).toMatchObject({
      queue: 'billing',
      offered: 4,
      answered: 2,
      answered_within_threshold: 1,
      abandoned: 2,
      abandoned_within_threshold: 1,
      handled: 2,
      // c1 15 s + c2 40 s.
      answered_wait_seconds: 55,
      // 1 within of 2 answered; (1 + 1) of (2 + 2) with abandons.
      serviceLevel: 0.5,
      serviceLevelWithAbandons: 0.5,
      averageSpeedOfAnswerSeconds: 27.5,
      // 2 abandoned of 2 answered + 2 abandoned.
      abandonmentRate: 0.5,
      // Talk 300 + 600, wrap-up 60 + 60: 1020 s over 2.
      talk_seconds: 900,
      wrap_up_seconds: 120,
      averageHandleSeconds: 510,
    });
  });

  it('puts each figure in the hour of its own event: c4 offered at 09:50, abandoned at 10:01', async () => {
    const rows = (await get(`/api/reports/contacts?${window}&by=hour`)).json<{
      rows: Record<string, unknown>[];
    }>().rows;
    expect(rows.map((r) => [r.hour, r.offered, r.answered, r.abandoned])).toEqual([
      [`${day}T09:00`, 4, 2, 1],
      [`${day}T10:00`, 0, 0, 1],
    ]);
    // The 10:00 hour alone: one abandon after the threshold; nothing answered, so no service level.
    expect(rows[1]).toMatchObject({ serviceLevel: null, serviceLevelWithAbandons: 0, abandonmentRate: 1 });
    const csv = await get(`/api/reports/contacts?${window}&by=day&format=csv`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const [header, line] = csv.body.trim().split('\r\n');
    expect(header!.split(',').slice(0, 3)).toEqual(['day', 'offered', 'transferred_in']);
    expect(line!.split(',').slice(0, 2)).toEqual([day, '4']);
  });

  it("reports the agent's handled contacts, handle time and occupancy", async () => {
    const rows = (await get(`/api/reports/agents?${window}`)).json<{ rows: Record<string, unknown>[] }>()
      .rows;
    expect(rows).toHaveLength(1);
    // Available 15 + 265 + 5,900 s (to 11:00); on contacts 900 s; wrap-up 120 s: occupancy 1020 / 7200.
    expect(rows[0]).toMatchObject({
      agentId,
      name: 'Rita Reports',
      handled: 2,
      averageHandleSeconds: 510,
      availableSeconds: 6180,
      onContactSeconds: 900,
      wrapUpStateSeconds: 120,
    });
    expect(rows[0]!.occupancy).toBeCloseTo(1020 / 7200, 10);
  });

  it('builds nothing twice and refuses a bad window', async () => {
    expect(await ctx.services.rollups.buildDue(at('12:30:00'), { graceMs: 0 })).toBe(0);
    expect((await get(`/api/reports/contacts?from=${day}T11:00:00Z&to=${day}T09:00:00Z`)).statusCode).toBe(
      400,
    );
    const agent = await ctx.loginAs('agent');
    const refused = await ctx.app.inject({
      method: 'GET',
      url: `/api/reports/contacts?${window}`,
      headers: { cookie: agent.cookie },
    });
    expect(refused.statusCode).toBe(403);
  });

  it('counts a handling whose wrap-up ends in the next hour, with no other event in that hour', async () => {
    // The next day: c5 answered 10:40:10, closed 10:59:30, wrap-up to 11:00:30. The 11:00 hour has no event of
    // c5, only the agent's state change that ends its wrap-up: the handling completes, and counts, there.
    const next = (time: string) => new Date(`2026-11-21T${time}Z`);
    const { interactionId } = await ctx.services.ingest({
      channel: 'chat',
      externalId: 'report-c5',
      identities: [{ kind: 'chat_visitor', value: 'report-visitor-5' }],
      text: 'my invoice again',
    });
    const agent = { actor_type: 'agent' as const, actor_id: agentId };
    const rows = [
      [
        '10:40:00',
        'routing.queued',
        {
          queue: 'billing',
          priority: 0,
          rule: 'billing',
          reason: 'keyword',
          isQueueOpen: true,
          openingReason: 'open',
        },
      ],
      ['10:40:10', 'offer.accepted', { offerId: 'o5', agentId, missesInARow: 0 }],
      ['10:59:30', 'interaction.closed', { agentId }],
    ] as const;
    await ctx.services.db
      .insertInto('interaction_events')
      .values(
        rows.map(([time, type, payload]) => ({
          interaction_id: interactionId,
          type,
          channel: 'chat',
          ...agent,
          payload: JSON.stringify(payload),
          occurred_at: next(time),
        })),
      )
      .execute();
    await ctx.services.db
      .insertInto('agent_state_history')
      .values(
        (
          [
            ['10:40:10', 'on_contact'],
            ['10:59:30', 'wrap_up'],
            ['11:00:30', 'available'],
          ] as const
        ).map(([time, state]) => ({ agent_id: agentId, state, away_reason: null, at: next(time) })),
      )
      .execute();
    while ((await ctx.services.rollups.buildDue(next('13:00:00'), { graceMs: 0 })) > 0);
    const hours = (
      await get(`/api/reports/contacts?from=2026-11-21T10:00:00Z&to=2026-11-21T12:00:00Z&by=hour`)
    ).json<{ rows: Record<string, unknown>[] }>().rows;
    expect(
      hours.map((r) => [r.hour, r.offered, r.answered, r.handled, r.talk_seconds, r.wrap_up_seconds]),
    ).toEqual([
      ['2026-11-21T10:00', 1, 1, 0, 0, 0],
      // Talk 10:40:10 to 10:59:30 (1160 s), wrap-up 60 s.
      ['2026-11-21T11:00', 0, 0, 1, 1160, 60],
    ]);
  });
});

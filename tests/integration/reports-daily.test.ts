import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from '../../src/interactions/inbound-contact.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The daily summary, IVR containment and open work by agent, through the HTTP API on real Postgres: a
 * hand-made day (2026-11-18 in New York, UTC-5: 05:00Z to 05:00Z the next day) written into
 * interaction_events with its own times, rolled up by the hour, read back as JSON and CSV. Times below are
 * UTC; every figure expected is worked out here by hand. Both queues have a 20 s threshold.
 *
 *   e0  email support  created 03:00 (the day before, locally), taken by Ann 12:00 (waited 32,400 s), first
 *                      reply 13:00 (36,000 s after creation), closed 13:30 (resolved in 37,800 s; talk 5,400 s)
 *   c1  chat billing   created 14:00, taken by Ann 14:00:10 (10 s), reply 14:00:40 (40 s), closed 14:10
 *                      (resolved in 600 s; talk 590 s)
 *   c2  chat billing   created 14:30, the visitor left 14:30:30 (abandoned after 30 s)
 *   v1  call           IVR from 15:00, self-served by the hangup step at 15:01
 *   e1  email support  created 15:00, taken by Ann 16:00 (3,600 s), reply 17:00 (7,200 s); still open at
 *                      the day's end, closed the next day at 14:00
 *   v2  call billing   IVR 15:05, asked for an agent 15:05:30, taken by Bob 15:05:45 (15 s), closed
 *                      15:10:45 (talk 300 s)
 *   e2  email support  created 16:10, never answered: waiting at the day's end
 *   v3  call           IVR from 15:20, hung up on the menu at 15:20:40
 *   and one customer merge at 18:00.
 */

const rulesText = `
queues:
  - { name: billing, strategy: longest-idle, channels: [voice, email, chat, fax], serviceLevelSeconds: 20 }
  - { name: support, strategy: longest-idle, channels: [voice, email, chat, fax], serviceLevelSeconds: 20 }
rules:
  - { name: default, queue: support, priority: 0 }
`;

const at = (time: string, day = 18) => new Date(`2026-11-${day}T${time}Z`);
const date = '2026-11-18';
const timeZone = 'America/New_York';

type Actor = { actor_type: 'customer' | 'agent' | 'system'; actor_id: string | null };

describe('daily summary, IVR containment and open work by agent', () => {
  let ctx: TestContext;
  let ann: string;
  let bob: string;
  let cookie: string;
  const ids: Record<string, string> = {};
  const rules = writeRulesFolder(rulesText);

  beforeAll(async () => {
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir, routeOnIngest: false } });
    const db = ctx.services.db;
    const agent = async (name: string) =>
      (
        await ctx.services.agents.create(
          {
            email: `${name.toLowerCase()}@daily.test`,
            displayName: name,
            role: 'agent',
            password: 'correct horse battery',
          },
          null,
        )
      ).id;
    ann = await agent('Ann');
    bob = await agent('Bob');

    const contacts: [string, Channel][] = [
      ['e0', 'email'],
      ['c1', 'chat'],
      ['c2', 'chat'],
      ['v1', 'voice'],
      ['e1', 'email'],
      ['v2', 'voice'],
      ['e2', 'email'],
      ['v3', 'voice'],
    ];
    const customers: string[] = [];
    for (const [name, channel] of contacts) {
      const identity =
        channel === 'email'
          ? { kind: 'email' as const, value: `daily-${name}@customer.test` }
          : channel === 'voice'
            ? { kind: 'phone' as const, value: `+1415555${1000 + customers.length}` }
            : { kind: 'chat_visitor' as const, value: `daily-visitor-${name}` };
      const result = await ctx.services.ingest({
        channel,
        externalId: `daily-${name}`,
        identities: [identity],
        text: 'hello',
      });
      ids[name] = result.interactionId;
      customers.push(result.customerId);
    }
    // The interactions as they would stand now (the log is the source; the table only narrows the search
    // for open work): created at the story's times, closed where the story closes them.
    const created: Record<string, Date> = {
      e0: at('03:00:00'),
      c1: at('14:00:00'),
      c2: at('14:30:00'),
      v1: at('15:00:00'),
      e1: at('15:00:00'),
      v2: at('15:05:00'),
      e2: at('16:10:00'),
      v3: at('15:20:00'),
    };
    const closed: Record<string, Date | null> = {
      e0: at('13:30:00'),
      c1: at('14:10:00'),
      c2: at('14:30:30'),
      v1: at('15:01:00'),
      e1: at('14:00:00', 19),
      v2: at('15:10:45'),
      e2: null,
      v3: at('15:20:40'),
    };
    for (const name of Object.keys(created))
      await sql`
        update interactions set created_at = ${created[name]!}, closed_at = ${closed[name] ?? null},
               status = ${closed[name] ? 'closed' : 'new'}
         where id = ${ids[name]!}`.execute(db);

    const system: Actor = { actor_type: 'system', actor_id: null };
    const customer: Actor = { actor_type: 'customer', actor_id: null };
    const agentActor = (id: string): Actor => ({ actor_type: 'agent', actor_id: id });
    const queued = (queue: string) => ({
      queue,
      priority: 0,
      rule: 'default',
      reason: 'test',
      isQueueOpen: true,
      openingReason: 'open',
    });
    const createdEvent = { direction: 'inbound', threadKey: null, subject: null };
    const accepted = (agentId: string, offerId: string) => ({ offerId, agentId, missesInARow: 0 });
    const reply = (agentId: string) => ({ text: 'answer', agentId, agentName: 'x' });
    const step = (name: string, kind: string, outcome: string) => ({
      flow: 'main',
      step: name,
      kind,
      outcome,
      language: 'en-US',
    });
    const rows: [string, Date, string, object, Actor][] = [
      ['e0', at('03:00:00'), 'interaction.created', createdEvent, customer],
      ['e0', at('03:00:00'), 'routing.queued', queued('support'), system],
      ['e0', at('12:00:00'), 'offer.accepted', accepted(ann, 'o0'), agentActor(ann)],
      ['e0', at('13:00:00'), 'message.sent', reply(ann), agentActor(ann)],
      ['e0', at('13:30:00'), 'interaction.closed', { reason: 'done', agentId: ann }, agentActor(ann)],
      ['c1', at('14:00:00'), 'interaction.created', createdEvent, customer],
      ['c1', at('14:00:00'), 'routing.queued', queued('billing'), system],
      ['c1', at('14:00:10'), 'offer.accepted', accepted(ann, 'o1'), agentActor(ann)],
      ['c1', at('14:00:40'), 'message.sent', reply(ann), agentActor(ann)],
      ['c1', at('14:10:00'), 'interaction.closed', { reason: 'done' }, agentActor(ann)],
      ['c2', at('14:30:00'), 'interaction.created', createdEvent, customer],
      ['c2', at('14:30:00'), 'routing.queued', queued('billing'), system],
      ['c2', at('14:30:30'), 'interaction.closed', { reason: 'left', wasWaiting: true }, customer],
      ['v1', at('15:00:00'), 'interaction.created', createdEvent, customer],
      ['v1', at('15:01:00'), 'interaction.closed', { reason: 'self-served in the IVR' }, customer],
      // The step log reaches the log after the close, with the turn's times.
      ['v1', at('15:00:00'), 'ivr.step', step('menu', 'menu', 'prompted'), customer],
      ['v1', at('15:01:00'), 'ivr.step', step('goodbye', 'hangup', 'self-served'), customer],
      ['e1', at('15:00:00'), 'interaction.created', createdEvent, customer],
      ['e1', at('15:00:00'), 'routing.queued', queued('support'), system],
      ['e1', at('16:00:00'), 'offer.accepted', accepted(ann, 'o2'), agentActor(ann)],
      ['e1', at('17:00:00'), 'message.sent', reply(ann), agentActor(ann)],
      ['e1', at('14:00:00', 19), 'interaction.closed', { reason: 'done' }, agentActor(ann)],
      ['v2', at('15:05:00'), 'interaction.created', createdEvent, customer],
      ['v2', at('15:05:00'), 'ivr.step', step('menu', 'menu', 'prompted'), customer],
      ['v2', at('15:05:30'), 'ivr.step', step('menu', 'menu', 'matched'), customer],
      [
        'v2',
        at('15:05:30'),
        'ivr.handedOff',
        { flow: 'main', step: 'to-billing', to: 'agent', reason: 'caller chose', hints: {} },
        customer,
      ],
      ['v2', at('15:05:30'), 'routing.queued', queued('billing'), system],
      ['v2', at('15:05:45'), 'offer.accepted', accepted(bob, 'o3'), agentActor(bob)],
      ['v2', at('15:10:45'), 'interaction.closed', { reason: 'call ended' }, customer],
      ['e2', at('16:10:00'), 'interaction.created', createdEvent, customer],
      ['e2', at('16:10:00'), 'routing.queued', queued('support'), system],
      ['v3', at('15:20:00'), 'interaction.created', createdEvent, customer],
      ['v3', at('15:20:00'), 'ivr.step', step('menu', 'menu', 'prompted'), customer],
      ['v3', at('15:20:40'), 'interaction.closed', { reason: 'caller hung up in the IVR' }, customer],
    ];
    const channelOf = Object.fromEntries(contacts);
    await db
      .insertInto('interaction_events')
      .values(
        rows.map(([name, when, type, payload, actor]) => ({
          interaction_id: ids[name]!,
          type,
          channel: channelOf[name]!,
          ...actor,
          payload: JSON.stringify(payload),
          occurred_at: when,
        })),
      )
      .execute();

    cookie = (await ctx.loginAs('supervisor')).cookie;
    // One merge (through the API, so the audit entry is the real one), dated into the day.
    const merged = await ctx.app.inject({
      method: 'POST',
      url: `/api/customers/${customers[6]}/merge`,
      headers: { cookie },
      payload: { sourceCustomerId: customers[0] },
    });
    expect(merged.statusCode).toBe(200);
    await sql`update audit_log set occurred_at = ${at('18:00:00')} where action = 'customer.merged'`.execute(
      db,
    );

    let built = 0;
    do built = await ctx.services.rollups.buildDue(at('06:00:00', 19), { graceMs: 0, maxHours: 48 });
    while (built > 0);
  });

  afterAll(async () => {
    await ctx?.close();
    rules.remove();
  });

  const get = async (url: string) => ctx.app.inject({ method: 'GET', url, headers: { cookie } });

  it('gives the day per queue and in total', async () => {
    const response = await get(`/api/reports/daily-summary?date=${date}&timeZone=${timeZone}`);
    expect(response.statusCode).toBe(200);
    const body = response.json<{
      from: string;
      to: string;
      asOf: string;
      isComplete: boolean;
      total: Record<string, unknown>;
      byQueue: Record<string, unknown>[];
    }>();
    // Midnight in New York is 05:00Z.
    expect(body).toMatchObject({
      from: at('05:00:00').toISOString(),
      to: at('05:00:00', 19).toISOString(),
      asOf: at('05:00:00', 19).toISOString(),
      isComplete: true,
    });
    expect(body.byQueue.map((r) => r.queue)).toEqual(['billing', 'support']);
    expect(body.byQueue[0]).toEqual({
      queue: 'billing',
      // c1, c2, v2.
      offered: 3,
      answered: 2,
      abandoned: 1,
      // c1 in 10 s and v2 in 15 s, both within 20 s.
      serviceLevel: 1,
      averageSpeedOfAnswerSeconds: 12.5,
      // c1 590 s, v2 300 s.
      averageHandleSeconds: 445,
      // 1 abandoned of 2 answered + 1 abandoned.
      abandonmentRate: 1 / 3,
      // c1's 40 s only (a call has no first response).
      firstResponses: 1,
      averageFirstResponseSeconds: 40,
      resolved: 1,
      averageResolutionSeconds: 600,
      // c1 and c2 at 09:00 local (14:00Z), v2 at 10:00 local.
      busiestHour: '2026-11-18T09:00',
      busiestHourOffered: 2,
      openAtEndOfDay: 0,
      ivrCalls: null,
      ivrContainmentRate: null,
      duplicatesMerged: null,
      mergesUndone: null,
    });
    expect(body.byQueue[1]).toMatchObject({
      queue: 'support',
      // e1 and e2 (e0 was offered the day before, locally).
      offered: 2,
      // e0 after 32,400 s, e1 after 3,600 s: neither within.
      answered: 2,
      abandoned: 0,
      serviceLevel: 0,
      averageSpeedOfAnswerSeconds: 18000,
      averageHandleSeconds: 5400,
      abandonmentRate: 0,
      // e0 36,000 s, e1 7,200 s.
      firstResponses: 2,
      averageFirstResponseSeconds: 21600,
      resolved: 1,
      averageResolutionSeconds: 37800,
      // e1 at 10:00 local, e2 at 11:00: one each, the earlier wins.
      busiestHour: '2026-11-18T10:00',
      busiestHourOffered: 1,
      // e1 held by Ann, e2 waiting.
      openAtEndOfDay: 2,
    });
    expect(body.total).toMatchObject({
      queue: null,
      offered: 5,
      answered: 4,
      abandoned: 1,
      // 2 of 4 answered within 20 s.
      serviceLevel: 0.5,
      // (10 + 15 + 32,400 + 3,600) / 4.
      averageSpeedOfAnswerSeconds: 9006.25,
      abandonmentRate: 0.2,
      firstResponses: 3,
      resolved: 2,
      // (600 + 37,800) / 2.
      averageResolutionSeconds: 19200,
      // 09:00 local: c1, c2; 10:00: e1, v2. Equal: the earlier.
      busiestHour: '2026-11-18T09:00',
      busiestHourOffered: 2,
      openAtEndOfDay: 2,
      // v1 self-served, v2 to an agent, v3 hung up in the menu.
      ivrCalls: 3,
      ivrContainmentRate: 1 / 3,
      duplicatesMerged: 1,
      mergesUndone: 0,
    });
    // (590 + 300 + 5,400) / 3 and (40 + 36,000 + 7,200) / 3.
    expect(body.total.averageHandleSeconds).toBeCloseTo(6290 / 3, 9);
    expect(body.total.averageFirstResponseSeconds).toBeCloseTo(43240 / 3, 9);
  });

  it('gives the same summary as CSV, the total last', async () => {
    const response = await get(`/api/reports/daily-summary?date=${date}&timeZone=${timeZone}&format=csv`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    expect(response.headers['content-disposition']).toContain(`daily-summary-${date}.csv`);
    const [header, ...lines] = response.body.trim().split('\r\n');
    const columns = header!.split(',');
    const cells = lines.map((line): Record<string, string> =>
      Object.fromEntries(line.split(',').map((v, i) => [columns[i] ?? `${i}`, v])),
    );
    expect(cells.map((c) => c.queue)).toEqual(['billing', 'support', '(all queues)']);
    expect(cells[0]).toMatchObject({
      offered: '3',
      serviceLevel: '1',
      abandonmentRate: '0.3333',
      ivrCalls: '',
    });
    expect(cells[2]).toMatchObject({
      offered: '5',
      averageSpeedOfAnswerSeconds: '9006.25',
      busiestHour: '2026-11-18T09:00',
      ivrContainmentRate: '0.3333',
      duplicatesMerged: '1',
      openAtEndOfDay: '2',
    });
  });

  it('gives the day before (locally) its own figures, and refuses a bad date or zone', async () => {
    // 2026-11-17 local ends at 05:00Z on the 18th: e0 offered at 03:00Z, nothing else.
    const before = (await get(`/api/reports/daily-summary?date=2026-11-17&timeZone=${timeZone}`)).json<{
      total: Record<string, unknown>;
    }>();
    expect(before.total).toMatchObject({ offered: 1, answered: 0, openAtEndOfDay: 1, ivrCalls: 0 });
    expect((await get(`/api/reports/daily-summary?date=18-11-2026`)).statusCode).toBe(400);
    expect((await get(`/api/reports/daily-summary?date=${date}&timeZone=Mars/Olympus`)).statusCode).toBe(400);
  });

  it('reports IVR containment by flow', async () => {
    const response = await get(`/api/reports/ivr?from=${date}T00:00:00Z&to=2026-11-19T00:00:00Z&by=flow`);
    expect(response.json<{ rows: unknown[] }>().rows).toEqual([
      {
        flow: 'main',
        ivr_calls: 3,
        self_served: 1,
        abandoned: 1,
        to_agent: 1,
        to_callback: 0,
        to_voicemail: 0,
        closed: 0,
        containmentRate: 1 / 3,
        ivrAbandonmentRate: 1 / 3,
      },
    ]);
  });

  it('reports open work by agent at an instant, before and after closes', async () => {
    // 13:00Z: Ann holds e0 (created 03:00, taken 12:00): 36,000 s old, held 3,600 s.
    const early = (await get(`/api/reports/open-by-agent?asOf=${at('13:00:00').toISOString()}`)).json<{
      asOf: string;
      rows: Record<string, unknown>[];
    }>();
    expect(early.rows).toEqual([
      {
        agentId: ann,
        name: 'Ann',
        open: 1,
        voice: 0,
        email: 1,
        chat: 0,
        fax: 0,
        oldestInteractionId: ids.e0,
        oldestCreatedAt: at('03:00:00').toISOString(),
        oldestAgeSeconds: 36000,
        longestHeldSeconds: 3600,
      },
    ]);
    // 15:08Z: e0 closed at 13:30. Ann holds e1? Not yet (taken 16:00). Bob holds v2 (taken 15:05:45).
    const mid = (await get(`/api/reports/open-by-agent?asOf=${at('15:08:00').toISOString()}`)).json<{
      rows: Record<string, unknown>[];
    }>();
    expect(mid.rows.map((r) => [r.name, r.open, r.voice, r.longestHeldSeconds])).toEqual([
      ['Bob', 1, 1, 135],
    ]);
    // 20:00Z: Ann holds e1 (created 15:00, taken 16:00): 18,000 s old, held 14,400 s; as CSV.
    const csv = await get(`/api/reports/open-by-agent?asOf=${at('20:00:00').toISOString()}&format=csv`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const [header, line, extra] = csv.body.trim().split('\r\n');
    expect(header).toBe(
      'agentId,name,open,voice,email,chat,fax,oldestInteractionId,oldestCreatedAt,oldestAgeSeconds,longestHeldSeconds',
    );
    expect(line).toBe(`${ann},Ann,1,0,1,0,0,${ids.e1},${at('15:00:00').toISOString()},18000,14400`);
    expect(extra).toBeUndefined();
    // The next day after e1's close at 14:00Z: nobody holds anything.
    const after = await get(`/api/reports/open-by-agent?asOf=${at('15:00:00', 19).toISOString()}`);
    expect(after.json<{ rows: unknown[] }>().rows).toEqual([]);
    const refused = await ctx.app.inject({
      method: 'GET',
      url: '/api/reports/open-by-agent',
      headers: { cookie: (await ctx.loginAs('agent')).cookie },
    });
    expect(refused.statusCode).toBe(403);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels, type Channel } from '../../src/interactions/inbound-contact.js';
import {
  createAgent,
  offerHistory,
  queueContact,
  storedLoads,
  writeRulesFolder,
  type OfferHistoryRow,
} from '../support/routing-fixtures.js';
import type { RoundSpec, RoutingWorkerSummary } from '../support/routing-worker.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

/*
 * Routing under a real race: three separate Node processes, each with its own app and Postgres pool on this
 * file's schema, are released at the same instant on 60 waiting contacts and 8 agents with small capacities.
 * Each dispatches several passes at once, answers any live offer (accept, reject, time out by hand) while
 * the others answer the same offers, and sends agents away and back. What keeps this safe lives in one place
 * (switchboard_claim_offer / switchboard_settle_offer); this test checks from the offers history and the
 * event log that what must never happen did not: two live offers for one contact at once, an agent over
 * capacity on any channel at any instant, work offered to an agent on a call, a contact offered twice to the
 * same agent, loads that disagree with the offers they count.
 */

const startTimeoutMs = 45_000;
const roundTimeoutMs = 60_000;
const startDelayMs = 150;
const workerCount = 3;

const startWorker = (config: TestContext['config']) =>
  startWorkerProcess(new URL('../support/routing-worker.ts', import.meta.url), config, roundTimeoutMs);

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({ config: { routingRulesDir: rules.dir, routeOnIngest: false } });
  workers = Array.from({ length: workerCount }, () => startWorker(ctx.config));
  await Promise.all(workers.map((w) => w.expectLine('ready', startTimeoutMs)));
}, 2 * startTimeoutMs);

afterAll(async () => {
  try {
    await Promise.all(workers.map((w) => w.stop()));
  } finally {
    await ctx?.close();
    rules?.remove();
  }
});

/** The rule file's defaults (testRules) merged with an agent's overrides; voice counts at most 1. */
const defaults: Record<Channel, number> = { voice: 1, chat: 2, email: 3, fax: 1 };
const agentProfiles: { skills: Record<string, number>; capacity: Partial<Record<Channel, number>> }[] = [
  { skills: { billing: 3 }, capacity: { chat: 1, email: 1 } },
  { skills: { billing: 2 }, capacity: { chat: 1, email: 1, fax: 0 } },
  { skills: {}, capacity: { chat: 1, email: 1 } },
  { skills: {}, capacity: { chat: 2, email: 1, voice: 0 } },
  { skills: { billing: 2 }, capacity: { chat: 2, email: 1, voice: 0 } },
  { skills: {}, capacity: { chat: 1, email: 2, voice: 0 } },
  { skills: { billing: 1 }, capacity: { chat: 1, email: 1, fax: 1 } },
  { skills: {}, capacity: { chat: 2, email: 0, voice: 1 } },
];
const texts = ['hello', 'please rotate', 'my invoice', 'urgent', 'hello again'];

describe('routing raced from three processes', () => {
  it('never offers a contact twice at once, never puts an agent over capacity, and keeps loads exact', async () => {
    const capacityOf = new Map<string, Record<Channel, number>>();
    const agentIds: string[] = [];
    for (const profile of agentProfiles) {
      const id = await createAgent(ctx.services, profile);
      agentIds.push(id);
      const capacity = { ...defaults, ...profile.capacity };
      capacity.voice = Math.min(capacity.voice, 1);
      capacityOf.set(id, capacity);
      await ctx.services.agentStates.setState(id, 'available');
    }
    const contactIds: string[] = [];
    for (let i = 0; i < 60; i++) {
      const channel = channels[i % channels.length]!;
      contactIds.push(await queueContact(ctx.services, channel, texts[i % texts.length]));
    }
    expect(await offerHistory(ctx.services)).toEqual([]);

    const startAt = Date.now() + startDelayMs;
    workers.forEach((w, i) => {
      // Every contact is in two workers' arrival bursts: contacts and agents are both contended.
      const mine = contactIds.filter((_, k) => k % workerCount !== (i + 1) % workerCount);
      const spec: RoundSpec = { startAt, seed: 1000 + i, agentIds, contactIds: mine };
      w.send(`go ${JSON.stringify(spec)}`);
    });
    const summaries = await Promise.all(
      workers.map(async (w) => JSON.parse(await w.expectLine('result')) as RoutingWorkerSummary),
    );

    // The processes really raced: distinct, overlapping in time, and they lost races to each other.
    for (const s of summaries) expect(s.errors).toEqual([]);
    expect(new Set(summaries.map((s) => s.pid)).size).toBe(workerCount);
    for (const a of summaries)
      for (const b of summaries) if (a !== b) expect(a.startedAt).toBeLessThan(b.finishedAt);
    const total = (key: 'offersCreated' | 'lostRaces' | 'lostAnswers' | 'accepted') =>
      summaries.reduce((sum, s) => sum + s[key], 0);
    // Claims came from several processes. (Not necessarily from every one: on a loaded machine one process
    // may lose every race it enters, which is correct behaviour, not a failure.)
    expect(summaries.filter((s) => s.offersCreated > 0).length).toBeGreaterThanOrEqual(2);
    expect(total('lostRaces') + total('lostAnswers')).toBeGreaterThan(0);

    const history = await offerHistory(ctx.services);
    // Rejects, timeouts and agents coming back dispatch too, so there are more offers than the passes made.
    expect(history.length).toBeGreaterThanOrEqual(total('offersCreated'));
    expect(history.filter((o) => o.status === 'accepted')).toHaveLength(total('accepted'));
    expect(history.filter((o) => o.status === 'offered')).toEqual([]);

    // 1. No interaction ever had two live offers: each offer was settled before the next one was made.
    const byInteraction = groupBy(history, (o) => o.interactionId);
    for (const offers of byInteraction.values()) {
      for (let i = 1; i < offers.length; i++) {
        const previous = offers[i - 1]!;
        expect(previous.status).not.toBe('accepted');
        expect(previous.settledUs).not.toBeNull();
        expect(previous.settledUs!).toBeLessThanOrEqual(offers[i]!.offeredUs);
      }
      // Never offered twice to the same agent (a reject or a miss sends it elsewhere).
      expect(new Set(offers.map((o) => o.agentId)).size).toBe(offers.length);
    }

    // 2. No agent ever above capacity on any channel, and nothing offered to an agent on a call.
    for (const [agentId, offers] of groupBy(history, (o) => o.agentId)) {
      const capacity = capacityOf.get(agentId)!;
      for (const [channel, peak] of peakHolds(offers)) {
        expect({ agentId, channel, peak: Math.min(peak, capacity[channel]) }).toEqual({
          agentId,
          channel,
          peak,
        });
      }
      for (const offer of offers) {
        expect(offer.loadAfter).toBeLessThanOrEqual(capacity[offer.channel as Channel]);
        if (offer.channel === 'voice') continue;
        const callsHeld = offers.filter((o) => o.channel === 'voice' && isHeldAt(o, offer.offeredUs)).length;
        expect({ offer: offer.id, callsHeld }).toEqual({ offer: offer.id, callsHeld: 0 });
      }
    }

    // 3. Stored loads are exactly the offers and assignments they count.
    const expectedLoads = new Map<string, number>();
    for (const o of history.filter((o) => o.status === 'accepted' || o.status === 'offered')) {
      const key = `${o.agentId}/${o.channel}`;
      expectedLoads.set(key, (expectedLoads.get(key) ?? 0) + 1);
    }
    expect(await storedLoads(ctx.services)).toEqual(expectedLoads);

    // 4. Every contact ended consistent: assigned to the one agent who accepted it, or waiting with no offer.
    const { rows } = await ctx.services.pool.query<{
      id: string;
      status: string;
      assignee_id: string | null;
    }>('select id, status, assignee_id from interactions where id = any($1)', [contactIds]);
    expect(rows).toHaveLength(60);
    for (const row of rows) {
      const accepted = (byInteraction.get(row.id) ?? []).filter((o) => o.status === 'accepted');
      if (row.status === 'assigned') {
        expect(accepted.map((o) => o.agentId)).toEqual([row.assignee_id]);
      } else {
        expect(row.status).toBe('queued');
        expect(accepted).toEqual([]);
      }
    }
    expect(rows.some((r) => r.status === 'assigned')).toBe(true);

    // 5. The log tells the same story as the offers table.
    const { rows: logged } = await ctx.services.pool.query<{ type: string; n: string }>(
      `select type, count(*) as n from interaction_events where type like 'offer.%' group by type`,
    );
    const loggedCount = Object.fromEntries(logged.map((r) => [r.type, Number(r.n)]));
    const statusCount = (status: string) => history.filter((o) => o.status === status).length;
    expect(loggedCount).toEqual(
      Object.fromEntries(
        [
          ['offer.created', history.length],
          ['offer.accepted', statusCount('accepted')],
          ['offer.rejected', statusCount('rejected')],
          ['offer.expired', statusCount('expired')],
          // An agent going away withdraws their live offers.
          ['offer.cancelled', statusCount('cancelled')],
        ].filter(([, n]) => n !== 0),
      ),
    );
  });
});

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

/** An offer holds a slot from its creation until it is rejected or expires; an accepted one keeps it. */
function isHeldAt(offer: OfferHistoryRow, atUs: number): boolean {
  if (offer.offeredUs > atUs) return false;
  return offer.status === 'accepted' || offer.status === 'offered' || offer.settledUs! > atUs;
}

/** The most slots held at once per channel, by a sweep over the offers' hold intervals. */
function peakHolds(offers: readonly OfferHistoryRow[]): Map<Channel, number> {
  const peaks = new Map<Channel, number>();
  for (const channel of channels) {
    const points: [number, number][] = [];
    for (const o of offers.filter((o) => o.channel === channel)) {
      points.push([o.offeredUs, +1]);
      if (o.status !== 'accepted' && o.status !== 'offered') points.push([o.settledUs!, -1]);
    }
    // A release and a claim at the same microsecond: the release first (it committed before the claim).
    points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let held = 0;
    let peak = 0;
    for (const [, delta] of points) {
      held += delta;
      peak = Math.max(peak, held);
    }
    peaks.set(channel, peak);
  }
  return peaks;
}

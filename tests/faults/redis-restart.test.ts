import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSessionStore } from '../../src/agents/session.store.js';
import type { InboundContact } from '../../src/interactions/inbound-contact.js';
import type { IngestReport } from '../support/cluster-node.js';
import {
  nodeLog,
  openConsole,
  startNode,
  type FaultConsole,
  type FaultNode,
} from '../support/fault-cluster.js';
import { halfWrittenInteractions, offersOf, overlappingOffers, report } from '../support/fault-log.js';
import { startRedis, stopRedis } from '../support/fault-services.js';
import { createAgent, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * Redis stopped and started again on the same port and data (its append-only file, as `npm start` runs it)
 * under a server process with offers pending and contacts queued. Redis holds BullMQ's jobs (offer
 * timeouts, sweeps), the socket.io adapter, presence and sessions.
 * What must hold afterwards, read from the offers table and the event log:
 *   - the server process is still up and serves its agents' sockets;
 *   - the offers pending across the outage expire (not before their time) and their contacts are offered
 *     again: timers resume;
 *   - contacts ingested during the outage (or refused then and resent, as a provider retries) are routed;
 *   - every contact ends assigned, none stuck, none offered twice at once, every log whole.
 * FAULT_REDIS_DOWN_MS sets how long Redis stays down (default 15 s: past the offers' timeout).
 */

const downMs = Number(process.env.FAULT_REDIS_DOWN_MS ?? 15_000);
const offerTimeoutSeconds = 6;
const origin = 'http://localhost:3000';
const settleMs = 180_000;

const rules = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
rules:
  - { name: default, queue: general, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 1 }
  email: { max: 1 }
  fax: { max: 1 }
options:
  offerTimeoutSeconds: ${offerTimeoutSeconds}
  missesBeforeAway: 100
`;

let ctx: TestContext;
let folder: ReturnType<typeof writeRulesFolder>;
let redis: Redis;
let node: FaultNode | undefined;
const consoles: FaultConsole[] = [];

beforeAll(async () => {
  folder = writeRulesFolder(rules);
  ctx = await createTestContext({ config: { routingRulesDir: folder.dir, routeOnIngest: true } });
  redis = new Redis(ctx.config.redisUrl!, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined); // down on purpose for a while
});

afterAll(async () => {
  for (const console of consoles) console.close();
  await node?.worker.stop();
  redis?.disconnect();
  await ctx?.close();
  folder?.remove();
});

const unique = () => randomBytes(5).toString('hex');
const chat = (): InboundContact => ({
  channel: 'chat',
  externalId: `chat-${unique()}`,
  identities: [{ kind: 'email', value: `visitor-${unique()}@example.com` }],
  text: 'hello',
});

async function ingest(contacts: InboundContact[]): Promise<IngestReport> {
  node!.worker.send(`ingest ${JSON.stringify(contacts)}`);
  return JSON.parse(await node!.worker.expectLine('ingested', settleMs)) as IngestReport;
}

async function addAgent(): Promise<FaultConsole> {
  const agentId = await createAgent(ctx.services);
  const sessions = createSessionStore(redis, ctx.config.redisPrefix, 3600);
  const cookie = `sb_session=${await sessions.create(agentId)}`;
  const console = openConsole(node!.url, agentId, cookie, origin);
  consoles.push(console);
  await waitFor(() => (console.states.length > 0 ? true : undefined), settleMs);
  expect(await console.setState('available')).toBe(true);
  return console;
}

describe('Redis restarted under a running server', () => {
  it('resumes its jobs and timers and loses no contact', async () => {
    node = await startNode('redis', ctx.config, {
      config: {
        publicBaseUrl: ctx.config.publicBaseUrl,
        routeOnIngest: true,
        offerSweepMs: 1000,
        // Longer than the outage: agents are not set offline because their heartbeats stopped with Redis.
        presenceGraceMs: downMs + 60_000,
        presenceHeartbeatMs: 500,
        duplicateSweepMs: 600_000,
      },
    });

    // Four agents, offered four of six chats (capacity one each): two wait in the queue.
    for (let i = 0; i < 4; i++) await addAgent();
    expect((await ingest([chat(), chat(), chat(), chat(), chat(), chat()])).failed).toEqual([]);
    const pending = await waitFor(async () => {
      const live = (await offersOf(ctx.services.pool)).filter((o) => o.status === 'offered');
      return live.length === 4 ? live : undefined;
    }, settleMs);
    const pendingIds = new Set(pending.map((o) => o.id));

    await stopRedis(inject('faultServices'));
    // Contacts arriving meanwhile: those refused are resent once Redis is back, as a provider retries.
    const during = [chat(), chat()];
    const duringReport = await ingest(during);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await startRedis(inject('faultServices'));
    report(
      `redis: ${during.length - duringReport.failed.length} of ${during.length} contacts ingested while it was down`,
    );
    const refused = during.filter((c) => duringReport.failed.some((f) => f.externalId === c.externalId));
    if (refused.length > 0) {
      await waitFor(async () => ((await ingest(refused)).failed.length === 0 ? true : undefined), settleMs);
    }

    // Agents now accept what they are offered except the offers pending across the outage (those must
    // expire), and eight more come in: more agents than contacts, since a contact is never offered twice to
    // one agent (the agent whose offer expired cannot take that contact back).
    for (const console of consoles) console.acceptWhen((offer) => !pendingIds.has(offer.offerId));
    for (let i = 0; i < 8; i++) (await addAgent()).acceptWhen((offer) => !pendingIds.has(offer.offerId));

    await waitFor(async () => {
      const { rows } = await ctx.services.pool.query<{ status: string }>('select status from interactions');
      return rows.length === 8 && rows.every((r) => r.status === 'assigned') ? true : undefined;
    }, settleMs).catch(async (error: unknown) => {
      const state = await ctx.services.pool.query(
        `select i.id, i.status, array_agg(o.status order by o.offered_at) as offers
           from interactions i left join offers o on o.interaction_id = i.id group by i.id`,
      );
      throw new Error(`${String(error)}\n${JSON.stringify(state.rows)}\nnode's log:\n${nodeLog(node!)}`);
    });

    const offers = await offersOf(ctx.services.pool);
    for (const id of pendingIds) {
      const row = offers.find((o) => o.id === id)!;
      expect(row.status).toBe('expired');
      expect(row.settledAt!.getTime()).toBeGreaterThanOrEqual(row.expiresAt.getTime());
      expect(offers.some((o) => o.interactionId === row.interactionId && o.offeredAt > row.offeredAt)).toBe(
        true,
      );
    }
    expect(overlappingOffers(offers)).toEqual([]);
    expect(await halfWrittenInteractions(ctx.services.pool)).toEqual([]);
    // The process lived through it: it still answers its protocol and still serves sockets.
    expect((await ingest([])).failed).toEqual([]);
    expect(consoles.every((c) => c.socket.connected)).toBe(true);
  });
});

import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels, type Channel, type InboundContact } from '../../src/interactions/inbound-contact.js';
import { SimulatedAgent, randomFrom, type Behaviour, type Cluster } from '../support/agent-simulator.js';
import type { Agent } from '../../src/db/repositories/agents.repository.js';
import type { ClusterNodeStart, IngestReport } from '../support/cluster-node.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

/*
 * The routing issue's acceptance test: three server processes on one Postgres and Redis, each running the
 * whole app with its job worker (timeouts, sweeps and presence checks run everywhere, as in production);
 * 60 simulated agents (tests/support/agent-simulator.ts), real socket.io clients spread over the processes,
 * that accept, reject or ignore offers at random, close their work over HTTP, take breaks, reload, and move
 * to another process when theirs dies; 2,000 contacts on all four channels sent to all processes at once, in
 * batches, paced. When 40% have been sent, one process is killed (SIGKILL) after committing a batch it never
 * answered: that batch is resent to the others (ingest is idempotent), and so is everything that would have
 * gone to it; its agents reconnect elsewhere; the offers it held are expired by the timeout jobs and sweeps
 * of the survivors and re-offered.
 * Then everyone accepts until nothing waits, and the event log and the offers table are checked for what
 * must never happen (each check below says which).
 */

const nodeCount = 3;
const agentCount = 60;
const contactCount = 2000;
const batchSize = 20;
/*
 * Arrivals are paced by backpressure: a batch goes out only while fewer than maxWaiting contacts wait (new or
 * queued), and never faster than maxArrivalsPerSecond. So the queues stay short whatever the machine's speed
 * (a 2-core machine shared with other work serves ~30-60 contacts a second here), and the strategies pick
 * among several free agents, which is what the fairness check measures. (A backlog far beyond the
 * dispatcher's window of 200 contacts starves lower-priority queues: see the report that came with this
 * test.)
 */
const maxWaiting = 80;
const maxArrivalsPerSecond = 150;
const killAfterShare = 0.4;
const offerTimeoutSeconds = 2;
/*
 * Presence grace above the offer timeout, on purpose: the agents whose process dies reconnect after the
 * offers they held there expired (2.3-2.9 s, reconnectDelayMs), within the grace, so their state is kept
 * and those offers are settled the way the issue says: by the timeout jobs (or the sweep) of the
 * survivors, then re-offered. With a grace below the timeout they would go offline and the offers be
 * withdrawn instead, which the realtime tests already cover.
 */
const presenceGraceMs = 4000;
const presenceHeartbeatMs = 300;
const offerSweepMs = 1000;
/*
 * The duplicate sweep is pushed out of the run: every contact here creates a customer that ingest flags for a
 * duplicate check, and at the default 2 s the sweep's runs (tens of seconds each on this machine) pile up on
 * the job worker that also runs the offer timeouts, which then fire seconds late (an engine problem, reported
 * with this test; the summary prints job waits so that it stays visible). Routing is what is under test.
 */
const duplicateSweepMs = 600_000;
/** Fairness (check d): no agent picked more than this many times its fair share, nor less than 1/this. */
const maxFairRatio = 2.5;
const nodeStartTimeoutMs = 120_000;
const drainTimeoutMs = 120_000;
const origin = 'http://localhost:3000';

/*
 * Four queues, one per strategy that balances work (account-owner is covered elsewhere); the skilled queue
 * has a 1 s wrap-up, the others none. missesBeforeAway 3: an agent ignores ~15% of offers, and the agents of
 * the killed process miss what they held, so the engine sets agents away for misses every run (they notice
 * the state push and come back), yet an agent is rarely away for long.
 */
const rules = `
queues:
  - { name: rr, strategy: round-robin, skills: { rr: 1 }, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
  - { name: lb, strategy: least-busy, skills: { lb: 1 }, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
  - { name: skilled, strategy: skills, skills: { tech: 2 }, channels: [voice, email, chat, fax], wrapUpSeconds: 1 }
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
rules:
  - { name: technical, when: { keywords: technical }, queue: skilled, priority: 10 }
  - { name: rotate, when: { keywords: rotate }, queue: rr, priority: 5 }
  - { name: balance, when: { keywords: balance }, queue: lb, priority: 5 }
  - { name: default, queue: general, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 3 }
  email: { max: 4 }
  fax: { max: 2 }
options:
  offerTimeoutSeconds: ${offerTimeoutSeconds}
  missesBeforeAway: 3
`;
type QueueName = 'rr' | 'lb' | 'skilled' | 'general';
const strategyOf: Record<QueueName, string> = {
  rr: 'round-robin',
  lb: 'least-busy',
  skilled: 'skills',
  general: 'longest-idle',
};
const defaultCapacity: Record<Channel, number> = { voice: 1, chat: 3, email: 4, fax: 2 };
const textOf: Record<QueueName, string> = {
  rr: 'Please rotate me to whoever is next',
  lb: 'I need to balance my account',
  skilled: 'A technical question about my router',
  general: 'Hello, I have a question',
};

const behaviour: Behaviour = {
  acceptShare: 0.75,
  rejectShare: 0.1,
  thinkMs: [30, 400],
  holdMs: [200, 1500],
  breakEveryMs: [2000, 5000],
  breakMs: [800, 2500],
  comebackMs: [300, 1500],
  reloadChance: 0.04,
  reloadGapMs: [50, 400],
  reconnectDelayMs: [2300, 2900],
};

interface AgentPlan {
  index: number;
  group: 'rr' | 'lb' | 'tech' | 'general';
  skills: Record<string, number>;
  capacity: Partial<Record<Channel, number>>;
  takesBreaks: boolean;
}

/** 12 round-robin agents, 12 least-busy agents, 20 with a tech level 1-5, 16 generalists; some overrides. */
function planAgents(): AgentPlan[] {
  return Array.from({ length: agentCount }, (_, index): AgentPlan => {
    const takesBreaks = index % 4 === 3;
    if (index < 12) return { index, group: 'rr', skills: { rr: 1 }, capacity: {}, takesBreaks };
    if (index < 24) return { index, group: 'lb', skills: { lb: 1 }, capacity: {}, takesBreaks };
    const capacity: Partial<Record<Channel, number>> =
      index % 4 === 0 ? { voice: 0, fax: 1 } : index % 4 === 1 ? { chat: 2, email: 2 } : {};
    if (index < 44) return { index, group: 'tech', skills: { tech: 1 + (index % 5) }, capacity, takesBreaks };
    return { index, group: 'general', skills: {}, capacity, takesBreaks };
  });
}

function capacityOf(plan: AgentPlan): Record<Channel, number> {
  const capacity = { ...defaultCapacity, ...plan.capacity };
  capacity.voice = Math.min(capacity.voice, 1);
  return capacity;
}

function isEligibleFor(plan: AgentPlan, queue: QueueName): boolean {
  switch (queue) {
    case 'rr':
      return plan.group === 'rr';
    case 'lb':
      return plan.group === 'lb';
    case 'skilled':
      return (plan.skills.tech ?? 0) >= 2;
    case 'general':
      return true;
  }
}

/** Contact i: channel by turn, queue by a seeded draw (25% rr, 25% lb, 20% skilled, 30% general). */
function planContacts(): { contact: InboundContact; queue: QueueName }[] {
  const random = randomFrom(4242);
  return Array.from({ length: contactCount }, (_, i) => {
    const channel = channels[i % channels.length]!;
    const roll = random();
    const queue: QueueName = roll < 0.25 ? 'rr' : roll < 0.5 ? 'lb' : roll < 0.7 ? 'skilled' : 'general';
    const identity =
      channel === 'voice'
        ? { kind: 'phone' as const, value: `+1415${2_000_000 + i}` }
        : channel === 'fax'
          ? { kind: 'fax' as const, value: `+1212${3_000_000 + i}` }
          : channel === 'email'
            ? { kind: 'email' as const, value: `customer${i}@load.test` }
            : { kind: 'chat_visitor' as const, value: `visitor-${i}` };
    const contact: InboundContact = {
      channel,
      externalId: `load-${i}`,
      identities: [identity],
      text: textOf[queue],
      ...(channel === 'email' && { subject: `Question ${i}` }),
    };
    return { contact, queue };
  });
}

interface ClusterNode {
  index: number;
  worker: WorkerProcess;
  url: string;
  pid: number;
  offerLog: string;
  isAlive: boolean;
  batchesSent: number;
}

let ctx: TestContext;
let rulesFolder: ReturnType<typeof writeRulesFolder>;
let workDir: string;
let nodes: ClusterNode[] = [];
let created: Agent[] = [];
let bootMs = 0;
let agents: SimulatedAgent[] = [];
/** Ends the loads sampler of a test that failed before it did (afterAll, before the pool closes). */
let stopSampling = async () => {};

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const us = (column: string) => `(extract(epoch from ${column}) * 1000000)::bigint`;

beforeAll(async () => {
  const bootStartedAt = Date.now();
  rulesFolder = writeRulesFolder(rules);
  workDir = mkdtempSync(join(tmpdir(), 'switchboard-load-'));
  ctx = await createTestContext({ config: { routingRulesDir: rulesFolder.dir, publicBaseUrl: origin } });
  const starting = Array.from({ length: nodeCount }, async (_, index) => {
    const worker = startWorkerProcess(
      new URL('../support/cluster-node.ts', import.meta.url),
      ctx.config,
      nodeStartTimeoutMs,
    );
    const start: ClusterNodeStart = {
      config: { publicBaseUrl: origin, presenceGraceMs, presenceHeartbeatMs, offerSweepMs, duplicateSweepMs },
      logFile: join(workDir, `node-${index}.log`),
      offerLog: join(workDir, `offers-${index}.log`),
    };
    worker.send(`start ${JSON.stringify(start)}`);
    const { port, pid } = JSON.parse(await worker.expectLine('ready')) as { port: number; pid: number };
    const node: ClusterNode = {
      index,
      worker,
      url: `http://127.0.0.1:${port}`,
      pid,
      offerLog: start.offerLog,
      isAlive: true,
      batchesSent: 0,
    };
    return node;
  });
  // The agents are created meanwhile: hashing 60 passwords takes seconds too.
  const creating = Promise.all(
    planAgents().map((plan) =>
      ctx.services.agents.create(
        {
          email: `load-agent-${plan.index}@load.test`,
          displayName: `Load agent ${plan.index}`,
          role: 'agent',
          password: `password-${plan.index}`,
          skills: plan.skills,
          capacity: plan.capacity,
        },
        null,
      ),
    ),
  );
  nodes = await Promise.all(starting);
  created = await creating;
  bootMs = Date.now() - bootStartedAt;
}, nodeStartTimeoutMs + 30_000);

afterAll(async () => {
  try {
    await stopSampling().catch(() => undefined);
    await Promise.allSettled(agents.map((a) => a.stop()));
    await Promise.allSettled(nodes.filter((n) => n.isAlive).map((n) => n.worker.stop()));
  } finally {
    await ctx?.close();
    rulesFolder?.remove();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  }
}, 120_000);

describe('routing under load, with a killed process', () => {
  it('never puts an agent over capacity, never offers a contact twice at once, loses nothing, and spreads work fairly', async () => {
    const startedAt = Date.now();
    const plans = planAgents();
    const contacts = planContacts();
    const queueOfExternalId = new Map(contacts.map((c) => [c.contact.externalId, c.queue]));

    // --- agents (created with passwords while the processes started): logged in over HTTP, sockets -----
    //     spread over the processes
    const planOf = new Map(created.map((agent, i) => [agent.id, plans[i]!]));
    let isDraining = false;
    const cluster: Cluster = {
      origin,
      liveUrls: () => nodes.filter((n) => n.isAlive).map((n) => n.url),
      get isDraining() {
        return isDraining;
      },
    };
    agents = created.map(
      (agent, i) =>
        new SimulatedAgent(
          {
            agentId: agent.id,
            email: `load-agent-${i}@load.test`,
            password: `password-${i}`,
            seed: 1000 + i,
            takesBreaks: plans[i]!.takesBreaks,
            homeUrl: nodes[i % nodeCount]!.url,
          },
          cluster,
          behaviour,
        ),
    );
    await Promise.all(agents.map((a) => a.start()));
    await waitUntil(
      async () => {
        const { rows } = await ctx.services.pool.query<{ n: number }>(
          `select count(*)::int as n from agent_states where state = 'available'`,
        );
        return rows[0]!.n === agentCount;
      },
      60_000,
      async () => {
        const notYet = agents.filter((a) => a.state !== 'available');
        return `${await stuckReport(ctx)}\nnot available: ${notYet
          .map(
            (a) => `${a.agentId} ${a.state} on ${a.connectedUrl ?? 'no socket'} ${a.stats.errors.join('; ')}`,
          )
          .join('\n')}`;
      },
    );
    const readyAt = Date.now();
    for (const agent of agents) agent.beginRoutine();

    // --- loads sampled during the run: a consistent snapshot must always agree ------------------------
    let acknowledged = 0;
    const loadSamples: string[] = [];
    let sampleCount = 0;
    let isSampling = true;
    const sampling = (async () => {
      while (isSampling) {
        loadSamples.push(...(await loadMismatches(ctx)));
        sampleCount += 1;
        await wait(500);
      }
    })();
    stopSampling = async () => {
      isSampling = false;
      await sampling;
    };

    // --- contacts: batches to every process at once, paced; one process killed at 40% ----------------
    const pending: InboundContact[][] = [];
    for (let i = 0; i < contacts.length; i += batchSize)
      pending.push(contacts.slice(i, i + batchSize).map((c) => c.contact));
    let inFlight = 0;
    let resent = 0;
    let duplicates = 0;
    const ingestFailures: string[] = [];
    let kill: Promise<KillRecord> | undefined;
    const doomed = nodes[nodeCount - 1]!;
    const sendStartedAt = Date.now();
    let nextReleaseAt = sendStartedAt;
    let waiting = 0;
    const watchWaiting = (async () => {
      while (acknowledged < contactCount) {
        const { rows } = await ctx.services.pool.query<{ n: number }>(
          `select count(*)::int as n from interactions where status in ('new', 'queued')`,
        );
        waiting = rows[0]!.n;
        await wait(100);
      }
    })();
    /** The next batch may go: the rate allows it and the queues are short enough (see maxWaiting). */
    const mayRelease = () =>
      Date.now() >= nextReleaseAt && waiting + inFlight * batchSize + batchSize <= maxWaiting;

    const sender = async (node: ClusterNode) => {
      while (acknowledged < contactCount && node.isAlive) {
        if (pending.length === 0 || !mayRelease()) {
          await wait(10);
          continue;
        }
        const batch = pending.shift()!;
        nextReleaseAt = Math.max(nextReleaseAt, Date.now()) + (batchSize * 1000) / maxArrivalsPerSecond;
        inFlight += 1;
        try {
          if (node === doomed && !kill && acknowledged >= contactCount * killAfterShare) {
            // The kill: this batch is committed, then the process dies before it answers. Its sender
            // cannot tell what was committed and resends the whole batch (ingest is idempotent).
            node.worker.send(`ingest-slowly 60000 ${JSON.stringify(batch)}`);
            const atKill = acknowledged;
            kill = waitUntil(async () => {
              const { rows } = await ctx.services.pool.query<{ n: number }>(
                'select count(*)::int as n from interactions where external_id = any($1)',
                [batch.map((c) => c.externalId)],
              );
              return rows[0]!.n === batch.length;
            }, 30_000).then(() => killNode(node, atKill));
          } else {
            node.worker.send(`ingest ${JSON.stringify(batch)}`);
          }
          const report = JSON.parse(await node.worker.expectLine('ingested', 60_000)) as IngestReport;
          node.batchesSent += 1;
          duplicates += report.duplicates;
          acknowledged += report.ok;
          if (report.failed.length) {
            // Sent again, like a provider retrying a webhook the server refused.
            ingestFailures.push(...report.failed.map((f) => `${f.externalId}: ${f.error}`));
            const failed = new Set(report.failed.map((f) => f.externalId));
            pending.push(batch.filter((c) => failed.has(c.externalId)));
          }
        } catch (error) {
          if (node.isAlive) throw error;
          // Killed while it had this batch: the whole batch goes to another process (idempotent).
          resent += batch.length;
          pending.unshift(batch);
        } finally {
          inFlight -= 1;
        }
      }
    };
    await Promise.all(nodes.map(sender));
    await watchWaiting;
    const sentAt = Date.now();
    const killed = await kill!;
    isDraining = true;

    // --- drain: everyone accepts until nothing waits and all work is closed ----------------------------
    await waitUntil(
      async () => {
        const { rows } = await ctx.services.pool.query<{ total: number; open: number }>(
          `select count(*)::int as total, count(*) filter (where status <> 'closed')::int as open from interactions`,
        );
        return rows[0]!.total >= contactCount && rows[0]!.open === 0 && agents.every((a) => !a.isBusy);
      },
      drainTimeoutMs,
      () => stuckReport(ctx),
    );
    const drainedAt = Date.now();
    await stopSampling();
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(nodes.filter((n) => n.isAlive).map((n) => n.worker.stop()));
    const stoppedAt = Date.now();

    // --- what the database recorded --------------------------------------------------------------------
    const log = await readLog(ctx);
    const offers = log.offers;
    const offersByInteraction = groupBy(offers, (o) => o.interactionId);
    const offersByAgent = groupBy(offers, (o) => o.agentId);
    const interactionById = new Map(log.interactions.map((i) => [i.id, i]));
    const violations: Record<string, string[]> = {};
    const violation = (check: string, what: string) => (violations[check] ??= []).push(what);

    // The run did what it says: contacts resent after the kill, rejects, timeouts, comebacks, failovers.
    const simTotals = totals(agents.map((a) => a.stats));
    expect(resent).toBe(batchSize);
    expect(duplicates).toBe(batchSize);
    expect(offers.some((o) => o.status === 'rejected')).toBe(true);
    expect(offers.some((o) => o.status === 'expired')).toBe(true);
    expect(simTotals.failovers).toBeGreaterThan(0);
    expect(agents.flatMap((a) => a.stats.errors)).toEqual([]);

    // a. No agent ever over capacity on any channel; nothing else offered while on a call; nothing offered
    //    while away, offline or in wrap-up; nothing offered to an agent the queue's skills exclude.
    for (const [agentId, held] of offersByAgent) {
      const plan = planOf.get(agentId)!;
      const capacity = capacityOf(plan);
      const holds = held.map((o) => ({ offer: o, from: o.offeredUs, to: holdEnd(o, interactionById) }));
      for (const channel of channels) {
        const points: [number, number][] = [];
        for (const h of holds.filter((h) => h.offer.channel === channel)) {
          points.push([h.from, +1]);
          if (h.to !== null) points.push([h.to, -1]);
        }
        // A release and a claim at the same microsecond: the release first.
        points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        let count = 0;
        for (const [at, delta] of points) {
          count += delta;
          if (count > capacity[channel])
            violation('a', `${agentId} held ${count} ${channel} (capacity ${capacity[channel]}) at ${at}`);
        }
      }
      const calls = holds.filter((h) => h.offer.channel === 'voice');
      for (const h of holds) {
        const o = h.offer;
        if (o.capacity !== capacity[o.channel] || o.loadAfter > capacity[o.channel])
          violation(
            'a',
            `offer ${o.id}: load ${o.loadAfter}/${o.capacity}, rules say ${capacity[o.channel]}`,
          );
        if (
          o.channel !== 'voice' &&
          calls.some((c) => c.from <= o.offeredUs && (c.to === null || c.to > o.offeredUs))
        )
          violation('a', `offer ${o.id} (${o.channel}) made to ${agentId} while on a call`);
        const state = stateAt(log.states.get(agentId) ?? [], o.offeredUs);
        if (state !== 'available' && state !== 'on_contact')
          violation('a', `offer ${o.id} made to ${agentId} while ${state}`);
        if (!isEligibleFor(plan, o.queue as QueueName))
          violation('a', `offer ${o.id} of queue ${o.queue} made to ${plan.group} agent ${agentId}`);
        if (o.strategy !== strategyOf[o.queue as QueueName])
          violation('a', `offer ${o.id} of queue ${o.queue} picked by ${o.strategy}`);
      }
    }

    // b. No contact ever offered to two agents at once, offered again once accepted, or offered twice to
    //    the same agent.
    for (const [interactionId, list] of offersByInteraction) {
      for (let i = 1; i < list.length; i++) {
        const previous = list[i - 1]!;
        const next = list[i]!;
        if (previous.status === 'accepted') violation('b', `${interactionId} offered again after an accept`);
        if (previous.settledUs === null || previous.settledUs > next.offeredUs)
          violation('b', `${interactionId}: offers ${previous.id} and ${next.id} live at once`);
      }
      if (new Set(list.map((o) => o.agentId)).size !== list.length)
        violation('b', `${interactionId} offered twice to one agent`);
    }

    // c. Nothing lost: exactly the 2,000 contacts sent, each once, each offered, each ended with the one
    //    agent who accepted it and closed by them.
    expect(log.interactions).toHaveLength(contactCount);
    expect(new Set(log.interactions.map((i) => i.externalId))).toEqual(new Set(queueOfExternalId.keys()));
    for (const interaction of log.interactions) {
      const list = offersByInteraction.get(interaction.id) ?? [];
      const accepted = list.filter((o) => o.status === 'accepted');
      if (list.length === 0) violation('c', `${interaction.externalId} never offered`);
      if (interaction.messages !== 1)
        violation('c', `${interaction.externalId} logged ${interaction.messages} messages`);
      if (interaction.queue !== queueOfExternalId.get(interaction.externalId))
        violation('c', `${interaction.externalId} queued in ${interaction.queue}`);
      if (interaction.status !== 'closed' || interaction.closedReason !== 'agent closed')
        violation('c', `${interaction.externalId} ended ${interaction.status} (${interaction.closedReason})`);
      if (accepted.length !== 1 || accepted[0]!.agentId !== interaction.assigneeId)
        violation(
          'c',
          `${interaction.externalId}: accepted by ${accepted.map((o) => o.agentId).join()}, assigned to ${interaction.assigneeId}`,
        );
    }
    expect(log.transfers).toBe(0);

    // e. The killed process's live offers at the kill: settled by the survivors and re-offered. Offers it
    //    had pushed to its own sockets nobody could answer: their agents were gone until after they
    //    expired, so the survivors' timeout jobs or sweep expired them (presence may have withdrawn one
    //    first, were a reconnect slow: cancelled), never early, and the contact was offered to another.
    const createdThere = new Set(readFileSync(killed.node.offerLog, 'utf8').split('\n').filter(Boolean));
    const liveAtKill = (o: OfferRow) =>
      o.offeredUs < killed.deadAtUs && (o.settledUs === null || o.settledUs > killed.deadAtUs);
    const madeThere = offers.filter((o) => createdThere.has(o.id) && liveAtKill(o));
    const heldThere = offers.filter((o) => killed.agentsThere.has(o.agentId) && liveAtKill(o));
    expect(madeThere.length + heldThere.length).toBeGreaterThan(0);
    expect(heldThere.length).toBeGreaterThan(0);
    for (const o of [...madeThere, ...heldThere]) {
      if (o.settledUs === null) violation('e', `offer ${o.id} live at the kill was never settled`);
      if (o.status !== 'accepted') {
        const later = (offersByInteraction.get(o.interactionId) ?? []).filter(
          (x) => x.offeredUs > o.offeredUs,
        );
        if (!later.some((x) => x.agentId !== o.agentId))
          violation('e', `offer ${o.id} live at the kill (${o.status}): its contact was never re-offered`);
      }
    }
    for (const o of heldThere)
      if (o.status !== 'expired' && o.status !== 'cancelled')
        violation('e', `offer ${o.id} held by the killed process ended ${o.status}`);
    for (const o of offers.filter((o) => o.status === 'expired'))
      if (o.settledUs! < o.expiresUs)
        violation('e', `offer ${o.id} expired ${(o.expiresUs - o.settledUs!) / 1000} ms early`);
    // Loads: never negative, exactly the live offers and accepted work they count (sampled all along),
    // and nothing left once everything is closed.
    expect(loadSamples).toEqual([]);
    expect(sampleCount).toBeGreaterThan(5);
    expect(log.loads.filter((l) => l.load !== 0)).toEqual([]);

    // d. Fairness, judged against who could have been picked. For every offer a strategy chose among
    //    several agents (trigger 'dispatch'; an agent who frees up is offered work alone), the agents of the
    //    queue's group who were eligible at that instant are rebuilt from the log: a working state, no call,
    //    room on the channel, not having declined that contact. Round-robin should spread its picks evenly
    //    over them: each eligible agent earns 1/|eligible| of a "fair share" per pick. Least-busy should
    //    pick among the least loaded (load/capacity on the channel; within one contact of the least, which
    //    is what a slightly stale snapshot sees): each of them earns 1/|least loaded|. This counts breaks,
    //    misses and full channels as what they are (fewer chances), so every agent of the group is judged.
    //    Tolerance: each agent with a fair share of 10 or more is picked between 1/maxFairRatio and
    //    maxFairRatio times its share (0.4x-2.5x). Why that wide: with ~35 picks per agent the count alone
    //    varies by ~±17% (one sigma), and the dispatcher decides on snapshots that are up to seconds stale on
    //    a loaded machine while three processes pick at once, so the rebuilt candidate sets are approximate;
    //    measured over runs: 0.55x-1.62x. What it is for: a rotation stuck on or restarting from the same
    //    agents, or a least-busy that ignores load, gives the favoured agents several times their share and
    //    starves others (ratios near 0), far outside it. Ratios per agent are in the summary.
    const holdsByAgent = new Map(
      [...offersByAgent].map(([agentId, list]) => [
        agentId,
        list.map((o) => ({ offer: o, from: o.offeredUs, to: holdEnd(o, interactionById) })),
      ]),
    );
    const heldAt = (agentId: string, channel: Channel | 'any', atUs: number) =>
      (holdsByAgent.get(agentId) ?? []).filter(
        (h) =>
          (channel === 'any' || h.offer.channel === channel) &&
          h.from < atUs &&
          (h.to === null || h.to > atUs),
      ).length;
    const declinedBefore = (agentId: string, o: OfferRow) =>
      (offersByInteraction.get(o.interactionId) ?? []).some(
        (x) => x.agentId === agentId && x.offeredUs < o.offeredUs,
      );
    const loadRatio = (agentId: string, o: OfferRow) =>
      heldAt(agentId, o.channel, o.offeredUs) / capacityOf(planOf.get(agentId)!)[o.channel];
    const eligibleFor = (o: OfferRow, group: 'rr' | 'lb') =>
      [...planOf]
        .filter(([agentId, plan]) => {
          if (plan.group !== group) return false;
          const capacity = capacityOf(plan)[o.channel];
          const state = stateAt(log.states.get(agentId) ?? [], o.offeredUs);
          return (
            (state === 'available' || state === 'on_contact') &&
            capacity > 0 &&
            heldAt(agentId, 'voice', o.offeredUs) === 0 &&
            heldAt(agentId, o.channel, o.offeredUs) < capacity &&
            !declinedBefore(agentId, o)
          );
        })
        .map(([agentId]) => agentId);
    const fairness = (['rr', 'lb'] as const).map((group) => {
      const picks = new Map<string, number>();
      const share = new Map<string, number>();
      let decisions = 0;
      for (const o of offers.filter((o) => o.queue === group && o.trigger === 'dispatch')) {
        let candidates = eligibleFor(o, group);
        if (group === 'lb' && candidates.length > 0) {
          // The least loaded, and those within one contact of them (what a slightly stale snapshot sees).
          const least = Math.min(...candidates.map((a) => loadRatio(a, o)));
          candidates = candidates.filter(
            (a) => loadRatio(a, o) <= least + 1 / capacityOf(planOf.get(a)!)[o.channel] + 1e-9,
          );
        }
        if (candidates.length === 0) continue; // rebuilt as nobody free: the snapshot saw otherwise
        decisions += 1;
        picks.set(o.agentId, (picks.get(o.agentId) ?? 0) + 1);
        for (const a of candidates) share.set(a, (share.get(a) ?? 0) + 1 / candidates.length);
      }
      const ratios = [...share]
        .filter(([, fair]) => fair >= 10)
        .map(([agentId, fair]) => ({ agentId, picks: picks.get(agentId) ?? 0, fair }));
      const ratioOf = (r: { picks: number; fair: number }) => r.picks / r.fair;
      return {
        group,
        decisions,
        ratios,
        lowest: Math.min(...ratios.map(ratioOf)),
        highest: Math.max(...ratios.map(ratioOf)),
      };
    });
    for (const f of fairness) {
      if (f.ratios.length < 8)
        violation('d', `${f.group}: only ${f.ratios.length} agents had a fair share of 10`);
      for (const r of f.ratios)
        if (r.picks / r.fair > maxFairRatio || r.picks / r.fair < 1 / maxFairRatio)
          violation(
            'd',
            `${f.group}: ${r.agentId} picked ${r.picks} times for a fair share of ${r.fair.toFixed(1)}`,
          );
    }
    const lateness = offers
      .filter((o) => o.status === 'expired')
      .map((o) => (o.settledUs! - o.expiresUs) / 1000)
      .sort((a, b) => a - b);
    const percentile = (q: number) =>
      lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))] ?? 0;
    const jobs = await jobWaits(ctx, killed.deadAtUs / 1000);

    // --- summary for the CI log ----------------------------------------------------------------------
    const byStatus = countBy(offers, (o) => o.status);
    console.log(
      [
        `routing load: ${contactCount} contacts, ${agentCount} agents, ${nodeCount} processes (one killed)`,
        `  time: boot ${(bootMs / 1000).toFixed(1)} s, setup ${((readyAt - startedAt) / 1000).toFixed(1)} s, sending ${((sentAt - sendStartedAt) / 1000).toFixed(1)} s, ` +
          `drain ${((drainedAt - sentAt) / 1000).toFixed(1)} s, stop ${((stoppedAt - drainedAt) / 1000).toFixed(1)} s, test ${((stoppedAt - startedAt) / 1000).toFixed(1)} s`,
        `  offers: ${offers.length} (${Object.entries(byStatus)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}), ` +
          `per contact max ${Math.max(...[...offersByInteraction.values()].map((l) => l.length))}`,
        `  kill: at ${killed.acknowledgedAtKill} contacts acknowledged; resent ${resent} committed but unanswered, ` +
          `${duplicates} recognised as duplicates; ingest failures ${ingestFailures.length}`,
        `  killed process: made ${madeThere.length} offers live at the kill (${summarize(madeThere)}); ` +
          `its ${killed.agentsThere.size} agents held ${heldThere.length} (${summarize(heldThere)}); ` +
          `latest expiry ${Math.max(0, ...heldThere.filter((o) => o.status === 'expired').map((o) => (o.settledUs! - o.expiresUs) / 1000)).toFixed(0)} ms after due`,
        `  agents: ${Object.entries(simTotals)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
        `  expiries after due (ms): p50 ${percentile(0.5).toFixed(0)}, p95 ${percentile(0.95).toFixed(0)}, max ${percentile(1).toFixed(0)}`,
        `  fairness (picks / fair share, dispatch decisions): ${fairness
          .map(
            (f) =>
              `${f.group} ${f.decisions} decisions, ${f.lowest.toFixed(2)}-${f.highest.toFixed(2)} [${f.ratios.map((r) => (r.picks / r.fair).toFixed(2)).join(' ')}]`,
          )
          .join('; ')}`,
        ...jobs,
        `  loads sampled ${sampleCount} times; node batches ${nodes.map((n) => n.batchesSent).join('/')}`,
        ...nodeLogSummary(),
      ].join('\n'),
    );
    expect(ingestFailures).toEqual([]);
    expect(violations).toEqual({});
  }, 300_000);
});

// --- the kill ------------------------------------------------------------------------------------------

interface KillRecord {
  node: ClusterNode;
  /** Agents whose socket was on the process when it died. */
  agentsThere: Set<string>;
  acknowledgedAtKill: number;
  /** When the process was seen gone (microseconds): anything it committed is older. */
  deadAtUs: number;
}

async function killNode(node: ClusterNode, acknowledgedAtKill: number): Promise<KillRecord> {
  const agentsThere = new Set(agents.filter((a) => a.connectedUrl === node.url).map((a) => a.agentId));
  node.isAlive = false;
  process.kill(node.pid, 'SIGKILL');
  // Gone once the kernel has reaped it (Node reaps its children on SIGCHLD).
  for (;;) {
    try {
      process.kill(node.pid, 0);
    } catch {
      break;
    }
    await wait(5);
  }
  return { node, agentsThere, acknowledgedAtKill, deadAtUs: Date.now() * 1000 };
}

// --- reading the log -----------------------------------------------------------------------------------

interface OfferRow {
  id: string;
  interactionId: string;
  agentId: string;
  channel: Channel;
  queue: string;
  strategy: string;
  /** What started the pick (the offer.created event): a dispatch pass, or the agent freeing up. */
  trigger: string;
  status: string;
  offeredUs: number;
  settledUs: number | null;
  expiresUs: number;
  loadAfter: number;
  capacity: number;
}

interface InteractionRow {
  id: string;
  externalId: string;
  status: string;
  queue: string | null;
  assigneeId: string | null;
  closedUs: number | null;
  closedReason: string | null;
  messages: number;
}

async function readLog(ctx: TestContext) {
  const pool = ctx.services.pool;
  const { rows: offers } = await pool.query<{
    id: string;
    interaction_id: string;
    agent_id: string;
    channel: Channel;
    queue: string;
    strategy: string;
    trigger: string;
    status: string;
    load_after: number;
    capacity: number;
    offered_us: string;
    settled_us: string | null;
    expires_us: string;
  }>(
    `select id, interaction_id, agent_id, channel, queue, strategy, status, load_after, capacity,
       (select e.payload->>'trigger' from interaction_events e where e.interaction_id = o.interaction_id
          and e.type = 'offer.created' and e.payload->>'offerId' = o.id::text) as trigger,
       ${us('offered_at')} as offered_us, ${us('settled_at')} as settled_us, ${us('expires_at')} as expires_us
     from offers o order by offered_at, id`,
  );
  const { rows: interactions } = await pool.query<{
    id: string;
    external_id: string;
    status: string;
    queue: string | null;
    assignee_id: string | null;
    closed_reason: string | null;
    closed_us: string | null;
    messages: number;
  }>(
    `select i.id, i.external_id, i.status, i.queue, i.assignee_id, i.closed_reason, ${us('i.closed_at')} as closed_us,
       (select count(*) from interaction_events e where e.interaction_id = i.id and e.type = 'message.received')::int
         as messages
     from interactions i`,
  );
  const { rows: transfers } = await pool.query<{ n: number }>(
    `select count(*)::int as n from interaction_events where type = 'routing.transferred'`,
  );
  const { rows: states } = await pool.query<{
    agent_id: string;
    state: string;
    away_reason: string | null;
    at_us: string;
  }>(
    `select agent_id, state, away_reason, ${us('at')} as at_us from agent_state_history order by agent_id, at, id`,
  );
  const { rows: loads } = await pool.query<{ agent_id: string; channel: string; load: number }>(
    'select agent_id, channel, load from agent_loads',
  );
  const num = (v: string | null) => (v === null ? null : Number(v));
  return {
    offers: offers.map((r): OfferRow => ({
      id: r.id,
      interactionId: r.interaction_id,
      agentId: r.agent_id,
      channel: r.channel,
      queue: r.queue,
      strategy: r.strategy,
      trigger: r.trigger,
      status: r.status,
      offeredUs: Number(r.offered_us),
      settledUs: num(r.settled_us),
      expiresUs: Number(r.expires_us),
      loadAfter: r.load_after,
      capacity: r.capacity,
    })),
    interactions: interactions.map((r): InteractionRow => ({
      id: r.id,
      externalId: r.external_id,
      status: r.status,
      queue: r.queue,
      assigneeId: r.assignee_id,
      closedUs: num(r.closed_us),
      closedReason: r.closed_reason,
      messages: r.messages,
    })),
    transfers: transfers[0]!.n,
    states: groupBy(
      states.map((s) => ({
        agentId: s.agent_id,
        state: s.state,
        reason: s.away_reason,
        atUs: Number(s.at_us),
      })),
      (s) => s.agentId,
    ),
    loads,
  };
}

/**
 * When an offer stopped holding a slot: its settlement, or, accepted, the close of its interaction. Both are
 * recorded no later than the release commits (closed_at is the closing transaction's start), so the counts
 * rebuilt from them are never above what the engine held: a capacity found exceeded was exceeded.
 */
function holdEnd(offer: OfferRow, interactions: Map<string, InteractionRow>): number | null {
  if (offer.status === 'offered') return null;
  if (offer.status !== 'accepted') return offer.settledUs;
  return interactions.get(offer.interactionId)?.closedUs ?? null;
}

function stateAt(history: readonly { state: string; atUs: number }[], atUs: number): string {
  let state = 'offline';
  for (const entry of history) {
    if (entry.atUs > atUs) break;
    state = entry.state;
  }
  return state;
}

/**
 * How long each kind of job waited past its due time before a worker took it, and how long it ran, from the
 * jobs BullMQ still holds (the last 1,000 completed): offer timeouts share the worker with everything else.
 */
async function jobWaits(ctx: TestContext, killedAtMs: number): Promise<string[]> {
  const redis = new Redis(ctx.config.redisUrl!);
  try {
    const keys = await redis.keys(`${ctx.config.redisPrefix}bull:switchboard:*`);
    const byName: Record<string, { wait: number[]; run: number[] }> = {};
    const longWaits: string[] = [];
    for (const key of keys) {
      if ((await redis.type(key)) !== 'hash') continue;
      const job = await redis.hgetall(key);
      if (!job.name || !job.processedOn || !job.finishedOn || !job.opts) continue;
      // The hash's own `delay` is zeroed when the job is promoted; the options keep it.
      const due = Number(job.timestamp) + Number((JSON.parse(job.opts) as { delay?: number }).delay ?? 0);
      const waited = Number(job.processedOn) - due;
      const entry = (byName[job.name] ??= { wait: [], run: [] });
      entry.wait.push(waited);
      entry.run.push(Number(job.finishedOn) - Number(job.processedOn));
      if (waited > 5000)
        longWaits.push(
          `  job ${job.name} due ${((due - killedAtMs) / 1000).toFixed(1)} s after the kill waited ${waited} ms`,
        );
    }
    const at = (xs: number[], q: number) =>
      [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] ?? 0;
    return [
      ...Object.entries(byName).map(
        ([name, { wait, run }]) =>
          `  job ${name} x${wait.length}: waited p50 ${at(wait, 0.5)} p95 ${at(wait, 0.95)} max ${at(wait, 1)} ms, ` +
          `ran p50 ${at(run, 0.5)} p95 ${at(run, 0.95)} max ${at(run, 1)} ms`,
      ),
      ...longWaits.sort().slice(0, 8),
    ];
  } finally {
    redis.disconnect();
  }
}

/** Loads against the live offers and assigned work they count, in one consistent snapshot. */
async function loadMismatches(ctx: TestContext): Promise<string[]> {
  const client = await ctx.services.pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    const { rows: loads } = await client.query<{ agent_id: string; channel: string; load: number }>(
      'select agent_id, channel, load from agent_loads where load <> 0',
    );
    const { rows: held } = await client.query<{ agent_id: string; channel: string; n: number }>(
      `select agent_id, channel, count(*)::int as n from (
         select agent_id, channel from offers where status = 'offered'
         union all select assignee_id, channel from interactions where status = 'assigned') h
       group by agent_id, channel`,
    );
    await client.query('commit');
    const stored = new Map(loads.map((l) => [`${l.agent_id}/${l.channel}`, l.load]));
    const expected = new Map(held.map((h) => [`${h.agent_id}/${h.channel}`, h.n]));
    const mismatches: string[] = [];
    for (const key of new Set([...stored.keys(), ...expected.keys()]))
      if ((stored.get(key) ?? 0) !== (expected.get(key) ?? 0))
        mismatches.push(`${key}: load ${stored.get(key) ?? 0}, holds ${expected.get(key) ?? 0}`);
    return mismatches;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

function nodeLogSummary(): string[] {
  return nodes.map((n) => {
    const file = join(workDir, `node-${n.index}.log`);
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    const messages = countBy(
      lines.map((l) => JSON.parse(l) as { level: number; msg: string }),
      (l) => `${l.level >= 50 ? 'error' : 'warn'} '${l.msg}'`,
    );
    const text = Object.entries(messages)
      .map(([k, v]) => `${k} x${v}`)
      .join(', ');
    return `  node ${n.index}${n.isAlive ? '' : ' (killed)'} log: ${text || 'nothing at warn or above'}`;
  });
}

// --- small helpers -------------------------------------------------------------------------------------

async function waitUntil(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  explain: () => Promise<string> = async () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms\n${await explain()}`);
    await wait(250);
  }
}

/** What is still open, and the agents who could take it: for a drain that does not end. */
async function stuckReport(ctx: TestContext): Promise<string> {
  const pool = ctx.services.pool;
  const { rows: open } = await pool.query<{
    status: string;
    queue: string | null;
    channel: string;
    n: number;
  }>(
    `select status, queue, channel, count(*)::int as n from interactions where status <> 'closed'
     group by 1, 2, 3 order by 1, 2, 3`,
  );
  const { rows: states } = await pool.query<{ state: string; n: number }>(
    'select state, count(*)::int as n from agent_states group by 1 order by 1',
  );
  const { rows: loads } = await pool.query<{ channel: string; n: number; total: number }>(
    'select channel, count(*)::int as n, sum(load)::int as total from agent_loads where load > 0 group by 1',
  );
  const { rows: samples } = await pool.query<{ id: string; status: string; queue: string; channel: string }>(
    `select id, status, queue, channel from interactions where status <> 'closed' order by created_at limit 5`,
  );
  const busy = agents.filter((a) => a.isBusy).map((a) => a.agentId.slice(0, 8));
  return [
    `${new Date().toISOString()} open: ${open.map((r) => `${r.status}/${r.queue}/${r.channel} ${r.n}`).join(', ') || 'none'}`,
    `agent states: ${states.map((r) => `${r.state} ${r.n}`).join(', ')}`,
    `loads: ${loads.map((r) => `${r.channel} ${r.total} on ${r.n} agents`).join(', ') || 'none'}`,
    `oldest open: ${samples.map((r) => `${r.id} ${r.status} ${r.queue} ${r.channel}`).join('; ')}`,
    `simulated agents busy: ${busy.length} ${busy.join(' ')}`,
  ].join('\n');
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function summarize(offers: readonly OfferRow[]): string {
  return (
    Object.entries(countBy(offers, (o) => o.status))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  );
}

function totals<T extends object>(stats: readonly T[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const s of stats)
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

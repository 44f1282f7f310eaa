/*
 * The supervisors' live board (src/realtime/supervisor-events.ts), computed by one process of the cluster at a
 * time and pushed to every supervisor through the socket.io Redis adapter.
 *
 * Who computes: the holder of a Redis lease (src/jobs/lease.ts), and only while some process has a supervisor
 * socket (each such process refreshes a `watchers` key with a short TTL). Every process runs the same loop
 * every `tickMs`: refresh `watchers` if it has supervisors; if nobody watches, let the lease go; else take or
 * renew the lease and, holding it, compute, store (`board` key, for new sockets on any process) and publish.
 * A holder that dies stops renewing: another takes over once the lease lapses (`leaseMs`, 3 s).
 * Boards are at most one per `tickMs`: ticks start at least `tickMs` apart, and a new holder starts no sooner
 * than `tickMs` after the stored board's `at`.
 *
 * What a tick reads (live-board.repository.ts): contacts waiting per queue and channel (one grouped query on
 * interactions), every enabled agent with state, skills, capacity overrides and loads (one query), and the
 * log rows added since the last tick (interaction_events and agent_state_history, by id, with the ids skipped
 * by transactions that had not committed yet asked again for up to `holeTtlMs`). Today's events (and the
 * earlier events of every interaction seen today) and state changes are kept in memory on the holder; they
 * are read in full only when the lease is taken and when the day changes. The day figures are
 * contact-facts.ts and metrics.ts over those rows, so the board and the reports agree; the facts are rebuilt
 * from the rows in memory only on ticks that read new rows.
 *
 * Per queue: the threshold is the queue's serviceLevelSeconds and the target its serviceLevelTarget (rules;
 * 80 % by default). Alerts: a queue's service level today under its target, a contact waiting longer than
 * the queue's longestWaitAlertSeconds (three times its threshold by default), and open contacts whose SLA
 * clock runs past its due time (src/sla/). Each alert is handed to `onAlertRaised` on the board that first
 * shows it (the supervisors' alert email). Series: one point per 5-minute bucket of the day per queue: the most contacts waiting seen in the
 * bucket and the day's service level at the bucket's last board. The series and the alerts' `since` live in
 * the stored board, so a process that takes over goes on with them.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { InteractionEventType } from '../events.js';
import {
  skippedEvent,
  type BoardAgentRow,
  type IdentifiedEvent,
  type IdentifiedStateChange,
  type LiveBoardRepository,
  type LogCursor,
  type WaitingRow,
} from '../db/repositories/live-board.repository.js';
import { channels, type Channel } from '../interactions/inbound-contact.js';
import { createLease } from '../jobs/lease.js';
import type { RulesSource } from '../routing/dispatch.service.js';
import type { RuleSet } from '../routing/rules/rules.schema.js';
import { exclusiveChannels, formatDuration } from '../routing/strategies/eligibility.js';
import type {
  AgentBoardRow,
  BoardAlert,
  ChannelBoardRow,
  DayFigures,
  QueueBoardRow,
  QueueSeries,
  StaffingFigures,
  SupervisorBoard,
} from '../realtime/supervisor-events.js';
import { buildContactFacts, unknownQueue, type ContactFacts } from './contact-facts.js';
import { computeMetrics, type ContactFigures, type Metrics, type QueueTargets } from './metrics.js';

export const defaultTargetServiceLevel = 0.8;
export const longestWaitFactor = 3;
const defaultServiceLevelSeconds = 20;
const bucketMs = 5 * 60_000;
/** An id skipped by an uncommitted transaction is asked for this long, then taken as rolled back. */
const holeTtlMs = 10_000;
const maxHoles = 1000;
const readLimit = 10_000;
const metricsMaxAgeMs = 5000;

/**
 * The event types contact-facts.ts reads (ContactBuilder.apply); every other event changes no fact. Only
 * these are kept in memory, without the messages' text and html that most of the log's bytes are.
 */
const factEventTypes: readonly InteractionEventType[] = [
  'interaction.reopened',
  'routing.queued',
  'offer.created',
  'offer.accepted',
  'routing.transferred',
  'routing.escalated',
  'cannedReply.accepted',
  'interaction.closed',
];

export interface LiveBoardOptions {
  tickMs?: number;
  leaseMs?: number;
}

export function createLiveBoardService(deps: {
  repository: LiveBoardRepository;
  rules: RulesSource;
  redis: Redis;
  prefix: string;
  timeZone: string;
  /** Sends the board to every supervisor socket of the cluster. */
  publish: (board: SupervisorBoard) => void;
  /** Each alert when it is raised (on the board it first appears on): the supervisors' alert email. */
  onAlertRaised?: (alert: BoardAlert) => void;
  log: FastifyBaseLogger;
  options?: LiveBoardOptions;
}) {
  const tickMs = deps.options?.tickMs ?? 1000;
  const leaseMs = deps.options?.leaseMs ?? 3000;
  const keys = {
    lease: `${deps.prefix}supervisor:lease`,
    board: `${deps.prefix}supervisor:board`,
    watchers: `${deps.prefix}supervisor:watchers`,
  };
  const lease = createLease(deps.redis, keys.lease, leaseMs);
  const log = deps.log.child({ component: 'live-board' });

  let localWatchers = 0;
  let day: DayState | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let isStopped = false;
  let lastTickStartMs = -Infinity;
  /** Boards this process computed, and the CPU (user + system, ms) of the last few, for measuring. */
  let boardsComputed = 0;
  const tickCpu: number[] = [];
  const tickWall: number[] = [];

  async function tick(): Promise<void> {
    const startedMs = Date.now();
    lastTickStartMs = startedMs;
    if (localWatchers > 0) await deps.redis.set(keys.watchers, '1', 'PX', Math.max(3 * tickMs, 3000));
    if (!(await deps.redis.exists(keys.watchers))) {
      if (day !== null) {
        day = null;
        await lease.release();
      }
      return;
    }
    if (!(await lease.acquire())) {
      day = null;
      return;
    }
    // A long tick (a day read in full on taking over) keeps the lease; a stalled process cannot.
    const keepAlive = setInterval(() => void lease.renew().catch(() => undefined), leaseMs / 3);
    try {
      await computeAndPublish(startedMs);
    } finally {
      clearInterval(keepAlive);
    }
  }

  async function computeAndPublish(startedMs: number): Promise<void> {
    // CPU of the whole process while the tick runs (other work of the process included).
    const cpuStart = process.cpuUsage();
    const now = new Date(startedMs);
    const dayFrom = dayStartIn(deps.timeZone, now);
    if (day === null || day.from.getTime() !== dayFrom.getTime()) {
      const stored = await latest();
      // A new holder publishes no sooner than a tick after the last board, whoever computed it.
      if (stored && startedMs - Date.parse(stored.at) < tickMs) return;
      day = await loadDay(dayFrom, stored);
    }
    const board = await compute(day, now);
    // The lease may have lapsed while this tick ran (a stall): the new holder stores and publishes instead.
    if (!(await lease.renew())) {
      day = null;
      return;
    }
    await deps.redis.set(keys.board, JSON.stringify(board), 'PX', 24 * 3600_000);
    deps.publish(board);
    for (const alert of board.alerts) if (alert.since === board.at) deps.onAlertRaised?.(alert);
    const cpu = process.cpuUsage(cpuStart);
    boardsComputed += 1;
    tickCpu.push((cpu.user + cpu.system) / 1000);
    tickWall.push(Date.now() - startedMs);
    if (tickCpu.length > 60) tickCpu.shift();
    if (tickWall.length > 60) tickWall.shift();
  }

  function schedule(): void {
    if (isStopped) return;
    const delay = Math.max(0, lastTickStartMs + tickMs - Date.now());
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) => {
          day = null;
          log.warn({ err }, 'live board tick failed');
        })
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, delay);
    timer.unref();
  }

  async function loadDay(from: Date, stored: SupervisorBoard | undefined): Promise<DayState> {
    const heads = await deps.repository.logHeads();
    const [events, changes] = await Promise.all([
      deps.repository.eventsOfDay(from, heads.events, factEventTypes),
      deps.repository.stateChangesOfDay(from, heads.stateChanges),
    ]);
    const state = new DayState(from, nextDayStartIn(deps.timeZone, from));
    state.cursors.events.afterId = heads.events;
    state.cursors.changes.afterId = heads.stateChanges;
    for (const event of events) state.addEvent(event);
    state.changes.push(...changes);
    if (stored && stored.day.from === from.toISOString() && stored.day.timeZone === deps.timeZone) {
      for (const series of stored.series)
        state.series.set(
          series.queue,
          new Map(
            series.points.map((p) => [
              Date.parse(p.at),
              { waiting: p.waiting, serviceLevel: p.serviceLevel },
            ]),
          ),
        );
      for (const alert of stored.alerts) state.alertsSince.set(alertKey(alert), alert.since);
    }
    log.info(
      { from: from.toISOString(), events: events.length, changes: changes.length },
      'live board day loaded',
    );
    return state;
  }

  /** Reads the log rows added since the last read into `state`. */
  async function catchUp(state: DayState, nowMs: number): Promise<void> {
    for (;;) {
      const cursor = state.cursors.events;
      const read = await deps.repository.eventsAfter(cursor.view(nowMs), readLimit, factEventTypes);
      if (read.length === 0) break;
      const rows = read.filter((r) => (r.type as string) !== skippedEvent);
      const unknown = [
        ...new Set(rows.filter((r) => !state.events.has(r.interactionId)).map((r) => r.interactionId)),
      ];
      const maxId = rows.reduce((max, r) => (BigInt(r.id) > BigInt(max) ? r.id : max), cursor.afterId);
      // Interactions met for the first time: all their events so far (yesterday's routing.queued too).
      const unknownSet = new Set(unknown);
      for (const event of await deps.repository.eventsOf(unknown, maxId, factEventTypes))
        state.addEvent(event);
      for (const row of rows) if (!unknownSet.has(row.interactionId)) state.addEvent(row);
      cursor.advance(read, nowMs);
      if (read.length < readLimit) break;
    }
    for (;;) {
      const cursor = state.cursors.changes;
      const rows = await deps.repository.stateChangesAfter(cursor.view(nowMs), readLimit);
      if (rows.length === 0) break;
      for (const row of rows) state.addChange(row);
      cursor.advance(rows, nowMs);
      if (rows.length < readLimit) break;
    }
  }

  async function compute(state: DayState, now: Date): Promise<SupervisorBoard> {
    const rules = deps.rules.current;
    const [waiting, agents, slaBreached] = await Promise.all([
      deps.repository.waiting(),
      deps.repository.agents(),
      deps.repository.slaBreached(),
      catchUp(state, now.getTime()),
    ]);
    const metrics = state.metricsAsOf(now, rules);
    return shapeBoard({ state, now, rules, waiting, agents, slaBreached, metrics, timeZone: deps.timeZone });
  }

  async function latest(): Promise<SupervisorBoard | undefined> {
    const text = await deps.redis.get(keys.board);
    return text === null ? undefined : (JSON.parse(text) as SupervisorBoard);
  }

  return {
    start(): void {
      isStopped = false;
      schedule();
    },
    /** The last board computed anywhere in the cluster (undefined before the first). */
    latest,
    /** How many supervisor sockets this process holds: while any, it keeps the cluster computing. */
    setLocalWatchers(count: number): void {
      const wasIdle = localWatchers === 0;
      localWatchers = count;
      // The first supervisor here: tick now (spacing permitting) rather than wait out the interval.
      if (wasIdle && count > 0 && running === undefined && !isStopped) {
        clearTimeout(timer);
        schedule();
      }
    },
    /** Boards this process computed, and the CPU and wall milliseconds of the recent ones (newest last). */
    stats: () => ({ boardsComputed, recentCpuMs: [...tickCpu], recentWallMs: [...tickWall] }),
    async stop(): Promise<void> {
      isStopped = true;
      clearTimeout(timer);
      await running;
      if (day !== null) await lease.release().catch(() => undefined);
      day = null;
    },
  };
}

export type LiveBoardService = ReturnType<typeof createLiveBoardService>;

/** Where a log reader stands: the highest id read and the ids below it still missing, with when first missed. */
class Cursor {
  afterId = '0';
  readonly holes = new Map<string, number>();

  view(nowMs: number): LogCursor {
    for (const [id, since] of this.holes) if (nowMs - since > holeTtlMs) this.holes.delete(id);
    return { afterId: this.afterId, holes: [...this.holes.keys()] };
  }

  advance(rows: readonly { id: string }[], nowMs: number): void {
    let next = BigInt(this.afterId);
    const seen = new Set<bigint>();
    for (const row of rows) {
      const id = BigInt(row.id);
      this.holes.delete(row.id);
      seen.add(id);
      if (id > next) next = id;
    }
    for (let id = BigInt(this.afterId) + 1n; id < next; id += 1n)
      if (!seen.has(id)) {
        if (this.holes.size >= maxHoles) break;
        this.holes.set(String(id), nowMs);
      }
    this.afterId = String(next);
  }
}

interface SeriesPoint {
  waiting: number;
  serviceLevel: number | null;
}

/**
 * What the computing process keeps of today: the log rows, the facts built from them, series and alerts.
 *
 * The facts are rebuilt only for what changed: the interactions with new events and the interactions of the
 * agents with new state changes, widened until every agent handling any of them has all of their day's
 * interactions in the rebuild. That is what makes the result equal to a rebuild of the whole day: a wrap-up
 * is tied to the agent's latest close before it (contact-facts.ts `attachWrapUps`), so a rebuild must see all
 * of an agent's closes, and the next state change of the agent ends it.
 */
class DayState {
  /** Each interaction's events in log order, for every interaction with an event today. */
  readonly events = new Map<string, IdentifiedEvent[]>();
  /** Today's agent state changes and each agent's last one before today, in order of `at`. */
  readonly changes: IdentifiedStateChange[] = [];
  readonly cursors = { events: new Cursor(), changes: new Cursor() };
  facts: ContactFacts[] | null = null;
  readonly series = new Map<string, Map<number, SeriesPoint>>();
  readonly alertsSince = new Map<string, string>();
  readonly #factsById = new Map<string, ContactFacts>();
  /** The interactions each agent has handled (or holds), from the facts built so far. */
  readonly #workOf = new Map<string, Set<string>>();
  readonly #changedInteractions = new Set<string>();
  readonly #changedAgents = new Set<string>();
  #metrics: { metrics: Metrics; rules: RuleSet | undefined; atMs: number } | undefined;

  constructor(
    readonly from: Date,
    readonly to: Date,
  ) {}

  addEvent(event: IdentifiedEvent): void {
    this.#changedInteractions.add(event.interactionId);
    let list = this.events.get(event.interactionId);
    if (list === undefined) {
      list = [];
      this.events.set(event.interactionId, list);
    }
    const id = BigInt(event.id);
    const last = list.at(-1);
    if (last === undefined || BigInt(last.id) < id) {
      list.push(event);
      return;
    }
    // A late commit (a hole filled): into its place in log order, once.
    if (list.some((e) => e.id === event.id)) return;
    list.push(event);
    list.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  addChange(change: IdentifiedStateChange): void {
    this.#changedAgents.add(change.agentId);
    const last = this.changes.at(-1);
    this.changes.push(change);
    if (last !== undefined && last.at.getTime() > change.at.getTime())
      this.changes.sort((a, b) => a.at.getTime() - b.at.getTime() || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  /** Brings the facts up to date with the rows added since the last call; false when nothing changed. */
  refreshFacts(): boolean {
    if (this.facts !== null && this.#changedInteractions.size === 0 && this.#changedAgents.size === 0)
      return false;
    const ids =
      this.facts === null ? new Set(this.events.keys()) : new Set<string>(this.#changedInteractions);
    for (const agentId of this.#changedAgents) for (const id of this.#workOf.get(agentId) ?? []) ids.add(id);
    this.#changedInteractions.clear();
    this.#changedAgents.clear();
    let built: ContactFacts[];
    for (;;) {
      built = buildContactFacts(this.#eventsOf(ids), this.changes);
      const size = ids.size;
      for (const contact of built)
        for (const { agentId } of contact.handlings)
          for (const id of this.#workOf.get(agentId) ?? []) ids.add(id);
      if (ids.size === size) break;
    }
    for (const contact of built) {
      this.#factsById.set(contact.interactionId, contact);
      for (const { agentId } of contact.handlings) {
        let work = this.#workOf.get(agentId);
        if (work === undefined) {
          work = new Set();
          this.#workOf.set(agentId, work);
        }
        work.add(contact.interactionId);
      }
    }
    this.facts = [...this.#factsById.values()];
    return true;
  }

  /**
   * The day's figures at `now`, computed again when the facts or the rules changed. Otherwise they are kept
   * for up to `metricsMaxAgeMs`: without new facts only the agents' time in states (occupancy) moves.
   */
  metricsAsOf(now: Date, rules: RuleSet | undefined): Metrics {
    const isChanged = this.refreshFacts();
    const cached = this.#metrics;
    if (
      !isChanged &&
      cached !== undefined &&
      cached.rules === rules &&
      now.getTime() - cached.atMs < metricsMaxAgeMs
    )
      return cached.metrics;
    const targets = new Map<string, QueueTargets>();
    for (const queue of rules?.queues.values() ?? [])
      targets.set(queue.name, { serviceLevelSeconds: queue.serviceLevelSeconds, shortAbandonSeconds: 0 });
    const metrics = computeMetrics(this.facts!, this.changes, {
      from: this.from,
      to: this.to,
      asOf: now,
      targets,
      defaultTargets: { serviceLevelSeconds: defaultServiceLevelSeconds, shortAbandonSeconds: 0 },
    });
    this.#metrics = { metrics, rules, atMs: now.getTime() };
    return metrics;
  }

  *#eventsOf(ids: ReadonlySet<string>): Generator<IdentifiedEvent> {
    for (const id of ids) yield* this.events.get(id) ?? [];
  }
}

function dayFiguresOf(figures: ContactFigures | undefined): DayFigures {
  return {
    offered: figures?.offered ?? 0,
    answered: figures?.answered ?? 0,
    abandoned: figures?.abandoned ?? 0,
    serviceLevel: figures?.serviceLevel ?? null,
    serviceLevelWithAbandons: figures?.serviceLevelWithAbandons ?? null,
    asaSeconds: figures?.averageSpeedOfAnswerSeconds ?? null,
    ahtSeconds: figures?.averageHandleSeconds ?? null,
    abandonRate: figures?.abandonmentRate ?? null,
  };
}

/** Capacity as routing applies it: the agent's override, else the rules' default; exclusive channels at most 1. */
function capacityOf(agent: BoardAgentRow, channel: Channel, rules: RuleSet | undefined): number {
  const capacity = agent.capacityOverrides[channel] ?? rules?.capacity[channel].max ?? 0;
  return exclusiveChannels.has(channel) ? Math.min(capacity, 1) : capacity;
}

function staffingOf(agents: readonly BoardAgentRow[]): StaffingFigures {
  const staffing = { staffed: 0, available: 0, onContact: 0, wrapUp: 0, away: 0 };
  for (const agent of agents) {
    if (agent.state === 'offline') continue;
    staffing.staffed += 1;
    if (agent.state === 'available') staffing.available += 1;
    else if (agent.state === 'on_contact') staffing.onContact += 1;
    else if (agent.state === 'wrap_up') staffing.wrapUp += 1;
    else staffing.away += 1;
  }
  return staffing;
}

const alertKey = (alert: Pick<BoardAlert, 'kind' | 'queue' | 'channel'>) =>
  `${alert.kind}|${alert.queue}|${alert.channel ?? ''}`;

const percent = (ratio: number) => `${Math.round(ratio * 100)}%`;

function shapeBoard(input: {
  state: DayState;
  now: Date;
  rules: RuleSet | undefined;
  waiting: readonly WaitingRow[];
  agents: readonly BoardAgentRow[];
  slaBreached: readonly { queue: string; channel: Channel; breached: number }[];
  metrics: Metrics;
  timeZone: string;
}): SupervisorBoard {
  const { state, now, rules, metrics } = input;
  const nowMs = now.getTime();
  const at = now.toISOString();

  const waitingOf = (queue: string | null, channel: Channel | null) => {
    let count = 0;
    let oldestMs = Infinity;
    for (const row of input.waiting) {
      if ((queue !== null && row.queue !== queue) || (channel !== null && row.channel !== channel)) continue;
      count += row.waiting;
      oldestMs = Math.min(oldestMs, row.oldestEnteredAt.getTime());
    }
    return {
      waitingNow: count,
      longestWaitSeconds: count === 0 ? null : Math.max(0, Math.round((nowMs - oldestMs) / 1000)),
    };
  };

  // The queues in the rules, then any other the day or the waiting contacts name (a removed queue).
  const queueNames = [...(rules?.queues.keys() ?? [])];
  for (const name of [...metrics.byQueue.map((q) => q.queue), ...input.waiting.map((w) => w.queue)])
    if (!queueNames.includes(name)) queueNames.push(name);

  const queues: QueueBoardRow[] = [];
  for (const name of queueNames) {
    const queue = rules?.queues.get(name);
    const thresholdSeconds = queue?.serviceLevelSeconds ?? defaultServiceLevelSeconds;
    const queueChannels: Channel[] = queue
      ? [...queue.channels]
      : channels.filter((channel) =>
          metrics.byQueueChannel.some((r) => r.queue === name && r.channel === channel),
        );
    // Eligible for the queue: its skills at any level (escalation may relax levels to 1), a channel it serves.
    const skilled = input.agents.filter((agent) =>
      (queue?.requiredSkills ?? []).every(({ skill }) => (agent.skills[skill] ?? 0) >= 1),
    );
    const eligibleOn = (channel: Channel | null) =>
      skilled.filter((agent) =>
        (channel === null ? queueChannels : [channel]).some((c) => capacityOf(agent, c, rules) > 0),
      );
    const row = (channel: Channel | null): QueueBoardRow => ({
      queue: name,
      channel,
      ...dayFiguresOf(
        channel === null
          ? metrics.byQueue.find((q) => q.queue === name)
          : metrics.byQueueChannel.find((q) => q.queue === name && q.channel === channel),
      ),
      ...waitingOf(name, channel),
      thresholdSeconds,
      targetServiceLevel: queue?.serviceLevelTarget ?? defaultTargetServiceLevel,
      waitAlertSeconds: queue?.longestWaitAlertSeconds ?? longestWaitFactor * thresholdSeconds,
      slaBreached: input.slaBreached
        .filter((b) => b.queue === name && (channel === null || b.channel === channel))
        .reduce((sum, b) => sum + b.breached, 0),
      staffing: staffingOf(eligibleOn(channel)),
    });
    if (name === unknownQueue && !queue && !metrics.byQueue.some((q) => q.queue === name && q.offered > 0))
      continue;
    queues.push(row(null), ...queueChannels.map(row));
  }

  const channelRows: ChannelBoardRow[] = channels.map((channel) => ({
    channel,
    ...dayFiguresOf(metrics.byChannel.find((c) => c.channel === channel)),
    ...waitingOf(null, channel),
  }));

  const byAgent = new Map(metrics.byAgent.map((a) => [a.agentId, a]));
  const agents: AgentBoardRow[] = input.agents
    .filter((agent) => agent.state !== 'offline' || (byAgent.get(agent.agentId)?.handled ?? 0) > 0)
    .map((agent) => {
      const figures = byAgent.get(agent.agentId);
      return {
        agentId: agent.agentId,
        name: agent.name,
        state: agent.state,
        awayReason: agent.awayReason,
        stateSince: (agent.stateSince ?? state.from).toISOString(),
        load: channels
          .map((channel) => ({
            channel,
            load: agent.loads[channel] ?? 0,
            capacity: capacityOf(agent, channel, rules),
          }))
          .filter((l) => l.capacity > 0 || l.load > 0),
        handledToday: figures?.handled ?? 0,
        ahtSeconds: figures?.averageHandleSeconds ?? null,
        occupancy: figures?.occupancy ?? null,
      };
    });

  const alerts: BoardAlert[] = [];
  const raise = (alert: Omit<BoardAlert, 'since'>) => {
    const key = alertKey(alert);
    const since = state.alertsSince.get(key) ?? at;
    alerts.push({ ...alert, since });
  };
  for (const row of queues) {
    if (row.channel === null && row.serviceLevel !== null && row.serviceLevel < row.targetServiceLevel)
      raise({
        kind: 'service-level',
        queue: row.queue,
        channel: null,
        message: `Service level ${percent(row.serviceLevel)} is under the ${percent(row.targetServiceLevel)} target`,
      });
    const limitSeconds = row.waitAlertSeconds;
    if (row.channel !== null && row.longestWaitSeconds !== null && row.longestWaitSeconds > limitSeconds)
      raise({
        kind: 'longest-wait',
        queue: row.queue,
        channel: row.channel,
        message: `A contact has waited ${formatDuration(row.longestWaitSeconds * 1000)} (limit ${formatDuration(limitSeconds * 1000)})`,
      });
    if (row.channel !== null && row.slaBreached > 0)
      raise({
        kind: 'sla-breach',
        queue: row.queue,
        channel: row.channel,
        message: `${row.slaBreached === 1 ? '1 contact is' : `${row.slaBreached} contacts are`} past an SLA due time`,
      });
  }
  state.alertsSince.clear();
  for (const alert of alerts) state.alertsSince.set(alertKey(alert), alert.since);

  const bucket = state.from.getTime() + Math.floor((nowMs - state.from.getTime()) / bucketMs) * bucketMs;
  const series: QueueSeries[] = [];
  for (const row of queues) {
    if (row.channel !== null) continue;
    let points = state.series.get(row.queue);
    if (points === undefined) {
      points = new Map();
      state.series.set(row.queue, points);
    }
    const point = points.get(bucket);
    points.set(bucket, {
      waiting: Math.max(point?.waiting ?? 0, row.waitingNow),
      serviceLevel: row.serviceLevel,
    });
    series.push({
      queue: row.queue,
      points: [...points]
        .sort(([a], [b]) => a - b)
        .map(([ms, p]) => ({ at: new Date(ms).toISOString(), ...p })),
    });
  }

  return {
    at,
    day: { from: state.from.toISOString(), timeZone: input.timeZone },
    queues,
    channels: channelRows,
    agents,
    alerts,
    series,
  };
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** The wall clock in `timeZone` at `ms`, read as if it were UTC: its difference from `ms` is the zone's offset. */
function wallClockMs(timeZone: string, ms: number): number {
  let format = zoneFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    zoneFormats.set(timeZone, format);
  }
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const part of format.formatToParts(new Date(ms))) parts[part.type] = Number(part.value);
  return Date.UTC(parts.year!, parts.month! - 1, parts.day, parts.hour, parts.minute, parts.second);
}

/** How far `timeZone`'s wall clock is ahead of UTC at `ms` (whole seconds: zones have no finer offsets). */
function offsetMs(timeZone: string, ms: number): number {
  const second = Math.floor(ms / 1000) * 1000;
  return wallClockMs(timeZone, second) - second;
}

/** The instant of local midnight of the day in `timeZone` that contains `now`. */
export function dayStartIn(timeZone: string, now: Date): Date {
  const wall = now.getTime() + offsetMs(timeZone, now.getTime());
  const midnightWall = wall - (((wall % 86_400_000) + 86_400_000) % 86_400_000);
  // The offset at midnight may differ from now's (a daylight-saving change during the day): settle it.
  let guess = midnightWall - offsetMs(timeZone, now.getTime());
  for (let i = 0; i < 3; i += 1) {
    const next = midnightWall - offsetMs(timeZone, guess);
    if (next === guess) break;
    guess = next;
  }
  return new Date(guess);
}

/** The start of the next day in `timeZone` after the day that starts at `dayStart` (23 to 25 hours later). */
export function nextDayStartIn(timeZone: string, dayStart: Date): Date {
  return dayStartIn(timeZone, new Date(dayStart.getTime() + 30 * 3600_000));
}

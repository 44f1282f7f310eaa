/*
 * The contact-center figures, from contact facts (contact-facts.ts) and agent state changes: live ones as of an
 * instant (waiting now, longest wait, agent states) and counted ones over a window [from, to), per queue and
 * channel, per queue, per channel, in total and per agent. Pure: the same facts give the same figures, live or
 * historical. Every definition, and which instant puts a contact in a window, is in README.md.
 *
 * Cost: one pass over the visits and handlings (V + H) and one over the state changes (S), each adding to a
 * tally found by two Map lookups; then O(Q x C + A) to sum and shape the rows (queues, channels, agents).
 */
import type { AgentId, AgentState, Channel } from '../routing/routing.types.js';
import type {
  AgentStateChange,
  ContactFacts,
  Handling,
  InteractionId,
  IvrOutcome,
  QueueName,
  QueueVisit,
} from './contact-facts.js';

export interface QueueTargets {
  /** A contact answered (or abandoned) after waiting this many seconds or less is within service level. */
  serviceLevelSeconds: number;
  /** A customer who leaves sooner than this is a short abandon, counted apart (0: none is). */
  shortAbandonSeconds: number;
}

export interface MetricsQuery {
  /** The window, half-open: an instant at `to` belongs to the next window. */
  from: Date;
  to: Date;
  /**
   * The instant the live figures are taken at; nothing after it is counted. `to` (or later) for a report of
   * a past window; now for today so far.
   */
  asOf: Date;
  /** Per queue, as the rules set them (routing-rules queues' serviceLevelSeconds). */
  targets: ReadonlyMap<QueueName, QueueTargets>;
  /** For a queue not in `targets` (one removed from the rules, or the unknown queue). */
  defaultTargets: QueueTargets;
}

/** The figures of a set of queue visits and handlings: a queue, a channel, a queue's channel, or all. */
export interface ContactFigures {
  /** Live, at `asOf`: contacts in the queue now, and how long the longest has waited (null: none waits). */
  waitingNow: number;
  longestWaitSeconds: number | null;
  /** Counted when the contact entered the queue. */
  offered: number;
  /** Of `offered`: sent here from another queue by a person or an escalation step. */
  transferredIn: number;
  /** Of `offered`: entered while the queue was closed (after hours). */
  offeredWhileClosed: number;
  /** Counted when the contact left the queue, by how it left. */
  answered: number;
  answeredWithinThreshold: number;
  /** Queue time of the answered contacts, summed. */
  answeredWaitSeconds: number;
  /** Abandons, short ones excepted. */
  abandoned: number;
  abandonedWithinThreshold: number;
  shortAbandoned: number;
  transferredOut: number;
  closedWhileWaiting: number;
  selfServed: number;
  /** answeredWithinThreshold / answered. */
  serviceLevel: number | null;
  /** (answeredWithinThreshold + abandonedWithinThreshold) / (answered + abandoned). */
  serviceLevelWithAbandons: number | null;
  /** answeredWaitSeconds / answered. */
  averageSpeedOfAnswerSeconds: number | null;
  /** abandoned / (answered + abandoned). */
  abandonmentRate: number | null;
  /** Handlings completed (talk ended, and the wrap-up the close started ended). */
  handled: number;
  talkSeconds: number;
  wrapUpSeconds: number;
  /** (talkSeconds + wrapUpSeconds) / handled. */
  averageHandleSeconds: number | null;
  /** Live, at `asOf`: contacts agents hold, by the queue they were answered from. */
  heldNow: number;
  /**
   * Written channels (all but voice), inbound contacts: first agent replies sent in the window, and the time
   * from the contact's creation to each, summed.
   */
  firstResponses: number;
  firstResponseSeconds: number;
  /** firstResponseSeconds / firstResponses. */
  averageFirstResponseSeconds: number | null;
  /** Written channels, inbound contacts: closes of held contacts in the window, from creation to close. */
  resolved: number;
  /** Of `resolved`: closes of contacts that had been reopened (their earlier close was counted too). */
  resolvedAfterReopen: number;
  resolutionSeconds: number;
  /** resolutionSeconds / resolved. */
  averageResolutionSeconds: number | null;
}

/** How calls left the IVR, counted when they left it (README.md, IVR containment). */
export interface IvrFigures {
  /** Live, at `asOf`: callers in the IVR. */
  inIvrNow: number;
  /** Calls that left the IVR in the window, however they left. */
  ivrCalls: number;
  selfServed: number;
  /** The caller hung up in the IVR without being served (mid-menu). */
  abandoned: number;
  toAgent: number;
  toCallback: number;
  toVoicemail: number;
  /** Closed by an agent or the system while in the IVR. */
  closed: number;
  /** selfServed / ivrCalls. */
  containmentRate: number | null;
  /** abandoned / ivrCalls. */
  abandonmentRate: number | null;
}

export interface IvrFlowFigures extends IvrFigures {
  flow: string;
}

/** One agent's open work at an instant: contacts assigned to them and not closed. */
export interface OpenWork {
  agentId: AgentId;
  open: number;
  byChannel: Partial<Record<Channel, number>>;
  /** The open contact created longest ago, and its age at `asOf` (seconds since its creation). */
  oldestInteractionId: InteractionId;
  oldestCreatedAt: Date;
  oldestAgeSeconds: number;
  /** The longest the agent has held one of them (seconds since they took it). */
  longestHeldSeconds: number;
}

export interface QueueFigures extends ContactFigures {
  queue: QueueName;
  serviceLevelSeconds: number;
}

export interface ChannelFigures extends ContactFigures {
  channel: Channel;
}

export interface QueueChannelFigures extends ContactFigures {
  queue: QueueName;
  channel: Channel;
  serviceLevelSeconds: number;
}

export interface AgentFigures {
  agentId: AgentId;
  /** Live, at `asOf`: the state and since when (null: no state change known by then). */
  state: AgentState | null;
  stateSince: Date | null;
  awayReason: string | null;
  /** Contacts the agent holds at `asOf`. */
  openContacts: number;
  /** Counted when the handling completed, as for queues. */
  handled: number;
  talkSeconds: number;
  wrapUpSeconds: number;
  averageHandleSeconds: number | null;
  /** Seconds in each state within [from, min(to, asOf)). */
  secondsIn: Record<AgentState, number>;
  /** Of `secondsIn.away`, by the reason given ('' when none was). */
  awaySecondsByReason: Record<string, number>;
  /** (on_contact + wrap_up) / (available + on_contact + wrap_up) seconds. */
  occupancy: number | null;
}

export interface Metrics {
  from: Date;
  to: Date;
  asOf: Date;
  total: ContactFigures;
  byQueue: QueueFigures[];
  byChannel: ChannelFigures[];
  byQueueChannel: QueueChannelFigures[];
  byAgent: AgentFigures[];
  ivr: IvrFigures;
  ivrByFlow: IvrFlowFigures[];
}

const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);

/** Counts and sums (in ms) that add up across queues and channels; the averages are taken at the end. */
class Tally {
  waitingNow = 0;
  longestWaitMs = -1;
  offered = 0;
  transferredIn = 0;
  offeredWhileClosed = 0;
  answered = 0;
  answeredWithinThreshold = 0;
  answeredWaitMs = 0;
  abandoned = 0;
  abandonedWithinThreshold = 0;
  shortAbandoned = 0;
  transferredOut = 0;
  closedWhileWaiting = 0;
  selfServed = 0;
  handled = 0;
  talkMs = 0;
  wrapUpMs = 0;
  heldNow = 0;
  firstResponses = 0;
  firstResponseMs = 0;
  resolved = 0;
  resolvedAfterReopen = 0;
  resolutionMs = 0;

  constructor(readonly targets: QueueTargets) {}

  add(other: Tally): this {
    this.waitingNow += other.waitingNow;
    this.longestWaitMs = Math.max(this.longestWaitMs, other.longestWaitMs);
    this.offered += other.offered;
    this.transferredIn += other.transferredIn;
    this.offeredWhileClosed += other.offeredWhileClosed;
    this.answered += other.answered;
    this.answeredWithinThreshold += other.answeredWithinThreshold;
    this.answeredWaitMs += other.answeredWaitMs;
    this.abandoned += other.abandoned;
    this.abandonedWithinThreshold += other.abandonedWithinThreshold;
    this.shortAbandoned += other.shortAbandoned;
    this.transferredOut += other.transferredOut;
    this.closedWhileWaiting += other.closedWhileWaiting;
    this.selfServed += other.selfServed;
    this.handled += other.handled;
    this.talkMs += other.talkMs;
    this.wrapUpMs += other.wrapUpMs;
    this.heldNow += other.heldNow;
    this.firstResponses += other.firstResponses;
    this.firstResponseMs += other.firstResponseMs;
    this.resolved += other.resolved;
    this.resolvedAfterReopen += other.resolvedAfterReopen;
    this.resolutionMs += other.resolutionMs;
    return this;
  }

  figures(): ContactFigures {
    const resolved = this.answered + this.abandoned;
    return {
      waitingNow: this.waitingNow,
      longestWaitSeconds: this.longestWaitMs < 0 ? null : this.longestWaitMs / 1000,
      offered: this.offered,
      transferredIn: this.transferredIn,
      offeredWhileClosed: this.offeredWhileClosed,
      answered: this.answered,
      answeredWithinThreshold: this.answeredWithinThreshold,
      answeredWaitSeconds: this.answeredWaitMs / 1000,
      abandoned: this.abandoned,
      abandonedWithinThreshold: this.abandonedWithinThreshold,
      shortAbandoned: this.shortAbandoned,
      transferredOut: this.transferredOut,
      closedWhileWaiting: this.closedWhileWaiting,
      selfServed: this.selfServed,
      serviceLevel: ratio(this.answeredWithinThreshold, this.answered),
      serviceLevelWithAbandons: ratio(this.answeredWithinThreshold + this.abandonedWithinThreshold, resolved),
      averageSpeedOfAnswerSeconds: this.answered === 0 ? null : this.answeredWaitMs / this.answered / 1000,
      abandonmentRate: ratio(this.abandoned, resolved),
      handled: this.handled,
      talkSeconds: this.talkMs / 1000,
      wrapUpSeconds: this.wrapUpMs / 1000,
      averageHandleSeconds: this.handled === 0 ? null : (this.talkMs + this.wrapUpMs) / this.handled / 1000,
      heldNow: this.heldNow,
      firstResponses: this.firstResponses,
      firstResponseSeconds: this.firstResponseMs / 1000,
      averageFirstResponseSeconds:
        this.firstResponses === 0 ? null : this.firstResponseMs / this.firstResponses / 1000,
      resolved: this.resolved,
      resolvedAfterReopen: this.resolvedAfterReopen,
      resolutionSeconds: this.resolutionMs / 1000,
      averageResolutionSeconds: this.resolved === 0 ? null : this.resolutionMs / this.resolved / 1000,
    };
  }
}

interface AgentTally {
  agentId: AgentId;
  live: AgentStateChange | null;
  last: AgentStateChange | null;
  openContacts: number;
  handled: number;
  talkMs: number;
  wrapUpMs: number;
  msIn: Record<AgentState, number>;
  awayMsByReason: Map<string, number>;
}

/** The figures of `contacts` and `agentChanges` (each agent's changes in order of `at`) for `query`. */
export function computeMetrics(
  contacts: readonly ContactFacts[],
  agentChanges: readonly AgentStateChange[],
  query: MetricsQuery,
): Metrics {
  const fromMs = query.from.getTime();
  const toMs = query.to.getTime();
  const asOfMs = query.asOf.getTime();
  const endMs = Math.min(toMs, asOfMs);
  const isCounted = (ms: number) => ms >= fromMs && ms < toMs && ms <= asOfMs;

  const tallies = new Map<QueueName, Map<Channel, Tally>>();
  const tallyOf = (queue: QueueName, channel: Channel): Tally => {
    let byChannel = tallies.get(queue);
    if (byChannel === undefined) {
      byChannel = new Map();
      tallies.set(queue, byChannel);
    }
    let tally = byChannel.get(channel);
    if (tally === undefined) {
      tally = new Tally(query.targets.get(queue) ?? query.defaultTargets);
      byChannel.set(channel, tally);
    }
    return tally;
  };
  const agents = new Map<AgentId, AgentTally>();
  const agentOf = (agentId: AgentId): AgentTally => {
    let agent = agents.get(agentId);
    if (agent === undefined) {
      agent = {
        agentId,
        live: null,
        last: null,
        openContacts: 0,
        handled: 0,
        talkMs: 0,
        wrapUpMs: 0,
        msIn: { offline: 0, available: 0, away: 0, on_contact: 0, wrap_up: 0 },
        awayMsByReason: new Map(),
      };
      agents.set(agentId, agent);
    }
    return agent;
  };

  const countVisit = (visit: QueueVisit) => {
    const tally = tallyOf(visit.queue, visit.channel);
    const enteredMs = visit.enteredAt.getTime();
    const leftMs = visit.leftAt === null ? Infinity : visit.leftAt.getTime();
    if (enteredMs <= asOfMs && leftMs > asOfMs) {
      tally.waitingNow += 1;
      tally.longestWaitMs = Math.max(tally.longestWaitMs, asOfMs - enteredMs);
    }
    if (isCounted(enteredMs)) {
      tally.offered += 1;
      if (visit.entry === 'transfer' || visit.entry === 'escalation') tally.transferredIn += 1;
      if (!visit.isQueueOpen) tally.offeredWhileClosed += 1;
    }
    if (visit.outcome === null || !isCounted(leftMs)) return;
    const waitMs = leftMs - enteredMs;
    const isWithinThreshold = waitMs <= tally.targets.serviceLevelSeconds * 1000;
    switch (visit.outcome) {
      case 'answered':
        tally.answered += 1;
        tally.answeredWaitMs += waitMs;
        if (isWithinThreshold) tally.answeredWithinThreshold += 1;
        break;
      case 'abandoned':
        if (waitMs < tally.targets.shortAbandonSeconds * 1000) {
          tally.shortAbandoned += 1;
          break;
        }
        tally.abandoned += 1;
        if (isWithinThreshold) tally.abandonedWithinThreshold += 1;
        break;
      case 'transferred':
        tally.transferredOut += 1;
        break;
      case 'closed':
        tally.closedWhileWaiting += 1;
        break;
      case 'self-served':
        tally.selfServed += 1;
        break;
    }
  };

  const countHandling = (handling: Handling) => {
    const agent = agentOf(handling.agentId);
    const endedMs = handling.endedAt === null ? Infinity : handling.endedAt.getTime();
    if (handling.startedAt.getTime() <= asOfMs && endedMs > asOfMs) {
      agent.openContacts += 1;
      tallyOf(handling.queue, handling.channel).heldNow += 1;
    }
    // Complete when talk ended and the wrap-up its close started (if any) ended too.
    const completedAt = handling.wrapUpStartedAt === null ? handling.endedAt : handling.wrapUpEndedAt;
    if (completedAt === null || !isCounted(completedAt.getTime())) return;
    const talkMs = endedMs - handling.startedAt.getTime();
    const wrapUpMs =
      handling.wrapUpStartedAt === null ? 0 : completedAt.getTime() - handling.wrapUpStartedAt.getTime();
    const tally = tallyOf(handling.queue, handling.channel);
    tally.handled += 1;
    tally.talkMs += talkMs;
    tally.wrapUpMs += wrapUpMs;
    agent.handled += 1;
    agent.talkMs += talkMs;
    agent.wrapUpMs += wrapUpMs;
  };

  /** Time in `change`'s state from its `at` to `untilMs`, within [from, min(to, asOf)). */
  const countState = (agent: AgentTally, change: AgentStateChange, untilMs: number) => {
    const ms = Math.min(untilMs, endMs) - Math.max(change.at.getTime(), fromMs);
    if (ms <= 0) return;
    agent.msIn[change.state] += ms;
    if (change.state !== 'away') return;
    const reason = change.awayReason ?? '';
    agent.awayMsByReason.set(reason, (agent.awayMsByReason.get(reason) ?? 0) + ms);
  };

  /** First response and resolution: inbound contacts on the written channels (README.md). */
  const countWritten = (contact: ContactFacts) => {
    if (contact.channel === 'voice' || contact.direction === 'outbound') return;
    const createdMs = contact.createdAt.getTime();
    const reply = contact.firstResponse;
    if (reply !== null && isCounted(reply.at.getTime())) {
      const tally = tallyOf(reply.queue, contact.channel);
      tally.firstResponses += 1;
      tally.firstResponseMs += reply.at.getTime() - createdMs;
    }
    for (const resolution of contact.resolutions) {
      if (!isCounted(resolution.at.getTime())) continue;
      const tally = tallyOf(resolution.queue, contact.channel);
      tally.resolved += 1;
      if (resolution.isAfterReopen) tally.resolvedAfterReopen += 1;
      tally.resolutionMs += resolution.at.getTime() - createdMs;
    }
  };

  const ivrTallies = new Map<string, IvrTally>();
  const countIvr = (contact: ContactFacts) => {
    const visit = contact.ivr;
    if (visit === null) return;
    let tally = ivrTallies.get(visit.flow);
    if (tally === undefined) {
      tally = newIvrTally();
      ivrTallies.set(visit.flow, tally);
    }
    const leftMs = visit.leftAt === null ? Infinity : visit.leftAt.getTime();
    if (visit.enteredAt.getTime() <= asOfMs && leftMs > asOfMs) tally.inIvrNow += 1;
    if (visit.outcome === null || !isCounted(leftMs)) return;
    tally.ivrCalls += 1;
    tally[visit.outcome] += 1;
  };

  for (const contact of contacts) {
    for (const visit of contact.visits) countVisit(visit);
    for (const handling of contact.handlings) countHandling(handling);
    countWritten(contact);
    countIvr(contact);
  }
  for (const change of agentChanges) {
    const agent = agentOf(change.agentId);
    const atMs = change.at.getTime();
    if (agent.last !== null) countState(agent, agent.last, atMs);
    agent.last = change;
    if (atMs <= asOfMs) agent.live = change;
  }
  for (const agent of agents.values()) if (agent.last !== null) countState(agent, agent.last, Infinity);

  return {
    from: query.from,
    to: query.to,
    asOf: query.asOf,
    ...rowsOf(tallies, query),
    byAgent: agentRows(agents),
    ...ivrRows(ivrTallies),
  };
}

type IvrTally = { inIvrNow: number; ivrCalls: number } & Record<IvrOutcome, number>;

const newIvrTally = (): IvrTally => ({
  inIvrNow: 0,
  ivrCalls: 0,
  'self-served': 0,
  abandoned: 0,
  agent: 0,
  callback: 0,
  voicemail: 0,
  closed: 0,
});

/** The IVR figures of summed counts (the rollups' too): ratios from the sums. */
export function ivrFigures(tally: IvrTally): IvrFigures {
  return {
    inIvrNow: tally.inIvrNow,
    ivrCalls: tally.ivrCalls,
    selfServed: tally['self-served'],
    abandoned: tally.abandoned,
    toAgent: tally.agent,
    toCallback: tally.callback,
    toVoicemail: tally.voicemail,
    closed: tally.closed,
    containmentRate: ratio(tally['self-served'], tally.ivrCalls),
    abandonmentRate: ratio(tally.abandoned, tally.ivrCalls),
  };
}

function ivrRows(tallies: Map<string, IvrTally>): { ivr: IvrFigures; ivrByFlow: IvrFlowFigures[] } {
  const total = newIvrTally();
  const ivrByFlow = [...tallies.keys()].sort().map((flow): IvrFlowFigures => {
    const tally = tallies.get(flow)!;
    for (const key of Object.keys(total) as (keyof IvrTally)[]) total[key] += tally[key];
    return { flow, ...ivrFigures(tally) };
  });
  return { ivr: ivrFigures(total), ivrByFlow };
}

/**
 * Each agent's open work at `asOf`: the contacts they hold (taken at or before it, not closed or passed on
 * by then), from the same facts as every other figure. Agents holding nothing are left out.
 */
export function openWorkByAgent(contacts: readonly ContactFacts[], asOf: Date): OpenWork[] {
  const asOfMs = asOf.getTime();
  const byAgent = new Map<AgentId, OpenWork>();
  for (const contact of contacts)
    for (const handling of contact.handlings) {
      const startedMs = handling.startedAt.getTime();
      if (startedMs > asOfMs || (handling.endedAt !== null && handling.endedAt.getTime() <= asOfMs)) continue;
      const ageSeconds = (asOfMs - contact.createdAt.getTime()) / 1000;
      const heldSeconds = (asOfMs - startedMs) / 1000;
      const work = byAgent.get(handling.agentId);
      if (work === undefined) {
        byAgent.set(handling.agentId, {
          agentId: handling.agentId,
          open: 1,
          byChannel: { [contact.channel]: 1 },
          oldestInteractionId: contact.interactionId,
          oldestCreatedAt: contact.createdAt,
          oldestAgeSeconds: ageSeconds,
          longestHeldSeconds: heldSeconds,
        });
        continue;
      }
      work.open += 1;
      work.byChannel[contact.channel] = (work.byChannel[contact.channel] ?? 0) + 1;
      if (ageSeconds > work.oldestAgeSeconds) {
        work.oldestInteractionId = contact.interactionId;
        work.oldestCreatedAt = contact.createdAt;
        work.oldestAgeSeconds = ageSeconds;
      }
      work.longestHeldSeconds = Math.max(work.longestHeldSeconds, heldSeconds);
    }
  return [...byAgent.values()].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
}

function rowsOf(tallies: Map<QueueName, Map<Channel, Tally>>, query: MetricsQuery) {
  const total = new Tally(query.defaultTargets);
  const byQueue: QueueFigures[] = [];
  const byQueueChannel: QueueChannelFigures[] = [];
  const channelTallies = new Map<Channel, Tally>();
  for (const queue of [...tallies.keys()].sort()) {
    const byChannel = tallies.get(queue)!;
    const targets = query.targets.get(queue) ?? query.defaultTargets;
    const queueTally = new Tally(targets);
    for (const channel of [...byChannel.keys()].sort()) {
      const tally = byChannel.get(channel)!;
      queueTally.add(tally);
      let channelTally = channelTallies.get(channel);
      if (channelTally === undefined) {
        channelTally = new Tally(query.defaultTargets);
        channelTallies.set(channel, channelTally);
      }
      channelTally.add(tally);
      byQueueChannel.push({
        queue,
        channel,
        serviceLevelSeconds: targets.serviceLevelSeconds,
        ...tally.figures(),
      });
    }
    total.add(queueTally);
    byQueue.push({ queue, serviceLevelSeconds: targets.serviceLevelSeconds, ...queueTally.figures() });
  }
  const byChannel = [...channelTallies.keys()]
    .sort()
    .map((channel): ChannelFigures => ({ channel, ...channelTallies.get(channel)!.figures() }));
  return { total: total.figures(), byQueue, byChannel, byQueueChannel };
}

function agentRows(agents: Map<AgentId, AgentTally>): AgentFigures[] {
  return [...agents.keys()].sort().map((agentId): AgentFigures => {
    const agent = agents.get(agentId)!;
    const { msIn } = agent;
    const busyMs = msIn.on_contact + msIn.wrap_up;
    const secondsIn = { offline: 0, available: 0, away: 0, on_contact: 0, wrap_up: 0 };
    for (const state of Object.keys(msIn) as AgentState[]) secondsIn[state] = msIn[state] / 1000;
    return {
      agentId,
      state: agent.live?.state ?? null,
      stateSince: agent.live?.at ?? null,
      awayReason: agent.live?.awayReason ?? null,
      openContacts: agent.openContacts,
      handled: agent.handled,
      talkSeconds: agent.talkMs / 1000,
      wrapUpSeconds: agent.wrapUpMs / 1000,
      averageHandleSeconds:
        agent.handled === 0 ? null : (agent.talkMs + agent.wrapUpMs) / agent.handled / 1000,
      secondsIn,
      awaySecondsByReason: Object.fromEntries(
        [...agent.awayMsByReason].map(([reason, ms]) => [reason, ms / 1000]),
      ),
      occupancy: ratio(busyMs, busyMs + msIn.available),
    };
  });
}

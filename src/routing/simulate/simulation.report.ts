/*
 * What a simulation run reports, built from the outcome of every contact and agent. Pure.
 *
 * Definitions (the same for the simulated and the real figures, so the two compare):
 *   - A contact counts in the queue it was queued in (its rule's, or that queue's after-hours move-to, as
 *     routing.queued records it), even if escalation moved it later (`moved` says how many were). The real
 *     figures group by the `actual.queue` of each arrival.
 *   - Wait: from arrival to an agent accepting the offer. p50 and p90 are over answered contacts, by the
 *     nearest-rank method (the smallest wait that at least p% of answered contacts did not exceed).
 *   - Service level: contacts answered within the queue's `serviceLevelSeconds`, as a share of the contacts that
 *     waited for an agent: answered + abandoned + unanswered. Contacts closed by an after-hours
 *     close-with-message are counted apart and left out. The real figure's denominator is answered
 *     + abandoned (an arrival whose record has neither is left out).
 *   - Abandonment: abandoned as a share of the same denominator.
 *   - Occupancy: the share of an agent's staffed time (presence available) spent on accepted contacts or in
 *     wrap-up.
 */
import { ruleDefaults, type RuleSet } from '../rules/rules.schema.js';
import type { AgentId, Channel, InteractionId, QueueId } from '../routing.types.js';
import type { ActualOutcome } from './arrivals.schema.js';

export type ContactOutcome = 'answered' | 'abandoned' | 'after-hours' | 'unanswered';

export interface ContactResult {
  interactionId: InteractionId;
  channel: Channel;
  /** The queue it was queued in. */
  queue: QueueId;
  /** Where the contact was last (an escalation move-to changes it). */
  finalQueue: QueueId;
  outcome: ContactOutcome;
  /** Answered only. */
  waitSeconds: number | null;
  agentId: AgentId | null;
  actual: ActualOutcome | null;
}

export interface AgentResult {
  agentId: AgentId;
  /** Offers accepted. */
  handled: number;
  offered: number;
  rejected: number;
  expired: number;
  staffedSeconds: number;
  busySeconds: number;
  /** Most accepted contacts open at once. */
  peakConcurrent: number;
}

export interface QueueFigures {
  contacts: number;
  answered: number;
  abandoned: number;
  /** Still waiting when the simulation ran out of events (real: neither answered nor abandoned). */
  unanswered: number;
  waitP50: number | null;
  waitP90: number | null;
  /** Percent, or null when no contact waited. */
  serviceLevel: number | null;
  abandonment: number | null;
}

export interface QueueReport {
  queue: QueueId;
  serviceLevelSeconds: number;
  simulated: QueueFigures & { closedAfterHours: number; moved: number };
  /** null when no arrival of the file carried a real outcome for this queue. */
  actual: QueueFigures | null;
}

export interface AgentReport extends AgentResult {
  /** Percent of staffed time; null when never staffed. */
  occupancy: number | null;
  /** Contacts the agent really answered (from `actual.agentId`). */
  actualHandled: number;
}

export interface Difference {
  /** Arrivals that carry a real outcome. */
  compared: number;
  /** ... queued in another queue than really (the rules differ, or the hours). */
  differentQueue: number;
  /** ... answered both here and really, by another agent. */
  differentAgent: number;
  answeredHereAbandonedReally: number;
  abandonedHereAnsweredReally: number;
}

export interface SimulationReport {
  rules: { files: readonly string[]; fingerprint: string };
  period: { from: string; to: string } | null;
  input: { arrivals: number; agentEvents: number };
  options: { answerSeconds: number; handleSeconds: Readonly<Record<Channel, number>> };
  totals: QueueFigures & { closedAfterHours: number; moved: number };
  actualTotals: QueueFigures | null;
  queues: QueueReport[];
  agents: AgentReport[];
  difference: Difference;
}

/** Nearest-rank percentile of an ascending list; null for an empty list. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

const percentOf = (part: number, whole: number) => (whole === 0 ? null : round((100 * part) / whole, 1));
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function figures(
  waits: number[],
  counts: { contacts: number; answered: number; abandoned: number; unanswered: number },
  serviceLevelSeconds: number,
): QueueFigures {
  waits.sort((a, b) => a - b);
  const waited = counts.answered + counts.abandoned + counts.unanswered;
  const withinTarget = waits.filter((w) => w <= serviceLevelSeconds).length;
  const p50 = percentile(waits, 50);
  const p90 = percentile(waits, 90);
  return {
    contacts: counts.contacts,
    answered: counts.answered,
    abandoned: counts.abandoned,
    unanswered: counts.unanswered,
    waitP50: p50 === null ? null : round(p50, 3),
    waitP90: p90 === null ? null : round(p90, 3),
    serviceLevel: percentOf(withinTarget, waited),
    abandonment: percentOf(counts.abandoned, waited),
  };
}

interface Tally {
  contacts: number;
  answered: number;
  abandoned: number;
  unanswered: number;
  closedAfterHours: number;
  moved: number;
  waits: number[];
  /** Per-contact service level targets, for totals that span queues. */
  within: number;
}

const emptyTally = (): Tally => ({
  contacts: 0,
  answered: 0,
  abandoned: 0,
  unanswered: 0,
  closedAfterHours: 0,
  moved: 0,
  waits: [],
  within: 0,
});

function tallySimulated(tally: Tally, contact: ContactResult, target: number): void {
  tally.contacts += 1;
  if (contact.finalQueue !== contact.queue) tally.moved += 1;
  switch (contact.outcome) {
    case 'answered':
      tally.answered += 1;
      tally.waits.push(contact.waitSeconds ?? 0);
      if ((contact.waitSeconds ?? 0) <= target) tally.within += 1;
      break;
    case 'abandoned':
      tally.abandoned += 1;
      break;
    case 'unanswered':
      tally.unanswered += 1;
      break;
    case 'after-hours':
      tally.closedAfterHours += 1;
      break;
  }
}

function tallyActual(tally: Tally, actual: ActualOutcome, target: number): void {
  tally.contacts += 1;
  if (actual.waitSeconds !== null) {
    tally.answered += 1;
    tally.waits.push(actual.waitSeconds);
    if (actual.waitSeconds <= target) tally.within += 1;
  } else if (actual.abandoned) tally.abandoned += 1;
}

/** Totals over several queues: each contact was held to its own queue's target. */
function totalFigures(tally: Tally): QueueFigures {
  const base = figures(tally.waits, tally, Number.POSITIVE_INFINITY);
  const waited = tally.answered + tally.abandoned + tally.unanswered;
  return { ...base, serviceLevel: percentOf(tally.within, waited) };
}

export interface ReportInput {
  rules: RuleSet;
  contacts: readonly ContactResult[];
  agents: readonly AgentResult[];
  input: { arrivals: number; agentEvents: number; firstAtMs: number | null; lastAtMs: number | null };
  options: SimulationReport['options'];
}

export function buildReport({ rules, contacts, agents, input, options }: ReportInput): SimulationReport {
  const targetOf = (queue: QueueId) =>
    rules.queues.get(queue)?.serviceLevelSeconds ?? ruleDefaults.serviceLevelSeconds;
  const simulated = new Map<QueueId, Tally>();
  const actual = new Map<QueueId, Tally>();
  const total = emptyTally();
  const actualTotal = emptyTally();
  const actualHandled = new Map<AgentId, number>();
  const difference: Difference = {
    compared: 0,
    differentQueue: 0,
    differentAgent: 0,
    answeredHereAbandonedReally: 0,
    abandonedHereAnsweredReally: 0,
  };

  for (const contact of contacts) {
    const target = targetOf(contact.queue);
    tallySimulated(getOrAdd(simulated, contact.queue, emptyTally), contact, target);
    tallySimulated(total, contact, target);
    const real = contact.actual;
    if (real === null) continue;
    const realTarget = targetOf(real.queue);
    tallyActual(getOrAdd(actual, real.queue, emptyTally), real, realTarget);
    tallyActual(actualTotal, real, realTarget);
    if (real.waitSeconds !== null && real.agentId !== null)
      actualHandled.set(real.agentId, (actualHandled.get(real.agentId) ?? 0) + 1);
    difference.compared += 1;
    if (real.queue !== contact.queue) difference.differentQueue += 1;
    const isAnsweredReally = real.waitSeconds !== null;
    if (contact.outcome === 'answered' && isAnsweredReally && real.agentId !== contact.agentId)
      difference.differentAgent += 1;
    if (contact.outcome === 'answered' && real.abandoned) difference.answeredHereAbandonedReally += 1;
    if (contact.outcome === 'abandoned' && isAnsweredReally) difference.abandonedHereAnsweredReally += 1;
  }

  const queueNames = [...new Set([...simulated.keys(), ...actual.keys()])].sort();
  const queues = queueNames.map((queue): QueueReport => {
    const target = targetOf(queue);
    const sim = simulated.get(queue) ?? emptyTally();
    const real = actual.get(queue);
    return {
      queue,
      serviceLevelSeconds: target,
      simulated: {
        ...figures(sim.waits, sim, target),
        closedAfterHours: sim.closedAfterHours,
        moved: sim.moved,
      },
      actual: real ? figures(real.waits, { ...real, unanswered: 0 }, target) : null,
    };
  });

  const agentIds = [...new Set([...agents.map((a) => a.agentId), ...actualHandled.keys()])].sort();
  const byId = new Map(agents.map((a) => [a.agentId, a]));
  const agentReports = agentIds.map((agentId): AgentReport => {
    const result = byId.get(agentId) ?? {
      agentId,
      handled: 0,
      offered: 0,
      rejected: 0,
      expired: 0,
      staffedSeconds: 0,
      busySeconds: 0,
      peakConcurrent: 0,
    };
    return {
      ...result,
      staffedSeconds: round(result.staffedSeconds, 3),
      busySeconds: round(result.busySeconds, 3),
      occupancy: result.staffedSeconds > 0 ? percentOf(result.busySeconds, result.staffedSeconds) : null,
      actualHandled: actualHandled.get(agentId) ?? 0,
    };
  });

  return {
    rules: { files: rules.files, fingerprint: rules.fingerprint },
    period:
      input.firstAtMs === null || input.lastAtMs === null
        ? null
        : { from: new Date(input.firstAtMs).toISOString(), to: new Date(input.lastAtMs).toISOString() },
    input: { arrivals: input.arrivals, agentEvents: input.agentEvents },
    options,
    totals: { ...totalFigures(total), closedAfterHours: total.closedAfterHours, moved: total.moved },
    actualTotals: difference.compared === 0 ? null : totalFigures({ ...actualTotal, unanswered: 0 }),
    queues,
    agents: agentReports,
    difference,
  };
}

function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

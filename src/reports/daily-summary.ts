/*
 * The predefined daily summary: one day's headline figures per queue and in total, shaped from the hourly
 * rollups' sums (counted figures), the IVR sums, the audit log's merges and the open work at the day's end
 * (live figures from the facts). Pure: the repository's rows in, the summary out. Definitions: README.md.
 */
import type { SummedFigures, SummedIvr } from '../db/repositories/reports.repository.js';
import { withIvrRatios, withRatios } from './rollups.js';

/** The headline figures of one queue, or of all (`queue` null). */
// A type, not an interface: rows go to CSV and JSON as plain records.
export type DailySummaryRow = {
  queue: string | null;
  offered: number;
  answered: number;
  abandoned: number;
  serviceLevel: number | null;
  averageSpeedOfAnswerSeconds: number | null;
  averageHandleSeconds: number | null;
  abandonmentRate: number | null;
  firstResponses: number;
  averageFirstResponseSeconds: number | null;
  resolved: number;
  averageResolutionSeconds: number | null;
  /** The local hour (`YYYY-MM-DDTHH:00`) with the most contacts offered, the earliest of equals. */
  busiestHour: string | null;
  busiestHourOffered: number;
  /** Waiting in the queue or held by an agent at the end of the day (or now, for today). */
  openAtEndOfDay: number;
  /** Total only (null per queue): the IVR serves calls before any queue; merges concern customers. */
  ivrCalls: number | null;
  ivrContainmentRate: number | null;
  duplicatesMerged: number | null;
  mergesUndone: number | null;
};

export interface DailySummaryInput {
  /** Summed counted figures per queue (sumQueues by queue). */
  queues: readonly (SummedFigures & { key: string })[];
  /** Offered per queue and local hour. */
  offeredByHour: readonly { queue: string; hour: string; offered: number }[];
  /** The IVR's sums over the day, all flows. */
  ivr: SummedIvr;
  /** Customer merges made in the day, and merges undone in it (each counted at its own instant). */
  duplicatesMerged: number;
  mergesUndone: number;
  /** Contacts open at the day's end, per queue (waiting there, or held and answered from there). */
  openByQueue: ReadonlyMap<string, number>;
}

const zeroSum = (): SummedFigures => ({
  offered: 0,
  transferred_in: 0,
  offered_while_closed: 0,
  answered: 0,
  answered_within_threshold: 0,
  answered_wait_seconds: 0,
  abandoned: 0,
  abandoned_within_threshold: 0,
  short_abandoned: 0,
  transferred_out: 0,
  closed_while_waiting: 0,
  self_served: 0,
  handled: 0,
  talk_seconds: 0,
  wrap_up_seconds: 0,
  first_responses: 0,
  first_response_seconds: 0,
  resolved: 0,
  resolved_after_reopen: 0,
  resolution_seconds: 0,
});

function addInto(into: SummedFigures, sum: SummedFigures): void {
  for (const key of Object.keys(into) as (keyof SummedFigures)[]) into[key] += sum[key];
}

function busiest(byHour: ReadonlyMap<string, number>): { hour: string | null; offered: number } {
  let best: { hour: string | null; offered: number } = { hour: null, offered: 0 };
  for (const hour of [...byHour.keys()].sort()) {
    const offered = byHour.get(hour)!;
    if (offered > best.offered) best = { hour, offered };
  }
  return best;
}

function headline(
  queue: string | null,
  sum: SummedFigures,
  byHour: ReadonlyMap<string, number>,
  open: number,
): DailySummaryRow {
  const figures = withRatios(sum);
  const peak = busiest(byHour);
  return {
    queue,
    offered: sum.offered,
    answered: sum.answered,
    abandoned: sum.abandoned,
    serviceLevel: figures.serviceLevel,
    averageSpeedOfAnswerSeconds: figures.averageSpeedOfAnswerSeconds,
    averageHandleSeconds: figures.averageHandleSeconds,
    abandonmentRate: figures.abandonmentRate,
    firstResponses: sum.first_responses,
    averageFirstResponseSeconds: figures.averageFirstResponseSeconds,
    resolved: sum.resolved,
    averageResolutionSeconds: figures.averageResolutionSeconds,
    busiestHour: peak.hour,
    busiestHourOffered: peak.offered,
    openAtEndOfDay: open,
    ivrCalls: null,
    ivrContainmentRate: null,
    duplicatesMerged: null,
    mergesUndone: null,
  };
}

/** The day's rows: one per queue (by name), and the total. */
export function dailySummary(input: DailySummaryInput): {
  total: DailySummaryRow;
  byQueue: DailySummaryRow[];
} {
  const sums = new Map(input.queues.map(({ key, ...sum }) => [key, sum]));
  const hours = new Map<string, Map<string, number>>();
  const totalHours = new Map<string, number>();
  for (const { queue, hour, offered } of input.offeredByHour) {
    let byHour = hours.get(queue);
    if (byHour === undefined) {
      byHour = new Map();
      hours.set(queue, byHour);
    }
    byHour.set(hour, (byHour.get(hour) ?? 0) + offered);
    totalHours.set(hour, (totalHours.get(hour) ?? 0) + offered);
  }
  const queues = [...new Set([...sums.keys(), ...input.openByQueue.keys()])].sort();
  const total = zeroSum();
  let totalOpen = 0;
  const byQueue = queues.map((queue) => {
    const sum = sums.get(queue) ?? zeroSum();
    const open = input.openByQueue.get(queue) ?? 0;
    addInto(total, sum);
    totalOpen += open;
    return headline(queue, sum, hours.get(queue) ?? new Map(), open);
  });
  const ivr = withIvrRatios(input.ivr);
  return {
    total: {
      ...headline(null, total, totalHours, totalOpen),
      ivrCalls: ivr.ivr_calls,
      ivrContainmentRate: ivr.containmentRate,
      duplicatesMerged: input.duplicatesMerged,
      mergesUndone: input.mergesUndone,
    },
    byQueue,
  };
}

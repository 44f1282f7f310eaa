/*
 * The reports that are more than one sum of the rollups: the daily summary (rollups, the IVR's and the audit
 * log's counts, and the open work at the day's end) and the open work by agent at an instant (from the log's
 * facts). Routes call these; the repository does the reading, the pure modules the counting.
 */
import type { ReportsRepository, SummedIvr } from '../db/repositories/reports.repository.js';
import { buildContactFacts } from './contact-facts.js';
import { dailySummary, type DailySummaryRow } from './daily-summary.js';
import { computeMetrics, openWorkByAgent, type OpenWork } from './metrics.js';

const hourMs = 3_600_000;
const floorHour = (at: Date) => new Date(Math.floor(at.getTime() / hourMs) * hourMs);

export interface DailySummary {
  date: string;
  timeZone: string;
  /** The local day, exactly. */
  from: Date;
  to: Date;
  /** The whole hours the counted figures are summed over (the day's bounds rounded down to the hour). */
  hoursFrom: Date;
  hoursTo: Date;
  /** When the open work was taken: the day's end, or now for a day not over. */
  asOf: Date;
  builtThrough: Date | null;
  /** Every hour of the day is rolled up. */
  isComplete: boolean;
  total: DailySummaryRow;
  byQueue: DailySummaryRow[];
}

export interface OpenWorkReport {
  asOf: Date;
  rows: (OpenWork & { name: string | null })[];
}

export function createReportsService(deps: { reports: ReportsRepository; now: () => Date }) {
  const { reports } = deps;

  /** Contacts open at `asOf` (waiting, or held), per queue, from the log's facts. */
  async function openByQueueAt(asOf: Date): Promise<Map<string, number>> {
    const facts = buildContactFacts(await reports.eventsOpenAt(asOf), []);
    const metrics = computeMetrics(facts, [], {
      from: asOf,
      to: asOf,
      asOf,
      targets: new Map(),
      defaultTargets: { serviceLevelSeconds: 0, shortAbandonSeconds: 0 },
    });
    return new Map(
      metrics.byQueue
        .filter((row) => row.waitingNow + row.heldNow > 0)
        .map((row) => [row.queue, row.waitingNow + row.heldNow]),
    );
  }

  return {
    /** The daily summary of `date` (YYYY-MM-DD) in `timeZone`. */
    async dailySummary(date: string, timeZone: string): Promise<DailySummary> {
      const { from, to } = await reports.dayWindow(date, timeZone);
      const hoursFrom = floorHour(from);
      const hoursTo = floorHour(to);
      const now = deps.now();
      const asOf = now < to ? now : to;
      const [queues, offeredByHour, ivrRows, merges, openByQueue, builtThrough] = await Promise.all([
        reports.sumQueues(hoursFrom, hoursTo, 'queue', timeZone),
        reports.offeredByQueueHour(hoursFrom, hoursTo, timeZone),
        reports.sumIvr(hoursFrom, hoursTo, 'flow', timeZone),
        reports.countMerges(from, to),
        openByQueueAt(asOf),
        reports.builtThrough(),
      ]);
      const ivr: SummedIvr = {
        ivr_calls: 0,
        self_served: 0,
        abandoned: 0,
        to_agent: 0,
        to_callback: 0,
        to_voicemail: 0,
        closed: 0,
      };
      for (const row of ivrRows)
        for (const key of Object.keys(ivr) as (keyof SummedIvr)[]) ivr[key] += row[key];
      const summary = dailySummary({
        queues: queues.map(({ channel: _channel, ...row }) => row),
        offeredByHour,
        ivr,
        duplicatesMerged: merges.merged,
        mergesUndone: merges.unmerged,
        openByQueue,
      });
      return {
        date,
        timeZone,
        from,
        to,
        hoursFrom,
        hoursTo,
        asOf,
        builtThrough,
        isComplete: builtThrough !== null && builtThrough >= hoursTo,
        ...summary,
      };
    },

    /** Each agent's open work at `asOf` (default now). */
    async openByAgent(asOf: Date = deps.now()): Promise<OpenWorkReport> {
      const work = openWorkByAgent(buildContactFacts(await reports.eventsOpenAt(asOf), []), asOf);
      const names = await reports.agentNames(work.map((row) => row.agentId));
      return { asOf, rows: work.map((row) => ({ ...row, name: names.get(row.agentId) ?? null })) };
    },
  };
}

export type ReportsService = ReturnType<typeof createReportsService>;

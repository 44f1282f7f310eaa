/*
 * Historical reports read hourly rollups, so a report over a month sums a few thousand rows instead of
 * reading millions of events. An hour is rolled up once it is over (plus a grace for late writes) by the
 * repeating `reports.rollup` job: the facts of every interaction with an event in that hour (its whole history
 * up to the hour's end) and the agents' state changes go through the same pure computation as the live board
 * (metrics.ts), and the additive parts of each figure are kept per hour, queue and channel, and per hour and
 * agent. Ratios are taken from sums, never averaged.
 *
 * An hour is rolled up with the service-level thresholds in force when it is built; a later change of a
 * queue's threshold applies to the hours built after it.
 */
import type {
  AgentHourRow,
  IvrHourRow,
  QueueHourRow,
  ReportGrouping,
  ReportsRepository,
  SummedFigures,
  SummedIvr,
} from '../db/repositories/reports.repository.js';
import { buildContactFacts } from './contact-facts.js';
import { computeMetrics, type QueueTargets } from './metrics.js';

const hourMs = 3_600_000;

export interface RollupTargets {
  targets: ReadonlyMap<string, QueueTargets>;
  defaultTargets: QueueTargets;
}

export function createReportRollups(deps: {
  reports: ReportsRepository;
  /** The thresholds in force (the routing rules'). */
  targets: () => RollupTargets;
  log: { info: (obj: object, msg: string) => void };
}) {
  return {
    /**
     * Rolls up the hours that are over (ending at least `graceMs` before `now`), oldest first, at most
     * `maxHours` in one call; returns how many it built. Safe to run in several processes at once: each hour
     * is saved only by the run that finds built_through where it left it.
     */
    async buildDue(now: Date, options: { graceMs?: number; maxHours?: number } = {}): Promise<number> {
      const graceMs = options.graceMs ?? 5 * 60_000;
      const maxHours = options.maxHours ?? 24;
      let expected = await deps.reports.builtThrough();
      let through: Date;
      if (expected !== null) through = expected;
      else {
        const first = await deps.reports.firstEventAt();
        if (first === null) return 0;
        through = new Date(Math.floor(first.getTime() / hourMs) * hourMs);
      }
      let built = 0;
      while (built < maxHours && through.getTime() + hourMs <= now.getTime() - graceMs) {
        const hour: Date = through;
        const hourEnd = new Date(hour.getTime() + hourMs);
        const [events, changes] = await Promise.all([
          deps.reports.eventsTouching(hour, hourEnd),
          deps.reports.stateChangesFor(hour, hourEnd),
        ]);
        const { targets, defaultTargets } = deps.targets();
        const metrics = computeMetrics(buildContactFacts(events, changes), changes, {
          from: hour,
          to: hourEnd,
          asOf: hourEnd,
          targets,
          defaultTargets,
        });
        const queues: QueueHourRow[] = metrics.byQueueChannel
          .map((row) => ({
            queue: row.queue,
            channel: row.channel,
            offered: row.offered,
            transferred_in: row.transferredIn,
            offered_while_closed: row.offeredWhileClosed,
            answered: row.answered,
            answered_within_threshold: row.answeredWithinThreshold,
            answered_wait_seconds: row.answeredWaitSeconds,
            abandoned: row.abandoned,
            abandoned_within_threshold: row.abandonedWithinThreshold,
            short_abandoned: row.shortAbandoned,
            transferred_out: row.transferredOut,
            closed_while_waiting: row.closedWhileWaiting,
            self_served: row.selfServed,
            handled: row.handled,
            talk_seconds: row.talkSeconds,
            wrap_up_seconds: row.wrapUpSeconds,
            first_responses: row.firstResponses,
            first_response_seconds: row.firstResponseSeconds,
            resolved: row.resolved,
            resolved_after_reopen: row.resolvedAfterReopen,
            resolution_seconds: row.resolutionSeconds,
          }))
          .filter((row) => Object.entries(row).some(([k, v]) => k !== 'queue' && k !== 'channel' && v !== 0));
        const agents: AgentHourRow[] = metrics.byAgent
          .map((agent) => ({
            agentId: agent.agentId,
            handled: agent.handled,
            talkSeconds: agent.talkSeconds,
            wrapUpSeconds: agent.wrapUpSeconds,
            secondsIn: Object.fromEntries(Object.entries(agent.secondsIn).filter(([, s]) => s > 0)),
          }))
          .filter((a) => a.handled > 0 || Object.keys(a.secondsIn).some((state) => state !== 'offline'));
        const ivr: IvrHourRow[] = metrics.ivrByFlow
          .filter((row) => row.ivrCalls > 0)
          .map((row) => ({
            flow: row.flow,
            ivr_calls: row.ivrCalls,
            self_served: row.selfServed,
            abandoned: row.abandoned,
            to_agent: row.toAgent,
            to_callback: row.toCallback,
            to_voicemail: row.toVoicemail,
            closed: row.closed,
          }));
        if (!(await deps.reports.saveHour(hour, hourEnd, expected, queues, agents, ivr))) return built;
        deps.log.info(
          {
            hour: hour.toISOString(),
            events: events.length,
            rows: queues.length,
            agents: agents.length,
            ivrFlows: ivr.length,
          },
          'report hour rolled up',
        );
        built += 1;
        through = hourEnd;
        expected = hourEnd;
      }
      return built;
    },
  };
}

export type ReportRollups = ReturnType<typeof createReportRollups>;

/** The ratios of summed figures, as README.md defines them (null where the divisor is 0). */
export function withRatios<T extends SummedFigures>(sum: T) {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  return {
    ...sum,
    serviceLevel: ratio(sum.answered_within_threshold, sum.answered),
    serviceLevelWithAbandons: ratio(
      sum.answered_within_threshold + sum.abandoned_within_threshold,
      sum.answered + sum.abandoned,
    ),
    averageSpeedOfAnswerSeconds: ratio(sum.answered_wait_seconds, sum.answered),
    abandonmentRate: ratio(sum.abandoned, sum.answered + sum.abandoned),
    averageHandleSeconds: ratio(sum.talk_seconds + sum.wrap_up_seconds, sum.handled),
    averageFirstResponseSeconds: ratio(sum.first_response_seconds, sum.first_responses),
    averageResolutionSeconds: ratio(sum.resolution_seconds, sum.resolved),
  };
}

/** The IVR ratios of summed counts, as README.md defines them. */
export function withIvrRatios<T extends SummedIvr>(sum: T) {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  return {
    ...sum,
    containmentRate: ratio(sum.self_served, sum.ivr_calls),
    ivrAbandonmentRate: ratio(sum.abandoned, sum.ivr_calls),
  };
}

export type { ReportGrouping };

/*
 * Service-level clocks: what an interaction's log says about its SLA targets under its queue's policy. Pure:
 * events in, clocks out, no clock of its own and no database. The sweep (sla.service.ts) stores the clocks,
 * and acts when one passes its warning or due time; the definitions are in README.md.
 *
 *   firstResponse   from the interaction's start (its first customer message) to the first answer by a
 *                   person: an agent's reply (message.sent by an agent; automatic acknowledgments do not
 *                   count), or for a call, an agent taking it (offer.accepted, or an assignment to an agent)
 *   nextResponse    from each customer message that arrives while no reply is owed, once the first response
 *                   was given, to the agent's next reply; cycle 1, 2, ... (not for calls)
 *   resolution      from the start to interaction.closed. A reopen resumes it: business time spent closed
 *                   does not count, time open before and after the reopen adds up
 *
 * A close stops a response clock that is still running (stop reason `closed`). Time is counted in the
 * policy's calendar (the queue's business hours, or around the clock), so `dueAt` is a wall-clock instant
 * that may lie past nights, weekends and holidays.
 */
import type { ActorType } from '../events.js';
import type { Channel } from '../routing/routing.types.js';
import { addBusinessTime, businessSecondsBetween } from '../routing/rules/business-time.js';
import type { Calendar, SlaMetric, SlaPolicy } from '../routing/rules/rules.schema.js';

/** The log events the clocks read (other types are ignored), in log order. */
export interface SlaLogEvent {
  type: string;
  actorType: ActorType;
  occurredAt: Date;
  payload: Record<string, unknown>;
}

export interface SlaSubject {
  channel: Channel;
  direction: 'inbound' | 'outbound';
}

export type SlaStopReason = 'responded' | 'resolved' | 'closed';

export interface SlaClock {
  metric: SlaMetric;
  cycle: number;
  targetSeconds: number;
  startedAt: Date;
  warnAt: Date;
  dueAt: Date;
  stoppedAt: Date | null;
  stopReason: SlaStopReason | null;
}

/**
 * How a clock stands at `now`: running (before its warning), warning, breached (running past due); stopped:
 * met (in time), missed (late), cancelled (a response clock stopped by a close before it fell due).
 */
export type SlaStatus = 'running' | 'warning' | 'breached' | 'met' | 'missed' | 'cancelled';

export function slaStatus(
  clock: Pick<SlaClock, 'warnAt' | 'dueAt' | 'stoppedAt' | 'stopReason'>,
  now: Date,
): SlaStatus {
  if (clock.stoppedAt !== null) {
    if (clock.stoppedAt.getTime() > clock.dueAt.getTime()) return 'missed';
    return clock.stopReason === 'closed' ? 'cancelled' : 'met';
  }
  if (now.getTime() >= clock.dueAt.getTime()) return 'breached';
  if (now.getTime() >= clock.warnAt.getTime()) return 'warning';
  return 'running';
}

const isPersonsAnswer = (event: SlaLogEvent, channel: Channel): boolean => {
  if (event.type === 'message.sent')
    return (
      event.actorType === 'agent' && typeof event.payload.agentId === 'string' && !event.payload.automatic
    );
  if (channel !== 'voice') return false;
  if (event.type === 'offer.accepted') return true;
  return event.type === 'routing.transferred' && typeof event.payload.toAgentId === 'string';
};

/**
 * The clocks of one interaction under `policy`, counted in `calendar` (null: around the clock). Clocks of
 * metrics the policy has no target for are not made.
 */
export function computeSlaClocks(
  subject: SlaSubject,
  events: readonly SlaLogEvent[],
  policy: SlaPolicy,
  calendar: Calendar | null,
): SlaClock[] {
  const hours = policy.isBusinessHours ? calendar : null;
  const warnBefore = (target: number) => policy.warnBeforeSeconds ?? Math.floor(target / 4);
  const clock = (metric: SlaMetric, cycle: number, startedAt: Date): SlaClock | null => {
    const target = policy.targets[metric];
    if (target === undefined) return null;
    return {
      metric,
      cycle,
      targetSeconds: target,
      startedAt,
      warnAt: addBusinessTime(hours, startedAt, target - warnBefore(target)),
      dueAt: addBusinessTime(hours, startedAt, target),
      stoppedAt: null,
      stopReason: null,
    };
  };
  const stop = (running: SlaClock | null, at: Date, reason: SlaStopReason) => {
    if (running && running.stoppedAt === null) {
      running.stoppedAt = at;
      running.stopReason = reason;
    }
  };

  const clocks: SlaClock[] = [];
  const keep = (made: SlaClock | null) => {
    if (made) clocks.push(made);
    return made;
  };
  let started = false;
  let isClosed = false;
  let hasFirstResponse = subject.direction === 'outbound';
  let firstResponse: SlaClock | null = null;
  let nextResponse: SlaClock | null = null;
  let nextCycle = 0;
  let resolution: SlaClock | null = null;
  /** Business seconds the resolution clock ran before its latest stop (reopens add up). */
  let resolutionSpent = 0;
  let resolutionSegmentStart: Date | null = null;

  for (const event of events) {
    const at = event.occurredAt;
    if (!started && (event.type === 'interaction.created' || event.type === 'message.received')) {
      started = true;
      if (!hasFirstResponse) firstResponse = keep(clock('firstResponse', 0, at));
      resolution = keep(clock('resolution', 0, at));
      resolutionSegmentStart = at;
      if (event.type === 'interaction.created') continue;
    }
    if (!started) continue;
    if (event.type === 'interaction.closed') {
      if (isClosed) continue;
      isClosed = true;
      stop(firstResponse, at, 'closed');
      stop(nextResponse, at, 'closed');
      if (resolution && resolutionSegmentStart) {
        resolutionSpent += businessSecondsBetween(hours, resolutionSegmentStart, at);
        stop(resolution, at, 'resolved');
      }
      continue;
    }
    if (event.type === 'interaction.reopened') {
      if (!isClosed) continue;
      isClosed = false;
      if (resolution) {
        const left = Math.max(0, resolution.targetSeconds - resolutionSpent);
        resolution.stoppedAt = null;
        resolution.stopReason = null;
        resolution.dueAt = addBusinessTime(hours, at, left);
        resolution.warnAt = addBusinessTime(
          hours,
          at,
          Math.max(0, left - warnBefore(resolution.targetSeconds)),
        );
        resolutionSegmentStart = at;
      }
      continue;
    }
    if (isClosed) continue;
    if (isPersonsAnswer(event, subject.channel)) {
      if (!hasFirstResponse) {
        hasFirstResponse = true;
        stop(firstResponse, at, 'responded');
      } else stop(nextResponse, at, 'responded');
      continue;
    }
    if (event.type === 'message.received' && event.actorType === 'customer' && subject.channel !== 'voice') {
      const owed = !hasFirstResponse || (nextResponse !== null && nextResponse.stoppedAt === null);
      if (!owed) {
        nextCycle += 1;
        nextResponse = keep(clock('nextResponse', nextCycle, at));
        if (!nextResponse) nextCycle -= 1;
      }
    }
  }
  return clocks;
}

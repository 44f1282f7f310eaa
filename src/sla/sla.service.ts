/*
 * The SLA sweep: keeps every interaction's service-level clocks in step with its log, and settles warnings
 * and breaches as they fall due. Run by the repeating `sla.sweep` job (any process; one run at a time per
 * schedule), and safe to run anywhere at once: clocks are recomputed from the log (the same log gives the
 * same clocks), and each warning or breach is claimed by compare-and-set before it is logged and acted on.
 *
 * Each run:
 *   1. finds the interactions with a clock-relevant event recorded since the last run, less a grace (a
 *      transaction that began before the last run may commit after it), or every open interaction when the
 *      rules changed (a policy added, a target changed) or on the first run;
 *   2. computes their clocks (sla-clocks.ts) under their queue's policy for their channel (a contact moved to
 *      a queue without one keeps the policy it had), and stores the changed ones (sla.changed is published,
 *      so consoles showing them refresh);
 *   3. settles the clocks whose warning or due time has come: logs sla.warning or sla.breached, applies the
 *      policy's actions to a contact still waiting (raise-priority, move-to, both in the same transaction)
 *      and dispatches it again, and alerts supervisors (the dashboard, and email when configured).
 *
 * The clock is a parameter (`at`); the job passes nothing, and the database's clock is used.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { SlaRepository, StoredSlaClock } from '../db/repositories/sla.repository.js';
import type { DomainEvents, SlaEventPayload } from '../events.js';
import type { Dispatcher, RulesSource } from '../routing/dispatch.service.js';
import type { SlaMetric, SlaPolicy } from '../routing/rules/rules.schema.js';
import { formatDuration } from '../routing/strategies/eligibility.js';
import { computeSlaClocks, type SlaClock } from './sla-clocks.js';

export interface SlaAlert {
  /** Throttling key: one email per key per period. */
  key: string;
  subject: string;
  text: string;
}

export interface SlaServiceDeps {
  sla: SlaRepository;
  rules: RulesSource;
  dispatcher: Pick<Dispatcher, 'dispatch'>;
  events: DomainEvents;
  log: FastifyBaseLogger;
  /** Supervisors' alert email (optional, throttled by the notifier). */
  alert?: (alert: SlaAlert) => Promise<unknown>;
  /** Re-read this much of the log before the last run's end (default 15 s). */
  graceMs?: number;
  batchSize?: number;
}

export const slaMetricLabels: Record<SlaMetric, string> = {
  firstResponse: 'first response',
  nextResponse: 'next response',
  resolution: 'resolution',
};

const sameClock = (a: SlaClock, b: StoredSlaClock) =>
  a.targetSeconds === b.targetSeconds &&
  a.startedAt.getTime() === b.startedAt.getTime() &&
  a.warnAt.getTime() === b.warnAt.getTime() &&
  a.dueAt.getTime() === b.dueAt.getTime() &&
  (a.stoppedAt?.getTime() ?? null) === (b.stoppedAt?.getTime() ?? null) &&
  a.stopReason === b.stopReason;

export function createSlaService(deps: SlaServiceDeps) {
  const graceMs = deps.graceMs ?? 15_000;
  const batchSize = deps.batchSize ?? 500;

  function policyOf(queue: string | null, channel: string): SlaPolicy | undefined {
    if (queue === null) return undefined;
    return deps.rules.current?.queues.get(queue)?.sla.get(channel as never);
  }

  /**
   * Whose policy an interaction is held to: its queue's, when that queue has one for its channel; else the
   * queue its clocks were made under (a contact moved to a queue without a policy, e.g. by a breach's
   * move-to, keeps its clocks and their breach); else none.
   */
  function governingQueue(
    subject: { queue: string | null; channel: string },
    stored: readonly StoredSlaClock[],
  ): string | null {
    if (policyOf(subject.queue, subject.channel)) return subject.queue;
    const earlier = stored[0]?.queue ?? null;
    return policyOf(earlier, subject.channel) ? earlier : null;
  }

  /** Computes and stores the clocks of these interactions; returns the ones whose clocks changed. */
  async function recompute(interactionIds: readonly string[]): Promise<string[]> {
    const rules = deps.rules.current;
    if (!rules) return [];
    const changed: string[] = [];
    for (let i = 0; i < interactionIds.length; i += batchSize) {
      const batch = interactionIds.slice(i, i + batchSize);
      const [subjects, stored] = await Promise.all([deps.sla.subjects(batch), deps.sla.clocksFor(batch)]);
      const governing = new Map(
        subjects.map((s) => [s.interactionId, governingQueue(s, stored.get(s.interactionId) ?? [])]),
      );
      const events = await deps.sla.events(
        subjects.filter((s) => governing.get(s.interactionId)).map((s) => s.interactionId),
      );
      for (const subject of subjects) {
        const queue = governing.get(subject.interactionId) ?? null;
        const policy = policyOf(queue, subject.channel);
        const before = stored.get(subject.interactionId) ?? [];
        const clocks =
          queue !== null && policy
            ? computeSlaClocks(
                subject,
                events.get(subject.interactionId) ?? [],
                policy,
                rules.queues.get(queue)!.hours,
              )
            : [];
        const isSame =
          clocks.length === before.length &&
          clocks.every((clock) => {
            const old = before.find((b) => b.metric === clock.metric && b.cycle === clock.cycle);
            return old !== undefined && old.queue === queue && sameClock(clock, old);
          });
        if (isSame) continue;
        await deps.sla.saveClocks(subject.interactionId, queue ?? '', subject.channel, clocks);
        changed.push(subject.interactionId);
        deps.events.publish('sla.changed', { interactionId: subject.interactionId });
      }
    }
    return changed;
  }

  function describe(clock: StoredSlaClock, policy: SlaPolicy | undefined): string {
    const what = slaMetricLabels[clock.metric] + (clock.cycle > 1 ? ` #${clock.cycle}` : '');
    const counted = policy?.isBusinessHours === false ? '' : ' of business time';
    return `${what} due ${clock.dueAt.toISOString()} (${formatDuration(clock.targetSeconds * 1000)}${counted}) in ${clock.queue}`;
  }

  /** Settles every warning and breach due at `at`; returns how many were logged. */
  async function settleDue(at: Date): Promise<number> {
    let settled = 0;
    for (let round = 0; round < 20; round++) {
      const due = await deps.sla.due(at, batchSize);
      let progressed = 0;
      for (const clock of due) {
        const kind =
          clock.breachedAt === null && clock.dueAt.getTime() <= at.getTime() ? 'breach' : 'warning';
        const policy = policyOf(clock.queue, clock.channel);
        const actions = (kind === 'breach' ? policy?.onBreach : policy?.onWarning) ?? [];
        const raiseBy = actions.reduce((sum, a) => sum + (a.action === 'raise-priority' ? a.by : 0), 0);
        const moveTo = actions.findLast((a) => a.action === 'move-to')?.queue ?? null;
        const isAlert = actions.some((a) => a.action === 'alert');
        const reason = describe(clock, policy);
        const payload: SlaEventPayload = {
          metric: clock.metric,
          cycle: clock.cycle,
          queue: clock.queue,
          targetSeconds: clock.targetSeconds,
          startedAt: clock.startedAt.toISOString(),
          dueAt: clock.dueAt.toISOString(),
          ...(clock.stoppedAt && { stoppedAt: clock.stoppedAt.toISOString() }),
          reason,
        };
        const outcome = await deps.sla.settle(clock, kind, payload, { raiseBy, moveTo });
        if (!outcome.isSettled) continue;
        progressed += 1;
        settled += 1;
        deps.log.info(
          { interactionId: clock.interactionId, metric: clock.metric, kind, priority: outcome.priority },
          `sla ${kind}: ${reason}`,
        );
        if (outcome.isWaiting)
          await deps.dispatcher.dispatch({ interactionIds: [clock.interactionId] }).catch((err: unknown) => {
            deps.log.error(
              { err, interactionId: clock.interactionId },
              'dispatch after an sla action failed',
            );
          });
        deps.events.publish('sla.changed', {
          interactionId: clock.interactionId,
          settled: { kind, metric: clock.metric, queue: clock.queue, reason, isAlert },
        });
        if (isAlert && deps.alert) {
          const word = kind === 'breach' ? 'breached' : 'warning';
          await deps
            .alert({
              key: `sla:${kind}:${clock.queue}:${clock.metric}`,
              subject: `SLA ${word}: ${slaMetricLabels[clock.metric]} in ${clock.queue}`,
              text: `${kind === 'breach' ? 'Breached' : 'Warning'}: ${reason}.\nInteraction ${clock.interactionId} (${clock.channel}).`,
            })
            .catch((err: unknown) => deps.log.warn({ err }, 'sla alert email failed'));
        }
      }
      if (progressed === 0 || due.length < batchSize) break;
    }
    return settled;
  }

  return {
    recompute,

    /** One sweep (see the header). `at`: the time warnings and breaches are judged at (default: now). */
    async sweep(at?: Date): Promise<{ recomputed: number; settled: number }> {
      const rules = deps.rules.current;
      if (!rules) return { recomputed: 0, settled: 0 };
      const [state, readTo] = await Promise.all([deps.sla.sweepState(), deps.sla.now()]);
      const since = state ? new Date(state.readThrough.getTime() - graceMs) : null;
      const isRulesChange = state?.rulesFingerprint !== rules.fingerprint;
      const touched = new Set(since ? await deps.sla.touchedSince(since) : []);
      if (!state || isRulesChange) for (const id of await deps.sla.openInteractions()) touched.add(id);
      const changed = await recompute([...touched]);
      await deps.sla.saveSweepState(readTo, rules.fingerprint);
      const settled = await settleDue(at ?? readTo);
      return { recomputed: changed.length, settled };
    },
  };
}

export type SlaService = ReturnType<typeof createSlaService>;

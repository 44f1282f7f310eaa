import { sql, type Kysely } from 'kysely';
import type { SlaEventPayload } from '../../events.js';
import type { Channel } from '../../routing/routing.types.js';
import type { SlaMetric } from '../../routing/rules/rules.schema.js';
import type { SlaClock, SlaLogEvent } from '../../sla/sla-clocks.js';
import type { Database } from '../tables.js';
import { appendEvent } from './append-event.js';

/*
 * The SLA clocks (src/sla/): which interactions' logs changed, what the clocks read from them, the stored
 * clocks, and settling a warning or a breach (compare-and-set, the log event and its actions in one
 * transaction, so that across any number of processes each is logged and acted on once).
 */

/** The log event types the clocks read (sla-clocks.ts); other types never change a clock. */
export const slaEventTypes = [
  'interaction.created',
  'message.received',
  'message.sent',
  'offer.accepted',
  'routing.transferred',
  'interaction.closed',
  'interaction.reopened',
] as const;

export interface SlaSubjectRow {
  interactionId: string;
  channel: Channel;
  direction: 'inbound' | 'outbound';
  queue: string | null;
  status: string;
}

export interface StoredSlaClock extends SlaClock {
  interactionId: string;
  queue: string;
  channel: Channel;
  warnedAt: Date | null;
  breachedAt: Date | null;
}

/** What a settled warning or breach did, beyond its log event. */
export interface SlaSettleActions {
  raiseBy: number;
  moveTo: string | null;
}

const system = { type: 'system', id: null } as const;

const toClock = (row: {
  interaction_id: string;
  metric: SlaMetric;
  cycle: number;
  queue: string;
  channel: string;
  target_seconds: number;
  started_at: Date;
  warn_at: Date;
  due_at: Date;
  stopped_at: Date | null;
  stop_reason: string | null;
  warned_at: Date | null;
  breached_at: Date | null;
}): StoredSlaClock => ({
  interactionId: row.interaction_id,
  metric: row.metric,
  cycle: row.cycle,
  queue: row.queue,
  channel: row.channel as Channel,
  targetSeconds: row.target_seconds,
  startedAt: row.started_at,
  warnAt: row.warn_at,
  dueAt: row.due_at,
  stoppedAt: row.stopped_at,
  stopReason: row.stop_reason as SlaClock['stopReason'],
  warnedAt: row.warned_at,
  breachedAt: row.breached_at,
});

export function createSlaRepository(db: Kysely<Database>) {
  return {
    /** How far the sweep has read the log, and the rules' fingerprint it used; null before the first sweep. */
    async sweepState(): Promise<{ readThrough: Date; rulesFingerprint: string | null } | null> {
      const row = await db.selectFrom('sla_sweep_state').selectAll().executeTakeFirst();
      return row ? { readThrough: row.read_through, rulesFingerprint: row.rules_fingerprint } : null;
    },

    async saveSweepState(readThrough: Date, rulesFingerprint: string | null): Promise<void> {
      await db
        .insertInto('sla_sweep_state')
        .values({ id: 1, read_through: readThrough, rules_fingerprint: rulesFingerprint })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({ read_through: readThrough, rules_fingerprint: rulesFingerprint }),
        )
        .execute();
    },

    /** The database's clock: the sweep reads the log up to it, whatever the process's clock says. */
    async now(): Promise<Date> {
      const { rows } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(db);
      return rows[0]!.now;
    },

    /**
     * Interactions with a clock-relevant event recorded at or after `since`: one the clocks read, or one
     * that puts the contact in a queue (whose policy then applies).
     */
    async touchedSince(since: Date): Promise<string[]> {
      const types = [...slaEventTypes, 'routing.queued', 'routing.escalated', 'routing.afterHours'];
      const { rows } = await sql<{ interaction_id: string }>`
        select distinct interaction_id from interaction_events
        where recorded_at >= ${since} and type = any(${types}::text[])
      `.execute(db);
      return rows.map((r) => r.interaction_id);
    },

    /** Every interaction that is not closed (after a rules change, all clocks are computed again). */
    async openInteractions(): Promise<string[]> {
      const rows = await db.selectFrom('interactions').select('id').where('status', '!=', 'closed').execute();
      return rows.map((r) => r.id);
    },

    async subjects(interactionIds: readonly string[]): Promise<SlaSubjectRow[]> {
      if (interactionIds.length === 0) return [];
      const rows = await db
        .selectFrom('interactions')
        .select(['id', 'channel', 'direction', 'queue', 'status'])
        .where('id', 'in', interactionIds)
        .execute();
      return rows.map((r) => ({
        interactionId: r.id,
        channel: r.channel as Channel,
        direction: r.direction as SlaSubjectRow['direction'],
        queue: r.queue,
        status: r.status,
      }));
    },

    /** The clock-relevant events of each interaction, in log order. */
    async events(interactionIds: readonly string[]): Promise<Map<string, SlaLogEvent[]>> {
      const byInteraction = new Map<string, SlaLogEvent[]>();
      if (interactionIds.length === 0) return byInteraction;
      const rows = await db
        .selectFrom('interaction_events')
        .select(['interaction_id', 'type', 'actor_type', 'occurred_at', 'payload'])
        .where('interaction_id', 'in', interactionIds)
        .where('type', 'in', [...slaEventTypes])
        .orderBy('interaction_id')
        .orderBy('id')
        .execute();
      for (const row of rows) {
        let list = byInteraction.get(row.interaction_id);
        if (!list) byInteraction.set(row.interaction_id, (list = []));
        list.push({
          type: row.type,
          actorType: row.actor_type,
          occurredAt: row.occurred_at,
          payload: row.payload,
        });
      }
      return byInteraction;
    },

    /**
     * Stores an interaction's clocks as computed now: new ones inserted, changed ones updated (a warning
     * or breach already settled stays recorded), and ones the policy no longer makes removed.
     */
    async saveClocks(interactionId: string, queue: string, channel: Channel, clocks: readonly SlaClock[]) {
      await db.transaction().execute(async (trx) => {
        const keys = clocks.map((c) => `${c.metric}:${c.cycle}`);
        await trx
          .deleteFrom('sla_clocks')
          .where('interaction_id', '=', interactionId)
          .$if(keys.length > 0, (q) => q.where(sql<boolean>`metric || ':' || cycle <> all(${keys}::text[])`))
          .execute();
        if (clocks.length === 0) return;
        await trx
          .insertInto('sla_clocks')
          .values(
            clocks.map((c) => ({
              interaction_id: interactionId,
              metric: c.metric,
              cycle: c.cycle,
              queue,
              channel,
              target_seconds: c.targetSeconds,
              started_at: c.startedAt,
              warn_at: c.warnAt,
              due_at: c.dueAt,
              stopped_at: c.stoppedAt,
              stop_reason: c.stopReason,
            })),
          )
          .onConflict((oc) =>
            oc.columns(['interaction_id', 'metric', 'cycle']).doUpdateSet((eb) => ({
              queue: eb.ref('excluded.queue'),
              channel: eb.ref('excluded.channel'),
              target_seconds: eb.ref('excluded.target_seconds'),
              started_at: eb.ref('excluded.started_at'),
              warn_at: eb.ref('excluded.warn_at'),
              due_at: eb.ref('excluded.due_at'),
              stopped_at: eb.ref('excluded.stopped_at'),
              stop_reason: eb.ref('excluded.stop_reason'),
              updated_at: sql`now()`,
            })),
          )
          .execute();
      });
    },

    /** The stored clocks of these interactions, by interaction. */
    async clocksFor(interactionIds: readonly string[]): Promise<Map<string, StoredSlaClock[]>> {
      const byInteraction = new Map<string, StoredSlaClock[]>();
      if (interactionIds.length === 0) return byInteraction;
      const rows = await db
        .selectFrom('sla_clocks')
        .selectAll()
        .where('interaction_id', 'in', interactionIds)
        .execute();
      for (const row of rows) {
        const clock = toClock(row);
        const list = byInteraction.get(clock.interactionId);
        if (list) list.push(clock);
        else byInteraction.set(clock.interactionId, [clock]);
      }
      return byInteraction;
    },

    async clocksOf(interactionId: string): Promise<StoredSlaClock[]> {
      const rows = await db
        .selectFrom('sla_clocks')
        .selectAll()
        .where('interaction_id', '=', interactionId)
        .orderBy('started_at')
        .orderBy('metric')
        .orderBy('cycle')
        .execute();
      return rows.map(toClock);
    },

    /**
     * Clocks whose warning or breach is due at `at` and not yet settled: running past their warning, or
     * past due (running, or stopped late: a late answer is still a breach).
     */
    async due(at: Date, limit: number): Promise<StoredSlaClock[]> {
      const rows = await db
        .selectFrom('sla_clocks')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb.and([eb('stopped_at', 'is', null), eb('warned_at', 'is', null), eb('warn_at', '<=', at)]),
            eb.and([
              eb('breached_at', 'is', null),
              eb('due_at', '<=', at),
              eb.or([eb('stopped_at', 'is', null), eb('stopped_at', '>', eb.ref('due_at'))]),
            ]),
          ]),
        )
        .orderBy('due_at')
        .limit(limit)
        .execute();
      return rows.map(toClock);
    },

    /**
     * Settles a clock's warning or breach once: claims it (compare-and-set), logs `sla.warning` or
     * `sla.breached`, and applies the actions to a contact that is still waiting (priority raised, moved to
     * another queue, logged as routing.escalated so that the queue reports see the move). False: another
     * process settled it first, or the clock changed. Returns what was done to the contact.
     */
    async settle(
      clock: StoredSlaClock,
      kind: 'warning' | 'breach',
      event: SlaEventPayload,
      actions: SlaSettleActions,
    ): Promise<{ isSettled: boolean; isWaiting: boolean; priority: number | null; movedTo: string | null }> {
      return db.transaction().execute(async (trx) => {
        const column = kind === 'warning' ? 'warned_at' : 'breached_at';
        const claimed = await trx
          .updateTable('sla_clocks')
          .set(
            kind === 'warning'
              ? { warned_at: sql`now()` }
              : { breached_at: sql`now()`, warned_at: sql`coalesce(warned_at, now())` },
          )
          .where('interaction_id', '=', clock.interactionId)
          .where('metric', '=', clock.metric)
          .where('cycle', '=', clock.cycle)
          .where(column, 'is', null)
          .where('due_at', '=', clock.dueAt)
          .returning('interaction_id')
          .executeTakeFirst();
        if (!claimed) return { isSettled: false, isWaiting: false, priority: null, movedTo: null };
        let isWaiting = false;
        let priority: number | null = null;
        let movedTo: string | null = null;
        const isRunning = clock.stoppedAt === null;
        if (isRunning && (actions.raiseBy > 0 || actions.moveTo !== null)) {
          const { rows } = await sql<{ priority: number; queue: string | null }>`
            update interactions set
              priority = priority + ${actions.raiseBy}::int,
              queue = coalesce(${actions.moveTo}::text, queue),
              queue_entered_at = case when ${actions.moveTo}::text is null then queue_entered_at else now() end,
              escalation_step = case when ${actions.moveTo}::text is null then escalation_step else 0 end,
              relax_levels = case when ${actions.moveTo}::text is null then relax_levels else 0 end,
              extra_queues = case when ${actions.moveTo}::text is null then extra_queues else '{}' end,
              updated_at = now()
            where id = ${clock.interactionId} and status = 'queued'
              and (${actions.moveTo}::text is null or queue is distinct from ${actions.moveTo}::text)
            returning priority, queue
          `.execute(trx);
          const row = rows[0];
          if (row) {
            isWaiting = true;
            priority = row.priority;
            movedTo = actions.moveTo;
          }
        }
        const done: string[] = [];
        if (priority !== null && actions.raiseBy > 0) done.push(`priority raised by ${actions.raiseBy}`);
        if (movedTo !== null) done.push(`moved to ${movedTo}`);
        await appendEvent(
          trx,
          clock.interactionId,
          clock.channel,
          system,
          kind === 'warning' ? 'sla.warning' : 'sla.breached',
          { ...event, ...(done.length > 0 && { done }) },
        );
        if (movedTo !== null)
          await appendEvent(trx, clock.interactionId, clock.channel, system, 'routing.escalated', {
            queue: clock.queue,
            step: -1,
            action: 'move-to',
            afterSeconds: 0,
            reason: `${event.reason}: moved to ${movedTo}`,
            movedTo,
            ...(priority !== null && { priority }),
          });
        return { isSettled: true, isWaiting, priority, movedTo };
      });
    },
  };
}

export type SlaRepository = ReturnType<typeof createSlaRepository>;

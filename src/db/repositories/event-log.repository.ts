import { sql, type Kysely } from 'kysely';
import type { Database } from '../tables.js';

/*
 * The interaction event log read in order, for the event-log export (src/reports/event-log.ts): a time window
 * on `occurred_at`, read in pages by the log's own order (the event id, the order the log recorded them).
 */

export interface EventLogWindow {
  /** Inclusive; null: from the first event. */
  from: Date | null;
  /** Exclusive; null: to the last. */
  to: Date | null;
}

export interface EventLogRow {
  id: string;
  interactionId: string;
  type: string;
  channel: string;
  actorType: string;
  actorId: string | null;
  payload: Record<string, unknown>;
  occurredAt: Date;
}

export function createEventLogRepository(db: Kysely<Database>) {
  const inWindow = (window: EventLogWindow) =>
    sql<boolean>`(${window.from}::timestamptz is null or occurred_at >= ${window.from})
      and (${window.to}::timestamptz is null or occurred_at < ${window.to})`;
  return {
    async count(window: EventLogWindow): Promise<number> {
      const row = await db
        .selectFrom('interaction_events')
        .select(sql<string>`count(*)`.as('n'))
        .where(inWindow(window))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** The window's events after event `afterId` (exclusive; null: from the start), in log order. */
    async page(window: EventLogWindow, afterId: string | null, limit: number): Promise<EventLogRow[]> {
      const rows = await db
        .selectFrom('interaction_events')
        .select([
          'id',
          'interaction_id',
          'type',
          'channel',
          'actor_type',
          'actor_id',
          'payload',
          'occurred_at',
        ])
        .where(inWindow(window))
        .$if(afterId !== null, (q) => q.where('id', '>', afterId!))
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        id: String(row.id),
        interactionId: row.interaction_id,
        type: row.type,
        channel: row.channel,
        actorType: row.actor_type,
        actorId: row.actor_id,
        payload: row.payload ?? {},
        occurredAt: row.occurred_at,
      }));
    },
  };
}

export type EventLogRepository = ReturnType<typeof createEventLogRepository>;

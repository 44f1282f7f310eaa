import { sql, type Kysely } from 'kysely';
import type { AgentStateChange, LogEvent } from '../../reports/contact-facts.js';
import type { AgentState, Channel } from '../../routing/routing.types.js';
import type { Database } from '../tables.js';

/*
 * What the supervisors' live board reads (src/reports/live-board.service.ts): the contacts waiting now, the
 * agents as they are now, and the two logs the day figures come from (interaction_events, agent_state_history),
 * either from a day's start or only the rows after those already read.
 *
 * Reading "after": both logs are bigint identity columns, so ids follow insertion, but a transaction that took
 * an id may commit after one that took a later id. A reader that remembered only the highest id seen would
 * miss the earlier one for good, so the reader also names the ids it has not seen below that (`holes`) and
 * asks for them again until they appear or the caller gives up on them (a rolled-back insert leaves a hole
 * that never fills).
 */

export interface LogCursor {
  /** The highest id read so far ('0': none). */
  afterId: string;
  /** Ids below `afterId` not read yet (their transactions had not committed). */
  holes: readonly string[];
}

export interface WaitingRow {
  queue: string;
  channel: Channel;
  waiting: number;
  /** When the contact that has waited longest entered its queue. */
  oldestEnteredAt: Date;
}

export interface BoardAgentRow {
  agentId: string;
  name: string;
  state: AgentState;
  awayReason: string | null;
  stateSince: Date | null;
  skills: Record<string, number>;
  capacityOverrides: Partial<Record<Channel, number>>;
  loads: Partial<Record<Channel, number>>;
}

/** A log row with its id, for the reader's cursor. */
export type IdentifiedEvent = LogEvent & { id: string };
export type IdentifiedStateChange = AgentStateChange & { id: string };

/** A log row read only for its id: its type changes no fact, so neither its payload nor it is kept. */
export const skippedEvent = 'skipped';

const eventColumns = [
  'id',
  'interaction_id',
  'type',
  'channel',
  'actor_type',
  'actor_id',
  'payload',
  'occurred_at',
] as const;

function toEvent(row: {
  id: string;
  interaction_id: string;
  type: string;
  channel: string;
  actor_type: 'customer' | 'agent' | 'system';
  actor_id: string | null;
  payload: Record<string, unknown>;
  occurred_at: Date;
}): IdentifiedEvent {
  // The log's payloads are written by the services through the typed catalogue (src/events.ts).
  return {
    id: String(row.id),
    interactionId: row.interaction_id,
    type: row.type,
    channel: row.channel,
    actorType: row.actor_type,
    actorId: row.actor_id,
    payload: row.payload,
    occurredAt: row.occurred_at,
  } as IdentifiedEvent;
}

function toChange(row: {
  id: string;
  agent_id: string;
  state: string;
  away_reason: string | null;
  at: Date;
}) {
  return {
    id: String(row.id),
    agentId: row.agent_id,
    state: row.state as AgentState,
    awayReason: row.away_reason,
    at: row.at,
  } satisfies IdentifiedStateChange;
}

export function createLiveBoardRepository(db: Kysely<Database>) {
  return {
    /** Contacts waiting (queued, or offered and not yet accepted) per queue and channel. */
    async waiting(): Promise<WaitingRow[]> {
      const rows = await db
        .selectFrom('interactions')
        .select(['queue', 'channel'])
        .select([
          sql<number>`count(*)::int`.as('waiting'),
          sql<Date>`min(coalesce(queue_entered_at, enqueued_at, created_at))`.as('oldest'),
        ])
        .where('status', 'in', ['queued', 'offered'])
        .groupBy(['queue', 'channel'])
        .execute();
      return rows.map((r) => ({
        queue: r.queue ?? '(unknown queue)',
        channel: r.channel as Channel,
        waiting: r.waiting,
        oldestEnteredAt: r.oldest,
      }));
    },

    /** Open contacts with an SLA clock running past its due time, per queue and channel (src/sla/). */
    async slaBreached(): Promise<{ queue: string; channel: Channel; breached: number }[]> {
      const rows = await db
        .selectFrom('sla_clocks')
        .select(['queue', 'channel'])
        .select(sql<number>`count(distinct interaction_id)::int`.as('breached'))
        .where('stopped_at', 'is', null)
        .where('due_at', '<=', sql<Date>`now()`)
        .groupBy(['queue', 'channel'])
        .execute();
      return rows.map((r) => ({ queue: r.queue, channel: r.channel as Channel, breached: r.breached }));
    },

    /** The contacts waiting in one queue now, longest waiting first (for a supervisor to move or assign). */
    async waitingIn(
      queue: string,
      limit: number,
    ): Promise<
      {
        interactionId: string;
        ticketNumber: number;
        channel: Channel;
        customerName: string | null;
        subject: string | null;
        queuedAt: Date;
      }[]
    > {
      const rows = await db
        .selectFrom('interactions as i')
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .select([
          'i.id',
          'i.ticket_number',
          'i.channel',
          'c.display_name',
          'i.subject',
          sql<Date>`coalesce(i.queue_entered_at, i.enqueued_at, i.created_at)`.as('queued_at'),
        ])
        .where('i.status', 'in', ['queued', 'offered'])
        .where('i.queue', '=', queue)
        .orderBy(sql`coalesce(i.queue_entered_at, i.enqueued_at, i.created_at)`)
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        interactionId: r.id,
        ticketNumber: Number(r.ticket_number),
        channel: r.channel as Channel,
        customerName: r.display_name,
        subject: r.subject,
        queuedAt: r.queued_at,
      }));
    },

    /** Every enabled agent with their state, skills, capacity overrides and open contacts per channel. */
    async agents(): Promise<BoardAgentRow[]> {
      const rows = await db
        .selectFrom('agents as a')
        .leftJoin('agent_states as s', 's.agent_id', 'a.id')
        .select(['a.id', 'a.display_name', 's.state', 's.away_reason', 's.state_since'])
        .select([
          sql<Record<string, number> | null>`(select json_object_agg(k.skill, k.level) from agent_skills k
            where k.agent_id = a.id)`.as('skills'),
          sql<Partial<Record<Channel, number>> | null>`(select json_object_agg(c.channel, c.capacity)
            from agent_capacities c where c.agent_id = a.id)`.as('capacity'),
          sql<Partial<Record<Channel, number>> | null>`(select json_object_agg(l.channel, l.load)
            from agent_loads l where l.agent_id = a.id and l.load > 0)`.as('loads'),
        ])
        .where('a.is_disabled', '=', false)
        .orderBy('a.display_name')
        .orderBy('a.id')
        .execute();
      return rows.map((r) => ({
        agentId: r.id,
        name: r.display_name,
        state: r.state ?? 'offline',
        awayReason: r.away_reason,
        stateSince: r.state_since,
        skills: r.skills ?? {},
        capacityOverrides: r.capacity ?? {},
        loads: r.loads ?? {},
      }));
    },

    /** The highest id of each log now: a rebuild reads up to these, later reads go on from them. */
    async logHeads(): Promise<{ events: string; stateChanges: string }> {
      const row = await db
        .selectNoFrom([
          sql<string>`coalesce((select max(id) from interaction_events), 0)::text`.as('events'),
          sql<string>`coalesce((select max(id) from agent_state_history), 0)::text`.as('changes'),
        ])
        .executeTakeFirstOrThrow();
      return { events: row.events, stateChanges: row.changes };
    },

    /**
     * Every event of `types`, up to `upToId`, of the interactions with such an event at or after `from`, in
     * log order: a contact answered today needs its routing.queued of yesterday. (No index on occurred_at: this scans
     * the log once; it runs when a process takes the board over and at midnight, not per tick.)
     */
    async eventsOfDay(from: Date, upToId: string, types: readonly string[]): Promise<IdentifiedEvent[]> {
      const rows = await db
        .selectFrom('interaction_events')
        .select(eventColumns)
        .where('id', '<=', upToId as never)
        .where('type', 'in', types)
        .where(
          'interaction_id',
          'in',
          db
            .selectFrom('interaction_events')
            .select('interaction_id')
            .where('occurred_at', '>=', from)
            .where('type', 'in', types),
        )
        .orderBy('id')
        .execute();
      return rows.map(toEvent);
    },

    /**
     * The events after the cursor (and those in its holes), in log order; those not of `types` with the type
     * `skippedEvent` and no payload (read for their ids, which move the cursor on).
     */
    async eventsAfter(
      cursor: LogCursor,
      limit: number,
      types: readonly string[],
    ): Promise<IdentifiedEvent[]> {
      const rows = await db
        .selectFrom('interaction_events')
        .select(['id', 'interaction_id', 'channel', 'actor_type', 'actor_id', 'occurred_at'])
        .select([
          sql<string>`case when type = any(${types}) then type else ${skippedEvent} end`.as('type'),
          sql<Record<string, unknown>>`case when type = any(${types}) then payload else '{}'::jsonb end`.as(
            'payload',
          ),
        ])
        .where((eb) =>
          cursor.holes.length === 0
            ? eb('id', '>', cursor.afterId as never)
            : eb.or([eb('id', '>', cursor.afterId as never), eb('id', 'in', cursor.holes as never[])]),
        )
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map(toEvent);
    },

    /** The earlier events (ids at or below `upToId`, of `types`) of interactions first met in a later read. */
    async eventsOf(
      interactionIds: readonly string[],
      upToId: string,
      types: readonly string[],
    ): Promise<IdentifiedEvent[]> {
      if (interactionIds.length === 0) return [];
      const rows = await db
        .selectFrom('interaction_events')
        .select(eventColumns)
        .where('interaction_id', 'in', interactionIds)
        .where('type', 'in', types)
        .where('id', '<=', upToId as never)
        .orderBy('id')
        .execute();
      return rows.map(toEvent);
    },

    /**
     * The state changes at or after `from`, up to `upToId`, and each agent's last change before `from` (the
     * state they entered the day in); in order of `at` for each agent.
     */
    async stateChangesOfDay(from: Date, upToId: string): Promise<IdentifiedStateChange[]> {
      const { rows } = await sql<{
        id: string;
        agent_id: string;
        state: string;
        away_reason: string | null;
        at: Date;
      }>`
        select * from (
          select distinct on (agent_id) id, agent_id, state, away_reason, at
            from agent_state_history where at < ${from} and id <= ${upToId}
            order by agent_id, at desc, id desc
        ) carried
        union all
        select id, agent_id, state, away_reason, at
          from agent_state_history where at >= ${from} and id <= ${upToId}
        order by at, id`.execute(db);
      return rows.map(toChange);
    },

    /** The state changes after the cursor (and those in its holes), in id order. */
    async stateChangesAfter(cursor: LogCursor, limit: number): Promise<IdentifiedStateChange[]> {
      const rows = await db
        .selectFrom('agent_state_history')
        .select(['id', 'agent_id', 'state', 'away_reason', 'at'])
        .where((eb) =>
          cursor.holes.length === 0
            ? eb('id', '>', cursor.afterId as never)
            : eb.or([eb('id', '>', cursor.afterId as never), eb('id', 'in', cursor.holes as never[])]),
        )
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map(toChange);
    },
  };
}

export type LiveBoardRepository = ReturnType<typeof createLiveBoardRepository>;

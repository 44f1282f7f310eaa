import { sql, type Kysely } from 'kysely';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { Database } from '../tables.js';

/*
 * What the routing simulator's export reads from the log: routed inbound interactions with their routing facts,
 * real offers and outcome, agent state history, and agents' skills and capacities. Read-only. Both streams are
 * read in pages by a keyset cursor (time, id), so an export of months holds one page in memory at a time.
 *
 * An interaction's arrival is when it was queued (`enqueued_at`): the moment routing began, where the wait
 * starts.
 */

export interface ExportWindow {
  /** Inclusive. */
  from: Date | null;
  /** Exclusive. */
  to: Date | null;
}

/**
 * A position in a stream: the last row read. `at` is Postgres's own text of the timestamp, so the cursor keeps
 * its microseconds (a JavaScript Date would round them off and read the last row again).
 */
export interface ExportCursor {
  at: string;
  id: string;
}

export interface RecordedOffer {
  agentId: string;
  status: 'offered' | 'accepted' | 'rejected' | 'expired' | 'cancelled';
  offeredAt: Date;
  settledAt: Date | null;
}

export interface RecordedInteraction {
  position: ExportCursor;
  interactionId: string;
  channel: Channel;
  customerId: string;
  enqueuedAt: Date;
  subject: string | null;
  /** The first customer message's text and channel hints, as routing read them. */
  text: string | null;
  hints: Record<string, unknown>;
  customerTier: string | null;
  accountId: string | null;
  accountOwnerId: string | null;
  /** The queue of the first routing.queued event (where it was queued); else the interaction's queue. */
  queue: string | null;
  assigneeId: string | null;
  assignedAt: Date | null;
  closedAt: Date | null;
  /** interactions.closed_reason, else the last interaction.closed event's reason. */
  closedReason: string | null;
  /** Who closed it, by the last interaction.closed event: a customer who left, an agent, the system. */
  closedBy: 'customer' | 'agent' | 'system' | null;
  /** In the order they were made. */
  offers: RecordedOffer[];
  /** Agents who served the customer before the window began, newest first (at most five). */
  recentAgents: { agentId: string; servedAt: Date }[];
}

export interface RecordedStateChange {
  position: ExportCursor;
  agentId: string;
  state: string;
  awayReason: string | null;
  at: Date;
}

export interface RecordedAgent {
  agentId: string;
  skills: Record<string, number>;
  capacity: Partial<Record<Channel, number>>;
}

const fromMs = (ms: number | null) => (ms === null ? null : new Date(ms));
const epochMs = (column: string) =>
  sql<number | null>`(extract(epoch from ${sql.ref(column)}) * 1000)::float8`;

export function createSimulationRepository(db: Kysely<Database>) {
  function routedInteractions(window: ExportWindow) {
    let query = db
      .selectFrom('interactions as i')
      .where('i.enqueued_at', 'is not', null)
      .where('i.direction', '=', 'inbound');
    if (window.from) query = query.where('i.enqueued_at', '>=', window.from);
    if (window.to) query = query.where('i.enqueued_at', '<', window.to);
    return query;
  }

  function stateChanges(window: ExportWindow) {
    let query = db.selectFrom('agent_state_history as h');
    if (window.from) query = query.where('h.at', '>=', window.from);
    if (window.to) query = query.where('h.at', '<', window.to);
    return query;
  }

  return {
    async countArrivals(window: ExportWindow): Promise<number> {
      const row = await routedInteractions(window)
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    /** The next `limit` routed interactions after `cursor`, by arrival. */
    async arrivalsAfter(
      window: ExportWindow,
      cursor: ExportCursor | null,
      limit: number,
    ): Promise<RecordedInteraction[]> {
      let query = routedInteractions(window)
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .leftJoin('accounts as a', 'a.id', 'c.account_id')
        .select([
          'i.id',
          'i.channel',
          'i.customer_id',
          'i.queue',
          'i.subject',
          'i.assignee_id',
          'i.closed_reason',
          'a.tier',
          'a.id as account_id',
          'a.owner_agent_id',
        ])
        // Milliseconds as numbers: pg's Date parsing is slow on wide pages, and the file wants ISO anyway.
        .select(epochMs('i.enqueued_at').as('enqueued_ms'))
        .select(sql<string>`i.enqueued_at::text`.as('position'))
        .select(epochMs('i.assigned_at').as('assigned_ms'))
        .select(epochMs('i.closed_at').as('closed_ms'))
        .select(
          sql<Record<string, unknown> | null>`(select e.payload from interaction_events e
            where e.interaction_id = i.id and e.type = 'message.received'
            order by e.occurred_at, e.id limit 1)`.as('first_message'),
        )
        .select(
          sql<string | null>`(select e.payload->>'queue' from interaction_events e
            where e.interaction_id = i.id and e.type = 'routing.queued'
            order by e.occurred_at, e.id limit 1)`.as('queued_queue'),
        )
        .select(
          sql<{ reason: string | null; actor: 'customer' | 'agent' | 'system' } | null>`(select
              json_build_object('reason', e.payload->>'reason', 'actor', e.actor_type)
            from interaction_events e
            where e.interaction_id = i.id and e.type = 'interaction.closed'
            order by e.occurred_at desc, e.id desc limit 1)`.as('closed_event'),
        )
        .select(
          sql<
            {
              agentId: string;
              status: RecordedOffer['status'];
              offeredMs: number;
              settledMs: number | null;
            }[]
          >`coalesce((select json_agg(json_build_object('agentId', o.agent_id, 'status', o.status,
              'offeredMs', (extract(epoch from o.offered_at) * 1000)::float8,
              'settledMs', (extract(epoch from o.settled_at) * 1000)::float8) order by o.offered_at, o.id)
            from offers o where o.interaction_id = i.id), '[]')`.as('offers'),
        )
        .select(
          window.from === null
            ? sql<{ agentId: string; servedMs: number }[]>`'[]'::json`.as('recent')
            : sql<{ agentId: string; servedMs: number }[]>`coalesce((select json_agg(json_build_object(
                'agentId', r.assignee_id, 'servedMs', r.served_ms) order by r.served_ms desc)
              from (select p.assignee_id, (extract(epoch from max(p.assigned_at)) * 1000)::float8 as served_ms
                from interactions p
                where p.customer_id = i.customer_id and p.assignee_id is not null and p.id <> i.id
                  and p.assigned_at < ${window.from}
                group by p.assignee_id order by served_ms desc limit 5) r), '[]')`.as('recent'),
        )
        .orderBy('i.enqueued_at')
        .orderBy('i.id')
        .limit(limit);
      if (cursor)
        query = query.where(
          sql<boolean>`(i.enqueued_at, i.id) > (${cursor.at}::timestamptz, ${cursor.id}::uuid)`,
        );
      const rows = await query.execute();
      return rows.map((r) => {
        const message = r.first_message ?? {};
        const hints = message.hints;
        return {
          position: { at: r.position, id: r.id },
          interactionId: r.id,
          channel: r.channel as Channel,
          customerId: r.customer_id,
          enqueuedAt: new Date(r.enqueued_ms!),
          subject: r.subject,
          text: typeof message.text === 'string' ? message.text : null,
          hints: typeof hints === 'object' && hints !== null ? (hints as Record<string, unknown>) : {},
          customerTier: r.tier,
          accountId: r.account_id,
          accountOwnerId: r.owner_agent_id,
          queue: r.queued_queue ?? r.queue,
          assigneeId: r.assignee_id,
          assignedAt: fromMs(r.assigned_ms),
          closedAt: fromMs(r.closed_ms),
          closedReason: r.closed_reason ?? r.closed_event?.reason ?? null,
          closedBy: r.closed_event?.actor ?? null,
          offers: r.offers.map((o) => ({
            agentId: o.agentId,
            status: o.status,
            offeredAt: new Date(o.offeredMs),
            settledAt: fromMs(o.settledMs),
          })),
          recentAgents: r.recent.map((x) => ({ agentId: x.agentId, servedAt: new Date(x.servedMs) })),
        };
      });
    },

    async countStateChanges(window: ExportWindow): Promise<number> {
      const row = await stateChanges(window)
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    /** Each agent's last recorded state before `at`: where the window begins. */
    async statesBefore(at: Date): Promise<RecordedStateChange[]> {
      const rows = await db
        .selectFrom('agent_state_history')
        .distinctOn('agent_id')
        .select(['id', 'agent_id', 'state', 'away_reason'])
        .select(sql<string>`at::text`.as('position'))
        .select(epochMs('at').as('at_ms'))
        .where('at', '<', at)
        .orderBy('agent_id')
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .execute();
      return rows
        .map((r) => ({
          position: { at: r.position, id: r.id },
          agentId: r.agent_id,
          state: r.state,
          awayReason: r.away_reason,
          at: new Date(r.at_ms!),
        }))
        .sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
    },

    /** The next `limit` agent state changes after `cursor`, in the order they happened. */
    async stateChangesAfter(
      window: ExportWindow,
      cursor: ExportCursor | null,
      limit: number,
    ): Promise<RecordedStateChange[]> {
      let query = stateChanges(window)
        .select(['h.id', 'h.agent_id', 'h.state', 'h.away_reason'])
        .select(sql<string>`h.at::text`.as('position'))
        .select(epochMs('h.at').as('at_ms'))
        .orderBy('h.at')
        .orderBy('h.id')
        .limit(limit);
      if (cursor)
        query = query.where(sql<boolean>`(h.at, h.id) > (${cursor.at}::timestamptz, ${cursor.id}::bigint)`);
      const rows = await query.execute();
      return rows.map((r) => ({
        position: { at: r.position, id: r.id },
        agentId: r.agent_id,
        state: r.state,
        awayReason: r.away_reason,
        at: new Date(r.at_ms!),
      }));
    },

    /** Every agent's skills and capacity overrides as they are now (the log keeps no history of them). */
    async agents(): Promise<RecordedAgent[]> {
      const rows = await db
        .selectFrom('agents as a')
        .select('a.id')
        .select(
          sql<Record<string, number> | null>`(select json_object_agg(k.skill, k.level)
            from agent_skills k where k.agent_id = a.id)`.as('skills'),
        )
        .select(
          sql<Partial<Record<Channel, number>> | null>`(select json_object_agg(c.channel, c.capacity)
            from agent_capacities c where c.agent_id = a.id)`.as('capacity'),
        )
        .orderBy('a.id')
        .execute();
      return rows.map((r) => ({ agentId: r.id, skills: r.skills ?? {}, capacity: r.capacity ?? {} }));
    },
  };
}

export type SimulationRepository = ReturnType<typeof createSimulationRepository>;

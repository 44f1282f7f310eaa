import { sql, type Kysely } from 'kysely';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { Database } from '../tables.js';

export type AgentId = string;
export type AgentState = 'offline' | 'available' | 'away' | 'on_contact' | 'wrap_up';

export interface AgentStatus {
  agentId: AgentId;
  state: AgentState;
  awayReason: string | null;
  stateSince: string;
  idleSince: string;
  missedInARow: number;
  /** Open contacts (live offers and accepted work) per channel; channels with none are absent. */
  loads: Record<string, number>;
}

/** An enabled agent as a colleague's console sees them (a transfer's "who is free"), with what routing checks. */
export interface RosterEntry {
  agentId: AgentId;
  displayName: string;
  state: AgentState;
  awayReason: string | null;
  idleSinceMs: number;
  skills: Record<string, number>;
  /** The agent's own capacity overrides only; defaults come from the rules. */
  capacityOverrides: Partial<Record<Channel, number>>;
  /** Open contacts (live offers and accepted work) per channel; channels with none are absent. */
  loads: Partial<Record<Channel, number>>;
}

export interface StateChange {
  from: AgentState;
  to: AgentState;
  status: AgentStatus;
}

/*
 * Agent presence and working state. A state change takes the agent's agent_states row lock, like the offer
 * claim, so it is ordered with claims and settlements (see migrations/2026-11-22_create_routing_tables.ts).
 */
export function createAgentStatesRepository(db: Kysely<Database>) {
  async function find(agentId: AgentId): Promise<AgentStatus | undefined> {
    const row = await db
      .selectFrom('agent_states as s')
      .selectAll('s')
      .select(
        sql<Record<string, number> | null>`(select json_object_agg(l.channel, l.load) from agent_loads l
          where l.agent_id = s.agent_id and l.load > 0)`.as('loads'),
      )
      .where('s.agent_id', '=', agentId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      agentId: row.agent_id,
      state: row.state,
      awayReason: row.away_reason,
      stateSince: row.state_since.toISOString(),
      idleSince: row.idle_since.toISOString(),
      missedInARow: row.missed_in_a_row,
      loads: row.loads ?? {},
    };
  }

  return {
    find,

    /** Every enabled agent (or just `agentId`), by name; an agent who never set a state is offline. */
    async roster(agentId?: AgentId): Promise<RosterEntry[]> {
      let query = db
        .selectFrom('agents as a')
        .leftJoin('agent_states as s', 's.agent_id', 'a.id')
        .select(['a.id', 'a.display_name', 's.state', 's.away_reason'])
        .select([
          sql<number>`(extract(epoch from coalesce(s.idle_since, now())) * 1000)::float8`.as('idle_ms'),
          sql<Record<string, number> | null>`(select json_object_agg(k.skill, k.level) from agent_skills k
            where k.agent_id = a.id)`.as('skills'),
          sql<Partial<Record<Channel, number>> | null>`(select json_object_agg(c.channel, c.capacity)
            from agent_capacities c where c.agent_id = a.id)`.as('capacity'),
          sql<Partial<Record<Channel, number>> | null>`(select json_object_agg(l.channel, l.load)
            from agent_loads l where l.agent_id = a.id and l.load > 0)`.as('loads'),
        ])
        .where('a.is_disabled', '=', false);
      if (agentId !== undefined) query = query.where('a.id', '=', agentId);
      const rows = await query.orderBy('a.display_name').orderBy('a.id').execute();
      return rows.map((r) => ({
        agentId: r.id,
        displayName: r.display_name,
        state: r.state ?? 'offline',
        awayReason: r.away_reason,
        idleSinceMs: r.idle_ms,
        skills: r.skills ?? {},
        capacityOverrides: r.capacity ?? {},
        loads: r.loads ?? {},
      }));
    },

    /**
     * Sets the state and returns what it was. Becoming available (from any other state) restarts the idle
     * clock and forgets missed offers. Unchanged state and reason: no write.
     */
    async setState(agentId: AgentId, to: AgentState, awayReason: string | null): Promise<StateChange> {
      const from = await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('agent_states')
          .values({ agent_id: agentId })
          .onConflict((oc) => oc.column('agent_id').doNothing())
          .execute();
        const current = await trx
          .selectFrom('agent_states')
          .select(['state', 'away_reason'])
          .where('agent_id', '=', agentId)
          .forUpdate()
          .executeTakeFirstOrThrow();
        if (current.state === to && current.away_reason === awayReason) return current.state;
        const isBecomingAvailable = to === 'available' && current.state !== 'available';
        await trx
          .updateTable('agent_states')
          .set({
            state: to,
            away_reason: to === 'away' ? awayReason : null,
            state_since: sql`now()`,
            wrap_up_until: null,
            ...(isBecomingAvailable && { idle_since: sql`now()`, missed_in_a_row: 0 }),
          })
          .where('agent_id', '=', agentId)
          .execute();
        return current.state;
      });
      return { from, to, status: (await find(agentId))! };
    },
  };
}

export type AgentStatesRepository = ReturnType<typeof createAgentStatesRepository>;

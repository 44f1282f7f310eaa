import { sql, type Kysely } from 'kysely';
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

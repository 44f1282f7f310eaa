import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { InteractionEventPayloads } from '../../events.js';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { Database, OfferRow } from '../tables.js';

/*
 * Routing's SQL: waiting contacts, the candidate snapshot, and the two atomic steps, claim and settle, each
 * one round trip to a plpgsql function (migrations/2026-11-22_create_routing_tables.ts says what they lock
 * and guarantee). Rows are mapped to plain data here; the services never see a column name.
 */

export interface RoutingFacts {
  interactionId: string;
  channel: Channel;
  status: string;
  subject: string | null;
  /** The first customer message's text and channel hints. */
  text: string | null;
  hints: Record<string, unknown>;
  customerTier: string | null;
  accountId: string | null;
}

export interface WaitingContact {
  interactionId: string;
  channel: Channel;
  queue: string;
  priority: number;
  customerId: string;
  enqueuedAtMs: number;
  accountOwnerId: string | null;
  /** Agents who served the customer within the window asked for, newest first. */
  recentAgents: { agentId: string; servedAtMs: number }[];
  /** Agents who rejected or let expire an offer of this interaction. */
  declinedAgentIds: string[];
}

export interface AgentSnapshot {
  agentId: string;
  state: 'available' | 'on_contact';
  idleSinceMs: number;
  skills: Record<string, number>;
  /** The agent's own capacity overrides only; defaults come from the rules. */
  capacityOverrides: Partial<Record<Channel, number>>;
  loads: Partial<Record<Channel, number>>;
}

export interface ClaimRequest {
  agentId: string;
  interactionId: string;
  channel: Channel;
  capacity: number;
  exclusiveChannels: readonly Channel[];
  queue: string;
  strategy: string;
  reason: string;
  timeoutSeconds: number;
  /** The queue whose round-robin cursor moves to this agent with the claim, if any. */
  rotationQueue: string | null;
  eventPayload: Omit<InteractionEventPayloads['offer.created'], 'offerId' | 'expiresAt'>;
}

export type ClaimResult =
  | { status: 'claimed'; offerId: string; offeredAt: string; expiresAt: string; loadAfter: number }
  | { status: 'agent_unavailable'; state: string; loads: Partial<Record<Channel, number>> }
  | { status: 'contact_taken' }
  /** The agent was offered this contact before (and declined or missed it). */
  | { status: 'already_offered' };

/** The offer.<outcome> event's payload is built by the settle function from the offer itself. */
export type SettleRequest =
  | {
      outcome: 'accepted';
      offerId: string;
      agentId: string;
    }
  | {
      outcome: 'rejected';
      offerId: string;
      agentId: string;
      reason: string | null;
    }
  | {
      outcome: 'expired';
      offerId: string;
      missesBeforeAway: number;
      awayReason: string;
    };

export type SettleResult =
  | {
      status: 'settled';
      interactionId: string;
      agentId: string;
      channel: Channel;
      missesInARow: number;
      isSetAway: boolean;
      /** The agent's state when the offer settled. */
      stateBefore: string;
    }
  | { status: 'already_settled'; offerStatus: Offer['status'] }
  | { status: 'not_found' }
  | { status: 'not_yours' };

export interface Offer {
  id: string;
  interactionId: string;
  agentId: string;
  channel: Channel;
  queue: string;
  strategy: string;
  reason: string;
  status: 'offered' | 'accepted' | 'rejected' | 'expired' | 'cancelled';
  offeredAt: string;
  expiresAt: string;
  settledAt: string | null;
  settleReason: string | null;
  loadAfter: number;
  capacity: number;
}

function toOffer(row: OfferRow): Offer {
  return {
    id: row.id,
    interactionId: row.interaction_id,
    agentId: row.agent_id,
    channel: row.channel as Channel,
    queue: row.queue,
    strategy: row.strategy,
    reason: row.reason,
    status: row.status,
    offeredAt: row.offered_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    settledAt: row.settled_at ? row.settled_at.toISOString() : null,
    settleReason: row.settle_reason,
    loadAfter: row.load_after,
    capacity: row.capacity,
  };
}

// Named statements on the hot path: planned once per connection.
const claimStatement = 'select switchboard_claim_offer($1::jsonb) as result';
const settleStatement = 'select switchboard_settle_offer($1::jsonb) as result';

export function createRoutingRepository(db: Kysely<Database>, pool: pg.Pool) {
  return {
    async routingFacts(interactionId: string): Promise<RoutingFacts | undefined> {
      const row = await db
        .selectFrom('interactions as i')
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .leftJoin('accounts as a', 'a.id', 'c.account_id')
        .select(['i.id', 'i.channel', 'i.status', 'i.subject', 'a.tier', 'a.id as account_id'])
        .select(
          sql<Record<string, unknown> | null>`(select e.payload from interaction_events e
            where e.interaction_id = i.id and e.type = 'message.received'
            order by e.occurred_at, e.id limit 1)`.as('first_message'),
        )
        .where('i.id', '=', interactionId)
        .executeTakeFirst();
      if (!row) return undefined;
      const message = row.first_message ?? {};
      const hints = message.hints;
      return {
        interactionId: row.id,
        channel: row.channel as Channel,
        status: row.status,
        subject: row.subject,
        text: typeof message.text === 'string' ? message.text : null,
        hints: typeof hints === 'object' && hints !== null ? (hints as Record<string, unknown>) : {},
        customerTier: row.tier,
        accountId: row.account_id,
      };
    },

    /**
     * Puts a new interaction in a queue and logs routing.queued, in one transaction. Only an interaction in
     * status 'new' is queued; otherwise nothing changes and its current status is returned.
     */
    async markQueued(
      interactionId: string,
      channel: Channel,
      payload: InteractionEventPayloads['routing.queued'],
    ): Promise<{ isQueued: true } | { isQueued: false; status: string | undefined }> {
      return db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('interactions')
          .set({
            status: 'queued',
            queue: payload.queue,
            priority: payload.priority,
            enqueued_at: sql`now()`,
            updated_at: sql`now()`,
          })
          .where('id', '=', interactionId)
          .where('status', '=', 'new')
          .returning('id')
          .executeTakeFirst();
        if (!updated) {
          const current = await trx
            .selectFrom('interactions')
            .select('status')
            .where('id', '=', interactionId)
            .executeTakeFirst();
          return { isQueued: false as const, status: current?.status };
        }
        await trx
          .insertInto('interaction_events')
          .values({
            interaction_id: interactionId,
            type: 'routing.queued',
            actor_type: 'system',
            actor_id: null,
            channel,
            payload: JSON.stringify(payload),
          })
          .execute();
        return { isQueued: true as const };
      });
    },

    /** Waiting contacts (all, or those of `onlyIds`), best first: higher priority, then longer waiting, then id. */
    async waitingContacts(
      limit: number,
      recentWindowMs: number,
      onlyIds?: readonly string[],
    ): Promise<WaitingContact[]> {
      const { rows } = await sql<{
        id: string;
        channel: string;
        queue: string;
        priority: number;
        customer_id: string;
        enqueued_ms: number;
        owner_agent_id: string | null;
        recent: { agentId: string; servedAtMs: number }[];
        declined: string[];
      }>`
        select i.id, i.channel, i.queue, i.priority, i.customer_id,
          (extract(epoch from i.enqueued_at) * 1000)::float8 as enqueued_ms,
          a.owner_agent_id,
          coalesce((select json_agg(json_build_object('agentId', r.assignee_id, 'servedAtMs', r.served_ms)
              order by r.served_ms desc)
            from (select p.assignee_id, (extract(epoch from max(p.assigned_at)) * 1000)::float8 as served_ms
              from interactions p
              where p.customer_id = i.customer_id and p.assignee_id is not null and p.id <> i.id
                and p.assigned_at > now() - make_interval(secs => ${recentWindowMs / 1000})
              group by p.assignee_id) r), '[]') as recent,
          coalesce((select json_agg(distinct o.agent_id) from offers o
            where o.interaction_id = i.id and o.status in ('rejected', 'expired')), '[]') as declined
        from interactions i
        join customers c on c.id = i.customer_id
        left join accounts a on a.id = c.account_id
        where i.status = 'queued' ${onlyIds === undefined ? sql`` : sql`and i.id = any(${[...onlyIds]}::uuid[])`}
        order by i.priority desc, i.enqueued_at, i.id
        limit ${limit}
      `.execute(db);
      return rows.map((r) => ({
        interactionId: r.id,
        channel: r.channel as Channel,
        queue: r.queue,
        priority: r.priority,
        customerId: r.customer_id,
        enqueuedAtMs: r.enqueued_ms,
        accountOwnerId: r.owner_agent_id,
        recentAgents: r.recent,
        declinedAgentIds: r.declined,
      }));
    },

    /** Agents who may take work now (available or on a contact, not disabled), or just `agentId`. */
    async workingAgents(agentId?: string): Promise<AgentSnapshot[]> {
      const { rows } = await sql<{
        agent_id: string;
        state: 'available' | 'on_contact';
        idle_ms: number;
        skills: Record<string, number> | null;
        capacity: Partial<Record<Channel, number>> | null;
        loads: Partial<Record<Channel, number>> | null;
      }>`
        select s.agent_id, s.state, (extract(epoch from s.idle_since) * 1000)::float8 as idle_ms,
          (select json_object_agg(k.skill, k.level) from agent_skills k where k.agent_id = s.agent_id) as skills,
          (select json_object_agg(c.channel, c.capacity) from agent_capacities c where c.agent_id = s.agent_id)
            as capacity,
          (select json_object_agg(l.channel, l.load) from agent_loads l where l.agent_id = s.agent_id) as loads
        from agent_states s join agents a on a.id = s.agent_id
        where not a.is_disabled and s.state in ('available', 'on_contact')
          ${agentId === undefined ? sql`` : sql`and s.agent_id = ${agentId}`}
        order by s.agent_id
      `.execute(db);
      return rows.map((r) => ({
        agentId: r.agent_id,
        state: r.state,
        idleSinceMs: r.idle_ms,
        skills: r.skills ?? {},
        capacityOverrides: r.capacity ?? {},
        loads: r.loads ?? {},
      }));
    },

    /** Round-robin cursors, by queue. */
    async rotations(): Promise<Record<string, { lastAgentId: string | null }>> {
      const rows = await db.selectFrom('routing_rotations').select(['queue', 'last_agent_id']).execute();
      return Object.fromEntries(rows.map((r) => [r.queue, { lastAgentId: r.last_agent_id }]));
    },

    /** The atomic claim (switchboard_claim_offer): one round trip. */
    async claim(request: ClaimRequest): Promise<ClaimResult> {
      const { rows } = await pool.query<{ result: ClaimResult }>({
        name: 'switchboard_claim_offer',
        text: claimStatement,
        values: [JSON.stringify(request)],
      });
      return rows[0]!.result;
    },

    /** The atomic settlement (switchboard_settle_offer): one round trip. */
    async settle(request: SettleRequest): Promise<SettleResult> {
      const { rows } = await pool.query<{ result: SettleResult }>({
        name: 'switchboard_settle_offer',
        text: settleStatement,
        values: [JSON.stringify({ agentId: null, ...request })],
      });
      return rows[0]!.result;
    },

    async findOffer(offerId: string): Promise<Offer | undefined> {
      const row = await db.selectFrom('offers').selectAll().where('id', '=', offerId).executeTakeFirst();
      return row && toOffer(row);
    },

    async offersOf(interactionId: string): Promise<Offer[]> {
      const rows = await db
        .selectFrom('offers')
        .selectAll()
        .where('interaction_id', '=', interactionId)
        .orderBy('offered_at')
        .execute();
      return rows.map(toOffer);
    },

    /** Live offers whose expiry passed more than `graceMs` ago: their timeout job was lost (see the sweep). */
    async overdueOfferIds(graceMs: number, limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('offers')
        .select('id')
        .where('status', '=', 'offered')
        .where(sql<boolean>`expires_at < now() - make_interval(secs => ${graceMs / 1000})`)
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      return rows.map((r) => r.id);
    },

    async liveOffersOf(agentId: string): Promise<Offer[]> {
      const rows = await db
        .selectFrom('offers')
        .selectAll()
        .where('agent_id', '=', agentId)
        .where('status', '=', 'offered')
        .orderBy('offered_at')
        .execute();
      return rows.map(toOffer);
    },
  };
}

export type RoutingRepository = ReturnType<typeof createRoutingRepository>;

import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { InteractionEventPayloads } from '../../events.js';
import type { Channel } from '../../interactions/inbound-contact.js';
import { groupCalls } from '../group-calls.js';
import type { Database, OfferRow } from '../tables.js';

/*
 * Routing's SQL: waiting contacts, the candidate snapshot, and the two atomic steps, claim and settle, each
 * one round trip to a plpgsql function (migrations/2026-11-22_create_routing_tables.ts says what they lock
 * and guarantee). Rows are mapped to plain data here; the services never see a column name.
 */

/** One line of an agent's worklist. */
export interface WorkItem {
  interactionId: string;
  ticketNumber: number;
  channel: Channel;
  queue: string | null;
  priority: number;
  subject: string | null;
  customerId: string;
  customerName: string | null;
  createdAt: string;
  assignedAt: string | null;
  lastActivityAt: string;
}

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
  customerId: string;
  accountOwnerId: string | null;
  /** Agents who served the customer within the window asked for, newest first. */
  recentAgents: { agentId: string; servedAtMs: number }[];
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
  /** Escalation so far: skill levels relaxed by, and other queues whose agents may take it too. */
  relaxLevels: number;
  extraQueues: string[];
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

/** What an admin changes, rarely: routing keeps it between dispatches (routing/agent-snapshot.ts). */
export interface AgentProfile {
  agentId: string;
  isDisabled: boolean;
  /** For the reasons people read ("why was this routed to me"). */
  displayName: string;
  skills: Record<string, number>;
  /** The agent's own capacity overrides only; defaults come from the rules. */
  capacityOverrides: Partial<Record<Channel, number>>;
}

/** What changes with every offer and state change: read fresh for every dispatch. */
export type AgentPresence = Pick<AgentSnapshot, 'agentId' | 'state' | 'idleSinceMs' | 'loads'>;

/** What was written to agents' states and loads since a previous read, and the round-robin cursors. */
export interface AgentChanges {
  /** Pass back as `since` to the next read. */
  since: string;
  /** Any state: an agent who left work is a change too. */
  agents: { agentId: string; state: string; idleSinceMs: number }[];
  loads: { agentId: string; channel: Channel; load: number }[];
  rotations: Record<string, { lastAgentId: string | null }>;
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

/** A new contact's enqueue, with the claim for the agent the caller's snapshot picked (or none). */
export interface RouteContactRequest {
  interactionId: string;
  channel: Channel;
  queue: string;
  priority: number;
  queuedEvent: InteractionEventPayloads['routing.queued'];
  /** The claim for the agent picked (its interactionId, channel and queue are the request's), or none. */
  claim: ClaimRequest | null;
}

export type RouteContactResult =
  /** Not 'new' any more (routed by another process, or closed): nothing changed. */
  | { status: 'not_new'; current: string | null }
  /** Queued; `agent`: the picked agent could not take it, as they are now (null when none was picked). */
  | { status: 'queued'; agent: { state: string; loads: Partial<Record<Channel, number>> } | null }
  | Extract<ClaimResult, { status: 'claimed' }>
  /** This contact's part failed (and was rolled back); the others in its group went ahead. */
  | { status: 'failed'; error: string };

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

/**
 * The agents who served interaction `i`'s customer within `windowSeconds` (an SQL expression), newest first,
 * as a JSON column `recent` (the account-owner strategy's "last agent who served them").
 */
function recentAgentsColumn(windowSeconds: string): string {
  return `coalesce((select json_agg(json_build_object('agentId', r.assignee_id, 'servedAtMs', r.served_ms)
      order by r.served_ms desc)
    from (select p.assignee_id, date_part('epoch', max(p.assigned_at)) * 1000 as served_ms
      from interactions p
      where p.customer_id = i.customer_id and p.assignee_id is not null and p.id <> i.id
        and p.assigned_at > now() - make_interval(secs => ${windowSeconds})
      group by p.assignee_id) r), '[]') as recent`;
}

/** The agent-change columns of a select; `since` is the placeholder of the xid8 to read from. */
function agentChangesColumns(since: string): string {
  return `pg_snapshot_xmin(pg_current_snapshot())::text as since,
    (select string_agg(s.agent_id::text || ' ' || s.state || ' '
        || (date_part('epoch', s.idle_since) * 1000000)::int8, ',')
      from agent_states s where s.changed_xid >= ${since}::xid8) as agents,
    (select string_agg(l.agent_id::text || ' ' || l.channel || ' ' || l.load, ',')
      from agent_loads l where l.changed_xid >= ${since}::xid8) as loads,
    (select string_agg(r.queue || ' ' || coalesce(r.last_agent_id::text, '-'), ',')
      from routing_rotations r) as rotations`;
}

interface AgentChangesRow {
  since: string;
  agents: string | null;
  loads: string | null;
  rotations: string | null;
}

function toAgentChanges(row: AgentChangesRow): AgentChanges {
  const agents: AgentChanges['agents'] = [];
  for (const entry of row.agents?.split(',') ?? []) {
    const [agentId, state, idleUs] = entry.split(' ') as [string, string, string];
    agents.push({ agentId, state, idleSinceMs: Number(idleUs) / 1000 });
  }
  const loads: AgentChanges['loads'] = [];
  for (const entry of row.loads?.split(',') ?? []) {
    const [agentId, channel, load] = entry.split(' ') as [string, Channel, string];
    loads.push({ agentId, channel, load: Number(load) });
  }
  const rotations: AgentChanges['rotations'] = {};
  for (const entry of row.rotations?.split(',') ?? []) {
    // Queue names are rule-file names (no spaces or commas): the agent id is after the last space.
    const at = entry.lastIndexOf(' ');
    const agentId = entry.slice(at + 1);
    rotations[entry.slice(0, at)] = { lastAgentId: agentId === '-' ? null : agentId };
  }
  return { since: row.since, agents, loads, rotations };
}

interface QueueRequest {
  interactionId: string;
  channel: Channel;
  payload: InteractionEventPayloads['routing.queued'];
}
type QueueResult = { isQueued: true } | { isQueued: false; status: string | undefined };

export function createRoutingRepository(db: Kysely<Database>, pool: pg.Pool) {
  /*
   * Queueing, grouped: contacts queued at the same moment (a batch of emails at night, when their queue is
   * closed) are queued and logged in one statement. An interaction named twice in a group is queued once.
   */
  const markQueuedGrouped = groupCalls(
    async (requests: QueueRequest[]): Promise<QueueResult[]> => {
      const first = new Map<string, number>();
      requests.forEach((r, i) => first.has(r.interactionId) || first.set(r.interactionId, i));
      const unique = [...first.values()].map((i) => requests[i]!);
      const { rows } = await sql<{ id: string; queued: boolean; status: string | null }>`
        with input as (
          select * from unnest(
            ${unique.map((r) => r.interactionId)}::uuid[], ${unique.map((r) => r.channel)}::text[],
            ${unique.map((r) => JSON.stringify(r.payload))}::jsonb[], ${unique.map((r) => r.payload.queue)}::text[],
            ${unique.map((r) => r.payload.priority)}::int[]
          ) with ordinality as t(id, channel, payload, queue, priority, ord)
        ), queued as (
          update interactions i set status = 'queued', queue = t.queue, priority = t.priority,
              enqueued_at = now(), queue_entered_at = now(), updated_at = now()
            from input t
            where i.id = t.id and i.status = 'new'
            returning i.id
        ), logged as (
          insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload)
            select t.id, 'routing.queued', 'system', null, t.channel, t.payload
            from input t join queued q on q.id = t.id
            order by t.ord
        )
        select t.id, exists (select 1 from queued q where q.id = t.id) as queued, i.status
        from input t left join interactions i on i.id = t.id`.execute(db);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return requests.map((r, i) => {
        const row = byId.get(r.interactionId);
        if (row?.queued && first.get(r.interactionId) === i) return { isQueued: true as const };
        return { isQueued: false as const, status: row?.queued ? 'queued' : (row?.status ?? undefined) };
      });
    },
    { maxInFlight: 2, maxBatch: 32 },
  );

  /** The facts of `requests`, and when `since` is given, the agent changes since then: one statement. */
  async function factsOf(
    requests: readonly { interactionId: string; recentWindowMs: number }[],
    since: string | null,
  ): Promise<{ facts: (RoutingFacts | undefined)[]; changes: AgentChanges | null }> {
    const { rows } = await pool.query<{
      id: string | null;
      channel: string;
      status: string;
      subject: string | null;
      customer_id: string;
      tier: string | null;
      account_id: string | null;
      owner_agent_id: string | null;
      text: unknown;
      hints: unknown;
      recent: { agentId: string; servedAtMs: number }[];
      since: string | null;
      agents: string | null;
      loads: string | null;
      rotations: string | null;
    }>({
      name: since === null ? 'routing_facts' : 'routing_facts_and_changes',
      text: `
      with facts as (
        select i.id, i.channel, i.status, i.subject, i.customer_id, a.tier, a.id as account_id,
          a.owner_agent_id, m.payload->'text' as text,
          -- A call's hints also come from the IVR, when the caller asked for a person (ivr.handedOff).
          case when i.channel = 'voice' then coalesce(m.payload->'hints', '{}'::jsonb) || coalesce(
            (select h.payload->'hints' from interaction_events h
              where h.interaction_id = i.id and h.type = 'ivr.handedOff' order by h.id desc limit 1),
            '{}'::jsonb) else m.payload->'hints' end as hints,
          ${recentAgentsColumn('q.window_s')}
        from unnest($1::uuid[], $2::float8[]) q(id, window_s)
        join interactions i on i.id = q.id
        join customers c on c.id = i.customer_id
        left join accounts a on a.id = c.account_id
        left join lateral (select e.payload from interaction_events e
          where e.interaction_id = i.id and e.type = 'message.received'
          order by e.occurred_at, e.id limit 1) m on true
      )
      select facts.*, null::text as since, null::text as agents, null::text as loads, null::text as rotations
        from facts
      ${
        since === null
          ? ''
          : `union all
      select null, null, null, null, null, null, null, null, null, null, null,
        ${agentChangesColumns('$3')}`
      }`,
      values:
        since === null
          ? [requests.map((r) => r.interactionId), requests.map((r) => r.recentWindowMs / 1000)]
          : [requests.map((r) => r.interactionId), requests.map((r) => r.recentWindowMs / 1000), since],
    });
    const byId = new Map<string, (typeof rows)[number]>();
    let changes: AgentChanges | null = null;
    for (const row of rows) {
      if (row.id === null) changes = toAgentChanges(row as AgentChangesRow);
      else byId.set(row.id, row);
    }
    const facts = requests.map(({ interactionId }): RoutingFacts | undefined => {
      const row = byId.get(interactionId);
      if (!row) return undefined;
      return {
        interactionId,
        channel: row.channel as Channel,
        status: row.status,
        subject: row.subject,
        text: typeof row.text === 'string' ? row.text : null,
        hints:
          typeof row.hints === 'object' && row.hints !== null ? (row.hints as Record<string, unknown>) : {},
        customerTier: row.tier,
        accountId: row.account_id,
        customerId: row.customer_id,
        accountOwnerId: row.owner_agent_id,
        recentAgents: row.recent,
      };
    });
    return { facts, changes };
  }

  return {
    /**
     * What the rules match on, and what the strategies need of a new contact (owner, agents who served the
     * customer within `recentWindowMs`).
     */
    async routingFacts(interactionId: string, recentWindowMs = 0): Promise<RoutingFacts | undefined> {
      return (await factsOf([{ interactionId, recentWindowMs }], null)).facts[0];
    },

    /**
     * The facts of several new contacts, and the agent changes since `since` (see agentChanges), read in
     * one statement: routing reads both for every new contact.
     */
    async routingFactsWithChanges(
      requests: readonly { interactionId: string; recentWindowMs: number }[],
      since: string | undefined,
    ): Promise<{ facts: (RoutingFacts | undefined)[]; changes: AgentChanges }> {
      const { facts, changes } = await factsOf(requests, since ?? '0');
      return { facts, changes: changes! };
    },

    /**
     * New interactions enqueued and, where `claim` names an agent, offered to them, in order, in one
     * transaction (switchboard_route_contacts: migrations/2026-11-24_faster_routing.ts). One result each.
     */
    async routeContacts(requests: readonly RouteContactRequest[]): Promise<RouteContactResult[]> {
      const { rows } = await pool.query<{ results: RouteContactResult[] }>({
        name: 'switchboard_route_contacts',
        text: 'select switchboard_route_contacts($1::jsonb) as results',
        values: [JSON.stringify(requests)],
      });
      return rows[0]!.results;
    },

    /**
     * Puts a new interaction in a queue and logs routing.queued, in one transaction. Only an interaction in
     * status 'new' is queued; otherwise nothing changes and its current status is returned.
     */
    /**
     * Queues a new interaction and logs routing.queued, in one statement (one round trip: this is every
     * contact's path while its queue is closed). Refused, with the current status, unless it is new.
     */
    /**
     * Queues a new interaction and logs routing.queued (every contact's path while its queue is closed):
     * one statement, shared with the other contacts queued at the same moment. Refused, with the current
     * status, unless it is new.
     */
    async markQueued(
      interactionId: string,
      channel: Channel,
      payload: InteractionEventPayloads['routing.queued'],
    ): Promise<QueueResult> {
      return markQueuedGrouped({ interactionId, channel, payload });
    },

    /** Waiting contacts (all, or those of `onlyIds`), best first: higher priority, then longer waiting, then id. */
    async waitingContacts(
      limit: number,
      recentWindowMs: number,
      onlyIds?: readonly string[],
      /** Only contacts waiting in (or escalated to) these queues: those an agent could serve. */
      inQueues?: readonly string[],
    ): Promise<WaitingContact[]> {
      // Named: planned once per connection (planning this query cost ten times running it for one contact).
      const isOnly = onlyIds !== undefined;
      const isInQueues = !isOnly && inQueues !== undefined;
      const { rows } = await pool.query<{
        id: string;
        channel: string;
        queue: string;
        priority: number;
        customer_id: string;
        enqueued_ms: number;
        owner_agent_id: string | null;
        recent: { agentId: string; servedAtMs: number }[];
        declined: string[];
        relax_levels: number;
        extra_queues: string[];
      }>({
        name: isOnly
          ? 'routing_waiting_contacts_of'
          : isInQueues
            ? 'routing_waiting_contacts_in'
            : 'routing_waiting_contacts',
        text: `
        select i.id, i.channel, i.queue, i.priority, i.customer_id, i.relax_levels, i.extra_queues,
          date_part('epoch', i.enqueued_at) * 1000 as enqueued_ms,
          a.owner_agent_id,
          ${recentAgentsColumn('$2::float8')},
          coalesce((select json_agg(distinct o.agent_id) from offers o
            where o.interaction_id = i.id and o.status in ('rejected', 'expired')), '[]') as declined
        from interactions i
        join customers c on c.id = i.customer_id
        left join accounts a on a.id = c.account_id
        where i.status = 'queued' ${isOnly ? 'and i.id = any($3::uuid[])' : ''}
          ${isInQueues ? 'and (i.queue = any($3::text[]) or i.extra_queues && $3::text[])' : ''}
        order by i.priority desc, i.enqueued_at, i.id
        limit $1::int`,
        values: isOnly
          ? [limit, recentWindowMs / 1000, [...onlyIds]]
          : isInQueues
            ? [limit, recentWindowMs / 1000, [...inQueues]]
            : [limit, recentWindowMs / 1000],
      });
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
        relaxLevels: r.relax_levels,
        extraQueues: r.extra_queues,
      }));
    },

    /** Agents who may take work now (available or on a contact, not disabled), or just `agentId`. */
    async workingAgents(agentId?: string): Promise<AgentSnapshot[]> {
      const isOne = agentId !== undefined;
      const { rows } = await pool.query<{
        agent_id: string;
        state: 'available' | 'on_contact';
        idle_ms: number;
        skills: Record<string, number> | null;
        capacity: Partial<Record<Channel, number>> | null;
        loads: Partial<Record<Channel, number>> | null;
      }>({
        name: isOne ? 'routing_working_agent' : 'routing_working_agents',
        text: `
        select s.agent_id, s.state, date_part('epoch', s.idle_since) * 1000 as idle_ms,
          (select json_object_agg(k.skill, k.level) from agent_skills k where k.agent_id = s.agent_id) as skills,
          (select json_object_agg(c.channel, c.capacity) from agent_capacities c where c.agent_id = s.agent_id)
            as capacity,
          (select json_object_agg(l.channel, l.load) from agent_loads l where l.agent_id = s.agent_id) as loads
        from agent_states s join agents a on a.id = s.agent_id
        where not a.is_disabled and s.state in ('available', 'on_contact') ${isOne ? 'and s.agent_id = $1' : ''}
        order by s.agent_id`,
        values: isOne ? [agentId] : [],
      });
      return rows.map((r) => ({
        agentId: r.agent_id,
        state: r.state,
        idleSinceMs: r.idle_ms,
        skills: r.skills ?? {},
        capacityOverrides: r.capacity ?? {},
        loads: r.loads ?? {},
      }));
    },

    /** The interaction's queue and priority, for what depends on its queue (wrap-up seconds). */
    async routingQueue(
      interactionId: string,
    ): Promise<{ queue: string | null; priority: number } | undefined> {
      return db
        .selectFrom('interactions')
        .select(['queue', 'priority'])
        .where('id', '=', interactionId)
        .executeTakeFirst();
    },

    /** An enabled agent's capacity overrides, for a manual assignment; undefined when no such agent. */
    async agentForAssignment(
      agentId: string,
    ): Promise<{ capacityOverrides: Partial<Record<Channel, number>> } | undefined> {
      const agent = await db
        .selectFrom('agents')
        .select('id')
        .where('id', '=', agentId)
        .where('is_disabled', '=', false)
        .executeTakeFirst();
      if (!agent) return undefined;
      const rows = await db
        .selectFrom('agent_capacities')
        .select(['channel', 'capacity'])
        .where('agent_id', '=', agentId)
        .execute();
      return { capacityOverrides: Object.fromEntries(rows.map((r) => [r.channel, r.capacity])) };
    },

    /** One agent as routing sees them, whatever their state (a pull checks skills and capacity only). */
    async agentSnapshot(
      agentId: string,
    ): Promise<(Omit<AgentSnapshot, 'state'> & { state: string }) | undefined> {
      const { rows } = await sql<{
        state: string;
        idle_ms: number;
        skills: Record<string, number> | null;
        capacity: Partial<Record<Channel, number>> | null;
        loads: Partial<Record<Channel, number>> | null;
      }>`
        select coalesce(s.state, 'offline') as state,
          (extract(epoch from coalesce(s.idle_since, now())) * 1000)::float8 as idle_ms,
          (select json_object_agg(k.skill, k.level) from agent_skills k where k.agent_id = a.id) as skills,
          (select json_object_agg(c.channel, c.capacity) from agent_capacities c where c.agent_id = a.id) as capacity,
          (select json_object_agg(l.channel, l.load) from agent_loads l where l.agent_id = a.id) as loads
        from agents a left join agent_states s on s.agent_id = a.id
        where a.id = ${agentId} and not a.is_disabled
      `.execute(db);
      const r = rows[0];
      if (!r) return undefined;
      return {
        agentId,
        state: r.state,
        idleSinceMs: r.idle_ms,
        skills: r.skills ?? {},
        capacityOverrides: r.capacity ?? {},
        loads: r.loads ?? {},
      };
    },

    /** Every agent's skills and capacity overrides, and whether they are disabled. */
    async agentProfiles(): Promise<AgentProfile[]> {
      const { rows } = await pool.query<{
        id: string;
        is_disabled: boolean;
        display_name: string;
        skills: Record<string, number> | null;
        capacity: Partial<Record<Channel, number>> | null;
      }>({
        name: 'routing_agent_profiles',
        text: `
        select a.id, a.is_disabled, a.display_name, k.skills, c.capacity
        from agents a
          left join (select agent_id, json_object_agg(skill, level) as skills from agent_skills group by agent_id) k
            on k.agent_id = a.id
          left join (select agent_id, json_object_agg(channel, capacity) as capacity from agent_capacities
            group by agent_id) c on c.agent_id = a.id`,
      });
      return rows.map((r) => ({
        agentId: r.id,
        isDisabled: r.is_disabled,
        displayName: r.display_name,
        skills: r.skills ?? {},
        capacityOverrides: r.capacity ?? {},
      }));
    },

    /**
     * One agent if they may take work now (available or on a contact), with their open contacts; none
     * otherwise. Whether they are disabled is their profile's business (and the claim's, under lock). The
     * other agents are read by change (agentChanges).
     */
    async agentPresence(agentId: string): Promise<AgentPresence[]> {
      const { rows } = await pool.query<{
        state: AgentPresence['state'];
        idle_ms: number;
        loads: Partial<Record<Channel, number>> | null;
      }>({
        name: 'routing_agent_presence_of',
        text: `
        select s.state, date_part('epoch', s.idle_since) * 1000 as idle_ms,
          (select json_object_agg(l.channel, l.load) from agent_loads l
            where l.agent_id = s.agent_id and l.load > 0) as loads
        from agent_states s
        where s.agent_id = $1 and s.state in ('available', 'on_contact')`,
        values: [agentId],
      });
      return rows.map((r) => ({ agentId, state: r.state, idleSinceMs: r.idle_ms, loads: r.loads ?? {} }));
    },

    /**
     * Agents' state rows and load rows written since the read that returned `since` (all of them without
     * it), and every round-robin cursor, in one statement. `since` is that statement's snapshot xmin: rows
     * written by transactions still running then are read again (migrations/2026-11-24_faster_routing.ts).
     */
    async agentChanges(since?: string): Promise<AgentChanges> {
      const { rows } = await pool.query<AgentChangesRow>({
        name: 'routing_agent_changes',
        text: `select ${agentChangesColumns('$1')}`,
        values: [since ?? '0'],
      });
      return toAgentChanges(rows[0]!);
    },

    /** An agent's open work (assigned, not closed), oldest first, with the customer's name. */
    async worklistOf(agentId: string): Promise<WorkItem[]> {
      const rows = await db
        .selectFrom('interactions as i')
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .select([
          'i.id',
          'i.ticket_number',
          'i.channel',
          'i.queue',
          'i.priority',
          'i.subject',
          'i.customer_id',
          'c.display_name',
          'i.assigned_at',
          'i.created_at',
        ])
        .select(
          sql<Date>`(select max(e.occurred_at) from interaction_events e where e.interaction_id = i.id)`.as(
            'last_activity_at',
          ),
        )
        .where('i.assignee_id', '=', agentId)
        .where('i.status', '=', 'assigned')
        .orderBy('i.assigned_at')
        .execute();
      return rows.map((r) => ({
        interactionId: r.id,
        ticketNumber: Number(r.ticket_number),
        channel: r.channel as Channel,
        queue: r.queue,
        priority: r.priority,
        subject: r.subject,
        customerId: r.customer_id,
        customerName: r.display_name,
        createdAt: r.created_at.toISOString(),
        assignedAt: r.assigned_at?.toISOString() ?? null,
        lastActivityAt: new Date(r.last_activity_at).toISOString(),
      }));
    },

    /** Round-robin cursors, by queue. */
    async rotations(): Promise<Record<string, { lastAgentId: string | null }>> {
      const { rows } = await pool.query<{ queue: string; last_agent_id: string | null }>({
        name: 'routing_rotations',
        text: 'select queue, last_agent_id from routing_rotations',
      });
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

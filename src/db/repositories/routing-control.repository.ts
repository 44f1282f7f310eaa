import { sql, type Kysely, type Transaction } from 'kysely';
import type { InteractionEventPayloads } from '../../events.js';
import type { Channel } from '../../interactions/inbound-contact.js';
import { groupCalls } from '../group-calls.js';
import { appendEvent, type Actor } from './append-event.js';
import type { Database } from '../tables.js';

/*
 * Routing's control operations after (or instead of) an offer: closing work, wrap-up, withdrawal when the
 * customer leaves, manual assignment and transfer, escalation steps. Each is one transaction that follows the
 * lock order of the claim and settle functions (migrations/2026-11-22_create_routing_tables.ts): first the
 * agent_states rows of every agent whose load changes, in agent id order, then the interaction row. What was
 * read before the locks (the assignee, the live offer) is checked again under them; if it moved meanwhile the
 * operation starts over, so loads always match the offers and assignments that hold them.
 */

type Trx = Transaction<Database>;

export type { Actor };

/** Who held the interaction's work before the operation, and what became of the agents involved. */
export interface AgentAfter {
  agentId: string;
  state: string;
  /** Open contacts left, all channels. */
  remainingLoad: number;
  wrapUpUntil: string | null;
}

export type CloseResult =
  | {
      status: 'closed';
      interactionId: string;
      channel: Channel;
      /** The agent the work (or the live offer) was released from. */
      released: AgentAfter | null;
      cancelledOfferId: string | null;
      /** The interaction had never been assigned: the customer left while waiting. */
      wasWaiting: boolean;
    }
  | { status: 'already_closed' }
  | { status: 'not_found' }
  | { status: 'not_assignee' };

export type ReassignTarget = { agentId: string } | { queue: string };

export type ReassignResult =
  | {
      status: 'moved';
      interactionId: string;
      channel: Channel;
      fromAgent: AgentAfter | null;
      cancelledOffer: { offerId: string; agent: AgentAfter } | null;
    }
  | { status: 'not_found' }
  | { status: 'closed' }
  | { status: 'not_assignee' }
  | { status: 'not_waiting' }
  | { status: 'agent_at_capacity'; reason: string };

export interface ReassignRequest {
  interactionId: string;
  target: ReassignTarget;
  kind: 'assign' | 'transfer' | 'pull';
  actor: { agentId: string; role: string };
  note: string | null;
  /** transfer: only the assignee (or a supervisor) may. */
  requireAssignee: string | null;
  /** pull: only a contact still waiting may be pulled. */
  requireWaiting: boolean;
  /** The target agent's capacity on the interaction's channel (rules default or override), when target is an agent. */
  capacityFor: (channel: Channel) => number;
  exclusiveChannels: readonly Channel[];
}

export interface EscalationDue {
  interactionId: string;
  queue: string;
  escalationStep: number;
  waitedSeconds: number;
  priority: number;
}

const maxAttempts = 5;

async function lockAgents(trx: Trx, agentIds: readonly (string | null | undefined)[]) {
  const ids = [...new Set(agentIds.filter((id): id is string => !!id))].sort();
  if (ids.length === 0) return new Map<string, { state: string }>();
  // An agent without a state row is offline; the row is created so that it can be locked.
  await sql`insert into agent_states (agent_id) select unnest(${ids}::uuid[]) on conflict do nothing`.execute(
    trx,
  );
  const { rows } = await sql<{ agent_id: string; state: string }>`
    select agent_id, state from agent_states where agent_id = any(${ids}::uuid[]) order by agent_id for update
  `.execute(trx);
  return new Map(rows.map((r) => [r.agent_id, { state: r.state }]));
}

interface InteractionBefore {
  id: string;
  channel: Channel;
  status: string;
  assignee_id: string | null;
  queue: string | null;
  live_offer_id: string | null;
  live_offer_agent: string | null;
}

async function readInteraction(trx: Trx, interactionId: string, lock: boolean) {
  const { rows } = await sql<InteractionBefore>`
    select i.id, i.channel, i.status, i.assignee_id, i.queue,
      (select o.id from offers o where o.interaction_id = i.id and o.status = 'offered') as live_offer_id,
      (select o.agent_id from offers o where o.interaction_id = i.id and o.status = 'offered') as live_offer_agent
    from interactions i where i.id = ${interactionId} ${lock ? sql`for update of i` : sql``}
  `.execute(trx);
  return rows[0];
}

/** Releases one unit of load on `channel`; an agent left with no work leaves on_contact. */
async function releaseLoad(
  trx: Trx,
  agentId: string,
  channel: Channel,
  wrapUpSeconds: number,
): Promise<AgentAfter> {
  await sql`update agent_loads set load = greatest(load - 1, 0) where agent_id = ${agentId} and channel = ${channel}`.execute(
    trx,
  );
  const { rows } = await sql<{ state: string; remaining: number; wrap_up_until: Date | null }>`
    update agent_states s set
      state = case when s.state = 'on_contact' and r.remaining = 0
        then case when ${wrapUpSeconds}::int > 0 then 'wrap_up' else 'available' end else s.state end,
      wrap_up_until = case when s.state = 'on_contact' and r.remaining = 0 and ${wrapUpSeconds}::int > 0
        then now() + make_interval(secs => ${wrapUpSeconds}::int) else s.wrap_up_until end,
      idle_since = case when s.state = 'on_contact' and r.remaining = 0 and ${wrapUpSeconds}::int = 0
        then now() else s.idle_since end,
      state_since = case when s.state = 'on_contact' and r.remaining = 0 then now() else s.state_since end
    from (select coalesce(sum(load), 0)::int as remaining from agent_loads where agent_id = ${agentId}) r
    where s.agent_id = ${agentId}
    returning s.state, r.remaining, s.wrap_up_until
  `.execute(trx);
  const row = rows[0]!;
  return {
    agentId,
    state: row.state,
    remainingLoad: row.remaining,
    wrapUpUntil: row.wrap_up_until?.toISOString() ?? null,
  };
}

async function cancelOffer(trx: Trx, offerId: string, channel: Channel, reason: string) {
  const { rows } = await sql<{ agent_id: string; interaction_id: string }>`
    update offers set status = 'cancelled', settled_at = clock_timestamp(), settle_reason = ${reason}
    where id = ${offerId} and status = 'offered' returning agent_id, interaction_id
  `.execute(trx);
  const row = rows[0];
  if (!row) return undefined;
  await appendEvent(trx, row.interaction_id, channel, { type: 'system', id: null }, 'offer.cancelled', {
    offerId,
    agentId: row.agent_id,
    reason,
  });
  // An offer never puts an agent on_contact (only the accept does), so no wrap-up follows a cancelled one.
  return releaseLoad(trx, row.agent_id, channel, 0);
}

export function createRoutingControlRepository(db: Kysely<Database>) {
  /** After-hours actions logged at the same moment (a night's batch of emails) go in one statement. */
  const logAfterHoursGrouped = groupCalls(
    async (
      requests: { interactionId: string; payload: InteractionEventPayloads['routing.afterHours'] }[],
    ): Promise<boolean[]> => {
      const { rows } = await sql<{ interaction_id: string }>`
        insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload)
          select i.id, 'routing.afterHours', 'system', null, i.channel, t.payload
          from unnest(${requests.map((r) => r.interactionId)}::uuid[],
              ${requests.map((r) => JSON.stringify(r.payload))}::jsonb[]) with ordinality as t(id, payload, ord)
            join interactions i on i.id = t.id
          order by t.ord
          returning interaction_id`.execute(db);
      const logged = new Set(rows.map((r) => r.interaction_id));
      return requests.map((r) => logged.has(r.interactionId));
    },
    { maxInFlight: 2, maxBatch: 32 },
  );

  /** Runs `work` with the interaction's participants locked; retries when they changed before the locks. */
  async function withParticipants<R>(
    interactionId: string,
    extraAgents: readonly string[],
    work: (trx: Trx, current: InteractionBefore) => Promise<R>,
  ): Promise<R | { status: 'not_found' }> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await db.transaction().execute(async (trx) => {
        const before = await readInteraction(trx, interactionId, false);
        if (!before) return { status: 'not_found' as const };
        await lockAgents(trx, [before.assignee_id, before.live_offer_agent, ...extraAgents]);
        const current = await readInteraction(trx, interactionId, true);
        if (!current) return { status: 'not_found' as const };
        if (
          current.assignee_id !== before.assignee_id ||
          current.live_offer_agent !== before.live_offer_agent
        )
          return { status: 'retry' as const };
        return { status: 'done' as const, value: await work(trx, current) };
      });
      if (outcome.status === 'not_found') return outcome;
      if (outcome.status === 'done') return outcome.value;
      if (attempt >= maxAttempts) throw new Error(`interaction ${interactionId} kept changing hands`);
    }
  }

  return {
    /**
     * Ends an interaction: its live offer is cancelled, its assignee's load released (the agent goes to
     * wrap-up for `wrapUpSeconds` when that was their last open contact), and interaction.closed is logged.
     * `onlyAssignee`: refuse unless that agent holds it (an agent closing their own work).
     */
    async close(request: {
      interactionId: string;
      actor: Actor;
      reason: string;
      disposition: string | null;
      wrapUpSeconds: number;
      onlyAssignee: string | null;
    }): Promise<CloseResult> {
      return withParticipants(request.interactionId, [], async (trx, current): Promise<CloseResult> => {
        if (current.status === 'closed') return { status: 'already_closed' };
        if (request.onlyAssignee !== null && current.assignee_id !== request.onlyAssignee)
          return { status: 'not_assignee' };
        let released: AgentAfter | null = null;
        if (current.live_offer_id)
          released = (await cancelOffer(trx, current.live_offer_id, current.channel, request.reason)) ?? null;
        // Abandoned: left while waiting for a person. A caller who hangs up in the IVR never waited.
        const wasWaiting = current.assignee_id === null && current.status !== 'ivr';
        if (current.assignee_id && current.status === 'assigned')
          released = await releaseLoad(trx, current.assignee_id, current.channel, request.wrapUpSeconds);
        await trx
          .updateTable('interactions')
          .set({
            status: 'closed',
            closed_at: sql`now()`,
            updated_at: sql`now()`,
            closed_reason: request.reason,
            disposition: request.disposition,
          })
          .where('id', '=', request.interactionId)
          .execute();
        const holder = current.status === 'assigned' ? current.assignee_id : null;
        await appendEvent(trx, request.interactionId, current.channel, request.actor, 'interaction.closed', {
          reason: request.reason,
          ...(request.disposition !== null && { disposition: request.disposition }),
          ...(wasWaiting && { wasWaiting: true }),
          ...(holder && { agentId: holder }),
          ...(released?.agentId === holder &&
            released?.state === 'wrap_up' &&
            released.wrapUpUntil !== null && { wrapUpUntil: released.wrapUpUntil }),
        });
        return {
          status: 'closed',
          interactionId: request.interactionId,
          channel: current.channel,
          released,
          cancelledOfferId: current.live_offer_id,
          wasWaiting,
        };
      });
    },

    /**
     * Assigns, transfers or pulls an interaction to an agent or a queue. To an agent: checked against their
     * capacity under their lock, like a claim. To a queue: the contact waits there again, its escalation
     * starting over. A live offer is cancelled and the previous assignee's load released either way.
     */
    async reassign(request: ReassignRequest): Promise<ReassignResult> {
      const targetAgent = 'agentId' in request.target ? request.target.agentId : null;
      return withParticipants(
        request.interactionId,
        targetAgent ? [targetAgent] : [],
        async (trx, current): Promise<ReassignResult> => {
          if (current.status === 'closed') return { status: 'closed' };
          if (request.requireAssignee !== null && current.assignee_id !== request.requireAssignee)
            return { status: 'not_assignee' };
          if (request.requireWaiting && current.status !== 'queued' && current.status !== 'new')
            return { status: 'not_waiting' };
          const channel = current.channel;

          if (targetAgent) {
            const refusal = await capacityRefusal(trx, targetAgent, channel, request, current);
            if (refusal) return { status: 'agent_at_capacity', reason: refusal };
          }
          let cancelledOffer: { offerId: string; agent: AgentAfter } | null = null;
          if (current.live_offer_id) {
            const agent = await cancelOffer(
              trx,
              current.live_offer_id,
              channel,
              `${request.kind} by ${request.actor.agentId}`,
            );
            if (agent) cancelledOffer = { offerId: current.live_offer_id, agent };
          }
          let fromAgent: AgentAfter | null = null;
          const wasAssigned = current.status === 'assigned' && current.assignee_id !== null;
          if (wasAssigned && current.assignee_id !== targetAgent)
            fromAgent = await releaseLoad(trx, current.assignee_id!, channel, 0);

          if (targetAgent) {
            if (!(wasAssigned && current.assignee_id === targetAgent)) {
              await sql`insert into agent_loads (agent_id, channel, load) values (${targetAgent}, ${channel}, 1)
                on conflict (agent_id, channel) do update set load = agent_loads.load + 1`.execute(trx);
              await sql`update agent_states set state = 'on_contact', state_since = now()
                where agent_id = ${targetAgent} and state = 'available'`.execute(trx);
            }
            await trx
              .updateTable('interactions')
              .set({
                status: 'assigned',
                assignee_id: targetAgent,
                assigned_at: sql`now()`,
                updated_at: sql`now()`,
              })
              .where('id', '=', request.interactionId)
              .execute();
          } else {
            const queue = (request.target as { queue: string }).queue;
            await trx
              .updateTable('interactions')
              .set({
                status: 'queued',
                queue,
                assignee_id: null,
                // A contact taken back from an agent waits from now; one moved while waiting keeps its place.
                enqueued_at: wasAssigned ? sql`now()` : sql`coalesce(enqueued_at, now())`,
                queue_entered_at: sql`now()`,
                escalation_step: 0,
                relax_levels: 0,
                extra_queues: sql`'{}'::text[]`,
                updated_at: sql`now()`,
              })
              .where('id', '=', request.interactionId)
              .execute();
          }
          await appendEvent(
            trx,
            request.interactionId,
            channel,
            { type: 'agent', id: request.actor.agentId },
            'routing.transferred',
            {
              kind: request.kind,
              byAgentId: request.actor.agentId,
              fromAgentId: current.assignee_id,
              fromQueue: current.queue,
              ...(targetAgent
                ? { toAgentId: targetAgent }
                : { toQueue: (request.target as { queue: string }).queue }),
              note: request.note,
            },
          );
          if (request.kind === 'assign' || request.actor.agentId !== current.assignee_id) {
            await trx
              .insertInto('audit_log')
              .values({
                actor_id: request.actor.agentId,
                action: `interaction.${request.kind}`,
                subject_type: 'interaction',
                subject_id: request.interactionId,
                details: JSON.stringify({
                  fromAgentId: current.assignee_id,
                  fromQueue: current.queue,
                  target: request.target,
                  note: request.note,
                  role: request.actor.role,
                }),
              })
              .execute();
          }
          return {
            status: 'moved',
            interactionId: request.interactionId,
            channel,
            fromAgent,
            cancelledOffer,
          };
        },
      );
    },

    /**
     * Withdraws a live offer whose agent can no longer answer it (they went offline or away): the contact
     * waits again in its queue. Nothing changes when the offer is no longer live.
     */
    async withdrawOffer(
      offerId: string,
      reason: string,
    ): Promise<{ interactionId: string; agentId: string } | null> {
      const offer = await db
        .selectFrom('offers')
        .select(['agent_id', 'interaction_id', 'channel'])
        .where('id', '=', offerId)
        .executeTakeFirst();
      if (!offer) return null;
      return db.transaction().execute(async (trx) => {
        await lockAgents(trx, [offer.agent_id]);
        const released = await cancelOffer(trx, offerId, offer.channel as Channel, reason);
        if (!released) return null;
        await sql`update interactions set status = 'queued', updated_at = now()
          where id = ${offer.interaction_id} and status = 'offered'`.execute(trx);
        return { interactionId: offer.interaction_id, agentId: offer.agent_id };
      });
    },

    /** Logs what a closed queue's after-hours action did (routing.afterHours), grouped with others. */
    async logAfterHours(
      interactionId: string,
      payload: InteractionEventPayloads['routing.afterHours'],
    ): Promise<void> {
      if (!(await logAfterHoursGrouped({ interactionId, payload })))
        throw new Error(`no interaction ${interactionId}`);
    },

    /** Ends an agent's wrap-up (the timer's job, or the agent saying they are ready). */
    async endWrapUp(agentId: string, onlyIfDue: boolean): Promise<boolean> {
      const { rows } = await sql<{ agent_id: string }>`
        update agent_states set state = 'available', state_since = now(), idle_since = now(), wrap_up_until = null
        where agent_id = ${agentId} and state = 'wrap_up'
          ${onlyIfDue ? sql`and (wrap_up_until is null or wrap_up_until <= now() + interval '50 milliseconds')` : sql``}
        returning agent_id
      `.execute(db);
      return rows.length > 0;
    },

    /** Agents whose wrap-up should have ended (their timer job was lost). */
    async overdueWrapUps(graceMs: number): Promise<string[]> {
      const rows = await db
        .selectFrom('agent_states')
        .select('agent_id')
        .where('state', '=', 'wrap_up')
        .where(sql<boolean>`wrap_up_until < now() - make_interval(secs => ${graceMs / 1000})`)
        .execute();
      return rows.map((r) => r.agent_id);
    },

    /**
     * Waiting contacts whose next escalation step is due at `at`. `steps` lists, per queue, each step's index
     * and the seconds after which it falls due.
     */
    async dueEscalations(
      steps: readonly { queue: string; step: number; afterSeconds: number }[],
      at: Date,
      limit: number,
    ): Promise<EscalationDue[]> {
      if (steps.length === 0) return [];
      const { rows } = await sql<{
        id: string;
        queue: string;
        escalation_step: number;
        waited: number;
        priority: number;
      }>`
        select i.id, i.queue, i.escalation_step, i.priority,
          extract(epoch from (${at}::timestamptz - i.queue_entered_at))::float8 as waited
        from jsonb_to_recordset(${JSON.stringify(steps)}::jsonb) as s(queue text, step int, "afterSeconds" int)
        join interactions i on i.queue = s.queue and i.escalation_step = s.step
        where i.status = 'queued'
          and i.queue_entered_at <= ${at}::timestamptz - make_interval(secs => s."afterSeconds")
        order by i.queue_entered_at
        limit ${limit}
      `.execute(db);
      return rows.map((r) => ({
        interactionId: r.id,
        queue: r.queue,
        escalationStep: r.escalation_step,
        waitedSeconds: r.waited,
        priority: r.priority,
      }));
    },

    /**
     * Applies escalation steps to a waiting contact, if it is still waiting at step `fromStep` in `queue`
     * (another process may have done it: then nothing changes and false is returned). Logs one
     * routing.escalated event per step.
     */
    async applyEscalation(request: {
      interactionId: string;
      queue: string;
      fromStep: number;
      toStep: number;
      relaxBy: number;
      addQueues: readonly string[];
      raiseBy: number;
      /** move-to: the contact enters this queue, its escalation starting over there. */
      moveTo: string | null;
      /** The escalation's clock: a moved contact enters its new queue at this time. */
      at: Date;
      events: readonly InteractionEventPayloads['routing.escalated'][];
    }): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ channel: Channel; priority: number }>`
          update interactions set
            priority = priority + ${request.raiseBy}::int,
            relax_levels = case when ${request.moveTo}::text is null then relax_levels + ${request.relaxBy}::int else 0 end,
            extra_queues = case when ${request.moveTo}::text is null
              then array(select distinct unnest(extra_queues || ${[...request.addQueues]}::text[])) else '{}' end,
            escalation_step = case when ${request.moveTo}::text is null then ${request.toStep}::int else 0 end,
            queue = coalesce(${request.moveTo}::text, queue),
            queue_entered_at = case when ${request.moveTo}::text is null then queue_entered_at
              else ${request.at}::timestamptz end,
            updated_at = now()
          where id = ${request.interactionId} and status = 'queued' and queue = ${request.queue}
            and escalation_step = ${request.fromStep}::int
          returning channel, priority
        `.execute(trx);
        const row = rows[0];
        if (!row) return false;
        for (const payload of request.events)
          await appendEvent(
            trx,
            request.interactionId,
            row.channel,
            { type: 'system', id: null },
            'routing.escalated',
            { ...payload, priority: row.priority },
          );
        return true;
      });
    },

    /** Interactions ingested but never queued for longer than `olderThanMs` (their routing was lost). */
    async unrouted(olderThanMs: number, limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('interactions')
        .select('id')
        .where('status', '=', 'new')
        .where('direction', '=', 'inbound')
        .where(sql<boolean>`created_at < now() - make_interval(secs => ${olderThanMs / 1000})`)
        .orderBy('created_at')
        .limit(limit)
        .execute();
      return rows.map((r) => r.id);
    },
  };
}

/** Why the target agent cannot take the interaction now, or null. Runs under the agent's lock. */
async function capacityRefusal(
  trx: Trx,
  agentId: string,
  channel: Channel,
  request: ReassignRequest,
  current: InteractionBefore,
): Promise<string | null> {
  const { rows } = await sql<{ state: string; is_disabled: boolean; loads: Record<string, number> | null }>`
    select s.state, a.is_disabled,
      (select json_object_agg(l.channel, l.load) from agent_loads l where l.agent_id = s.agent_id) as loads
    from agent_states s join agents a on a.id = s.agent_id where s.agent_id = ${agentId}
  `.execute(trx);
  const agent = rows[0];
  if (!agent || agent.is_disabled) return 'the agent is disabled';
  const loads = agent.loads ?? {};
  // Work the agent already holds (a reassignment to the same agent) does not count against them.
  const holds = current.assignee_id === agentId && current.status === 'assigned' ? 1 : 0;
  const liveOfferToThem = current.live_offer_agent === agentId ? 1 : 0;
  const load = (loads[channel] ?? 0) - holds - liveOfferToThem;
  const capacity = request.exclusiveChannels.includes(channel)
    ? Math.min(request.capacityFor(channel), 1)
    : request.capacityFor(channel);
  if (capacity <= 0) return `the agent takes no ${channel} contacts`;
  if (load >= capacity) return `the agent is at ${channel} capacity (${load}/${capacity})`;
  const onCall = request.exclusiveChannels.find(
    (c) => (loads[c] ?? 0) - (c === channel ? holds + liveOfferToThem : 0) > 0,
  );
  if (onCall) return `the agent is busy on ${onCall}, which takes nothing else meanwhile`;
  if (
    request.exclusiveChannels.includes(channel) &&
    agent.state !== 'available' &&
    agent.state !== 'on_contact'
  )
    return `the agent is ${agent.state.replace('_', ' ')} and cannot take a call`;
  return null;
}

export type RoutingControlRepository = ReturnType<typeof createRoutingControlRepository>;

/*
 * Routing's front door: what the rest of the system asks of routing, beyond the offer answers
 * (offers.service.ts).
 *   route       a new interaction: enqueue by the rules (after-hours actions carried out), then dispatch it.
 *               Called in-process right after ingest; the sweep catches any the process never got to.
 *   endContact  the customer left (caller hung up, chat closed) or the agent closed the work: a live offer
 *               is withdrawn, the agent's load released, wrap-up started.
 *   assign / transfer / pull
 *               manual control by supervisors and agents, audited and logged with the reason given.
 *   sweep       what lost jobs or a killed process left undone.
 * Every change to who holds what runs through the routing-control repository under the agents' locks; the
 * follow-ups (timers, re-dispatch, domain events) run after the commit.
 */
import type { AgentAfter, RoutingControlRepository } from '../db/repositories/routing-control.repository.js';
import type { RoutingRepository } from '../db/repositories/routing.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { Channel } from '../interactions/inbound-contact.js';
import type { JobQueue } from '../jobs/job-registry.js';
import {
  requireRules,
  toCandidate,
  toRoutable,
  type Dispatcher,
  type RulesSource,
} from './dispatch.service.js';
import type { EscalationService } from './escalation.service.js';
import type { OffersService } from './offers.service.js';
import { decideQueue, type QueueingService } from './queueing.service.js';
import { exclusiveChannels, ineligibilityOf } from './strategies/index.js';

/**
 * Where route() put a contact: waiting in `queue` (and offered when someone was free; `isOpen` false when the
 * queue is closed and it waits for the opening), sent to voicemail or closed by the queue's after-hours
 * action, or nothing (`not-new`: already routed, or closed meanwhile).
 */
export type RouteOutcome =
  | { status: 'queued'; queue: string; isOpen: boolean }
  | { status: 'voicemail'; queue: string; greeting: string | null }
  | { status: 'closed'; queue: string; message: string }
  | { status: 'not-new'; current: string };

export interface ActingAgent {
  agentId: string;
  role: 'agent' | 'supervisor' | 'admin';
}

const exclusiveChannelList = [...exclusiveChannels];
const isSupervisor = (actor: ActingAgent) => actor.role === 'supervisor' || actor.role === 'admin';

export function createRoutingService(deps: {
  routing: RoutingRepository;
  control: RoutingControlRepository;
  rules: RulesSource;
  queueing: QueueingService;
  dispatcher: Dispatcher;
  offers: OffersService;
  escalation: EscalationService;
  events: DomainEvents;
  jobs: JobQueue;
  log: { error: (obj: object, msg: string) => void };
  now?: () => Date;
}) {
  const { control, events } = deps;
  const now = deps.now ?? (() => new Date());

  /** After an agent's load went down: start the wrap-up timer, or offer them more work. */
  async function afterRelease(agent: AgentAfter | null) {
    if (!agent) return;
    if (agent.state === 'wrap_up' && agent.wrapUpUntil) {
      events.publish('agent.stateChanged', {
        agentId: agent.agentId,
        from: 'on_contact',
        to: 'wrap_up',
        reason: `wrap-up until ${agent.wrapUpUntil}`,
      });
      await deps.jobs.enqueue(
        'routing.end-wrap-up',
        { agentId: agent.agentId },
        {
          jobId: `wrap-${agent.agentId}-${Date.parse(agent.wrapUpUntil)}`,
          delayMs: Math.max(1, Date.parse(agent.wrapUpUntil) - Date.now()),
        },
      );
      return;
    }
    if (agent.state === 'available' || agent.state === 'on_contact')
      await deps.dispatcher.dispatchForAgent(agent.agentId);
  }

  function capacityFor(agentCapacity: Partial<Record<Channel, number>>) {
    const rules = requireRules(deps.rules);
    return (channel: Channel) => agentCapacity[channel] ?? rules.capacity[channel].max;
  }

  async function wrapUpSecondsOf(interactionId: string): Promise<number> {
    const rules = deps.rules.current;
    const facts = await deps.routing.routingQueue(interactionId);
    const queue = facts?.queue ? rules?.queues.get(facts.queue) : undefined;
    return queue?.wrapUpSeconds ?? 0;
  }

  const service = {
    /**
     * Enqueues a new interaction by the rules and offers it if someone can take it. Retry-safe. Says where
     * the contact went, for a channel that answers the customer from it (a caller hears hold music, a
     * voicemail prompt or the closing message).
     */
    async route(interactionId: string): Promise<RouteOutcome> {
      const rules = requireRules(deps.rules);
      // The agents' snapshot is read with the facts: one round trip instead of two.
      const { facts, view } = await deps.dispatcher.readNew(
        interactionId,
        rules.options.recentAgentWindowDays * 86_400_000,
      );
      view.catch(() => undefined); // Awaited below only on the common path.
      if (!facts) throw new AppError('INTERACTION_NOT_FOUND');
      if (facts.status !== 'new') return { status: 'not-new', current: facts.status };
      const decision = decideQueue(facts, rules, now());
      const queue = rules.queues.get(decision.queue);
      // The common case, an open queue: enqueued and offered in one step.
      if (queue && decision.afterHours === null && decision.event.isQueueOpen) {
        await deps.dispatcher.routeNew(facts, queue, decision, view);
        return { status: 'queued', queue: decision.queue, isOpen: true };
      }
      const outcome = await deps.queueing.enqueueAs(facts, decision);
      if (!outcome.isQueued) return { status: 'not-new', current: outcome.status };
      const afterHours = outcome.afterHours;
      if (afterHours?.action === 'close-with-message') {
        await control.logAfterHours(interactionId, {
          queue: outcome.queue,
          action: 'close-with-message',
          openingReason: outcome.openingReason,
          message: afterHours.message,
        });
        await service.endContact(interactionId, {
          actor: { type: 'system', id: null },
          reason: 'after hours',
          message: afterHours.message,
        });
        return { status: 'closed', queue: outcome.queue, message: afterHours.message };
      }
      if (afterHours?.action === 'voicemail') {
        await control.logAfterHours(interactionId, {
          queue: outcome.queue,
          action: 'voicemail',
          openingReason: outcome.openingReason,
          ...(afterHours.greeting !== undefined && { greeting: afterHours.greeting }),
        });
        // The voice channel records a message; the interaction waits in its queue for a callback.
        events.publish('interaction.voicemailRequested', {
          interactionId,
          queue: outcome.queue,
          greeting: afterHours.greeting ?? null,
        });
        return { status: 'voicemail', queue: outcome.queue, greeting: afterHours.greeting ?? null };
      }
      // Closed: the contact waits; dispatch skips closed queues anyway.
      if (afterHours) return { status: 'queued', queue: outcome.queue, isOpen: false };
      await deps.dispatcher.dispatch({ interactionIds: [interactionId] });
      return { status: 'queued', queue: outcome.queue, isOpen: true };
    },

    /**
     * Ends an interaction whoever holds it. The customer leaving (`actor.type` 'customer') while it waits
     * withdraws its offer: abandoned. `onlyAssignee`: an agent closing their own work.
     */
    async endContact(
      interactionId: string,
      options: {
        actor: { type: 'agent' | 'system' | 'customer'; id: string | null };
        reason: string;
        disposition?: string | null;
        onlyAssignee?: string | null;
        /** What the customer is told (after-hours close). */
        message?: string;
      },
    ): Promise<{ wasWaiting: boolean }> {
      const result = await control.close({
        interactionId,
        actor: options.actor,
        reason: options.reason,
        disposition: options.disposition ?? null,
        wrapUpSeconds: await wrapUpSecondsOf(interactionId),
        onlyAssignee: options.onlyAssignee ?? null,
      });
      switch (result.status) {
        case 'not_found':
          throw new AppError('INTERACTION_NOT_FOUND');
        case 'already_closed':
          throw new AppError('INTERACTION_CLOSED');
        case 'not_assignee':
          throw new AppError('NOT_ASSIGNEE');
        case 'closed':
          break;
      }
      if (result.cancelledOfferId && result.released)
        events.publish('offer.cancelled', {
          offerId: result.cancelledOfferId,
          interactionId,
          agentId: result.released.agentId,
          reason: options.reason,
        });
      events.publish('interaction.closed', {
        interactionId,
        channel: result.channel,
        reason: options.reason,
        wasWaiting: result.wasWaiting,
        closedBy: options.actor.type,
        ...(options.message !== undefined && { message: options.message }),
      });
      await afterRelease(result.released);
      return { wasWaiting: result.wasWaiting };
    },

    /** The agent ends their wrap-up early ("ready"), or the wrap-up timer fires (`onlyIfDue`). */
    async endWrapUp(agentId: string, onlyIfDue = false): Promise<boolean> {
      const ended = await control.endWrapUp(agentId, onlyIfDue);
      if (!ended) return false;
      events.publish('agent.stateChanged', { agentId, from: 'wrap_up', to: 'available', reason: null });
      await deps.dispatcher.dispatchForAgent(agentId);
      return true;
    },

    /** The agent went away or offline: their live offers go to someone else. */
    async withdrawOffersOf(agentId: string, reason: string): Promise<number> {
      let withdrawn = 0;
      for (const offer of await deps.routing.liveOffersOf(agentId)) {
        const result = await control.withdrawOffer(offer.id, reason);
        if (!result) continue;
        withdrawn += 1;
        events.publish('offer.cancelled', {
          offerId: offer.id,
          interactionId: result.interactionId,
          agentId,
          reason,
        });
      }
      if (withdrawn > 0) await deps.dispatcher.dispatch();
      return withdrawn;
    },

    /**
     * Supervisor: assign or reassign an interaction to an agent or a queue. Agent: transfer their own
     * interaction to an agent or a queue (a note says why), or pull a waiting contact they may take.
     */
    async move(
      interactionId: string,
      kind: 'assign' | 'transfer' | 'pull',
      actor: ActingAgent,
      target: { agentId: string } | { queue: string },
      note: string | null,
    ): Promise<void> {
      const rules = requireRules(deps.rules);
      if ('queue' in target && !rules.queues.has(target.queue))
        throw new AppError('QUEUE_NOT_FOUND', `No queue named ${target.queue} in the rules in force.`);
      if (kind === 'assign' && !isSupervisor(actor)) throw new AppError('FORBIDDEN');
      let agentCapacity: Partial<Record<Channel, number>> = {};
      if ('agentId' in target) {
        const agent = await deps.routing.agentForAssignment(target.agentId);
        if (!agent) throw new AppError('AGENT_NOT_FOUND');
        agentCapacity = agent.capacityOverrides;
        if (kind === 'pull') {
          // A pull is the agent taking a contact as the dispatcher would give it: the same eligibility.
          const [waiting] = await deps.routing.waitingContacts(1, 0, [interactionId]);
          if (!waiting) throw new AppError('INTERACTION_NOT_WAITING');
          const queue = rules.queues.get(waiting.queue);
          if (!queue)
            throw new AppError('QUEUE_NOT_FOUND', `No queue named ${waiting.queue} in the rules in force.`);
          const snapshot = await deps.routing.agentSnapshot(actor.agentId);
          if (!snapshot) throw new AppError('AGENT_NOT_FOUND');
          // Pulling is a deliberate choice: the agent's state does not block it, skills and capacity do.
          const candidate = toCandidate({ ...snapshot, state: 'available' }, rules);
          const why = ineligibilityOf(candidate, toRoutable(waiting, queue, rules));
          if (why !== null) throw new AppError('NOT_ELIGIBLE', `Cannot take this contact: the agent ${why}.`);
        }
      }
      const result = await control.reassign({
        interactionId,
        target,
        kind,
        actor,
        note,
        requireAssignee: kind === 'transfer' && !isSupervisor(actor) ? actor.agentId : null,
        requireWaiting: kind === 'pull',
        capacityFor: capacityFor(agentCapacity),
        exclusiveChannels: exclusiveChannelList,
      });
      switch (result.status) {
        case 'not_found':
          throw new AppError('INTERACTION_NOT_FOUND');
        case 'closed':
          throw new AppError('INTERACTION_CLOSED');
        case 'not_assignee':
          throw new AppError('NOT_ASSIGNEE');
        case 'not_waiting':
          throw new AppError('INTERACTION_NOT_WAITING');
        case 'agent_at_capacity':
          throw new AppError('AGENT_AT_CAPACITY', `Cannot assign: ${result.reason}.`);
        case 'moved':
          break;
      }
      if (result.cancelledOffer)
        events.publish('offer.cancelled', {
          offerId: result.cancelledOffer.offerId,
          interactionId,
          agentId: result.cancelledOffer.agent.agentId,
          reason: `${kind} by ${actor.agentId}`,
        });
      if ('agentId' in target)
        events.publish('interaction.assigned', {
          interactionId,
          agentId: target.agentId,
          kind,
          byAgentId: actor.agentId,
        });
      else {
        const queued = await deps.routing.routingQueue(interactionId);
        events.publish('interaction.queued', {
          interactionId,
          queue: target.queue,
          priority: queued?.priority ?? 0,
          isMoved: true,
        });
      }
      await afterRelease(result.fromAgent);
      await afterRelease(result.cancelledOffer?.agent ?? null);
      if ('queue' in target) await deps.dispatcher.dispatch({ interactionIds: [interactionId] });
    },

    /**
     * What a lost job or a killed process left undone: interactions never queued, live offers past their
     * expiry (offers.service.ts), wrap-ups past their end. Run by a repeating job on any one process.
     */
    async sweep(
      graceMs: number,
    ): Promise<{ routed: number; expired: number; wrapUpsEnded: number; offered: number }> {
      let routed = 0;
      for (const id of await control.unrouted(graceMs, 200)) {
        try {
          await service.route(id);
          routed += 1;
        } catch (err) {
          deps.log.error({ err, interactionId: id }, 'routing an unrouted interaction failed');
        }
      }
      const expired = await deps.offers.expireOverdue(graceMs);
      let wrapUpsEnded = 0;
      for (const agentId of await control.overdueWrapUps(graceMs))
        if (await service.endWrapUp(agentId, true)) wrapUpsEnded += 1;
      // Nothing else dispatches when a closed queue opens, or after a dispatch lost to a crash: one pass over
      // the best waiting contacts does.
      const { offers } = await deps.dispatcher.dispatch();
      return { routed, expired, wrapUpsEnded, offered: offers.length };
    },

    escalate: (at?: Date) => deps.escalation.escalate(at),
  };
  return service;
}

export type RoutingService = ReturnType<typeof createRoutingService>;

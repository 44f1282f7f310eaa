/*
 * Dispatch: match waiting contacts with agents. Reads a snapshot (waiting contacts best first, working agents
 * with loads, round-robin cursors), asks the queue's pure strategy for a pick, and claims it through the one
 * atomic step (RoutingRepository.claim). Any number of processes may dispatch at once: the snapshot may be
 * stale, the claim is not. On a lost race the claim says why: the contact was taken (move on to the next
 * contact), the agent cannot take it any more (refresh that agent from the claim's answer, ask the strategy
 * again), or the agent already declined or missed this contact (ask the strategy again without them).
 *
 * Contacts in a closed queue wait (after-hours actions that do something else run at enqueue). What
 * escalation changed (relaxed levels, other queues' agents) is part of the contact (toRoutable). An
 * account-owner `wait-for` decision schedules one more dispatch of the contact at its deadline.
 */
import type {
  AgentSnapshot,
  ClaimResult,
  RoutingRepository,
  WaitingContact,
} from '../db/repositories/routing.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { Channel } from '../interactions/inbound-contact.js';
import { channels } from '../interactions/inbound-contact.js';
import type { JobQueue } from '../jobs/job-registry.js';
import type {
  AgentPick,
  Candidate,
  RoutableContact,
  RoutingSnapshot,
  SkillLevel,
  Strategy,
  StrategyOptions,
} from './routing.types.js';
import { openingStatus } from './rules/rule-matcher.js';
import type { Queue, RuleSet, SkillRequirement } from './rules/rules.schema.js';
import { applyRotation, exclusiveChannels, ineligibilityOf, strategies } from './strategies/index.js';
import { capacityOn } from './strategies/eligibility.js';
import { createAgentSnapshots } from './agent-snapshot.js';

/** Where the rules in force come from (a RulesStore). */
export interface RulesSource {
  readonly current: RuleSet | undefined;
}

export interface DispatchedOffer {
  offerId: string;
  interactionId: string;
  agentId: string;
  channel: Channel;
  expiresAt: string;
}

export interface DispatchOutcome {
  offers: DispatchedOffer[];
  /** Claims refused because another process got there first (contact taken or agent filled up). */
  lostRaces: number;
}

export interface DispatcherDeps {
  routing: RoutingRepository;
  rules: RulesSource;
  jobs: JobQueue;
  events: DomainEvents;
  now?: () => Date;
  /** Waiting contacts looked at per dispatch. */
  batchSize?: number;
}

/** How many passed-over candidates an offer's event lists. */
const maxPassedOver = 30;
const exclusiveChannelList = [...exclusiveChannels];

export function requireRules(rules: RulesSource): RuleSet {
  const current = rules.current;
  if (!current) throw new AppError('ROUTING_RULES_UNAVAILABLE');
  return current;
}

/** The agent as the strategies see them: rule-file capacity defaults merged with the agent's overrides. */
export function toCandidate(agent: AgentSnapshot, rules: RuleSet): Candidate {
  const capacity: Partial<Record<Channel, number>> = {};
  for (const channel of channels)
    capacity[channel] = agent.capacityOverrides[channel] ?? rules.capacity[channel].max;
  return {
    agentId: agent.agentId,
    state: agent.state,
    skills: agent.skills as Record<string, SkillLevel>,
    load: agent.loads,
    capacity,
    idleSinceMs: agent.idleSinceMs,
  };
}

/** Skill requirements lowered by `levels`, never below 1 (escalation's relax-skills). */
export function relaxSkills(required: readonly SkillRequirement[], levels: number): SkillRequirement[] {
  return required.map(({ skill, minLevel }) => ({
    skill,
    minLevel: Math.max(1, minLevel - levels) as SkillRequirement['minLevel'],
  }));
}

/** The waiting contact as strategies see it, with what escalation changed: relaxed levels, added queues. */
export function toRoutable(contact: WaitingContact, queue: Queue, rules: RuleSet): RoutableContact {
  const alternativeSkills = contact.extraQueues.flatMap((name) => {
    const extra = rules.queues.get(name);
    return extra ? [relaxSkills(extra.requiredSkills, contact.relaxLevels)] : [];
  });
  return {
    interactionId: contact.interactionId,
    queueId: queue.name,
    channel: contact.channel,
    requiredSkills: relaxSkills(queue.requiredSkills, contact.relaxLevels),
    ...(alternativeSkills.length > 0 && { alternativeSkills }),
    customerId: contact.customerId,
    accountOwnerId: contact.accountOwnerId,
    recentAgents: contact.recentAgents,
    priority: contact.priority,
    enqueuedAtMs: contact.enqueuedAtMs,
  };
}

/** The queue's strategy and its options (the simulator uses the same). */
export function strategyOf(queue: Queue, rules: RuleSet): { strategy: Strategy; options: StrategyOptions } {
  return {
    strategy: strategies[queue.strategy],
    options: {
      recentAgentWindowMs: rules.options.recentAgentWindowDays * 86_400_000,
      preferredAgentWaitMs: queue.offerTimeoutSeconds * 1000,
      ...(queue.secondaryStrategy && { fallback: strategies[queue.secondaryStrategy] }),
    },
  };
}

export function createDispatcher(deps: DispatcherDeps) {
  const now = deps.now ?? (() => new Date());
  const batchSize = deps.batchSize ?? 200;
  const agentSnapshots = createAgentSnapshots({ routing: deps.routing });

  async function claim(
    rules: RuleSet,
    queue: Queue,
    contact: RoutableContact,
    candidate: Candidate,
    pick: AgentPick,
    trigger: 'dispatch' | 'agent-available',
    passedOver: { agentId: string; why: string }[],
  ): Promise<ClaimResult> {
    const result = await deps.routing.claim({
      agentId: pick.agentId,
      interactionId: contact.interactionId,
      channel: contact.channel,
      capacity: capacityOn(candidate, contact.channel),
      exclusiveChannels: exclusiveChannelList,
      queue: queue.name,
      strategy: pick.strategy,
      reason: pick.reason,
      timeoutSeconds: queue.offerTimeoutSeconds || rules.options.offerTimeoutSeconds,
      rotationQueue: pick.rotation?.queueId ?? null,
      eventPayload: {
        agentId: pick.agentId,
        queue: queue.name,
        strategy: pick.strategy,
        reason: pick.reason,
        trigger,
        passedOver: passedOver.slice(0, maxPassedOver),
      },
    });
    if (result.status === 'claimed') {
      await deps.jobs.enqueue(
        'routing.expire-offer',
        { offerId: result.offerId },
        {
          jobId: `expire-${result.offerId}`,
          // expiresAt carries microseconds that Date.parse drops: 2 ms more, so the timeout never fires early.
          delayMs: Math.max(1, Date.parse(result.expiresAt) + 2 - Date.now()),
        },
      );
      deps.events.publish('offer.created', {
        offerId: result.offerId,
        interactionId: contact.interactionId,
        agentId: pick.agentId,
        channel: contact.channel,
        expiresAt: result.expiresAt,
        reason: pick.reason,
      });
    }
    return result;
  }

  // Opening hours are checked once per queue and pass, not per contact.
  const openCache = new Map<string, { atMs: number; isOpen: boolean }>();
  function isOpenAt(queue: Queue, nowMs: number): boolean {
    const cached = openCache.get(queue.name);
    if (cached && Math.abs(cached.atMs - nowMs) < 1000) return cached.isOpen;
    const isOpen = openingStatus(queue, new Date(nowMs)).isOpen;
    openCache.set(queue.name, { atMs: nowMs, isOpen });
    return isOpen;
  }

  /**
   * account-owner's wait-for: the contact waits for its preferred agent until `untilMs`; a delayed job
   * dispatches it again then (when the strategy falls back). One job per contact and deadline.
   */
  async function recheckAt(interactionId: string, untilMs: number) {
    await deps.jobs.enqueue(
      'routing.dispatch',
      { interactionId },
      { jobId: `recheck-${interactionId}-${untilMs}`, delayMs: Math.max(1, untilMs - Date.now() + 50) },
    );
  }

  /** The candidate as the claim found them (state and loads), or as one more contact on the channel. */
  function afterClaim(candidate: Candidate, channel: Channel, result: ClaimResult): Candidate {
    if (result.status === 'claimed') {
      return { ...candidate, load: { ...candidate.load, [channel]: result.loadAfter } };
    }
    if (result.status === 'agent_unavailable') {
      const state = result.state as Candidate['state'];
      return { ...candidate, state, load: result.loads };
    }
    return candidate;
  }

  function explainPassedOver(
    candidates: readonly Candidate[],
    contact: RoutableContact,
    pickedId: string,
    declined: ReadonlySet<string>,
  ): { agentId: string; why: string }[] {
    const passedOver: { agentId: string; why: string }[] = [];
    for (const c of candidates) {
      if (c.agentId === pickedId) continue;
      const why = declined.has(c.agentId)
        ? 'already declined or missed this contact'
        : (ineligibilityOf(c, contact) ?? `ranked below ${pickedId}`);
      passedOver.push({ agentId: c.agentId, why });
    }
    return passedOver;
  }

  return {
    /**
     * One pass over the best `batchSize` waiting contacts (or only `interactionIds`, e.g. the contact just
     * enqueued): each is offered to the agent its queue's strategy picks among the agents who have not
     * declined it, if anyone can take it now.
     */
    async dispatch(options: { interactionIds?: readonly string[] } = {}): Promise<DispatchOutcome> {
      const rules = requireRules(deps.rules);
      const windowMs = rules.options.recentAgentWindowDays * 86_400_000;
      const [waiting, agents, rotations] = await Promise.all([
        deps.routing.waitingContacts(batchSize, windowMs, options.interactionIds),
        agentSnapshots.workingAgents(),
        deps.routing.rotations(),
      ]);
      const outcome: DispatchOutcome = { offers: [], lostRaces: 0 };
      if (waiting.length === 0 || agents.length === 0) return outcome;
      const candidates = agents.map((a) => toCandidate(a, rules));
      let snapshot: RoutingSnapshot = { nowMs: now().getTime(), rotations };

      for (const waitingContact of waiting) {
        const queue = rules.queues.get(waitingContact.queue);
        if (!queue) continue; // A queue removed from the rules: its contacts wait for a person or a move.
        if (!isOpenAt(queue, snapshot.nowMs)) continue; // After hours: waits until the queue opens.
        const contact = toRoutable(waitingContact, queue, rules);
        const { strategy, options } = strategyOf(queue, rules);
        const declined = new Set(waitingContact.declinedAgentIds);
        const tried = new Set<string>();
        for (;;) {
          const pool = candidates.filter((c) => !declined.has(c.agentId) && !tried.has(c.agentId));
          const decision = strategy(pool, contact, snapshot, options);
          if (decision?.kind === 'wait-for') await recheckAt(contact.interactionId, decision.untilMs);
          if (decision?.kind !== 'pick') break;
          const index = candidates.findIndex((c) => c.agentId === decision.agentId);
          const candidate = candidates[index]!;
          const passedOver = explainPassedOver(candidates, contact, decision.agentId, declined);
          const result = await claim(rules, queue, contact, candidate, decision, 'dispatch', passedOver);
          candidates[index] = afterClaim(candidate, contact.channel, result);
          if (result.status === 'claimed') {
            snapshot = applyRotation(snapshot, decision);
            outcome.offers.push({
              offerId: result.offerId,
              interactionId: contact.interactionId,
              agentId: decision.agentId,
              channel: contact.channel,
              expiresAt: result.expiresAt,
            });
            break;
          }
          outcome.lostRaces += 1;
          if (result.status === 'contact_taken') break;
          tried.add(decision.agentId);
        }
      }
      return outcome;
    },

    /**
     * An agent just became able to take work: offer them the best waiting contacts they can take, across
     * every queue, best first, until they are full. Each queue's strategy still decides, with this agent as
     * the only candidate (so skills, channels and account-owner waits are respected).
     */
    async dispatchForAgent(agentId: string): Promise<DispatchOutcome> {
      const rules = requireRules(deps.rules);
      const windowMs = rules.options.recentAgentWindowDays * 86_400_000;
      const [waiting, agents, rotations] = await Promise.all([
        deps.routing.waitingContacts(batchSize, windowMs),
        agentSnapshots.workingAgents(agentId),
        deps.routing.rotations(),
      ]);
      const outcome: DispatchOutcome = { offers: [], lostRaces: 0 };
      const [agent] = agents;
      if (!agent) return outcome;
      let candidate = toCandidate(agent, rules);
      let snapshot: RoutingSnapshot = { nowMs: now().getTime(), rotations };

      for (const waitingContact of waiting) {
        if (waitingContact.declinedAgentIds.includes(agentId)) continue;
        const queue = rules.queues.get(waitingContact.queue);
        if (!queue || !isOpenAt(queue, snapshot.nowMs)) continue;
        const contact = toRoutable(waitingContact, queue, rules);
        if (ineligibilityOf(candidate, contact) !== null) continue;
        const { strategy, options } = strategyOf(queue, rules);
        const decision = strategy([candidate], contact, snapshot, options);
        if (decision?.kind === 'wait-for') await recheckAt(contact.interactionId, decision.untilMs);
        if (decision?.kind !== 'pick') continue;
        const pick: AgentPick = {
          ...decision,
          reason: `${agentId} became available and this is the best waiting contact they can take (priority ${contact.priority}). ${decision.reason}`,
        };
        const result = await claim(rules, queue, contact, candidate, pick, 'agent-available', []);
        candidate = afterClaim(candidate, contact.channel, result);
        if (result.status === 'claimed') {
          snapshot = applyRotation(snapshot, decision);
          outcome.offers.push({
            offerId: result.offerId,
            interactionId: contact.interactionId,
            agentId,
            channel: contact.channel,
            expiresAt: result.expiresAt,
          });
        } else {
          outcome.lostRaces += 1;
          if (
            result.status === 'agent_unavailable' &&
            candidate.state !== 'available' &&
            candidate.state !== 'on_contact'
          )
            break;
        }
      }
      return outcome;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;

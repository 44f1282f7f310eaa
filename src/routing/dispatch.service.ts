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
  ClaimRequest,
  ClaimResult,
  RouteContactRequest,
  RouteContactResult,
  RoutingFacts,
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
import type { QueueDecision } from './queueing.service.js';
import { applyRotation, exclusiveChannels, ineligibilityOf, strategies } from './strategies/index.js';
import { capacityOn } from './strategies/eligibility.js';
import { createAgentSnapshots, type RoutingView } from './agent-snapshot.js';
import { groupCalls } from '../db/group-calls.js';

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

/**
 * How many passed-over candidates an offer's event lists (the first by agent id; their count is in the
 * reason's ranking). Computing and storing every one of 500 cost more than the rest of the dispatch.
 */
const maxPassedOver = 10;
const exclusiveChannelList = [...exclusiveChannels];

export function requireRules(rules: RulesSource): RuleSet {
  const current = rules.current;
  if (!current) throw new AppError('ROUTING_RULES_UNAVAILABLE');
  return current;
}

/**
 * The agent as the strategies see them: rule-file capacity defaults merged with the agent's overrides. Any
 * state (a transfer's roster has agents who are away or offline; eligibility says why they cannot).
 */
export function toCandidate(
  agent: Omit<AgentSnapshot, 'state'> & { state: Candidate['state'] },
  rules: RuleSet,
): Candidate {
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

/**
 * The queues an agent could take some contact of: a channel of the queue they take, and the queue's skills
 * at any level (escalation may relax levels down to 1). Each contact is still checked in full.
 */
export function servableQueues(candidate: Candidate, rules: RuleSet): string[] {
  const names: string[] = [];
  for (const queue of rules.queues.values()) {
    const takesAChannel = queue.channels.some((channel) => capacityOn(candidate, channel) > 0);
    const hasSkills = queue.requiredSkills.every(({ skill }) => (candidate.skills[skill] ?? 0) >= 1);
    if (takesAChannel && hasSkills) names.push(queue.name);
  }
  return names;
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

  // Each agent snapshot's candidate under the rules in force: snapshots are kept until the agent changes.
  let candidateRules: RuleSet | undefined;
  let candidateOf = new WeakMap<AgentSnapshot, Candidate>();
  function candidatesOf(agents: readonly AgentSnapshot[], rules: RuleSet): Candidate[] {
    if (rules !== candidateRules) {
      candidateRules = rules;
      candidateOf = new WeakMap();
    }
    return agents.map((agent) => {
      let candidate = candidateOf.get(agent);
      if (candidate === undefined) {
        candidate = toCandidate(agent, rules);
        candidateOf.set(agent, candidate);
      }
      return candidate;
    });
  }

  /** Agent ids in a reason replaced by their names: agents and supervisors read it, not the database. */
  const agentIdPattern = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g;
  function readable(reason: string): string {
    return reason.replace(agentIdPattern, (id) => agentSnapshots.nameOf(id) ?? id);
  }

  function claimRequest(
    rules: RuleSet,
    queue: Queue,
    contact: RoutableContact,
    candidate: Candidate,
    pick: AgentPick,
    trigger: 'dispatch' | 'agent-available',
    passedOver: { agentId: string; why: string }[],
  ): ClaimRequest {
    const reason = readable(pick.reason);
    return {
      agentId: pick.agentId,
      interactionId: contact.interactionId,
      channel: contact.channel,
      capacity: capacityOn(candidate, contact.channel),
      exclusiveChannels: exclusiveChannelList,
      queue: queue.name,
      strategy: pick.strategy,
      reason,
      timeoutSeconds: queue.offerTimeoutSeconds || rules.options.offerTimeoutSeconds,
      rotationQueue: pick.rotation?.queueId ?? null,
      eventPayload: {
        agentId: pick.agentId,
        queue: queue.name,
        strategy: pick.strategy,
        reason,
        trigger,
        passedOver,
      },
    };
  }

  /*
   * Offer timeouts: one delayed job per 100 ms of expiry instants (not one per offer: a job costs Redis and
   * this process more than the claim's own round trip), keyed by that instant so that every process adds the
   * same one. It runs after the last expiry it covers (never early: expiresAt's microseconds are rounded up)
   * and expires every live offer then due (offers.service expireDue). A lost job is caught by the sweep.
   */
  const expiryStepMs = 100;
  const scheduledExpiries = new Set<number>();
  async function scheduleExpiry(expiresAt: string) {
    const dueMs = Math.ceil((Date.parse(expiresAt) + 1) / expiryStepMs) * expiryStepMs;
    if (scheduledExpiries.has(dueMs)) return;
    scheduledExpiries.add(dueMs);
    const nowMs = Date.now();
    if (scheduledExpiries.size > 1000) {
      for (const at of scheduledExpiries) if (at < nowMs) scheduledExpiries.delete(at);
    }
    try {
      await deps.jobs.enqueue(
        'routing.expire-offers',
        { dueAtMs: dueMs },
        { jobId: `expire-at-${dueMs}`, delayMs: Math.max(1, dueMs - nowMs) },
      );
    } catch (error) {
      scheduledExpiries.delete(dueMs); // The next offer due then tries again.
      throw error;
    }
  }

  async function announce(
    claimed: { offerId: string; expiresAt: string },
    contact: RoutableContact,
    pick: AgentPick,
  ) {
    await scheduleExpiry(claimed.expiresAt);
    deps.events.publish('offer.created', {
      offerId: claimed.offerId,
      interactionId: contact.interactionId,
      agentId: pick.agentId,
      channel: contact.channel,
      expiresAt: claimed.expiresAt,
      reason: readable(pick.reason),
    });
  }

  async function claim(
    rules: RuleSet,
    queue: Queue,
    contact: RoutableContact,
    candidate: Candidate,
    pick: AgentPick,
    trigger: 'dispatch' | 'agent-available',
    passedOver: { agentId: string; why: string }[],
  ): Promise<ClaimResult> {
    const result = await deps.routing.claim(
      claimRequest(rules, queue, contact, candidate, pick, trigger, passedOver),
    );
    if (result.status === 'claimed') await announce(result, contact, pick);
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
      if (passedOver.length >= maxPassedOver) break;
      if (c.agentId === pickedId) continue;
      const why = declined.has(c.agentId)
        ? 'already declined or missed this contact'
        : (ineligibilityOf(c, contact) ?? `ranked below ${agentSnapshots.nameOf(pickedId) ?? pickedId}`);
      passedOver.push({ agentId: c.agentId, why });
    }
    return passedOver;
  }

  const noOne: ReadonlySet<string> = new Set();

  interface NewContact {
    facts: RoutingFacts;
    queue: Queue;
    decision: QueueDecision;
    /** A snapshot read started after the route began (read alongside the contact's facts). */
    view: Promise<RoutingView>;
  }
  interface Picked {
    contact: RoutableContact;
    pick: AgentPick | null;
    /** account-owner's wait-for: dispatch again at this instant. */
    recheckAtMs: number | null;
    reservation: Reservation | null;
  }

  /*
   * Picks of route groups in flight. Two groups may be in flight at once (each waits for its commit's WAL
   * flush), and the second picks from a snapshot read before the first committed: the first group's picks
   * are counted in the second's candidates (load, idle clock, rotation), as a dispatch pass counts its own
   * picks, until a snapshot read started after the first group's commit is in use (it has them then). The
   * claims stay the judge of capacity; this keeps picks fair (round-robin does not pick one agent twice).
   */
  interface Reservation {
    agentId: string;
    channel: Channel;
    atMs: number;
    rotation: AgentPick['rotation'];
    /** Set when the group's call returned: dropped once a view read after this numbered read is used. */
    settledAtRead: number | null;
  }
  const reservations = new Set<Reservation>();

  function withReservations(
    view: RoutingView,
    candidates: Candidate[],
    snapshot: RoutingSnapshot,
  ): RoutingSnapshot {
    for (const r of reservations)
      if (r.settledAtRead !== null && view.readNumber > r.settledAtRead) reservations.delete(r);
    if (reservations.size === 0) return snapshot;
    const indexOf = new Map(candidates.map((c, i) => [c.agentId, i]));
    let rotations = snapshot.rotations;
    for (const r of reservations) {
      const i = indexOf.get(r.agentId);
      const c = i === undefined ? undefined : candidates[i];
      if (c && i !== undefined) {
        candidates[i] = {
          ...c,
          load: { ...c.load, [r.channel]: (c.load[r.channel] ?? 0) + 1 },
          idleSinceMs: Math.max(c.idleSinceMs, r.atMs),
        };
      }
      if (r.rotation) rotations = { ...rotations, [r.rotation.queueId]: r.rotation.state };
    }
    return { ...snapshot, rotations };
  }

  /**
   * A group's enqueues and claims in two transactions on two connections at once, split so that no agent is
   * in both (no lock waits between them): Postgres works on both at once, on two cores. Results in the
   * requests' order.
   */
  async function routeInParts(requests: RouteContactRequest[]): Promise<RouteContactResult[]> {
    if (requests.length < 2) return deps.routing.routeContacts(requests);
    const parts: [number[], number[]] = [[], []];
    const partOfAgent = new Map<string, 0 | 1>();
    requests.forEach((request, i) => {
      const agentId = request.claim?.agentId;
      let part = agentId === undefined ? undefined : partOfAgent.get(agentId);
      part ??= parts[0].length <= parts[1].length ? 0 : 1;
      if (agentId !== undefined) partOfAgent.set(agentId, part);
      parts[part].push(i);
    });
    if (parts[1].length === 0) return deps.routing.routeContacts(requests);
    const answers = await Promise.all(
      parts.map((part) => deps.routing.routeContacts(part.map((i) => requests[i]!))),
    );
    const results = new Map<number, RouteContactResult>();
    parts.forEach((part, p) => part.forEach((i, k) => results.set(i, answers[p]![k]!)));
    return requests.map((_, i) => results.get(i)!);
  }

  /**
   * New contacts for open queues, as many as arrived together: each is picked for in turn from one
   * snapshot, each pick counted in the candidates the next one sees (load, idle clock, rotation) as a
   * dispatch pass does, and all are enqueued and claimed in one transaction.
   */
  async function routeGroup(group: NewContact[]): Promise<(DispatchOutcome | Error)[]> {
    const rules = requireRules(deps.rules);
    // The newest of the group's snapshot reads (each started after its contact's route began).
    let view = await group[0]!.view;
    for (const other of group.slice(1)) {
      const candidate = await other.view;
      if (candidate.readNumber > view.readNumber) view = candidate;
    }
    const nowMs = now().getTime();
    const candidates = candidatesOf(view.agents, rules);
    let snapshot = withReservations(view, candidates, { nowMs, rotations: view.rotations });
    const picked: Picked[] = [];
    const requests: RouteContactRequest[] = group.map(({ facts, queue, decision }) => {
      const contact: RoutableContact = {
        interactionId: facts.interactionId,
        queueId: queue.name,
        channel: facts.channel,
        requiredSkills: queue.requiredSkills,
        customerId: facts.customerId,
        accountOwnerId: facts.accountOwnerId,
        recentAgents: facts.recentAgents,
        priority: decision.priority,
        enqueuedAtMs: nowMs,
      };
      const { strategy, options } = strategyOf(queue, rules);
      const decided = candidates.length > 0 ? strategy(candidates, contact, snapshot, options) : null;
      const index =
        decided?.kind === 'pick' ? candidates.findIndex((c) => c.agentId === decided.agentId) : -1;
      const request: RouteContactRequest = {
        interactionId: facts.interactionId,
        channel: facts.channel,
        queue: queue.name,
        priority: decision.priority,
        queuedEvent: decision.event,
        claim: null,
      };
      if (decided?.kind !== 'pick' || index < 0) {
        picked.push({
          contact,
          pick: null,
          recheckAtMs: decided?.kind === 'wait-for' ? decided.untilMs : null,
          reservation: null,
        });
        return request;
      }
      const candidate = candidates[index]!;
      const passedOver = explainPassedOver(candidates, contact, decided.agentId, noOne);
      const claim = claimRequest(rules, queue, contact, candidate, decided, 'dispatch', passedOver);
      // As the claim will leave them, for the picks after this one (the claim itself re-checks all).
      candidates[index] = {
        ...candidate,
        load: { ...candidate.load, [contact.channel]: (candidate.load[contact.channel] ?? 0) + 1 },
        idleSinceMs: nowMs,
      };
      snapshot = applyRotation(snapshot, decided);
      const reservation: Reservation = {
        agentId: decided.agentId,
        channel: contact.channel,
        atMs: nowMs,
        rotation: decided.rotation,
        settledAtRead: null,
      };
      reservations.add(reservation);
      picked.push({ contact, pick: decided, recheckAtMs: null, reservation });
      return { ...request, claim };
    });

    let results: RouteContactResult[];
    try {
      results = await routeInParts(requests);
    } catch (error) {
      for (const { reservation } of picked) if (reservation) reservations.delete(reservation);
      throw error;
    }
    const readNumber = agentSnapshots.readsStarted();
    results.forEach((result, i) => {
      const { reservation } = picked[i]!;
      if (!reservation) return;
      // A claim that did not happen counts no more; one that did, until the snapshot has it.
      if (result.status === 'claimed') reservation.settledAtRead = readNumber;
      else reservations.delete(reservation);
    });
    return Promise.all(
      results.map(async (result, i): Promise<DispatchOutcome | Error> => {
        const { contact, pick, recheckAtMs } = picked[i]!;
        const outcome: DispatchOutcome = { offers: [], lostRaces: 0 };
        // This contact's part was rolled back (it stays 'new': the sweep routes it again); the others stand.
        if (result.status === 'failed')
          return new Error(`routing ${contact.interactionId} failed: ${result.error}`);
        if (result.status === 'not_new') return outcome;
        deps.events.publish('interaction.queued', {
          interactionId: contact.interactionId,
          queue: contact.queueId,
          priority: contact.priority,
        });
        if (result.status === 'claimed' && pick) {
          await announce(result, contact, pick);
          outcome.offers.push({
            offerId: result.offerId,
            interactionId: contact.interactionId,
            agentId: pick.agentId,
            channel: contact.channel,
            expiresAt: result.expiresAt,
          });
          return outcome;
        }
        if (recheckAtMs !== null) await recheckAt(contact.interactionId, recheckAtMs);
        if (result.status === 'queued' && result.agent) {
          // The snapshot was stale (the agent filled up or left): anyone else may take it now.
          const again = await dispatcher.dispatch({ interactionIds: [contact.interactionId] });
          return { offers: again.offers, lostRaces: again.lostRaces + 1 };
        }
        return outcome;
      }),
    );
  }
  const routeGrouped = groupCalls(routeGroup, { maxInFlight: 4, maxBatch: 32 });

  // New contacts' facts, read together with the agents' changes (one statement for the whole group).
  const readGrouped = groupCalls(
    async (requests: { interactionId: string; recentWindowMs: number }[]) => {
      const read = agentSnapshots.beginRead();
      const { facts, changes } = await deps.routing.routingFactsWithChanges(requests, read.since);
      const view = read.applied(changes);
      return facts.map((f) => ({ facts: f, view }));
    },
    { maxInFlight: 4, maxBatch: 64 },
  );

  const dispatcher = {
    /**
     * A new contact's facts (RoutingRepository.routingFacts) and a snapshot of the agents read with them,
     * for routeNew; grouped with other new contacts under load.
     */
    readNew(
      interactionId: string,
      recentWindowMs: number,
    ): Promise<{ facts: RoutingFacts | undefined; view: Promise<RoutingView> }> {
      return readGrouped({ interactionId, recentWindowMs });
    },

    /**
     * A new contact for an open queue, enqueued and offered in one step (grouped with those arriving at the
     * same time: routeGroup). When the snapshot was stale (the agent filled up meanwhile), the contact is
     * queued and dispatched as any waiting contact.
     */
    async routeNew(
      facts: RoutingFacts,
      queue: Queue,
      decision: QueueDecision,
      view: Promise<RoutingView>,
    ): Promise<DispatchOutcome> {
      const outcome = await routeGrouped({ facts, queue, decision, view });
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },

    /**
     * One pass over the best `batchSize` waiting contacts (or only `interactionIds`, e.g. the contact just
     * enqueued): each is offered to the agent its queue's strategy picks among the agents who have not
     * declined it, if anyone can take it now.
     */
    async dispatch(options: { interactionIds?: readonly string[] } = {}): Promise<DispatchOutcome> {
      const rules = requireRules(deps.rules);
      const windowMs = rules.options.recentAgentWindowDays * 86_400_000;
      const [waiting, { agents, rotations }] = await Promise.all([
        deps.routing.waitingContacts(batchSize, windowMs, options.interactionIds),
        agentSnapshots.view(),
      ]);
      const outcome: DispatchOutcome = { offers: [], lostRaces: 0 };
      if (waiting.length === 0 || agents.length === 0) return outcome;
      const candidates = candidatesOf(agents, rules);
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
      const [agent] = await agentSnapshots.workingAgents(agentId);
      const outcome: DispatchOutcome = { offers: [], lostRaces: 0 };
      if (!agent) return outcome;
      let candidate = toCandidate(agent, rules);
      // Only the queues this agent could serve: the best waiting contacts of the others would otherwise
      // fill the batch and leave them nothing, however many of theirs wait further down.
      const servable = servableQueues(candidate, rules);
      if (servable.length === 0) return outcome;
      const [waiting, rotations] = await Promise.all([
        deps.routing.waitingContacts(batchSize, windowMs, undefined, servable),
        deps.routing.rotations(),
      ]);
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
  return dispatcher;
}

export type Dispatcher = ReturnType<typeof createDispatcher>;

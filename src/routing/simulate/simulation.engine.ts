/*
 * The simulation core: replays recorded arrivals and agent availability against a rule set on a discrete-event
 * clock (nothing waits for real time) and reports what routing would have done. Pure: rules and events in,
 * report out; no clock, disk or database.
 *
 * It routes with the live engine's own functions, never a copy: `matchRule` and `openingStatus` (rule-matcher),
 * `toCandidate` and `toRoutable` (dispatch.service: agents and contacts as the strategies see them, escalation's
 * relaxed levels and added queues included), the queue's strategy (`strategies[queue.strategy]`,
 * `applyRotation`, `ineligibilityOf`) and `planEscalation` (escalation.service). What the services do around
 * them is followed step by step, since it is written against the database:
 *   - enqueue (queueing.service, routing.service `route`): the first matching rule; a closed queue's after-hours
 *     move-to is one hop (a second closed queue keeps the contact); close-with-message ends the contact;
 *     voicemail and queue leave it waiting in its queue, not dispatched; an open queue dispatches it at once.
 *   - dispatch (dispatch.service): waiting contacts best first (priority desc, then arrival, then id),
 *     `batchSize` at a time, contacts of a closed queue skipped; a new or escalated contact is dispatched on its
 *     own, every waiting contact after a reject, a timeout or a withdrawal; an agent who becomes able to work is
 *     offered the best waiting contacts they can take, each queue's strategy deciding with that agent as the
 *     only candidate; an account-owner `wait-for` dispatches the contact again at its deadline. The strategy
 *     options come from the dispatcher's own `strategyOf`.
 *   - offers (offers.service, the settle function): a reject or a timeout puts the contact back and it is
 *     never offered to that agent again; `missesBeforeAway` timeouts in a row set the agent away, and their
 *     other live offers are withdrawn.
 *   - escalation (escalation.service): steps by seconds waited in the current queue, applied to waiting
 *     contacts only (a step that falls due during an offer is applied when the contact waits again).
 *   - close and wrap-up (routing-control repository `releaseLoad`): at the end of the handle time the load is
 *     released; an agent on a contact with no open contact or offer left goes to wrap-up for the contact's
 *     queue's `wrapUpSeconds`, or is available (idle from now) when that is 0; then offered more work.
 *   - an agent going away or offline has their live offers withdrawn (the contact waits again, not declined).
 * When a closed queue opens, its waiting contacts are dispatched (live, the repeating sweep's dispatch pass
 * does it within OFFER_SWEEP_MS).
 *
 * The clock: file events run in time order (ties in file order). At one instant, timers the simulation set
 * (answers, ends of work, abandonments, escalations, openings) run before the file's events.
 */
import type { WaitingContact } from '../../db/repositories/routing.repository.js';
import { channels } from '../../interactions/inbound-contact.js';
import { strategyOf, toCandidate, toRoutable } from '../dispatch.service.js';
import { planEscalation } from '../escalation.service.js';
import { matchRule, nextEscalationAfter, openingStatus } from '../rules/rule-matcher.js';
import type { AfterHoursAction, Queue, RuleSet } from '../rules/rules.schema.js';
import type {
  AgentId,
  AgentState,
  Candidate,
  Channel,
  InteractionId,
  QueueId,
  RecentAgent,
  RoutableContact,
  RoutingSnapshot,
  Strategy,
  StrategyOptions,
} from '../routing.types.js';
import { applyRotation, ineligibilityOf } from '../strategies/index.js';
import type { AgentChange, Arrival, Presence, RecordedOffer, SimulationEvent } from './arrivals.schema.js';
import { EventQueue } from './event-queue.js';
import {
  buildReport,
  type AgentResult,
  type ContactResult,
  type SimulationReport,
} from './simulation.report.js';
import { SortedList } from './sorted-list.js';

export interface SimulationOptions {
  /** Seconds an agent takes to accept an offer the file has no recorded answer for. */
  answerSeconds?: number;
  /** Handle time per channel for arrivals without `handleSeconds`. */
  handleSeconds?: Partial<Record<Channel, number>>;
  /** Waiting contacts looked at per dispatch, as the live dispatcher's batch. */
  batchSize?: number;
  /** Called every `progressEvery` file events and once at the end. */
  onProgress?: (progress: { done: number; total: number }) => void;
  progressEvery?: number;
}

export const simulationDefaults = {
  answerSeconds: 5,
  handleSeconds: { voice: 300, chat: 600, email: 900, fax: 300 },
  batchSize: 200,
  progressEvery: 10_000,
} as const satisfies {
  answerSeconds: number;
  handleSeconds: Record<Channel, number>;
  batchSize: number;
  progressEvery: number;
};

export interface SimulationResult {
  report: SimulationReport;
  contacts: ContactResult[];
}

/** Replays `events` (any order; sorted by time here, ties in the given order) against `rules`. */
export function simulate(
  rules: RuleSet,
  events: readonly SimulationEvent[],
  options: SimulationOptions = {},
): SimulationReport {
  return replay(rules, events, options).report;
}

/** `simulate`, keeping every contact's outcome as well as the report. */
export function replay(
  rules: RuleSet,
  events: readonly SimulationEvent[],
  options: SimulationOptions = {},
): SimulationResult {
  const sorted = events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => a.event.atMs - b.event.atMs || a.index - b.index)
    .map((e) => e.event);
  const run = new Simulation(rules, options);
  const every = options.progressEvery ?? simulationDefaults.progressEvery;
  sorted.forEach((event, i) => {
    run.apply(event);
    if (options.onProgress && (i + 1) % every === 0)
      options.onProgress({ done: i + 1, total: sorted.length });
  });
  const result = run.finish();
  options.onProgress?.({ done: sorted.length, total: sorted.length });
  return result;
}

/** How far ahead a closed queue's next opening is looked for; beyond it, the queue counts as closed for good. */
const openingHorizonMs = 31 * 86_400_000;

type ContactStatus = 'new' | 'waiting' | 'offered' | 'assigned' | 'done';

interface LiveOffer {
  seq: number;
  agent: SimAgent;
  outcome: RecordedOffer['outcome'];
}

interface SimContact {
  arrival: Arrival;
  /** The queue the contact was queued in (the rule's, or its after-hours move-to): the report counts it here. */
  queuedIn: QueueId;
  /** Where it waits now (escalation may move it). */
  queue: QueueId;
  priority: number;
  status: ContactStatus;
  outcome: ContactResult['outcome'] | null;
  queueEnteredAtMs: number;
  /** Escalation steps of the current queue applied so far, and what they changed. */
  escalationStep: number;
  relaxLevels: number;
  extraQueues: QueueId[];
  /** Bumped on every queue entry: escalation timers of an earlier entry are stale. */
  entry: number;
  declined: Set<AgentId>;
  /** Recorded answers not used yet, in file order. */
  recordedOffers: RecordedOffer[];
  offer: LiveOffer | null;
  answeredAtMs: number | null;
  agentId: AgentId | null;
  /** The pending account-owner re-dispatch, so that repeated waits schedule one timer. */
  retryAtMs: number | null;
}

interface SimAgent {
  agentId: AgentId;
  presence: Presence;
  skills: Readonly<Record<string, number>>;
  capacityOverrides: Partial<Record<Channel, number>>;
  /** Live offers and accepted work, per channel, as agent_loads counts them. */
  loads: Partial<Record<Channel, number>>;
  /** Accepted contacts still open. */
  working: number;
  liveOffers: Set<SimContact>;
  wrapUntilMs: number | null;
  wrapToken: number;
  idleSinceMs: number;
  missesInARow: number;
  accruedToMs: number;
  /** The agent as the strategies see them; null after any change (see #beforeChange). */
  candidate: Candidate | null;
  result: AgentResult;
}

type Timer =
  | { kind: 'answer'; contact: SimContact; seq: number }
  | { kind: 'handled'; contact: SimContact }
  | { kind: 'wrap-end'; agent: SimAgent; token: number }
  | { kind: 'abandon'; contact: SimContact }
  | { kind: 'escalate'; contact: SimContact; entry: number }
  | { kind: 'queue-opens'; queue: QueueId }
  | { kind: 'retry'; contact: SimContact };

const isWorkingState = (state: AgentState) => state === 'available' || state === 'on_contact';
const totalLoad = (agent: SimAgent) => channels.reduce((sum, c) => sum + (agent.loads[c] ?? 0), 0);

/** Waiting order, as the live dispatcher's query: priority desc, then arrival, then id. */
function compareWaiting(a: SimContact, b: SimContact): number {
  const x = a.arrival.interactionId;
  const y = b.arrival.interactionId;
  return b.priority - a.priority || a.arrival.atMs - b.arrival.atMs || (x < y ? -1 : x > y ? 1 : 0);
}

/** The channels a candidate has room on now, by the strategies' own eligibility rule (skills aside). */
function roomByChannel(candidate: Candidate): Set<Channel> {
  const room = new Set<Channel>();
  for (const channel of channels) {
    const probe: RoutableContact = {
      interactionId: '',
      queueId: '',
      channel,
      requiredSkills: [],
      customerId: '',
      accountOwnerId: null,
      recentAgents: [],
      priority: 0,
      enqueuedAtMs: 0,
    };
    if (ineligibilityOf(candidate, probe) === null) room.add(channel);
  }
  return room;
}

/** One run. Feed events in time order with `apply`, then `finish`. */
export class Simulation {
  readonly #rules: RuleSet;
  readonly #answerSeconds: number;
  readonly #handleSeconds: Record<Channel, number>;
  readonly #batchSize: number;
  readonly #timers = new EventQueue<Timer>();
  readonly #contacts = new Map<InteractionId, SimContact>();
  readonly #agents = new Map<AgentId, SimAgent>();
  /** The same agents by agentId, the order the dispatcher reads them in. */
  readonly #agentList: SimAgent[] = [];
  readonly #waiting = new SortedList<SimContact>(compareWaiting);
  readonly #openNow = new Map<QueueId, { minute: number; isOpen: boolean }>();
  readonly #opening = new Map<QueueId, { fromMs: number; opensAtMs: number | null }>();
  readonly #openingScheduled = new Map<QueueId, number>();
  /** Who served each customer and when, newest kept: seeded from the file, then the simulation's own. */
  readonly #served = new Map<string, Map<AgentId, number>>();
  #rotations: RoutingSnapshot['rotations'] = {};
  #nowMs = Number.NEGATIVE_INFINITY;
  /** Set once the file's events are all applied: from then on, only busy time counts as staffed. */
  #isDraining = false;
  #offerSeq = 0;
  #arrivals = 0;
  #agentEvents = 0;
  #firstAtMs: number | null = null;
  #lastAtMs: number | null = null;

  constructor(rules: RuleSet, options: SimulationOptions = {}) {
    this.#rules = rules;
    this.#answerSeconds = options.answerSeconds ?? simulationDefaults.answerSeconds;
    this.#handleSeconds = { ...simulationDefaults.handleSeconds, ...options.handleSeconds };
    this.#batchSize = options.batchSize ?? simulationDefaults.batchSize;
  }

  /** Runs every timer due up to the event's time, then the event. Events must come in time order. */
  apply(event: SimulationEvent): void {
    if (event.atMs < this.#nowMs)
      throw new RangeError(
        `events out of time order: ${new Date(event.atMs).toISOString()} after a later one`,
      );
    this.#runTimers(event.atMs);
    this.#nowMs = event.atMs;
    this.#firstAtMs ??= event.atMs;
    this.#lastAtMs = event.atMs;
    if (event.type === 'arrival') this.#arrive(event);
    else this.#changeAgent(event);
  }

  /** Runs the remaining timers (work in progress ends, waiting contacts are served or not) and reports. */
  finish(): SimulationResult {
    this.#isDraining = true;
    this.#runTimers(Number.POSITIVE_INFINITY);
    for (const agent of this.#agents.values()) this.#beforeChange(agent);
    const contacts: ContactResult[] = [];
    for (const contact of this.#contacts.values()) {
      const answered = contact.answeredAtMs;
      contacts.push({
        interactionId: contact.arrival.interactionId,
        channel: contact.arrival.channel,
        queue: contact.queuedIn,
        finalQueue: contact.queue,
        outcome: contact.outcome ?? 'unanswered',
        waitSeconds: answered === null ? null : (answered - contact.arrival.atMs) / 1000,
        agentId: contact.agentId,
        actual: contact.arrival.actual,
      });
    }
    const report = buildReport({
      rules: this.#rules,
      contacts,
      agents: this.#agentList.map((a) => a.result),
      input: {
        arrivals: this.#arrivals,
        agentEvents: this.#agentEvents,
        firstAtMs: this.#firstAtMs,
        lastAtMs: this.#lastAtMs,
      },
      options: { answerSeconds: this.#answerSeconds, handleSeconds: this.#handleSeconds },
    });
    return { report, contacts };
  }

  #runTimers(untilMs: number): void {
    for (;;) {
      const next = this.#timers.peekTime();
      if (next === undefined || next > untilMs) return;
      const { atMs, item } = this.#timers.pop()!;
      this.#nowMs = atMs;
      this.#fire(item);
    }
  }

  #schedule(atMs: number, timer: Timer): void {
    this.#timers.push(Math.max(atMs, this.#nowMs), timer);
  }

  #fire(timer: Timer): void {
    switch (timer.kind) {
      case 'answer':
        return this.#answer(timer.contact, timer.seq);
      case 'handled':
        return this.#handled(timer.contact);
      case 'wrap-end':
        return this.#wrapEnd(timer.agent, timer.token);
      case 'abandon':
        return this.#abandon(timer.contact);
      case 'escalate':
        if (timer.entry === timer.contact.entry && timer.contact.status === 'waiting')
          this.#escalate(timer.contact);
        return;
      case 'queue-opens':
        return this.#queueOpens(timer.queue);
      case 'retry':
        timer.contact.retryAtMs = null;
        if (timer.contact.status === 'waiting') this.#dispatch([timer.contact]);
        return;
    }
  }

  // ---- Arrivals, queues and hours. ----

  #arrive(arrival: Arrival): void {
    this.#arrivals += 1;
    if (this.#contacts.has(arrival.interactionId)) return; // The reader refuses a second arrival.
    for (const recent of arrival.recentAgents) this.#recordServed(arrival.customerId, recent);
    // A loaded rule set ends with a catch-all rule, so every contact matches.
    const match = matchRule(this.#rules.rules, arrival.facts, new Date(arrival.atMs))!;
    const { queueName, afterHours } = this.#queueFor(match.queue);
    const contact: SimContact = {
      arrival,
      queuedIn: queueName,
      queue: queueName,
      priority: match.priority,
      status: 'new',
      outcome: null,
      queueEnteredAtMs: arrival.atMs,
      escalationStep: 0,
      relaxLevels: 0,
      extraQueues: [],
      entry: 0,
      declined: new Set(),
      recordedOffers: [...arrival.offers],
      offer: null,
      answeredAtMs: null,
      agentId: null,
      retryAtMs: null,
    };
    this.#contacts.set(arrival.interactionId, contact);
    if (afterHours?.action === 'close-with-message') {
      contact.status = 'done';
      contact.outcome = 'after-hours';
      return;
    }
    if (arrival.patienceSeconds !== null)
      this.#schedule(arrival.atMs + arrival.patienceSeconds * 1000, { kind: 'abandon', contact });
    this.#enterQueue(contact, queueName);
    // Closed (voicemail or queue): the contact waits; dispatch would skip it anyway.
    if (afterHours) this.#scheduleOpening(queueName);
    else this.#dispatch([contact]);
  }

  /** The queue a new contact is queued in and the after-hours action that applies, as queueing.service. */
  #queueFor(ruleQueue: QueueId): { queueName: QueueId; afterHours: AfterHoursAction | null } {
    let queueName = ruleQueue;
    let queue = this.#rules.queues.get(queueName);
    let afterHours = queue && !this.#isOpenNow(queue) ? queue.afterHours : null;
    if (afterHours?.action === 'move-to') {
      queueName = afterHours.queue;
      queue = this.#rules.queues.get(queueName);
      afterHours =
        queue && !this.#isOpenNow(queue) && queue.afterHours.action !== 'move-to' ? queue.afterHours : null;
    }
    return { queueName, afterHours };
  }

  /**
   * `openingStatus` now, remembered for the minute: calendars are in whole minutes, and every zone in use is
   * offset from UTC by whole minutes, so the answer cannot change within a UTC minute.
   */
  #isOpenNow(queue: Queue): boolean {
    if (!queue.hours) return true;
    const minute = Math.floor(this.#nowMs / 60_000);
    const cached = this.#openNow.get(queue.name);
    if (cached?.minute === minute) return cached.isOpen;
    const isOpen = openingStatus(queue, new Date(this.#nowMs)).isOpen;
    this.#openNow.set(queue.name, { minute, isOpen });
    return isOpen;
  }

  /** Makes sure the queue's waiting contacts are dispatched when the (closed) queue next opens. */
  #scheduleOpening(queueName: QueueId): void {
    const queue = this.#rules.queues.get(queueName);
    if (!queue) return;
    const opensAtMs = this.#opensAt(queue);
    if (opensAtMs === null || this.#openingScheduled.get(queueName) === opensAtMs) return;
    this.#openingScheduled.set(queueName, opensAtMs);
    this.#schedule(opensAtMs, { kind: 'queue-opens', queue: queueName });
  }

  /** The next minute at which `openingStatus` says the queue is open, within the horizon; else null. */
  #opensAt(queue: Queue): number | null {
    const cached = this.#opening.get(queue.name);
    if (
      cached &&
      this.#nowMs >= cached.fromMs &&
      this.#nowMs < (cached.opensAtMs ?? cached.fromMs + openingHorizonMs)
    )
      return cached.opensAtMs;
    const start = Math.floor(this.#nowMs / 60_000) * 60_000 + 60_000;
    let opensAtMs: number | null = null;
    for (let t = start; t <= this.#nowMs + openingHorizonMs; t += 60_000) {
      if (openingStatus(queue, new Date(t)).isOpen) {
        opensAtMs = t;
        break;
      }
    }
    this.#opening.set(queue.name, { fromMs: this.#nowMs, opensAtMs });
    return opensAtMs;
  }

  #queueOpens(queueName: QueueId): void {
    this.#openingScheduled.delete(queueName);
    const waiting: SimContact[] = [];
    for (const contact of this.#contacts.values())
      if (contact.status === 'waiting' && contact.queue === queueName) waiting.push(contact);
    this.#dispatch(waiting);
  }

  /** The contact waits in `queueName` from now, its escalation starting over there. */
  #enterQueue(contact: SimContact, queueName: QueueId): void {
    contact.queue = queueName;
    contact.queueEnteredAtMs = this.#nowMs;
    contact.escalationStep = 0;
    contact.relaxLevels = 0;
    contact.extraQueues = [];
    contact.entry += 1;
    if (contact.status === 'new') {
      contact.status = 'waiting';
      this.#waiting.insert(contact);
    }
    this.#scheduleEscalation(contact);
  }

  #scheduleEscalation(contact: SimContact): void {
    const queue = this.#rules.queues.get(contact.queue);
    if (!queue) return;
    const next = nextEscalationAfter(queue, (this.#nowMs - contact.queueEnteredAtMs) / 1000);
    if (next !== null)
      this.#schedule(contact.queueEnteredAtMs + next * 1000, {
        kind: 'escalate',
        contact,
        entry: contact.entry,
      });
  }

  /** Applies the steps due now to a waiting contact (planEscalation), then dispatches it. */
  #escalate(contact: SimContact): void {
    const queue = this.#rules.queues.get(contact.queue);
    if (!queue) return;
    const plan = planEscalation(
      queue,
      contact.escalationStep,
      (this.#nowMs - contact.queueEnteredAtMs) / 1000,
    );
    if (plan) {
      this.#reprioritize(contact, contact.priority + plan.raiseBy);
      if (plan.moveTo !== null) this.#enterQueue(contact, plan.moveTo);
      else {
        contact.escalationStep = plan.toStep;
        contact.relaxLevels += plan.relaxBy;
        for (const added of plan.addQueues)
          if (!contact.extraQueues.includes(added)) contact.extraQueues.push(added);
        this.#scheduleEscalation(contact);
      }
    } else this.#scheduleEscalation(contact);
    this.#dispatch([contact]);
  }

  #reprioritize(contact: SimContact, priority: number): void {
    if (priority === contact.priority) return;
    const isWaiting = contact.status === 'waiting';
    if (isWaiting) this.#waiting.remove(contact);
    contact.priority = priority;
    if (isWaiting) this.#waiting.insert(contact);
  }

  /** The customer leaves before anyone accepted: a live offer is withdrawn, the agent offered more work. */
  #abandon(contact: SimContact): void {
    if (contact.status !== 'waiting' && contact.status !== 'offered') return;
    if (contact.status === 'waiting') this.#waiting.remove(contact);
    const agent = contact.offer?.agent;
    contact.status = 'done';
    contact.outcome = 'abandoned';
    if (agent) {
      this.#cancelOffer(contact);
      this.#dispatchForAgent(agent);
    }
  }

  // ---- Agents. ----

  #agent(agentId: AgentId): SimAgent {
    let agent = this.#agents.get(agentId);
    if (!agent) {
      agent = {
        agentId,
        presence: 'offline',
        skills: {},
        capacityOverrides: {},
        loads: {},
        working: 0,
        liveOffers: new Set(),
        wrapUntilMs: null,
        wrapToken: 0,
        idleSinceMs: this.#nowMs,
        missesInARow: 0,
        accruedToMs: this.#nowMs,
        candidate: null,
        result: {
          agentId,
          handled: 0,
          offered: 0,
          rejected: 0,
          expired: 0,
          staffedSeconds: 0,
          busySeconds: 0,
          peakConcurrent: 0,
        },
      };
      this.#agents.set(agentId, agent);
      const index = this.#agentList.findIndex((a) => a.agentId > agentId);
      this.#agentList.splice(index < 0 ? this.#agentList.length : index, 0, agent);
    }
    return agent;
  }

  #stateOf(agent: SimAgent): AgentState {
    if (agent.presence !== 'available') return agent.presence;
    if (agent.wrapUntilMs !== null) return 'wrap_up';
    return agent.working > 0 ? 'on_contact' : 'available';
  }

  /**
   * Call before any change to the agent: drops the cached candidate and adds the time since the last change to
   * the staffed and busy totals. After the file's last event an agent is staffed only while finishing work (the
   * record says nothing more).
   */
  #beforeChange(agent: SimAgent): void {
    agent.candidate = null;
    const seconds = (this.#nowMs - agent.accruedToMs) / 1000;
    agent.accruedToMs = this.#nowMs;
    if (seconds <= 0 || agent.presence !== 'available') return;
    const isBusy = agent.working > 0 || agent.wrapUntilMs !== null;
    if (isBusy) agent.result.busySeconds += seconds;
    if (isBusy || !this.#isDraining) agent.result.staffedSeconds += seconds;
  }

  #changeAgent(change: AgentChange): void {
    this.#agentEvents += 1;
    const agent = this.#agent(change.agentId);
    this.#beforeChange(agent);
    const wasWorking = isWorkingState(this.#stateOf(agent));
    if (change.skills) agent.skills = change.skills;
    if (change.capacity) agent.capacityOverrides = { ...change.capacity };
    const from = agent.presence;
    if (change.presence === 'available' && from !== 'available') {
      // As agent_states: becoming available restarts the idle clock and forgets missed offers.
      agent.idleSinceMs = this.#nowMs;
      agent.missesInARow = 0;
    }
    if (change.presence !== from) {
      // A state the agent sets replaces wrap-up.
      agent.wrapUntilMs = null;
      agent.wrapToken += 1;
    }
    agent.presence = change.presence;
    if (change.presence !== 'available' && from !== change.presence && agent.liveOffers.size > 0) {
      // routing.service withdrawOffersOf: the contacts wait again (not declined), and everything is dispatched.
      for (const contact of [...agent.liveOffers]) {
        this.#cancelOffer(contact);
        this.#backToWaiting(contact);
      }
      this.#dispatch();
    }
    const isWorking = isWorkingState(this.#stateOf(agent));
    if (isWorking && (!wasWorking || change.skills || change.capacity)) this.#dispatchForAgent(agent);
  }

  #changeLoad(agent: SimAgent, channel: Channel, by: number): void {
    agent.loads = { ...agent.loads, [channel]: Math.max(0, (agent.loads[channel] ?? 0) + by) };
  }

  /** The agent as the strategies see them, built by the dispatcher's own `toCandidate`. */
  #candidate(agent: SimAgent): Candidate {
    if (agent.candidate) return agent.candidate;
    const state = this.#stateOf(agent);
    const candidate = toCandidate(
      {
        agentId: agent.agentId,
        state: state === 'on_contact' ? 'on_contact' : 'available',
        idleSinceMs: agent.idleSinceMs,
        skills: agent.skills,
        capacityOverrides: agent.capacityOverrides,
        loads: agent.loads,
      },
      this.#rules,
    );
    agent.candidate = { ...candidate, state };
    return agent.candidate;
  }

  // ---- Dispatch. ----

  /** The contact as the strategies see it, built by the dispatcher's own `toRoutable`. */
  #routable(contact: SimContact, queue: Queue): RoutableContact {
    const { arrival } = contact;
    const waiting: WaitingContact = {
      interactionId: arrival.interactionId,
      channel: arrival.channel,
      queue: queue.name,
      priority: contact.priority,
      customerId: arrival.customerId,
      enqueuedAtMs: arrival.atMs,
      accountOwnerId: arrival.accountOwnerId,
      recentAgents: [],
      declinedAgentIds: [],
      relaxLevels: contact.relaxLevels,
      extraQueues: contact.extraQueues,
    };
    const routable = toRoutable(waiting, queue, this.#rules);
    // Only account-owner reads who served the customer: the list is made on first read, not for every
    // contact every strategy looks at.
    let recentAgents: RecentAgent[] | undefined;
    return Object.defineProperty(routable, 'recentAgents', {
      enumerable: true,
      get: () => (recentAgents ??= this.#recentAgents(arrival.customerId)),
    });
  }

  /** Agents who served the customer within the rules' window, newest first, as the live query lists them. */
  #recentAgents(customerId: string): RecentAgent[] {
    const windowMs = this.#rules.options.recentAgentWindowDays * 86_400_000;
    const recent: RecentAgent[] = [];
    for (const [agentId, servedAtMs] of this.#served.get(customerId) ?? []) {
      if (servedAtMs > this.#nowMs - windowMs && servedAtMs <= this.#nowMs)
        recent.push({ agentId, servedAtMs });
    }
    return recent.sort((a, b) => b.servedAtMs - a.servedAtMs);
  }

  #strategyOf(queue: Queue): { strategy: Strategy; options: StrategyOptions } {
    return strategyOf(queue, this.#rules);
  }

  /** The contact's queue when it is open now; a closed queue's contacts wait for its opening. */
  #openQueueOf(contact: SimContact): Queue | null {
    const queue = this.#rules.queues.get(contact.queue);
    if (!queue) return null; // A queue missing from the rules: nothing can take it.
    if (this.#isOpenNow(queue)) return queue;
    this.#scheduleOpening(queue.name);
    return null;
  }

  /**
   * The dispatcher's pass: the best `batchSize` waiting contacts (all, or only `only`), each offered to its
   * strategy's pick among the working agents who have not declined it.
   */
  #dispatch(only?: readonly SimContact[]): void {
    const batch =
      only === undefined
        ? this.#waiting.first(this.#batchSize)
        : only
            .filter((c) => c.status === 'waiting')
            .sort(compareWaiting)
            .slice(0, this.#batchSize);
    if (batch.length === 0) return;
    const working = this.#agentList.filter((a) => isWorkingState(this.#stateOf(a)));
    if (working.length === 0) return;
    const candidates = working.map((a) => this.#candidate(a));
    for (const contact of batch) {
      if (contact.status !== 'waiting') continue;
      const queue = this.#openQueueOf(contact);
      if (!queue) continue;
      const routable = this.#routable(contact, queue);
      const { strategy, options } = this.#strategyOf(queue);
      const pool = candidates.filter((c) => !contact.declined.has(c.agentId));
      const decision = strategy(pool, routable, this.#snapshot(), options);
      if (decision?.kind === 'wait-for') this.#retryAt(contact, decision.untilMs);
      if (decision?.kind !== 'pick') continue;
      const agent = this.#agents.get(decision.agentId)!;
      this.#rotations = applyRotation(this.#snapshot(), decision).rotations;
      this.#offer(contact, agent);
      const index = candidates.findIndex((c) => c.agentId === agent.agentId);
      candidates[index] = this.#candidate(agent);
    }
  }

  /**
   * An agent who can take work now: the best waiting contacts they can take, until none is left. A contact the
   * agent is not eligible for is skipped before its strategy is asked, as live; the checks made before building
   * the contact (room on its channel, skills of its queue or an added one) only save work.
   */
  #dispatchForAgent(agent: SimAgent): void {
    if (!isWorkingState(this.#stateOf(agent))) return;
    let candidate = this.#candidate(agent);
    let room = roomByChannel(candidate);
    for (const contact of this.#waiting.first(this.#batchSize)) {
      if (room.size === 0) return;
      if (contact.status !== 'waiting' || contact.declined.has(agent.agentId)) continue;
      if (!room.has(contact.arrival.channel) || !this.#mayQualify(candidate, contact)) continue;
      const queue = this.#openQueueOf(contact);
      if (!queue) continue;
      const routable = this.#routable(contact, queue);
      if (ineligibilityOf(candidate, routable) !== null) continue;
      const { strategy, options } = this.#strategyOf(queue);
      const decision = strategy([candidate], routable, this.#snapshot(), options);
      if (decision?.kind === 'wait-for') this.#retryAt(contact, decision.untilMs);
      if (decision?.kind !== 'pick') continue;
      this.#rotations = applyRotation(this.#snapshot(), decision).rotations;
      this.#offer(contact, agent);
      candidate = this.#candidate(agent);
      room = roomByChannel(candidate);
    }
  }

  /** Whether the candidate holds the (relaxed) skills of the contact's queue or of a queue escalation added. */
  #mayQualify(candidate: Candidate, contact: SimContact): boolean {
    const relax = contact.relaxLevels;
    const holds = (queueName: QueueId) => {
      const queue = this.#rules.queues.get(queueName);
      if (!queue) return false;
      for (const { skill, minLevel } of queue.requiredSkills)
        if ((candidate.skills[skill] ?? 0) < Math.max(1, minLevel - relax)) return false;
      return true;
    };
    return holds(contact.queue) || contact.extraQueues.some(holds);
  }

  /** account-owner's wait: the contact is dispatched again at the deadline (once per deadline). */
  #retryAt(contact: SimContact, untilMs: number): void {
    if (contact.retryAtMs === untilMs) return;
    contact.retryAtMs = untilMs;
    this.#schedule(untilMs, { kind: 'retry', contact });
  }

  #snapshot(): RoutingSnapshot {
    return { nowMs: this.#nowMs, rotations: this.#rotations };
  }

  // ---- Offers and work. ----

  #offer(contact: SimContact, agent: SimAgent): void {
    this.#waiting.remove(contact);
    contact.status = 'offered';
    this.#beforeChange(agent);
    this.#changeLoad(agent, contact.arrival.channel, 1);
    agent.liveOffers.add(contact);
    agent.result.offered += 1;
    const queue = this.#rules.queues.get(contact.queue);
    const timeoutSeconds = queue?.offerTimeoutSeconds || this.#rules.options.offerTimeoutSeconds;
    const recordedIndex = contact.recordedOffers.findIndex((o) => o.agentId === agent.agentId);
    const recorded = recordedIndex >= 0 ? contact.recordedOffers.splice(recordedIndex, 1)[0] : undefined;
    let outcome: RecordedOffer['outcome'] = recorded?.outcome ?? 'accepted';
    let afterSeconds = recorded?.afterSeconds ?? this.#answerSeconds;
    // An answer that would come after the timeout is no answer: the offer expires first.
    if (outcome === 'expired' || afterSeconds >= timeoutSeconds) {
      outcome = 'expired';
      afterSeconds = timeoutSeconds;
    }
    const seq = ++this.#offerSeq;
    contact.offer = { seq, agent, outcome };
    this.#schedule(this.#nowMs + afterSeconds * 1000, { kind: 'answer', contact, seq });
  }

  /** Takes back a live offer (the customer left, the agent went away): the agent's load is released. */
  #cancelOffer(contact: SimContact): void {
    const agent = contact.offer?.agent;
    contact.offer = null;
    if (!agent) return;
    this.#beforeChange(agent);
    this.#changeLoad(agent, contact.arrival.channel, -1);
    agent.liveOffers.delete(contact);
  }

  /** The contact waits again; an escalation step that fell due meanwhile applies now. */
  #backToWaiting(contact: SimContact): void {
    contact.status = 'waiting';
    this.#waiting.insert(contact);
    const queue = this.#rules.queues.get(contact.queue);
    const plan =
      queue && planEscalation(queue, contact.escalationStep, (this.#nowMs - contact.queueEnteredAtMs) / 1000);
    if (plan) this.#escalate(contact);
  }

  #answer(contact: SimContact, seq: number): void {
    const offer = contact.offer;
    if (offer?.seq !== seq) return; // Withdrawn meanwhile.
    contact.offer = null;
    const { agent } = offer;
    this.#beforeChange(agent);
    agent.liveOffers.delete(contact);
    if (offer.outcome === 'accepted') {
      contact.status = 'assigned';
      contact.answeredAtMs = this.#nowMs;
      contact.agentId = agent.agentId;
      agent.working += 1;
      agent.missesInARow = 0;
      agent.result.handled += 1;
      agent.result.peakConcurrent = Math.max(agent.result.peakConcurrent, agent.working);
      this.#recordServed(contact.arrival.customerId, { agentId: agent.agentId, servedAtMs: this.#nowMs });
      const handle = contact.arrival.handleSeconds ?? this.#handleSeconds[contact.arrival.channel];
      this.#schedule(this.#nowMs + handle * 1000, { kind: 'handled', contact });
      return;
    }
    this.#changeLoad(agent, contact.arrival.channel, -1);
    contact.declined.add(agent.agentId);
    if (offer.outcome === 'rejected') {
      agent.result.rejected += 1;
      agent.missesInARow = 0;
    } else {
      agent.result.expired += 1;
      agent.missesInARow += 1;
      if (
        agent.missesInARow >= this.#rules.options.missesBeforeAway &&
        isWorkingState(this.#stateOf(agent))
      ) {
        agent.presence = 'away';
        // offers.service onSetAway -> withdrawOffersOf: the agent's other live offers wait again.
        for (const other of [...agent.liveOffers]) {
          this.#cancelOffer(other);
          this.#backToWaiting(other);
        }
      }
    }
    this.#backToWaiting(contact);
    this.#dispatch();
  }

  /** The end of the handle time: the agent's load is released, and wrap-up starts as releaseLoad starts it. */
  #handled(contact: SimContact): void {
    const agent = this.#agents.get(contact.agentId!)!;
    this.#beforeChange(agent);
    const wasOnContact = this.#stateOf(agent) === 'on_contact';
    contact.status = 'done';
    contact.outcome = 'answered';
    this.#changeLoad(agent, contact.arrival.channel, -1);
    agent.working -= 1;
    if (wasOnContact && totalLoad(agent) === 0) {
      const wrapUpSeconds = this.#rules.queues.get(contact.queue)?.wrapUpSeconds ?? 0;
      if (wrapUpSeconds > 0) {
        agent.wrapUntilMs = this.#nowMs + wrapUpSeconds * 1000;
        agent.wrapToken += 1;
        this.#schedule(agent.wrapUntilMs, { kind: 'wrap-end', agent, token: agent.wrapToken });
        return;
      }
      agent.idleSinceMs = this.#nowMs;
    }
    this.#dispatchForAgent(agent);
  }

  #wrapEnd(agent: SimAgent, token: number): void {
    if (token !== agent.wrapToken || agent.wrapUntilMs === null) return;
    this.#beforeChange(agent);
    agent.wrapUntilMs = null;
    agent.idleSinceMs = this.#nowMs;
    this.#dispatchForAgent(agent);
  }

  #recordServed(customerId: string, recent: RecentAgent): void {
    let served = this.#served.get(customerId);
    if (!served) {
      served = new Map();
      this.#served.set(customerId, served);
    }
    if ((served.get(recent.agentId) ?? Number.NEGATIVE_INFINITY) < recent.servedAtMs)
      served.set(recent.agentId, recent.servedAtMs);
  }
}

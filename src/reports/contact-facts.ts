/*
 * Contact facts: what the log says happened to each interaction, in the terms the metrics count (its visits to
 * queues, its handling by agents, the wrap-up that followed). Pure: rows in, facts out, no clock. The live
 * figures and the reports are both computed from these facts, so they cannot disagree. The definitions are in
 * README.md; this file only turns events into facts.
 *
 * Input mirrors two tables so that a repository can hand its rows over unchanged (snake_case mapped):
 *   LogEvent          an interaction_events row; events of one interaction in log order (by id), interactions
 *                     interleaved or not
 *   AgentStateChange  an agent_state_history row; each agent's changes in order of `at`
 *
 * Cost: one pass over E events (a Map lookup each; an object per queue visit and per handling, none for the
 * events that change nothing), then O(C log C + S) to tie wrap-ups to closes (C closes, S state changes).
 */
import type { ActorType, InteractionEventPayloads, InteractionEventType } from '../events.js';
import type { AgentId, AgentState, Channel } from '../routing/routing.types.js';

export type InteractionId = string;
export type QueueName = string;

interface LogEventRow {
  interactionId: InteractionId;
  channel: Channel;
  actorType: ActorType;
  actorId: string | null;
  occurredAt: Date;
}

/** One interaction_events row, its payload typed by its type. */
export type LogEvent = {
  [T in InteractionEventType]: LogEventRow & { type: T; payload: InteractionEventPayloads[T] };
}[InteractionEventType];

/** One agent_state_history row. */
export interface AgentStateChange {
  agentId: AgentId;
  state: AgentState;
  awayReason: string | null;
  at: Date;
}

/**
 * The queue of a visit the log does not name: an escalation's move-to logged before 2026-11-29 (without
 * movedTo) when no later event names the queue, or work assigned by hand before the contact was ever queued.
 */
export const unknownQueue = '(unknown queue)';

/**
 * How the contact came to wait in the queue: routed by the rules (`new`), routed again after a reopen,
 * sent there by a person (`transfer`: a transfer or assignment to the queue), or moved by an escalation step.
 */
export type VisitEntry = 'new' | 'reopened' | 'transfer' | 'escalation';

/**
 * How the visit ended: an agent took the contact (`answered`: an accepted offer, or an assignment or pull to
 * an agent); the customer left (`abandoned`); it went to another queue (`transferred`); it was closed by an
 * agent or the system while waiting (`closed`: an after-hours message, a supervisor's close); or the
 * customer said a suggested answer solved it and left (`self-served`).
 */
export type VisitOutcome = 'answered' | 'abandoned' | 'transferred' | 'closed' | 'self-served';

/** One stay of a contact in one queue, from entering it to leaving it. */
export interface QueueVisit {
  queue: QueueName;
  channel: Channel;
  /**
   * As set when the contact entered the queue; a raise-priority escalation during the visit changes the
   * priority of the visits that follow, not this one's.
   */
  priority: number;
  entry: VisitEntry;
  enteredAt: Date;
  /** False when the queue was closed (after hours) as the contact entered it. */
  isQueueOpen: boolean;
  /** Offers made during the visit (expired and rejected ones too). */
  offers: number;
  /** Null while the contact waits. */
  outcome: VisitOutcome | null;
  leftAt: Date | null;
  answeredBy: AgentId | null;
}

/** How an agent came to hold the contact: an accepted offer, or by hand (routing.transferred's kind). */
export type HandlingStart = 'offer' | 'assign' | 'transfer' | 'pull';

/**
 * One agent's stretch of work on one contact: from taking it to closing it or passing it on, then the wrap-up
 * that the close started (none after a transfer: routing releases a transferred contact without one).
 */
export interface Handling {
  agentId: AgentId;
  /** The queue it was answered from; `unknownQueue` when it never waited in one the log names. */
  queue: QueueName;
  channel: Channel;
  startedAt: Date;
  startedBy: HandlingStart;
  /** Null while the agent holds it. */
  endedAt: Date | null;
  endedBy: 'close' | 'transfer' | null;
  /** The agent's wrap_up state that this close started, if it did (see attachWrapUps). */
  wrapUpStartedAt: Date | null;
  /** Null while the wrap-up lasts, or when there was none. */
  wrapUpEndedAt: Date | null;
}

/**
 * The first reply an agent sent (message.sent with an agentId, not an automatic acknowledgment or
 * transcript): the first-response clock stops there. Its queue is the queue of the handling it was sent in
 * (the queue the contact was answered from), else the last queue the contact waited in.
 */
export interface FirstResponse {
  at: Date;
  agentId: AgentId;
  queue: QueueName;
}

/**
 * A close of a contact an agent held (interaction.closed while a handling was open): the resolution clock
 * stops there. A close while waiting (an abandon, an after-hours close, self-service) resolves nothing.
 */
export interface Resolution {
  at: Date;
  /** The agent who held it (interaction.closed's agentId when the log names it). */
  agentId: AgentId;
  /** The queue it was answered from. */
  queue: QueueName;
  /** The contact had been reopened before this close: its earlier close was counted already. */
  isAfterReopen: boolean;
}

/**
 * How a call left the IVR: the caller was served by it (`self-served`: the flow ended in a hangup step, or
 * the caller hung up after a lookup answered them), hung up mid-menu (`abandoned`), was handed to people
 * (`agent`, `callback`, `voicemail`: ivr.handedOff), or the contact was closed by an agent or the system.
 */
export type IvrOutcome = 'self-served' | 'abandoned' | 'agent' | 'callback' | 'voicemail' | 'closed';

/** A call's time in the IVR, from its first ivr.step (or hand-off) to leaving it. */
export interface IvrVisit {
  /** The flow of its first step ('' when only the hand-off was logged so far). */
  flow: string;
  enteredAt: Date;
  /** Null while the caller is still in the IVR. */
  leftAt: Date | null;
  outcome: IvrOutcome | null;
}

export interface ContactFacts {
  interactionId: InteractionId;
  channel: Channel;
  /** interaction.created's direction; null when the log given starts later. */
  direction: 'inbound' | 'outbound' | null;
  /** interaction.created's time (the first customer message of an inbound contact), else the first event's. */
  createdAt: Date;
  visits: QueueVisit[];
  handlings: Handling[];
  /** Null until an agent replied. Once per interaction: a reopen does not restart it. */
  firstResponse: FirstResponse | null;
  resolutions: Resolution[];
  /** Null for a contact that never met the IVR. */
  ivr: IvrVisit | null;
}

/**
 * The facts of every interaction in `events`, in the order each first appears, with wrap-ups tied to the
 * closes that started them. Give it every event of the interactions the figures are about (not only the
 * window's: a contact that entered yesterday and is answered today needs its routing.queued), and every
 * state change of their agents over the same span.
 */
export function buildContactFacts(
  events: Iterable<LogEvent>,
  agentChanges: readonly AgentStateChange[],
): ContactFacts[] {
  const builders = new Map<InteractionId, ContactBuilder>();
  const contacts: ContactFacts[] = [];
  for (const event of events) {
    let builder = builders.get(event.interactionId);
    if (builder === undefined) {
      builder = new ContactBuilder(event.interactionId, event.channel, event.occurredAt);
      builders.set(event.interactionId, builder);
      contacts.push(builder.facts);
    }
    builder.apply(event);
  }
  for (const builder of builders.values()) builder.finish();
  attachWrapUps(contacts, agentChanges);
  return contacts;
}

/** One interaction's facts as its events arrive: the open visit and the open handling, at most one each. */
class ContactBuilder {
  readonly facts: ContactFacts;
  #visit: QueueVisit | null = null;
  #handling: Handling | null = null;
  /** The queue and priority last known, for work that moves without naming them. */
  #queue: QueueName = unknownQueue;
  #priority = 0;
  #nextEntry: VisitEntry = 'new';
  /** The waiting customer accepted a suggested answer: the close that follows is self-service. */
  #isSelfServed = false;
  #isReopened = false;
  /**
   * What the IVR's outcome is decided from once every event is in (finish): the step log reaches the
   * interaction log in batches after the turn (channels/phone/step-log.ts), so a caller's last steps can
   * follow the close in log order while keeping the turn's time.
   */
  #ivr: {
    handedOff: { at: Date; to: 'agent' | 'callback' | 'voicemail' } | null;
    close: { at: Date; actorType: ActorType; reason: string | undefined } | null;
    isServed: boolean;
  } = { handedOff: null, close: null, isServed: false };

  constructor(interactionId: InteractionId, channel: Channel, firstAt: Date) {
    this.facts = {
      interactionId,
      channel,
      direction: null,
      createdAt: firstAt,
      visits: [],
      handlings: [],
      firstResponse: null,
      resolutions: [],
      ivr: null,
    };
  }

  apply(event: LogEvent): void {
    const at = event.occurredAt;
    switch (event.type) {
      case 'interaction.created':
        this.facts.direction = event.payload.direction;
        this.facts.createdAt = at;
        break;
      case 'interaction.reopened':
        this.#nextEntry = 'reopened';
        this.#isReopened = true;
        break;
      case 'message.sent': {
        const { agentId, automatic } = event.payload;
        if (this.facts.firstResponse !== null || agentId === undefined || automatic !== undefined) break;
        this.facts.firstResponse = { at, agentId, queue: this.#handling?.queue ?? this.#queue };
        break;
      }
      case 'ivr.step': {
        const { flow, kind, outcome } = event.payload;
        this.#ivrVisit(at, flow);
        if (kind === 'hangup' || (kind === 'lookup' && outcome === 'answered')) this.#ivr.isServed = true;
        break;
      }
      case 'ivr.handedOff':
        this.#ivrVisit(at, event.payload.flow);
        if (this.#ivr.handedOff === null && this.#ivr.close === null)
          this.#ivr.handedOff = { at, to: event.payload.to };
        break;
      case 'routing.queued': {
        const { queue, priority, isQueueOpen } = event.payload;
        this.#enter(queue, event.channel, at, this.#nextEntry, priority, isQueueOpen);
        this.#nextEntry = 'new';
        break;
      }
      case 'offer.created':
        if (this.#visit === null) break;
        this.#visit.offers += 1;
        this.#learnQueue(event.payload.queue);
        break;
      case 'offer.accepted':
        this.#take(event.payload.agentId, event.channel, at, 'offer');
        break;
      case 'routing.transferred': {
        const { payload } = event;
        if (payload.fromQueue !== null) this.#learnQueue(payload.fromQueue);
        this.#endHandling(at, 'transfer');
        if (payload.toAgentId !== undefined) this.#take(payload.toAgentId, event.channel, at, payload.kind);
        else if (payload.toQueue !== undefined)
          this.#enter(payload.toQueue, event.channel, at, 'transfer', this.#priority);
        break;
      }
      case 'routing.escalated': {
        // Logs before 2026-11-29 name neither the queue moved to nor the new priority: a later offer or
        // transfer names the queue, and the visit keeps the priority it entered with.
        const { action, movedTo, priority } = event.payload;
        if (priority !== undefined) this.#priority = priority;
        if (action === 'move-to' && this.#visit !== null)
          this.#enter(movedTo ?? unknownQueue, event.channel, at, 'escalation', this.#priority);
        break;
      }
      case 'cannedReply.accepted':
        if (this.#visit !== null) this.#isSelfServed = true;
        break;
      case 'interaction.closed': {
        this.#leave(
          at,
          this.#isSelfServed ? 'self-served' : event.actorType === 'customer' ? 'abandoned' : 'closed',
        );
        const handling = this.#handling;
        if (handling !== null)
          this.facts.resolutions.push({
            at,
            agentId: event.payload.agentId ?? handling.agentId,
            queue: handling.queue,
            isAfterReopen: this.#isReopened,
          });
        this.#endHandling(at, 'close');
        if (this.#ivr.handedOff === null && this.#ivr.close === null)
          this.#ivr.close = { at, actorType: event.actorType, reason: event.payload.reason };
        break;
      }
      default:
        // Messages, notes, offers declined or withdrawn, calls and IVR steps change no visit or handling.
        break;
    }
  }

  /** Decides how the call left the IVR, now that every step is in (see #ivr). */
  finish(): void {
    const visit = this.facts.ivr;
    if (visit === null) return;
    const { handedOff, close, isServed } = this.#ivr;
    if (handedOff !== null) {
      visit.leftAt = handedOff.at;
      visit.outcome = handedOff.to;
    } else if (close !== null) {
      visit.leftAt = close.at;
      visit.outcome =
        isServed || close.reason === ivrSelfServedReason
          ? 'self-served'
          : close.actorType === 'customer'
            ? 'abandoned'
            : 'closed';
    }
  }

  #ivrVisit(at: Date, flow: string) {
    const visit = this.facts.ivr;
    if (visit === null) this.facts.ivr = { flow, enteredAt: at, leftAt: null, outcome: null };
    else {
      if (visit.flow === '') visit.flow = flow;
      if (at < visit.enteredAt) visit.enteredAt = at;
    }
  }

  /** The contact starts waiting in `queue`; a visit still open ends as a transfer. */
  #enter(
    queue: QueueName,
    channel: Channel,
    at: Date,
    entry: VisitEntry,
    priority: number,
    isQueueOpen = true,
  ) {
    this.#leave(at, 'transferred');
    const visit: QueueVisit = {
      queue,
      channel,
      priority,
      entry,
      enteredAt: at,
      isQueueOpen,
      offers: 0,
      outcome: null,
      leftAt: null,
      answeredBy: null,
    };
    this.#visit = visit;
    this.facts.visits.push(visit);
    if (queue !== unknownQueue) this.#queue = queue;
    this.#priority = priority;
  }

  #leave(at: Date, outcome: VisitOutcome) {
    const visit = this.#visit;
    if (visit === null) return;
    visit.outcome = outcome;
    visit.leftAt = at;
    this.#visit = null;
    this.#isSelfServed = false;
  }

  /** An agent takes the contact: the waiting visit is answered, or the work passes from another agent. */
  #take(agentId: AgentId, channel: Channel, at: Date, startedBy: HandlingStart) {
    if (this.#visit !== null) {
      this.#visit.answeredBy = agentId;
      this.#leave(at, 'answered');
    }
    this.#endHandling(at, 'transfer');
    this.#handling = {
      agentId,
      queue: this.#queue,
      channel,
      startedAt: at,
      startedBy,
      endedAt: null,
      endedBy: null,
      wrapUpStartedAt: null,
      wrapUpEndedAt: null,
    };
    this.facts.handlings.push(this.#handling);
  }

  #endHandling(at: Date, endedBy: 'close' | 'transfer') {
    if (this.#handling === null) return;
    this.#handling.endedAt = at;
    this.#handling.endedBy = endedBy;
    this.#handling = null;
  }

  /** A queue an event names for a visit moved by escalation, whose queue the log did not name. */
  #learnQueue(queue: QueueName) {
    if (this.#visit?.queue === unknownQueue) this.#visit.queue = queue;
    this.#queue = queue;
  }
}

/** The reason the phone channel closes a call whose IVR flow ended in a hangup step. */
const ivrSelfServedReason = 'self-served in the IVR';

/**
 * The close and the wrap_up state it starts are written in one transaction (routing-control repository
 * `close`): the event's occurred_at is the transaction's start, the state history's `at` a moment later.
 */
const closeToWrapUpMs = 5_000;

/**
 * Ties each wrap_up state change to the close that started it: the agent's latest close at or before it (at
 * most closeToWrapUpMs before). Closes that left the agent other open work start no wrap-up; the agent's
 * next state change ends it. Sets the wrap-up fields of the handlings, which buildContactFacts just made.
 */
function attachWrapUps(contacts: readonly ContactFacts[], changes: readonly AgentStateChange[]) {
  const cursors = new Map<AgentId, { closes: Handling[]; next: number; open: Handling | null }>();
  for (const contact of contacts)
    for (const handling of contact.handlings) {
      if (handling.endedBy !== 'close') continue;
      let cursor = cursors.get(handling.agentId);
      if (cursor === undefined) {
        cursor = { closes: [], next: 0, open: null };
        cursors.set(handling.agentId, cursor);
      }
      cursor.closes.push(handling);
    }
  for (const cursor of cursors.values())
    cursor.closes.sort((a, b) => a.endedAt!.getTime() - b.endedAt!.getTime());

  for (const change of changes) {
    const cursor = cursors.get(change.agentId);
    if (cursor === undefined) continue;
    if (cursor.open !== null) {
      cursor.open.wrapUpEndedAt = change.at;
      cursor.open = null;
    }
    if (change.state !== 'wrap_up') continue;
    const atMs = change.at.getTime();
    while (cursor.next < cursor.closes.length && cursor.closes[cursor.next]!.endedAt!.getTime() <= atMs)
      cursor.next += 1;
    const close = cursor.closes[cursor.next - 1];
    if (close === undefined || close.wrapUpStartedAt !== null) continue;
    if (atMs - close.endedAt!.getTime() > closeToWrapUpMs) continue;
    close.wrapUpStartedAt = change.at;
    cursor.open = close;
  }
}

/*
 * The event catalogue: every event the unified log records and the core publishes, `noun.pastVerb`, with its
 * payload. The log (interaction_events) stores `type` and `payload` exactly as typed here; services publish
 * the same through the DomainEvents bus, which realtime/ and jobs subscribe to.
 */
import { EventEmitter } from 'node:events';
import type { Channel } from './interactions/inbound-contact.js';

export type ActorType = 'customer' | 'agent' | 'system';

/** What sla.warning and sla.breached say. */
export type SlaEventPayload = {
  metric: 'firstResponse' | 'nextResponse' | 'resolution';
  /** nextResponse: which customer message it answers (1, 2, ...); otherwise 0. */
  cycle: number;
  queue: string;
  targetSeconds: number;
  startedAt: string;
  dueAt: string;
  stoppedAt?: string;
  /** "first response due 14:30 (4h of business time) in billing". */
  reason: string;
  done?: string[];
};

/** Events recorded in the interaction log, by type. */
export interface InteractionEventPayloads {
  'interaction.created': {
    direction: 'inbound' | 'outbound';
    threadKey: string | null;
    subject: string | null;
    /** The closed interaction this one continues (a reply that came after its reopen window). */
    linkedInteractionId?: string;
  };
  /** A reply to a closed interaction reopened it (within its channel's reopen window); routed again. */
  'interaction.reopened': { reason: string | null };
  'message.received': {
    text?: string;
    html?: string;
    subject?: string;
    /** `id`: the bytes are kept by the core and served by `GET /api/attachments/:id`. */
    attachments?: { id?: string; fileName: string; contentType: string; sizeBytes: number }[];
    hints?: Record<string, unknown>;
    identities?: { kind: string; value: string }[];
    /** Channel facts (email: Message-ID, From, To, Cc, Date, problems a person should look at). */
    details?: Record<string, unknown>;
    /** Where a channel's own threading put the message, and why (see InboundContact.thread). */
    threading?: {
      outcome: 'joined' | 'reopened' | 'linked' | 'not-found';
      reason?: string;
      threadInteractionId?: string;
    };
  };
  /**
   * A reply, logged before delivery (message.delivered or message.failed follows): an agent's, or an
   * automatic one (`automatic`: an email acknowledgment), whose actor is the system. `cc` and `attachments`
   * (ids of kept files) where the channel carries them (email).
   */
  'message.sent': {
    text?: string;
    html?: string;
    agentId?: string;
    agentName?: string;
    subject?: string;
    cc?: string[];
    attachments?: { id: string; fileName: string; contentType: string; sizeBytes: number }[];
    automatic?: 'acknowledgment' | 'transcript';
    /** Sent on another channel than the interaction's (a web chat answered by email). */
    via?: Channel;
  };
  /**
   * The channel took the reply `messageEventId` (the message.sent event); `providerId` as the provider named
   * it (email: the Message-ID), `sent`: what went out (email: from, to, cc, subject, size).
   */
  'message.delivered': { messageEventId: string; providerId?: string; sent?: Record<string, unknown> };
  /** The reply could not be delivered: refused for good, out of retries, or bounced (`isBounce`) later. */
  'message.failed': { messageEventId: string; reason: string; isBounce?: boolean };
  /** A delivery status notification (bounce) for one of our messages, attached to its interaction. */
  'message.bounced': {
    bounceMessageId: string;
    messageEventId?: string;
    originalMessageId: string | null;
    recipients: string[];
    action: string | null;
    status: string | null;
    diagnostic: string | null;
  };
  'note.added': { text: string; agentId: string };
  /**
   * The interaction ended: `reason` says how ('agent closed', 'customer left', 'after hours: ...');
   * `wasWaiting` when the customer left before anyone was assigned (abandoned).
   */
  'interaction.closed': {
    reason?: string;
    disposition?: string;
    wasWaiting?: boolean;
    /** The agent who held it when it closed (logged from 2026-11-29 on; older closes do not say). */
    agentId?: string;
    /** That agent's wrap-up starts with this close: it was their last open contact. */
    wrapUpUntil?: string;
  };
  /** The first matching rule put the interaction in a queue. */
  'routing.queued': {
    queue: string;
    priority: number;
    rule: string;
    /** Which conditions held: "rule 'billing-keywords': keyword 'refund' in subject". */
    reason: string;
    isQueueOpen: boolean;
    /** "open: thu 08:00-12:00 America/New_York", "closed: holiday ..." */
    openingReason: string;
  };
  /** An agent was offered the interaction: "why was this routed to me" is `reason`. */
  'offer.created': {
    offerId: string;
    agentId: string;
    queue: string;
    /** The strategy that picked the agent (after an account-owner fallback, the secondary one). */
    strategy: string;
    reason: string;
    /** What started the pick: the dispatcher working the queue, or the agent freeing up. */
    trigger: 'dispatch' | 'agent-available';
    /** Candidates who were passed over, and why (at most a few dozen). */
    passedOver: { agentId: string; why: string }[];
    expiresAt: string;
  };
  'offer.accepted': { offerId: string; agentId: string; missesInARow: number };
  'offer.rejected': { offerId: string; agentId: string; reason: string | null; missesInARow: number };
  'offer.expired': { offerId: string; agentId: string; missesInARow: number };
  /** A live offer was withdrawn: the customer left, or the contact was assigned or transferred meanwhile. */
  'offer.cancelled': { offerId: string; agentId: string; reason: string };
  /** A supervisor assigned, an agent transferred, or an agent pulled the interaction. */
  'routing.transferred': {
    kind: 'assign' | 'transfer' | 'pull';
    byAgentId: string;
    fromAgentId: string | null;
    fromQueue: string | null;
    toAgentId?: string;
    toQueue?: string;
    note: string | null;
  };
  /**
   * An escalation step of the queue fell due while the contact waited; or (`step` -1) an SLA policy's
   * warning or breach moved it (its sla.warning or sla.breached event comes first).
   */
  'routing.escalated': {
    queue: string;
    /** The step's index in the queue's escalation list; -1: an SLA action, not a queue step. */
    step: number;
    action: 'relax-skills' | 'add-queue' | 'move-to' | 'raise-priority';
    afterSeconds: number;
    /** "waited 2m 00s in billing: agents of support may take it too" */
    reason: string;
    /** move-to: the queue the contact moved to (logged from 2026-11-29 on). */
    movedTo?: string;
    /** The contact's priority once the escalation was applied (logged from 2026-11-29 on). */
    priority?: number;
  };
  /**
   * A service-level clock (src/sla/README.md) reached its warning time while still running: `dueAt` is
   * when it breaches. `done` lists what the policy's actions did to the contact (priority, queue); alerts
   * are not listed.
   */
  'sla.warning': SlaEventPayload;
  /** A service-level clock passed its due time: running still, or stopped late (`stoppedAt`). */
  'sla.breached': SlaEventPayload;
  /** The contact arrived while its queue was closed: what the queue's after-hours action did. */
  'routing.afterHours': {
    queue: string;
    action: 'queue' | 'voicemail' | 'close-with-message' | 'move-to';
    openingReason: string;
    message?: string;
    greeting?: string;
    movedTo?: string;
  };
  /** Logged on an interaction when something about it changed an agent's state (missed offers). */
  'agent.stateChanged': { agentId: string; from: string; to: string; reason: string | null };
  /**
   * Standard answers matching a web chat visitor's first message were offered to them while they wait:
   * `text` is each reply exactly as the visitor was shown it; `matched` the keywords that matched.
   */
  'cannedReply.suggested': {
    replies: { replyId: string; title: string; text: string }[];
    matched: string[];
  };
  /** The visitor said the offered reply `replyId` answered their question (the contact is self-served). */
  'cannedReply.accepted': { replyId: string; title: string; suggestedEventId: string };
  /** The visitor said none of the offered replies answered them: they still want a person. */
  'cannedReply.declined': { replyIds: string[]; suggestedEventId: string };
  /**
   * One step of the IVR a caller went through (a prompt, a menu choice, a lookup...), in order: the log that
   * self-service containment is measured from. `outcome` says what happened ('matched', 'no input', 'no
   * match', 'collected', 'invalid', 'answered', 'not found', 'lookup failed', 'open', 'closed', ...).
   */
  'ivr.step': {
    flow: string;
    step: string;
    kind: 'say' | 'menu' | 'collect' | 'lookup' | 'hours' | 'agent' | 'callback' | 'voicemail' | 'hangup';
    outcome: string;
    language: string;
    input?: { digits?: string; speech?: string; confidence?: number };
    /** Retries used on this step so far. */
    attempt?: number;
    /** The option or the collected value's name; a lookup's name. */
    detail?: string;
    /** The caller's turn it belongs to: `<CallSid>:<turn number>`. */
    turn?: string;
  };
  /**
   * The IVR handed the caller to people: to an agent, a callback or voicemail. `hints` join the contact's
   * routing facts (ivrChoice, locale); `reason` says why ('caller chose', 'too many retries', 'lookup failed').
   */
  'ivr.handedOff': {
    flow: string;
    step: string;
    to: 'agent' | 'callback' | 'voicemail';
    reason: string;
    hints: Record<string, string>;
  };
  /** The caller waits in queue for an agent: `position` and `estimatedWaitSeconds` as first announced. */
  'call.queued': { callSid: string; queue: string; position: number; estimatedWaitSeconds: number | null };
  /** An agent scheduled a callback to `number` at `at` (a new call contact is routed then). */
  'callback.scheduled': { number: string; at: string; note: string | null };
  /** The caller asked to be called back (at `number`) and hung up, keeping their place in line. */
  'callback.requested': { callSid: string; number: string; queue: string | null; waitedSeconds: number };
  /** A call leg was connected to an agent: the waiting caller, or a callback or click-to-call we placed. */
  'call.bridged': {
    callSid: string;
    agentId: string;
    endpoint: 'softphone' | 'phone';
    purpose: 'caller' | 'callback' | 'click-to-call';
  };
  /** Switchboard placed a call (a callback when an agent freed up, an agent's click-to-call). */
  'call.placed': { callSid: string; to: string; from: string; agentId: string | null; purpose: string };
  /** The agent put the caller on hold or took them back. */
  'call.held': { callSid: string; agentId: string; isOnHold: boolean };
  /** A bridge to an agent did not happen (the agent's phone did not answer): the caller waits again. */
  'call.notAnswered': { callSid: string; agentId: string | null; dialStatus: string };
  /**
   * A call leg ended, as the provider reported it. Seconds: the whole leg, in queue, and talking to an agent
   * (null where the leg never got there).
   */
  'call.ended': {
    callSid: string;
    purpose: 'caller' | 'callback' | 'click-to-call';
    status: string;
    durationSeconds: number | null;
    waitSeconds: number | null;
    talkSeconds: number | null;
  };
  /** A recording of the call (when recording is on) is kept as an attachment. */
  'call.recorded': {
    recordingSid: string;
    attachment: { id: string; fileName: string; contentType: string; sizeBytes: number };
    durationSeconds: number | null;
  };
}

export type InteractionEventType = keyof InteractionEventPayloads;

/** Domain events published in-process after the database commit. */
export interface DomainEventMap {
  'contact.ingested': {
    interactionId: string;
    customerId: string;
    eventId: string;
    channel: Channel;
    isNewInteraction: boolean;
    /** A closed interaction this contact continues is open again, and is routed like a new one. */
    isReopened: boolean;
    isNewCustomer: boolean;
    /** The channel routes it later (a call in the IVR): not routed on ingest. */
    isRoutingDeferred: boolean;
  };
  'note.added': { interactionId: string; eventId: string; agentId: string };
  'message.sent': { interactionId: string; eventId: string; channel: Channel; agentId: string };
  'message.delivered': { interactionId: string; eventId: string };
  'message.failed': { interactionId: string; eventId: string; reason: string };
  'customer.merged': { targetCustomerId: string; sourceCustomerId: string; auditId: string };
  'customer.unmerged': { targetCustomerId: string; sourceCustomerId: string; auditId: string };
  'duplicate.suggested': { suggestionId: string; customerId: string; otherCustomerId: string; score: number };
  /** Waiting in `queue`: routed there, or `moved` there by hand (a transfer to a queue). */
  'interaction.queued': { interactionId: string; queue: string; priority: number; isMoved?: boolean };
  'offer.created': {
    offerId: string;
    interactionId: string;
    agentId: string;
    channel: Channel;
    expiresAt: string;
    reason: string;
  };
  'offer.accepted': { offerId: string; interactionId: string; agentId: string; channel: Channel };
  'offer.rejected': { offerId: string; interactionId: string; agentId: string };
  'offer.expired': { offerId: string; interactionId: string; agentId: string };
  'offer.cancelled': { offerId: string; interactionId: string; agentId: string; reason: string };
  'interaction.assigned': {
    interactionId: string;
    agentId: string;
    kind: 'assign' | 'transfer' | 'pull';
    byAgentId: string;
  };
  /**
   * The interaction ended. Channels react to it: a chat tells the visitor, a call is hung up. `message` is
   * what the customer should be told (an after-hours close).
   */
  'interaction.closed': {
    interactionId: string;
    channel: Channel;
    reason: string;
    wasWaiting: boolean;
    /** Who ended it: the customer (a caller hung up, a visitor left), an agent, or the system. */
    closedBy: 'customer' | 'agent' | 'system';
    message?: string;
  };
  /** A contact arrived after hours and its queue sends it to voicemail: the voice channel records a message. */
  'interaction.voicemailRequested': { interactionId: string; queue: string; greeting: string | null };
  'agent.stateChanged': { agentId: string; from: string; to: string; reason: string | null };
  /**
   * An interaction's SLA clocks changed (new, stopped, moved by a reopen), or one reached its warning or
   * breach (`settled`): consoles showing it refresh its clock; a settled one with `isAlert` alerts
   * supervisors.
   */
  'sla.changed': {
    interactionId: string;
    settled?: { kind: 'warning' | 'breach'; metric: string; queue: string; reason: string; isAlert: boolean };
  };
  /** A call's state changed (queued, bridged, on hold, ended...): consoles following it update. */
  'call.updated': { interactionId: string; eventId: string | null; type: string; state: string };
  /** Someone started or stopped typing on a live conversation (chat). Not logged: it only reaches sockets. */
  'typing.changed': {
    interactionId: string;
    from: 'customer' | 'agent';
    agentId: string | null;
    isTyping: boolean;
  };
}

export type DomainEventName = keyof DomainEventMap;

/** A typed, in-process event bus. Listeners run after the publishing transaction committed. */
export class DomainEvents {
  readonly #emitter = new EventEmitter();

  publish<E extends DomainEventName>(name: E, payload: DomainEventMap[E]): void {
    this.#emitter.emit(name, payload);
  }

  subscribe<E extends DomainEventName>(name: E, listener: (payload: DomainEventMap[E]) => void): () => void {
    this.#emitter.on(name, listener);
    return () => this.#emitter.off(name, listener);
  }
}

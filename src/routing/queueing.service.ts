/*
 * Enqueue: the first matching rule puts a new interaction in its queue with its priority, logged as
 * routing.queued with the rule's reason. A closed queue's after-hours `move-to` is applied here (one hop);
 * the other actions are reported in the outcome for routing.service.ts to carry out. Dispatching is a
 * separate step (dispatch.service.ts).
 */
import type { RoutingFacts, RoutingRepository } from '../db/repositories/routing.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents, InteractionEventPayloads } from '../events.js';
import { requireRules, type RulesSource } from './dispatch.service.js';
import { matchRule, openingStatus, type ContactFacts } from './rules/rule-matcher.js';
import type { AfterHoursAction, RuleSet } from './rules/rules.schema.js';

export type EnqueueOutcome =
  | {
      isQueued: true;
      queue: string;
      priority: number;
      reason: string;
      /** The queue was closed: its after-hours action (move-to already applied: `queue` is the new one). */
      afterHours: AfterHoursAction | null;
      openingReason: string;
    }
  /** The interaction was not new (already queued, offered, assigned or closed): nothing changed. */
  | { isQueued: false; status: string };

const asText = (value: unknown): string | undefined =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;

/** Where the rules put a contact: its queue, priority, the reason, and the after-hours action that applies. */
export interface QueueDecision {
  queue: string;
  priority: number;
  reason: string;
  /** The queue is closed: its after-hours action (move-to already applied: `queue` is the new one). */
  afterHours: AfterHoursAction | null;
  openingReason: string;
  /** The routing.queued event's payload. */
  event: InteractionEventPayloads['routing.queued'];
}

/** The first matching rule's queue for these facts at `at`, with a closed queue's move-to applied (one hop). */
export function decideQueue(facts: RoutingFacts, rules: RuleSet, at: Date): QueueDecision {
  const contactFacts: ContactFacts = {
    channel: facts.channel,
    ...(asText(facts.hints.ivrChoice) !== undefined && { ivrChoice: asText(facts.hints.ivrChoice) }),
    ...(asText(facts.hints.receivedOn) !== undefined && { receivedOn: asText(facts.hints.receivedOn) }),
    ...(asText(facts.hints.locale) !== undefined && { locale: asText(facts.hints.locale) }),
    ...(facts.customerTier !== null && { customerTier: facts.customerTier }),
    hasAccountOwner: facts.accountOwnerId !== null,
    ...(facts.accountId !== null && { accountId: facts.accountId }),
    ...(facts.subject !== null && { subject: facts.subject }),
    ...(facts.text !== null && { text: facts.text }),
  };
  const match = matchRule(rules.rules, contactFacts, at);
  // A loaded rule set always ends with a catch-all rule; a null match is a bug in the loader.
  if (!match) throw new AppError('ROUTING_RULES_UNAVAILABLE', 'No routing rule matched the contact.');
  let queueName = match.queue;
  let queue = rules.queues.get(queueName);
  let opening = queue
    ? openingStatus(queue, at)
    : { isOpen: false, reason: `queue ${queueName} is not defined` };
  let afterHours: AfterHoursAction | null = queue && !opening.isOpen ? queue.afterHours : null;
  let reason = match.reason;
  // move-to: one hop only; the other queue's own after-hours action applies if it is closed too.
  if (afterHours?.action === 'move-to') {
    reason = `${reason}; ${queueName} is ${opening.reason}, so its after-hours action moved it to ${afterHours.queue}`;
    queueName = afterHours.queue;
    queue = rules.queues.get(queueName);
    opening = queue
      ? openingStatus(queue, at)
      : { isOpen: false, reason: `queue ${queueName} is not defined` };
    afterHours = queue && !opening.isOpen && queue.afterHours.action !== 'move-to' ? queue.afterHours : null;
  }
  return {
    queue: queueName,
    priority: match.priority,
    reason,
    afterHours,
    openingReason: opening.reason,
    event: {
      queue: queueName,
      priority: match.priority,
      rule: match.ruleName,
      reason,
      isQueueOpen: opening.isOpen,
      openingReason: opening.reason,
    },
  };
}

export function createQueueingService(deps: {
  routing: RoutingRepository;
  rules: RulesSource;
  events: DomainEvents;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  return {
    /** Enqueues a new interaction by the rules, without offering it (routing.service's route does both). */
    async enqueue(interactionId: string): Promise<EnqueueOutcome> {
      const rules = requireRules(deps.rules);
      const facts = await deps.routing.routingFacts(interactionId);
      if (!facts) throw new AppError('INTERACTION_NOT_FOUND');
      if (facts.status !== 'new') return { isQueued: false, status: facts.status };
      return this.enqueueAs(facts, decideQueue(facts, rules, now()));
    },

    /** Enqueues a new interaction where `decision` says (decideQueue). */
    async enqueueAs(facts: RoutingFacts, decision: QueueDecision): Promise<EnqueueOutcome> {
      const { interactionId } = facts;
      const marked = await deps.routing.markQueued(interactionId, facts.channel, decision.event);
      if (!marked.isQueued) return { isQueued: false, status: marked.status ?? 'unknown' };
      deps.events.publish('interaction.queued', {
        interactionId,
        queue: decision.queue,
        priority: decision.priority,
      });
      return {
        isQueued: true,
        queue: decision.queue,
        priority: decision.priority,
        reason: decision.reason,
        afterHours: decision.afterHours,
        openingReason: decision.openingReason,
      };
    },
  };
}

export type QueueingService = ReturnType<typeof createQueueingService>;

/*
 * Enqueue: the first matching rule puts a new interaction in its queue with its priority, logged as
 * routing.queued with the rule's reason. Dispatching is a separate step (dispatch.service.ts).
 */
import type { RoutingRepository } from '../db/repositories/routing.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents, InteractionEventPayloads } from '../events.js';
import { requireRules, type RulesSource } from './dispatch.service.js';
import { matchRule, openingStatus, type ContactFacts } from './rules/rule-matcher.js';

export type EnqueueOutcome =
  | { isQueued: true; queue: string; priority: number; reason: string }
  /** The interaction was not new (already queued, offered, assigned or closed): nothing changed. */
  | { isQueued: false; status: string };

const asText = (value: unknown): string | undefined =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;

export function createQueueingService(deps: {
  routing: RoutingRepository;
  rules: RulesSource;
  events: DomainEvents;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  return {
    async enqueue(interactionId: string): Promise<EnqueueOutcome> {
      const rules = requireRules(deps.rules);
      const facts = await deps.routing.routingFacts(interactionId);
      if (!facts) throw new AppError('INTERACTION_NOT_FOUND');
      if (facts.status !== 'new') return { isQueued: false, status: facts.status };

      const contactFacts: ContactFacts = {
        channel: facts.channel,
        ...(asText(facts.hints.ivrChoice) !== undefined && { ivrChoice: asText(facts.hints.ivrChoice) }),
        ...(asText(facts.hints.receivedOn) !== undefined && { receivedOn: asText(facts.hints.receivedOn) }),
        ...(asText(facts.hints.locale) !== undefined && { locale: asText(facts.hints.locale) }),
        ...(facts.customerTier !== null && { customerTier: facts.customerTier }),
        ...(facts.accountId !== null && { accountId: facts.accountId }),
        ...(facts.subject !== null && { subject: facts.subject }),
        ...(facts.text !== null && { text: facts.text }),
      };
      const at = now();
      const match = matchRule(rules.rules, contactFacts, at);
      // A loaded rule set always ends with a catch-all rule; a null match is a bug in the loader.
      if (!match) throw new AppError('ROUTING_RULES_UNAVAILABLE', 'No routing rule matched the contact.');
      const queue = rules.queues.get(match.queue);
      const opening = queue
        ? openingStatus(queue, at)
        : { isOpen: false, reason: `queue ${match.queue} is not defined` };

      const payload: InteractionEventPayloads['routing.queued'] = {
        queue: match.queue,
        priority: match.priority,
        rule: match.ruleName,
        reason: match.reason,
        isQueueOpen: opening.isOpen,
        openingReason: opening.reason,
      };
      const marked = await deps.routing.markQueued(interactionId, facts.channel, payload);
      if (!marked.isQueued) return { isQueued: false, status: marked.status ?? 'unknown' };
      deps.events.publish('interaction.queued', {
        interactionId,
        queue: match.queue,
        priority: match.priority,
      });
      return { isQueued: true, queue: match.queue, priority: match.priority, reason: match.reason };
    },
  };
}

export type QueueingService = ReturnType<typeof createQueueingService>;

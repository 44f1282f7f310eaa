/*
 * Whether a chat starting now would be answered, so the widget can offer "leave a message" instead. Asked
 * with what is known before the first message (channel chat, the widget's locale): the first matching rule's
 * queue (after a closed queue's move-to) must be open, and at least one working agent (available or on a
 * contact, not disabled) must have the queue's skills and take chats. A working agent who is busy right now
 * still counts: the chat waits for them in the queue.
 */
import type { AgentSnapshot } from '../../src/db/repositories/routing.repository.js';
import type { RulesSource } from '../../src/routing/dispatch.service.js';
import { matchRule, openingStatus } from '../../src/routing/rules/rule-matcher.js';
import type { Queue, RuleSet } from '../../src/routing/rules/rules.schema.js';

export interface Availability {
  isOnline: boolean;
  /** "no agent with the queue's skills is working", "queue support is closed: ..." */
  reason: string;
}

export function createChatAvailability(deps: {
  rules: RulesSource;
  workingAgents: () => Promise<AgentSnapshot[]>;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  function queueNow(rules: RuleSet, locale: string | null, at: Date): Queue | string {
    const match = matchRule(rules.rules, { channel: 'chat', ...(locale && { locale }) }, at);
    let queue = match ? rules.queues.get(match.queue) : undefined;
    if (!queue) return 'no queue takes chats';
    let opening = openingStatus(queue, at);
    if (!opening.isOpen && queue.afterHours.action === 'move-to') {
      queue = rules.queues.get(queue.afterHours.queue);
      if (!queue) return 'the after-hours queue is not defined';
      opening = openingStatus(queue, at);
    }
    return opening.isOpen ? queue : `queue ${queue.name} is ${opening.reason}`;
  }

  return {
    async check(locale: string | null): Promise<Availability> {
      const rules = deps.rules.current;
      if (!rules) return { isOnline: false, reason: 'routing rules are unavailable' };
      const queue = queueNow(rules, locale, now());
      if (typeof queue === 'string') return { isOnline: false, reason: queue };
      const agents = await deps.workingAgents();
      const canTake = (agent: AgentSnapshot) =>
        (agent.capacityOverrides.chat ?? rules.capacity.chat.max) > 0 &&
        queue.requiredSkills.every(({ skill, minLevel }) => (agent.skills[skill] ?? 0) >= minLevel);
      return agents.some(canTake)
        ? { isOnline: true, reason: `queue ${queue.name} is staffed` }
        : { isOnline: false, reason: `no working agent can take chats in queue ${queue.name}` };
    },
  };
}

export type ChatAvailability = ReturnType<typeof createChatAvailability>;

/*
 * Escalation: while a contact waits, its queue's steps fall due by seconds waited in that queue, in order:
 * relax-skills lowers every required level, add-queue lets another queue's agents take it, raise-priority
 * moves it up, move-to puts it in another queue whose own steps start over. Each step is applied once, as
 * a compare-and-set on the contact's step counter (any process may run the sweep; the loser changes
 * nothing), logged as routing.escalated with a reason, and the contact is dispatched again at once.
 * The clock is a parameter: tests pass the time they want; the repeating job passes nothing (now).
 */
import type {
  EscalationDue,
  RoutingControlRepository,
} from '../db/repositories/routing-control.repository.js';
import type { InteractionEventPayloads } from '../events.js';
import type { Dispatcher, RulesSource } from './dispatch.service.js';
import type { EscalationStep, Queue, RuleSet } from './rules/rules.schema.js';
import { formatDuration } from './strategies/eligibility.js';

export interface EscalationPlan {
  toStep: number;
  relaxBy: number;
  addQueues: string[];
  raiseBy: number;
  moveTo: string | null;
  events: InteractionEventPayloads['routing.escalated'][];
}

function describe(step: EscalationStep, queue: Queue): string {
  switch (step.action) {
    case 'relax-skills':
      return `required skill levels lowered by ${step.levels}`;
    case 'add-queue':
      return `agents of ${step.queue} may take it too`;
    case 'move-to':
      return `moved to ${step.queue}`;
    case 'raise-priority':
      return `priority raised by ${step.by}`;
    default:
      return `step ${JSON.stringify(step)} of ${queue.name}`;
  }
}

/**
 * The steps of `queue` due for a contact at `fromStep` that has waited `waitedSeconds`, folded into one
 * change. Pure. Stops after a move-to: the next queue's steps count from the move.
 */
export function planEscalation(queue: Queue, fromStep: number, waitedSeconds: number): EscalationPlan | null {
  const plan: EscalationPlan = {
    toStep: fromStep,
    relaxBy: 0,
    addQueues: [],
    raiseBy: 0,
    moveTo: null,
    events: [],
  };
  for (let index = fromStep; index < queue.escalation.length; index++) {
    const step = queue.escalation[index]!;
    if (step.afterSeconds > waitedSeconds) break;
    plan.toStep = index + 1;
    plan.events.push({
      queue: queue.name,
      step: index,
      action: step.action,
      afterSeconds: step.afterSeconds,
      reason: `waited ${formatDuration(waitedSeconds * 1000)} in ${queue.name} (step after ${formatDuration(step.afterSeconds * 1000)}): ${describe(step, queue)}`,
      ...(step.action === 'move-to' && { movedTo: step.queue }),
    });
    if (step.action === 'relax-skills') plan.relaxBy += step.levels;
    else if (step.action === 'add-queue') plan.addQueues.push(step.queue);
    else if (step.action === 'raise-priority') plan.raiseBy += step.by;
    else {
      plan.moveTo = step.queue;
      break;
    }
  }
  return plan.toStep > fromStep ? plan : null;
}

/** Every queue's steps as rows the repository joins against: (queue, step index, seconds). */
export function stepTable(rules: RuleSet): { queue: string; step: number; afterSeconds: number }[] {
  return [...rules.queues.values()].flatMap((queue) =>
    queue.escalation.map((step, index) => ({
      queue: queue.name,
      step: index,
      afterSeconds: step.afterSeconds,
    })),
  );
}

export function createEscalationService(deps: {
  control: RoutingControlRepository;
  rules: RulesSource;
  dispatcher: Dispatcher;
  batchSize?: number;
}) {
  const batchSize = deps.batchSize ?? 500;

  async function applyOne(due: EscalationDue, rules: RuleSet, at: Date): Promise<boolean> {
    const queue = rules.queues.get(due.queue);
    if (!queue) return false;
    const plan = planEscalation(queue, due.escalationStep, due.waitedSeconds);
    if (!plan) return false;
    return deps.control.applyEscalation({
      interactionId: due.interactionId,
      queue: due.queue,
      fromStep: due.escalationStep,
      toStep: plan.toStep,
      relaxBy: plan.relaxBy,
      addQueues: plan.addQueues,
      raiseBy: plan.raiseBy,
      moveTo: plan.moveTo,
      at,
      events: plan.events,
    });
  }

  return {
    /** Applies every step due at `at` (default now); returns the contacts escalated, then dispatches them. */
    async escalate(at: Date = new Date()): Promise<string[]> {
      const rules = deps.rules.current;
      if (!rules) return [];
      const steps = stepTable(rules);
      const escalated: string[] = [];
      // A move-to can make the next queue's first step due at once (a step after 0 seconds is refused by the
      // schema, so this settles within a few rounds); a bound keeps a bad rule set from spinning.
      for (let round = 0; round < 5; round++) {
        const due = await deps.control.dueEscalations(steps, at, batchSize);
        let changed = 0;
        for (const contact of due) {
          if (await applyOne(contact, rules, at)) {
            escalated.push(contact.interactionId);
            changed += 1;
          }
        }
        if (changed === 0 || due.length < batchSize) break;
      }
      const unique = [...new Set(escalated)];
      if (unique.length > 0) await deps.dispatcher.dispatch({ interactionIds: unique });
      return unique;
    },
  };
}

export type EscalationService = ReturnType<typeof createEscalationService>;

/*
 * Wrap-up disposition codes: which codes an interaction closes with, from the routing rules in force (its
 * queue's own list, else `options.dispositions`; routing-rules/README.md), and the check a close passes
 * first. With a list, a code from it is required; with none, any code or none is taken.
 */
import type { Interaction } from '../db/repositories/interactions.repository.js';
import { AppError } from '../errors.js';
import type { RulesSource } from '../routing/dispatch.service.js';
import type { Disposition } from '../routing/rules/rules.schema.js';

export interface DispositionChoice {
  queue: string | null;
  /** True when the list is not empty: closing needs one of its codes. */
  isRequired: boolean;
  dispositions: Disposition[];
}

/** The code to close with, or the refusal: a list needs one of its codes; without a list, anything goes. */
export function checkDisposition(dispositions: readonly Disposition[], code: string | null): void {
  if (dispositions.length === 0) return;
  const known = dispositions.map((d) => d.code).join(', ');
  if (code === null)
    throw new AppError('DISPOSITION_REQUIRED', `Choose a disposition code to close this contact: ${known}.`, {
      dispositions: dispositions.map((d) => d.code),
    });
  if (!dispositions.some((d) => d.code === code))
    throw new AppError(
      'UNKNOWN_DISPOSITION',
      `'${code}' is not a disposition code for this contact; choose one of: ${known}.`,
      { dispositions: dispositions.map((d) => d.code) },
    );
}

export function createDispositionsService(deps: {
  interactions: { findById(id: string): Promise<Interaction | undefined> };
  rules: RulesSource;
}) {
  const service = {
    /** The codes for this interaction's queue; no rules in force: none required. */
    async of(interactionId: string): Promise<DispositionChoice> {
      const interaction = await deps.interactions.findById(interactionId);
      if (!interaction) throw new AppError('INTERACTION_NOT_FOUND');
      const rules = deps.rules.current;
      const queue = interaction.queue === null ? undefined : rules?.queues.get(interaction.queue);
      const dispositions = queue?.dispositions ?? rules?.options.dispositions ?? [];
      return {
        queue: interaction.queue,
        isRequired: dispositions.length > 0,
        dispositions: [...dispositions],
      };
    },

    /** Refuses a close whose code the interaction's list lacks (400), before anything changes. */
    async check(interactionId: string, code: string | null): Promise<void> {
      checkDisposition((await service.of(interactionId)).dispositions, code);
    },
  };
  return service;
}

export type DispositionsService = ReturnType<typeof createDispositionsService>;

import type { Transaction } from 'kysely';
import type { InteractionEventPayloads } from '../../events.js';
import type { Database } from '../tables.js';

/** Who an event is by: an agent, the customer, or Switchboard itself. */
export interface Actor {
  type: 'agent' | 'system' | 'customer';
  id: string | null;
}

/** Appends one event to an interaction's log inside the caller's transaction, its payload typed by its type. */
export async function appendEvent<T extends keyof InteractionEventPayloads>(
  trx: Transaction<Database>,
  interactionId: string,
  channel: string,
  actor: Actor,
  type: T,
  payload: InteractionEventPayloads[T],
): Promise<void> {
  await trx
    .insertInto('interaction_events')
    .values({
      interaction_id: interactionId,
      type,
      actor_type: actor.type,
      actor_id: actor.id,
      channel,
      payload: JSON.stringify(payload),
    })
    .execute();
}

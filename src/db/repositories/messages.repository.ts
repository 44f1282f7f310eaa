import { sql, type Kysely } from 'kysely';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { Database } from '../tables.js';
import {
  toInteraction,
  toLoggedEvent,
  type Interaction,
  type LoggedEvent,
} from './interactions.repository.js';

/*
 * Outbound messages: the agent's reply logged as message.sent (and the interaction's first response time
 * stamped) in one transaction, what a sender needs to deliver it, and the delivery's outcome, logged as its
 * own event (the log is append-only, so a delivery status is a later event naming the message).
 */

export interface Delivery {
  event: LoggedEvent;
  interaction: Interaction;
  identities: { kind: string; value: string }[];
  /** message.delivered or message.failed already logged for this message (a retried job stops here). */
  isSettled: boolean;
}

export function createMessagesRepository(db: Kysely<Database>) {
  return {
    async logSent(request: {
      interactionId: string;
      channel: Channel;
      agentId: string;
      payload: Record<string, unknown>;
    }): Promise<LoggedEvent> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('interaction_events')
          .values({
            interaction_id: request.interactionId,
            type: 'message.sent',
            actor_type: 'agent',
            actor_id: request.agentId,
            channel: request.channel,
            payload: JSON.stringify(request.payload),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx
          .updateTable('interactions')
          .set({ first_response_at: sql`coalesce(first_response_at, now())`, updated_at: sql`now()` })
          .where('id', '=', request.interactionId)
          .execute();
        return toLoggedEvent(row);
      });
    },

    /** An automatic message (actor: the system): logged like a reply, but it is not a first response. */
    async logAutomatic(request: {
      interactionId: string;
      channel: Channel;
      payload: Record<string, unknown>;
    }): Promise<LoggedEvent> {
      const row = await db
        .insertInto('interaction_events')
        .values({
          interaction_id: request.interactionId,
          type: 'message.sent',
          actor_type: 'system',
          actor_id: null,
          channel: request.channel,
          payload: JSON.stringify(request.payload),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toLoggedEvent(row);
    },

    async forDelivery(eventId: string): Promise<Delivery | undefined> {
      const event = await db
        .selectFrom('interaction_events')
        .selectAll()
        .where('id', '=', eventId)
        .where('type', '=', 'message.sent')
        .executeTakeFirst();
      if (!event) return undefined;
      const interaction = await db
        .selectFrom('interactions')
        .selectAll()
        .where('id', '=', event.interaction_id)
        .executeTakeFirstOrThrow();
      const identities = await db
        .selectFrom('identities')
        .select(['kind', 'value'])
        .where('customer_id', '=', interaction.customer_id)
        .orderBy('created_at')
        .execute();
      const settled = await db
        .selectFrom('interaction_events')
        .select('id')
        .where('interaction_id', '=', event.interaction_id)
        .where('type', 'in', ['message.delivered', 'message.failed'])
        .where(sql<boolean>`payload->>'messageEventId' = ${eventId}`)
        .executeTakeFirst();
      return {
        event: toLoggedEvent(event),
        interaction: toInteraction(interaction),
        identities,
        isSettled: settled !== undefined,
      };
    },

    async logOutcome(request: {
      interactionId: string;
      channel: Channel;
      type: 'message.delivered' | 'message.failed';
      payload: Record<string, unknown>;
    }): Promise<LoggedEvent> {
      const row = await db
        .insertInto('interaction_events')
        .values({
          interaction_id: request.interactionId,
          type: request.type,
          actor_type: 'system',
          actor_id: null,
          channel: request.channel,
          payload: JSON.stringify(request.payload),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toLoggedEvent(row);
    },
  };
}

export type MessagesRepository = ReturnType<typeof createMessagesRepository>;

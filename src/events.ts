/*
 * The event catalogue: every event the unified log records and the core publishes, `noun.pastVerb`, with its
 * payload. The log (interaction_events) stores `type` and `payload` exactly as typed here; services publish
 * the same through the DomainEvents bus, which realtime/ and jobs subscribe to.
 */
import { EventEmitter } from 'node:events';
import type { Channel } from './interactions/inbound-contact.js';

export type ActorType = 'customer' | 'agent' | 'system';

/** Events recorded in the interaction log, by type. */
export interface InteractionEventPayloads {
  'interaction.created': {
    direction: 'inbound' | 'outbound';
    threadKey: string | null;
    subject: string | null;
  };
  'message.received': {
    text?: string;
    html?: string;
    subject?: string;
    attachments?: { fileName: string; contentType: string; sizeBytes: number }[];
    hints?: Record<string, unknown>;
    identities?: { kind: string; value: string }[];
  };
  'message.sent': { text?: string; html?: string; agentId: string };
  'note.added': { text: string; agentId: string };
  'interaction.closed': { reason?: string };
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
    isNewCustomer: boolean;
  };
  'note.added': { interactionId: string; eventId: string; agentId: string };
  'customer.merged': { targetCustomerId: string; sourceCustomerId: string; auditId: string };
  'customer.unmerged': { targetCustomerId: string; sourceCustomerId: string; auditId: string };
  'duplicate.suggested': { suggestionId: string; customerId: string; otherCustomerId: string; score: number };
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

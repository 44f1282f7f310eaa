/*
 * The outbound half of the channel adapter contract: how an agent's reply leaves through the interaction's
 * channel. A channel adapter (channels/<x>/) registers one ChannelSender for its channel at start-up; the
 * core never imports a channel. The reply is logged first (message.sent), then delivered: at once in-process
 * for an immediate channel (a chat socket), or by the retry-safe `messages.deliver` job (SMTP, fax send),
 * keyed by the message.sent event id, which is also the idempotency key the sender gives its provider. Either
 * way the outcome is logged: message.delivered, or message.failed when retrying cannot help.
 */
import type { Channel } from './inbound-contact.js';

export interface OutboundMessage {
  /** The message.sent event: the idempotency key for the provider (a retried job sends the same id). */
  eventId: string;
  interactionId: string;
  ticketNumber: number;
  /** The channel it leaves on: the interaction's, or the one the message names (`via`). */
  channel: Channel;
  /** The interaction's thread key (email thread, chat session) and subject, for threading the reply. */
  threadKey: string | null;
  subject: string | null;
  /** The customer's identities on this channel's kinds (email addresses for email, the visitor id for chat). */
  to: { kind: string; value: string }[];
  text: string;
  html?: string;
  /** Who wrote it; null for an automatic message (an acknowledgment). */
  agent: { id: string; displayName: string } | null;
  /** An automatic message: the channel marks it so (email: Auto-Submitted: auto-replied, RFC 3834). */
  automatic?: 'acknowledgment' | 'transcript';
  /** The message's own subject (an acknowledgment's); else the channel derives one from the interaction's. */
  ownSubject?: string;
  /** More recipients, where the channel has them (email Cc), as the agent wrote them. */
  cc?: string[];
  /** Files the core keeps (AttachmentsService.open by id), where the channel carries them (email). */
  attachments?: { id: string; fileName: string; contentType: string; sizeBytes: number }[];
}

export interface ChannelSender {
  /** true: delivered in-process right after logging (sockets); false: through the delivery job. */
  readonly isImmediate: boolean;
  /**
   * Delivers the message, or throws. Throw PermanentDeliveryError when retrying cannot help (no address,
   * refused by the provider for good); anything else is retried by the job.
   */
  send(message: OutboundMessage): Promise<{ providerId?: string; sent?: Record<string, unknown> }>;
}

export class PermanentDeliveryError extends Error {
  override name = 'PermanentDeliveryError';
}

/** The senders by channel; a channel without one cannot send replies (voice is spoken, not written). */
export class OutboundRegistry {
  readonly #senders = new Map<Channel, ChannelSender>();

  register(channel: Channel, sender: ChannelSender): void {
    if (this.#senders.has(channel)) throw new Error(`a sender for ${channel} is already registered`);
    this.#senders.set(channel, sender);
  }

  senderFor(channel: Channel): ChannelSender | undefined {
    return this.#senders.get(channel);
  }
}

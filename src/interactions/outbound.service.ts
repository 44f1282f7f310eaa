/*
 * Agents' replies (see outbound-message.ts for the contract). `reply` checks who may answer and whether the
 * channel can carry a written reply, logs message.sent, publishes it, and delivers: in-process for an
 * immediate channel, else through the `messages.deliver` job. `deliver` is that job's handler and is
 * retry-safe: a message whose outcome is logged is not sent again.
 */
import type { Agent } from '../db/repositories/agents.repository.js';
import type { AttachmentsRepository } from '../db/repositories/attachments.repository.js';
import { normalizeIdentity } from '../customers/identity-normalizer.js';
import type { Delivery, MessagesRepository } from '../db/repositories/messages.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents, InteractionEventPayloads } from '../events.js';
import type { JobQueue } from '../jobs/job-registry.js';
import { PermanentJobError } from '../jobs/job-registry.js';
import type { Channel } from './inbound-contact.js';
import type { InteractionsService } from './interactions.service.js';
import { PermanentDeliveryError, type OutboundMessage, type OutboundRegistry } from './outbound-message.js';

/** Which of the customer's identities a channel writes to. */
const addressKinds: Readonly<Record<Channel, readonly string[]>> = {
  email: ['email'],
  chat: ['chat_visitor'],
  voice: ['phone'],
  fax: ['fax', 'phone'],
};

/** Channels whose replies carry Cc and files. */
const channelsWithCopiesAndFiles: readonly Channel[] = ['email'];

/**
 * How long a delivery keeps trying before it is reported failed: 12 attempts, the first retry after 1 s and
 * each after twice as long as the one before (about 34 minutes in all). A mail server down for a few minutes
 * delays the reply, never loses it; one down for longer gets the agent told (message.failed) within the half
 * hour, not after the days a mail server would go on retrying.
 */
const deliveryRetries = { attempts: 12, backoffMs: 1000 };

export function createOutboundService(deps: {
  messages: MessagesRepository;
  drafts: Pick<AttachmentsRepository, 'draftsOf' | 'attachToEvent'>;
  interactions: InteractionsService;
  registry: OutboundRegistry;
  jobs: JobQueue;
  events: DomainEvents;
  log: { warn: (obj: object, msg: string) => void };
}) {
  /** The channel a logged message leaves on: its own `via`, else the interaction's. */
  const channelOf = (delivery: Delivery): Channel =>
    (delivery.event.payload as InteractionEventPayloads['message.sent']).via ?? delivery.interaction.channel;

  function toMessage(delivery: Delivery): OutboundMessage {
    const { event, interaction } = delivery;
    const payload = event.payload as InteractionEventPayloads['message.sent'];
    const channel = channelOf(delivery);
    const kinds = addressKinds[channel];
    return {
      eventId: event.id,
      interactionId: interaction.id,
      ticketNumber: interaction.ticketNumber,
      channel,
      threadKey: interaction.threadKey,
      subject: interaction.subject,
      to: delivery.identities.filter((i) => kinds.includes(i.kind)),
      text: payload.text ?? '',
      ...(payload.html !== undefined && { html: payload.html }),
      agent:
        event.actorType === 'agent'
          ? { id: event.actorId ?? '', displayName: payload.agentName ?? '' }
          : null,
      ...(payload.automatic && { automatic: payload.automatic }),
      ...(payload.subject && { ownSubject: payload.subject }),
      ...(payload.cc?.length && { cc: payload.cc }),
      ...(payload.attachments?.length && { attachments: payload.attachments }),
    };
  }

  const service = {
    /**
     * The agent's reply, on the interaction's channel or, with `via: 'email'`, by email to the customer's
     * address (a web chat visitor who left a message and is gone). Only the assignee, or a supervisor, may
     * answer.
     */
    async reply(
      interactionId: string,
      agent: Pick<Agent, 'id' | 'role' | 'displayName'>,
      content: { text: string; html?: string; cc?: string[]; attachmentIds?: string[]; via?: 'email' },
    ) {
      const interaction = await deps.interactions.get(interactionId);
      if (interaction.status === 'closed') throw new AppError('INTERACTION_CLOSED');
      if (agent.role === 'agent' && interaction.assigneeId !== agent.id) throw new AppError('NOT_ASSIGNEE');
      const channel = content.via ?? interaction.channel;
      const sender = deps.registry.senderFor(channel);
      if (!sender) throw new AppError('CHANNEL_CANNOT_SEND');
      const via = channel !== interaction.channel ? channel : undefined;
      const hasExtras = (content.cc?.length ?? 0) > 0 || (content.attachmentIds?.length ?? 0) > 0;
      if (hasExtras && !channelsWithCopiesAndFiles.includes(channel))
        throw new AppError('VALIDATION_FAILED', `A ${channel} reply carries no Cc or files.`);
      const cc = [...new Set((content.cc ?? []).map(copyAddress))];
      const ids = [...new Set(content.attachmentIds ?? [])];
      const files = await deps.drafts.draftsOf(interactionId, ids);
      if (files.length !== ids.length)
        throw new AppError(
          'ATTACHMENT_NOT_FOUND',
          'An attachment is not one uploaded to this interaction for a reply.',
        );
      const event = await deps.messages.logSent({
        interactionId,
        channel: interaction.channel,
        agentId: agent.id,
        payload: {
          text: content.text,
          ...(content.html !== undefined && { html: content.html }),
          agentId: agent.id,
          agentName: agent.displayName,
          ...(cc.length > 0 && { cc }),
          ...(files.length > 0 && { attachments: files }),
          ...(via && { via }),
        },
      });
      await deps.drafts.attachToEvent(interactionId, ids, event.id);
      deps.events.publish('message.sent', {
        interactionId,
        eventId: event.id,
        channel: interaction.channel,
        agentId: agent.id,
      });
      if (sender.isImmediate) {
        // At once; a failure falls back to the job, which retries.
        try {
          await service.deliver(event.id);
          return event;
        } catch (err) {
          deps.log.warn({ err, eventId: event.id }, 'immediate delivery failed; the delivery job retries');
        }
      }
      await deps.jobs.enqueue(
        'messages.deliver',
        { eventId: event.id },
        { jobId: `deliver-${event.id}`, ...deliveryRetries },
      );
      return event;
    },

    /**
     * An automatic message (an email acknowledgment) on the interaction's channel, logged as message.sent by
     * the system (it is not the first response) and delivered by the job.
     */
    async sendAutomatic(
      interactionId: string,
      content: { automatic: 'acknowledgment' | 'transcript'; subject: string; text: string; via?: 'email' },
    ) {
      const interaction = await deps.interactions.get(interactionId);
      const channel = content.via ?? interaction.channel;
      if (!deps.registry.senderFor(channel)) throw new AppError('CHANNEL_CANNOT_SEND');
      const event = await deps.messages.logAutomatic({
        interactionId,
        channel: interaction.channel,
        payload: {
          text: content.text,
          subject: content.subject,
          automatic: content.automatic,
          ...(channel !== interaction.channel && { via: channel }),
        },
      });
      await deps.jobs.enqueue(
        'messages.deliver',
        { eventId: event.id },
        { jobId: `deliver-${event.id}`, ...deliveryRetries },
      );
      return event;
    },

    /**
     * Delivers a logged message.sent through its channel's sender; logs the outcome once. A failure that
     * retrying may cure is thrown (the job retries) until the last attempt, which logs it as message.failed,
     * so that the agent always learns the outcome.
     */
    /**
     * A provider's later word that a message it took did not reach the customer (a fax that failed after
     * the provider accepted it): logged as message.failed on the message, like a bounce. Retry-safe: the
     * caller reports each failure once (it keeps the provider's status).
     */
    async reportFailure(eventId: string, reason: string): Promise<void> {
      const delivery = await deps.messages.forDelivery(eventId);
      if (!delivery) throw new AppError('NOT_FOUND', `no message.sent event ${eventId}`);
      await deps.messages.logOutcome({
        interactionId: delivery.interaction.id,
        channel: channelOf(delivery),
        type: 'message.failed',
        payload: { messageEventId: eventId, reason },
      });
      deps.events.publish('message.failed', { interactionId: delivery.interaction.id, eventId, reason });
    },

    async deliver(
      eventId: string,
      attempt: { attempt: number; isLastAttempt: boolean } = { attempt: 1, isLastAttempt: false },
    ): Promise<'delivered' | 'failed' | 'already-settled'> {
      const delivery = await deps.messages.forDelivery(eventId);
      if (!delivery) throw new PermanentJobError(`no message.sent event ${eventId}`);
      if (delivery.isSettled) return 'already-settled';
      const { interaction } = delivery;
      const sender = deps.registry.senderFor(channelOf(delivery));
      const message = toMessage(delivery);
      try {
        if (!sender) throw new PermanentDeliveryError(`no sender for ${channelOf(delivery)}`);
        const { providerId, sent } = await sender.send(message);
        await deps.messages.logOutcome({
          interactionId: interaction.id,
          channel: interaction.channel,
          type: 'message.delivered',
          payload: {
            messageEventId: eventId,
            ...(providerId !== undefined && { providerId }),
            ...(sent && { sent }),
          },
        });
        deps.events.publish('message.delivered', { interactionId: interaction.id, eventId });
        return 'delivered';
      } catch (err) {
        const isPermanent = err instanceof PermanentDeliveryError;
        if (!isPermanent && !attempt.isLastAttempt) {
          deps.log.warn({ err, eventId, attempt: attempt.attempt }, 'delivery failed; the job retries');
          throw err;
        }
        const why = err instanceof Error ? err.message : String(err);
        const reason = isPermanent ? why : `gave up after ${attempt.attempt} attempts: ${why}`;
        await deps.messages.logOutcome({
          interactionId: interaction.id,
          channel: interaction.channel,
          type: 'message.failed',
          payload: { messageEventId: eventId, reason },
        });
        deps.events.publish('message.failed', { interactionId: interaction.id, eventId, reason });
        return 'failed';
      }
    },
  };
  return service;
}

export type OutboundService = ReturnType<typeof createOutboundService>;

/** A Cc address as the agent typed it, checked and lower-cased. */
function copyAddress(raw: string): string {
  try {
    return normalizeIdentity({ kind: 'email', value: raw }, 'US').value;
  } catch {
    throw new AppError('VALIDATION_FAILED', `Cc '${raw.slice(0, 100)}' is not an email address.`);
  }
}

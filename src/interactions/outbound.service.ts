/*
 * Agents' replies (see outbound-message.ts for the contract). `reply` checks who may answer and whether the
 * channel can carry a written reply, logs message.sent, publishes it, and delivers: in-process for an
 * immediate channel, else through the `messages.deliver` job. `deliver` is that job's handler and is
 * retry-safe: a message whose outcome is logged is not sent again.
 */
import type { Agent } from '../db/repositories/agents.repository.js';
import type { Delivery, MessagesRepository } from '../db/repositories/messages.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents } from '../events.js';
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

export function createOutboundService(deps: {
  messages: MessagesRepository;
  interactions: InteractionsService;
  registry: OutboundRegistry;
  jobs: JobQueue;
  events: DomainEvents;
  log: { warn: (obj: object, msg: string) => void };
}) {
  function toMessage(delivery: Delivery, agentName: string): OutboundMessage {
    const { event, interaction } = delivery;
    const payload = event.payload as { text?: string; html?: string };
    const kinds = addressKinds[interaction.channel];
    return {
      eventId: event.id,
      interactionId: interaction.id,
      ticketNumber: interaction.ticketNumber,
      channel: interaction.channel,
      threadKey: interaction.threadKey,
      subject: interaction.subject,
      to: delivery.identities.filter((i) => kinds.includes(i.kind)),
      text: payload.text ?? '',
      ...(payload.html !== undefined && { html: payload.html }),
      agent: { id: event.actorId ?? '', displayName: agentName },
    };
  }

  const service = {
    /** The agent's reply on the interaction's channel. Only the assignee, or a supervisor, may answer. */
    async reply(
      interactionId: string,
      agent: Pick<Agent, 'id' | 'role' | 'displayName'>,
      content: { text: string; html?: string },
    ) {
      const { interaction } = await deps.interactions.detail(interactionId);
      if (interaction.status === 'closed') throw new AppError('INTERACTION_CLOSED');
      if (agent.role === 'agent' && interaction.assigneeId !== agent.id) throw new AppError('NOT_ASSIGNEE');
      const sender = deps.registry.senderFor(interaction.channel);
      if (!sender) throw new AppError('CHANNEL_CANNOT_SEND');
      const event = await deps.messages.logSent({
        interactionId,
        channel: interaction.channel,
        agentId: agent.id,
        payload: {
          text: content.text,
          ...(content.html !== undefined && { html: content.html }),
          agentId: agent.id,
          agentName: agent.displayName,
        },
      });
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
      await deps.jobs.enqueue('messages.deliver', { eventId: event.id }, { jobId: `deliver-${event.id}` });
      return event;
    },

    /** Delivers a logged message.sent through its channel's sender; logs the outcome once. */
    async deliver(eventId: string): Promise<'delivered' | 'failed' | 'already-settled'> {
      const delivery = await deps.messages.forDelivery(eventId);
      if (!delivery) throw new PermanentJobError(`no message.sent event ${eventId}`);
      if (delivery.isSettled) return 'already-settled';
      const { interaction } = delivery;
      const sender = deps.registry.senderFor(interaction.channel);
      const agentName = (delivery.event.payload as { agentName?: string }).agentName ?? '';
      const message = toMessage(delivery, agentName);
      try {
        if (!sender) throw new PermanentDeliveryError(`no sender for ${interaction.channel}`);
        const { providerId } = await sender.send(message);
        await deps.messages.logOutcome({
          interactionId: interaction.id,
          channel: interaction.channel,
          type: 'message.delivered',
          payload: { messageEventId: eventId, ...(providerId !== undefined && { providerId }) },
        });
        deps.events.publish('message.delivered', { interactionId: interaction.id, eventId });
        return 'delivered';
      } catch (err) {
        if (!(err instanceof PermanentDeliveryError)) throw err;
        await deps.messages.logOutcome({
          interactionId: interaction.id,
          channel: interaction.channel,
          type: 'message.failed',
          payload: { messageEventId: eventId, reason: err.message },
        });
        deps.events.publish('message.failed', {
          interactionId: interaction.id,
          eventId,
          reason: err.message,
        });
        return 'failed';
      }
    },
  };
  return service;
}

export type OutboundService = ReturnType<typeof createOutboundService>;

/*
 * The web chat channel, attached to the app: the `/chat` namespace on the process's socket.io server, the
 * chat ChannelSender for agents' replies, the widget's routes and the visitors' image routes. app.ts calls
 * attachWebchat after attachRealtime (it needs the io server) and before the app is ready (it adds routes).
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import type { CannedRepliesService } from '../../src/answers/canned-replies.service.js';
import type { Config } from '../../src/config.js';
import type { AgentSnapshot } from '../../src/db/repositories/routing.repository.js';
import type { DomainEvents } from '../../src/events.js';
import type { AttachmentsService } from '../../src/interactions/attachments.service.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { InteractionsService } from '../../src/interactions/interactions.service.js';
import type { OutboundRegistry } from '../../src/interactions/outbound-message.js';
import type { OutboundService } from '../../src/interactions/outbound.service.js';
import type { RulesSource } from '../../src/routing/dispatch.service.js';
import type { RoutingService } from '../../src/routing/routing.service.js';
import { chatAttachmentRoutes } from './attachments.routes.js';
import { createChatAvailability } from './availability.js';
import { registerChatNamespace } from './chat.namespace.js';
import { createConversationStore } from './conversation.store.js';
import { createConversationTokens, tokenSecretOf } from './visitor-auth.js';
import { chatTranscript } from './transcript.js';
import { widgetRoutes } from './widget.routes.js';

export type * from './chat-events.js';

export function attachWebchat(
  app: FastifyInstance,
  deps: {
    io: Server;
    config: Pick<Config, 'webchat' | 'webchatImages' | 'redisPrefix'>;
    redis: Redis;
    ingest: (contact: InboundContact) => Promise<IngestResult>;
    interactions: Pick<InteractionsService, 'detail'>;
    routing: Pick<RoutingService, 'endContact'>;
    rules: RulesSource;
    workingAgents: () => Promise<AgentSnapshot[]>;
    agentNameOf: (agentId: string) => Promise<string | null>;
    outboundRegistry: OutboundRegistry;
    /** Transcripts by email on close (when an email sender is registered and the visitor gave an address). */
    outbound: Pick<OutboundService, 'sendAutomatic'>;
    events: DomainEvents;
    answers: Pick<CannedRepliesService, 'suggestForVisitor' | 'recordVisitorAnswer'>;
    attachments: Pick<AttachmentsService, 'keep' | 'discard' | 'open'>;
  },
): void {
  const { config } = deps;
  // Synchronous on purpose: the namespace and its adapter are created right after the socket server's,
  // before the app listens (an await here let the adapter's subscriber connection race its subscriptions).
  const tokens = tokenSecretOf(config.webchat.tokenSecret, deps.redis, config.redisPrefix).then(
    createConversationTokens,
  );
  const store = createConversationStore({ redis: deps.redis, prefix: config.redisPrefix });
  const chat = registerChatNamespace(deps.io, {
    config: config.webchat,
    imageLimits: config.webchatImages,
    tokens,
    store,
    availability: createChatAvailability({ rules: deps.rules, workingAgents: deps.workingAgents }),
    ingest: deps.ingest,
    interactions: deps.interactions,
    routing: deps.routing,
    agentNameOf: deps.agentNameOf,
    answers: deps.answers,
    events: deps.events,
    log: app.log,
  });
  deps.outboundRegistry.register('chat', chat.sender);
  widgetRoutes(app);
  chatAttachmentRoutes(app, {
    config: config.webchat,
    limits: config.webchatImages,
    tokens,
    store,
    attachments: deps.attachments,
    receiveImage: (...args) => chat.receiveImage(...args),
  });
  // A closed chat's transcript, by email, to a visitor who gave an address, when email is configured.
  const stopTranscripts = deps.events.subscribe('interaction.closed', ({ interactionId, channel }) => {
    if (channel !== 'chat' || !deps.outboundRegistry.senderFor('email')) return;
    void (async () => {
      const conversationId = await store.conversationOf(interactionId);
      if (!conversationId) return;
      const { profile } = await store.find(conversationId);
      if (!profile.email) return;
      const { interaction, events } = await deps.interactions.detail(interactionId);
      const text = chatTranscript(events, profile.name);
      if (!text) return;
      await deps.outbound.sendAutomatic(interactionId, {
        automatic: 'transcript',
        subject: `Your chat transcript [#${interaction.ticketNumber}]`,
        text,
        via: 'email',
      });
    })().catch((err: unknown) => app.log.warn({ err, interactionId }, 'sending a chat transcript failed'));
  });
  app.addHook('preClose', async () => {
    stopTranscripts();
    chat.stop();
  });
}

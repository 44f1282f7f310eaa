/*
 * The web chat adapter: socket.io namespace `/chat`, where the widget's visitors connect.
 *
 * Reads from the handshake `auth`: widgetId, token (a conversation the visitor had), userId + userHash
 * (identity validation), locale; and the Origin header, checked against the widget's allowed origins. A
 * visitor's socket joins `chat:<conversationId>`: every tab of one conversation, on any process, hears the
 * same pushes through the Redis adapter. A visitor's message becomes one InboundContact (channel chat,
 * externalId `webchat:<conversationId>:<clientId>`, threadKey `webchat:<conversationId>`), so a resend is
 * not ingested twice and messages join the open interaction. Agents' replies come back through the chat
 * ChannelSender registered here; typing, "agent joined" and "chat closed" come from domain events.
 * A new interaction's first message is matched against the standard answers offered to visitors (src/answers):
 * matches are pushed as `answers:suggested` while routing goes on, and the visitor's `suggestions:answer` is
 * logged (one that helped ends the contact as self-served). A visitor's image arrives over HTTP
 * (attachments.routes.ts) and is ingested here too (`receiveImage`), like a message.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pendingSuggestionsIn, type CannedRepliesService } from '../../src/answers/canned-replies.service.js';
import type { Namespace, Server, Socket } from 'socket.io';
import type { WebchatConfig, WebchatImageLimits } from '../../src/config.js';
import { AppError, isAppError } from '../../src/errors.js';
import type { DomainEvents } from '../../src/events.js';
import type {
  InboundAttachment,
  InboundContact,
  IngestResult,
  RawIdentity,
} from '../../src/interactions/inbound-contact.js';
import type { InteractionsService } from '../../src/interactions/interactions.service.js';
import {
  PermanentDeliveryError,
  type ChannelSender,
  type OutboundMessage,
} from '../../src/interactions/outbound-message.js';
import type { RoutingService } from '../../src/routing/routing.service.js';
import { handshakeError, toSocketError } from '../../src/realtime/socket-auth.js';
import type { ChatAvailability } from './availability.js';
import {
  chatHandshakeValidator,
  chatRequestValidators,
  conversationRoom,
  type AckResult,
  type ChatAttachmentPush,
  type ChatClientToServerEvents,
  type ChatMessagePush,
  type ChatRequest,
  type ChatRequestName,
  type ChatRequestResults,
  type ChatServerToClientEvents,
  type ChatSessionPush,
  type ChatSocketData,
  type ConversationId,
} from './chat-events.js';
import type { ConversationStore, VisitorProfile } from './conversation.store.js';
import { admitVisitor, type ConversationTokens } from './visitor-auth.js';

type ChatNamespace = Namespace<
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  Record<string, never>,
  ChatSocketData
>;
type ChatSocket = Socket<
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  Record<string, never>,
  ChatSocketData
>;

type RequestHandler<E extends ChatRequestName> = (
  socket: ChatSocket,
  request: ChatRequest<E>,
) => Promise<ChatRequestResults[E]>;

export interface ChatNamespaceDeps {
  config: WebchatConfig;
  imageLimits: WebchatImageLimits;
  /** Resolves once the token key is read (from the config, or Redis). */
  tokens: Promise<ConversationTokens>;
  store: ConversationStore;
  availability: ChatAvailability;
  ingest: (contact: InboundContact) => Promise<IngestResult>;
  interactions: Pick<InteractionsService, 'detail'>;
  routing: Pick<RoutingService, 'endContact'>;
  agentNameOf: (agentId: string) => Promise<string | null>;
  answers: Pick<CannedRepliesService, 'suggestForVisitor' | 'recordVisitorAnswer'>;
  events: DomainEvents;
  log: FastifyBaseLogger;
}

const threadKeyOf = (conversationId: ConversationId) => `webchat:${conversationId}`;
export const conversationOfThread = (threadKey: string | null): ConversationId | undefined =>
  threadKey?.startsWith('webchat:') ? threadKey.slice('webchat:'.length) : undefined;

/** The images a message.received payload lists whose bytes the core keeps (they have an id). */
export function attachmentPushesOf(payload: { attachments?: unknown }): ChatAttachmentPush[] {
  if (!Array.isArray(payload.attachments)) return [];
  return (payload.attachments as Partial<InboundAttachment>[]).flatMap((a) =>
    typeof a.id === 'string'
      ? [
          {
            id: a.id,
            fileName: String(a.fileName),
            contentType: String(a.contentType),
            sizeBytes: Number(a.sizeBytes),
            url: `/chat/attachments/${a.id}`,
          },
        ]
      : [],
  );
}

export function registerChatNamespace(io: Server, deps: ChatNamespaceDeps) {
  const nsp = io.of('/chat') as unknown as ChatNamespace;
  const log = deps.log.child({ namespace: '/chat' });
  const toConversation = (conversationId: ConversationId) => nsp.to(conversationRoom(conversationId));

  /** The contact a visitor's message becomes: the visitor first (they decide the customer), then email. */
  function contactOf(
    data: ChatSocketData,
    profile: VisitorProfile,
    message: {
      externalId: string;
      text?: string;
      hints: Record<string, string | boolean>;
      attachments?: InboundAttachment[];
    },
  ): InboundContact {
    const identities: RawIdentity[] = [
      {
        kind: 'chat_visitor',
        value: data.userId ? `${data.widgetId}:${data.userId}` : data.conversationId,
      },
    ];
    if (profile.email) identities.push({ kind: 'email', value: profile.email });
    const fields = Object.entries(profile.fields ?? {}).map(([key, value]) => [`prechat.${key}`, value]);
    return {
      channel: 'chat',
      externalId: message.externalId,
      identities,
      ...(profile.name && { displayName: profile.name }),
      threadKey: threadKeyOf(data.conversationId),
      ...(message.text !== undefined && { text: message.text }),
      ...(message.attachments && { attachments: message.attachments }),
      hints: {
        widgetId: data.widgetId,
        ...(data.locale && { locale: data.locale }),
        ...(Object.fromEntries(fields) as Record<string, string>),
        ...message.hints,
      },
    };
  }

  function checkText(text: string) {
    if (text.length > deps.config.maxMessageChars)
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `A message is at most ${deps.config.maxMessageChars} characters.`,
      );
  }

  async function checkRate(conversationId: ConversationId) {
    const { rateLimitMessages, rateLimitWindowMs } = deps.config;
    if (!(await deps.store.isWithinRate(conversationId, rateLimitMessages, rateLimitWindowMs)))
      throw new AppError('RATE_LIMITED', 'Too many messages; wait a few seconds.');
  }

  /** Runs a push that needs a lookup first; a failure is logged, never unhandled. */
  const push = (what: string, work: () => Promise<void>) =>
    void work().catch((err: unknown) => log.warn({ err, what }, 'chat push failed'));

  const requests: { [E in ChatRequestName]: RequestHandler<E> } = {
    async 'chat:start'(socket, { name, email, fields }) {
      const { conversationId, locale } = socket.data;
      const state = await deps.store.find(conversationId);
      await deps.store.saveProfile(conversationId, {
        ...state.profile,
        ...(name !== undefined && { name }),
        ...(email !== undefined && { email }),
        ...(fields !== undefined && { fields }),
      });
      const availability = await deps.availability.check(locale);
      if (!availability.isOnline) log.info({ conversationId, reason: availability.reason }, 'chat offline');
      return { isOffline: !availability.isOnline };
    },

    async 'message:send'(socket, { clientId, text }) {
      const { conversationId } = socket.data;
      checkText(text);
      await checkRate(conversationId);
      const state = await deps.store.find(conversationId);
      const result = await deps.ingest(
        contactOf(socket.data, state.profile, {
          externalId: `webchat:${conversationId}:${clientId}`,
          text,
          hints: { clientId },
        }),
      );
      if (result.interactionId !== state.interactionId)
        await deps.store.linkInteraction(conversationId, result.interactionId);
      if (!result.isDuplicate)
        // The visitor's other tabs show it too; the sending tab has it already.
        socket.to(conversationRoom(conversationId)).emit('message', {
          id: result.eventId,
          clientId,
          from: 'visitor',
          text,
          agentName: null,
          at: new Date().toISOString(),
        });
      // A new contact's first message: standard answers that may answer it, offered after the ack and
      // beside routing (which started on ingest and does not wait for the visitor).
      if (result.isNewInteraction && !result.isDuplicate)
        push('answers:suggested', async () => {
          const suggestions = await deps.answers.suggestForVisitor(result.interactionId, text, 'chat');
          if (suggestions.length > 0)
            toConversation(conversationId).emit('answers:suggested', {
              interactionId: result.interactionId,
              suggestions,
            });
        });
      return { id: result.eventId, interactionId: result.interactionId, isDuplicate: result.isDuplicate };
    },

    async typing(socket, { isTyping }) {
      const { interactionId } = await deps.store.find(socket.data.conversationId);
      if (interactionId)
        deps.events.publish('typing.changed', { interactionId, from: 'customer', agentId: null, isTyping });
      return {};
    },

    async 'chat:close'(socket) {
      const { interactionId } = await deps.store.find(socket.data.conversationId);
      if (!interactionId) return { wasOpen: false };
      try {
        await deps.routing.endContact(interactionId, {
          actor: { type: 'customer', id: null },
          reason: 'visitor closed the chat',
        });
        return { wasOpen: true };
      } catch (error) {
        if (isAppError(error) && error.code === 'INTERACTION_CLOSED') return { wasOpen: false };
        throw error;
      }
    },

    async 'suggestions:answer'(socket, { interactionId, replyId }) {
      // Only the conversation's own (latest) interaction: a visitor cannot answer for another's.
      const state = await deps.store.find(socket.data.conversationId);
      if (state.interactionId !== interactionId)
        throw new AppError('CANNED_REPLY_NOT_SUGGESTED', 'No standard answers are waiting on this chat.');
      return deps.answers.recordVisitorAnswer(interactionId, replyId);
    },

    async 'message:leave'(socket, { clientId, text, name, email }) {
      const { conversationId } = socket.data;
      checkText(text);
      await checkRate(conversationId);
      const state = await deps.store.find(conversationId);
      const profile = {
        ...state.profile,
        ...(name !== undefined && { name }),
        ...(email !== undefined && { email }),
      };
      if (name !== undefined || email !== undefined) await deps.store.saveProfile(conversationId, profile);
      const result = await deps.ingest(
        contactOf(socket.data, profile, {
          externalId: `webchat:${conversationId}:${clientId}`,
          text,
          hints: { clientId, leftMessage: true },
        }),
      );
      if (result.interactionId !== state.interactionId)
        await deps.store.linkInteraction(conversationId, result.interactionId);
      return { interactionId: result.interactionId };
    },
  };
  const isRequestName = (name: string): name is ChatRequestName => Object.hasOwn(requests, name);

  async function serve(socket: ChatSocket, name: string, args: unknown[]): Promise<object> {
    if (!isRequestName(name)) throw new AppError('NOT_FOUND', `No socket event '${name}'.`);
    const request = typeof args.at(-1) === 'function' ? args.slice(0, -1)[0] : args[0];
    const validator = chatRequestValidators[name];
    if (!validator.Check(request)) {
      const [first] = validator.Errors(request);
      const where = first ? `${first.instancePath || 'payload'} ${first.message}` : 'invalid payload';
      throw new AppError('VALIDATION_FAILED', `Invalid '${name}' request: ${where}.`);
    }
    const handler = requests[name] as RequestHandler<typeof name>;
    return handler(socket, request);
  }

  async function answer(socket: ChatSocket, name: string, args: unknown[]): Promise<void> {
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (result: AckResult<object>) => void) : () => undefined;
    try {
      ack({ ok: true, ...(await serve(socket, name, args)) });
    } catch (error) {
      if (!isAppError(error) || error.status >= 500)
        log.error(
          { err: error, event: name, conversationId: socket.data.conversationId },
          'chat request failed',
        );
      ack({ ok: false, error: toSocketError(error) });
    }
  }

  /** The conversation so far: its latest interaction's messages, for a widget that (re)connected. */
  async function sessionOf(data: ChatSocketData): Promise<ChatSessionPush> {
    const token = (await deps.tokens).issue(data.widgetId, data.conversationId);
    const base = {
      token,
      conversationId: data.conversationId,
      imageLimits: { maxBytes: deps.imageLimits.maxBytes, types: deps.imageLimits.types },
    };
    const { interactionId } = await deps.store.find(data.conversationId);
    if (!interactionId)
      return {
        ...base,
        interactionId: null,
        isOpen: false,
        agentName: null,
        messages: [],
        suggestions: null,
      };
    const { interaction, events } = await deps.interactions.detail(interactionId);
    const messages: ChatMessagePush[] = [];
    for (const event of events) {
      const payload = event.payload as {
        text?: string;
        agentName?: string;
        hints?: { clientId?: string };
        attachments?: unknown;
      };
      if (event.type !== 'message.received' && event.type !== 'message.sent') continue;
      const isVisitor = event.type === 'message.received';
      const attachments = isVisitor ? attachmentPushesOf(payload) : [];
      messages.push({
        id: event.id,
        clientId: isVisitor ? (payload.hints?.clientId ?? null) : null,
        from: isVisitor ? 'visitor' : 'agent',
        text: payload.text ?? '',
        agentName: isVisitor ? null : (payload.agentName ?? null),
        at: new Date(event.occurredAt).toISOString(),
        ...(attachments.length > 0 && { attachments }),
      });
    }
    const isOpen = interaction.status !== 'closed';
    const pending = isOpen && !interaction.assigneeId ? pendingSuggestionsIn(events) : null;
    return {
      ...base,
      interactionId,
      isOpen,
      agentName: isOpen && interaction.assigneeId ? await deps.agentNameOf(interaction.assigneeId) : null,
      messages,
      suggestions: pending && { interactionId, suggestions: pending.suggestions },
    };
  }

  nsp.use((socket, next) => {
    const auth: unknown = socket.handshake.auth;
    if (!chatHandshakeValidator.Check(auth))
      return next(handshakeError('VALIDATION_FAILED', 'The chat handshake is not valid.'));
    admitVisitor(
      { widgets: deps.config.widgets, tokens: deps.tokens },
      auth,
      socket.handshake.headers.origin,
      { mayStart: true },
    ).then(
      (data) => {
        socket.data = data;
        next();
      },
      (err: unknown) => {
        if (isAppError(err)) return next(handshakeError(err.code, err.message));
        log.error({ err }, 'the chat token key could not be read');
        next(handshakeError('SERVICE_UNAVAILABLE'));
      },
    );
  });

  nsp.on('connection', (socket) => {
    void socket.join(conversationRoom(socket.data.conversationId));
    socket.onAny((name: string, ...args: unknown[]) => void answer(socket, name, args));
    sessionOf(socket.data).then(
      (session) => socket.emit('chat:session', session),
      (err: unknown) => {
        log.error({ err, conversationId: socket.data.conversationId }, 'chat session could not be read');
        socket.disconnect(true);
      },
    );
  });

  const unsubscribe = [
    deps.events.subscribe('offer.accepted', ({ interactionId, agentId }) =>
      push('agent:joined', async () => {
        const conversationId = await deps.store.conversationOf(interactionId);
        const name = conversationId && (await deps.agentNameOf(agentId));
        if (conversationId && name) toConversation(conversationId).emit('agent:joined', { name });
      }),
    ),
    deps.events.subscribe('interaction.assigned', ({ interactionId, agentId }) =>
      push('agent:joined', async () => {
        const conversationId = await deps.store.conversationOf(interactionId);
        const name = conversationId && (await deps.agentNameOf(agentId));
        if (conversationId && name) toConversation(conversationId).emit('agent:joined', { name });
      }),
    ),
    deps.events.subscribe('typing.changed', ({ interactionId, from, isTyping }) => {
      if (from !== 'agent') return;
      push('typing', async () => {
        const conversationId = await deps.store.conversationOf(interactionId);
        if (conversationId) toConversation(conversationId).emit('typing', { from: 'agent', isTyping });
      });
    }),
    deps.events.subscribe('interaction.closed', ({ interactionId, channel, reason, message }) => {
      if (channel !== 'chat') return;
      push('chat:closed', async () => {
        const conversationId = await deps.store.conversationOf(interactionId);
        if (conversationId)
          toConversation(conversationId).emit('chat:closed', {
            reason,
            ...(message !== undefined && { message }),
          });
      });
    }),
  ];

  /** Agents' replies: pushed to the conversation's room, wherever its sockets are held. */
  const sender: ChannelSender = {
    isImmediate: true,
    async send(message: OutboundMessage) {
      const conversationId = conversationOfThread(message.threadKey);
      if (!conversationId) throw new PermanentDeliveryError('not a web chat conversation');
      toConversation(conversationId).emit('message', {
        id: message.eventId,
        clientId: null,
        from: 'agent',
        text: message.text,
        agentName: message.agent?.displayName || null,
        at: new Date().toISOString(),
      });
      return {};
    },
  };

  return {
    sender,
    /**
     * A visitor's image, uploaded over HTTP (attachments.routes.ts): ingested like `message:send` (the same
     * externalId, so a resend is a duplicate) and shown in every tab of the conversation. The attachments
     * answered are the logged message's: on a duplicate, the first upload's, not `attachment`.
     */
    async receiveImage(
      visitor: ChatSocketData,
      clientId: string,
      attachment: InboundAttachment & { id: string },
    ): Promise<{ result: IngestResult; attachments: ChatAttachmentPush[] }> {
      const { conversationId } = visitor;
      const state = await deps.store.find(conversationId);
      const result = await deps.ingest(
        contactOf(visitor, state.profile, {
          externalId: `webchat:${conversationId}:${clientId}`,
          hints: { clientId },
          attachments: [attachment],
        }),
      );
      if (result.interactionId !== state.interactionId)
        await deps.store.linkInteraction(conversationId, result.interactionId);
      if (result.isDuplicate) {
        const { events } = await deps.interactions.detail(result.interactionId);
        const logged = events.find((event) => event.id === result.eventId);
        return { result, attachments: logged ? attachmentPushesOf(logged.payload) : [] };
      }
      const attachments = attachmentPushesOf({ attachments: [attachment] });
      toConversation(conversationId).emit('message', {
        id: result.eventId,
        clientId,
        from: 'visitor',
        text: '',
        agentName: null,
        at: new Date().toISOString(),
        attachments,
      });
      return { result, attachments };
    },
    stop() {
      for (const off of unsubscribe) off();
    },
  };
}

/*
 * The browser contract of the web chat widget's socket (socket.io namespace `/chat`): the handshake, what the
 * server pushes, and what the visitor asks. Every request carries an acknowledgement, answered
 * `{ ok: true, ... }` or `{ ok: false, error: { code, message } }` with a code from src/errors.ts, as on
 * `/agent`. Requests are validated against the schemas below before anything else reads them.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { AckResult } from '../../src/realtime/agent-events.js';

export type { AckResult, SocketError } from '../../src/realtime/agent-events.js';

export type ConversationId = string;

// --- handshake (the client's `auth` option) ---------------------------------------------------------------

export const ChatHandshake = Type.Object({
  widgetId: Type.String({ minLength: 1, maxLength: 64 }),
  /** The token of a conversation the visitor had (localStorage); absent or not valid: a new conversation. */
  token: Type.Optional(Type.String({ maxLength: 200 })),
  /** Identity validation: the host site's user id and HMAC-SHA256(widget secret, userId) in hex. */
  userId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  userHash: Type.Optional(Type.String({ maxLength: 128 })),
  /** The widget's language (`es-MX`): a routing fact. */
  locale: Type.Optional(Type.String({ maxLength: 35, pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$' })),
});
export type ChatHandshake = Static<typeof ChatHandshake>;
export const chatHandshakeValidator = Compile(ChatHandshake);

// --- server -> client ---------------------------------------------------------------------------------------

/** One message of the conversation, as the widget shows it. `text` is plain text: render it as text. */
export interface ChatMessagePush {
  /** The log event's id. */
  id: string;
  /** The visitor's own id for a message they sent (dedupes an echo against the tab that sent it). */
  clientId: string | null;
  from: 'visitor' | 'agent';
  text: string;
  agentName: string | null;
  at: string;
  /** A visitor's images (absent: none). */
  attachments?: ChatAttachmentPush[];
}

/**
 * An image the visitor sent. `url` is a path on the chat server: GET it with `?widgetId=` (and `userId`,
 * `userHash` for a validated user) and the header `Authorization: Bearer <token>`.
 */
export interface ChatAttachmentPush {
  id: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  url: string;
}

/** Sent once on connect: the token to keep, and the conversation so far (its latest interaction). */
export interface ChatSessionPush {
  token: string;
  conversationId: ConversationId;
  interactionId: string | null;
  isOpen: boolean;
  agentName: string | null;
  messages: ChatMessagePush[];
  /** Standard answers offered and not answered yet, while nobody has taken the chat; else null. */
  suggestions: ChatSuggestionsPush | null;
  /** What `POST /chat/attachments` takes: the largest image in bytes, and its types (checked by content). */
  imageLimits: { maxBytes: number; types: string[] };
}

/**
 * Standard answers matching the visitor's first message, offered while they wait for a person. `text` is
 * plain text: render it as text. The visitor answers with `suggestions:answer`.
 */
export interface ChatSuggestionsPush {
  interactionId: string;
  suggestions: { id: string; title: string; text: string }[];
}

export interface ChatClosedPush {
  reason: string;
  /** What the customer should be told (an after-hours close). */
  message?: string;
}

export interface ChatServerToClientEvents {
  'chat:session': (session: ChatSessionPush) => void;
  /** An agent's reply, or the visitor's own message echoed to their other tabs. */
  message: (message: ChatMessagePush) => void;
  'agent:joined': (agent: { name: string }) => void;
  typing: (typing: { from: 'agent'; isTyping: boolean }) => void;
  'chat:closed': (closed: ChatClosedPush) => void;
  'answers:suggested': (suggestions: ChatSuggestionsPush) => void;
}

// --- client -> server ---------------------------------------------------------------------------------------

const ClientId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\w-]+$' });
const Email = Type.String({ format: 'email', maxLength: 254 });
const Name = Type.String({ minLength: 1, maxLength: 100 });
/** Text is capped by WEBCHAT_MAX_MESSAGE_CHARS in the handler; this bound only stops absurd payloads. */
const Text = Type.String({ minLength: 1, maxLength: 100_000 });

export const chatRequestSchemas = {
  /** The pre-chat form. The answer says whether anyone can take the chat now (else: leave a message). */
  'chat:start': Type.Object(
    {
      name: Type.Optional(Name),
      email: Type.Optional(Email),
      fields: Type.Optional(
        Type.Record(Type.String({ pattern: '^[\\w-]{1,32}$' }), Type.String({ maxLength: 500 }), {
          maxProperties: 10,
        }),
      ),
    },
    { additionalProperties: false },
  ),
  /** Idempotent on `clientId`: a resend after a reconnect is not ingested twice. */
  'message:send': Type.Object({ clientId: ClientId, text: Text }, { additionalProperties: false }),
  typing: Type.Object({ isTyping: Type.Boolean() }, { additionalProperties: false }),
  'chat:close': Type.Object({}, { additionalProperties: false }),
  /** Nobody available or after hours: a message left for the team, answered later (by email when given). */
  'message:leave': Type.Object(
    { clientId: ClientId, text: Text, name: Type.Optional(Name), email: Type.Optional(Email) },
    { additionalProperties: false },
  ),
  /** The visitor's answer to offered standard answers: `replyId` answered them, null: they want a person. */
  'suggestions:answer': Type.Object(
    {
      interactionId: Type.String({ format: 'uuid' }),
      replyId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    },
    { additionalProperties: false },
  ),
} satisfies Record<string, TSchema>;

type Schemas = typeof chatRequestSchemas;

export interface ChatRequestResults {
  'chat:start': { isOffline: boolean };
  'message:send': { id: string; interactionId: string; isDuplicate: boolean };
  typing: Record<string, never>;
  'chat:close': { wasOpen: boolean };
  'message:leave': { interactionId: string };
  /** `isRecorded` false: this conversation answered already (another tab). `isClosed`: self-served. */
  'suggestions:answer': { isRecorded: boolean; isClosed: boolean };
}

export type ChatRequestName = keyof Schemas & keyof ChatRequestResults;
export type ChatRequest<E extends ChatRequestName> = Static<Schemas[E]>;

export type ChatClientToServerEvents = {
  [E in ChatRequestName]: (
    request: ChatRequest<E>,
    ack: (result: AckResult<ChatRequestResults[E]>) => void,
  ) => void;
};

export const chatRequestValidators = {
  'chat:start': Compile(chatRequestSchemas['chat:start']),
  'message:send': Compile(chatRequestSchemas['message:send']),
  typing: Compile(chatRequestSchemas.typing),
  'chat:close': Compile(chatRequestSchemas['chat:close']),
  'message:leave': Compile(chatRequestSchemas['message:leave']),
  'suggestions:answer': Compile(chatRequestSchemas['suggestions:answer']),
};

/** What the handshake established. */
export interface ChatSocketData {
  widgetId: string;
  conversationId: ConversationId;
  /** The host site's user id, when identity validation vouched for it. */
  userId: string | null;
  locale: string | null;
}

export const conversationRoom = (conversationId: ConversationId) => `chat:${conversationId}`;

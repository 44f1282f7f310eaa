/*
 * Who a chat visitor is, without storing anything per visitor: conversation tokens signed with a server key
 * (HMAC-SHA256), and the host site's identity validation (HMAC-SHA256 of its user id under the widget's
 * secret). Comparisons are constant-time.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sharedSecretOf } from '../../src/jobs/shared-secret.js';
import type { WebchatWidget } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import type { ChatHandshake, ChatSocketData, ConversationId } from './chat-events.js';

const hmac = (key: string, data: string) => createHmac('sha256', key).update(data).digest();

function isSameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Identity validation: `userHash` must be the hex HMAC-SHA256 of `userId` under the widget's secret. */
export function isValidUserHash(secret: string, userId: string, userHash: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(userHash)) return false;
  return isSameBytes(hmac(secret, userId), Buffer.from(userHash, 'hex'));
}

export function createConversationTokens(secret: string) {
  const sign = (widgetId: string, conversationId: ConversationId) =>
    hmac(secret, `conversation\0${widgetId}\0${conversationId}`).toString('base64url');
  return {
    /** A new anonymous conversation. */
    newConversation: (): ConversationId => randomUUID(),
    /** A validated user's conversation: the same on every device they chat from. */
    conversationOfUser: (widgetId: string, userId: string): ConversationId =>
      `u-${hmac(secret, `user\0${widgetId}\0${userId}`).toString('hex').slice(0, 32)}`,
    /** `<conversationId>.<signature>`, bound to the widget. */
    issue: (widgetId: string, conversationId: ConversationId) =>
      `${conversationId}.${sign(widgetId, conversationId)}`,
    /** The conversation a token names, or undefined for a forged token or one of another widget. */
    verify(widgetId: string, token: string): ConversationId | undefined {
      const dot = token.lastIndexOf('.');
      if (dot <= 0) return undefined;
      const conversationId = token.slice(0, dot);
      if (!/^(u-)?[\w-]{1,40}$/.test(conversationId)) return undefined;
      const given = Buffer.from(token.slice(dot + 1), 'base64url');
      return isSameBytes(given, Buffer.from(sign(widgetId, conversationId), 'base64url'))
        ? conversationId
        : undefined;
    },
  };
}

export type ConversationTokens = ReturnType<typeof createConversationTokens>;

/**
 * The token key: the configured one, else one random key kept in Redis (the first process to start writes
 * it), so that every process of the cluster verifies what another issued.
 */
export function tokenSecretOf(configured: string | undefined, redis: Redis, prefix: string) {
  return sharedSecretOf(configured, redis, `${prefix}webchat:token-secret`);
}

/** Whether a page of `origin` may use the widget (no Origin: not a browser, so not a page embedding it). */
export function isOriginAllowed(widget: WebchatWidget, origin: string | undefined): boolean {
  return !origin || widget.allowedOrigins.includes('*') || widget.allowedOrigins.includes(origin);
}

/**
 * Who a visitor is, from what the widget sends (the socket handshake's `auth`, or an upload's query and
 * bearer token) and the page's Origin: the widget, its sites, identity validation, and the conversation.
 * A validated user has one conversation wherever they chat from; otherwise the token names it. With
 * `mayStart`, a missing, forged or foreign token starts a new conversation (the socket); without, it is
 * refused (an upload or a read, which only make sense in a conversation the visitor has). Refusals are
 * AppErrors; a token key that cannot be read rejects with its own error.
 */
export async function admitVisitor(
  deps: { widgets: Record<string, WebchatWidget>; tokens: Promise<ConversationTokens> },
  auth: ChatHandshake,
  origin: string | undefined,
  options: { mayStart: boolean },
): Promise<ChatSocketData> {
  const widget = Object.hasOwn(deps.widgets, auth.widgetId) ? deps.widgets[auth.widgetId] : undefined;
  if (!widget) throw new AppError('FORBIDDEN', 'Unknown widget.');
  if (!isOriginAllowed(widget, origin))
    throw new AppError('FORBIDDEN', 'This widget is not allowed on this site.');
  let userId: string | null = null;
  if (auth.userId !== undefined) {
    if (!widget.identitySecret || !isValidUserHash(widget.identitySecret, auth.userId, auth.userHash ?? ''))
      throw new AppError('NOT_AUTHENTICATED', 'The visitor identity could not be verified.');
    userId = auth.userId;
  } else if (widget.isIdentityRequired) {
    throw new AppError('NOT_AUTHENTICATED', 'This widget needs a verified visitor identity.');
  }
  const tokens = await deps.tokens;
  let conversationId = userId
    ? tokens.conversationOfUser(auth.widgetId, userId)
    : auth.token && tokens.verify(auth.widgetId, auth.token);
  if (!conversationId) {
    if (!options.mayStart)
      throw new AppError('NOT_AUTHENTICATED', 'This chat is not known: reload the page.');
    conversationId = tokens.newConversation();
  }
  return { widgetId: auth.widgetId, conversationId, userId, locale: auth.locale ?? null };
}

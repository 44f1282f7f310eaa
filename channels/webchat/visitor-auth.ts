/*
 * Who a chat visitor is, without storing anything per visitor: conversation tokens signed with a server key
 * (HMAC-SHA256), and the host site's identity validation (HMAC-SHA256 of its user id under the widget's
 * secret). Comparisons are constant-time.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ConversationId } from './chat-events.js';

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
export async function tokenSecretOf(configured: string | undefined, redis: Redis, prefix: string) {
  if (configured) return configured;
  const key = `${prefix}webchat:token-secret`;
  await redis.set(key, randomBytes(32).toString('base64url'), 'NX');
  const secret = await redis.get(key);
  if (!secret) throw new Error('the web chat token key could not be read from Redis');
  return secret;
}

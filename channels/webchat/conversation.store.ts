/*
 * The web chat's own state in Redis, per conversation: the pre-chat answers, the conversation's latest
 * interaction (and the way back from an interaction to its conversation), and the message rate limit.
 * Keys live `ttlSeconds` from their last write; the unified log in Postgres holds the messages themselves.
 */
import type { Redis } from 'ioredis';
import type { ConversationId } from './chat-events.js';

export interface VisitorProfile {
  name?: string;
  email?: string;
  fields?: Record<string, string>;
}

export interface ConversationState {
  profile: VisitorProfile;
  interactionId: string | null;
}

/** KEYS: counter. ARGV: window (ms). The count in the current fixed window, this message included. */
const countScript = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

export function createConversationStore(deps: { redis: Redis; prefix: string; ttlSeconds?: number }) {
  const ttl = deps.ttlSeconds ?? 30 * 86_400;
  const conversationKey = (id: ConversationId) => `${deps.prefix}webchat:conversation:${id}`;
  const interactionKey = (interactionId: string) => `${deps.prefix}webchat:interaction:${interactionId}`;

  return {
    async find(id: ConversationId): Promise<ConversationState> {
      const row = await deps.redis.hgetall(conversationKey(id));
      return {
        profile: row.profile ? (JSON.parse(row.profile) as VisitorProfile) : {},
        interactionId: row.interactionId || null,
      };
    },

    async saveProfile(id: ConversationId, profile: VisitorProfile): Promise<void> {
      await deps.redis
        .multi()
        .hset(conversationKey(id), 'profile', JSON.stringify(profile))
        .expire(conversationKey(id), ttl)
        .exec();
    },

    /** The conversation's message went into `interactionId` (a new one after the last was closed). */
    async linkInteraction(id: ConversationId, interactionId: string): Promise<void> {
      await deps.redis
        .multi()
        .hset(conversationKey(id), 'interactionId', interactionId)
        .expire(conversationKey(id), ttl)
        .set(interactionKey(interactionId), id, 'EX', ttl)
        .exec();
    },

    /** The conversation an interaction belongs to, if it is a web chat's. */
    async conversationOf(interactionId: string): Promise<ConversationId | null> {
      return deps.redis.get(interactionKey(interactionId));
    },

    /** Counts one message; true while the conversation is within `limit` per window. */
    async isWithinRate(id: ConversationId, limit: number, windowMs: number): Promise<boolean> {
      const count = (await deps.redis.eval(
        countScript,
        1,
        `${deps.prefix}webchat:rate:${id}`,
        windowMs,
      )) as number;
      return count <= limit;
    },
  };
}

export type ConversationStore = ReturnType<typeof createConversationStore>;

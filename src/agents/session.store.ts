import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AgentId } from '../db/repositories/agents.repository.js';

/*
 * Sessions live in Redis under `<prefix>session:<sha256(token)>`: the cookie carries the token, Redis only
 * its hash, so a Redis dump does not hand out sessions. Login always creates a new token (no fixation).
 */
export interface Session {
  agentId: AgentId;
  createdAt: string;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

export function createSessionStore(redis: Redis, prefix: string, ttlSeconds: number) {
  const key = (token: string) => `${prefix}session:${hashToken(token)}`;
  return {
    async create(agentId: AgentId): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      const session: Session = { agentId, createdAt: new Date().toISOString() };
      await redis.set(key(token), JSON.stringify(session), 'EX', ttlSeconds);
      return token;
    },
    async find(token: string): Promise<Session | undefined> {
      if (token.length > 100) return undefined;
      const raw = await redis.get(key(token));
      return raw ? (JSON.parse(raw) as Session) : undefined;
    },
    async destroy(token: string): Promise<void> {
      await redis.del(key(token));
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;

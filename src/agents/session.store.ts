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
  const key = (tokenHash: string) => `${prefix}session:${tokenHash}`;
  // Each agent's live sessions, so that disabling an agent or changing a password ends them all.
  const agentKey = (agentId: AgentId) => `${prefix}agent-sessions:${agentId}`;
  return {
    async create(agentId: AgentId): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      const tokenHash = hashToken(token);
      const session: Session = { agentId, createdAt: new Date().toISOString() };
      await redis
        .multi()
        .set(key(tokenHash), JSON.stringify(session), 'EX', ttlSeconds)
        .sadd(agentKey(agentId), tokenHash)
        .expire(agentKey(agentId), ttlSeconds)
        .exec();
      return token;
    },
    async find(token: string): Promise<Session | undefined> {
      if (token.length > 100) return undefined;
      const raw = await redis.get(key(hashToken(token)));
      return raw ? (JSON.parse(raw) as Session) : undefined;
    },
    async destroy(token: string): Promise<void> {
      const tokenHash = hashToken(token);
      const raw = await redis.get(key(tokenHash));
      const multi = redis.multi().del(key(tokenHash));
      if (raw) multi.srem(agentKey((JSON.parse(raw) as Session).agentId), tokenHash);
      await multi.exec();
    },
    async revokeAll(agentId: AgentId): Promise<void> {
      const hashes = await redis.smembers(agentKey(agentId));
      await redis
        .multi()
        .del(...hashes.map(key), agentKey(agentId))
        .exec();
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;

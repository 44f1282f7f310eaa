/*
 * Presence: is an agent's console open anywhere in the cluster? "All of an agent's sockets gone for the
 * grace period" sets the agent offline through the agent state service, which has routing withdraw their
 * live offers, so that a closed laptop does not hold contacts.
 *
 * Redis holds it, so that it spans processes and outlives any one of them:
 * - `<prefix>presence:<agentId>`, a sorted set of the agent's live socket ids, scored by the last heartbeat
 *   (milliseconds, Redis's clock, so that processes' clocks need not agree). The process holding a socket
 *   refreshes it every `heartbeatMs`; an entry three beats old belongs to a process that died or hung, and
 *   counts as gone.
 * - `<prefix>presence-index`, a sorted set of tracked agents scored by their last sign of life (a
 *   heartbeat, a connect or a disconnect): the grace runs from there.
 *
 * Two paths reach the same retry-safe `check`: a delayed job queued when a disconnect leaves the agent
 * with no fresh socket (on time, to within the queue's delay), and a repeating sweep for agents whose
 * sockets vanished with a killed process (no disconnect was ever seen). Connecting never changes an agent's
 * state (the agent chooses to become available); an agent back within the grace keeps the state they had.
 * Only an agent that presence tracks (who had a console socket) is ever set offline by it.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { AgentStateService } from '../agents/agent-state.service.js';
import type { AgentId } from '../db/repositories/agents.repository.js';
import type { JobQueue } from '../jobs/job-registry.js';

export type PresenceOutcome = 'online' | 'in-grace' | 'untracked' | 'offline';

const nowMs = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: agent set, index. ARGV: agentId, key ttl (ms), socket ids... Adds or refreshes the sockets. */
const touchScript = `${nowMs}
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return now`;

/** KEYS: agent set, index. ARGV: agentId, socket id, stale (ms). Returns the agent's fresh sockets left. */
const leaveScript = `${nowMs}
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[3]), '+inf')`;

/**
 * KEYS: agent set, index. ARGV: agentId, grace (ms), stale (ms). Drops stale sockets, then answers
 * {'online'}, {'untracked'}, {'in-grace', ms left} or {'gone', the index score that was judged}.
 */
const probeScript = `${nowMs}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3])))
if redis.call('ZCARD', KEYS[1]) > 0 then return {'online', '0'} end
local last = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not last then return {'untracked', '0'} end
local left = tonumber(last) + tonumber(ARGV[2]) - now
if left > 0 then return {'in-grace', tostring(left)} end
return {'gone', last}`;

/** KEYS: agent set, index. ARGV: agentId, judged score. Stops tracking unless a sign of life came since. */
const forgetScript = `if redis.call('ZCARD', KEYS[1]) == 0 and redis.call('ZSCORE', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0`;

/** KEYS: index. ARGV: grace (ms), limit. Agents with no sign of life for the grace. */
const candidatesScript = `${nowMs}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))`;

export function createPresenceService(deps: {
  redis: Redis;
  prefix: string;
  jobs: JobQueue;
  agentStates: Pick<AgentStateService, 'setState' | 'status'>;
  graceMs: number;
  heartbeatMs: number;
  log: FastifyBaseLogger;
}) {
  const agentKey = (agentId: AgentId) => `${deps.prefix}presence:${agentId}`;
  const indexKey = `${deps.prefix}presence-index`;
  const staleMs = 3 * deps.heartbeatMs;
  // An agent set outlives its last refresh long enough for any check to read it, then Redis drops it.
  const keyTtlMs = 4 * (staleMs + deps.graceMs);

  const scheduleCheck = (agentId: AgentId, delayMs: number) =>
    // Safety margin: a delayed job may run a few ms early by Redis's clock; an early check would only
    // reschedule itself.
    deps.jobs.enqueue('agents.presence-check', { agentId }, { delayMs: Math.ceil(delayMs) + 25 });

  async function check(agentId: AgentId): Promise<PresenceOutcome> {
    const [verdict, value] = (await deps.redis.eval(
      probeScript,
      2,
      agentKey(agentId),
      indexKey,
      agentId,
      deps.graceMs,
      staleMs,
    )) as ['online' | 'untracked' | 'in-grace' | 'gone', string];
    switch (verdict) {
      case 'online':
        return 'online';
      case 'untracked':
        return 'untracked';
      case 'in-grace':
        await scheduleCheck(agentId, Number(value));
        return 'in-grace';
      case 'gone':
        break;
    }
    // Gone for the grace. The index entry goes only after the state is written: a failure leaves it, so the
    // retried job or the sweep comes back.
    const status = await deps.agentStates.status(agentId);
    if (status && status.state !== 'offline') {
      await deps.agentStates.setState(agentId, 'offline');
      deps.log.info({ agentId, from: status.state, graceMs: deps.graceMs }, 'agent offline: console gone');
    }
    await deps.redis.eval(forgetScript, 2, agentKey(agentId), indexKey, agentId, value);
    return 'offline';
  }

  return {
    graceMs: deps.graceMs,
    heartbeatMs: deps.heartbeatMs,

    /** A socket of the agent's opened on this process. */
    async connected(agentId: AgentId, socketId: string): Promise<void> {
      await deps.redis.eval(touchScript, 2, agentKey(agentId), indexKey, agentId, keyTtlMs, socketId);
    },

    /** A socket closed; with no fresh socket left anywhere, the agent's grace starts now. */
    async disconnected(agentId: AgentId, socketId: string): Promise<void> {
      const fresh = (await deps.redis.eval(
        leaveScript,
        2,
        agentKey(agentId),
        indexKey,
        agentId,
        socketId,
        staleMs,
      )) as number;
      if (fresh === 0) await scheduleCheck(agentId, deps.graceMs);
    },

    /** The heartbeat of this process's sockets, by agent: one round trip for all of them. */
    async beat(socketsByAgent: ReadonlyMap<AgentId, readonly string[]>): Promise<void> {
      if (socketsByAgent.size === 0) return;
      const pipeline = deps.redis.pipeline();
      for (const [agentId, socketIds] of socketsByAgent)
        pipeline.eval(touchScript, 2, agentKey(agentId), indexKey, agentId, keyTtlMs, ...socketIds);
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0]!;
    },

    /** The `agents.presence-check` job: retry-safe, and a no-op for an agent who came back. */
    check,

    /** The repeating `agents.sweep-presence` job: checks agents with no sign of life for the grace. */
    async sweep(limit = 200): Promise<number> {
      const candidates = (await deps.redis.eval(
        candidatesScript,
        1,
        indexKey,
        Math.max(deps.graceMs, staleMs),
        limit,
      )) as string[];
      let offline = 0;
      for (const agentId of candidates) if ((await check(agentId)) === 'offline') offline += 1;
      return offline;
    },

    /** The agent's sockets that count as live, on every process (for supervisors and tests). */
    async liveSockets(agentId: AgentId): Promise<number> {
      const time = await deps.redis.time();
      const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      return deps.redis.zcount(agentKey(agentId), now - staleMs, '+inf');
    },
  };
}

export type PresenceService = ReturnType<typeof createPresenceService>;

/*
 * The working agents as the dispatcher sees them, read for every dispatch without re-reading what rarely
 * changes.
 *
 * Fresh on every call: who is working (available or on a contact), their idle clock and their loads. A call
 * gets a read that started after the call did, so a process sees its own writes (an agent made available,
 * an offer settled) in its next dispatch. Calls that overlap share such a read.
 *
 * Kept for `profileTtlMs`: each agent's skills, capacity overrides and whether they are disabled (three
 * aggregates over 500 agents cost Postgres more than the rest of a dispatch). An agent the cache does not
 * know yet (just created) makes the call wait for a refresh; a profile older than the TTL is refreshed in the
 * background while the old one serves. So an admin's edit of skills or capacity reaches routing within about
 * `profileTtlMs` on every process. Until then the old profile is used, as a dispatch that read the agent just
 * before the edit would: the claim re-checks state, disabled and load under the agent's lock, but it enforces
 * the capacity it is given, so a lowered capacity can be exceeded by offers claimed in that window.
 */
import type {
  AgentPresence,
  AgentProfile,
  AgentSnapshot,
  RoutingRepository,
} from '../db/repositories/routing.repository.js';

/** Calls `read` so that every caller gets a read that started after its call; concurrent callers share one. */
export function coalesceReads<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const current: Promise<T> = read().finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  };
  return () => {
    if (running === undefined) return start();
    // The running read may predate this call: wait for it to end, then share the one read after it.
    next ??= running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        next = undefined;
        return start();
      });
    return next;
  };
}

export function createAgentSnapshots(deps: {
  routing: Pick<RoutingRepository, 'agentProfiles' | 'agentPresence'>;
  profileTtlMs?: number;
  now?: () => number;
}) {
  const ttlMs = deps.profileTtlMs ?? 1000;
  const now = deps.now ?? (() => Date.now());
  let profiles: ReadonlyMap<string, AgentProfile> = new Map();
  let profilesAtMs = -Infinity;
  let isRefreshing = false;

  const refreshProfiles = coalesceReads(async () => {
    const startedMs = now();
    isRefreshing = true;
    try {
      const list = await deps.routing.agentProfiles();
      profiles = new Map(list.map((p) => [p.agentId, p]));
      profilesAtMs = startedMs;
      return profiles;
    } finally {
      isRefreshing = false;
    }
  });
  const readEveryone = coalesceReads(() => deps.routing.agentPresence());

  /** The working agents with their profiles; undefined when one is not known yet (and `isFinal` is false). */
  function join(
    presence: readonly AgentPresence[],
    known: ReadonlyMap<string, AgentProfile>,
    isFinal: boolean,
  ): AgentSnapshot[] | undefined {
    // A plain loop: flatMap with spread objects cost ten times as much for 500 agents.
    const agents: AgentSnapshot[] = [];
    for (const { agentId, state, idleSinceMs, loads } of presence) {
      const profile = known.get(agentId);
      if (profile === undefined && !isFinal) return undefined;
      if (profile === undefined || profile.isDisabled) continue;
      const { skills, capacityOverrides } = profile;
      agents.push({ agentId, state, idleSinceMs, skills, capacityOverrides, loads });
    }
    return agents;
  }

  return {
    /**
     * Agents who may take work now (available or on a contact, not disabled), or just `agentId`. Concurrent
     * callers may share the objects inside (loads, skills): read-only, as the strategies treat them.
     */
    async workingAgents(agentId?: string): Promise<AgentSnapshot[]> {
      const presence =
        agentId === undefined ? await readEveryone() : await deps.routing.agentPresence(agentId);
      const agents = join(presence, profiles, false);
      if (agents === undefined) return join(presence, await refreshProfiles(), true)!;
      // Stale: serve these while one refresh runs in the background (a failed one is retried by a later call).
      if (now() - profilesAtMs > ttlMs && !isRefreshing) refreshProfiles().catch(() => undefined);
      return agents;
    },
  };
}

export type AgentSnapshots = ReturnType<typeof createAgentSnapshots>;

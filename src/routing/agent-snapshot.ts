/*
 * The working agents as the dispatcher sees them, kept in memory and brought up to date on every dispatch by
 * reading only what changed.
 *
 * Fresh on every call: who is working (available or on a contact), their idle clock, their loads and the
 * round-robin cursors. A call gets a read that started after the call did, so a process sees its own writes
 * (an agent made available, an offer settled) in its next dispatch; calls that overlap share such a read.
 * Each read returns only the agent_states and agent_loads rows written since the previous read (by
 * transaction id: migrations/2026-11-24_faster_routing.ts says why no change is missed), so its cost follows
 * the changes, not the number of agents.
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
  AgentChanges,
  AgentPresence,
  AgentProfile,
  AgentSnapshot,
  RoutingRepository,
} from '../db/repositories/routing.repository.js';
import type { Channel } from '../interactions/inbound-contact.js';

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

/** What a dispatch reads: the working agents and the round-robin cursors, as of one read. */
export interface RoutingView {
  /** The same array (and objects) until something in it changes: callers treat them as read-only. */
  agents: readonly AgentSnapshot[];
  rotations: Record<string, { lastAgentId: string | null }>;
  /** The number of the read this view is as of: reads are numbered as they start (readsStarted()). */
  readNumber: number;
}

const isWorking = (state: string): state is AgentSnapshot['state'] =>
  state === 'available' || state === 'on_contact';

export function createAgentSnapshots(deps: {
  routing: Pick<RoutingRepository, 'agentProfiles' | 'agentPresence' | 'agentChanges'>;
  profileTtlMs?: number;
  now?: () => number;
}) {
  const ttlMs = deps.profileTtlMs ?? 1000;
  const now = deps.now ?? (() => Date.now());
  let profiles: ReadonlyMap<string, AgentProfile> = new Map();
  let profilesAtMs = -Infinity;
  let isRefreshing = false;

  // Every agent's state and idle clock, and every agent's loads, as of the last read.
  const states = new Map<string, { state: string; idleSinceMs: number }>();
  const loads = new Map<string, Partial<Record<Channel, number>>>();
  let since: string | undefined;
  let rotations: RoutingView['rotations'] = {};
  /** The list served, rebuilt when a read or a profile refresh changed something. */
  let view: RoutingView | undefined;

  const refreshProfiles = coalesceReads(async () => {
    const startedMs = now();
    isRefreshing = true;
    try {
      const list = await deps.routing.agentProfiles();
      profiles = new Map(list.map((p) => [p.agentId, p]));
      profilesAtMs = startedMs;
      view = undefined;
      built.clear();
      return profiles;
    } finally {
      isRefreshing = false;
    }
  });

  /** Agent ids by id: the strategies' ties expect a stable order. Sorted again only when one is added. */
  let order: string[] = [];
  /** Each working agent's snapshot object, until their row, loads or profile change. */
  const built = new Map<string, AgentSnapshot>();

  function apply(changes: AgentChanges) {
    let isNewAgent = false;
    for (const { agentId, state, idleSinceMs } of changes.agents) {
      if (!states.has(agentId)) isNewAgent = true;
      states.set(agentId, { state, idleSinceMs });
      built.delete(agentId);
    }
    for (const { agentId, channel, load } of changes.loads) {
      // A new object per change: a view handed out earlier keeps the loads it was built with.
      loads.set(agentId, { ...loads.get(agentId), [channel]: load });
      built.delete(agentId);
    }
    if (isNewAgent) order = [...states.keys()].sort();
    if (changes.agents.length > 0 || changes.loads.length > 0) view = undefined;
    rotations = changes.rotations;
    since = changes.since;
  }
  let readsStarted = 0;
  let appliedRead = 0;
  /**
   * A read's changes, unless a read that started later was applied already: that one covers at least as
   * much (it asked from the same or a later `since`, and anything its snapshot missed is at or after its
   * xmin, so the next read brings it).
   */
  function applyRead(number: number, changes: AgentChanges) {
    if (number <= appliedRead) return;
    apply(changes);
    appliedRead = number;
  }
  const readChanges = coalesceReads(async () => {
    const number = ++readsStarted;
    applyRead(number, await deps.routing.agentChanges(since));
  });

  /** The working agents with their profiles; undefined when one is not known yet (and `isFinal` is false). */
  function build(isFinal: boolean): AgentSnapshot[] | undefined {
    const agents: AgentSnapshot[] = [];
    for (const agentId of order) {
      const { state, idleSinceMs } = states.get(agentId)!;
      if (!isWorking(state)) continue;
      let agent = built.get(agentId);
      if (agent === undefined) {
        const profile = profiles.get(agentId);
        if (profile === undefined && !isFinal) return undefined;
        if (profile === undefined || profile.isDisabled) continue;
        const { skills, capacityOverrides } = profile;
        agent = { agentId, state, idleSinceMs, skills, capacityOverrides, loads: loads.get(agentId) ?? {} };
        built.set(agentId, agent);
      }
      agents.push(agent);
    }
    return agents;
  }

  function join(
    presence: readonly AgentPresence[],
    known: ReadonlyMap<string, AgentProfile>,
    isFinal: boolean,
  ): AgentSnapshot[] | undefined {
    const agents: AgentSnapshot[] = [];
    for (const { agentId, state, idleSinceMs, loads: agentLoads } of presence) {
      const profile = known.get(agentId);
      if (profile === undefined && !isFinal) return undefined;
      if (profile === undefined || profile.isDisabled) continue;
      const { skills, capacityOverrides } = profile;
      agents.push({ agentId, state, idleSinceMs, skills, capacityOverrides, loads: agentLoads });
    }
    return agents;
  }

  /** The view as of the reads applied so far. */
  async function current(): Promise<RoutingView> {
    if (view === undefined) {
      let agents = build(false);
      if (agents === undefined) {
        await refreshProfiles();
        agents = build(true)!;
      }
      view = { agents, rotations, readNumber: appliedRead };
    } else if (view.rotations !== rotations || view.readNumber !== appliedRead) {
      view = { agents: view.agents, rotations, readNumber: appliedRead };
    }
    refreshIfStale();
    return view;
  }

  function refreshIfStale() {
    // Stale: serve these while one refresh runs in the background (a failed one is retried by a later call).
    if (now() - profilesAtMs > ttlMs && !isRefreshing) refreshProfiles().catch(() => undefined);
  }

  return {
    /** Every working agent (available or on a contact, not disabled) and the round-robin cursors. */
    async view(): Promise<RoutingView> {
      await readChanges();
      return current();
    },

    /**
     * For a caller that reads the changes within a statement of its own (routing reads them with a new
     * contact's facts): where to read from, then hand the changes to `applied` for the view as of them.
     */
    beginRead(): { since: string | undefined; applied: (changes: AgentChanges) => Promise<RoutingView> } {
      const number = ++readsStarted;
      return {
        since,
        applied: (changes) => {
          applyRead(number, changes);
          return current();
        },
      };
    },

    /** An agent's display name as last read with the profiles (undefined when not known yet). */
    nameOf: (agentId: string): string | undefined => profiles.get(agentId)?.displayName,

    /** How many reads have started: a view whose readNumber is above this began after this call. */
    readsStarted: () => readsStarted,

    /** Agents who may take work now, or just `agentId` (read on its own, fresh). */
    async workingAgents(agentId?: string): Promise<readonly AgentSnapshot[]> {
      if (agentId === undefined) return (await this.view()).agents;
      const presence = await deps.routing.agentPresence(agentId);
      const agents = join(presence, profiles, false) ?? join(presence, await refreshProfiles(), true)!;
      refreshIfStale();
      return agents;
    },
  };
}

export type AgentSnapshots = ReturnType<typeof createAgentSnapshots>;

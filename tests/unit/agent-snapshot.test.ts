import { describe, expect, it } from 'vitest';
import type { AgentPresence, AgentProfile } from '../../src/db/repositories/routing.repository.js';
import { coalesceReads, createAgentSnapshots } from '../../src/routing/agent-snapshot.js';

/** A promise and the functions that settle it, for reads that finish when the test says so. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('coalesceReads', () => {
  it('gives every caller a read that started after its call, shared by the callers that waited together', async () => {
    const reads: ReturnType<typeof deferred<number>>[] = [];
    const read = coalesceReads(() => {
      const d = deferred<number>();
      reads.push(d);
      return d.promise;
    });

    const first = read();
    expect(reads).toHaveLength(1);
    // Both arrive while the first read runs: they must not get it, and they share the next one.
    const second = read();
    const third = read();
    expect(reads).toHaveLength(1);

    reads[0]!.resolve(1);
    expect(await first).toBe(1);
    await flush();
    expect(reads).toHaveLength(2);
    reads[1]!.resolve(2);
    expect(await second).toBe(2);
    expect(await third).toBe(2);

    // Nothing running: a call starts its own read at once.
    const fourth = read();
    expect(reads).toHaveLength(3);
    reads[2]!.resolve(3);
    expect(await fourth).toBe(3);
  });

  it('passes a failed read to its callers and still reads again for those waiting behind it', async () => {
    let calls = 0;
    const read = coalesceReads(async () => {
      calls += 1;
      if (calls === 1) throw new Error('connection lost');
      return calls;
    });
    const failing = read();
    const behind = read();
    await expect(failing).rejects.toThrow('connection lost');
    expect(await behind).toBe(2);
  });
});

/** A row as stored: any state, not only the working ones agentPresence returns. */
type AnyState<T> = Omit<T, 'state'> & { state: string };

describe('createAgentSnapshots', () => {
  const presence = (agentId: string, load = 0): AgentPresence => ({
    agentId,
    state: 'available',
    idleSinceMs: 1000,
    loads: load ? { chat: load } : {},
  });
  const profile = (agentId: string, skills: Record<string, number>, isDisabled = false): AgentProfile => ({
    agentId,
    isDisabled,
    displayName: `Agent ${agentId}`,
    skills,
    capacityOverrides: { chat: 4 },
  });

  /**
   * A repository whose agentChanges behaves as the SQL one: rows carry the write's number, a read returns
   * the rows written at or after the number it was given and the next number to give.
   */
  function fixture() {
    const state = {
      nowMs: 0,
      profileReads: 0,
      changeReads: 0,
      written: 0,
      rows: new Map<string, { presence: AnyState<AgentPresence>; at: number }>(),
      profiles: [profile('a1', { billing: 2 }), profile('a2', { sales: 1 })],
    };
    const write = (p: AnyState<AgentPresence>) =>
      state.rows.set(p.agentId, { presence: p, at: ++state.written });
    write(presence('a1', 1));
    write(presence('a2'));
    const snapshots = createAgentSnapshots({
      routing: {
        agentProfiles: async () => {
          state.profileReads += 1;
          return state.profiles.map((p) => ({ ...p }));
        },
        agentPresence: async (agentId?: string) =>
          [...state.rows.values()]
            .map((r) => r.presence as AgentPresence)
            .filter((p) => agentId === undefined || p.agentId === agentId),
        agentChanges: async (since?: string) => {
          state.changeReads += 1;
          const from = Number(since ?? 0);
          const changed = [...state.rows.values()].filter((r) => r.at >= from).map((r) => r.presence);
          return {
            since: String(state.written + 1),
            agents: changed.map(({ agentId, state, idleSinceMs }) => ({ agentId, state, idleSinceMs })),
            loads: changed.flatMap((p) =>
              (['chat', 'email'] as const).map((channel) => ({
                agentId: p.agentId,
                channel,
                load: p.loads[channel] ?? 0,
              })),
            ),
            rotations: { q1: { lastAgentId: 'a1' } },
          };
        },
      },
      profileTtlMs: 1000,
      now: () => state.nowMs,
    });
    return { state, write, snapshots };
  }

  it('joins working agents and their loads with the kept profiles, leaving out disabled agents', async () => {
    const { state, write, snapshots } = fixture();
    state.profiles.push(profile('a3', {}, true));
    write(presence('a3'));
    const view = await snapshots.view();
    expect(view.rotations).toEqual({ q1: { lastAgentId: 'a1' } });
    expect(view.agents).toEqual([
      {
        agentId: 'a1',
        state: 'available',
        idleSinceMs: 1000,
        skills: { billing: 2 },
        capacityOverrides: { chat: 4 },
        loads: { chat: 1, email: 0 },
      },
      {
        agentId: 'a2',
        state: 'available',
        idleSinceMs: 1000,
        skills: { sales: 1 },
        capacityOverrides: { chat: 4 },
        loads: { chat: 0, email: 0 },
      },
    ]);
    write(presence('a1', 3));
    expect((await snapshots.workingAgents('a1')).map((a) => a.loads)).toEqual([{ chat: 3 }]);
    expect(state.profileReads).toBe(1);
  });

  it('applies only what changed since its last read, and serves the same objects while nothing did', async () => {
    const { write, snapshots } = fixture();
    const first = await snapshots.view();
    const again = await snapshots.view();
    expect(again.agents).toBe(first.agents);

    write({ ...presence('a2', 2), state: 'on_contact' });
    const second = await snapshots.view();
    expect(second.agents).not.toBe(first.agents);
    // a1 did not change: the very same object (candidates built from it are kept by the dispatcher).
    expect(second.agents[0]).toBe(first.agents[0]);
    expect(second.agents[1]).toMatchObject({ agentId: 'a2', state: 'on_contact', loads: { chat: 2 } });
    // The view handed out before keeps what it had.
    expect(first.agents[1]?.loads).toEqual({ chat: 0, email: 0 });

    // An agent who went away is a change too: they leave the working agents.
    write({ ...presence('a1'), state: 'away' });
    expect((await snapshots.view()).agents.map((a) => a.agentId)).toEqual(['a2']);
  });

  it('reads profiles again at once for an agent it does not know, and in the background once stale', async () => {
    const { state, write, snapshots } = fixture();
    await snapshots.view();
    state.profiles.push(profile('a4', { vip: 1 }));
    write(presence('a4'));
    const withNewcomer = await snapshots.workingAgents();
    expect(withNewcomer.find((a) => a.agentId === 'a4')?.skills).toEqual({ vip: 1 });
    expect(snapshots.nameOf('a4')).toBe('Agent a4');
    expect(state.profileReads).toBe(2);

    // An edit within the TTL is not seen yet; after it, the stale profile serves once while a refresh runs.
    state.profiles[0] = profile('a1', { billing: 5 });
    state.nowMs = 500;
    expect((await snapshots.workingAgents('a1'))[0]?.skills).toEqual({ billing: 2 });
    state.nowMs = 1500;
    expect((await snapshots.workingAgents())[0]?.skills).toEqual({ billing: 2 });
    await flush();
    expect((await snapshots.workingAgents())[0]?.skills).toEqual({ billing: 5 });
    expect(state.profileReads).toBe(3);
  });
});

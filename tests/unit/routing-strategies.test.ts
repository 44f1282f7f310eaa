import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  AgentId,
  AgentState,
  Candidate,
  Channel,
  RoutableContact,
  RoutingDecision,
  RoutingSnapshot,
  SkillLevel,
  Strategy,
  StrategyName,
  StrategyOptions,
} from '../../src/routing/routing.types.js';
import { DEFAULT_RECENT_AGENT_WINDOW_MS, accountOwner } from '../../src/routing/strategies/account-owner.js';
import { formatDuration } from '../../src/routing/strategies/eligibility.js';
import {
  applyRotation,
  ineligibilityOf,
  isEligible,
  isStrategyName,
  leastBusy,
  longestIdle,
  roundRobin,
  skills,
  strategies,
  strategyNames,
} from '../../src/routing/strategies/index.js';

const NOW = Date.UTC(2025, 0, 6, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Epoch ms of an agent idle for `minutes`. */
const idle = (minutes: number) => NOW - minutes * MINUTE;

function agent(agentId: AgentId, overrides: Partial<Candidate> = {}): Candidate {
  return {
    agentId,
    state: 'available',
    skills: {},
    load: {},
    capacity: { voice: 1, chat: 3, email: 5, fax: 5 },
    idleSinceMs: idle(5),
    ...overrides,
  };
}

function contact(overrides: Partial<RoutableContact> = {}): RoutableContact {
  return {
    interactionId: 'i-1',
    queueId: 'support',
    channel: 'chat',
    requiredSkills: [],
    customerId: 'cust-1',
    accountOwnerId: null,
    recentAgents: [],
    priority: 0,
    enqueuedAtMs: NOW - MINUTE,
    ...overrides,
  };
}

function snapshot(overrides: Partial<RoutingSnapshot> = {}): RoutingSnapshot {
  return { nowMs: NOW, rotations: {}, ...overrides };
}

/** The decision must be a pick; returns it narrowed. */
function expectPick(decision: RoutingDecision | null) {
  expect(decision?.kind).toBe('pick');
  if (decision?.kind !== 'pick') throw new Error('expected a pick');
  return decision;
}

describe('eligibility (shared by every strategy)', () => {
  it.each<{
    name: string;
    candidate: Candidate;
    channel: Channel;
    required?: RoutableContact['requiredSkills'];
    expected: string | null;
  }>([
    { name: 'available with room', candidate: agent('a'), channel: 'chat', expected: null },
    {
      name: 'on contact with chat room left',
      candidate: agent('a', { state: 'on_contact', load: { chat: 2 } }),
      channel: 'chat',
      expected: null,
    },
    { name: 'wrap-up', candidate: agent('a', { state: 'wrap_up' }), channel: 'chat', expected: 'wrap-up' },
    { name: 'away', candidate: agent('a', { state: 'away' }), channel: 'email', expected: 'is away' },
    {
      name: 'offline',
      candidate: agent('a', { state: 'offline' }),
      channel: 'email',
      expected: 'is offline',
    },
    {
      name: 'at chat capacity',
      candidate: agent('a', { state: 'on_contact', load: { chat: 3 } }),
      channel: 'chat',
      expected: 'chat capacity (3/3)',
    },
    {
      name: 'on a call takes no chat',
      candidate: agent('a', { state: 'on_contact', load: { voice: 1 } }),
      channel: 'chat',
      expected: 'busy on voice',
    },
    {
      name: 'on a call takes no email though email is free',
      candidate: agent('a', { state: 'on_contact', load: { voice: 1 } }),
      channel: 'email',
      expected: 'busy on voice',
    },
    {
      name: 'open chats do not block a call when voice capacity allows',
      candidate: agent('a', { state: 'on_contact', load: { chat: 2, email: 1 } }),
      channel: 'voice',
      expected: null,
    },
    {
      name: 'voice capacity 0 never takes calls',
      candidate: agent('a', { capacity: { voice: 0, chat: 3 } }),
      channel: 'voice',
      expected: 'takes no voice',
    },
    {
      name: 'voice capacity above 1 still means one call at a time',
      candidate: agent('a', { state: 'on_contact', load: { voice: 1 }, capacity: { voice: 2 } }),
      channel: 'voice',
      expected: 'busy on voice',
    },
    {
      name: 'no capacity entry for the channel',
      candidate: agent('a', { capacity: { chat: 3 } }),
      channel: 'fax',
      expected: 'takes no fax',
    },
    {
      name: 'missing required skill',
      candidate: agent('a', { skills: { billing: 5 } }),
      channel: 'chat',
      required: [{ skill: 'spanish', minLevel: 1 }],
      expected: 'lacks skill spanish',
    },
    {
      name: 'skill below the minimum',
      candidate: agent('a', { skills: { billing: 2 } }),
      channel: 'chat',
      required: [{ skill: 'billing', minLevel: 3 }],
      expected: 'billing at level 2, below the required 3',
    },
    {
      name: 'skill exactly at the minimum',
      candidate: agent('a', { skills: { billing: 3 } }),
      channel: 'chat',
      required: [{ skill: 'billing', minLevel: 3 }],
      expected: null,
    },
  ])('$name', ({ candidate, channel, required, expected }) => {
    const routable = contact({ channel, requiredSkills: required ?? [] });
    const why = ineligibilityOf(candidate, routable);
    if (expected === null) expect(why).toBeNull();
    else expect(why).toContain(expected);
    // The strategies' fast check agrees with the explanation, case by case.
    expect(isEligible(candidate, routable)).toBe(expected === null);
  });
});

describe('every strategy: nobody eligible gives null', () => {
  const nobodyFree = [
    agent('a', { state: 'away' }),
    agent('b', { state: 'on_contact', load: { chat: 3 } }),
    agent('c', { state: 'on_contact', load: { voice: 1 } }),
    agent('d', { state: 'wrap_up' }),
    agent('e', { skills: {} }),
  ];
  const needsBilling = contact({ requiredSkills: [{ skill: 'billing', minLevel: 1 }] });

  it.each(strategyNames.map((name) => ({ name })))('$name with no candidates', ({ name }) => {
    expect(strategies[name]([], contact(), snapshot(), {})).toBeNull();
  });

  it.each(strategyNames.map((name) => ({ name })))('$name with only ineligible candidates', ({ name }) => {
    expect(strategies[name](nobodyFree, needsBilling, snapshot(), {})).toBeNull();
  });
});

describe('skills', () => {
  const billingAndSpanish = [
    { skill: 'billing', minLevel: 3 },
    { skill: 'spanish', minLevel: 2 },
  ] as const;

  it.each<{
    name: string;
    candidates: Candidate[];
    required: RoutableContact['requiredSkills'];
    expected: AgentId;
    reason: string;
  }>([
    {
      name: 'sum of levels: all-round beats one expert skill',
      candidates: [
        agent('a', { skills: { billing: 5, spanish: 2 } }),
        agent('b', { skills: { billing: 4, spanish: 4 } }),
      ],
      required: [...billingAndSpanish],
      expected: 'b',
      reason: 'b has billing 4 (min 3), spanish 4 (min 2): proficiency 8, the best of 2 eligible agents',
    },
    {
      name: 'an expert below one minimum is not eligible',
      candidates: [
        agent('a', { skills: { billing: 5, spanish: 1 } }),
        agent('b', { skills: { billing: 3, spanish: 2 } }),
      ],
      required: [...billingAndSpanish],
      expected: 'b',
      reason: 'the best of 1 eligible agent.',
    },
    {
      name: 'skills the contact does not need do not count',
      candidates: [
        agent('a', { skills: { billing: 3, spanish: 3, french: 5, sales: 5 } }),
        agent('b', { skills: { billing: 4, spanish: 3 } }),
      ],
      required: [...billingAndSpanish],
      expected: 'b',
      reason: 'proficiency 7',
    },
    {
      name: 'equal proficiency: longest idle',
      candidates: [
        agent('a', { skills: { billing: 4, spanish: 3 }, idleSinceMs: idle(2) }),
        agent('b', { skills: { billing: 3, spanish: 4 }, idleSinceMs: idle(9) }),
      ],
      required: [...billingAndSpanish],
      expected: 'b',
      reason: 'tied with 1 other agent, idle 9m 00s, the longest of them',
    },
    {
      name: 'equal proficiency and idle: agentId',
      candidates: [
        agent('b', { skills: { billing: 3, spanish: 3 } }),
        agent('a', { skills: { billing: 3, spanish: 3 } }),
      ],
      required: [...billingAndSpanish],
      expected: 'a',
      reason: 'proficiency 6',
    },
    {
      name: 'the most skilled agent at capacity is skipped',
      candidates: [
        agent('a', { skills: { billing: 5, spanish: 5 }, state: 'on_contact', load: { chat: 3 } }),
        agent('b', { skills: { billing: 3, spanish: 2 } }),
      ],
      required: [...billingAndSpanish],
      expected: 'b',
      reason: 'proficiency 5',
    },
    {
      name: 'no required skills: longest idle',
      candidates: [
        agent('a', { skills: { billing: 5 }, idleSinceMs: idle(1) }),
        agent('b', { idleSinceMs: idle(30) }),
      ],
      required: [],
      expected: 'b',
      reason: 'No skills required; b has been idle 30m 00s, the longest of 2 eligible agents',
    },
  ])('$name', ({ candidates, required, expected, reason }) => {
    const pick = expectPick(skills(candidates, contact({ requiredSkills: required }), snapshot(), {}));
    expect(pick).toMatchObject({ agentId: expected, strategy: 'skills' });
    expect(pick.reason).toContain(reason);
    expect(pick.rotation).toBeUndefined();
  });
});

describe('least-busy', () => {
  it.each<{ name: string; candidates: Candidate[]; channel: Channel; expected: AgentId; reason: string }>([
    {
      name: 'lowest load on the channel',
      candidates: [agent('a', { load: { chat: 2 } }), agent('b', { load: { chat: 1 } })],
      channel: 'chat',
      expected: 'b',
      reason: 'b is the least busy of 2 eligible agents at 1/3 chat.',
    },
    {
      name: 'load is relative to capacity',
      candidates: [
        agent('a', { load: { chat: 1 }, capacity: { chat: 2 } }),
        agent('b', { load: { chat: 2 }, capacity: { chat: 5 } }),
      ],
      channel: 'chat',
      expected: 'b',
      reason: '2/5 chat',
    },
    {
      name: 'equal ratios (1/3 and 2/6) tie exactly: longest idle',
      candidates: [
        agent('a', { load: { chat: 1 }, capacity: { chat: 3 }, idleSinceMs: idle(1) }),
        agent('b', { load: { chat: 2 }, capacity: { chat: 6 }, idleSinceMs: idle(7) }),
      ],
      channel: 'chat',
      expected: 'b',
      reason: 'tied with 1 other agent, idle 7m 00s',
    },
    {
      name: 'equal ratio and idle: agentId',
      candidates: [agent('c'), agent('b'), agent('a', { state: 'away' })],
      channel: 'email',
      expected: 'b',
      reason: 'at 0/5 email',
    },
    {
      name: 'other channels do not count',
      candidates: [
        agent('a', { load: { chat: 1 } }),
        agent('b', { state: 'on_contact', load: { email: 4, fax: 3 } }),
      ],
      channel: 'chat',
      expected: 'b',
      reason: '0/3 chat',
    },
    {
      name: 'voice: everyone eligible is at 0, longest idle wins',
      candidates: [
        agent('a', { idleSinceMs: idle(3) }),
        agent('b', { idleSinceMs: idle(4), load: { chat: 2 }, state: 'on_contact' }),
        agent('c', { idleSinceMs: idle(60), load: { voice: 1 }, state: 'on_contact' }),
      ],
      channel: 'voice',
      expected: 'b',
      reason: 'the least busy of 2 eligible agents at 0/1 voice',
    },
    {
      name: 'an agent at capacity is never the least busy',
      candidates: [
        agent('a', { load: { chat: 3 }, capacity: { chat: 3 }, state: 'on_contact' }),
        agent('b', { load: { chat: 8 }, capacity: { chat: 9 }, state: 'on_contact' }),
      ],
      channel: 'chat',
      expected: 'b',
      reason: '8/9 chat',
    },
  ])('$name', ({ candidates, channel, expected, reason }) => {
    const pick = expectPick(leastBusy(candidates, contact({ channel }), snapshot(), {}));
    expect(pick).toMatchObject({ agentId: expected, strategy: 'least-busy' });
    expect(pick.reason).toContain(reason);
  });
});

describe('longest-idle', () => {
  it.each<{ name: string; candidates: Candidate[]; expected: AgentId; reason: string }>([
    {
      name: 'the longest idle',
      candidates: [agent('a', { idleSinceMs: idle(3) }), agent('b', { idleSinceMs: idle(12) })],
      expected: 'b',
      reason: 'b has been idle 12m 00s, the longest of 2 eligible agents.',
    },
    {
      name: 'longer idle but away is skipped',
      candidates: [
        agent('a', { idleSinceMs: idle(3) }),
        agent('b', { idleSinceMs: idle(90), state: 'away' }),
      ],
      expected: 'a',
      reason: 'idle 3m 00s, the longest of 1 eligible agent.',
    },
    {
      name: 'tie: agentId',
      candidates: [agent('z'), agent('m'), agent('x')],
      expected: 'm',
      reason: 'm has been idle 5m 00s',
    },
    {
      name: 'hours and days read as such',
      candidates: [agent('a', { idleSinceMs: NOW - 2 * DAY - 3 * HOUR }), agent('b')],
      expected: 'a',
      reason: 'idle 2d 03h',
    },
  ])('$name', ({ candidates, expected, reason }) => {
    const pick = expectPick(longestIdle(candidates, contact(), snapshot(), {}));
    expect(pick).toMatchObject({ agentId: expected, strategy: 'longest-idle' });
    expect(pick.reason).toContain(reason);
  });
});

describe('round-robin', () => {
  /** Picks `count` contacts in a row, storing each pick's rotation as the caller would. */
  function run(
    count: number,
    candidatesAt: (step: number) => readonly Candidate[],
    start: RoutingSnapshot = snapshot(),
    queueId = 'support',
  ): { picks: AgentId[]; snapshot: RoutingSnapshot } {
    let current = start;
    const picks: AgentId[] = [];
    for (let step = 0; step < count; step += 1) {
      const pick = expectPick(roundRobin(candidatesAt(step), contact({ queueId }), current, {}));
      picks.push(pick.agentId);
      current = applyRotation(current, pick);
    }
    return { picks, snapshot: current };
  }

  const counts = (picks: readonly AgentId[]) =>
    picks.reduce<Record<AgentId, number>>((acc, id) => ({ ...acc, [id]: (acc[id] ?? 0) + 1 }), {});

  const team = ['a', 'b', 'c', 'd'].map((id) => agent(id));

  it.each<{
    name: string;
    candidates: Candidate[];
    lastAgentId: AgentId | null;
    expected: AgentId;
    reason: string;
  }>([
    {
      name: 'no state yet: first by agentId',
      candidates: [agent('c'), agent('a'), agent('b')],
      lastAgentId: null,
      expected: 'a',
      reason: 'a is first in the rotation of 3 eligible agents in queue support; nobody has been picked',
    },
    {
      name: 'the agent after the last pick',
      candidates: team,
      lastAgentId: 'b',
      expected: 'c',
      reason: 'c is next in the rotation of 4 eligible agents in queue support, after b.',
    },
    {
      name: 'wraps after the last agent',
      candidates: team,
      lastAgentId: 'd',
      expected: 'a',
      reason: 'a starts the next round',
    },
    {
      name: 'last pick has left: continues between their neighbours',
      candidates: [agent('a'), agent('c'), agent('d')],
      lastAgentId: 'b',
      expected: 'c',
      reason: 'after b',
    },
    {
      name: 'the next agent is busy: skipped',
      candidates: [
        agent('a'),
        agent('b'),
        agent('c', { state: 'on_contact', load: { chat: 3 } }),
        agent('d'),
      ],
      lastAgentId: 'b',
      expected: 'd',
      reason: 'd is next in the rotation of 3 eligible agents',
    },
    {
      name: 'the only eligible agent is picked again',
      candidates: [agent('a', { state: 'away' }), agent('b')],
      lastAgentId: 'b',
      expected: 'b',
      reason: 'b starts the next round',
    },
  ])('$name', ({ candidates, lastAgentId, expected, reason }) => {
    const pick = expectPick(
      roundRobin(candidates, contact(), snapshot({ rotations: { support: { lastAgentId } } }), {}),
    );
    expect(pick).toMatchObject({
      agentId: expected,
      strategy: 'round-robin',
      rotation: { queueId: 'support', state: { lastAgentId: expected } },
    });
    expect(pick.reason).toContain(reason);
  });

  it.each([
    { agents: 4, picks: 400 },
    { agents: 4, picks: 10 },
    { agents: 7, picks: 1000 },
    { agents: 3, picks: 2 },
  ])('is fair: $agents agents over $picks picks, each equally often within one', ({ agents, picks }) => {
    const members = Array.from({ length: agents }, (_, i) => agent(`agent-${String(i).padStart(2, '0')}`));
    const result = run(picks, () => members);
    const perAgent = members.map((m) => counts(result.picks)[m.agentId] ?? 0);
    expect(perAgent.reduce((a, b) => a + b, 0)).toBe(picks);
    expect(Math.max(...perAgent) - Math.min(...perAgent)).toBeLessThanOrEqual(1);
  });

  it('every window of one round holds each agent exactly once', () => {
    const { picks } = run(40, () => team);
    for (let start = 0; start + team.length <= picks.length; start += 1) {
      expect(new Set(picks.slice(start, start + team.length)).size).toBe(team.length);
    }
  });

  it('agents joining mid-rotation slot in by id, one turn per round, no catch-up burst', () => {
    const before = [agent('a'), agent('c'), agent('e')];
    const after = [...before, agent('b'), agent('d')];
    const { picks } = run(12, (step) => (step < 2 ? before : after));
    // a, c before the join; b (behind the cursor) waits for the next round, d (ahead) comes up now.
    expect(picks).toEqual(['a', 'c', 'd', 'e', 'a', 'b', 'c', 'd', 'e', 'a', 'b', 'c']);
    const sinceJoin = counts(picks.slice(2));
    expect(Object.values(sinceJoin).every((n) => n === 2)).toBe(true);
  });

  it('an agent leaving mid-rotation costs nobody else a turn', () => {
    const { picks } = run(8, (step) => (step < 2 ? team : team.filter((m) => m.agentId !== 'c')));
    expect(picks).toEqual(['a', 'b', 'd', 'a', 'b', 'd', 'a', 'b']);
  });

  it('the agent picked last leaving: the rotation continues after their place', () => {
    const { picks } = run(7, (step) => (step < 2 ? team : team.filter((m) => m.agentId !== 'b')));
    expect(picks).toEqual(['a', 'b', 'c', 'd', 'a', 'c', 'd']);
  });

  it('a busy agent is skipped for one contact and keeps their place next round', () => {
    const busyC = team.map((m) =>
      m.agentId === 'c' ? { ...m, state: 'on_contact' as const, load: { chat: 3 } } : m,
    );
    const { picks } = run(8, (step) => (step === 2 ? busyC : team));
    expect(picks).toEqual(['a', 'b', 'd', 'a', 'b', 'c', 'd', 'a']);
  });

  it('a restart continues the rotation from the serialized state', () => {
    const uninterrupted = run(11, () => team).picks;

    const firstHalf = run(5, () => team);
    const stored = JSON.stringify(firstHalf.snapshot.rotations);
    const restored = snapshot({ rotations: JSON.parse(stored) as RoutingSnapshot['rotations'] });
    const secondHalf = run(6, () => team, restored);

    expect([...firstHalf.picks, ...secondHalf.picks]).toEqual(uninterrupted);
    expect(stored).toBe('{"support":{"lastAgentId":"a"}}');
  });

  it('keeps one rotation per queue', () => {
    let state = snapshot();
    const picks: string[] = [];
    for (const queueId of ['q1', 'q1', 'q2', 'q1', 'q2']) {
      const pick = expectPick(roundRobin(team, contact({ queueId }), state, {}));
      picks.push(`${queueId}:${pick.agentId}`);
      state = applyRotation(state, pick);
    }
    expect(picks).toEqual(['q1:a', 'q1:b', 'q2:a', 'q1:c', 'q2:b']);
    expect(state.rotations).toEqual({ q1: { lastAgentId: 'c' }, q2: { lastAgentId: 'b' } });
  });

  it('applyRotation leaves the snapshot alone for null, waits and picks without rotation', () => {
    const start = snapshot({ rotations: { support: { lastAgentId: 'b' } } });
    expect(applyRotation(start, null)).toBe(start);
    expect(applyRotation(start, longestIdle(team, contact(), start, {}))).toBe(start);
    expect(
      applyRotation(start, {
        kind: 'wait-for',
        agentId: 'a',
        untilMs: NOW,
        strategy: 'account-owner',
        reason: '',
      }),
    ).toBe(start);
  });
});

describe('account-owner', () => {
  const owner = 'owner';
  const recent = 'recent';
  /** Busy on chat but present and qualified: may free up. */
  const busy = (id: AgentId, extra: Partial<Candidate> = {}) =>
    agent(id, { state: 'on_contact', load: { chat: 3 }, ...extra });
  /** Idle longest, so the default fallback (longest-idle) picks them. */
  const spare = agent('spare', { idleSinceMs: idle(45) });
  const other = agent('other', { idleSinceMs: idle(1) });

  interface Row {
    name: string;
    candidates: Candidate[];
    contact: Partial<RoutableContact>;
    nowMs?: number;
    options?: StrategyOptions;
    expected:
      | { kind: 'pick'; agentId: AgentId; strategy: StrategyName }
      | { kind: 'wait-for'; agentId: AgentId; untilMs: number }
      | null;
    reason?: string[];
  }

  const enqueuedAtMs = NOW - MINUTE;
  const servedAgo = (ms: number, agentId: AgentId = recent) => ({ agentId, servedAtMs: NOW - ms });

  it.each<Row>([
    {
      name: 'the owner when eligible',
      candidates: [agent(owner), spare],
      contact: { accountOwnerId: owner },
      expected: { kind: 'pick', agentId: owner, strategy: 'account-owner' },
      reason: ['Preferred agent: account owner owner is available.'],
    },
    {
      name: 'the owner before a more recent agent',
      candidates: [agent(owner), agent(recent), spare],
      contact: { accountOwnerId: owner, recentAgents: [servedAgo(HOUR)] },
      expected: { kind: 'pick', agentId: owner, strategy: 'account-owner' },
    },
    {
      name: 'owner away: the most recent agent within the window',
      candidates: [agent(owner, { state: 'away' }), agent(recent), spare],
      contact: { accountOwnerId: owner, recentAgents: [servedAgo(2 * HOUR)] },
      expected: { kind: 'pick', agentId: recent, strategy: 'account-owner' },
      reason: ['recent, who served the customer 2h 00m ago, is available', 'account owner owner is away'],
    },
    {
      name: 'owner busy but the recent agent is free: no waiting',
      candidates: [busy(owner), agent(recent), spare],
      contact: { accountOwnerId: owner, recentAgents: [servedAgo(HOUR)] },
      options: { preferredAgentWaitMs: 5 * MINUTE },
      expected: { kind: 'pick', agentId: recent, strategy: 'account-owner' },
    },
    {
      name: 'no owner: the most recent agent',
      candidates: [agent('older'), agent(recent), spare],
      contact: { recentAgents: [servedAgo(HOUR), servedAgo(3 * HOUR, 'older')] },
      expected: { kind: 'pick', agentId: recent, strategy: 'account-owner' },
    },
    {
      name: 'recent agents out of order: the newest still counts',
      candidates: [agent('older'), agent(recent), spare],
      contact: { recentAgents: [servedAgo(3 * HOUR, 'older'), servedAgo(HOUR)] },
      expected: { kind: 'pick', agentId: recent, strategy: 'account-owner' },
    },
    {
      name: 'the owner as latest server: the newest other agent is the recent one',
      candidates: [agent(owner, { state: 'offline' }), agent(recent), spare],
      contact: { accountOwnerId: owner, recentAgents: [servedAgo(MINUTE, owner), servedAgo(DAY)] },
      expected: { kind: 'pick', agentId: recent, strategy: 'account-owner' },
    },
    {
      name: 'recent agent outside the window: fallback',
      candidates: [agent(recent), spare],
      contact: { recentAgents: [servedAgo(8 * DAY)] },
      options: { recentAgentWindowMs: 7 * DAY },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: [
        'no account owner and nobody served them in the last 7d 00h; fell back to longest-idle: spare',
      ],
    },
    {
      name: 'recent agent inside a custom window',
      candidates: [agent(recent), spare],
      contact: { recentAgents: [servedAgo(6 * DAY)] },
      options: { recentAgentWindowMs: 7 * DAY },
      expected: { kind: 'pick', agentId: recent, strategy: 'account-owner' },
    },
    {
      name: 'default window is 30 days',
      candidates: [agent(recent), spare],
      contact: { recentAgents: [servedAgo(DEFAULT_RECENT_AGENT_WINDOW_MS + MINUTE)] },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: ['in the last 30d 00h'],
    },
    {
      name: 'only the newest recent agent is preferred, older ones are not',
      candidates: [agent(recent, { state: 'away' }), agent('older', { idleSinceMs: idle(2) }), spare],
      contact: { recentAgents: [servedAgo(HOUR), servedAgo(2 * HOUR, 'older')] },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
    },
    {
      name: 'owner busy within the timeout: wait for them',
      candidates: [busy(owner), spare],
      contact: { accountOwnerId: owner, enqueuedAtMs },
      options: { preferredAgentWaitMs: 3 * MINUTE },
      expected: { kind: 'wait-for', agentId: owner, untilMs: enqueuedAtMs + 3 * MINUTE },
      reason: ['Waiting up to 2m 00s more for owner', 'chat capacity (3/3)'],
    },
    {
      name: 'owner in wrap-up: wait',
      candidates: [agent(owner, { state: 'wrap_up' }), spare],
      contact: { accountOwnerId: owner, enqueuedAtMs },
      options: { preferredAgentWaitMs: 3 * MINUTE },
      expected: { kind: 'wait-for', agentId: owner, untilMs: enqueuedAtMs + 3 * MINUTE },
      reason: ['is in wrap-up'],
    },
    {
      name: 'owner on a call, contact is an email: wait',
      candidates: [agent(owner, { state: 'on_contact', load: { voice: 1 } }), spare],
      contact: { accountOwnerId: owner, channel: 'email', enqueuedAtMs },
      options: { preferredAgentWaitMs: 3 * MINUTE },
      expected: { kind: 'wait-for', agentId: owner, untilMs: enqueuedAtMs + 3 * MINUTE },
      reason: ['busy on voice'],
    },
    {
      name: 'owner away, recent agent busy: wait for the recent agent',
      candidates: [agent(owner, { state: 'away' }), busy(recent), spare],
      contact: { accountOwnerId: owner, recentAgents: [servedAgo(HOUR)], enqueuedAtMs },
      options: { preferredAgentWaitMs: 3 * MINUTE },
      expected: { kind: 'wait-for', agentId: recent, untilMs: enqueuedAtMs + 3 * MINUTE },
      reason: [
        'account owner owner is away',
        'recent, who served the customer 1h 00m ago, is at chat capacity',
      ],
    },
    {
      name: 'owner still busy at the deadline: fallback',
      candidates: [busy(owner), spare],
      contact: { accountOwnerId: owner, enqueuedAtMs },
      nowMs: enqueuedAtMs + 3 * MINUTE,
      options: { preferredAgentWaitMs: 3 * MINUTE },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: [
        "No preferred agent freed up within the queue's 3m 00s",
        'fell back to longest-idle: spare has been',
      ],
    },
    {
      name: 'no wait configured: fallback at once',
      candidates: [busy(owner), spare],
      contact: { accountOwnerId: owner },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: ['No preferred agent can take it now (account owner owner is at chat capacity (3/3))'],
    },
    {
      name: 'owner away: no waiting even with time left',
      candidates: [agent(owner, { state: 'away' }), spare],
      contact: { accountOwnerId: owner },
      options: { preferredAgentWaitMs: 10 * MINUTE },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: ['No preferred agent can take it now (account owner owner is away)'],
    },
    {
      name: 'owner not in this queue: fallback',
      candidates: [spare, other],
      contact: { accountOwnerId: owner },
      options: { preferredAgentWaitMs: 10 * MINUTE },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: ['account owner owner is not a candidate in queue support'],
    },
    {
      name: 'owner lacks a required skill: fallback, no waiting',
      candidates: [
        busy(owner, { skills: { billing: 1 } }),
        agent('spare', { skills: { billing: 4 }, idleSinceMs: idle(45) }),
      ],
      contact: { accountOwnerId: owner, requiredSkills: [{ skill: 'billing', minLevel: 2 }] },
      options: { preferredAgentWaitMs: 10 * MINUTE },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: ['below the required 2'],
    },
    {
      name: 'owner takes no calls: fallback, no waiting',
      candidates: [agent(owner, { capacity: { voice: 0, chat: 3 } }), spare],
      contact: { accountOwnerId: owner, channel: 'voice' },
      options: { preferredAgentWaitMs: 10 * MINUTE },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
      reason: ['takes no voice contacts'],
    },
    {
      name: 'fallback to the queue secondary strategy',
      candidates: [agent(owner, { state: 'offline' }), agent('b', { load: { chat: 2 } }), agent('c')],
      contact: { accountOwnerId: owner },
      options: { fallback: leastBusy },
      expected: { kind: 'pick', agentId: 'c', strategy: 'least-busy' },
      reason: ['fell back to least-busy: c is the least busy'],
    },
    {
      name: 'account-owner as its own fallback ends in longest-idle',
      candidates: [agent(owner, { state: 'offline' }), spare, other],
      contact: { accountOwnerId: owner },
      options: { fallback: accountOwner },
      expected: { kind: 'pick', agentId: 'spare', strategy: 'longest-idle' },
    },
    {
      name: 'past the deadline with nobody eligible at all: null',
      candidates: [busy(owner), busy('x')],
      contact: { accountOwnerId: owner, enqueuedAtMs },
      nowMs: enqueuedAtMs + 10 * MINUTE,
      options: { preferredAgentWaitMs: 3 * MINUTE },
      expected: null,
    },
  ])('$name', ({ candidates, contact: overrides, nowMs, options, expected, reason }) => {
    const decision = accountOwner(
      candidates,
      contact(overrides),
      snapshot({ nowMs: nowMs ?? NOW }),
      options ?? {},
    );
    if (expected === null) {
      expect(decision).toBeNull();
      return;
    }
    expect(decision).toMatchObject(expected);
    for (const fragment of reason ?? []) expect(decision?.reason).toContain(fragment);
  });

  it('a round-robin fallback carries its rotation', () => {
    const decision = accountOwner(
      [agent(owner, { state: 'away' }), agent('a'), agent('b')],
      contact({ accountOwnerId: owner }),
      snapshot({ rotations: { support: { lastAgentId: 'a' } } }),
      { fallback: roundRobin },
    );
    expect(decision).toMatchObject({
      kind: 'pick',
      agentId: 'b',
      strategy: 'round-robin',
      rotation: { queueId: 'support', state: { lastAgentId: 'b' } },
    });
  });
});

describe('registry', () => {
  it('names every strategy once', () => {
    expect([...strategyNames].sort()).toEqual(
      ['account-owner', 'least-busy', 'longest-idle', 'round-robin', 'skills'].sort(),
    );
    expect(strategies['round-robin']).toBe(roundRobin);
  });

  it.each([
    { name: 'skills', expected: true },
    { name: 'account-owner', expected: true },
    { name: 'random', expected: false },
    { name: 'toString', expected: false },
    { name: '__proto__', expected: false },
  ])('isStrategyName($name) is $expected', ({ name, expected }) => {
    expect(isStrategyName(name)).toBe(expected);
  });

  it.each([
    { ms: 0, text: '0s' },
    { ms: 59_999, text: '59s' },
    { ms: 4 * MINUTE + 9_000, text: '4m 09s' },
    { ms: 2 * HOUR + 5 * MINUTE, text: '2h 05m' },
    { ms: 3 * DAY + 4 * HOUR, text: '3d 04h' },
    { ms: -5_000, text: '0s' },
  ])('formatDuration($ms) = $text', ({ ms, text }) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('properties over random candidate sets', () => {
  const channels: readonly Channel[] = ['voice', 'email', 'chat', 'fax'];
  const skillNames = ['billing', 'spanish', 'tech'] as const;
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

  const level = fc.constantFrom<SkillLevel>(1, 2, 3, 4, 5);
  const perChannel = (max: number) =>
    fc.record(
      { voice: fc.nat(max), email: fc.nat(max), chat: fc.nat(max), fax: fc.nat(max) },
      { requiredKeys: [] },
    );

  const candidateArb: fc.Arbitrary<Candidate> = fc.record({
    agentId: fc.constantFrom(...ids),
    state: fc.constantFrom<AgentState>('offline', 'available', 'away', 'on_contact', 'wrap_up'),
    skills: fc.record({ billing: level, spanish: level, tech: level }, { requiredKeys: [] }),
    load: perChannel(4),
    capacity: perChannel(4),
    idleSinceMs: fc.integer({ min: NOW - DAY, max: NOW }),
  });

  const contactArb: fc.Arbitrary<RoutableContact> = fc.record({
    interactionId: fc.constant('i-1'),
    queueId: fc.constantFrom('q1', 'q2'),
    channel: fc.constantFrom(...channels),
    requiredSkills: fc.uniqueArray(fc.record({ skill: fc.constantFrom(...skillNames), minLevel: level }), {
      selector: (r) => r.skill,
      maxLength: 3,
    }),
    customerId: fc.constant('cust-1'),
    accountOwnerId: fc.option(fc.constantFrom(...ids, 'not-a-candidate')),
    recentAgents: fc.array(
      fc.record({
        agentId: fc.constantFrom(...ids),
        servedAtMs: fc.integer({ min: NOW - 60 * DAY, max: NOW }),
      }),
      { maxLength: 4 },
    ),
    priority: fc.nat(5),
    enqueuedAtMs: fc.integer({ min: NOW - 10 * MINUTE, max: NOW }),
  });

  const snapshotArb: fc.Arbitrary<RoutingSnapshot> = fc.record({
    nowMs: fc.constant(NOW),
    rotations: fc.record(
      { q1: fc.record({ lastAgentId: fc.option(fc.constantFrom(...ids, 'bb')) }) },
      { requiredKeys: [] },
    ),
  });

  const optionsArb: fc.Arbitrary<StrategyOptions> = fc.record(
    {
      recentAgentWindowMs: fc.integer({ min: 0, max: 40 * DAY }),
      preferredAgentWaitMs: fc.integer({ min: 0, max: 15 * MINUTE }),
      fallback: fc.constantFrom<Strategy>(...strategyNames.map((name) => strategies[name])),
    },
    { requiredKeys: [] },
  );

  const candidatesArb = fc.uniqueArray(candidateArb, { selector: (c) => c.agentId, maxLength: ids.length });

  /** An independent statement of the eligibility rule, so the property does not trust the code it checks. */
  function mayTake(c: Candidate, k: RoutableContact): boolean {
    if (c.state !== 'available' && c.state !== 'on_contact') return false;
    if ((c.load.voice ?? 0) > 0) return false;
    const load = c.load[k.channel] ?? 0;
    const capacity = c.capacity[k.channel] ?? 0;
    const hasRoom = k.channel === 'voice' ? capacity >= 1 : load < capacity;
    return hasRoom && k.requiredSkills.every(({ skill, minLevel }) => (c.skills[skill] ?? 0) >= minLevel);
  }

  it.each(strategyNames.map((name) => ({ name })))(
    '$name: a pick is always a given, eligible candidate with room on the channel and every skill',
    ({ name }) => {
      fc.assert(
        fc.property(candidatesArb, contactArb, snapshotArb, optionsArb, (candidates, k, snap, options) => {
          const decision = strategies[name](candidates, k, snap, options);
          const anyEligible = candidates.some((c) => mayTake(c, k));
          if (decision === null) {
            expect(anyEligible).toBe(false);
            return;
          }
          if (decision.kind === 'wait-for') {
            expect(name).toBe('account-owner');
            expect(decision.untilMs).toBeGreaterThan(snap.nowMs);
            expect(candidates.some((c) => c.agentId === decision.agentId && !mayTake(c, k))).toBe(true);
            return;
          }
          const picked = candidates.find((c) => c.agentId === decision.agentId);
          expect(picked).toBeDefined();
          if (picked === undefined) return;
          expect(mayTake(picked, k)).toBe(true);
          expect(picked.load[k.channel] ?? 0).toBeLessThan(picked.capacity[k.channel] ?? 0);
          for (const { skill, minLevel } of k.requiredSkills) {
            expect(picked.skills[skill] ?? 0).toBeGreaterThanOrEqual(minLevel);
          }
          expect(decision.reason.length).toBeGreaterThan(0);
        }),
        { numRuns: 300 },
      );
    },
  );

  it.each(strategyNames.filter((name) => name !== 'account-owner').map((name) => ({ name })))(
    '$name: picks someone whenever anyone is eligible',
    ({ name }) => {
      fc.assert(
        fc.property(candidatesArb, contactArb, snapshotArb, (candidates, k, snap) => {
          const decision = strategies[name](candidates, k, snap, {});
          expect(decision !== null).toBe(candidates.some((c) => mayTake(c, k)));
        }),
        { numRuns: 200 },
      );
    },
  );

  it.each(strategyNames.map((name) => ({ name })))(
    '$name: the decision does not depend on the order of the candidates',
    ({ name }) => {
      fc.assert(
        fc.property(candidatesArb, contactArb, snapshotArb, optionsArb, (candidates, k, snap, options) => {
          const forward = strategies[name](candidates, k, snap, options);
          const backward = strategies[name]([...candidates].reverse(), k, snap, options);
          expect(backward?.agentId).toBe(forward?.agentId);
          expect(backward?.kind).toBe(forward?.kind);
        }),
        { numRuns: 200 },
      );
    },
  );
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRuleFiles } from '../../src/routing/rules/rules.loader.js';
import type { RuleSet } from '../../src/routing/rules/rules.schema.js';
import {
  ArrivalsReader,
  type AgentChange,
  type Arrival,
  type SimulationEvent,
} from '../../src/routing/simulate/arrivals.schema.js';
import { runSimulate } from '../../src/routing/simulate/simulate.command.js';
import { replay, simulate, type SimulationOptions } from '../../src/routing/simulate/simulation.engine.js';
import { buildReport, percentile, type ContactResult } from '../../src/routing/simulate/simulation.report.js';

/*
 * The simulator on small scenarios with known answers, each a table row: agents and arrivals at offsets in
 * seconds from a Monday 10:00 UTC, and the expected outcome per contact. Offers are accepted at once and
 * wrap-up is off unless a row says otherwise, so waits are plain arithmetic.
 */

const rulesYaml = `
calendars:
  office:
    timeZone: UTC
    weekly: { mon: ['09:00-17:00'], tue: ['09:00-17:00'] }
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
  - { name: rotation, strategy: round-robin, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
  - name: billing
    strategy: skills
    skills: { billing: 3 }
    channels: [voice, email, chat]
    wrapUpSeconds: 0
    serviceLevelSeconds: 30
    escalation:
      - { afterSeconds: 60, action: relax-skills, levels: 1 }
  - { name: wrapping, strategy: longest-idle, channels: [voice], wrapUpSeconds: 30 }
  - name: office
    strategy: longest-idle
    channels: [email]
    wrapUpSeconds: 0
    hours: office
    afterHours: { action: queue }
  - name: phones
    strategy: longest-idle
    channels: [voice]
    wrapUpSeconds: 0
    hours: office
    afterHours: { action: voicemail }
  - name: closing
    strategy: longest-idle
    channels: [voice]
    hours: office
    afterHours: { action: close-with-message, message: We are closed. }
  - name: night
    strategy: longest-idle
    channels: [voice]
    hours: office
    afterHours: { action: move-to, queue: general }
  - name: spill
    strategy: longest-idle
    skills: { french: 2 }
    channels: [voice]
    wrapUpSeconds: 0
    escalation:
      - { afterSeconds: 45, action: add-queue, queue: billing }
  - name: vip
    strategy: account-owner
    secondaryStrategy: longest-idle
    channels: [voice]
    offerTimeoutSeconds: 30
    wrapUpSeconds: 0
  - name: moving
    strategy: skills
    skills: { claims: 1 }
    channels: [voice]
    wrapUpSeconds: 0
    escalation:
      - { afterSeconds: 30, action: raise-priority, by: 100 }
      - { afterSeconds: 120, action: move-to, queue: general }
rules:
  - { name: billing, when: { keywords: invoice }, queue: billing, priority: 0 }
  - { name: rotate, when: { keywords: rotate }, queue: rotation, priority: 0 }
  - { name: urgent, when: { keywords: urgent }, queue: general, priority: 50 }
  - { name: wrapping, when: { keywords: wrap }, queue: wrapping, priority: 0 }
  - { name: office, when: { keywords: office }, queue: office, priority: 0 }
  - { name: phones, when: { channel: voice, ivrChoice: 7 }, queue: phones, priority: 0 }
  - { name: closing, when: { channel: voice, ivrChoice: 8 }, queue: closing, priority: 0 }
  - { name: night, when: { channel: voice, ivrChoice: 9 }, queue: night, priority: 0 }
  - { name: spill, when: { keywords: bonjour }, queue: spill, priority: 0 }
  - { name: vip, when: { customerTier: gold }, queue: vip, priority: 0 }
  - { name: moving, when: { keywords: claim }, queue: moving, priority: 0 }
  - { name: default, queue: general, priority: 0 }
options:
  offerTimeoutSeconds: 20
  missesBeforeAway: 2
`;

function loadRules(text: string): RuleSet {
  const outcome = parseRuleFiles([{ name: 'rules.yaml', text }]);
  if (outcome.status !== 'valid') throw new Error(JSON.stringify(outcome.problems));
  return outcome.rules;
}

const rules = loadRules(rulesYaml);
/** Monday 2026-11-16 10:00 UTC: the office calendar is open 09:00-17:00. */
const t0 = Date.parse('2026-11-16T10:00:00Z');
const at = (seconds: number) => t0 + seconds * 1000;

function agent(
  seconds: number,
  agentId: string,
  presence: AgentChange['presence'] = 'available',
  more: Partial<AgentChange> = {},
): AgentChange {
  return { type: 'agent', atMs: at(seconds), agentId, presence, ...more };
}

function arrival(
  seconds: number,
  interactionId: string,
  more: Partial<Omit<Arrival, 'facts'>> & { text?: string; facts?: Partial<Arrival['facts']> } = {},
): Arrival {
  const { text, facts, ...rest } = more;
  const channel = rest.channel ?? 'voice';
  return {
    type: 'arrival',
    atMs: at(seconds),
    interactionId,
    channel,
    facts: { channel, ...(text !== undefined && { text }), ...facts },
    customerId: `customer-${interactionId}`,
    accountOwnerId: null,
    recentAgents: [],
    handleSeconds: 100,
    patienceSeconds: null,
    offers: [],
    actual: null,
    ...rest,
  };
}

const instant: SimulationOptions = { answerSeconds: 0 };

interface Expected {
  queue?: string;
  outcome: ContactResult['outcome'];
  wait?: number | null;
  agent?: string | null;
}

interface Scenario {
  name: string;
  events: SimulationEvent[];
  options?: SimulationOptions;
  expected: Record<string, Expected>;
}

/** Every contact's outcome, by interaction id, and the report. */
function outcomes(events: SimulationEvent[], options: SimulationOptions = instant) {
  const { report, contacts } = replay(rules, events, options);
  return { report, contacts: Object.fromEntries(contacts.map((c) => [c.interactionId, c])) };
}

const scenarios: Scenario[] = [
  {
    name: 'one agent, one contact: no wait',
    events: [agent(0, 'a1'), arrival(10, 'c1')],
    expected: { c1: { queue: 'general', outcome: 'answered', wait: 0, agent: 'a1' } },
  },
  {
    name: 'two calls, one agent: the second waits the first one’s handle time',
    events: [agent(0, 'a1'), arrival(10, 'c1'), arrival(10, 'c2')],
    expected: {
      c1: { outcome: 'answered', wait: 0, agent: 'a1' },
      c2: { outcome: 'answered', wait: 100, agent: 'a1' },
    },
  },
  {
    name: 'the answer delay counts in the wait',
    events: [agent(0, 'a1'), arrival(10, 'c1')],
    options: { answerSeconds: 7 },
    expected: { c1: { outcome: 'answered', wait: 7 } },
  },
  {
    name: 'higher priority first, whatever the arrival order',
    events: [
      agent(0, 'a1'),
      arrival(0, 'busy'),
      arrival(1, 'normal'),
      arrival(2, 'urgent', { text: 'urgent' }),
    ],
    expected: {
      busy: { outcome: 'answered', wait: 0 },
      urgent: { outcome: 'answered', wait: 98 },
      normal: { outcome: 'answered', wait: 199 },
    },
  },
  {
    name: 'skills: only an agent at the required level takes it, the best proficiency first',
    events: [
      agent(0, 'low', 'available', { skills: { billing: 2 } }),
      agent(1, 'high', 'available', { skills: { billing: 3 } }),
      agent(2, 'expert', 'available', { skills: { billing: 5 } }),
      arrival(10, 'c1', { text: 'my invoice' }),
      arrival(10, 'c2', { text: 'my invoice' }),
      arrival(10, 'c3', { text: 'my invoice' }),
    ],
    expected: {
      c1: { queue: 'billing', outcome: 'answered', wait: 0, agent: 'expert' },
      c2: { outcome: 'answered', wait: 0, agent: 'high' },
      // Nobody else qualifies until relax-skills at 60 s lets 'low' take it.
      c3: { outcome: 'answered', wait: 60, agent: 'low' },
    },
  },
  {
    name: 'escalation relax-skills after 60 s lets a lower-level agent take it',
    events: [agent(0, 'low', 'available', { skills: { billing: 2 } }), arrival(5, 'c1', { text: 'invoice' })],
    expected: { c1: { outcome: 'answered', wait: 60, agent: 'low' } },
  },
  {
    name: 'escalation move-to: the moved contact is served in the new queue, counted in the first',
    events: [agent(0, 'a1'), arrival(0, 'c1', { text: 'a claim' })],
    expected: { c1: { queue: 'moving', outcome: 'answered', wait: 120, agent: 'a1' } },
  },
  {
    name: 'abandonment: the customer leaves when patience ends, before anyone is free',
    events: [
      agent(0, 'a1'),
      arrival(0, 'c1'),
      arrival(1, 'c2', { patienceSeconds: 30 }),
      arrival(2, 'c3', { patienceSeconds: 500 }),
    ],
    expected: {
      c1: { outcome: 'answered', wait: 0 },
      c2: { outcome: 'abandoned', wait: null, agent: null },
      c3: { outcome: 'answered', wait: 98 },
    },
  },
  {
    name: 'abandonment during a live offer cancels it and frees the agent',
    events: [agent(0, 'a1'), arrival(0, 'c1', { patienceSeconds: 3 }), arrival(1, 'c2')],
    options: { answerSeconds: 10 },
    expected: {
      c1: { outcome: 'abandoned', agent: null },
      c2: { outcome: 'answered', wait: 12, agent: 'a1' },
    },
  },
  {
    name: 'after hours, a queue-action contact waits until the queue opens',
    // 08:00: the office opens at 09:00.
    events: [agent(-10800, 'a1'), arrival(-7200, 'early', { channel: 'email', text: 'office' })],
    expected: { early: { queue: 'office', outcome: 'answered', wait: 3600, agent: 'a1' } },
  },
  {
    name: 'after hours, a voicemail call waits in its queue for a callback when it opens',
    events: [agent(-10800, 'a1'), arrival(-7200, 'late', { facts: { ivrChoice: '7' } })],
    expected: { late: { queue: 'phones', outcome: 'answered', wait: 3600, agent: 'a1' } },
  },
  {
    name: 'after hours, close-with-message ends the contact without an agent',
    events: [agent(-10800, 'a1'), arrival(-7200, 'late', { facts: { ivrChoice: '8' } })],
    expected: { late: { queue: 'closing', outcome: 'after-hours', wait: null, agent: null } },
  },
  {
    name: 'after hours, move-to queues the contact in the other queue, where it counts',
    events: [agent(-10800, 'a1'), arrival(-7200, 'late', { facts: { ivrChoice: '9' } })],
    expected: { late: { queue: 'general', outcome: 'answered', wait: 0, agent: 'a1' } },
  },
  {
    name: 'a waiting contact of a queue that closed is offered when it opens (Tuesday 09:00)',
    events: [
      agent(0, 'a1', 'available', { capacity: { email: 1 } }),
      arrival(6 * 3600 + 58 * 60, 'first', { channel: 'email', text: 'office', handleSeconds: 720 }),
      arrival(6 * 3600 + 59 * 60, 'second', { channel: 'email', text: 'office', handleSeconds: 60 }),
    ],
    expected: {
      first: { outcome: 'answered', wait: 0 },
      second: { outcome: 'answered', wait: 23 * 3600 - (6 * 3600 + 59 * 60), agent: 'a1' },
    },
  },
  {
    name: 'escalation add-queue lets agents with the added queue’s skills take it',
    events: [
      agent(0, 'biller', 'available', { skills: { billing: 3 } }),
      arrival(0, 'c1', { text: 'bonjour' }),
    ],
    expected: { c1: { queue: 'spill', outcome: 'answered', wait: 45, agent: 'biller' } },
  },
  {
    name: 'an agent going away has their live offer withdrawn: it goes to someone else at once',
    events: [agent(0, 'a1'), arrival(1, 'c1'), agent(3, 'a1', 'away'), agent(4, 'a2')],
    options: { answerSeconds: 10 },
    expected: { c1: { outcome: 'answered', wait: 13, agent: 'a2' } },
  },
  {
    name: 'round-robin spreads contacts evenly',
    events: [
      agent(0, 'a1'),
      agent(0, 'a2'),
      agent(0, 'a3'),
      ...[1, 2, 3, 4, 5, 6].map((n) => arrival(n, `c${n}`, { channel: 'email', text: 'rotate' })),
    ],
    expected: {
      c1: { outcome: 'answered', agent: 'a1' },
      c2: { outcome: 'answered', agent: 'a2' },
      c3: { outcome: 'answered', agent: 'a3' },
      c4: { outcome: 'answered', agent: 'a1' },
      c5: { outcome: 'answered', agent: 'a2' },
      c6: { outcome: 'answered', agent: 'a3' },
    },
  },
  {
    name: 'a recorded reject sends the contact to someone else, never back',
    events: [
      agent(0, 'a1'),
      agent(1, 'a2'),
      arrival(10, 'c1', { offers: [{ agentId: 'a1', outcome: 'rejected', afterSeconds: 4 }] }),
    ],
    expected: { c1: { outcome: 'answered', wait: 4, agent: 'a2' } },
  },
  {
    name: 'a recorded expiry takes the queue’s offer timeout before the re-offer',
    events: [
      agent(0, 'a1'),
      agent(1, 'a2'),
      arrival(10, 'c1', { offers: [{ agentId: 'a1', outcome: 'expired', afterSeconds: 999 }] }),
    ],
    expected: { c1: { outcome: 'answered', wait: 20, agent: 'a2' } },
  },
  {
    name: 'wrap-up keeps the agent from the next call for the queue’s wrapUpSeconds',
    events: [agent(0, 'a1'), arrival(0, 'c1', { text: 'wrap' }), arrival(0, 'c2', { text: 'wrap' })],
    expected: {
      c1: { outcome: 'answered', wait: 0 },
      c2: { outcome: 'answered', wait: 130 },
    },
  },
  {
    name: 'an agent who is away takes nothing until available again',
    events: [agent(0, 'a1'), agent(5, 'a1', 'away'), arrival(10, 'c1'), agent(50, 'a1')],
    expected: { c1: { outcome: 'answered', wait: 40, agent: 'a1' } },
  },
  {
    name: 'nobody to take it: unanswered at the end',
    events: [arrival(0, 'c1')],
    expected: { c1: { outcome: 'unanswered', wait: null, agent: null } },
  },
  {
    name: 'account owner: waits for the busy owner up to the offer timeout, then falls back',
    events: [
      agent(0, 'owner'),
      agent(0, 'other'),
      arrival(0, 'busy', { customerId: 'x' }),
      arrival(1, 'gold1', { facts: { customerTier: 'gold' }, accountOwnerId: 'owner', handleSeconds: 10 }),
    ],
    expected: {
      // 'busy' goes to the longest idle: 'other' and 'owner' tie on idle time, so agentId breaks it.
      busy: { outcome: 'answered', agent: 'other' },
      gold1: { queue: 'vip', outcome: 'answered', wait: 0, agent: 'owner' },
    },
  },
  {
    name: 'account owner busy past the timeout: the secondary strategy takes it',
    events: [
      agent(0, 'owner'),
      arrival(0, 'first', { handleSeconds: 1000 }),
      agent(1, 'other'),
      arrival(2, 'gold', { facts: { customerTier: 'gold' }, accountOwnerId: 'owner' }),
    ],
    expected: {
      first: { outcome: 'answered', agent: 'owner' },
      gold: { outcome: 'answered', wait: 30, agent: 'other' },
    },
  },
];

describe('simulate: scenarios', () => {
  it.each(scenarios)('$name', ({ events, options, expected }) => {
    const { contacts } = outcomes(events, { ...instant, ...options });
    for (const [id, want] of Object.entries(expected)) {
      const got = contacts[id];
      expect(got, id).toBeDefined();
      expect(got!.outcome, `${id} outcome`).toBe(want.outcome);
      if (want.queue !== undefined) expect(got!.queue, `${id} queue`).toBe(want.queue);
      if (want.wait !== undefined) {
        if (want.wait === null) expect(got!.waitSeconds, `${id} wait`).toBeNull();
        else expect(got!.waitSeconds, `${id} wait`).toBeCloseTo(want.wait, 6);
      }
      if (want.agent !== undefined) expect(got!.agentId, `${id} agent`).toBe(want.agent);
    }
  });

  it('sets an agent away after missesBeforeAway expiries in a row, until their next recorded change', () => {
    const expiring = { agentId: 'a1', outcome: 'expired' as const, afterSeconds: 30 };
    const { contacts, report } = outcomes([
      agent(0, 'a1'),
      arrival(10, 'c1', { offers: [expiring] }),
      arrival(10, 'c2', { offers: [expiring] }),
      arrival(11, 'c3'),
      agent(500, 'a1'),
    ]);
    // c1 expires at 30 s, then c2 is offered and expires at 50 s: two misses, a1 is away until 500 s.
    expect(contacts.c3).toMatchObject({ outcome: 'answered', agentId: 'a1' });
    expect(contacts.c3!.waitSeconds).toBeCloseTo(489, 6);
    expect(report.agents.find((a) => a.agentId === 'a1')).toMatchObject({ expired: 2, offered: 3 });
  });

  it('gives the same report whatever order the lines come in', () => {
    const events = scenarios.find((s) => s.name.startsWith('round-robin'))!.events;
    const forward = simulate(rules, events, instant);
    const backward = simulate(rules, [...events].reverse(), instant);
    expect(backward).toEqual(forward);
  });

  it('reports progress every N events and once at the end', () => {
    const seen: string[] = [];
    const events = [agent(0, 'a1'), ...[1, 2, 3, 4, 5].map((n) => arrival(n, `c${n}`))];
    simulate(rules, events, {
      ...instant,
      progressEvery: 2,
      onProgress: (p) => seen.push(`${p.done}/${p.total}`),
    });
    expect(seen).toEqual(['2/6', '4/6', '6/6', '6/6']);
  });
});

describe('simulate: report', () => {
  it('takes nearest-rank percentiles', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(ten, 50)).toBe(5);
    expect(percentile(ten, 90)).toBe(9);
    expect(percentile(ten, 100)).toBe(10);
    expect(percentile([42], 90)).toBe(42);
    expect(percentile([1, 2], 50)).toBe(1);
    expect(percentile([], 50)).toBeNull();
  });

  it('per queue: waits over answered contacts, service level and abandonment over those who waited', () => {
    const contact = (
      id: string,
      outcome: ContactResult['outcome'],
      waitSeconds: number | null,
      actual: ContactResult['actual'] = null,
    ): ContactResult => ({
      interactionId: id,
      channel: 'voice',
      queue: 'billing',
      finalQueue: 'billing',
      outcome,
      waitSeconds,
      agentId: waitSeconds === null ? null : 'a1',
      actual,
    });
    const real = (waitSeconds: number | null, abandoned = false, agentId: string | null = 'a2') => ({
      queue: 'billing',
      waitSeconds,
      agentId: waitSeconds === null ? null : agentId,
      abandoned,
    });
    const report = buildReport({
      rules,
      contacts: [
        contact('1', 'answered', 10, real(50)),
        contact('2', 'answered', 20, real(5, false, 'a1')),
        contact('3', 'answered', 40, real(null, true)),
        contact('4', 'abandoned', null, real(60)),
        contact('5', 'unanswered', null),
        contact('6', 'after-hours', null),
      ],
      agents: [],
      input: { arrivals: 6, agentEvents: 0, firstAtMs: t0, lastAtMs: t0 },
      options: { answerSeconds: 0, handleSeconds: { voice: 1, chat: 1, email: 1, fax: 1 } },
    });
    const [billing] = report.queues;
    expect(billing).toMatchObject({
      queue: 'billing',
      serviceLevelSeconds: 30,
      simulated: {
        contacts: 6,
        answered: 3,
        abandoned: 1,
        unanswered: 1,
        closedAfterHours: 1,
        waitP50: 20,
        waitP90: 40,
        // Within 30 s: 2 of the 5 who waited (after-hours left out).
        serviceLevel: 40,
        abandonment: 20,
      },
      // Real: 3 answered (5, 50, 60), 1 abandoned; within 30 s: 1 of 4.
      actual: { contacts: 4, answered: 3, abandoned: 1, waitP50: 50, waitP90: 60, serviceLevel: 25 },
    });
    expect(report.difference).toEqual({
      compared: 4,
      differentQueue: 0,
      differentAgent: 1,
      answeredHereAbandonedReally: 1,
      abandonedHereAnsweredReally: 1,
    });
    expect(report.agents.map((a) => [a.agentId, a.actualHandled])).toEqual([
      ['a1', 1],
      ['a2', 2],
    ]);
  });

  it('per agent: handled, occupancy over staffed time, wrap-up counted as busy', () => {
    const report = simulate(
      rules,
      [agent(0, 'a1'), arrival(0, 'c1', { text: 'wrap', handleSeconds: 70 }), agent(200, 'a1', 'offline')],
      instant,
    );
    // Busy 70 s handling + 30 s wrap-up, of 200 s staffed.
    expect(report.agents).toEqual([
      expect.objectContaining({
        agentId: 'a1',
        handled: 1,
        offered: 1,
        staffedSeconds: 200,
        busySeconds: 100,
        occupancy: 50,
        peakConcurrent: 1,
      }),
    ]);
  });
});

describe('arrivals file: lines', () => {
  const read = (lines: string[]) => {
    const reader = new ArrivalsReader();
    return lines.map((text, i) => reader.read(text, i + 1));
  };

  it('reads both kinds of line into events, with defaults', () => {
    const [agentLine, arrivalLine, blank] = read([
      '{"type":"agent","at":"2026-11-16T10:00:00Z","agentId":"a1","state":"on_contact","skills":{"billing":3},"capacity":{"chat":2}}',
      '{"type":"arrival","at":"2026-11-16T10:00:05.250+01:00","interactionId":"i1","channel":"voice","facts":{"ivrChoice":1,"customerTier":"gold"}}',
      '   ',
    ]);
    expect(agentLine).toEqual({
      status: 'event',
      event: {
        type: 'agent',
        atMs: t0,
        agentId: 'a1',
        presence: 'available',
        skills: { billing: 3 },
        capacity: { chat: 2 },
      },
    });
    expect(arrivalLine).toMatchObject({
      status: 'event',
      event: {
        atMs: t0 - 3600_000 + 5250,
        facts: { channel: 'voice', ivrChoice: '1', customerTier: 'gold' },
        customerId: 'i1',
        accountOwnerId: null,
        handleSeconds: null,
        patienceSeconds: null,
        offers: [],
        actual: null,
      },
    });
    expect(blank).toEqual({ status: 'blank' });
  });

  const arrivalWith = (fields: string) =>
    `{"type":"arrival","at":"2026-11-16T10:00:00Z","interactionId":"i9","channel":"chat"${fields}}`;

  it.each([
    ['{"type":"arrival",', /^not JSON: /],
    ['[1,2]', /^expected a JSON object$/],
    ['{"type":"call","at":"2026-11-16T10:00:00Z"}', /^type: expected 'arrival' or 'agent', got "call"$/],
    ['{"at":"2026-11-16T10:00:00Z"}', /^type: expected 'arrival' or 'agent', got nothing$/],
    ['{"type":"arrival","at":"2026-11-16T10:00:00Z","channel":"chat"}', /^missing 'interactionId'$/],
    [arrivalWith(',"color":"red"'), /^unknown field 'color'$/],
    [arrivalWith(',"facts":{"customerTeir":"gold"}'), /^facts: unknown field 'customerTeir'$/],
    [
      '{"type":"arrival","at":"yesterday","interactionId":"i9","channel":"chat"}',
      /^at: expected an ISO 8601 date-time .*got "yesterday"$/,
    ],
    [
      '{"type":"arrival","at":"2026-11-16T10:00:00Z","interactionId":"i9","channel":"sms"}',
      /^channel: expected one of voice, email, chat, fax, got "sms"$/,
    ],
    [arrivalWith(',"handleSeconds":-5'), /^handleSeconds: expected the handle time, seconds >= 0, got -5$/],
    [
      arrivalWith(',"actual":{"queue":"q","waitSeconds":"soon","agentId":null,"abandoned":false}'),
      /^actual\.waitSeconds: expected seconds >= 0, or null, got "soon"$/,
    ],
    [
      arrivalWith(',"offers":[{"agentId":"a1","outcome":"ignored","afterSeconds":1}]'),
      /^offers\[0\]\.outcome: expected one of accepted, rejected, expired, got "ignored"$/,
    ],
    [
      '{"type":"agent","at":"2026-11-16T10:00:00Z","agentId":"a1","state":"lunch"}',
      /^state: expected one of available, away, offline, on_contact, wrap_up, got "lunch"$/,
    ],
    [
      '{"type":"agent","at":"2026-11-16T10:00:00Z","agentId":"a1","state":"away","skills":{"billing":9}}',
      /^skills\.billing: .*got 9$/,
    ],
  ])('refuses %s', (line, reason) => {
    const [outcome] = read([line]);
    expect(outcome?.status).toBe('refused');
    if (outcome?.status === 'refused') {
      expect(outcome.problem.line).toBe(1);
      expect(outcome.problem.reason).toMatch(reason);
    }
  });

  it('refuses a second arrival of the same interaction, naming the first line', () => {
    const outcomes = read([arrivalWith(''), '', arrivalWith('')]);
    expect(outcomes[2]).toEqual({
      status: 'refused',
      problem: { line: 3, reason: "interaction 'i9' already arrived on line 1" },
    });
  });
});

describe('simulate command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-simulate-'));
  const rulesDir = join(dir, 'rules');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A rule folder of one file: the scenarios' rules. */
  const prepareRules = () => {
    mkdirSync(rulesDir, { recursive: true });
    writeFileSync(join(rulesDir, 'rules.yaml'), rulesYaml);
  };

  function output() {
    const chunks: string[] = [];
    return { write: (text: string) => chunks.push(text), text: () => chunks.join('') };
  }

  async function run(args: string[]) {
    const stdout = output();
    const stderr = output();
    const code = await runSimulate(args, { stdout, stderr }, { defaultRulesDir: rulesDir });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  const file = join(dir, 'arrivals.ndjson');
  const goodLines = [
    '{"type":"agent","at":"2026-11-16T10:00:00Z","agentId":"a1","state":"available"}',
    '{"type":"arrival","at":"2026-11-16T10:00:10Z","interactionId":"i1","channel":"voice","handleSeconds":60,"actual":{"queue":"general","waitSeconds":12,"agentId":"a1","abandoned":false}}',
    '{"type":"arrival","at":"2026-11-16T10:00:20Z","interactionId":"i2","channel":"voice","handleSeconds":60}',
  ];

  it('skips bad lines with their number and reason, and says so in the report', async () => {
    prepareRules();
    writeFileSync(file, [...goodLines, 'not json', '{"type":"agent"}'].join('\n'));
    const { code, stdout, stderr } = await run(['--arrivals', file, '--answer-seconds', '0']);
    expect(code).toBe(0);
    expect(stderr).toContain(`${file}:4: skipped: not JSON`);
    expect(stderr).toContain(`${file}:5: skipped: missing 'at', 'agentId', 'state'`);
    expect(stderr).toMatch(/read 5 lines \(100% of .*\): 3 events, 2 bad lines skipped/);
    expect(stderr).toMatch(/simulated 3 of 3 events \(100%\)/);
    expect(stdout).toMatch(/^general \(SL 20s\)\s+simulated\s+2\s+2\s+0\s+0\s+0\.0s\s+50\.0s\s+50\.0%/m);
    expect(stdout).toContain('2 bad lines of');
  });

  it('--strict stops at the first bad line', async () => {
    prepareRules();
    writeFileSync(file, [goodLines[0], '{"type":"arrival"}', 'not json'].join('\n'));
    await expect(run(['--arrivals', file, '--strict'])).rejects.toThrow(
      `simulate: ${file}:2: missing 'at', 'interactionId', 'channel'`,
    );
  });

  it('--json prints the report as JSON, with the skipped lines', async () => {
    prepareRules();
    writeFileSync(file, [...goodLines, '{}'].join('\n'));
    const { stdout } = await run(['--arrivals', file, '--json', '--quiet', '--handle-seconds', 'voice=30']);
    const report = JSON.parse(stdout) as { totals: { answered: number }; skippedLines: unknown[] };
    expect(report.totals.answered).toBe(2);
    expect(report.skippedLines).toEqual([
      { line: 4, reason: "type: expected 'arrival' or 'agent', got nothing" },
    ]);
  });

  it('refuses unknown options, a missing file and an invalid rule folder', async () => {
    prepareRules();
    await expect(run(['--arrivals', file, '--bogus'])).rejects.toThrow(/Unknown option '--bogus'/);
    await expect(run([])).rejects.toThrow(/--arrivals <file> is required/);
    await expect(run(['--arrivals', join(dir, 'missing.ndjson')])).rejects.toThrow(/cannot read/);
    await expect(run(['--arrivals', file, '--handle-seconds', 'sms=3'])).rejects.toThrow(
      /'sms' is not a channel/,
    );
    writeFileSync(join(rulesDir, 'rules.yaml'), 'queues: []\nrules: []\n');
    await expect(run(['--arrivals', file])).rejects.toThrow(
      /the rules in .* are refused:\n.*no queues are defined/,
    );
  });
});

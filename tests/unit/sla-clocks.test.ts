import { describe, expect, it } from 'vitest';
import { parseRuleFiles } from '../../src/routing/rules/rules.loader.js';
import type { RuleSet } from '../../src/routing/rules/rules.schema.js';
import { computeSlaClocks, slaStatus, type SlaLogEvent } from '../../src/sla/sla-clocks.js';

/*
 * SLA clocks from hand-made logs, every due time computed by hand in the us-office calendar (New York,
 * Mon-Fri 08:00-18:00, Thursday lunch 12:00-13:00, Thanksgiving 2026-11-26 closed). November 2026: UTC-5.
 */

const calendars = `calendars:
  us-office:
    timeZone: America/New_York
    weekly:
      mon: ['08:00-18:00']
      tue: ['08:00-18:00']
      wed: ['08:00-18:00']
      thu: ['08:00-12:00', '13:00-18:00']
      fri: ['08:00-18:00']
    holidays:
      - { date: '2026-11-26', name: Thanksgiving }
`;

const queues = `queues:
  - name: support
    strategy: round-robin
    channels: [voice, email, chat]
    hours: us-office
    sla:
      - channels: email
        firstResponse: 4h
        nextResponse: 8h
        resolution: 3d
      - channels: chat
        firstResponse: 60s
        warnBefore: 20s
        businessHours: false
      - channels: voice
        firstResponse: 30s
        nextResponse: 1m
        businessHours: false
  - name: escalations
    strategy: round-robin
    channels: [email]
`;

const rulesYaml = 'rules:\n  - name: default\n    queue: support\n    priority: 0\n';

function load(queuesYaml = queues): RuleSet {
  const outcome = parseRuleFiles([
    { name: 'calendars.yaml', text: calendars },
    { name: 'queues.yaml', text: queuesYaml },
    { name: 'rules.yaml', text: rulesYaml },
  ]);
  if (outcome.status !== 'valid') throw new Error(JSON.stringify(outcome.problems));
  return outcome.rules;
}

function problemsOf(queuesYaml: string): string[] {
  const outcome = parseRuleFiles([
    { name: 'calendars.yaml', text: calendars },
    { name: 'queues.yaml', text: queuesYaml },
    { name: 'rules.yaml', text: rulesYaml },
  ]);
  return outcome.status === 'valid' ? [] : outcome.problems.map((p) => p.reason);
}

const rules = load();
const support = rules.queues.get('support')!;
const emailPolicy = support.sla.get('email')!;
const chatPolicy = support.sla.get('chat')!;
const voicePolicy = support.sla.get('voice')!;

/** New York wall-clock time in November (UTC-5). */
const ny = (local: string) => new Date(`${local.replace(' ', 'T')}:00-05:00`);

const ev = (
  type: string,
  at: Date,
  actorType: SlaLogEvent['actorType'] = 'system',
  payload: Record<string, unknown> = {},
): SlaLogEvent => ({ type, actorType, occurredAt: at, payload });
const customerWrites = (at: Date) => ev('message.received', at, 'customer');
const agentReplies = (at: Date, extra: Record<string, unknown> = {}) =>
  ev('message.sent', at, 'agent', { agentId: 'a1', text: 'hello', ...extra });

describe('the policy as the loader resolves it', () => {
  it('reads durations, defaults and channels', () => {
    expect(emailPolicy).toEqual({
      channels: ['email'],
      targets: { firstResponse: 4 * 3600, nextResponse: 8 * 3600, resolution: 72 * 3600 },
      warnBeforeSeconds: null,
      isBusinessHours: true,
      onWarning: [],
      onBreach: [],
    });
    expect(chatPolicy.warnBeforeSeconds).toBe(20);
    expect(chatPolicy.isBusinessHours).toBe(false);
    expect(support.sla.has('fax')).toBe(false);
    expect(support.serviceLevelTarget).toBe(0.8);
    expect(support.longestWaitAlertSeconds).toBe(60);
  });

  it('refuses policies that cannot work, each with its reason', () => {
    const queue = (sla: string, extra = '') =>
      `queues:\n  - name: support\n    strategy: round-robin\n    channels: [email, chat]\n${extra}    sla:\n${sla}`;
    expect(problemsOf(queue('      - { channels: fax, firstResponse: 1h }\n'))).toEqual([
      "queue 'support': sla for 'fax', a channel the queue does not serve",
    ]);
    expect(
      problemsOf(queue('      - { channels: email, firstResponse: 1h }\n      - { resolution: 2d }\n')),
    ).toEqual(["queue 'support': 'email' is in two sla policies"]);
    expect(problemsOf(queue('      - { channels: email }\n'))).toEqual([
      "queue 'support': an sla policy needs firstResponse, nextResponse or resolution",
    ]);
    expect(problemsOf(queue('      - { firstResponse: 1h, warnBefore: 1h }\n'))).toEqual([
      "queue 'support': sla warnBefore 1h is not shorter than firstResponse 1h",
    ]);
    expect(problemsOf(queue('      - { firstResponse: 0m }\n'))).toEqual([
      "queue 'support': sla firstResponse '0m' is not a duration such as 30m or 4h",
    ]);
    expect(
      problemsOf(queue('      - { firstResponse: 1h, onBreach: [{ action: move-to, queue: nowhere }] }\n')),
    ).toEqual(["queue 'support': sla onBreach moves to unknown queue 'nowhere' (known: support)"]);
    expect(problemsOf(queue('      - { firstResponse: 1h, businessHours: true }\n'))).toEqual([
      "queue 'support': sla businessHours needs the queue's hours (the queue is always open)",
    ]);
    expect(problemsOf(queue('      - { firstResponse: 1h }\n', '    serviceLevelTarget: 0\n'))).toHaveLength(
      1,
    );
  });

  it('takes a per-queue service-level target and wait alert', () => {
    const set = load(
      `queues:\n  - name: support\n    strategy: round-robin\n    channels: [email]\n    serviceLevelSeconds: 30\n    serviceLevelTarget: 90\n    longestWaitAlertSeconds: 300\n`,
    );
    expect(set.queues.get('support')).toMatchObject({
      serviceLevelSeconds: 30,
      serviceLevelTarget: 0.9,
      longestWaitAlertSeconds: 300,
    });
  });
});

describe('email clocks in business hours', () => {
  const created = ny('2026-11-19 16:00'); // Thursday
  const log = [
    ev('interaction.created', created, 'customer', { direction: 'inbound' }),
    customerWrites(created),
    // The acknowledgment is not a person's answer.
    ev('message.sent', ny('2026-11-19 16:00'), 'system', { automatic: 'acknowledgment', text: 'got it' }),
    agentReplies(ny('2026-11-20 09:30')),
    customerWrites(ny('2026-11-20 11:00')),
    customerWrites(ny('2026-11-20 11:05')), // a second message while a reply is owed starts nothing
    agentReplies(ny('2026-11-23 08:30')),
    ev('interaction.closed', ny('2026-11-30 12:00'), 'agent', { agentId: 'a1' }),
    ev('interaction.reopened', ny('2026-12-01 09:00'), 'customer', { reason: 'reply' }),
    customerWrites(ny('2026-12-01 09:00')),
  ];

  const clocks = computeSlaClocks(
    { channel: 'email', direction: 'inbound' },
    log,
    emailPolicy,
    support.hours,
  );
  const find = (metric: string, cycle = 0) => clocks.find((c) => c.metric === metric && c.cycle === cycle);

  it('first response: 4 business hours from Thursday 16:00 is Friday 10:00; warned at 3 h', () => {
    // Thursday 16:00-18:00 is 2 h; Friday 08:00-10:00 the other 2 h. The warning: a quarter (1 h) earlier.
    expect(find('firstResponse')).toEqual({
      metric: 'firstResponse',
      cycle: 0,
      targetSeconds: 4 * 3600,
      startedAt: created,
      warnAt: ny('2026-11-20 09:00'),
      dueAt: ny('2026-11-20 10:00'),
      stoppedAt: ny('2026-11-20 09:30'),
      stopReason: 'responded',
    });
    expect(slaStatus(find('firstResponse')!, ny('2026-12-05 00:00'))).toBe('met');
  });

  it('next response: 8 business hours from Friday 11:00 runs over the weekend to Monday 09:00', () => {
    // Friday 11:00-18:00 is 7 h; Monday 08:00-09:00 the eighth. Warned 2 h before: Friday 17:00.
    expect(find('nextResponse', 1)).toMatchObject({
      startedAt: ny('2026-11-20 11:00'),
      warnAt: ny('2026-11-20 17:00'),
      dueAt: ny('2026-11-23 09:00'),
      stoppedAt: ny('2026-11-23 08:30'),
      stopReason: 'responded',
    });
  });

  it('resolution: 72 business hours skip Thanksgiving; a reopen resumes with what was left', () => {
    // Before the close: Thu 2 h, Fri 10, Mon 10, Tue 10, Wed 10, (Thanksgiving), Fri 27th 10, Mon 30th
    // 08:00-12:00 4 = 56 h. Left: 16 h from the reopen on Tuesday 09:00: Tuesday 9 h, Wednesday 7 h ->
    // Wednesday 15:00. The warning (18 h before due) had already passed: it falls at the reopen.
    expect(find('resolution')).toMatchObject({
      startedAt: created,
      dueAt: ny('2026-12-02 15:00'),
      warnAt: ny('2026-12-01 09:00'),
      stoppedAt: null,
      stopReason: null,
    });
    expect(slaStatus(find('resolution')!, ny('2026-12-01 10:00'))).toBe('warning');
    expect(slaStatus(find('resolution')!, ny('2026-12-02 15:00'))).toBe('breached');
  });

  it('resolution before the reopen was due Tuesday 1 December 18:00 (72 h, the end of an interval)', () => {
    const closedOnly = computeSlaClocks(
      { channel: 'email', direction: 'inbound' },
      log.slice(0, 8),
      emailPolicy,
      support.hours,
    );
    expect(closedOnly.find((c) => c.metric === 'resolution')).toMatchObject({
      dueAt: ny('2026-12-01 18:00'),
      stoppedAt: ny('2026-11-30 12:00'),
      stopReason: 'resolved',
    });
  });

  it('the customer writing after the reopen starts next response #2', () => {
    // Tuesday 09:00 + 8 business hours = Tuesday 17:00.
    expect(find('nextResponse', 2)).toMatchObject({
      startedAt: ny('2026-12-01 09:00'),
      dueAt: ny('2026-12-01 17:00'),
      stoppedAt: null,
    });
    expect(clocks.map((c) => `${c.metric}:${c.cycle}`).sort()).toEqual([
      'firstResponse:0',
      'nextResponse:1',
      'nextResponse:2',
      'resolution:0',
    ]);
  });
});

describe('clocks around the clock, and how each stops', () => {
  const t0 = new Date('2026-11-21T10:00:00Z'); // a Saturday: no business hours needed
  const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

  it('a chat answered in 40 s met its 60 s first response; warned at 40 s (20 s before due)', () => {
    const [clock] = computeSlaClocks(
      { channel: 'chat', direction: 'inbound' },
      [ev('interaction.created', t0), customerWrites(t0), agentReplies(at(40))],
      chatPolicy,
      support.hours,
    );
    expect(clock).toMatchObject({
      warnAt: at(40),
      dueAt: at(60),
      stoppedAt: at(40),
      stopReason: 'responded',
    });
    expect(slaStatus(clock!, at(3600))).toBe('met');
  });

  it('running: running, then warning, then breached; answered late: missed', () => {
    const running = computeSlaClocks(
      { channel: 'chat', direction: 'inbound' },
      [ev('interaction.created', t0), customerWrites(t0)],
      chatPolicy,
      null,
    )[0]!;
    expect(slaStatus(running, at(39))).toBe('running');
    expect(slaStatus(running, at(40))).toBe('warning');
    expect(slaStatus(running, at(60))).toBe('breached');
    const late = computeSlaClocks(
      { channel: 'chat', direction: 'inbound' },
      [ev('interaction.created', t0), customerWrites(t0), agentReplies(at(61))],
      chatPolicy,
      null,
    )[0]!;
    expect(slaStatus(late, at(100))).toBe('missed');
  });

  it('closed without an answer: cancelled before due, missed after', () => {
    const closedAt = (seconds: number) =>
      computeSlaClocks(
        { channel: 'chat', direction: 'inbound' },
        [
          ev('interaction.created', t0),
          customerWrites(t0),
          ev('interaction.closed', at(seconds), 'customer'),
        ],
        chatPolicy,
        null,
      )[0]!;
    expect(closedAt(30)).toMatchObject({ stoppedAt: at(30), stopReason: 'closed' });
    expect(slaStatus(closedAt(30), at(100))).toBe('cancelled');
    expect(slaStatus(closedAt(90), at(100))).toBe('missed');
  });

  it('a call: answering (offer.accepted) is the first response; calls have no next response', () => {
    const clocks = computeSlaClocks(
      { channel: 'voice', direction: 'inbound' },
      [
        ev('interaction.created', t0),
        customerWrites(t0),
        ev('offer.accepted', at(25), 'agent', { agentId: 'a1' }),
        customerWrites(at(100)),
      ],
      voicePolicy,
      null,
    );
    expect(clocks).toHaveLength(1);
    expect(clocks[0]).toMatchObject({ metric: 'firstResponse', dueAt: at(30), stoppedAt: at(25) });
  });

  it('an outbound interaction owes no first response; the customer answering starts next response #1', () => {
    const clocks = computeSlaClocks(
      { channel: 'email', direction: 'outbound' },
      [ev('interaction.created', t0), agentReplies(t0), customerWrites(at(60))],
      { ...emailPolicy, isBusinessHours: false },
      support.hours,
    );
    expect(clocks.map((c) => `${c.metric}:${c.cycle}`)).toEqual(['resolution:0', 'nextResponse:1']);
    expect(clocks[1]).toMatchObject({ startedAt: at(60), dueAt: at(60 + 8 * 3600) });
  });

  it('a policy without a target makes no clock for it', () => {
    const clocks = computeSlaClocks(
      { channel: 'chat', direction: 'inbound' },
      [ev('interaction.created', t0), customerWrites(t0), agentReplies(at(5)), customerWrites(at(9))],
      chatPolicy,
      null,
    );
    expect(clocks.map((c) => c.metric)).toEqual(['firstResponse']);
  });
});

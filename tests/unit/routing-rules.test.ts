import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  escalationStepsDue,
  isOpen,
  matchRule,
  nextEscalationAfter,
  openingStatus,
  type ContactFacts,
} from '../../src/routing/rules/rule-matcher.js';
import {
  parseRuleFiles,
  readRuleFolder,
  RulesStore,
  type LoadOutcome,
  type RuleFileSource,
  type RuleProblem,
} from '../../src/routing/rules/rules.loader.js';
import type { Queue, RuleSet } from '../../src/routing/rules/rules.schema.js';

const shippedFolder = fileURLToPath(new URL('../../routing-rules', import.meta.url));

// A small valid set; each invalid case below changes one thing in one file.
const baseFiles = {
  'calendars.yaml': `calendars:
  office:
    timeZone: America/New_York
    weekly:
      mon: ['08:00-18:00']
      thu: ['08:00-12:00', '13:00-18:00']
    holidays:
      - { date: '2026-12-25', name: Christmas Day }
`,
  'queues.yaml': `queues:
  - name: billing
    strategy: skills
    skills: { billing: 2 }
    channels: [voice, email]
    hours: office
    afterHours: { action: voicemail }
    escalation:
      - { afterSeconds: 60, action: relax-skills, levels: 1 }
      - { afterSeconds: 120, action: add-queue, queue: support }
  - name: support
    strategy: round-robin
    channels: [voice, email, chat, fax]
`,
  'rules.yaml': `rules:
  - name: billing-ivr
    when: { channel: voice, ivrChoice: 1 }
    queue: billing
    priority: 10
  - name: default
    queue: support
    priority: 0
`,
};
type BaseName = keyof typeof baseFiles;

function filesWith(changes: Partial<Record<string, string>> = {}): RuleFileSource[] {
  const texts: Record<string, string> = { ...baseFiles };
  for (const [name, text] of Object.entries(changes)) if (text !== undefined) texts[name] = text;
  return Object.entries(texts).map(([name, text]) => ({ name, text }));
}

/** The base file with `from` replaced by `to`; fails loudly when `from` is not there. */
function edit(name: BaseName, from: string, to: string): Record<string, string> {
  const text = baseFiles[name];
  if (!text.includes(from)) throw new Error(`fixture ${name} has no '${from}'`);
  return { [name]: text.replace(from, to) };
}

/** 1-based line of the `nth` (1-based) line containing `needle`. */
function lineOf(text: string, needle: string, nth = 1): number {
  const lines = text.split('\n').flatMap((line, i) => (line.includes(needle) ? [i + 1] : []));
  const line = lines[nth - 1];
  if (line === undefined) throw new Error(`no line ${nth} contains '${needle}'`);
  return line;
}

function valid(files: RuleFileSource[]): RuleSet {
  const outcome = parseRuleFiles(files);
  if (outcome.status !== 'valid')
    throw new Error(`expected valid rules, got ${JSON.stringify(outcome.problems)}`);
  return outcome.rules;
}

function problemsOf(files: RuleFileSource[]): RuleProblem[] {
  const outcome = parseRuleFiles(files);
  if (outcome.status !== 'invalid') throw new Error('expected the rule files to be refused');
  return outcome.problems;
}

function queueOf(rules: RuleSet, name: string): Queue {
  const queue = rules.queues.get(name);
  if (!queue) throw new Error(`no queue ${name}`);
  return queue;
}

/** The shipped example set, parsed with the pure function from the folder's contents. */
async function parseShipped(): Promise<RuleSet> {
  const read = await readRuleFolder(shippedFolder);
  if ('problems' in read) throw new Error(JSON.stringify(read.problems));
  return valid(read.files);
}
const shipped = await parseShipped();

describe('rule files: valid sets', () => {
  it('loads the base set, resolving names and filling defaults', () => {
    const rules = valid(filesWith());
    expect([...rules.queues.keys()]).toEqual(['billing', 'support']);
    const billing = queueOf(rules, 'billing');
    expect(billing.requiredSkills).toEqual([{ skill: 'billing', minLevel: 2 }]);
    expect(billing.hours?.timeZone).toBe('America/New_York');
    expect(billing.hours?.weekly.thu).toEqual([
      { from: 8 * 60, to: 12 * 60 },
      { from: 13 * 60, to: 18 * 60 },
    ]);
    expect(billing.offerTimeoutSeconds).toBe(20);
    expect(queueOf(rules, 'support').afterHours).toEqual({ action: 'queue' });
    expect(rules.rules.map((r) => r.name)).toEqual(['billing-ivr', 'default']);
    expect(rules.rules[0]?.when.ivrChoices).toEqual(['1']);
    expect(rules.capacity.voice).toEqual({ max: 1, isExclusive: true });
    expect(rules.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('merges files in file-name order: rules concatenate, queues from any file are known', () => {
    const rules = valid(
      filesWith({
        'rules.yaml': `rules:
  - name: from-rules
    when: { channel: chat }
    queue: extra
    priority: 1
`,
        'zz-last.yaml': `queues:
  - name: extra
    strategy: longest-idle
    channels: [chat]
rules:
  - name: catch-all
    queue: support
    priority: 0
`,
        'aa-first.yaml': `rules:
  - name: from-aa
    when: { channel: fax }
    queue: support
    priority: 2
`,
      }),
    );
    expect(rules.rules.map((r) => r.name)).toEqual(['from-aa', 'from-rules', 'catch-all']);
    expect(rules.files).toEqual([
      'aa-first.yaml',
      'calendars.yaml',
      'queues.yaml',
      'rules.yaml',
      'zz-last.yaml',
    ]);
  });

  it('loads the shipped routing-rules/ folder with no problems', async () => {
    const outcome = await new RulesStore(shippedFolder).load();
    expect(outcome.status === 'refused' ? outcome.problems : []).toEqual([]);
    if (outcome.status !== 'loaded') throw new Error('not loaded');
    const { rules } = outcome;
    expect([...rules.queues.keys()].sort()).toEqual([
      'account-team',
      'billing',
      'claims',
      'spanish',
      'support',
      'vip',
    ]);
    expect(queueOf(rules, 'vip')).toMatchObject({
      strategy: 'account-owner',
      secondaryStrategy: 'longest-idle',
    });
    expect(queueOf(rules, 'billing').hours?.weekly.thu).toHaveLength(2);
    expect(rules.rules.at(-1)?.when).toEqual({ keywordsIn: ['subject', 'text'] });
  });
});

describe('rule files: invalid sets are refused with file, line and reason', () => {
  const phoneRule = `rules:
  - name: billing-line
    when: { receivedOn: +18005550100 }
    queue: billing
    priority: 1
  - name: default
    queue: support
    priority: 0
`;
  const duplicateQueue = `queues:
  - name: billing
    strategy: round-robin
    channels: [chat]
`;
  const cases: {
    name: string;
    changes: Record<string, string>;
    file: string;
    needle: string;
    /** Which line containing `needle`; default the first. */
    nth?: number;
    reason: RegExp;
  }[] = [
    {
      name: 'a rule naming an unknown queue',
      changes: edit('rules.yaml', 'queue: billing', 'queue: billnig'),
      file: 'rules.yaml',
      needle: 'queue: billnig',
      reason: /rule 'billing-ivr' routes to unknown queue 'billnig' \(known: billing, support\)/,
    },
    {
      name: 'a bad strategy name',
      changes: edit('queues.yaml', 'strategy: round-robin', 'strategy: round-robbin'),
      file: 'queues.yaml',
      needle: 'round-robbin',
      reason: /queues\[1\]\.strategy: 'round-robbin' is not one of: skills, round-robin, least-busy/,
    },
    {
      name: 'a skill level of 6',
      changes: edit('queues.yaml', 'billing: 2', 'billing: 6'),
      file: 'queues.yaml',
      needle: 'billing: 6',
      reason: /queues\[0\]\.skills\.billing: 6 is above the maximum of 5/,
    },
    {
      name: 'a bad time zone',
      changes: edit('calendars.yaml', 'America/New_York', 'America/New_Yrok'),
      file: 'calendars.yaml',
      needle: 'New_Yrok',
      reason: /calendar 'office': 'America\/New_Yrok' is not a time zone/,
    },
    {
      name: 'an interval that ends before it starts',
      changes: edit('calendars.yaml', "mon: ['08:00-18:00']", "mon: ['18:00-08:00']"),
      file: 'calendars.yaml',
      needle: '18:00-08:00',
      reason: /calendar 'office' mon: interval '18:00-08:00' ends before it starts/,
    },
    {
      name: 'overlapping intervals on one day',
      changes: edit('calendars.yaml', "'13:00-18:00'", "'11:00-18:00'"),
      file: 'calendars.yaml',
      needle: '11:00-18:00',
      reason: /interval '11:00-18:00' overlaps '08:00-12:00'/,
    },
    {
      name: 'a badly written interval',
      changes: edit('calendars.yaml', "mon: ['08:00-18:00']", "mon: ['8:00-18:00']"),
      file: 'calendars.yaml',
      needle: '8:00-18:00',
      reason: /calendars\.office\.weekly\.mon\[0\]: '8:00-18:00' is not a time interval 'HH:MM-HH:MM'/,
    },
    {
      name: 'a holiday that is not a date',
      changes: edit('calendars.yaml', '2026-12-25', '2026-02-30'),
      file: 'calendars.yaml',
      needle: '2026-02-30',
      reason: /holiday '2026-02-30' is not a real date/,
    },
    {
      name: 'a YAML syntax error',
      changes: edit('queues.yaml', '    strategy: skills', '\tstrategy: skills'),
      file: 'queues.yaml',
      needle: '\tstrategy',
      reason: /^YAML syntax: Tabs are not allowed as indentation/,
    },
    {
      name: 'a queue defined twice (in two files)',
      changes: { 'zz-more-queues.yaml': duplicateQueue },
      file: 'zz-more-queues.yaml',
      needle: 'name: billing',
      reason: /queue 'billing' is already defined at queues\.yaml:2/,
    },
    {
      name: 'an escalation adding an unknown queue',
      changes: edit('queues.yaml', 'queue: support }', 'queue: suport }'),
      file: 'queues.yaml',
      needle: 'suport',
      reason: /queue 'billing': escalation adds unknown queue 'suport'/,
    },
    {
      name: 'escalation steps out of order',
      changes: edit('queues.yaml', 'afterSeconds: 120', 'afterSeconds: 30'),
      file: 'queues.yaml',
      needle: 'afterSeconds: 30',
      reason: /escalation steps go in order of afterSeconds \(30 comes after 60\)/,
    },
    {
      name: 'an unknown after-hours action',
      changes: edit('queues.yaml', 'action: voicemail', 'action: nap'),
      file: 'queues.yaml',
      needle: 'action: nap',
      reason:
        /queues\[0\]\.afterHours\.action: 'nap' is not one of: queue, voicemail, close-with-message, move-to/,
    },
    {
      name: 'an after-hours move without a queue',
      changes: edit('queues.yaml', 'action: voicemail', 'action: move-to'),
      file: 'queues.yaml',
      needle: 'action: move-to',
      reason: /queues\[0\]\.afterHours: missing 'queue'/,
    },
    {
      name: 'an unknown calendar',
      changes: edit('queues.yaml', 'hours: office', 'hours: ofice'),
      file: 'queues.yaml',
      needle: 'hours: ofice',
      reason: /unknown calendar 'ofice' \(known: office\)/,
    },
    {
      name: 'an account-owner queue without a secondary strategy',
      changes: edit('queues.yaml', 'strategy: round-robin', 'strategy: account-owner'),
      file: 'queues.yaml',
      needle: 'account-owner',
      reason: /queue 'support': account-owner needs a secondaryStrategy/,
    },
    {
      name: 'a misspelled field',
      changes: edit('queues.yaml', '    hours: office', '    hours: office\n    wrapUpSecs: 30'),
      file: 'queues.yaml',
      needle: 'wrapUpSecs',
      reason: /queues\[0\]: unknown field 'wrapUpSecs' \(expected one of: name, strategy/,
    },
    {
      name: 'a rule for a channel its queue does not serve',
      changes: edit('rules.yaml', 'channel: voice', 'channel: [voice, chat]'),
      file: 'rules.yaml',
      needle: 'channel: [voice, chat]',
      reason: /rule 'billing-ivr': queue 'billing' does not serve chat/,
    },
    {
      name: 'an unquoted phone number',
      changes: { 'rules.yaml': phoneRule },
      file: 'rules.yaml',
      needle: '+18005550100',
      reason: /receivedOn: expected .* got 18005550100 \(write it in quotes/,
    },
    {
      name: 'a last rule that does not match everything',
      changes: edit('rules.yaml', '    queue: support', '    when: { channel: chat }\n    queue: support'),
      file: 'rules.yaml',
      needle: 'name: default',
      reason: /the last rule must match everything/,
    },
    {
      name: 'a rule name used twice',
      changes: edit('rules.yaml', 'name: billing-ivr', 'name: default'),
      file: 'rules.yaml',
      needle: 'name: default',
      nth: 2,
      reason: /^rule 'default' is already defined at rules\.yaml:2$/,
    },
    {
      name: 'options set in two files',
      changes: {
        'queues.yaml': `${baseFiles['queues.yaml']}options: { offerTimeoutSeconds: 10 }\n`,
        'rules.yaml': `${baseFiles['rules.yaml']}options: { missesBeforeAway: 2 }\n`,
      },
      file: 'rules.yaml',
      needle: 'options:',
      reason: /options are already set in queues\.yaml:14/,
    },
  ];

  it.each(cases)('refuses $name', ({ changes, file, needle, nth, reason }) => {
    const files = filesWith(changes);
    const text = files.find((f) => f.name === file)?.text ?? '';
    const problems = problemsOf(files);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file, line: lineOf(text, needle, nth) });
    expect(problems[0]?.reason).toMatch(reason);
  });

  it('points at the offending value, column included', () => {
    const files = filesWith(edit('queues.yaml', 'billing: 2', 'billing: 6'));
    const [problem] = problemsOf(files);
    expect(problem).toEqual({
      file: 'queues.yaml',
      line: 4,
      column: '    skills: { billing: '.length + 1,
      reason: 'queues[0].skills.billing: 6 is above the maximum of 5',
    });
  });

  it('reports every rule after a catch-all as never matching', () => {
    const rules = `rules:
  - name: everything
    queue: support
    priority: 0
${baseFiles['rules.yaml'].replace('rules:\n', '')}`;
    const problems = problemsOf(filesWith({ 'rules.yaml': rules }));
    expect(problems.map((p) => [p.line, p.reason])).toEqual([
      [
        lineOf(rules, 'billing-ivr'),
        "rule 'billing-ivr' never matches: rule 'everything' before it matches everything",
      ],
      [
        lineOf(rules, 'name: default'),
        "rule 'default' never matches: rule 'everything' before it matches everything",
      ],
    ]);
  });

  it('reports problems in several files at once', () => {
    const problems = problemsOf(
      filesWith({
        ...edit('queues.yaml', 'billing: 2', 'billing: 0'),
        ...edit('calendars.yaml', 'timeZone: America/New_York', 'timeZone: 5'),
      }),
    );
    expect(problems.map((p) => p.file)).toEqual(['calendars.yaml', 'queues.yaml']);
  });

  it('refuses a set without queues or rules as a whole', () => {
    const outcome = parseRuleFiles([{ name: 'empty.yaml', text: '# nothing yet\n' }], 'rules-dir');
    expect(outcome).toEqual({
      status: 'invalid',
      problems: [
        { file: 'rules-dir', line: 0, column: 0, reason: 'no queues are defined' },
        { file: 'rules-dir', line: 0, column: 0, reason: 'no rules are defined' },
      ],
    });
  });
});

describe('matchRule', () => {
  const at = new Date('2026-03-04T15:00:00Z'); // a Wednesday

  const match = (facts: ContactFacts, now = at) => matchRule(shipped.rules, facts, now);

  it('first match wins: a gold customer writing about an invoice goes to vip, others to billing', () => {
    const facts: ContactFacts = { channel: 'email', subject: 'Invoice 1234', customerTier: 'Gold' };
    expect(match(facts)).toEqual({
      queue: 'vip',
      priority: 50,
      ruleName: 'vip-tier',
      reason: "rule 'vip-tier': customer tier gold",
    });
    expect(match({ ...facts, customerTier: 'silver' })).toMatchObject({
      queue: 'billing',
      ruleName: 'billing-keywords',
      reason: "rule 'billing-keywords': keyword 'invoice' in subject",
    });
  });

  it('earlier rules shadow later ones in a hand-built list', () => {
    const list = valid(
      filesWith({
        'rules.yaml': `rules:
  - name: voice-first
    when: { channel: voice }
    queue: support
    priority: 1
  - name: billing-ivr
    when: { channel: voice, ivrChoice: 1 }
    queue: billing
    priority: 10
  - name: default
    queue: support
    priority: 0
`,
      }),
    ).rules;
    expect(matchRule(list, { channel: 'voice', ivrChoice: '1' }, at)?.ruleName).toBe('voice-first');
    expect(matchRule(list, { channel: 'chat' }, at)?.ruleName).toBe('default');
  });

  it.each<[string, ContactFacts, string]>([
    ['IVR choice 1', { channel: 'voice', ivrChoice: '1' }, 'billing-ivr'],
    ['IVR choice 2', { channel: 'voice', ivrChoice: '2' }, 'claims-ivr'],
    ['IVR choice 1 by chat is not the IVR rule', { channel: 'chat', ivrChoice: '1' }, 'default'],
    [
      'the billing mailbox, any case',
      { channel: 'email', receivedOn: 'Billing@Example.com' },
      'billing-mailbox',
    ],
    ['the claims fax line', { channel: 'fax', receivedOn: '+18005550199' }, 'claims-fax'],
    ['the Spanish mailbox', { channel: 'email', receivedOn: 'soporte@example.com' }, 'spanish-mailbox'],
    ['a Spanish locale with a region', { channel: 'chat', locale: 'es-MX' }, 'spanish-locale'],
    ['a locale that only starts with es', { channel: 'chat', locale: 'est' }, 'default'],
    ['platinum', { channel: 'voice', ivrChoice: '2', customerTier: 'platinum' }, 'vip-tier'],
    ['nothing telling', { channel: 'email', subject: 'Hello', text: 'Just saying hi' }, 'default'],
  ])('routes %s', (_name, facts, ruleName) => {
    expect(match(facts)?.ruleName).toBe(ruleName);
  });

  it.each<[string, string, boolean]>([
    ['refund', 'I want a REFUND.', true],
    ['refund', 'Refund? please', true],
    ['refund', 'this was refunded already', false],
    ['refund', 'prefund the account', false],
    ['invoice', 're:invoice#1234', true],
    ['invoice', 'invoices attached', false],
    ['claim', 'Claimant details enclosed', false],
    ['claim', 'my claim number is 42', true],
    ['credit card', 'my Credit\n card was charged twice', true],
    ['credit card', 'creditcard', false],
    ['credit card', 'card credit', false],
  ])('keyword %j in %j: %s', (keyword, text, expected) => {
    const rules = valid(
      filesWith({
        'rules.yaml': `rules:
  - name: words
    when: { keywords: ['${keyword}'] }
    queue: billing
    priority: 1
  - name: default
    queue: support
    priority: 0
`,
      }),
    ).rules;
    expect(matchRule(rules, { channel: 'email', text }, at)?.ruleName).toBe(expected ? 'words' : 'default');
  });

  it('looks for keywords only where keywordsIn says', () => {
    const rules = valid(
      filesWith({
        'rules.yaml': `rules:
  - name: subject-only
    when: { keywords: refund, keywordsIn: subject }
    queue: billing
    priority: 1
  - name: default
    queue: support
    priority: 0
`,
      }),
    ).rules;
    expect(matchRule(rules, { channel: 'email', text: 'refund' }, at)?.ruleName).toBe('default');
    expect(matchRule(rules, { channel: 'email', subject: 'Refund' }, at)?.ruleName).toBe('subject-only');
  });

  it('matches time of day and day of week in the rule time zone', () => {
    const call: ContactFacts = { channel: 'voice', ivrChoice: '2' };
    // Saturday 2026-03-07: 09:30 in Chicago (UTC-6) is 15:30 UTC.
    expect(match(call, new Date('2026-03-07T15:30:00Z'))).toMatchObject({
      ruleName: 'saturday-claims-calls',
      priority: 30,
      reason:
        "rule 'saturday-claims-calls': channel voice, IVR choice '2', during sat 08:00-12:00 America/Chicago",
    });
    // 12:30 in Chicago: past the window, so the ordinary IVR rule.
    expect(match(call, new Date('2026-03-07T18:30:00Z'))?.ruleName).toBe('claims-ivr');
    // Friday 23:30 in Chicago is already Saturday in UTC: not Saturday where the rule looks.
    expect(match(call, new Date('2026-03-07T05:30:00Z'))?.ruleName).toBe('claims-ivr');
  });

  it('returns null for a list without a catch-all', () => {
    expect(matchRule([], { channel: 'chat' }, at)).toBeNull();
  });
});

describe('business hours', () => {
  const billing = queueOf(shipped, 'billing');

  it.each<[string, string, boolean]>([
    ['Monday 07:59 New York (EST, UTC-5)', '2026-03-02T12:59:00Z', false],
    ['Monday 08:00 New York', '2026-03-02T13:00:00Z', true],
    ['Monday 07:59 New York after the switch to EDT (UTC-4)', '2026-03-09T11:59:00Z', false],
    ['Monday 08:00 New York after the switch to EDT', '2026-03-09T12:00:00Z', true],
    ['Friday 17:30 New York, 22:30 UTC', '2026-03-06T22:30:00Z', true],
    ['Friday 18:00 New York: the end is exclusive', '2026-03-06T23:00:00Z', false],
    ['Monday 23:00 New York, already Tuesday in UTC', '2026-03-10T03:00:00Z', false],
    ['Thursday 11:59 New York, before the meeting', '2026-03-05T16:59:00Z', true],
    ['Thursday 12:30 New York, during the meeting', '2026-03-05T17:30:00Z', false],
    ['Thursday 13:00 New York, after the meeting', '2026-03-05T18:00:00Z', true],
    ['Saturday noon New York', '2026-03-07T17:00:00Z', false],
  ])('billing on %s: open=%s', (_name, instant, expected) => {
    expect(isOpen(billing, new Date(instant))).toBe(expected);
  });

  it('is closed on a holiday, with the holiday as the reason', () => {
    // Friday 2026-12-25, 10:00 in New York.
    expect(openingStatus(billing, new Date('2026-12-25T15:00:00Z'))).toEqual({
      isOpen: false,
      reason: 'closed: holiday Christmas Day (2026-12-25 in America/New_York)',
    });
    expect(isOpen(billing, new Date('2026-12-24T15:00:00Z'))).toBe(true);
  });

  it('takes the holiday date in the calendar time zone, not in UTC', () => {
    const rules = valid(
      filesWith(
        edit(
          'calendars.yaml',
          `    timeZone: America/New_York
    weekly:
      mon: ['08:00-18:00']
      thu: ['08:00-12:00', '13:00-18:00']
    holidays:
      - { date: '2026-12-25', name: Christmas Day }`,
          `    timeZone: Pacific/Auckland
    weekly: { thu: ['08:00-18:00'], fri: ['08:00-18:00'] }
    holidays: [{ date: '2026-02-06', name: Waitangi Day }]`,
        ),
      ),
    );
    const queue = queueOf(rules, 'billing');
    // Thursday 2026-02-05 20:00 UTC is Friday 2026-02-06 09:00 in Auckland (UTC+13): the holiday.
    expect(openingStatus(queue, new Date('2026-02-05T20:00:00Z'))).toEqual({
      isOpen: false,
      reason: 'closed: holiday Waitangi Day (2026-02-06 in Pacific/Auckland)',
    });
    // A day earlier it is an ordinary Thursday morning in Auckland.
    expect(openingStatus(queue, new Date('2026-02-04T20:00:00Z'))).toEqual({
      isOpen: true,
      reason: 'open: thu 08:00-18:00 Pacific/Auckland',
    });
  });

  it('a queue without hours is always open', () => {
    expect(isOpen(queueOf(shipped, 'vip'), new Date('2026-12-25T03:00:00Z'))).toBe(true);
  });
});

describe('escalation', () => {
  const billing = queueOf(shipped, 'billing');

  it.each<[number, string[]]>([
    [0, []],
    [59, []],
    [60, ['relax-skills']],
    [119, ['relax-skills']],
    [120, ['relax-skills', 'add-queue']],
    [300, ['relax-skills', 'add-queue', 'raise-priority']],
    [86_400, ['relax-skills', 'add-queue', 'raise-priority']],
  ])('after %i seconds waiting: %j', (waited, actions) => {
    expect(escalationStepsDue(billing, waited).map((s) => s.action)).toEqual(actions);
  });

  it('says when the next step falls due', () => {
    expect(nextEscalationAfter(billing, 0)).toBe(60);
    expect(nextEscalationAfter(billing, 60)).toBe(120);
    expect(nextEscalationAfter(billing, 300)).toBeNull();
  });
});

describe('RulesStore on disk', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'switchboard-rules-'));
    for (const [name, text] of Object.entries(baseFiles)) await writeFile(join(folder, name), text);
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('keeps the rules in force when a reload is refused, and reports unchanged files as unchanged', async () => {
    const store = new RulesStore(folder);
    const first = await store.load();
    expect(first.status).toBe('loaded');
    const inForce = store.current;
    expect(inForce).toBeDefined();

    await writeFile(
      join(folder, 'rules.yaml'),
      baseFiles['rules.yaml'].replace('queue: billing', 'queue: nope'),
    );
    const refused = await store.load();
    expect(refused).toMatchObject({
      status: 'refused',
      problems: [{ file: join(folder, 'rules.yaml'), line: 4 }],
      inForce,
    });
    expect(store.current).toBe(inForce);

    await writeFile(join(folder, 'rules.yaml'), baseFiles['rules.yaml']);
    expect(await store.load()).toEqual({ status: 'unchanged', rules: inForce });
  });

  it('refuses a folder without rule files', async () => {
    await rm(folder, { recursive: true, force: true });
    const outcome = await new RulesStore(folder).load();
    expect(outcome).toMatchObject({ status: 'refused', problems: [{ file: folder, line: 0 }] });
  });

  it('reloads on change without a restart: refuses a bad edit, then takes a good one', async () => {
    const store = new RulesStore(folder, { debounceMs: 30 });
    await store.load();
    const before = store.current;
    const outcomes: LoadOutcome[] = [];
    const stop = store.watch((outcome) => outcomes.push(outcome));
    /** The first outcome from `from` on that passes `test`; an editor's partial writes may come first. */
    const outcomeFrom = (from: number, test: (o: LoadOutcome) => boolean) =>
      vi.waitFor(
        () => {
          const found = outcomes.slice(from).find(test);
          if (!found) throw new Error(`no such outcome yet: ${JSON.stringify(outcomes.slice(from))}`);
          return found;
        },
        { timeout: 5000, interval: 10 },
      );
    const queuesFile = join(folder, 'queues.yaml');
    try {
      let from = outcomes.length;
      await writeFile(queuesFile, baseFiles['queues.yaml'].replace('billing: 2', 'billing: 6'));
      const refused = await outcomeFrom(
        from,
        (o) => o.status === 'refused' && o.problems.some((p) => p.reason.includes('maximum of 5')),
      );
      if (refused.status !== 'refused') throw new Error('unreachable');
      expect(refused.problems).toEqual([
        {
          file: queuesFile,
          line: 4,
          column: 24,
          reason: 'queues[0].skills.billing: 6 is above the maximum of 5',
        },
      ]);
      expect(refused.inForce).toBe(before);
      expect(store.current).toBe(before);

      from = outcomes.length;
      await writeFile(queuesFile, baseFiles['queues.yaml'].replace('billing: 2', 'billing: 3'));
      const loaded = await outcomeFrom(from, (o) => o.status === 'loaded');
      expect(loaded).toMatchObject({ status: 'loaded', previous: before });
      expect(store.current).not.toBe(before);
      expect(queueOf(store.current!, 'billing').requiredSkills).toEqual([{ skill: 'billing', minLevel: 3 }]);
    } finally {
      stop();
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseDuration } from '../../src/routing/rules/business-time.js';
import { fuzzRuns, fuzzSeed } from '../support/fuzz-inputs.js';
import {
  parseRuleFiles,
  type ParseOutcome,
  type RuleFileSource,
} from '../../src/routing/rules/rules.loader.js';

/*
 * Bad input at the routing-rules door, generated: whatever an operator writes, parseRuleFiles returns (never
 * throws) either a rule set or problems that each name the file, a line, a column and a reason. Three
 * generators: YAML-ish text, structured-but-wrong sections dumped with `yaml`, and well-formed `sla:` policies
 * (which must be accepted and resolved to the seconds they say).
 */

function expectOutcome(outcome: ParseOutcome, files: readonly RuleFileSource[]) {
  if (outcome.status === 'valid') {
    expect(outcome.rules.queues).toBeInstanceOf(Map);
    expect(Array.isArray(outcome.rules.rules)).toBe(true);
    expect(outcome.rules.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    return;
  }
  expect(outcome.status).toBe('invalid');
  expect(outcome.problems.length).toBeGreaterThan(0);
  const names = files.map((f) => f.name);
  for (const problem of outcome.problems) {
    // The loader may report a set-wide problem against the folder; a file's problem names that file.
    expect(typeof problem.file).toBe('string');
    if (problem.line > 0) expect(names).toContain(problem.file);
    expect(Number.isInteger(problem.line) && problem.line >= 0).toBe(true);
    expect(Number.isInteger(problem.column) && problem.column >= 0).toBe(true);
    expect(typeof problem.reason).toBe('string');
    expect(problem.reason.trim().length).toBeGreaterThan(0);
    const file = files.find((f) => f.name === problem.file);
    if (file) expect(problem.line).toBeLessThanOrEqual(file.text.split('\n').length + 1);
  }
}

function parseExpectingOutcome(files: RuleFileSource[]) {
  let outcome: ParseOutcome | undefined;
  expect(() => {
    outcome = parseRuleFiles(files);
  }).not.toThrow();
  expectOutcome(outcome!, files);
  return outcome!;
}

// ---- YAML-ish text. ----

const yamlToken = fc.constantFrom(
  'queues:',
  'rules:',
  'calendars:',
  'capacity:',
  'options:',
  'ivr:',
  'sla:',
  '- ',
  '  ',
  '\t',
  ': ',
  'name: support',
  'strategy: skills',
  'channels: [email, chat]',
  'firstResponse: 4h',
  'warnBefore: 30m',
  'onBreach: [{ action: alert }]',
  'priority: 10',
  'queue: support',
  '&a ',
  '*a',
  '*b',
  '<<: *a',
  '!!binary ',
  '!!js/function ',
  '!custom ',
  '? ',
  '{',
  '}',
  '[',
  ']',
  ',',
  '"',
  "'",
  '|',
  '>-',
  '#',
  '%YAML 1.2',
  '---',
  '...',
  '~',
  'null',
  '0x1F',
  '1e999',
  '.nan',
  '__proto__:',
  'constructor:',
  '\u0000',
  '\uFEFF',
  '\u202E',
  'é',
  '😀',
  '\r',
);

const yamlishLine = fc
  .tuple(fc.nat({ max: 6 }), fc.array(fc.oneof(yamlToken, fc.string({ maxLength: 8 })), { maxLength: 6 }))
  .map(([indent, parts]) => ' '.repeat(indent) + parts.join(''));
const yamlishText = fc.array(yamlishLine, { maxLength: 25 }).map((lines) => lines.join('\n'));

const fileName = fc.constantFrom('queues.yaml', 'rules.yaml', 'calendars.yaml', '10-extra.yml', 'ü ñ.yaml');
const textFiles = (text: fc.Arbitrary<string>) =>
  fc.uniqueArray(fc.record({ name: fileName, text }), {
    minLength: 1,
    maxLength: 3,
    selector: (f) => f.name,
  });

describe('parseRuleFiles on arbitrary text', () => {
  it('returns a rule set or located problems for YAML-ish text', () => {
    fc.assert(
      fc.property(textFiles(yamlishText), (files) => void parseExpectingOutcome(files)),
      { seed: fuzzSeed, numRuns: fuzzRuns(400) },
    );
  }, 30_000);

  it('returns a rule set or located problems for any string at all', () => {
    const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme' }));
    fc.assert(
      fc.property(textFiles(anyText), (files) => void parseExpectingOutcome(files)),
      { seed: fuzzSeed, numRuns: fuzzRuns(300) },
    );
  }, 30_000);

  // Regressions: yaml's toJS threw on these and parseRuleFiles threw with it.
  it.each([
    [
      'an alias bomb (billion laughs)',
      [
        'a: &a [x, x, x, x, x, x, x, x, x, x]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
        'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
      ].join('\n'),
      2,
    ],
    ['an alias to no anchor', 'queues: *nowhere\n', 1],
  ])('refuses %s with a located problem instead of throwing', (_name, text, line) => {
    const outcome = parseExpectingOutcome([{ name: 'queues.yaml', text }]);
    expect(outcome.status).toBe('invalid');
    if (outcome.status !== 'invalid') return;
    expect(outcome.problems).toHaveLength(1);
    expect(outcome.problems[0]).toMatchObject({ file: 'queues.yaml', line });
    expect(outcome.problems[0]!.reason).toMatch(/^YAML aliases: /);
  });
});

// ---- Structured but wrong: the right sections, random values. ----

/** Anything at all where a field's value goes. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '',
    ' ',
    '-1',
    '0',
    '1e3',
    'null',
    'true',
    '__proto__',
    '24:00',
    '25:99-26:00',
    'Mars/Base',
  ),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ minLength: 2_000, maxLength: 5_000 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
);
const maybe = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: junk });

const queueName = fc.constantFrom('support', 'billing', 'vip', 'Bad Name', 'x'.repeat(41), '');
const channel = fc.constantFrom('voice', 'email', 'chat', 'fax', 'sms', 'EMAIL');
const duration = fc.oneof(
  fc.constantFrom('90s', '30m', '4h', '1h30m', '3d', '0s', '', 's', '4x', '1h 30m', '99999999999999999999d'),
  fc.tuple(fc.nat({ max: 9 }), fc.constantFrom('d', 'h', 'm', 's')).map(([n, u]) => `${n}${u}`),
);
const slaAction = fc.oneof(
  fc.record({ action: fc.constant('raise-priority'), by: maybe(fc.integer({ min: -5, max: 2000 })) }),
  fc.record({ action: fc.constant('move-to'), queue: maybe(queueName) }),
  fc.record({ action: fc.constantFrom('alert', 'page', '') }),
  junk,
);
const slaPolicy = fc.record(
  {
    channels: maybe(fc.oneof(channel, fc.array(channel, { maxLength: 4 }))),
    firstResponse: maybe(duration),
    nextResponse: maybe(duration),
    resolution: maybe(duration),
    warnBefore: maybe(duration),
    businessHours: maybe(fc.boolean()),
    onWarning: maybe(fc.array(slaAction, { maxLength: 3 })),
    onBreach: maybe(fc.array(slaAction, { maxLength: 3 })),
    extra: junk,
  },
  { requiredKeys: [] },
);
const queue = fc.record(
  {
    name: maybe(queueName),
    strategy: maybe(
      fc.constantFrom('skills', 'round-robin', 'least-busy', 'longest-idle', 'account-owner', 'x'),
    ),
    secondaryStrategy: maybe(fc.constantFrom('skills', 'account-owner')),
    skills: maybe(fc.dictionary(fc.constantFrom('billing', 'es', 'BAD'), fc.integer({ min: -1, max: 7 }))),
    channels: maybe(fc.array(channel, { maxLength: 5 })),
    offerTimeoutSeconds: maybe(fc.integer({ min: -10, max: 1000 })),
    serviceLevelSeconds: maybe(fc.integer({ min: -10, max: 1_000_000 })),
    hours: maybe(fc.constantFrom('office', 'nowhere', 'closed')),
    afterHours: maybe(
      fc.record({ action: fc.constantFrom('queue', 'voicemail', 'move-to', 'nope'), queue: queueName }),
    ),
    escalation: maybe(
      fc.array(
        fc.record({
          afterSeconds: maybe(fc.integer({ min: -1, max: 1_000_000 })),
          action: fc.constantFrom('relax-skills', 'add-queue', 'move-to', 'raise-priority', 'x'),
          levels: maybe(fc.integer({ min: 0, max: 5 })),
          queue: maybe(queueName),
          by: maybe(fc.integer({ min: 0, max: 2000 })),
        }),
        { maxLength: 3 },
      ),
    ),
    sla: maybe(fc.array(slaPolicy, { maxLength: 3 })),
    dispositions: maybe(fc.array(fc.record({ code: maybe(queueName), label: junk }), { maxLength: 3 })),
  },
  { requiredKeys: [] },
);
const rule = fc.record(
  {
    name: maybe(fc.constantFrom('default', 'vip', 'Bad Name')),
    when: maybe(
      fc.record(
        {
          channel: maybe(fc.oneof(channel, fc.array(channel))),
          ivrChoice: junk,
          keywords: maybe(fc.array(fc.string({ maxLength: 10 }))),
          locale: maybe(fc.constantFrom('es', 'es-MX', 'x', '')),
          during: junk,
        },
        { requiredKeys: [] },
      ),
    ),
    queue: maybe(queueName),
    priority: maybe(fc.integer({ min: -1, max: 2000 })),
  },
  { requiredKeys: [] },
);
const calendar = fc.record(
  {
    timeZone: maybe(fc.constantFrom('America/New_York', 'UTC', 'Mars/Base', '')),
    weekly: maybe(
      fc.dictionary(
        fc.constantFrom('mon', 'tue', 'sun', 'funday'),
        maybe(
          fc.array(fc.constantFrom('08:00-18:00', '13:00-12:00', '00:00-24:00', '8-5'), { maxLength: 3 }),
        ),
      ),
    ),
    holidays: maybe(fc.array(fc.record({ date: fc.constantFrom('2026-12-25', '2026-13-40', 'xmas') }))),
  },
  { requiredKeys: [] },
);
const ruleFile = fc.record(
  {
    queues: maybe(fc.array(queue, { maxLength: 3 })),
    rules: maybe(fc.array(rule, { maxLength: 3 })),
    calendars: maybe(fc.dictionary(fc.constantFrom('office', 'closed', 'Bad'), calendar, { maxKeys: 2 })),
    capacity: junk,
    options: junk,
    __proto__: junk,
    constructor: junk,
  },
  { requiredKeys: [] },
);

describe('parseRuleFiles on structured but wrong rule files', () => {
  it('returns a rule set or located problems, whatever the values', () => {
    const files = fc.uniqueArray(
      fc.record({ name: fileName, text: ruleFile.map((spec) => stringify(spec)) }),
      { minLength: 1, maxLength: 3, selector: (f) => f.name },
    );
    fc.assert(
      fc.property(files, (generated) => void parseExpectingOutcome(generated)),
      { seed: fuzzSeed, numRuns: fuzzRuns(200) },
    );
  }, 30_000);
});

// ---- Well-formed sla policies are accepted as written. ----

const goodDuration = fc
  .tuple(fc.nat({ max: 3 }), fc.nat({ max: 23 }), fc.nat({ max: 59 }), fc.nat({ max: 59 }))
  .filter(([d, h, m, s]) => d + h + m + s > 0)
  .map(([d, h, m, s]) => `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`);

describe('sla policies', () => {
  it('a well-formed policy on an always-open queue is accepted with the seconds it states', () => {
    const policy = fc
      .record(
        {
          firstResponse: goodDuration,
          nextResponse: goodDuration,
          resolution: goodDuration,
          onWarning: fc.array(fc.constant({ action: 'alert' }), { maxLength: 2 }),
          onBreach: fc.array(
            fc.oneof(
              fc.constant({ action: 'alert' }),
              fc.integer({ min: 1, max: 1000 }).map((by) => ({ action: 'raise-priority', by })),
              fc.constant({ action: 'move-to', queue: 'overflow' }),
            ),
            { maxLength: 3 },
          ),
        },
        { requiredKeys: [] },
      )
      .filter(
        (p) => p.firstResponse !== undefined || p.nextResponse !== undefined || p.resolution !== undefined,
      );
    fc.assert(
      fc.property(policy, (sla) => {
        const text = stringify({
          queues: [
            { name: 'support', strategy: 'round-robin', channels: ['email', 'chat'], sla: [sla] },
            { name: 'overflow', strategy: 'round-robin', channels: ['email'] },
          ],
          rules: [{ name: 'default', queue: 'support', priority: 0 }],
        });
        const outcome = parseExpectingOutcome([{ name: 'rules.yaml', text }]);
        expect(outcome.status, JSON.stringify(outcome)).toBe('valid');
        if (outcome.status !== 'valid') return;
        const resolved = outcome.rules.queues.get('support')!.sla.get('email')!;
        for (const metric of ['firstResponse', 'nextResponse', 'resolution'] as const)
          expect(resolved.targets[metric]).toBe(
            sla[metric] === undefined ? undefined : parseDuration(sla[metric]),
          );
        expect(resolved.onBreach).toEqual(sla.onBreach ?? []);
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(200) },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.js';
import { checkDisposition } from '../../src/interactions/dispositions.service.js';
import { parseRuleFiles, type ParseOutcome } from '../../src/routing/rules/rules.loader.js';

/*
 * Disposition codes in the rule files: the default list in `options`, a queue's own list instead of it,
 * labels defaulting to the code, a code listed twice or malformed refused with file and line; and the check
 * a close passes (a list requires one of its codes; no list takes anything).
 */

const files = (options: string, billingExtra = '') => [
  {
    name: 'rules.yaml',
    text: `queues:
  - { name: support, strategy: round-robin, channels: [chat] }
  - name: billing
    strategy: round-robin
    channels: [chat]
${billingExtra}
rules:
  - { name: default, queue: support, priority: 0 }
${options}`,
  },
];

const valid = (outcome: ParseOutcome) => {
  if (outcome.status !== 'valid') throw new Error(JSON.stringify(outcome.problems));
  return outcome.rules;
};

describe('disposition codes in the rule files', () => {
  it('gives every queue the default list unless it has its own; labels default to the code', () => {
    const rules = valid(
      parseRuleFiles(
        files(
          `options:
  dispositions:
    - { code: resolved, label: Resolved }
    - { code: spam }`,
          `    dispositions:
      - { code: refund-issued, label: Refund issued }`,
        ),
      ),
    );
    const defaults = [
      { code: 'resolved', label: 'Resolved' },
      { code: 'spam', label: 'spam' },
    ];
    expect(rules.options.dispositions).toEqual(defaults);
    expect(rules.queues.get('support')?.dispositions).toEqual(defaults);
    expect(rules.queues.get('billing')?.dispositions).toEqual([
      { code: 'refund-issued', label: 'Refund issued' },
    ]);
  });

  it('has no codes when the files list none', () => {
    const rules = valid(parseRuleFiles(files('')));
    expect(rules.options.dispositions).toEqual([]);
    expect(rules.queues.get('billing')?.dispositions).toEqual([]);
  });

  it.each([
    [
      'a code listed twice',
      `options:
  dispositions:
    - { code: resolved }
    - { code: resolved, label: Again }`,
      { line: 12, reason: "options: disposition 'resolved' is listed twice" },
    ],
    [
      'a code that is not a name',
      `options:
  dispositions:
    - { code: Resolved! }`,
      {
        line: 11,
        reason:
          "options.dispositions[0].code: 'Resolved!' is not a disposition code: lower-case letters, digits, '-' and '_', at most 40",
      },
    ],
    [
      'an empty list',
      `options:
  dispositions: []`,
      { line: 10, reason: 'options.dispositions: must list at least 1' },
    ],
  ])('refuses %s, with file and line', (_what, options, problem) => {
    const outcome = parseRuleFiles(files(options));
    expect(outcome.status).toBe('invalid');
    if (outcome.status === 'invalid')
      expect(outcome.problems).toEqual([
        { file: 'rules.yaml', column: expect.any(Number) as unknown, ...problem },
      ]);
  });

  it('refuses a queue listing a code twice', () => {
    const outcome = parseRuleFiles(
      files(
        '',
        `    dispositions:
      - { code: spam }
      - { code: spam }`,
      ),
    );
    expect(outcome.status === 'invalid' && outcome.problems.map((p) => p.reason)).toEqual([
      "queue 'billing': disposition 'spam' is listed twice",
    ]);
  });
});

describe('checkDisposition', () => {
  const list = [
    { code: 'resolved', label: 'Resolved' },
    { code: 'spam', label: 'Spam' },
  ];
  const refusal = (code: string | null) => {
    try {
      checkDisposition(list, code);
      return null;
    } catch (error) {
      return isAppError(error) ? { code: error.code, status: error.status, message: error.message } : error;
    }
  };

  it('takes a code from the list', () => expect(refusal('spam')).toBeNull());
  it('requires a code when there is a list', () =>
    expect(refusal(null)).toEqual({
      code: 'DISPOSITION_REQUIRED',
      status: 400,
      message: 'Choose a disposition code to close this contact: resolved, spam.',
    }));
  it('refuses a code the list lacks', () =>
    expect(refusal('done')).toEqual({
      code: 'UNKNOWN_DISPOSITION',
      status: 400,
      message: "'done' is not a disposition code for this contact; choose one of: resolved, spam.",
    }));
  it('takes anything, or nothing, without a list', () => {
    expect(() => checkDisposition([], null)).not.toThrow();
    expect(() => checkDisposition([], 'whatever')).not.toThrow();
  });
});

import fc from 'fast-check';
import { expect } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { errorCatalogue } from '../../src/errors.js';

/*
 * Bad input, generated, for the fuzz tests at every door (tests/integration/fuzz-*.test.ts): random JSON, wrong
 * types, huge strings, deep nesting, unicode oddities and prototype-pollution keys, plus the assertion every
 * refused request must meet (the JSON error envelope of src/app.ts).
 */

/**
 * One fixed seed for every fuzz property, so that a failure reproduces (fast-check prints the counterexample).
 * FUZZ_SEED and FUZZ_RUNS_SCALE explore further by hand: `FUZZ_SEED=7 FUZZ_RUNS_SCALE=4 npx vitest run ...`.
 */
export const fuzzSeed = Number(process.env.FUZZ_SEED ?? 9_002);
const runsScale = Number(process.env.FUZZ_RUNS_SCALE ?? 1);
export const fuzzRuns = (runs: number): number => Math.max(1, Math.round(runs * runsScale));

/** Strings that break naive code: empty, whitespace, control and bidi characters, lone surrogates, SQL, paths. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\uFEFF',
    '\u202E',
    '\uD800',
    '\uDFFF',
    '😀🇫🇷',
    'e\u0301',
    "'; drop table agents; --",
    '../../etc/passwd',
    '%00',
    '%',
    '%E0%A4%A',
    '<script>alert(1)</script>',
    '{{customer.name}}',
    '__proto__',
    'constructor',
    'prototype',
    'NaN',
    '-1',
    '1e309',
    '00000000-0000-0000-0000-000000000000',
    'true',
    'null',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uuid(),
);

/** A string of 10-200 kB (under the 1 MB body limit, over most field limits). */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 10_000, max: 200_000 }), fc.constantFrom('a', 'é', '😀', '\u0000', ' '))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));

/** Any JSON-ish value: scalars of every type, nasty strings, arrays and objects. */
export const anyValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString,
    fc.integer(),
    fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, -1e308, 1e308),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** JSON text whose keys a naive merge would write onto Object.prototype. */
const pollutingJson: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), anyValue)
  .map(([key, value]) =>
    key === 'constructor'
      ? `{"constructor":{"prototype":{"fuzzPolluted":true}},"x":${JSON.stringify(value) ?? 'null'}}`
      : `{"${key}":{"fuzzPolluted":true,"role":"admin"},"x":${JSON.stringify(value) ?? 'null'}}`,
  );

/** JSON nested 1,000 to 20,000 levels deep. */
const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1_000, max: 20_000 }), fc.boolean())
  .map(([depth, isArray]) =>
    isArray ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
  );

/** Text that is not JSON at all, or broken JSON. */
const brokenJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '{"a":',
    '[1,]',
    "{'a':1}",
    'NaN',
    'undefined',
    '\uFEFF{}',
    '{"a":1}{"b":2}',
    '"\\ud800"',
  ),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

/**
 * A request body as JSON text, around `valid` (a body the route accepts) when one is known: the valid body with
 * one field set to something wrong, or one field dropped, or an extra field, or any JSON at all, polluting
 * keys, deep nesting or broken JSON.
 */
export function jsonBody(valid?: Record<string, unknown>): fc.Arbitrary<string> {
  const fields = Object.keys(valid ?? {});
  const mutations: fc.Arbitrary<string>[] = [
    anyValue.map((value) => JSON.stringify(value) ?? 'null'),
    pollutingJson,
    deepJson,
    brokenJson,
    fc
      .tuple(nastyString, fc.oneof(anyValue, hugeString))
      .map(([key, value]) => JSON.stringify({ ...valid, [key]: value })),
  ];
  if (fields.length > 0) {
    const field = fc.constantFrom(...fields);
    mutations.push(
      fc
        .tuple(field, fc.oneof(anyValue, hugeString))
        .map(([key, value]) => JSON.stringify({ ...valid, [key]: value })),
      field.map((key) => JSON.stringify({ ...valid, [key]: undefined })),
      field.map((key) => `{${JSON.stringify(key)}:1,"__proto__":${JSON.stringify(valid)}}`),
    );
  }
  return fc.oneof(...mutations);
}

/** A query string of random keys and values, repeated keys and bad percent-encoding included (no leading ?). */
export const queryString: fc.Arbitrary<string> = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.oneof(nastyString, fc.constantFrom('limit', 'q', 'from', 'to', 'status', 'cursor')),
        nastyString,
      ),
      {
        maxLength: 5,
      },
    )
    .map((pairs) => pairs.map(([k, v]) => `${safeEncode(k)}=${safeEncode(v)}`).join('&')),
  fc.constantFrom(
    'limit=-1',
    'limit=1e9',
    'limit=abc',
    'limit=1&limit=2',
    'from=yesterday',
    'cursor=%ZZ',
    '%',
    '&&&=',
    'a[b][c]=1',
    '__proto__[x]=1',
  ),
  hugeString.map((s) => `q=${encodeURIComponent(s.slice(0, 20_000))}`),
);

/** Percent-encodes, passing lone surrogates through as broken UTF-8 instead of throwing. */
export function safeEncode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

/** A refused request answers with `{ error: { code, message, requestId } }`, the code from the catalogue. */
export function expectErrorEnvelope(response: LightMyRequestResponse, context: string): void {
  expect(response.headers['content-type'], context).toMatch(/^application\/json/);
  const body = response.json<{ error: { code: unknown; message: unknown; requestId: unknown } }>();
  expect(Object.keys(body), context).toEqual(['error']);
  expect(Object.keys(errorCatalogue), context).toContain(body.error.code);
  expect(errorCatalogue[body.error.code as keyof typeof errorCatalogue].status, context).toBe(
    response.statusCode,
  );
  expect(typeof body.error.message, context).toBe('string');
  expect(typeof body.error.requestId, context).toBe('string');
}

/** Never a 5xx; a 4xx in the error envelope. */
export function expectHandled(response: LightMyRequestResponse, context: string): void {
  expect(response.statusCode, `${context} -> ${response.body.slice(0, 500)}`).toBeLessThan(500);
  if (response.statusCode >= 400)
    expectErrorEnvelope(response, `${context} -> ${response.body.slice(0, 300)}`);
}

/** Fails when a request wrote onto Object.prototype (the app runs in this process). */
export function expectPrototypeClean(): void {
  expect(Object.prototype).not.toHaveProperty('fuzzPolluted');
  expect(({} as Record<string, unknown>).role).toBeUndefined();
}

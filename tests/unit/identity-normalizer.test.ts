import type { CountryCode } from 'libphonenumber-js';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/customers/customers.service.js';
import {
  mayContainPhone,
  normalizeName,
  phonesInText,
} from '../../src/customers/duplicate-detector.service.js';
import {
  nationalNumberOf,
  normalizeEmail,
  normalizeIdentity,
  normalizePhone,
} from '../../src/customers/identity-normalizer.js';
import { AppError, type ErrorCode } from '../../src/errors.js';
import type { IdentityKind } from '../../src/interactions/inbound-contact.js';

/** Runs `fn` and returns the AppError it throws; fails the test when it returns or throws something else. */
function appErrorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an AppError, nothing was thrown');
}

const expectAppError = (fn: () => unknown, code: ErrorCode) => {
  const error = appErrorOf(fn);
  expect(error.code).toBe(code);
  expect(error.status).toBe(400);
};

describe('normalizePhone', () => {
  const sanFrancisco = '+14155552671';
  const london = '+442079460958';

  it.each<[string, CountryCode, string]>([
    // National forms, read in the default region (US).
    ['4155552671', 'US', sanFrancisco],
    ['(415) 555-2671', 'US', sanFrancisco],
    ['415-555-2671', 'US', sanFrancisco],
    ['415.555.2671', 'US', sanFrancisco],
    ['415 555 2671', 'US', sanFrancisco],
    ['1-415-555-2671', 'US', sanFrancisco],
    ['1 (415) 555-2671', 'US', sanFrancisco],
    // +1 forms.
    ['+14155552671', 'US', sanFrancisco],
    ['+1 415 555 2671', 'US', sanFrancisco],
    ['+1 (415) 555-2671', 'US', sanFrancisco],
    ['+1.415.555.2671', 'US', sanFrancisco],
    ['  +1 415 555 2671 ', 'US', sanFrancisco],
    // A +1 number is the same whatever the default region.
    ['+1 415 555 2671', 'GB', sanFrancisco],
    // International call prefixes: 00 (most of the world) and 011 (North America).
    ['001 415 555 2671', 'US', sanFrancisco],
    ['0044 20 7946 0958', 'US', london],
    ['011 44 20 7946 0958', 'US', london],
    ['0034 912 345 678', 'US', '+34912345678'],
    // Other regions, written internationally.
    ['+44 20 7946 0958', 'US', london],
    ['+44 (0)20 7946 0958', 'US', london],
    ['(+44) 20 7946 0958', 'US', london],
    ['+34 912 345 678', 'US', '+34912345678'],
    ['+34-912-345-678', 'US', '+34912345678'],
    ['+49 30 901820', 'US', '+4930901820'],
    ['+49 (0)30 901820', 'US', '+4930901820'],
    ['+81 3-1234-5678', 'US', '+81312345678'],
    // Other regions, written nationally and read in that region.
    ['020 7946 0958', 'GB', london],
    ['912 34 56 78', 'ES', '+34912345678'],
    ['030 901820', 'DE', '+4930901820'],
    ['03-1234-5678', 'JP', '+81312345678'],
  ])('%j in %s is %s', (raw, region, e164) => {
    expect(normalizePhone(raw, region)).toBe(e164);
  });

  it('reads a national number in the region it is given, not always in the US', () => {
    expect(normalizePhone('020 7946 0958', 'GB')).toBe(london);
    expect(normalizePhone('020 7946 0958', 'GB')).not.toBe(normalizePhone('020 7946 0958', 'DE'));
  });

  it.each<[string, CountryCode]>([
    ['', 'US'],
    ['   ', 'US'],
    ['abc', 'US'],
    ['not a number', 'US'],
    ['+', 'US'],
    ['00', 'US'],
    ['12', 'US'],
    ['555', 'US'],
    ['+1 555', 'US'],
    ['+44 20', 'US'],
    ['+999 1234567', 'US'],
    ['+0 123', 'US'],
    ['123456789012345678', 'US'],
    ['1-800-FLOWERS', 'US'],
  ])('refuses %j (%s) with INVALID_IDENTITY', (raw, region) => {
    expectAppError(() => normalizePhone(raw, region), 'INVALID_IDENTITY');
  });

  it('names the refused value in the message', () => {
    expect(appErrorOf(() => normalizePhone('abc', 'US')).message).toContain("'abc'");
  });
});

describe('normalizeEmail', () => {
  it.each([
    ['ann@example.com', 'ann@example.com'],
    ['Ann@Example.COM', 'ann@example.com'],
    ['ANN.SMITH+SUPPORT@EXAMPLE.CO.UK', 'ann.smith+support@example.co.uk'],
    ['  ann@example.com  ', 'ann@example.com'],
    ['\tann@example.com\n', 'ann@example.com'],
    ['Ann Smith <Ann@Example.com>', 'ann@example.com'],
    ['"Smith, Ann" <ann@example.com>', 'ann@example.com'],
    ['<ann@example.com>', 'ann@example.com'],
    ['Ann < Ann@Example.com >', 'ann@example.com'],
  ])('%j is %s', (raw, expected) => {
    expect(normalizeEmail(raw)).toBe(expected);
  });

  it.each([
    '',
    '   ',
    'ann',
    'ann@',
    '@example.com',
    'ann@example',
    'ann smith@example.com',
    'ann@@example.com',
    'Ann <>',
    'Ann <not-an-address>',
    `${'a'.repeat(320)}@example.com`,
  ])('refuses %j with INVALID_IDENTITY', (raw) => {
    expectAppError(() => normalizeEmail(raw), 'INVALID_IDENTITY');
  });
});

describe('normalizeIdentity', () => {
  it.each<[IdentityKind, string, string]>([
    ['phone', '(415) 555-2671', '+14155552671'],
    ['phone', '0044 20 7946 0958', '+442079460958'],
    // Fax numbers are phone numbers: the same E.164 form, under their own kind.
    ['fax', '(415) 555-2671', '+14155552671'],
    ['fax', '+44 20 7946 0958', '+442079460958'],
    ['fax', '001-415-555-2671', '+14155552671'],
    ['email', 'Ann Smith <Ann@Example.com>', 'ann@example.com'],
    ['chat_visitor', '  visitor-42  ', 'visitor-42'],
  ])('%s %j becomes %s, keeping its kind and the raw value', (kind, raw, value) => {
    expect(normalizeIdentity({ kind, value: raw }, 'US')).toEqual({ kind, value, raw });
  });

  it('reads a national number in the region it is given', () => {
    expect(normalizeIdentity({ kind: 'phone', value: '020 7946 0958' }, 'GB').value).toBe('+442079460958');
    expect(normalizeIdentity({ kind: 'fax', value: '030 901820' }, 'DE').value).toBe('+4930901820');
  });

  it.each<[IdentityKind, string]>([
    ['phone', 'call me maybe'],
    ['phone', '555'],
    ['fax', 'n/a'],
    ['fax', ''],
    ['email', 'ann at example dot com'],
    ['email', ''],
    ['chat_visitor', ''],
    ['chat_visitor', '   '],
    ['chat_visitor', 'v'.repeat(201)],
  ])('refuses %s %j with INVALID_IDENTITY', (kind, value) => {
    expectAppError(() => normalizeIdentity({ kind, value }, 'US'), 'INVALID_IDENTITY');
  });
});

describe('nationalNumberOf', () => {
  it('gives the digits after the country code', () => {
    expect(nationalNumberOf('+14155552671')).toBe('4155552671');
    expect(nationalNumberOf('+442079460958')).toBe('2079460958');
  });

  it('gives undefined for something that is not E.164', () => {
    expect(nationalNumberOf('garbage')).toBeUndefined();
  });
});

describe('normalizeName', () => {
  it.each([
    ['José  GARCÍA', 'jose garcia'],
    ['  Zoë  Ångström ', 'zoe angstrom'],
    ["O'Brien-Smith, Jr.", 'o brien smith jr'],
    ['ann\tsmith\n', 'ann smith'],
    ['Ann 2', 'ann 2'],
    ['', ''],
    ['---', ''],
  ])('%j is %j', (raw, expected) => {
    expect(normalizeName(raw)).toBe(expected);
  });

  it('treats null and undefined as no name', () => {
    expect(normalizeName(null)).toBe('');
    expect(normalizeName(undefined)).toBe('');
  });

  it('makes spellings of one name equal', () => {
    expect(normalizeName('José García')).toBe(normalizeName('jose   garcia'));
  });
});

describe('phonesInText', () => {
  it('finds every valid number in a signature, in E.164, once each', () => {
    const signature = 'Best,\nAnn\nMobile: 415.555.2671\nOffice: (415) 555-2671\nLondon: +44 20 7946 0958';
    expect(phonesInText(signature, 'US').sort()).toEqual(['+14155552671', '+442079460958']);
  });

  it('reads national numbers in the region it is given', () => {
    expect(phonesInText('Ring me on 020 7946 0958', 'GB')).toEqual(['+442079460958']);
  });

  it.each(['no numbers here', 'order 12345 shipped on 2024-01-02', 'call 555-0000', ''])(
    'finds nothing in %j',
    (text) => {
      expect(phonesInText(text, 'US')).toEqual([]);
    },
  );

  it('looks only at the first 20,000 characters', () => {
    expect(phonesInText(`${'x'.repeat(20_000)} (415) 555-2671`, 'US')).toEqual([]);
    expect(phonesInText(`${'x'.repeat(19_000)} (415) 555-2671`, 'US')).toEqual(['+14155552671']);
  });
});

describe('mayContainPhone', () => {
  it.each([
    ['415-555-2671', true],
    ['(415) 555 2671', true],
    ['call +44 20 7946 0958 today', true],
    ['1234567', true],
    [undefined, false],
    ['', false],
    ['hello', false],
    ['order 12345', false],
    ['123456', false],
    ['in 2024 and 2025', false],
  ])('%j → %s', (text, expected) => {
    expect(mayContainPhone(text)).toBe(expected);
  });

  it('never filters out a text in which phonesInText finds a number', () => {
    for (const text of ['Mobile: 415.555.2671', '+44 20 7946 0958', 'tel (415) 555-2671.']) {
      expect(phonesInText(text, 'US').length).toBeGreaterThan(0);
      expect(mayContainPhone(text)).toBe(true);
    }
  });
});

describe('timeline cursors', () => {
  it('round-trips an (occurredAt, id) position', () => {
    const position = { occurredAt: '2026-11-22T10:15:30.123Z', id: '9007199254740993' };
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it('keeps microseconds and offsets written in the timestamp', () => {
    const position = { occurredAt: '2026-11-22 10:15:30.123456+00', id: '1' };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
  });

  const b64 = (s: string) => Buffer.from(s).toString('base64url');
  it.each([
    ['empty', ''],
    ['not base64 of anything useful', '!!!!'],
    ['no separator', b64('2026-11-22T10:15:30.123Z')],
    ['no id', b64('2026-11-22T10:15:30.123Z|')],
    ['no time', b64('|42')],
    ['a non-numeric id', b64('2026-11-22T10:15:30.123Z|abc')],
    ['a negative id', b64('2026-11-22T10:15:30.123Z|-1')],
    ['an id of 20 digits', b64(`2026-11-22T10:15:30.123Z|${'9'.repeat(20)}`)],
    ['an id with SQL in it', b64("2026-11-22T10:15:30.123Z|1' or '1'='1")],
    ['a time that is not a time', b64('yesterday-ish|42')],
  ])('refuses %s with INVALID_CURSOR', (_what, cursor) => {
    expectAppError(() => decodeCursor(cursor), 'INVALID_CURSOR');
  });
});

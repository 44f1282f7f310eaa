import { describe, expect, it } from 'vitest';
import {
  addBusinessTime,
  businessSecondsBetween,
  nextOpening,
  parseDuration,
} from '../../src/routing/rules/business-time.js';
import { calendarStatus } from '../../src/routing/rules/rule-matcher.js';
import { parseRuleFiles } from '../../src/routing/rules/rules.loader.js';
import type { Calendar } from '../../src/routing/rules/rules.schema.js';

// us-office and claims-desk as shipped in routing-rules/calendars.yaml (copied so that edits there do not
// move these hand-computed answers), plus calendars that show daylight saving time.
const calendarsYaml = `calendars:
  us-office:
    timeZone: America/New_York
    weekly:
      mon: ['08:00-18:00']
      tue: ['08:00-18:00']
      wed: ['08:00-18:00']
      thu: ['08:00-12:00', '13:00-18:00']
      fri: ['08:00-18:00']
    holidays:
      - { date: '2026-01-01', name: "New Year's Day" }
      - { date: '2026-07-03', name: Independence Day (observed) }
      - { date: '2026-11-26', name: Thanksgiving }
      - { date: '2026-12-25', name: Christmas Day }
  claims-desk:
    timeZone: America/Chicago
    weekly:
      mon: ['07:00-19:00']
      tue: ['07:00-19:00']
      wed: ['07:00-19:00']
      thu: ['07:00-19:00']
      fri: ['07:00-19:00']
      sat: ['08:00-12:00']
    holidays:
      - { date: '2026-11-26', name: Thanksgiving }
      - { date: '2026-12-25', name: Christmas Day }
  sundays:
    timeZone: America/New_York
    weekly:
      sun: ['00:00-24:00']
  night-shift:
    timeZone: America/New_York
    weekly:
      sun: ['01:00-03:00']
  late-sunday:
    timeZone: America/New_York
    weekly:
      sun: ['01:30-24:00']
  skipped-start:
    timeZone: America/New_York
    weekly:
      sun: ['02:30-04:00']
  nights-and-mornings:
    timeZone: Europe/London
    weekly:
      sat: ['22:00-24:00']
      sun: ['00:00-02:30', '09:00-09:45']
      wed: ['00:00-00:01', '23:59-24:00']
  never-open:
    timeZone: UTC
    weekly: {}
`;

const calendarNames = [
  'us-office',
  'claims-desk',
  'sundays',
  'night-shift',
  'late-sunday',
  'skipped-start',
  'nights-and-mornings',
  'never-open',
];

/** The calendars as the real loader resolves them (a calendar only reaches the rule set through a queue). */
function loadCalendars(): Map<string, Calendar> {
  const queues = calendarNames
    .map(
      (name) => `  - name: q-${name}\n    strategy: round-robin\n    channels: [email]\n    hours: ${name}\n`,
    )
    .join('');
  const outcome = parseRuleFiles([
    { name: 'calendars.yaml', text: calendarsYaml },
    { name: 'queues.yaml', text: `queues:\n${queues}` },
    { name: 'rules.yaml', text: 'rules:\n  - name: default\n    queue: q-us-office\n    priority: 0\n' },
  ]);
  if (outcome.status !== 'valid') throw new Error(JSON.stringify(outcome.problems));
  const calendars = new Map<string, Calendar>();
  for (const name of calendarNames) {
    const hours = outcome.rules.queues.get(`q-${name}`)?.hours;
    if (!hours) throw new Error(`no calendar ${name}`);
    calendars.set(name, hours);
  }
  return calendars;
}

const calendars = loadCalendars();
function calendar(name: string): Calendar {
  const found = calendars.get(name);
  if (!found) throw new Error(`no calendar ${name}`);
  return found;
}
const office = calendar('us-office');

/** New York wall-clock time with its offset: `ny('2026-11-19 10:00')` in winter, `-04:00` in summer. */
const ny = (local: string, offset = '-05:00') => new Date(`${local.replace(' ', 'T')}:00${offset}`);
const hours = (n: number) => n * 3600;
const minutes = (n: number) => n * 60;

// November 2026: Mon 16 - Fri 20, Sat 21, Sun 22, Mon 23, Thanksgiving Thu 26, Fri 27. EST (UTC-5) all month
// after Sun 1.
describe('addBusinessTime', () => {
  it('adds plain time without a calendar (always open)', () => {
    const from = ny('2026-11-21 23:30');
    expect(addBusinessTime(null, from, hours(2))).toEqual(ny('2026-11-22 01:30'));
    expect(addBusinessTime(null, from, 0)).toEqual(from);
  });

  it.each([
    ['within one interval', '2026-11-16 09:00', hours(4), '2026-11-16 13:00'],
    ['to the minute', '2026-11-16 09:00', 90, '2026-11-16 09:01:30'],
    ['across the Thursday break', '2026-11-19 10:00', hours(3), '2026-11-19 14:00'],
    ['to the start of the break: its end is not counted', '2026-11-19 11:00', hours(1), '2026-11-19 12:00'],
    ['from inside the break', '2026-11-19 12:30', minutes(30), '2026-11-19 13:30'],
    ['before opening', '2026-11-16 06:00', hours(1), '2026-11-16 09:00'],
    ['after closing', '2026-11-16 19:00', hours(1), '2026-11-17 09:00'],
    ['to closing time exactly', '2026-11-16 17:00', hours(1), '2026-11-16 18:00'],
    ['over night', '2026-11-16 17:00', hours(2), '2026-11-17 09:00'],
    ['from a Saturday', '2026-11-21 10:00', hours(2), '2026-11-23 10:00'],
    ['across a weekend', '2026-11-20 16:00', hours(4), '2026-11-23 10:00'],
    ['across Thanksgiving', '2026-11-25 17:00', hours(3), '2026-11-27 10:00'],
    ['from Thanksgiving', '2026-11-26 10:00', hours(1), '2026-11-27 09:00'],
    // 49 h a week (Thursday 9 h), then 40 h in Thanksgiving week, then Mon 30 (10 h) and one hour of Tue 1.
    ['over two weeks and a holiday', '2026-11-16 08:00', hours(100), '2026-12-01 09:00'],
  ])('%s', (_what, from, seconds, expected) => {
    const expectedAt = expected.length > 16 ? new Date(`${expected.replace(' ', 'T')}-05:00`) : ny(expected);
    expect(addBusinessTime(office, ny(from), seconds)).toEqual(expectedAt);
  });

  it('returns the start for zero seconds when open, and the next opening when closed', () => {
    expect(addBusinessTime(office, ny('2026-11-16 10:15'), 0)).toEqual(ny('2026-11-16 10:15'));
    expect(addBusinessTime(office, ny('2026-11-19 12:00'), 0)).toEqual(ny('2026-11-19 13:00'));
    expect(addBusinessTime(office, ny('2026-11-16 18:00'), 0)).toEqual(ny('2026-11-17 08:00'));
    expect(addBusinessTime(office, ny('2026-11-26 09:00'), 0)).toEqual(ny('2026-11-27 08:00'));
    expect(nextOpening(office, ny('2026-11-21 09:00'))).toEqual(ny('2026-11-23 08:00'));
    expect(nextOpening(null, ny('2026-11-21 09:00'))).toEqual(ny('2026-11-21 09:00'));
  });

  it('counts in the calendar’s own zone (Chicago is an hour behind New York)', () => {
    // 18:30 in New York is 17:30 in Chicago: 1.5 h left on Monday, then from 07:00 Chicago on Tuesday.
    expect(addBusinessTime(calendar('claims-desk'), ny('2026-11-16 18:30'), hours(2))).toEqual(
      ny('2026-11-17 07:30', '-06:00'),
    );
    // Saturday mornings are open in Chicago, Sunday is closed.
    expect(addBusinessTime(calendar('claims-desk'), ny('2026-11-21 11:00', '-06:00'), hours(2))).toEqual(
      ny('2026-11-23 08:00', '-06:00'),
    );
  });

  it('refuses a negative or non-finite duration and an invalid date', () => {
    expect(() => addBusinessTime(office, ny('2026-11-16 09:00'), -1)).toThrow(RangeError);
    expect(() => addBusinessTime(office, ny('2026-11-16 09:00'), Number.NaN)).toThrow(RangeError);
    expect(() => addBusinessTime(office, new Date(Number.NaN), 60)).toThrow(RangeError);
  });

  it('throws, rather than loops, on a calendar that never opens', () => {
    // The loader accepts `weekly: {}`.
    expect(() => addBusinessTime(calendar('never-open'), ny('2026-11-16 09:00'), 60)).toThrow(
      /calendar 'never-open' has no business hours/,
    );
    // Mondays only, and every Monday of three years a holiday: two closed years, then it gives up.
    const mondays: { date: string }[] = [];
    for (let day = Date.UTC(2026, 0, 5); day < Date.UTC(2029, 0, 5); day += 7 * 86_400_000) {
      mondays.push({ date: new Date(day).toISOString().slice(0, 10) });
    }
    const holidayed: Calendar = {
      name: 'all-holidays',
      timeZone: 'America/New_York',
      weekly: { mon: [{ from: 540, to: 600 }] },
      holidays: mondays,
    };
    const started = performance.now();
    expect(() => nextOpening(holidayed, ny('2026-01-01 00:00'))).toThrow(
      /no business hours in the two years/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(businessSecondsBetween(holidayed, ny('2026-01-01 00:00'), ny('2029-01-01 00:00'))).toBe(0);
    expect(businessSecondsBetween(holidayed, ny('2026-01-01 00:00'), ny('2029-01-09 00:00'))).toBe(3600);
  });
});

describe('businessSecondsBetween', () => {
  it.each([
    ['within one interval', '2026-11-16 09:00', '2026-11-16 11:30', minutes(150)],
    ['over the Thursday break', '2026-11-19 11:00', '2026-11-19 14:00', hours(2)],
    ['over a weekend', '2026-11-20 17:00', '2026-11-23 09:00', hours(2)],
    ['a whole week', '2026-11-16 00:00', '2026-11-23 00:00', hours(49)],
    ['Thanksgiving week', '2026-11-23 00:00', '2026-11-30 00:00', hours(40)],
    ['Thanksgiving day', '2026-11-26 00:00', '2026-11-27 00:00', 0],
    ['reversed', '2026-11-17 09:00', '2026-11-16 09:00', 0],
    ['empty', '2026-11-17 09:00', '2026-11-17 09:00', 0],
  ])('%s', (_what, from, to, expected) => {
    expect(businessSecondsBetween(office, ny(from), ny(to))).toBe(expected);
  });

  it('is elapsed time without a calendar', () => {
    expect(
      businessSecondsBetween(
        null,
        new Date('2026-11-16T09:00:00.000Z'),
        new Date('2026-11-16T09:00:01.250Z'),
      ),
    ).toBe(1.25);
    expect(
      businessSecondsBetween(calendar('never-open'), ny('2026-11-16 09:00'), ny('2027-11-16 09:00')),
    ).toBe(0);
  });
});

// 2026-03-08 (Sunday): New York springs forward, 02:00 EST -> 03:00 EDT. 2026-11-01 (Sunday): it falls back,
// 02:00 EDT -> 01:00 EST.
describe('daylight saving time (America/New_York)', () => {
  const edt = (local: string) => ny(local, '-04:00');

  it('a whole-day interval is 23 hours on the spring-forward day and 25 on the fall-back day', () => {
    const sundays = calendar('sundays');
    expect(businessSecondsBetween(sundays, ny('2026-03-07 12:00'), edt('2026-03-09 12:00'))).toBe(hours(23));
    expect(businessSecondsBetween(sundays, edt('2026-10-31 12:00'), ny('2026-11-02 12:00'))).toBe(hours(25));
    expect(addBusinessTime(sundays, ny('2026-03-07 12:00'), hours(23))).toEqual(edt('2026-03-09 00:00'));
    expect(addBusinessTime(sundays, ny('2026-03-07 12:00'), hours(24))).toEqual(edt('2026-03-15 01:00'));
    expect(addBusinessTime(sundays, edt('2026-10-31 12:00'), hours(25))).toEqual(ny('2026-11-02 00:00'));
  });

  it('01:00-03:00 holds one hour when the clocks spring forward and three when they fall back', () => {
    const night = calendar('night-shift');
    expect(businessSecondsBetween(night, ny('2026-03-08 00:00'), edt('2026-03-08 12:00'))).toBe(hours(1));
    expect(businessSecondsBetween(night, edt('2026-11-01 00:00'), ny('2026-11-01 12:00'))).toBe(hours(3));
    // 01:30 EST + 30 min reaches the jump: 03:00 EDT closes.
    expect(addBusinessTime(night, ny('2026-03-08 01:30'), minutes(30))).toEqual(edt('2026-03-08 03:00'));
    expect(addBusinessTime(night, ny('2026-03-08 01:30'), minutes(31))).toEqual(edt('2026-03-15 01:01'));
    // 01:00-02:00 EDT, then 01:00-02:00 EST again, then 02:00-03:00 EST.
    expect(addBusinessTime(night, edt('2026-10-31 12:00'), minutes(150))).toEqual(ny('2026-11-01 02:30'));
    expect(addBusinessTime(night, edt('2026-10-31 12:00'), minutes(90))).toEqual(ny('2026-11-01 01:30'));
  });

  it('a boundary inside the skipped hour opens when the clocks jump', () => {
    // 02:30-04:00: there is no 02:30 that day, so it opens at 03:00 EDT.
    const skipped = calendar('skipped-start');
    expect(nextOpening(skipped, ny('2026-03-08 00:00'))).toEqual(edt('2026-03-08 03:00'));
    expect(businessSecondsBetween(skipped, ny('2026-03-08 00:00'), edt('2026-03-08 12:00'))).toBe(hours(1));
  });

  it('a boundary inside the repeated hour is passed twice; only instants inside the interval count', () => {
    // 01:30-24:00: open 01:30-02:00 EDT, closed again 01:00-01:30 EST, open 01:30 EST to midnight.
    const late = calendar('late-sunday');
    expect(nextOpening(late, edt('2026-11-01 00:00'))).toEqual(edt('2026-11-01 01:30'));
    expect(nextOpening(late, ny('2026-11-01 01:10'))).toEqual(ny('2026-11-01 01:30'));
    expect(businessSecondsBetween(late, edt('2026-11-01 00:00'), ny('2026-11-02 00:00'))).toBe(
      minutes(30) + hours(22) + minutes(30),
    );
  });

  it('counts exactly the minutes calendarStatus calls open, across both transitions', () => {
    // From Sunday 00:00 to Monday 06:00 local on each transition day (London: 2026-03-29 and 2026-10-25).
    const newYork = [
      [ny('2026-03-08 00:00'), edt('2026-03-09 06:00')],
      [edt('2026-11-01 00:00'), ny('2026-11-02 06:00')],
    ] as const;
    const london = [
      [new Date('2026-03-29T00:00:00Z'), new Date('2026-03-30T05:00:00Z')],
      [new Date('2026-10-24T23:00:00Z'), new Date('2026-10-26T06:00:00Z')],
    ] as const;
    const checks = [
      ...['sundays', 'night-shift', 'late-sunday', 'skipped-start'].map((name) => [name, newYork] as const),
      ['nights-and-mornings', london] as const,
    ];
    for (const [name, ranges] of checks) {
      const checked = calendar(name);
      for (const [from, to] of ranges) {
        let openMinutes = 0;
        for (let t = from.getTime(); t < to.getTime(); t += 60_000) {
          const minute = new Date(t);
          const isOpen = calendarStatus(checked, minute).isOpen;
          if (isOpen) openMinutes++;
          // Minute by minute too: a minute counts whole or not at all.
          if (minute.getUTCMinutes() % 7 === 0) {
            expect(
              businessSecondsBetween(checked, minute, new Date(t + 60_000)),
              `${name} ${minute.toISOString()}`,
            ).toBe(isOpen ? 60 : 0);
          }
        }
        expect(businessSecondsBetween(checked, from, to), `${name} ${from.toISOString()}`).toBe(
          openMinutes * 60,
        );
      }
    }
  });
});

/** mulberry32: a small seeded generator, so a failure replays. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const weeklySeconds = (checked: Calendar) =>
  Object.values(checked.weekly)
    .flat()
    .reduce((sum, interval) => sum + (interval.to - interval.from) * 60, 0);

describe('round trip', () => {
  it('businessSecondsBetween(c, from, addBusinessTime(c, from, s)) === s; no earlier end', () => {
    const random = seededRandom(20261126);
    const yearStart = Date.UTC(2026, 0, 1);
    const pick = (n: number) => Math.floor(random() * n);
    const open = calendarNames.filter((name) => name !== 'never-open');
    for (let run = 0; run < 2000; run++) {
      const name = open[run % open.length] ?? 'us-office';
      const checked = run % 9 === 0 ? null : calendar(name);
      const from = new Date(yearStart + pick(365 * 86_400_000));
      // Up to three weeks of the calendar's business time, in whole seconds; some zeros, some milliseconds.
      const weekly = checked ? weeklySeconds(checked) : 7 * 86_400;
      const seconds =
        run % 11 === 0 ? 0 : run % 7 === 0 ? pick(3 * weekly * 1000) / 1000 : pick(3 * weekly) + 1;
      const end = addBusinessTime(checked, from, seconds);
      const context = `${name} from ${from.toISOString()} + ${seconds}s -> ${end.toISOString()}`;
      expect(end.getTime(), context).toBeGreaterThanOrEqual(from.getTime());
      expect(businessSecondsBetween(checked, from, end), context).toBe(seconds);
      if (seconds > 0) {
        expect(businessSecondsBetween(checked, from, new Date(end.getTime() - 1)), context).toBeLessThan(
          seconds,
        );
      }
      if (checked && seconds === 0) expect(calendarStatus(checked, end).isOpen, context).toBe(true);
    }
  });

  it('walks interval by interval: a three-day target is quick', () => {
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      addBusinessTime(office, ny('2026-11-20 17:59'), 3 * 86_400);
    }
    // Typically a few milliseconds in all; the bound only catches a minute-by-minute walk.
    expect(performance.now() - started).toBeLessThan(1000);
    // 72 business hours from Fri 20 17:59: 1 min, 40 h in Thanksgiving week, 30 h Mon 30 - Wed 2, 1 h 59 min.
    expect(addBusinessTime(office, ny('2026-11-20 17:59'), 3 * 86_400)).toEqual(ny('2026-12-03 09:59'));
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['4h', 14_400],
    ['1h30m', 5400],
    ['2d', 172_800],
    ['1d12h', 129_600],
    ['1d2h3m4s', 93_784],
    ['90m', 5400],
    ['0s', 0],
    ['007m', 420],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([
    '',
    '1x',
    '-5m',
    '0.5h',
    '1.5d',
    '4',
    'h',
    '30m1h',
    '1h1h',
    '1H',
    '1h 30m',
    ' 4h',
    '4h ',
    '+4h',
    '1e3s',
    '99999999999999999d',
  ])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

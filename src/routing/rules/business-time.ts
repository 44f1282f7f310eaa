/*
 * Business-time arithmetic for service-level clocks ("first response within 4 business hours"). Pure: no
 * clock is read, callers pass the instants.
 *
 * What counts: exactly the instants at which `calendarStatus` says the calendar is open, so a clock and the
 * open/closed badge never disagree. An instant is open when its wall-clock date in the calendar's IANA time
 * zone is not a holiday and its wall-clock time lies in one of that weekday's intervals [from, to); holidays
 * close the whole local day. A null calendar is always open: business time is elapsed time.
 *
 * Daylight saving time: intervals are wall-clock times, so what they are worth in real time follows the zone.
 * On a spring-forward day an interval holding the skipped hour is an hour shorter ('00:00-24:00' counts 23
 * hours in America/New_York); on a fall-back day the repeated hour counts twice (25 hours). A boundary inside
 * the skipped hour opens or closes when the clocks jump; one inside the repeated hour is passed twice, and
 * only the instants whose wall-clock time is inside the interval count.
 *
 * The walk goes interval by interval over wall-clock days, with plain arithmetic between the zone's offset
 * changes. Those are found once per zone and year (weekly samples of the local time, then a bisection to the
 * minute) and kept in memory: a few milliseconds the first time, microseconds after. This assumes a zone's
 * offset never changes twice within a week (true of every zone in use).
 *
 * A calendar with no open time for two years in a row would never reach a target: that throws rather than
 * loops. The loader refuses an empty day (`mon: []`) but accepts `weekly: {}`, a calendar that never opens;
 * holidays covering every open day of two years would do the same.
 *
 * Durations in rule files are compact strings (`parseDuration`); to show one, use `formatDuration` from
 * strategies/eligibility.ts.
 */
import { localTimeIn } from './rule-matcher.js';
import type { Calendar, Weekday } from './rules.schema.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/** How long a calendar may stay closed before `addBusinessTime` and `nextOpening` give up. */
const MAX_CLOSED_MS = 2 * 366 * DAY_MS;

/** `getUTCDay()` order. */
const weekdaysFromSunday: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * The instant at which `seconds` of business time have passed since `from`. Counting starts at `from` when
 * open, else at the next opening; `seconds = 0` gives that start. When the target falls on the end of an
 * interval, that end is returned, not the next opening. Throws a RangeError for a negative or non-finite
 * `seconds`, and an Error when the calendar stays closed for two years.
 */
export function addBusinessTime(calendar: Calendar | null, from: Date, seconds: number): Date {
  const fromMs = instantOf(from, 'from');
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`business time to add must be a finite number of seconds >= 0, got ${seconds}`);
  }
  let remainingMs = Math.round(seconds * 1000);
  if (!calendar) return new Date(fromMs + remainingMs);
  for (const [startMs, endMs] of openSpans(calendar, fromMs, Infinity)) {
    if (remainingMs <= endMs - startMs) return new Date(startMs + remainingMs);
    remainingMs -= endMs - startMs;
  }
  throw neverOpen(calendar, from);
}

/** Business seconds in [from, to); 0 when `to` <= `from`. Millisecond precision. */
export function businessSecondsBetween(calendar: Calendar | null, from: Date, to: Date): number {
  const fromMs = instantOf(from, 'from');
  const toMs = instantOf(to, 'to');
  if (toMs <= fromMs) return 0;
  if (!calendar) return (toMs - fromMs) / 1000;
  if (!hasWeeklyHours(calendar)) return 0;
  let openMs = 0;
  for (const [startMs, endMs] of openSpans(calendar, fromMs, toMs)) openMs += endMs - startMs;
  return openMs / 1000;
}

/** `at` when the calendar is open then, else the instant it next opens. Throws when closed for two years. */
export function nextOpening(calendar: Calendar | null, at: Date): Date {
  return addBusinessTime(calendar, at, 0);
}

/**
 * Seconds in a compact duration: `90s`, `30m`, `4h`, `1h30m`, `2d`, `1d12h`. Units are d, h, m, s, lower
 * case, in that order, each at most once, each a whole number (no decimals, no sign, no spaces); a unit may
 * exceed the next one up (`90m`). `d` is 24 hours of counted time: on a business-hours clock `1d` is 24
 * business hours, not "the next business day". Null for anything else, including '' and an unsafe-integer
 * total.
 */
export function parseDuration(text: string): number | null {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!match || text === '') return null;
  const [, days = '0', hours = '0', minutes = '0', secs = '0'] = match;
  const seconds = Number(days) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(secs);
  return Number.isSafeInteger(seconds) ? seconds : null;
}

// ---- The walk. ----

/**
 * The calendar's open time in [fromMs, untilMs), as ascending, non-overlapping instant ranges [start, end)
 * (adjacent ranges are not merged). With no end (Infinity), throws after two closed years.
 */
function* openSpans(calendar: Calendar, fromMs: number, untilMs: number): Generator<[number, number]> {
  if (!hasWeeklyHours(calendar)) throw neverOpen(calendar, new Date(fromMs));
  const holidays = holidayDates(calendar);
  let lastOpenMs = fromMs;
  let startMs = fromMs;
  while (startMs < untilMs) {
    // A stretch with one UTC offset: wall-clock time is instant + offset throughout.
    const { offsetMs, untilMs: offsetUntilMs } = offsetAt(calendar.timeZone, startMs);
    const endMs = Math.min(offsetUntilMs, untilMs);
    const wallStart = startMs + offsetMs;
    const wallEnd = endMs + offsetMs;
    for (let day = wallStart - mod(wallStart, DAY_MS); day < wallEnd; day += DAY_MS) {
      if (untilMs === Infinity && day - offsetMs - lastOpenMs > MAX_CLOSED_MS) {
        throw neverOpen(calendar, new Date(lastOpenMs));
      }
      const dayOf = new Date(day);
      const intervals = calendar.weekly[weekdaysFromSunday[dayOf.getUTCDay()] ?? 'sun'] ?? [];
      if (intervals.length === 0 || holidays.has(dayOf.toISOString().slice(0, 10))) continue;
      for (const interval of intervals) {
        const openWall = Math.max(day + interval.from * MINUTE_MS, wallStart);
        const closeWall = Math.min(day + interval.to * MINUTE_MS, wallEnd);
        if (openWall < closeWall) {
          lastOpenMs = closeWall - offsetMs;
          yield [openWall - offsetMs, closeWall - offsetMs];
        }
      }
    }
    startMs = endMs;
  }
}

/** One UTC offset of a zone (local wall-clock time minus UTC, in ms) from `fromMs` on. */
interface OffsetFrom {
  fromMs: number;
  offsetMs: number;
}

/** Per zone, per UTC year: the offsets in force, the first from the year's start. */
const offsetTables = new Map<string, Map<number, readonly OffsetFrom[]>>();

/** The zone's offset at `ms`, and until when (exclusive) it holds at least: a change or the year's end. */
function offsetAt(zone: string, ms: number): { offsetMs: number; untilMs: number } {
  const year = new Date(ms).getUTCFullYear();
  const table = offsetTable(zone, year);
  let k = 0;
  while (k + 1 < table.length && (table[k + 1]?.fromMs ?? Infinity) <= ms) k++;
  return {
    offsetMs: table[k]?.offsetMs ?? sampleOffset(zone, ms),
    untilMs: table[k + 1]?.fromMs ?? Date.UTC(year + 1, 0, 1),
  };
}

function offsetTable(zone: string, year: number): readonly OffsetFrom[] {
  let years = offsetTables.get(zone);
  if (!years) {
    years = new Map();
    offsetTables.set(zone, years);
  }
  let table = years.get(year);
  if (!table) {
    table = findOffsets(zone, Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1));
    years.set(year, table);
  }
  return table;
}

/** The offsets in [startMs, endMs): samples a week apart, each change pinned to its minute by bisection. */
function findOffsets(zone: string, startMs: number, endMs: number): OffsetFrom[] {
  const found: OffsetFrom[] = [{ fromMs: startMs, offsetMs: sampleOffset(zone, startMs) }];
  let sameMs = startMs;
  let offsetMs = found[0]?.offsetMs ?? 0;
  while (sameMs < endMs) {
    const nextMs = Math.min(sameMs + WEEK_MS, endMs);
    const nextOffsetMs = sampleOffset(zone, nextMs);
    if (nextOffsetMs !== offsetMs) {
      let same = sameMs / MINUTE_MS;
      let changed = nextMs / MINUTE_MS;
      while (changed - same > 1) {
        const middle = Math.floor((same + changed) / 2);
        if (sampleOffset(zone, middle * MINUTE_MS) === offsetMs) same = middle;
        else changed = middle;
      }
      if (changed * MINUTE_MS < endMs) found.push({ fromMs: changed * MINUTE_MS, offsetMs: nextOffsetMs });
      offsetMs = nextOffsetMs;
    }
    sameMs = nextMs;
  }
  return found;
}

/** Local wall-clock time minus UTC at `ms` (a whole minute), from the zone's wall-clock reading. */
function sampleOffset(zone: string, ms: number): number {
  const local = localTimeIn(zone, new Date(ms));
  return Date.parse(`${local.date}T00:00:00Z`) + local.minutes * MINUTE_MS - ms;
}

const mod = (n: number, m: number) => ((n % m) + m) % m;

const hasWeeklyHours = (calendar: Calendar) =>
  Object.values(calendar.weekly).some((intervals) => intervals.length > 0);

const holidaySets = new WeakMap<Calendar, ReadonlySet<string>>();

function holidayDates(calendar: Calendar): ReadonlySet<string> {
  let dates = holidaySets.get(calendar);
  if (!dates) {
    dates = new Set(calendar.holidays.map((h) => h.date));
    holidaySets.set(calendar, dates);
  }
  return dates;
}

function instantOf(date: Date, name: string): number {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new RangeError(`business time: '${name}' is an invalid date`);
  return ms;
}

const neverOpen = (calendar: Calendar, since: Date) =>
  new Error(
    `calendar '${calendar.name}' has no business hours in the two years after ${since.toISOString()}: ` +
      'an SLA clock on it would never run (give it weekly hours, or check its holidays)',
  );

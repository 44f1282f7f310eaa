/*
 * Pure functions over a loaded rule set: which rule a contact matches, whether a queue is open, which
 * escalation steps are due. No clock is read: callers pass `now`.
 */
import type {
  Calendar,
  Channel,
  Conditions,
  EscalationStep,
  Interval,
  MatchRule,
  Queue,
  QueueName,
  RuleName,
  TimeWindow,
  Weekday,
} from './rules.schema.js';

/** What routing knows about a contact when it picks a queue. Missing facts never satisfy a condition. */
export interface ContactFacts {
  channel: Channel;
  ivrChoice?: string;
  /** The mailbox or number the contact arrived on (lower-case address, E.164 number). */
  receivedOn?: string;
  customerTier?: string;
  accountId?: string;
  /** Whether the customer's account has an owner agent. */
  hasAccountOwner?: boolean;
  subject?: string;
  text?: string;
  /** A language tag from the widget, the IVR language menu or the mailbox (`es-MX`). */
  locale?: string;
}

export interface RuleMatch {
  queue: QueueName;
  priority: number;
  ruleName: RuleName;
  /** Which conditions held, for the routing event: "rule 'billing-keywords': keyword 'refund' in subject". */
  reason: string;
}

/**
 * The first rule whose conditions all hold. A loaded rule set always ends with a catch-all, so this returns a
 * match for every contact; null only for a hand-built rule list without one.
 */
export function matchRule(rules: readonly MatchRule[], facts: ContactFacts, now: Date): RuleMatch | null {
  const words = lazyWords(facts);
  for (const rule of rules) {
    const held = conditionsHold(rule.when, facts, words, now);
    if (held) {
      const why = held.length > 0 ? held.join(', ') : 'matches every contact';
      return {
        queue: rule.queue,
        priority: rule.priority,
        ruleName: rule.name,
        reason: `rule '${rule.name}': ${why}`,
      };
    }
  }
  return null;
}

/** Returns what held (one phrase per condition), or null as soon as one condition fails. */
function conditionsHold(when: Conditions, facts: ContactFacts, words: LazyWords, now: Date): string[] | null {
  const held: string[] = [];
  if (when.channels) {
    if (!when.channels.includes(facts.channel)) return null;
    held.push(`channel ${facts.channel}`);
  }
  if (when.ivrChoices) {
    if (facts.ivrChoice === undefined || !when.ivrChoices.includes(facts.ivrChoice.trim())) return null;
    held.push(`IVR choice '${facts.ivrChoice}'`);
  }
  if (when.receivedOn) {
    const on = facts.receivedOn?.trim().toLowerCase();
    if (on === undefined || !when.receivedOn.includes(on)) return null;
    held.push(`received on ${on}`);
  }
  if (when.customerTiers) {
    const tier = facts.customerTier?.trim().toLowerCase();
    if (tier === undefined || !when.customerTiers.includes(tier)) return null;
    held.push(`customer tier ${tier}`);
  }
  if (when.accountIds) {
    const account = facts.accountId?.trim();
    if (account === undefined || !when.accountIds.includes(account)) return null;
    held.push(`account ${account}`);
  }
  if (when.hasAccountOwner !== undefined) {
    if (facts.hasAccountOwner !== when.hasAccountOwner) return null;
    held.push(when.hasAccountOwner ? 'the account has an owner' : 'the account has no owner');
  }
  if (when.keywords) {
    const found = findKeyword(when.keywords, when.keywordsIn, words);
    if (!found) return null;
    held.push(`keyword '${found.keyword}' in ${found.field}`);
  }
  if (when.locales) {
    const locale = facts.locale?.trim().toLowerCase();
    const matched = locale === undefined ? undefined : when.locales.find((l) => isLocaleOf(locale, l));
    if (matched === undefined) return null;
    held.push(`locale ${locale}`);
  }
  if (when.during) {
    if (!isWithin(when.during, now)) return null;
    held.push(`during ${describeWindow(when.during)}`);
  }
  return held;
}

/** `es` covers `es`, `es-mx`, `es-419`; `es-mx` covers only `es-mx` and its own subtags. */
const isLocaleOf = (locale: string, wanted: string) => locale === wanted || locale.startsWith(`${wanted}-`);

// ---- Keywords: whole words, case-insensitive. ----

/** Letters and digits in any script; everything else separates words. */
const wordPattern = /[\p{L}\p{N}]+/gu;

/** A text's words, lower-cased: "Refund, please!" -> ['refund', 'please']. Also used to split keywords. */
export function keywordWords(text: string): string[] {
  return text.toLowerCase().match(wordPattern) ?? [];
}

interface LazyWords {
  subject: () => readonly string[];
  text: () => readonly string[];
}

/** Splits subject and text only when a keyword rule is reached, and at most once per contact. */
function lazyWords(facts: ContactFacts): LazyWords {
  const once = (source: string | undefined) => {
    let words: readonly string[] | undefined;
    return () => (words ??= source === undefined ? [] : keywordWords(source));
  };
  return { subject: once(facts.subject), text: once(facts.text) };
}

function findKeyword(
  keywords: readonly (readonly string[])[],
  fields: readonly ('subject' | 'text')[],
  words: LazyWords,
): { keyword: string; field: 'subject' | 'text' } | undefined {
  for (const field of fields) {
    const haystack = words[field]();
    for (const keyword of keywords) {
      if (containsPhrase(haystack, keyword)) return { keyword: keyword.join(' '), field };
    }
  }
  return undefined;
}

/** Whether `phrase` occurs as consecutive whole words in `words`. */
function containsPhrase(words: readonly string[], phrase: readonly string[]): boolean {
  const [first] = phrase;
  if (first === undefined) return false;
  for (let i = 0; i + phrase.length <= words.length; i++) {
    if (words[i] === first && phrase.every((w, k) => words[i + k] === w)) return true;
  }
  return false;
}

// ---- Local time. ----

export interface LocalTime {
  /** YYYY-MM-DD in the zone. */
  date: string;
  weekday: Weekday;
  /** Minutes since local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock date, weekday and time in `timeZone` at `now`. */
export function localTimeIn(timeZone: string, now: Date): LocalTime {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, format);
  }
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const part of format.formatToParts(now)) parts[part.type] = part.value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: (parts.weekday ?? '').slice(0, 3).toLowerCase() as Weekday,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

const isInIntervals = (intervals: readonly Interval[], minutes: number) =>
  intervals.some((i) => minutes >= i.from && minutes < i.to);

function isWithin(window: TimeWindow, now: Date): boolean {
  const local = localTimeIn(window.timeZone, now);
  if (window.days && !window.days.includes(local.weekday)) return false;
  if (window.intervals && !isInIntervals(window.intervals, local.minutes)) return false;
  return true;
}

const hhmm = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

function describeWindow(window: TimeWindow): string {
  const days = window.days ? window.days.join('/') : 'any day';
  const hours = window.intervals
    ? window.intervals.map((i) => `${hhmm(i.from)}-${hhmm(i.to)}`).join(', ')
    : '';
  return `${days}${hours ? ` ${hours}` : ''} ${window.timeZone}`;
}

// ---- Business hours. ----

export interface OpeningStatus {
  isOpen: boolean;
  /** "open: thu 08:00-12:00 America/New_York", "closed: holiday Christmas Day (2025-12-25)", ... */
  reason: string;
}

/** Whether `queue` takes contacts at `now`, by its calendar in the calendar's time zone, and why. */
export function openingStatus(queue: Queue, now: Date): OpeningStatus {
  const calendar = queue.hours;
  if (!calendar) return { isOpen: true, reason: 'open: no business hours (always open)' };
  return calendarStatus(calendar, now);
}

export const isOpen = (queue: Queue, now: Date): boolean => openingStatus(queue, now).isOpen;

export function calendarStatus(calendar: Calendar, now: Date): OpeningStatus {
  const local = localTimeIn(calendar.timeZone, now);
  const zone = calendar.timeZone;
  const holiday = calendar.holidays.find((h) => h.date === local.date);
  if (holiday) {
    const name = holiday.name === undefined ? '' : ` ${holiday.name}`;
    return { isOpen: false, reason: `closed: holiday${name} (${local.date} in ${zone})` };
  }
  const today = calendar.weekly[local.weekday] ?? [];
  const interval = today.find((i) => local.minutes >= i.from && local.minutes < i.to);
  if (interval) {
    return {
      isOpen: true,
      reason: `open: ${local.weekday} ${hhmm(interval.from)}-${hhmm(interval.to)} ${zone}`,
    };
  }
  return {
    isOpen: false,
    reason: `closed: ${local.weekday} ${hhmm(local.minutes)} in ${zone} is outside business hours`,
  };
}

// ---- Escalation. ----

/**
 * The queue's escalation steps due after waiting `waitedSeconds`, in order. Cumulative: a step stays due once
 * reached, so the caller can rebuild a contact's escalated state from its waiting time alone.
 */
export function escalationStepsDue(queue: Queue, waitedSeconds: number): EscalationStep[] {
  return queue.escalation.filter((step) => step.afterSeconds <= waitedSeconds);
}

/** When (in seconds of waiting) the next step falls due after `waitedSeconds`; null when none is left. */
export function nextEscalationAfter(queue: Queue, waitedSeconds: number): number | null {
  return queue.escalation.find((step) => step.afterSeconds > waitedSeconds)?.afterSeconds ?? null;
}

/*
 * The routing rule files (routing-rules/*.yaml) as TypeBox schemas, and the resolved rule set the engine uses.
 *
 * A rule file is a YAML mapping with any of five sections; several files merge into one rule set (see
 * rules.loader.ts for how). The schemas check shape and ranges; what spans entries (a rule naming an unknown
 * queue, an interval ending before it starts, a bad time zone) is checked by the loader after the schema.
 *
 *   queues:     - name, strategy, skills, channels, timeouts, hours, afterHours, escalation
 *   calendars:  name -> time zone, weekly intervals, holidays (queues refer to them by name)
 *   rules:      ordered match rules, first match wins; the last one matches everything
 *   capacity:   per-channel defaults for agents (a call is exclusive; chats and emails stack)
 *   options:    offer timeout default, misses before away, account-owner window, disposition codes
 *   ivr:        the self-service phone menus (ivr.schema.ts)
 */
import { Type, type Static } from 'typebox';
import { channels, type Channel } from '../../interactions/inbound-contact.js';
import { IvrSpec, type IvrRules } from './ivr.schema.js';

export type { Channel };
export type QueueName = string;
export type CalendarName = string;
export type RuleName = string;

const Name = (what: string) =>
  Type.String({
    pattern: '^[a-z0-9][a-z0-9_-]{0,39}$',
    description: `a ${what} name: lower-case letters, digits, '-' and '_', at most 40`,
  });

const Seconds = (max: number) => Type.Integer({ minimum: 0, maximum: max });
const PositiveSeconds = (max: number) => Type.Integer({ minimum: 1, maximum: max });

/** One item or a list of them: `channel: email` and `channel: [email, chat]` both read naturally in YAML. */
const OneOrMany = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Union([item, Type.Array(item, { minItems: 1 })]);

/** The strategies an account-owner queue can fall back to (every one but account-owner itself). */
export const secondaryStrategyNames = ['skills', 'round-robin', 'least-busy', 'longest-idle'] as const;
export const strategyNames = [...secondaryStrategyNames, 'account-owner'] as const;
export type StrategyName = (typeof strategyNames)[number];
export type SecondaryStrategyName = (typeof secondaryStrategyNames)[number];

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

export const ChannelSpec = Type.Enum([...channels]);
export const StrategySpec = Type.Enum([...strategyNames]);
export const SecondaryStrategySpec = Type.Enum([...secondaryStrategyNames]);

/** `08:00-12:30`; the end may be `24:00`. Intervals never cross midnight: split them over two days. */
export const IntervalSpec = Type.String({
  pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$',
  description: "a time interval 'HH:MM-HH:MM' (e.g. '08:00-12:30'; the end may be 24:00)",
});

export const DateSpec = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  description: 'a date YYYY-MM-DD',
});

/** An IANA time zone name (`America/New_York`); the loader checks that the runtime knows it. */
export const TimeZoneSpec = Type.String({ minLength: 1, description: 'an IANA time zone name' });

const Intervals = Type.Array(IntervalSpec, { minItems: 1 });

/** Opening hours, shared by name between queues. A day that is not listed is closed all day. */
export const CalendarSpec = Type.Object(
  {
    timeZone: TimeZoneSpec,
    /** Several intervals per day are allowed (a lunch break); they may not overlap. */
    weekly: Type.Object(
      Object.fromEntries(weekdays.map((day) => [day, Type.Optional(Intervals)])) as Record<
        Weekday,
        Type.TOptional<typeof Intervals>
      >,
      { additionalProperties: false },
    ),
    /** Closed all day, in the calendar's time zone. */
    holidays: Type.Optional(
      Type.Array(
        Type.Object(
          { date: DateSpec, name: Type.Optional(Type.String({ minLength: 1 })) },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type CalendarSpec = Static<typeof CalendarSpec>;

/** What happens to a contact that arrives while its queue is closed. Tagged by `action`. */
export const AfterHoursSpec = Type.Union([
  /** Wait in the queue until it opens (email and fax usually). */
  Type.Object({ action: Type.Literal('queue') }, { additionalProperties: false }),
  Type.Object(
    { action: Type.Literal('voicemail'), greeting: Type.Optional(Type.String({ minLength: 1 })) },
    { additionalProperties: false },
  ),
  Type.Object(
    { action: Type.Literal('close-with-message'), message: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
  Type.Object({ action: Type.Literal('move-to'), queue: Name('queue') }, { additionalProperties: false }),
]);
export type AfterHoursAction = Static<typeof AfterHoursSpec>;

/** A step taken once a contact has waited `afterSeconds` in the queue. Tagged by `action`. */
export const EscalationStepSpec = Type.Union([
  /** Lower every required skill level by `levels` (never below 1). */
  Type.Object(
    {
      afterSeconds: PositiveSeconds(86_400 * 7),
      action: Type.Literal('relax-skills'),
      levels: Type.Integer({ minimum: 1, maximum: 4 }),
    },
    { additionalProperties: false },
  ),
  /** Offer to another queue's agents as well. */
  Type.Object(
    { afterSeconds: PositiveSeconds(86_400 * 7), action: Type.Literal('add-queue'), queue: Name('queue') },
    { additionalProperties: false },
  ),
  /** Move the contact to another queue (its own escalation continues from there). */
  Type.Object(
    { afterSeconds: PositiveSeconds(86_400 * 7), action: Type.Literal('move-to'), queue: Name('queue') },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      afterSeconds: PositiveSeconds(86_400 * 7),
      action: Type.Literal('raise-priority'),
      by: Type.Integer({ minimum: 1, maximum: 1000 }),
    },
    { additionalProperties: false },
  ),
]);
export type EscalationStep = Static<typeof EscalationStepSpec>;

/**
 * A wrap-up code an agent closes work with (`resolved`, `refund-issued`). When a queue has a list (its own,
 * or `options.dispositions`), closing its contacts requires one code from it.
 */
export const DispositionSpec = Type.Object(
  {
    code: Type.String({
      pattern: '^[a-z0-9][a-z0-9_-]{0,39}$',
      description: "a disposition code: lower-case letters, digits, '-' and '_', at most 40",
    }),
    /** What the console shows; default: the code. */
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
export const DispositionsSpec = Type.Array(DispositionSpec, { minItems: 1 });
export type DispositionSpec = Static<typeof DispositionSpec>;

/**
 * A span of time written compactly: `90s`, `30m`, `4h`, `1h30m`, `3d` (a day is 24 hours of counted time, so
 * `3d` in business hours is 72 business hours, not three working days). Parsed by business-time.ts.
 */
export const DurationSpec = Type.String({
  pattern: '^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$',
  minLength: 2,
  description: "a duration such as '90s', '30m', '4h', '1h30m' or '3d'",
});

export const slaMetrics = ['firstResponse', 'nextResponse', 'resolution'] as const;
export type SlaMetric = (typeof slaMetrics)[number];

/** What a warning or a breach does. Tagged by `action`. */
export const SlaActionSpec = Type.Union([
  /** A waiting contact moves up its queue (a contact someone holds is left as it is). */
  Type.Object(
    { action: Type.Literal('raise-priority'), by: Type.Integer({ minimum: 1, maximum: 1000 }) },
    { additionalProperties: false },
  ),
  /** A waiting contact moves to another queue (escalated); its routing starts over there. */
  Type.Object({ action: Type.Literal('move-to'), queue: Name('queue') }, { additionalProperties: false }),
  /** Supervisors are told: on the dashboard, and by email when SUPERVISOR_ALERT_EMAIL is set. */
  Type.Object({ action: Type.Literal('alert') }, { additionalProperties: false }),
]);
export type SlaAction = Static<typeof SlaActionSpec>;

/**
 * A service-level agreement for some of a queue's channels: how soon each contact gets its first answer, each
 * further answer, and its resolution, counted in the queue's business hours unless `businessHours: false`.
 */
export const SlaPolicySpec = Type.Object(
  {
    /** The channels it covers; default: every channel of the queue (a channel in one policy only). */
    channels: Type.Optional(OneOrMany(ChannelSpec)),
    firstResponse: Type.Optional(DurationSpec),
    nextResponse: Type.Optional(DurationSpec),
    resolution: Type.Optional(DurationSpec),
    /** A warning this long before each target falls due; default: when three quarters of it have passed. */
    warnBefore: Type.Optional(DurationSpec),
    /** false: the clocks run around the clock (default true: only in the queue's hours). */
    businessHours: Type.Optional(Type.Boolean()),
    onWarning: Type.Optional(Type.Array(SlaActionSpec)),
    onBreach: Type.Optional(Type.Array(SlaActionSpec)),
  },
  { additionalProperties: false },
);
export type SlaPolicySpec = Static<typeof SlaPolicySpec>;

export const SkillName = Type.String({
  pattern: '^[a-z0-9_.-]{1,40}$',
  description: "a skill name: lower-case letters, digits, '.', '-' and '_', at most 40",
});

export const QueueSpec = Type.Object(
  {
    name: Name('queue'),
    strategy: StrategySpec,
    /** Required for account-owner queues: who gets the contact when the owner is not free in time. */
    secondaryStrategy: Type.Optional(SecondaryStrategySpec),
    /** skill name -> minimum level 1-5. Every strategy enforces them; `skills` also ranks by them. */
    skills: Type.Optional(
      Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 5 }), {
        propertyNames: SkillName,
      }),
    ),
    channels: Type.Array(ChannelSpec, { minItems: 1, uniqueItems: true }),
    /** Seconds an agent has to accept an offer; default: `options.offerTimeoutSeconds`. */
    offerTimeoutSeconds: Type.Optional(PositiveSeconds(600)),
    wrapUpSeconds: Type.Optional(Seconds(3600)),
    /** A contact answered within this many seconds counts as within service level. */
    serviceLevelSeconds: Type.Optional(PositiveSeconds(86_400 * 7)),
    /** The service level (percent answered within serviceLevelSeconds) the queue aims at; default 80. */
    serviceLevelTarget: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** The dashboard alerts when a contact has waited this long; default three times serviceLevelSeconds. */
    longestWaitAlertSeconds: Type.Optional(PositiveSeconds(86_400 * 7)),
    /** Service-level agreements: first response, next response and resolution targets per channel. */
    sla: Type.Optional(Type.Array(SlaPolicySpec)),
    /** A calendar name; no hours: always open. */
    hours: Type.Optional(Name('calendar')),
    afterHours: Type.Optional(AfterHoursSpec),
    /** In order of `afterSeconds`. */
    escalation: Type.Optional(Type.Array(EscalationStepSpec)),
    /** The disposition codes for this queue's contacts, instead of `options.dispositions`. */
    dispositions: Type.Optional(DispositionsSpec),
  },
  { additionalProperties: false },
);
export type QueueSpec = Static<typeof QueueSpec>;

/** Local time of day and day of week, in `timeZone`. */
export const TimeWindowSpec = Type.Object(
  {
    timeZone: TimeZoneSpec,
    days: Type.Optional(Type.Array(Type.Enum([...weekdays]), { minItems: 1, uniqueItems: true })),
    hours: Type.Optional(Intervals),
  },
  { additionalProperties: false, minProperties: 2 },
);

/**
 * Every condition given must hold; a list holds when any of its items does. A condition on a fact the
 * contact does not carry (no IVR choice, no subject) does not hold.
 */
export const ConditionsSpec = Type.Object(
  {
    channel: Type.Optional(OneOrMany(ChannelSpec)),
    /** The caller's IVR choice (`1`, `billing`); numbers are compared as text. */
    ivrChoice: Type.Optional(OneOrMany(Type.Union([Type.String({ minLength: 1 }), Type.Integer()]))),
    /** The mailbox or number the contact arrived on: lower-case address or E.164 number, quoted. */
    receivedOn: Type.Optional(
      OneOrMany(Type.String({ pattern: '^\\S+$', description: 'an address or E.164 number without spaces' })),
    ),
    customerTier: Type.Optional(OneOrMany(Type.String({ minLength: 1 }))),
    accountId: Type.Optional(OneOrMany(Type.String({ minLength: 1 }))),
    /** true: the customer's account has an owner agent (a known customer, for account-owner queues). */
    hasAccountOwner: Type.Optional(Type.Boolean()),
    /** Whole words (or phrases), case-insensitive: `refund` matches "Refund please", not "refunded". */
    keywords: Type.Optional(OneOrMany(Type.String({ pattern: '[\\p{L}\\p{N}]', description: 'a word' }))),
    /** Where keywords are looked for; default both. */
    keywordsIn: Type.Optional(OneOrMany(Type.Enum(['subject', 'text']))),
    /** Language tags; `es` matches `es`, `es-MX`, `es-419`. */
    locale: Type.Optional(
      OneOrMany(
        Type.String({ pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$', description: 'a language tag' }),
      ),
    ),
    during: Type.Optional(TimeWindowSpec),
  },
  { additionalProperties: false },
);
export type ConditionsSpec = Static<typeof ConditionsSpec>;

export const RuleSpec = Type.Object(
  {
    name: Name('rule'),
    /** No conditions: matches everything. The last rule must be such a catch-all. */
    when: Type.Optional(ConditionsSpec),
    queue: Name('queue'),
    /** Higher is served first. */
    priority: Type.Integer({ minimum: 0, maximum: 1000 }),
  },
  { additionalProperties: false },
);
export type RuleSpec = Static<typeof RuleSpec>;

const ChannelCapacitySpec = (maxLimit: number) =>
  Type.Object(
    {
      max: Type.Integer({ minimum: 1, maximum: maxLimit }),
      /** An exclusive contact blocks all other work while it is open. */
      exclusive: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  );

/** Concurrent contacts per agent and channel; an agent's own override wins. Unlisted channels keep defaults. */
export const CapacitySpec = Type.Object(
  {
    voice: Type.Optional(
      Type.Object(
        { max: Type.Integer({ minimum: 1, maximum: 1 }), exclusive: Type.Optional(Type.Literal(true)) },
        { additionalProperties: false },
      ),
    ),
    chat: Type.Optional(ChannelCapacitySpec(20)),
    email: Type.Optional(ChannelCapacitySpec(50)),
    fax: Type.Optional(ChannelCapacitySpec(50)),
  },
  { additionalProperties: false },
);
export type CapacitySpec = Static<typeof CapacitySpec>;

export const OptionsSpec = Type.Object(
  {
    offerTimeoutSeconds: Type.Optional(PositiveSeconds(600)),
    /** Offers missed in a row (timeouts, not rejects) before an agent is set away. */
    missesBeforeAway: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** account-owner: the last agent who served the customer counts within this many days. */
    recentAgentWindowDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    /** Disposition codes for every queue without its own list. None: closing takes any code, or none. */
    dispositions: Type.Optional(DispositionsSpec),
  },
  { additionalProperties: false },
);
export type OptionsSpec = Static<typeof OptionsSpec>;

/** One file. Every section is optional; the loader merges the files. */
export const RuleFileSpec = Type.Object(
  {
    queues: Type.Optional(Type.Array(QueueSpec)),
    calendars: Type.Optional(Type.Record(Type.String(), CalendarSpec, { propertyNames: Name('calendar') })),
    rules: Type.Optional(Type.Array(RuleSpec)),
    capacity: Type.Optional(CapacitySpec),
    options: Type.Optional(OptionsSpec),
    /** The IVR's languages, numbers, lookups and flows (ivr.schema.ts); in one file only. */
    ivr: Type.Optional(IvrSpec),
  },
  { additionalProperties: false },
);
export type RuleFileSpec = Static<typeof RuleFileSpec>;

// ---- The resolved rule set: names resolved, defaults filled, lists normalized. Plain data. ----

/** Minutes since local midnight, `from` < `to` <= 1440. */
export interface Interval {
  from: number;
  to: number;
}

export interface Calendar {
  name: CalendarName;
  timeZone: string;
  /** Sorted by `from`, non-overlapping; a missing or empty day is closed. */
  weekly: Readonly<Partial<Record<Weekday, readonly Interval[]>>>;
  holidays: readonly { date: string; name?: string }[];
}

export interface SkillRequirement {
  skill: string;
  minLevel: 1 | 2 | 3 | 4 | 5;
}

export interface Disposition {
  code: string;
  label: string;
}

/** A resolved SLA policy: targets in seconds (of business time unless `isBusinessHours` is false). */
export interface SlaPolicy {
  channels: readonly Channel[];
  targets: Readonly<Partial<Record<SlaMetric, number>>>;
  /** Seconds before each target's due time that its warning falls; null: a quarter of the target. */
  warnBeforeSeconds: number | null;
  isBusinessHours: boolean;
  onWarning: readonly SlaAction[];
  onBreach: readonly SlaAction[];
}

export interface Queue {
  name: QueueName;
  strategy: StrategyName;
  secondaryStrategy: SecondaryStrategyName | null;
  requiredSkills: readonly SkillRequirement[];
  channels: readonly Channel[];
  offerTimeoutSeconds: number;
  wrapUpSeconds: number;
  serviceLevelSeconds: number;
  /** 0-1: the share answered within serviceLevelSeconds the queue aims at (dashboard alert under it). */
  serviceLevelTarget: number;
  longestWaitAlertSeconds: number;
  /** By channel; a channel without a policy has no SLA clocks. */
  sla: ReadonlyMap<Channel, SlaPolicy>;
  /** null: always open. */
  hours: Calendar | null;
  afterHours: AfterHoursAction;
  /** Sorted by `afterSeconds`. */
  escalation: readonly EscalationStep[];
  /** The queue's own codes, else `options.dispositions`; empty: closing takes any code, or none. */
  dispositions: readonly Disposition[];
}

export interface TimeWindow {
  timeZone: string;
  days: readonly Weekday[] | null;
  intervals: readonly Interval[] | null;
}

/** Normalized conditions: lists, lower-cased where matching ignores case, keywords split into words. */
export interface Conditions {
  channels?: readonly Channel[];
  ivrChoices?: readonly string[];
  receivedOn?: readonly string[];
  customerTiers?: readonly string[];
  accountIds?: readonly string[];
  hasAccountOwner?: boolean;
  /** Each keyword as its lower-cased words: `credit card` -> ['credit', 'card']. */
  keywords?: readonly (readonly string[])[];
  keywordsIn: readonly ('subject' | 'text')[];
  locales?: readonly string[];
  during?: TimeWindow;
}

export interface MatchRule {
  name: RuleName;
  queue: QueueName;
  priority: number;
  when: Conditions;
}

export interface ChannelCapacity {
  max: number;
  isExclusive: boolean;
}

export interface RoutingOptions {
  offerTimeoutSeconds: number;
  missesBeforeAway: number;
  recentAgentWindowDays: number;
  /** For queues without their own list; empty: no codes are required. */
  dispositions: readonly Disposition[];
}

export interface RuleSet {
  queues: ReadonlyMap<QueueName, Queue>;
  /** In force order: the first match wins. */
  rules: readonly MatchRule[];
  capacity: Readonly<Record<Channel, ChannelCapacity>>;
  options: RoutingOptions;
  /** The IVR callers meet (phone channel); null when no file has an `ivr` section. */
  ivr: IvrRules | null;
  /** The files it came from, in merge order. */
  files: readonly string[];
  /** sha256 over the files' names and contents: the audit log records which rules were in force. */
  fingerprint: string;
}

/** What an operator does not write. */
export const ruleDefaults = {
  options: { offerTimeoutSeconds: 20, missesBeforeAway: 3, recentAgentWindowDays: 30, dispositions: [] },
  capacity: {
    voice: { max: 1, isExclusive: true },
    chat: { max: 3, isExclusive: false },
    email: { max: 5, isExclusive: false },
    fax: { max: 5, isExclusive: false },
  },
  wrapUpSeconds: 30,
  serviceLevelSeconds: 20,
  serviceLevelTarget: 0.8,
  longestWaitFactor: 3,
  afterHours: { action: 'queue' },
} as const satisfies {
  options: RoutingOptions;
  capacity: Record<Channel, ChannelCapacity>;
  wrapUpSeconds: number;
  serviceLevelSeconds: number;
  serviceLevelTarget: number;
  longestWaitFactor: number;
  afterHours: AfterHoursAction;
};

/*
 * The arrivals file the simulator replays and `export-arrivals` writes: newline-delimited JSON, one event per
 * line, tagged by `type` (README.md in this folder shows both kinds with every field):
 *
 *   {"type":"agent","at":ISO,"agentId":..,"state":"available"|"away"|"offline"|..,"skills"?:{..},"capacity"?:{..}}
 *   {"type":"arrival","at":ISO,"interactionId":..,"channel":..,"facts":{..},"customerId"?:..,
 *    "accountOwnerId"?:..,"recentAgents"?:[..],"handleSeconds"?:..,"patienceSeconds"?:..,"offers"?:[..],
 *    "actual"?:{"queue","waitSeconds","agentId","abandoned"}}
 *
 * The line schemas check shape and ranges; `ArrivalsReader` turns lines into domain events (epoch ms, defaults
 * filled) and refuses what spans lines (an interaction that arrives twice). A refused line is reported with its
 * number and reason and skipped; the caller decides whether a skipped line is fatal (`--strict`).
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { channels, type Channel } from '../../interactions/inbound-contact.js';
import type { ContactFacts } from '../rules/rule-matcher.js';
import type {
  AgentId,
  CustomerId,
  InteractionId,
  QueueId,
  RecentAgent,
  SkillLevel,
} from '../routing.types.js';

const Id = (what: string) => Type.String({ minLength: 1, maxLength: 200, description: `${what} (text)` });
const Instant = Type.String({
  format: 'date-time',
  description: "an ISO 8601 date-time with a zone, e.g. '2026-11-17T14:03:00Z'",
});
const Seconds = (what: string) => Type.Number({ minimum: 0, description: `${what}, seconds >= 0` });
const ChannelSpec = Type.Enum([...channels], { description: `one of ${channels.join(', ')}` });

/** What the rule matcher reads (see ContactFacts); the channel is the line's own `channel`. */
export const FactsSpec = Type.Object(
  {
    ivrChoice: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Integer()], { description: 'text or a whole number' }),
    ),
    receivedOn: Type.Optional(Type.String({ minLength: 1 })),
    customerTier: Type.Optional(Type.String({ minLength: 1 })),
    accountId: Type.Optional(Type.String({ minLength: 1 })),
    subject: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
    locale: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** One real offer of this contact and how the agent answered it. */
export const RecordedOfferSpec = Type.Object(
  {
    agentId: Id('an agent id'),
    outcome: Type.Enum(['accepted', 'rejected', 'expired'], {
      description: 'one of accepted, rejected, expired',
    }),
    /** Seconds from the offer to the answer (for `expired`, the simulator uses the queue's timeout). */
    afterSeconds: Seconds('the time to answer'),
  },
  { additionalProperties: false },
);

/** What really happened to the contact, for the report's comparison. */
export const ActualSpec = Type.Object(
  {
    /** The queue the contact was queued in (routing.queued: the rule's, or its after-hours move-to). */
    queue: Id('a queue name'),
    /** From arrival to an agent accepting it; null when nobody did. */
    waitSeconds: Type.Union([Type.Null(), Seconds('the wait')], { description: 'seconds >= 0, or null' }),
    /** The agent who answered; null when nobody did. */
    agentId: Type.Union([Type.Null(), Id('an agent id')], { description: 'an agent id, or null' }),
    /** The customer left before anyone was assigned. */
    abandoned: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const ArrivalLineSpec = Type.Object(
  {
    type: Type.Literal('arrival'),
    at: Instant,
    interactionId: Id('an interaction id'),
    channel: ChannelSpec,
    facts: Type.Optional(FactsSpec),
    /** Default: the interaction id (a customer with no other contacts). */
    customerId: Type.Optional(Id('a customer id')),
    accountOwnerId: Type.Optional(Type.Union([Type.Null(), Id('an agent id')])),
    /** Agents who served the customer before the file begins, for account-owner queues. */
    recentAgents: Type.Optional(
      Type.Array(Type.Object({ agentId: Id('an agent id'), at: Instant }, { additionalProperties: false })),
    ),
    /** From accept to close; default: the per-channel default of the run. */
    handleSeconds: Type.Optional(Seconds('the handle time')),
    /** How long the customer waits before leaving, when they really left before being assigned. */
    patienceSeconds: Type.Optional(Seconds('the patience')),
    offers: Type.Optional(Type.Array(RecordedOfferSpec)),
    actual: Type.Optional(ActualSpec),
  },
  { additionalProperties: false },
);
export type ArrivalLine = Static<typeof ArrivalLineSpec>;

/** `on_contact` and `wrap_up` are read as `available`: the simulation derives them from its own assignments. */
export const agentLineStates = ['available', 'away', 'offline', 'on_contact', 'wrap_up'] as const;

export const AgentLineSpec = Type.Object(
  {
    type: Type.Literal('agent'),
    at: Instant,
    agentId: Id('an agent id'),
    state: Type.Enum([...agentLineStates], { description: `one of ${agentLineStates.join(', ')}` }),
    /** skill -> level 1-5. Given: replaces the agent's skills from here on. */
    skills: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Integer({ minimum: 1, maximum: 5 }), {
        description: 'skill name -> level 1-5',
      }),
    ),
    /** The agent's own capacity per channel (rule-file defaults fill the rest). Given: replaces the overrides. */
    capacity: Type.Optional(
      Type.Object(
        Object.fromEntries(
          channels.map((c) => [c, Type.Optional(Type.Integer({ minimum: 0, maximum: 50 }))]),
        ),
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AgentLine = Static<typeof AgentLineSpec>;

export type ArrivalsLine = ArrivalLine | AgentLine;

// ---- Domain events: what the simulation core reads. ----

export interface RecordedOffer {
  agentId: AgentId;
  outcome: 'accepted' | 'rejected' | 'expired';
  afterSeconds: number;
}

export interface ActualOutcome {
  queue: QueueId;
  waitSeconds: number | null;
  agentId: AgentId | null;
  abandoned: boolean;
}

export interface Arrival {
  type: 'arrival';
  atMs: number;
  interactionId: InteractionId;
  channel: Channel;
  facts: ContactFacts;
  customerId: CustomerId;
  accountOwnerId: AgentId | null;
  recentAgents: readonly RecentAgent[];
  handleSeconds: number | null;
  patienceSeconds: number | null;
  offers: readonly RecordedOffer[];
  actual: ActualOutcome | null;
}

/** Presence as the agent sets it; the simulation derives on_contact and wrap_up itself. */
export type Presence = 'available' | 'away' | 'offline';

export interface AgentChange {
  type: 'agent';
  atMs: number;
  agentId: AgentId;
  presence: Presence;
  skills?: Readonly<Record<string, SkillLevel>>;
  capacity?: Readonly<Partial<Record<Channel, number>>>;
}

export type SimulationEvent = Arrival | AgentChange;

// ---- Reading lines. ----

/** A refused line: 1-based line number and a reason a person can act on. */
export interface LineProblem {
  line: number;
  reason: string;
}

export type LineOutcome =
  | { status: 'event'; event: SimulationEvent }
  | { status: 'blank' }
  | { status: 'refused'; problem: LineProblem };

const checkArrival = Compile(ArrivalLineSpec);
const checkAgent = Compile(AgentLineSpec);

/**
 * Reads an arrivals file line by line. Stateful only to refuse an interaction id seen on an earlier line
 * (a second arrival of the same contact would double-count it); otherwise each line stands alone.
 */
export class ArrivalsReader {
  readonly #arrivedOn = new Map<InteractionId, number>();

  read(text: string, line: number): LineOutcome {
    if (text.trim() === '') return { status: 'blank' };
    const refuse = (reason: string): LineOutcome => ({ status: 'refused', problem: { line, reason } });
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return refuse(`not JSON: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return refuse('expected a JSON object');
    const type = (value as { type?: unknown }).type;
    if (type === 'arrival') {
      if (!checkArrival.Check(value)) return refuse(firstSchemaError(ArrivalLineSpec, checkArrival, value));
      const atMs = parseInstant(value.at);
      if (atMs === null) return refuse(`at: '${value.at}' is not a date-time`);
      const earlier = this.#arrivedOn.get(value.interactionId);
      if (earlier !== undefined)
        return refuse(`interaction '${value.interactionId}' already arrived on line ${earlier}`);
      const recentAgents: RecentAgent[] = [];
      for (const recent of value.recentAgents ?? []) {
        const servedAtMs = parseInstant(recent.at);
        if (servedAtMs === null) return refuse(`recentAgents: '${recent.at}' is not a date-time`);
        recentAgents.push({ agentId: recent.agentId, servedAtMs });
      }
      this.#arrivedOn.set(value.interactionId, line);
      return { status: 'event', event: toArrival(value, atMs, recentAgents) };
    }
    if (type === 'agent') {
      if (!checkAgent.Check(value)) return refuse(firstSchemaError(AgentLineSpec, checkAgent, value));
      const atMs = parseInstant(value.at);
      if (atMs === null) return refuse(`at: '${value.at}' is not a date-time`);
      return { status: 'event', event: toAgentChange(value, atMs) };
    }
    return refuse(`type: expected 'arrival' or 'agent', got ${JSON.stringify(type) ?? 'nothing'}`);
  }
}

function parseInstant(text: string): number | null {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

function toArrival(line: ArrivalLine, atMs: number, recentAgents: RecentAgent[]): Arrival {
  const { ivrChoice, ...facts } = line.facts ?? {};
  return {
    type: 'arrival',
    atMs,
    interactionId: line.interactionId,
    channel: line.channel,
    facts: {
      ...facts,
      ...(ivrChoice !== undefined && { ivrChoice: String(ivrChoice) }),
      channel: line.channel,
    },
    customerId: line.customerId ?? line.interactionId,
    accountOwnerId: line.accountOwnerId ?? null,
    recentAgents,
    handleSeconds: line.handleSeconds ?? null,
    patienceSeconds: line.patienceSeconds ?? null,
    offers: line.offers ?? [],
    actual: line.actual ?? null,
  };
}

function toAgentChange(line: AgentLine, atMs: number): AgentChange {
  const presence: Presence =
    line.state === 'on_contact' || line.state === 'wrap_up' ? 'available' : line.state;
  return {
    type: 'agent',
    atMs,
    agentId: line.agentId,
    presence,
    ...(line.skills && { skills: line.skills as Record<string, SkillLevel> }),
    ...(line.capacity && { capacity: line.capacity }),
  };
}

// ---- Schema errors, one readable reason per line. ----

interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/**
 * The one error a person should fix first. TypeBox lists every failed branch of a union and a "schema is false"
 * echo for each unknown field; those are folded into one reason each.
 */
function firstSchemaError(
  schema: TSchema,
  validator: { Errors(value: unknown): unknown[] },
  value: unknown,
): string {
  const errors = validator.Errors(value) as SchemaError[];
  const error = errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
  if (!error) return 'does not match the arrivals format';
  const unionAtPath = errors.find((e) => e.keyword === 'anyOf' && e.instancePath === error.instancePath);
  const shown = unionAtPath ?? error;
  const field = fieldName(shown.instancePath);
  const prefix = field === '' ? '' : `${field}: `;
  switch (shown.keyword) {
    case 'required': {
      const missing = (shown.params.requiredProperties as string[] | undefined) ?? [];
      return `${prefix}missing ${missing.map((m) => `'${m}'`).join(', ')}`;
    }
    case 'additionalProperties': {
      const extra = (shown.params.additionalProperties as string[] | undefined) ?? [];
      return `${prefix}unknown field ${extra.map((e) => `'${e}'`).join(', ')}`;
    }
    default: {
      const description = schemaAt(schema, shown.schemaPath).description;
      const got = JSON.stringify(valueAt(value, shown.instancePath)) ?? 'nothing';
      return typeof description === 'string'
        ? `${prefix}expected ${description}, got ${got}`
        : `${prefix}${shown.message}, got ${got}`;
    }
  }
}

const pointer = (path: string) =>
  path === ''
    ? []
    : path
        .split('/')
        .slice(1)
        .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));

/** `/actual/waitSeconds` -> `actual.waitSeconds`, `/offers/0/agentId` -> `offers[0].agentId`. */
function fieldName(instancePath: string): string {
  return pointer(instancePath)
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

function schemaAt(root: TSchema, schemaPath: string): Record<string, unknown> {
  let node: unknown = root;
  for (const segment of pointer(schemaPath.replace(/^#/, ''))) {
    node = (node as Record<string, unknown> | undefined)?.[segment];
  }
  return (node ?? {}) as Record<string, unknown>;
}

function valueAt(value: unknown, instancePath: string): unknown {
  let node = value;
  for (const segment of pointer(instancePath))
    node = (node as Record<string, unknown> | undefined)?.[segment];
  return node;
}

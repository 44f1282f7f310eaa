import { sql, type Kysely } from 'kysely';
import type { AgentStateChange, LogEvent } from '../../reports/contact-facts.js';
import type { AgentState, Channel } from '../../routing/routing.types.js';
import type { Database, ReportHoursTable, ReportIvrHoursTable } from '../tables.js';

/*
 * The report rollups (src/reports/rollups.ts): what an hour's figures are computed from, the hourly rows
 * kept, and the sums a report reads. An hour is rolled up once it is over (and a grace after), from the
 * whole history of every interaction with an event in it, so a contact answered in this hour but queued in
 * the last one is counted as the definitions say.
 */

export type QueueHourRow = Omit<ReportHoursTable, 'hour'>;

export interface AgentHourRow {
  agentId: string;
  handled: number;
  talkSeconds: number;
  wrapUpSeconds: number;
  secondsIn: Record<string, number>;
}

export type ReportGrouping = 'queue' | 'channel' | 'queue-channel' | 'hour' | 'day';

export type IvrHourRow = Omit<ReportIvrHoursTable, 'hour'>;

/** The IVR counts summed over a group. */
export type SummedIvr = Omit<ReportIvrHoursTable, 'hour' | 'flow'>;

export type IvrGrouping = 'flow' | 'hour' | 'day';

/** The additive parts of the counted figures, summed over a group. */
export type SummedFigures = Omit<ReportHoursTable, 'hour' | 'queue' | 'channel'>;

const counted = [
  'offered',
  'transferred_in',
  'offered_while_closed',
  'answered',
  'answered_within_threshold',
  'answered_wait_seconds',
  'abandoned',
  'abandoned_within_threshold',
  'short_abandoned',
  'transferred_out',
  'closed_while_waiting',
  'self_served',
  'handled',
  'talk_seconds',
  'wrap_up_seconds',
  'first_responses',
  'first_response_seconds',
  'resolved',
  'resolved_after_reopen',
  'resolution_seconds',
] as const satisfies readonly (keyof SummedFigures)[];

const ivrCounted = [
  'ivr_calls',
  'self_served',
  'abandoned',
  'to_agent',
  'to_callback',
  'to_voicemail',
  'closed',
] as const satisfies readonly (keyof SummedIvr)[];

/** A group's key: the hour or the day in `timeZone`, as text. */
const timeKey = (by: 'hour' | 'day', timeZone: string) =>
  by === 'hour'
    ? sql<string>`to_char(hour at time zone ${timeZone}, 'YYYY-MM-DD"T"HH24:00')`
    : sql<string>`to_char(hour at time zone ${timeZone}, 'YYYY-MM-DD')`;

const toLogEvent = (row: {
  interaction_id: string;
  type: string;
  channel: string;
  actor_type: 'customer' | 'agent' | 'system';
  actor_id: string | null;
  payload: Record<string, unknown>;
  occurred_at: Date;
}) =>
  ({
    interactionId: row.interaction_id,
    type: row.type,
    channel: row.channel as Channel,
    actorType: row.actor_type,
    actorId: row.actor_id,
    payload: row.payload,
    occurredAt: row.occurred_at,
  }) as LogEvent;

/**
 * How long after its close a handling may still complete: the longest wrap-up the rules allow
 * (wrapUpSeconds at most 3600, rules.schema.ts) and a margin for the job that ends it.
 */
const wrapUpReachMs = 3600_000 + 5 * 60_000;

/** The columns `toLogEvent` reads, of `interaction_events as e`. */
const logEventColumns = [
  'e.interaction_id',
  'e.type',
  'e.channel',
  'e.actor_type',
  'e.actor_id',
  'e.payload',
  'e.occurred_at',
] as const;

export function createReportsRepository(db: Kysely<Database>) {
  return {
    /** Every hour before this is rolled up; null before the first run. */
    async builtThrough(): Promise<Date | null> {
      const row = await db.selectFrom('report_rollup_state').select('built_through').executeTakeFirst();
      return row?.built_through ?? null;
    },

    /** The first instant of the log, or null for an empty log. */
    async firstEventAt(): Promise<Date | null> {
      const row = await db
        .selectFrom('interaction_events')
        .select(sql<Date | null>`min(occurred_at)`.as('at'))
        .executeTakeFirst();
      return row?.at ?? null;
    },

    /**
     * Every event up to `to` of the interactions with an event in [from, to), each interaction's in log
     * order: what their facts in that hour are built from. Also those closed in the `wrapUpReachMs` before
     * `from`: a handling completes when its wrap-up ends, which may be in [from, to) with no event of its
     * interaction there (only the agent's state change).
     */
    async eventsTouching(from: Date, to: Date): Promise<LogEvent[]> {
      const closedSince = new Date(from.getTime() - wrapUpReachMs);
      const rows = await db
        .selectFrom('interaction_events as e')
        .select(logEventColumns)
        .where(
          'e.interaction_id',
          'in',
          db
            .selectFrom('interaction_events')
            .select('interaction_id')
            .where((eb) =>
              eb.or([
                eb.and([eb('occurred_at', '>=', from), eb('occurred_at', '<', to)]),
                eb.and([
                  eb('type', '=', 'interaction.closed'),
                  eb('occurred_at', '>=', closedSince),
                  eb('occurred_at', '<', from),
                ]),
              ]),
            ),
        )
        .where('e.occurred_at', '<', to)
        .orderBy('e.interaction_id')
        .orderBy('e.id')
        .execute();
      return rows.map(toLogEvent);
    },

    /**
     * Every event up to `asOf` of the interactions that may be open at `asOf`: created by then and not
     * closed for good before it. The interactions table only narrows the search (a superset: status and
     * closed_at as they are now); whether each is open at `asOf` is for its facts to say.
     */
    async eventsOpenAt(asOf: Date): Promise<LogEvent[]> {
      const rows = await db
        .selectFrom('interaction_events as e')
        .select(logEventColumns)
        .where(
          'e.interaction_id',
          'in',
          db
            .selectFrom('interactions')
            .select('id')
            .where('created_at', '<=', asOf)
            .where((eb) =>
              eb.or([eb('status', '<>', 'closed'), eb('closed_at', 'is', null), eb('closed_at', '>', asOf)]),
            ),
        )
        .where('e.occurred_at', '<=', asOf)
        .orderBy('e.interaction_id')
        .orderBy('e.id')
        .execute();
      return rows.map(toLogEvent);
    },

    /** Display names of agents, by id (agents not found are left out). */
    async agentNames(ids: readonly string[]): Promise<Map<string, string>> {
      if (ids.length === 0) return new Map();
      const rows = await db
        .selectFrom('agents')
        .select(['id', 'display_name'])
        .where('id', 'in', [...ids])
        .execute();
      return new Map(rows.map((row) => [row.id, row.display_name]));
    },

    /**
     * The window of one calendar day in `timeZone`: its local midnight to the next (23 or 25 hours across a
     * daylight-saving change).
     */
    async dayWindow(date: string, timeZone: string): Promise<{ from: Date; to: Date }> {
      const { rows } = await sql<{ from: Date; to: Date }>`
        select (${date}::date)::timestamp at time zone ${timeZone} as "from",
               (${date}::date + 1)::timestamp at time zone ${timeZone} as "to"`.execute(db);
      return rows[0]!;
    },

    /** Customer merges and undone merges in [from, to), from the audit log (merges are not interaction events). */
    async countMerges(from: Date, to: Date): Promise<{ merged: number; unmerged: number }> {
      const row = await db
        .selectFrom('audit_log')
        .select([
          sql<number>`count(*) filter (where action = 'customer.merged')::int`.as('merged'),
          sql<number>`count(*) filter (where action = 'customer.unmerged')::int`.as('unmerged'),
        ])
        .where('action', 'in', ['customer.merged', 'customer.unmerged'])
        .where('occurred_at', '>=', from)
        .where('occurred_at', '<', to)
        .executeTakeFirstOrThrow();
      return row;
    },

    /** Agents' state changes in [from, to), with each agent's last one before `from`, in time order. */
    async stateChangesFor(from: Date, to: Date): Promise<AgentStateChange[]> {
      const rows = await sql<{ agent_id: string; state: string; away_reason: string | null; at: Date }>`
        select agent_id, state, away_reason, at from (
          select distinct on (agent_id) agent_id, state, away_reason, at, id
            from agent_state_history where at < ${from} order by agent_id, at desc, id desc
        ) before
        union all
        select agent_id, state, away_reason, at from agent_state_history where at >= ${from} and at < ${to}
        order by at`.execute(db);
      return rows.rows.map((row) => ({
        agentId: row.agent_id,
        state: row.state as AgentState,
        awayReason: row.away_reason,
        at: row.at,
      }));
    },

    /**
     * Saves one hour's rows and moves built_through from `expected` to the hour's end, in one transaction;
     * false (nothing saved) when another run moved it first.
     */
    async saveHour(
      hour: Date,
      hourEnd: Date,
      expected: Date | null,
      queues: QueueHourRow[],
      agents: AgentHourRow[],
      ivr: IvrHourRow[] = [],
    ): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        // One rollup at a time across the cluster; the loser sees built_through moved and saves nothing.
        await sql`select pg_advisory_xact_lock(hashtext('switchboard.report_rollup'))`.execute(trx);
        const state = await trx.selectFrom('report_rollup_state').select('built_through').executeTakeFirst();
        if ((state?.built_through?.getTime() ?? null) !== (expected?.getTime() ?? null)) return false;
        await trx.deleteFrom('report_hours').where('hour', '=', hour).execute();
        await trx.deleteFrom('report_agent_hours').where('hour', '=', hour).execute();
        await trx.deleteFrom('report_ivr_hours').where('hour', '=', hour).execute();
        if (ivr.length > 0)
          await trx
            .insertInto('report_ivr_hours')
            .values(ivr.map((row) => ({ ...row, hour })))
            .execute();
        if (queues.length > 0)
          await trx
            .insertInto('report_hours')
            .values(queues.map((row) => ({ ...row, hour })))
            .execute();
        if (agents.length > 0)
          await trx
            .insertInto('report_agent_hours')
            .values(
              agents.map((row) => ({
                hour,
                agent_id: row.agentId,
                handled: row.handled,
                talk_seconds: row.talkSeconds,
                wrap_up_seconds: row.wrapUpSeconds,
                seconds_in: JSON.stringify(row.secondsIn),
              })),
            )
            .execute();
        await trx
          .insertInto('report_rollup_state')
          .values({ id: 1, built_through: hourEnd })
          .onConflict((oc) => oc.column('id').doUpdateSet({ built_through: hourEnd }))
          .execute();
        return true;
      });
    },

    /** The counted figures over the hours in [from, to), summed per group. */
    async sumQueues(
      from: Date,
      to: Date,
      by: ReportGrouping,
      timeZone: string,
    ): Promise<(SummedFigures & { key: string; channel: string | null })[]> {
      const key =
        by === 'queue' || by === 'queue-channel'
          ? sql<string>`queue`
          : by === 'channel'
            ? sql<string>`channel`
            : timeKey(by, timeZone);
      const channel = by === 'queue-channel' ? sql<string | null>`channel` : sql<string | null>`null::text`;
      const rows = await db
        .selectFrom('report_hours')
        .select([
          key.as('key'),
          channel.as('channel'),
          ...counted.map((column) => sql<number>`sum(${sql.ref(column)})::float8`.as(column)),
        ])
        .where('hour', '>=', from)
        .where('hour', '<', to)
        .groupBy([sql`1`, sql`2`])
        .orderBy(sql`1`)
        .orderBy(sql`2`)
        .execute();
      return rows;
    },

    /** Contacts offered over the hours in [from, to), per queue and local hour of `timeZone`. */
    async offeredByQueueHour(
      from: Date,
      to: Date,
      timeZone: string,
    ): Promise<{ queue: string; hour: string; offered: number }[]> {
      return db
        .selectFrom('report_hours')
        .select(['queue', timeKey('hour', timeZone).as('hour'), sql<number>`sum(offered)::int`.as('offered')])
        .where('hour', '>=', from)
        .where('hour', '<', to)
        .groupBy([sql`1`, sql`2`])
        .orderBy(sql`1`)
        .orderBy(sql`2`)
        .execute();
    },

    /** The IVR counts over the hours in [from, to), summed per flow, hour or day (of `timeZone`). */
    async sumIvr(
      from: Date,
      to: Date,
      by: IvrGrouping,
      timeZone: string,
    ): Promise<(SummedIvr & { key: string })[]> {
      return db
        .selectFrom('report_ivr_hours')
        .select([
          (by === 'flow' ? sql<string>`flow` : timeKey(by, timeZone)).as('key'),
          ...ivrCounted.map((column) => sql<number>`sum(${sql.ref(column)})::int`.as(column)),
        ])
        .where('hour', '>=', from)
        .where('hour', '<', to)
        .groupBy(sql`1`)
        .orderBy(sql`1`)
        .execute();
    },

    /** Per agent over the hours in [from, to): handled, talk, wrap-up and seconds in each state. */
    async sumAgents(
      from: Date,
      to: Date,
    ): Promise<
      {
        agentId: string;
        name: string | null;
        handled: number;
        talkSeconds: number;
        wrapUpSeconds: number;
        secondsIn: Record<string, number>;
      }[]
    > {
      const [sums, states] = await Promise.all([
        db
          .selectFrom('report_agent_hours as h')
          .leftJoin('agents as a', 'a.id', 'h.agent_id')
          .select([
            'h.agent_id',
            'a.display_name',
            sql<number>`sum(h.handled)::float8`.as('handled'),
            sql<number>`sum(h.talk_seconds)::float8`.as('talk_seconds'),
            sql<number>`sum(h.wrap_up_seconds)::float8`.as('wrap_up_seconds'),
          ])
          .where('h.hour', '>=', from)
          .where('h.hour', '<', to)
          .groupBy(['h.agent_id', 'a.display_name'])
          .orderBy('a.display_name')
          .execute(),
        sql<{ agent_id: string; state: string; seconds: number }>`
          select h.agent_id, s.key as state, sum(s.value::float8) as seconds
            from report_agent_hours h, jsonb_each_text(h.seconds_in) s
           where h.hour >= ${from} and h.hour < ${to}
           group by h.agent_id, s.key`.execute(db),
      ]);
      const secondsOf = new Map<string, Record<string, number>>();
      for (const row of states.rows) {
        const record = secondsOf.get(row.agent_id) ?? {};
        record[row.state] = Number(row.seconds);
        secondsOf.set(row.agent_id, record);
      }
      return sums.map((row) => ({
        agentId: row.agent_id,
        name: row.display_name,
        handled: row.handled,
        talkSeconds: row.talk_seconds,
        wrapUpSeconds: row.wrap_up_seconds,
        secondsIn: secondsOf.get(row.agent_id) ?? {},
      }));
    },
  };
}

export type ReportsRepository = ReturnType<typeof createReportsRepository>;

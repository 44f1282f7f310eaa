import { sql, type Kysely } from 'kysely';
import type { AgentStateChange, LogEvent } from '../../reports/contact-facts.js';
import type { AgentState, Channel } from '../../routing/routing.types.js';
import type { Database, ReportHoursTable } from '../tables.js';

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
] as const satisfies readonly (keyof SummedFigures)[];

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
     * order: what their facts in that hour are built from.
     */
    async eventsTouching(from: Date, to: Date): Promise<LogEvent[]> {
      const rows = await db
        .selectFrom('interaction_events as e')
        .select([
          'e.interaction_id',
          'e.type',
          'e.channel',
          'e.actor_type',
          'e.actor_id',
          'e.payload',
          'e.occurred_at',
        ])
        .where(
          'e.interaction_id',
          'in',
          db
            .selectFrom('interaction_events')
            .select('interaction_id')
            .where('occurred_at', '>=', from)
            .where('occurred_at', '<', to),
        )
        .where('e.occurred_at', '<', to)
        .orderBy('e.interaction_id')
        .orderBy('e.id')
        .execute();
      return rows.map(
        (row) =>
          ({
            interactionId: row.interaction_id,
            type: row.type,
            channel: row.channel as Channel,
            actorType: row.actor_type,
            actorId: row.actor_id,
            payload: row.payload,
            occurredAt: row.occurred_at,
          }) as LogEvent,
      );
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
    ): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        // One rollup at a time across the cluster; the loser sees built_through moved and saves nothing.
        await sql`select pg_advisory_xact_lock(hashtext('switchboard.report_rollup'))`.execute(trx);
        const state = await trx.selectFrom('report_rollup_state').select('built_through').executeTakeFirst();
        if ((state?.built_through?.getTime() ?? null) !== (expected?.getTime() ?? null)) return false;
        await trx.deleteFrom('report_hours').where('hour', '=', hour).execute();
        await trx.deleteFrom('report_agent_hours').where('hour', '=', hour).execute();
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
            : by === 'hour'
              ? sql<string>`to_char(hour at time zone ${timeZone}, 'YYYY-MM-DD"T"HH24:00')`
              : sql<string>`to_char(hour at time zone ${timeZone}, 'YYYY-MM-DD')`;
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

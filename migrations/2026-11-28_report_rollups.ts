import { sql, type Kysely } from 'kysely';

// Frozen in time: the report rollups as on 2026-11-28. Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Finding the interactions with events in an hour, to roll that hour up. A BRIN index: the log is
    -- written in time order, so it stays tiny and costs the hot insert path next to nothing.
    create index interaction_events_occurred_brin on interaction_events using brin (occurred_at);

    -- The additive parts of every counted figure, per hour, queue and channel (src/reports/metrics.ts
    -- counts them; src/reports/README.md defines them). A report over any range of whole hours sums rows;
    -- ratios (service level, ASA, AHT, abandonment) are taken from the sums.
    create table report_hours (
      hour timestamptz not null,
      queue text not null,
      channel text not null,
      offered integer not null default 0,
      transferred_in integer not null default 0,
      offered_while_closed integer not null default 0,
      answered integer not null default 0,
      answered_within_threshold integer not null default 0,
      answered_wait_seconds double precision not null default 0,
      abandoned integer not null default 0,
      abandoned_within_threshold integer not null default 0,
      short_abandoned integer not null default 0,
      transferred_out integer not null default 0,
      closed_while_waiting integer not null default 0,
      self_served integer not null default 0,
      handled integer not null default 0,
      talk_seconds double precision not null default 0,
      wrap_up_seconds double precision not null default 0,
      primary key (hour, queue, channel)
    );

    -- Per hour and agent: handled contacts, talk and wrap-up, and seconds in each state.
    create table report_agent_hours (
      hour timestamptz not null,
      agent_id uuid not null,
      handled integer not null default 0,
      talk_seconds double precision not null default 0,
      wrap_up_seconds double precision not null default 0,
      seconds_in jsonb not null default '{}',
      primary key (hour, agent_id)
    );

    -- The hours rolled up: every hour before built_through is in the tables above.
    create table report_rollup_state (
      id smallint primary key default 1 check (id = 1),
      built_through timestamptz not null
    );
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table if exists report_rollup_state;
    drop table if exists report_agent_hours;
    drop table if exists report_hours;
    drop index if exists interaction_events_occurred_brin;
  `.execute(db);
}

import { sql, type Kysely } from 'kysely';

// Frozen in time: the report figures added on 2026-11-30. Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- First response and resolution (the written channels), per hour, queue and channel: counts and summed
    -- seconds, averages taken from the sums (src/reports/README.md defines them).
    alter table report_hours
      add column first_responses integer not null default 0,
      add column first_response_seconds double precision not null default 0,
      add column resolved integer not null default 0,
      add column resolved_after_reopen integer not null default 0,
      add column resolution_seconds double precision not null default 0;

    -- How calls left the IVR, per hour and flow, counted in the hour they left it.
    create table report_ivr_hours (
      hour timestamptz not null,
      flow text not null,
      ivr_calls integer not null default 0,
      self_served integer not null default 0,
      abandoned integer not null default 0,
      to_agent integer not null default 0,
      to_callback integer not null default 0,
      to_voicemail integer not null default 0,
      closed integer not null default 0,
      primary key (hour, flow)
    );

    -- Duplicates merged are counted from the audit log (merges are not interaction events).
    create index audit_log_action_idx on audit_log (action, occurred_at);

    -- Hours rolled up before these figures existed lack them: roll every hour up again. The job starts over
    -- from the first event; each hour's rows are replaced as it is rebuilt, so reports keep the old figures
    -- meanwhile (builtThrough says how far the rebuild has gone).
    delete from report_rollup_state;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop index if exists audit_log_action_idx;
    drop table if exists report_ivr_hours;
    alter table report_hours
      drop column if exists first_responses,
      drop column if exists first_response_seconds,
      drop column if exists resolved,
      drop column if exists resolved_after_reopen,
      drop column if exists resolution_seconds;
  `.execute(db);
}

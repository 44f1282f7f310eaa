import { sql, type Kysely } from 'kysely';

// Frozen in time: the SLA clocks as on 2026-11-29. Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Finding the interactions whose log changed since the last sweep. BRIN: the log is written in
    -- recorded_at order, so the index stays tiny and costs the insert path next to nothing.
    create index interaction_events_recorded_brin on interaction_events using brin (recorded_at);

    -- Each interaction's service-level clocks as its log and its queue's policy make them
    -- (src/sla/sla-clocks.ts computes them; src/sla/README.md defines them). Recomputed from the log,
    -- so a row can always be rebuilt; warned_at and breached_at record that the warning or breach was
    -- logged and acted on, once (set by compare-and-set).
    create table sla_clocks (
      interaction_id uuid not null references interactions(id),
      metric text not null check (metric in ('firstResponse', 'nextResponse', 'resolution')),
      -- nextResponse: the customer message it answers, counted from 1; otherwise 0.
      cycle integer not null default 0,
      queue text not null,
      channel text not null,
      target_seconds integer not null,
      started_at timestamptz not null,
      warn_at timestamptz not null,
      due_at timestamptz not null,
      stopped_at timestamptz,
      stop_reason text,
      warned_at timestamptz,
      breached_at timestamptz,
      updated_at timestamptz not null default now(),
      primary key (interaction_id, metric, cycle)
    );
    create index sla_clocks_warn_idx on sla_clocks (warn_at) where stopped_at is null and warned_at is null;
    create index sla_clocks_due_idx on sla_clocks (due_at) where breached_at is null;

    -- How far the sweep has read the log, and the rules it computed the clocks with.
    create table sla_sweep_state (
      id smallint primary key default 1 check (id = 1),
      read_through timestamptz not null,
      rules_fingerprint text
    );
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table if exists sla_sweep_state;
    drop table if exists sla_clocks;
    drop index if exists interaction_events_recorded_brin;
  `.execute(db);
}

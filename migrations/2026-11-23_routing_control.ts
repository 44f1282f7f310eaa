import { sql, type Kysely } from 'kysely';

// Frozen in time: the routing control columns and tables as they were on 2026-11-23. Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Escalation state of a waiting contact, reset when it enters another queue. Steps run in order by seconds
    -- waited in the current queue (queue_entered_at); escalation_step counts the steps already applied.
    -- A domain, not a table CHECK: Postgres re-reads a table's CHECK constraints on every INSERT (see the
    -- core tables migration), and every ingested interaction is an insert.
    create domain nonnegative_count as integer check (value >= 0);
    alter table interactions
      add column queue_entered_at timestamptz,
      add column escalation_step nonnegative_count not null default 0,
      -- What escalation changed for this contact: skill levels relaxed by, and other queues whose agents may
      -- take it too.
      add column relax_levels nonnegative_count not null default 0,
      add column extra_queues text[] not null default '{}',
      -- Why the interaction ended (agent closed, customer left, after-hours message...) and the agent's
      -- disposition code, if any.
      add column closed_reason text,
      add column disposition text;
    update interactions set queue_entered_at = enqueued_at where enqueued_at is not null;
    -- The escalation sweep reads waiting contacts by when they entered their queue.
    create index interactions_escalation_idx on interactions (queue_entered_at)
      where status in ('queued', 'offered');
    -- The routing sweep finds interactions that were never queued (a process died between ingest and enqueue).
    create index interactions_new_idx on interactions (created_at) where status = 'new';

    -- When the agent's wrap-up ends (a job returns them to work then; the console shows a countdown).
    alter table agent_states add column wrap_up_until timestamptz;

    -- Every agent state change, for reports and for exporting agent availability to the simulator. Written
    -- by a trigger, so that every path (API, socket, presence, missed offers inside the settle function)
    -- is recorded.
    create table agent_state_history (
      id bigint generated always as identity primary key,
      agent_id uuid not null references agents(id) on delete cascade,
      state text not null,
      away_reason text,
      at timestamptz not null default clock_timestamp()
    );
    create index agent_state_history_agent_idx on agent_state_history (agent_id, at);
    create index agent_state_history_at_idx on agent_state_history (at);

    create function switchboard_record_agent_state() returns trigger language plpgsql as $fn$
    begin
      if tg_op = 'INSERT' or new.state is distinct from old.state
          or new.away_reason is distinct from old.away_reason then
        insert into agent_state_history (agent_id, state, away_reason) values (new.agent_id, new.state, new.away_reason);
      end if;
      return null;
    end
    $fn$;
    create trigger agent_states_history after insert or update on agent_states
      for each row execute function switchboard_record_agent_state();

    -- Longest-idle (and ties in skills) rank by idle_since: an agent who was just offered work is not idle
    -- any more, or one with room for more chats would win every pick until full while colleagues wait. The
    -- claim holds the agent's row lock when it inserts the offer, so this update is ordered with it.
    create function switchboard_offer_resets_idle() returns trigger language plpgsql as $fn$
    begin
      update agent_states set idle_since = new.offered_at where agent_id = new.agent_id;
      return null;
    end
    $fn$;
    create trigger offers_reset_idle after insert on offers
      for each row execute function switchboard_offer_resets_idle();
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop trigger if exists offers_reset_idle on offers;
    drop function if exists switchboard_offer_resets_idle();
    drop trigger if exists agent_states_history on agent_states;
    drop function if exists switchboard_record_agent_state();
    drop table if exists agent_state_history;
    alter table agent_states drop column if exists wrap_up_until;
    drop index if exists interactions_new_idx;
    drop index if exists interactions_escalation_idx;
    alter table interactions drop column if exists queue_entered_at, drop column if exists escalation_step,
      drop column if exists relax_levels, drop column if exists extra_queues, drop column if exists closed_reason,
      drop column if exists disposition;
    drop domain if exists nonnegative_count;
  `.execute(db);
}

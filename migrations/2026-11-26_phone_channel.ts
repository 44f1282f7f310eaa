import { sql, type Kysely } from 'kysely';

// Frozen in time: the phone channel's tables as on 2026-11-26. Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- 'ivr': a call the IVR is serving. Not routed (the unrouted sweep looks for 'new' only) until the
    -- caller asks for a person, when it becomes 'new' and is routed like any contact.
    alter domain interaction_status drop constraint interaction_status_check;
    alter domain interaction_status add constraint interaction_status_check
      check (value in ('new', 'queued', 'offered', 'assigned', 'wrap_up', 'closed', 'ivr'));

    -- Every call leg Switchboard knows, by the provider's call id: the caller's inbound call, and the calls
    -- it places (a requested callback, an agent's click-to-call). The per-step IVR state lives in Redis;
    -- this is what must survive a restart: which interaction a call belongs to, where the caller is, the
    -- number a callback goes to, and the durations the status callbacks report.
    create table voice_calls (
      call_sid text primary key,
      interaction_id uuid not null references interactions(id) on delete cascade,
      direction text not null check (direction in ('inbound', 'outbound')),
      purpose text not null check (purpose in ('caller', 'callback', 'click-to-call')),
      from_number text not null,
      to_number text not null,
      state text not null check (state in
        ('ivr', 'queued', 'callback-requested', 'voicemail', 'ringing', 'bridged', 'on-hold', 'ended')),
      agent_id uuid references agents(id) on delete set null,
      callback_number text,
      queued_at timestamptz,
      bridged_at timestamptz,
      ended_at timestamptz,
      duration_seconds integer,
      talk_seconds integer,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index voice_calls_interaction_idx on voice_calls (interaction_id, created_at desc);
    -- Callbacks waiting for an agent, oldest first.
    create index voice_calls_callbacks_idx on voice_calls (created_at) where state = 'callback-requested';

    -- An agent may take calls on their own phone instead of the console's softphone.
    alter table agents add column phone_number text;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table agents drop column if exists phone_number;
    drop table if exists voice_calls;
    update interactions set status = 'closed', closed_at = coalesce(closed_at, now()) where status = 'ivr';
    alter domain interaction_status drop constraint interaction_status_check;
    alter domain interaction_status add constraint interaction_status_check
      check (value in ('new', 'queued', 'offered', 'assigned', 'wrap_up', 'closed'));
  `.execute(db);
}

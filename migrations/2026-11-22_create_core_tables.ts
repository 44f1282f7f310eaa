import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was on 2026-11-22 and imports nothing from src/.
// The ingest function (switchboard_ingest) is the hot path's single round trip; later changes to it are new
// migrations that CREATE OR REPLACE it.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Time-ordered UUIDs (RFC 9562 version 7): new rows land at the right edge of each primary-key index
    -- instead of on random pages, which keeps the ingest path's index writes and WAL small.
    create function uuid_v7() returns uuid language sql volatile as $$
      select encode(
        set_bit(set_bit(
          overlay(uuid_send(gen_random_uuid())
            placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
            from 1 for 6),
          52, 1), 53, 1),
        'hex')::uuid
    $$;

    -- Closed sets of values as domains rather than table CHECK constraints: Postgres re-reads and compiles a
    -- table's CHECK constraints on every INSERT statement, which cost the ingest function a quarter of its
    -- time; a domain's check is cached per session. Text in, text out: code and queries see plain text.
    create domain channel_name as text check (value in ('voice', 'email', 'chat', 'fax'));
    create domain identity_kind as text check (value in ('phone', 'email', 'chat_visitor', 'fax'));
    create domain interaction_direction as text check (value in ('inbound', 'outbound'));
    create domain interaction_status as text
      check (value in ('new', 'queued', 'offered', 'assigned', 'wrap_up', 'closed'));
    create domain actor_kind as text check (value in ('customer', 'agent', 'system'));

    create table agents (
      id uuid primary key default uuid_v7(),
      email text not null unique,
      display_name text not null,
      role text not null check (role in ('agent', 'supervisor', 'admin')),
      password_hash text not null,
      is_disabled boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );

    create table agent_skills (
      agent_id uuid not null references agents(id) on delete cascade,
      skill text not null,
      level smallint not null check (level between 1 and 5),
      primary key (agent_id, skill)
    );

    create table agent_capacities (
      agent_id uuid not null references agents(id) on delete cascade,
      channel channel_name not null,
      capacity smallint not null check (capacity >= 0),
      primary key (agent_id, channel)
    );

    create table accounts (
      id uuid primary key default uuid_v7(),
      name text not null,
      tier text not null default 'standard',
      owner_agent_id uuid references agents(id) on delete set null,
      created_at timestamptz not null default now()
    );

    create table customers (
      id uuid primary key default uuid_v7(),
      display_name text,
      account_id uuid references accounts(id) on delete set null,
      merged_into_id uuid references customers(id),
      -- Set when something new may reveal a duplicate (a new customer or identity, a number in a message);
      -- the duplicate sweep job checks the customer and clears it. Keeps detection off the ingest path.
      duplicate_check_requested_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index customers_display_name_idx on customers (lower(display_name)) where merged_into_id is null;
    create index customers_duplicate_check_idx on customers (duplicate_check_requested_at)
      where duplicate_check_requested_at is not null;
    create index customers_account_idx on customers (account_id);

    create table identities (
      id uuid primary key default uuid_v7(),
      customer_id uuid not null references customers(id),
      kind identity_kind not null,
      value text not null,
      raw_value text not null,
      created_at timestamptz not null default now(),
      unique (kind, value)
    );
    create index identities_customer_idx on identities (customer_id);
    -- Suffix search (national phone numbers, email domains) for duplicate detection.
    create index identities_reverse_value_idx on identities (kind, reverse(value) text_pattern_ops);

    create table interactions (
      id uuid primary key default uuid_v7(),
      ticket_number bigint generated always as identity unique,
      customer_id uuid not null references customers(id),
      channel channel_name not null,
      direction interaction_direction not null,
      status interaction_status not null default 'new',
      queue text,
      priority integer not null default 0,
      assignee_id uuid references agents(id) on delete set null,
      external_id text not null,
      thread_key text,
      subject text,
      created_at timestamptz not null default now(),
      offered_at timestamptz,
      assigned_at timestamptz,
      first_response_at timestamptz,
      closed_at timestamptz,
      updated_at timestamptz not null default now(),
      unique (channel, external_id)
    );
    create index interactions_customer_idx on interactions (customer_id, created_at desc);
    create index interactions_open_thread_idx on interactions (channel, thread_key)
      where thread_key is not null and status <> 'closed';
    create index interactions_assignee_idx on interactions (assignee_id)
      where assignee_id is not null and status <> 'closed';

    -- The unified log. Append-only: a trigger refuses UPDATE and DELETE. Events belong to interactions, not
    -- to customers, so a customer merge moves interactions and never rewrites history.
    create table interaction_events (
      id bigint generated always as identity primary key,
      interaction_id uuid not null references interactions(id),
      type text not null,
      actor_type actor_kind not null,
      actor_id text,
      channel text not null,
      external_id text,
      payload jsonb not null default '{}'::jsonb,
      occurred_at timestamptz not null default now(),
      recorded_at timestamptz not null default now()
    );
    create unique index interaction_events_external_idx on interaction_events (channel, external_id)
      where external_id is not null;
    create index interaction_events_interaction_idx on interaction_events (interaction_id, occurred_at desc, id desc);

    create function interaction_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'interaction_events is append-only (% refused)', tg_op using errcode = 'P0001';
    end $$;
    create trigger interaction_events_append_only before update or delete on interaction_events
      for each row execute function interaction_events_append_only();
    create trigger interaction_events_no_truncate before truncate on interaction_events
      for each statement execute function interaction_events_append_only();

    create table attachments (
      id uuid primary key default uuid_v7(),
      interaction_id uuid not null references interactions(id),
      event_id bigint references interaction_events(id),
      file_name text not null,
      content_type text not null,
      size_bytes bigint not null check (size_bytes >= 0),
      storage_key text not null,
      sha256 text,
      created_at timestamptz not null default now()
    );
    create index attachments_interaction_idx on attachments (interaction_id);

    -- Pairs are stored once, smaller id first.
    create table duplicate_suggestions (
      id uuid primary key default uuid_v7(),
      customer_id uuid not null references customers(id),
      other_customer_id uuid not null references customers(id),
      score real not null check (score > 0 and score <= 1),
      reasons jsonb not null,
      status text not null default 'open' check (status in ('open', 'merged', 'dismissed')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check (customer_id < other_customer_id),
      unique (customer_id, other_customer_id)
    );
    create index duplicate_suggestions_open_idx on duplicate_suggestions (created_at desc) where status = 'open';

    -- Phone numbers and emails seen in what a customer wrote (an email signature), for duplicate detection.
    create table identity_mentions (
      customer_id uuid not null references customers(id),
      kind text not null,
      value text not null,
      event_id bigint not null references interaction_events(id),
      primary key (customer_id, kind, value)
    );
    create index identity_mentions_value_idx on identity_mentions (kind, value);

    create table audit_log (
      id bigint generated always as identity primary key,
      actor_id uuid references agents(id) on delete set null,
      action text not null,
      subject_type text not null,
      subject_id text not null,
      details jsonb not null default '{}'::jsonb,
      occurred_at timestamptz not null default now()
    );
    create index audit_log_subject_idx on audit_log (subject_type, subject_id, occurred_at desc);
  `.execute(db);

  await sql.raw(INGEST_FUNCTION).execute(db);
  await sql.raw(INGEST_BATCH_FUNCTION).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop function if exists switchboard_ingest_batch(jsonb);
    drop function if exists switchboard_ingest(jsonb);
    drop table if exists audit_log, identity_mentions, duplicate_suggestions, attachments;
    drop table if exists interaction_events;
    drop function if exists interaction_events_append_only();
    drop table if exists interactions, identities, customers, accounts, agent_capacities, agent_skills, agents;
    drop function if exists uuid_v7();
    drop domain if exists channel_name, identity_kind, interaction_direction, interaction_status, actor_kind;
  `.execute(db);
}

/*
 * switchboard_ingest(contact jsonb) -> jsonb, the whole ingest in one round trip.
 * Input (already normalized by the caller): channel, externalId, direction, occurredAt, displayName,
 * threadKey (null or non-empty), subject, identities [{kind, value, raw}] (deduplicated), attachments
 * [{fileName, contentType, sizeBytes, storageKey, sha256}], eventPayload, mayRevealDuplicate (the text
 * may hold a phone number).
 * Serialization: advisory transaction locks on the external id, the thread key and every identity, taken in
 * one sorted batch, so two processes ingesting the same contact (or two contacts of one new customer) at the
 * same instant queue up instead of racing; the unique indexes remain the last word.
 * Output: {duplicate, interactionId, customerId, eventId, isNewInteraction, isNewCustomer, newIdentityIds,
 * otherCustomerIds (customers that owned other identities of this contact)}.
 * Written for speed (it is the hot path): one statement per step, steps skipped when they have nothing to do.
 */
const INGEST_FUNCTION = `
create function switchboard_ingest(contact jsonb) returns jsonb language plpgsql
-- Every lookup here is by key. A session caches its plans, and plans made while a table was new and empty
-- are sequential scans that stay cached as the table grows (seen: 0.6 ms per duplicate check after a few
-- thousand contacts). With sequential scans off, the planner takes the index whatever the statistics say.
set enable_seqscan = off
as $fn$
declare
  v_channel text := contact->>'channel';
  v_external text := contact->>'externalId';
  v_thread text := contact->>'threadKey';
  v_at timestamptz := coalesce((contact->>'occurredAt')::timestamptz, now());
  v_identities jsonb := coalesce(contact->'identities', '[]'::jsonb);
  v_count int := jsonb_array_length(coalesce(contact->'identities', '[]'::jsonb));
  v_i int;
  v_match uuid;
  v_named boolean;
  v_found int := 0;
  v_has_name boolean := true;
  v_customer uuid;
  v_interaction uuid;
  v_event bigint;
  v_new_customer boolean := false;
  v_new_interaction boolean := false;
  v_new_identities uuid[] := '{}';
  v_others uuid[] := '{}';
  v_existing record;
begin
  perform pg_advisory_xact_lock(k) from (
    select hashtextextended('ext:' || v_channel || ':' || v_external, 0) as k
    union select hashtextextended('thread:' || v_channel || ':' || v_thread, 0) where v_thread is not null
    union select hashtextextended('id:' || (i->>'kind') || ':' || (i->>'value'), 0) from jsonb_array_elements(v_identities) i
    order by 1
  ) keys;

  select e.id, e.interaction_id, i.customer_id into v_existing
    from interaction_events e join interactions i on i.id = e.interaction_id
    where e.channel = v_channel and e.external_id = v_external;
  if found then
    return jsonb_build_object('duplicate', true, 'eventId', v_existing.id,
      'interactionId', v_existing.interaction_id, 'customerId', v_existing.customer_id);
  end if;

  -- Known identities in the order given (sender first): the first decides the customer. One indexed
  -- lookup each (a set-based join here gets a hash-join plan that scans the whole table).
  for v_i in 0 .. v_count - 1 loop
    select i.customer_id, c.display_name is not null into v_match, v_named
      from identities i join customers c on c.id = i.customer_id
      where i.kind = v_identities->v_i->>'kind' and i.value = v_identities->v_i->>'value';
    if found then
      v_found := v_found + 1;
      if v_customer is null then
        v_customer := v_match;
        v_has_name := v_named;
      elsif v_match <> v_customer and not (v_match = any(v_others)) then
        v_others := v_others || v_match;
      end if;
    end if;
  end loop;

  if v_customer is null then
    insert into customers (display_name, created_at, duplicate_check_requested_at)
      values (contact->>'displayName', v_at, now())
      returning id into v_customer;
    v_new_customer := true;
  elsif (not v_has_name and contact->>'displayName' is not null) or v_found < v_count
      or cardinality(v_others) > 0 or (contact->>'mayRevealDuplicate')::boolean then
    update customers set
        display_name = coalesce(display_name, contact->>'displayName'),
        duplicate_check_requested_at = case when v_found < v_count or cardinality(v_others) > 0
          or (contact->>'mayRevealDuplicate')::boolean then now() else duplicate_check_requested_at end,
        updated_at = now()
      where id = v_customer;
  end if;

  if v_found < v_count then
    with added as (
      insert into identities (customer_id, kind, value, raw_value)
        select v_customer, j->>'kind', j->>'value', coalesce(j->>'raw', j->>'value')
        from jsonb_array_elements(v_identities) j
        on conflict (kind, value) do nothing
        returning id
    ) select coalesce(array_agg(id), '{}') into v_new_identities from added;
  end if;

  -- One contact that carried identities of several customers: the strongest duplicate signal, recorded now.
  if cardinality(v_others) > 0 then
    insert into duplicate_suggestions (customer_id, other_customer_id, score, reasons)
      select least(v_customer, o), greatest(v_customer, o), 0.95,
        jsonb_build_array(jsonb_build_object('code', 'shared_contact', 'detail', 'one contact carried identities of both'))
      from unnest(v_others) o
      on conflict (customer_id, other_customer_id) do update
        set score = greatest(duplicate_suggestions.score, excluded.score),
            reasons = (select jsonb_agg(distinct r) from jsonb_array_elements(duplicate_suggestions.reasons || excluded.reasons) r),
            updated_at = now()
        where duplicate_suggestions.status = 'open';
  end if;

  if v_thread is not null and not v_new_customer then
    select id into v_interaction from interactions
      where channel = v_channel and thread_key = v_thread and status <> 'closed' and customer_id = v_customer
      order by created_at desc limit 1;
  end if;

  if v_interaction is null then
    insert into interactions (customer_id, channel, direction, external_id, thread_key, subject, created_at)
      values (v_customer, v_channel, contact->>'direction', v_external, v_thread, contact->>'subject', v_at)
      returning id into v_interaction;
    v_new_interaction := true;
    with logged as (
      insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, external_id, payload, occurred_at)
        values
          (v_interaction, 'interaction.created', 'system', null, v_channel, null,
            jsonb_build_object('direction', contact->>'direction', 'threadKey', v_thread, 'subject', contact->>'subject'), v_at),
          (v_interaction, 'message.received', 'customer', v_customer::text, v_channel, v_external,
            coalesce(contact->'eventPayload', '{}'::jsonb), v_at)
        returning id
    ) select max(id) into v_event from logged;
  else
    update interactions set updated_at = now() where id = v_interaction;
    insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, external_id, payload, occurred_at)
      values (v_interaction, 'message.received', 'customer', v_customer::text, v_channel, v_external,
        coalesce(contact->'eventPayload', '{}'::jsonb), v_at)
      returning id into v_event;
  end if;

  if jsonb_array_length(coalesce(contact->'attachments', '[]'::jsonb)) > 0 then
    insert into attachments (interaction_id, event_id, file_name, content_type, size_bytes, storage_key, sha256)
      select v_interaction, v_event, a->>'fileName', a->>'contentType', (a->>'sizeBytes')::bigint, a->>'storageKey', a->>'sha256'
      from jsonb_array_elements(contact->'attachments') a;
  end if;

  return jsonb_build_object('duplicate', false, 'eventId', v_event, 'interactionId', v_interaction,
    'customerId', v_customer, 'isNewInteraction', v_new_interaction, 'isNewCustomer', v_new_customer,
    'newIdentityIds', to_jsonb(v_new_identities), 'otherCustomerIds', to_jsonb(v_others));
end
$fn$;
`;

/*
 * switchboard_ingest_batch(contacts jsonb array) -> jsonb array of switchboard_ingest results, in order, in
 * one transaction: under load the application sends the contacts that queued up while the previous batch
 * was in flight, so one round trip and one commit serve several contacts. Every lock key of the whole batch
 * is taken first, in one sorted pass, so two batches can never deadlock; each contact's own locks are then
 * re-entrant. A contact repeated within the batch comes back as a duplicate of the first.
 */
const INGEST_BATCH_FUNCTION = `
create function switchboard_ingest_batch(contacts jsonb) returns jsonb language plpgsql
set enable_seqscan = off
as $fn$
declare
  v_results jsonb := '[]'::jsonb;
  v_contact jsonb;
begin
  perform pg_advisory_xact_lock(k) from (
    select hashtextextended('ext:' || (c->>'channel') || ':' || (c->>'externalId'), 0) as k
      from jsonb_array_elements(contacts) c
    union select hashtextextended('thread:' || (c->>'channel') || ':' || (c->>'threadKey'), 0)
      from jsonb_array_elements(contacts) c where c->>'threadKey' is not null
    union select hashtextextended('id:' || (i->>'kind') || ':' || (i->>'value'), 0)
      from jsonb_array_elements(contacts) c, jsonb_array_elements(coalesce(c->'identities', '[]'::jsonb)) i
    order by 1
  ) keys;
  for v_contact in select value from jsonb_array_elements(contacts) loop
    v_results := v_results || jsonb_build_array(switchboard_ingest(v_contact));
  end loop;
  return v_results;
end
$fn$;
`;

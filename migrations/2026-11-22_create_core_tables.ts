import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was on 2026-11-22 and imports nothing from src/.
// The ingest function (switchboard_ingest) is the hot path's single round trip; later changes to it are new
// migrations that CREATE OR REPLACE it.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table agents (
      id uuid primary key default gen_random_uuid(),
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
      channel text not null check (channel in ('voice', 'email', 'chat', 'fax')),
      capacity smallint not null check (capacity >= 0),
      primary key (agent_id, channel)
    );

    create table accounts (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      tier text not null default 'standard',
      owner_agent_id uuid references agents(id) on delete set null,
      created_at timestamptz not null default now()
    );

    create table customers (
      id uuid primary key default gen_random_uuid(),
      display_name text,
      account_id uuid references accounts(id) on delete set null,
      merged_into_id uuid references customers(id),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index customers_display_name_idx on customers (lower(display_name)) where merged_into_id is null;
    create index customers_account_idx on customers (account_id);

    create table identities (
      id uuid primary key default gen_random_uuid(),
      customer_id uuid not null references customers(id),
      kind text not null check (kind in ('phone', 'email', 'chat_visitor', 'fax')),
      value text not null,
      raw_value text not null,
      created_at timestamptz not null default now(),
      unique (kind, value)
    );
    create index identities_customer_idx on identities (customer_id);
    create index identities_value_idx on identities (value);
    -- Suffix search (national phone numbers, email domains) for duplicate detection.
    create index identities_reverse_value_idx on identities (kind, reverse(value) text_pattern_ops);

    create table interactions (
      id uuid primary key default gen_random_uuid(),
      ticket_number bigint generated always as identity unique,
      customer_id uuid not null references customers(id),
      channel text not null check (channel in ('voice', 'email', 'chat', 'fax')),
      direction text not null check (direction in ('inbound', 'outbound')),
      status text not null default 'new'
        check (status in ('new', 'queued', 'offered', 'assigned', 'wrap_up', 'closed')),
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
    create index interactions_open_thread_idx on interactions (channel, thread_key) where status <> 'closed';
    create index interactions_assignee_idx on interactions (assignee_id) where status <> 'closed';

    -- The unified log. Append-only: a trigger refuses UPDATE and DELETE. Events belong to interactions, not
    -- to customers, so a customer merge moves interactions and never rewrites history.
    create table interaction_events (
      id bigint generated always as identity primary key,
      interaction_id uuid not null references interactions(id),
      type text not null,
      actor_type text not null check (actor_type in ('customer', 'agent', 'system')),
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

    create table attachments (
      id uuid primary key default gen_random_uuid(),
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
      id uuid primary key default gen_random_uuid(),
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
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop function if exists switchboard_ingest(jsonb);
    drop table if exists audit_log, identity_mentions, duplicate_suggestions, attachments;
    drop table if exists interaction_events;
    drop function if exists interaction_events_append_only();
    drop table if exists interactions, identities, customers, accounts, agent_capacities, agent_skills, agents;
  `.execute(db);
}

/*
 * switchboard_ingest(contact jsonb) -> jsonb, the whole ingest in one round trip.
 * Input (already normalized by the caller): channel, externalId, direction, occurredAt, displayName,
 * threadKey, subject, identities [{kind, value, raw}], attachments [{fileName, contentType, sizeBytes,
 * storageKey, sha256}], eventPayload, eventType.
 * Serialization: advisory transaction locks on the external id, the thread key and every identity, taken in
 * one sorted batch, so two processes ingesting the same contact (or two contacts of one new customer) at the
 * same instant queue up instead of racing; the unique indexes remain the last word.
 * Output: {duplicate, interactionId, customerId, eventId, isNewInteraction, isNewCustomer, newIdentityIds,
 * otherCustomerIds (customers that owned other identities of this contact)}.
 */
const INGEST_FUNCTION = `
create function switchboard_ingest(contact jsonb) returns jsonb language plpgsql as $fn$
declare
  v_channel text := contact->>'channel';
  v_external text := contact->>'externalId';
  v_thread text := nullif(contact->>'threadKey', '');
  v_at timestamptz := coalesce((contact->>'occurredAt')::timestamptz, now());
  v_customer uuid;
  v_interaction uuid;
  v_event bigint;
  v_new_customer boolean := false;
  v_new_interaction boolean := false;
  v_new_identities uuid[] := '{}';
  v_others uuid[] := '{}';
  v_existing record;
  v_identity jsonb;
  v_found uuid;
  v_id uuid;
begin
  perform pg_advisory_xact_lock(k) from (
    select hashtextextended('ext:' || v_channel || ':' || v_external, 0) as k
    union select hashtextextended('thread:' || v_channel || ':' || v_thread, 0) where v_thread is not null
    union select hashtextextended('id:' || (i->>'kind') || ':' || (i->>'value'), 0)
      from jsonb_array_elements(coalesce(contact->'identities', '[]'::jsonb)) i
    order by 1
  ) keys;

  select e.id, e.interaction_id, i.customer_id into v_existing
    from interaction_events e join interactions i on i.id = e.interaction_id
    where e.channel = v_channel and e.external_id = v_external;
  if found then
    return jsonb_build_object('duplicate', true, 'eventId', v_existing.id,
      'interactionId', v_existing.interaction_id, 'customerId', v_existing.customer_id);
  end if;

  -- The first identity that is already known decides the customer (adapters list the sender first).
  for v_identity in select * from jsonb_array_elements(coalesce(contact->'identities', '[]'::jsonb)) loop
    select c.id into v_found from identities i join customers c on c.id = i.customer_id
      where i.kind = v_identity->>'kind' and i.value = v_identity->>'value';
    if v_found is not null then
      -- Follow merges so a stale identity never resurrects a merged customer.
      while exists (select 1 from customers where id = v_found and merged_into_id is not null) loop
        select merged_into_id into v_found from customers where id = v_found;
      end loop;
      if v_customer is null then
        v_customer := v_found;
      elsif v_found <> v_customer and not (v_found = any(v_others)) then
        v_others := v_others || v_found;
      end if;
    end if;
  end loop;

  if v_customer is null then
    insert into customers (display_name, created_at) values (nullif(contact->>'displayName', ''), v_at)
      returning id into v_customer;
    v_new_customer := true;
  elsif contact->>'displayName' is not null then
    update customers set display_name = contact->>'displayName', updated_at = now()
      where id = v_customer and display_name is null;
  end if;

  for v_identity in select * from jsonb_array_elements(coalesce(contact->'identities', '[]'::jsonb)) loop
    insert into identities (customer_id, kind, value, raw_value)
      values (v_customer, v_identity->>'kind', v_identity->>'value', coalesce(v_identity->>'raw', v_identity->>'value'))
      on conflict (kind, value) do nothing
      returning id into v_id;
    if v_id is not null then
      v_new_identities := v_new_identities || v_id;
      v_id := null;
    end if;
  end loop;

  if v_thread is not null then
    select id into v_interaction from interactions
      where channel = v_channel and thread_key = v_thread and status <> 'closed' and customer_id = v_customer
      order by created_at desc limit 1;
  end if;

  if v_interaction is null then
    insert into interactions (customer_id, channel, direction, external_id, thread_key, subject, created_at)
      values (v_customer, v_channel, contact->>'direction', v_external, v_thread, contact->>'subject', v_at)
      returning id into v_interaction;
    v_new_interaction := true;
    insert into interaction_events (interaction_id, type, actor_type, channel, payload, occurred_at)
      values (v_interaction, 'interaction.created', 'system', v_channel,
        jsonb_build_object('direction', contact->>'direction', 'threadKey', v_thread, 'subject', contact->>'subject'), v_at);
  else
    update interactions set updated_at = now() where id = v_interaction;
  end if;

  insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, external_id, payload, occurred_at)
    values (v_interaction, coalesce(contact->>'eventType', 'message.received'), 'customer', v_customer::text, v_channel,
      v_external, coalesce(contact->'eventPayload', '{}'::jsonb), v_at)
    returning id into v_event;

  insert into attachments (interaction_id, event_id, file_name, content_type, size_bytes, storage_key, sha256)
    select v_interaction, v_event, a->>'fileName', a->>'contentType', (a->>'sizeBytes')::bigint, a->>'storageKey', a->>'sha256'
    from jsonb_array_elements(coalesce(contact->'attachments', '[]'::jsonb)) a;

  return jsonb_build_object('duplicate', false, 'eventId', v_event, 'interactionId', v_interaction,
    'customerId', v_customer, 'isNewInteraction', v_new_interaction, 'isNewCustomer', v_new_customer,
    'newIdentityIds', to_jsonb(v_new_identities), 'otherCustomerIds', to_jsonb(v_others));
end
$fn$;
`;

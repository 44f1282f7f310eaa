import { sql, type Kysely } from 'kysely';

// Frozen in time: the ingest functions as they were on 2026-11-23; imports nothing from src/. The tables are
// unchanged: this migration replaces switchboard_ingest_batch (and switchboard_ingest, now one contact through
// it) with a version that writes a whole batch in multi-row statements, and down() puts back the 2026-11-22
// bodies.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql.raw(INGEST_BATCH_FUNCTION).execute(db);
  await sql.raw(INGEST_FUNCTION).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw(PREVIOUS_INGEST_FUNCTION).execute(db);
  await sql.raw(PREVIOUS_INGEST_BATCH_FUNCTION).execute(db);
}

/*
 * switchboard_ingest_batch(contacts jsonb array) -> jsonb array of results, in order, in one transaction.
 * Each contact and each result is as the 2026-11-22 switchboard_ingest documents them (input: channel,
 * externalId, direction, occurredAt, displayName, threadKey, subject, identities [{kind, value, raw}],
 * attachments, eventPayload, mayRevealDuplicate; output: duplicate, eventId, interactionId, customerId,
 * isNewInteraction, isNewCustomer, newIdentityIds, otherCustomerIds), and so are the semantics.
 *
 * Locks: every advisory lock key of the batch (external id, thread key, identity; the same keys as before,
 * which the merge also takes) in one sorted pass, so two batches never deadlock.
 *
 * Why it is shaped this way: a statement's fixed cost (executor start-up, opening the table and its indexes,
 * partial-index predicates, CHECK constraints, end-of-statement foreign-key triggers) is most of a single-row
 * INSERT into interactions or interaction_events. So each contact is resolved one at a time with cheap
 * indexed reads (duplicate, identities, open thread), exactly as before, and the decided rows are then written
 * for the whole batch at once: one INSERT for new customers, one for identities, one for interactions, one
 * for events. Ids are decided up front (uuid_v7()) so that rows can be written in any statement.
 *
 * A contact can depend on an earlier one in the same batch only through a shared key (the same external id,
 * thread key or identity): a batch in which some key is shared is processed one contact at a time, each
 * written before the next is resolved, which is the 2026-11-22 behaviour (a repeat comes back as a duplicate
 * of the first; a second message of a new chat session joins the first one's interaction).
 *
 * Function settings: plans are cached per session, and one made while a table was new and empty is a
 * sequential scan that stays cached as the table grows, so sequential scans are off (every lookup is by key).
 * Plans are always generic: the statements take arrays whose length the planner cannot know, and with custom
 * plans it re-planned the multi-row statements on every call (a custom plan, costed for the actual lengths,
 * always looks cheaper than the generic one). A generic plan is made at a session's first call, often while
 * the tables are still empty and every index looks alike to the planner: the lookups below are written so
 * that any index it may pick for them is used as a key lookup.
 */
const INGEST_BATCH_FUNCTION = `
create or replace function switchboard_ingest_batch(contacts jsonb) returns jsonb language plpgsql
set enable_seqscan = off
set plan_cache_mode = force_generic_plan
as $fn$
declare
  v_total int := jsonb_array_length(contacts);
  v_results jsonb[] := array_fill(null::jsonb, array[jsonb_array_length(contacts)]);
  -- Some lock key is shared by two contacts: write each before resolving the next.
  v_one_by_one boolean;
  v_start int := 0;
  v_end int;
  v_pos int;
  v_contact jsonb;
  v_channel text;
  v_external text;
  v_thread text;
  v_identities jsonb;
  v_count int;
  v_i int;
  v_match uuid;
  v_named boolean;
  v_found int;
  v_has_name boolean;
  v_customer uuid;
  v_interaction uuid;
  v_new_customer boolean;
  v_new_interaction boolean;
  v_others uuid[];
  v_existing record;
  v_event_ids bigint[];
  v_new_identity_ids jsonb;
  -- What the resolved contacts of the current segment write: positions in the batch and the decided ids.
  w_pos int[];
  w_customer uuid[];
  w_interaction uuid[];
  w_opens boolean[];
  w_new_customer_pos int[];
  w_new_customer uuid[];
  w_identity_pos int[];
  w_identity_customer uuid[];
  w_threaded uuid[];
  w_has_attachments boolean;
begin
  select coalesce(bool_or(uses > 1), false) into v_one_by_one from (
    select uses, pg_advisory_xact_lock(k) from (
      select k, count(*) as uses from (
        select hashtextextended('ext:' || (c->>'channel') || ':' || (c->>'externalId'), 0) as k
          from jsonb_array_elements(contacts) c
        union all select hashtextextended('thread:' || (c->>'channel') || ':' || (c->>'threadKey'), 0)
          from jsonb_array_elements(contacts) c where c->>'threadKey' is not null
        union all select hashtextextended('id:' || (i->>'kind') || ':' || (i->>'value'), 0)
          from jsonb_array_elements(contacts) c, jsonb_array_elements(coalesce(c->'identities', '[]'::jsonb)) i
      ) keys group by k order by k
    ) sorted
  ) locked;

  -- Segments: the whole batch, or one contact at a time.
  while v_start < v_total loop
    v_end := case when v_one_by_one then v_start + 1 else v_total end;
    w_pos := '{}'; w_customer := '{}'; w_interaction := '{}'; w_opens := '{}';
    w_new_customer_pos := '{}'; w_new_customer := '{}'; w_identity_pos := '{}'; w_identity_customer := '{}';
    w_threaded := '{}'; w_has_attachments := false; v_new_identity_ids := '{}';

    for v_pos in v_start .. v_end - 1 loop
      v_contact := contacts->v_pos;
      v_channel := v_contact->>'channel';
      v_external := v_contact->>'externalId';
      v_thread := v_contact->>'threadKey';
      v_identities := coalesce(v_contact->'identities', '[]'::jsonb);
      v_count := jsonb_array_length(v_identities);

      -- One table, the customer by a subquery: a join here, planned while the tables were empty, scanned
      -- a whole index for every contact.
      select e.id, e.interaction_id, (select i.customer_id from interactions i where i.id = e.interaction_id)
          as customer_id
        into v_existing
        from interaction_events e
        where e.channel = v_channel and e.external_id = v_external;
      if found then
        v_results[v_pos + 1] := jsonb_build_object('duplicate', true, 'eventId', v_existing.id,
          'interactionId', v_existing.interaction_id, 'customerId', v_existing.customer_id);
        continue;
      end if;

      -- Known identities in the order given (sender first): the first decides the customer. One indexed
      -- lookup each (a set-based join here gets a hash-join plan that scans the whole table). The reverse()
      -- condition changes no result: it makes the suffix index a key lookup too, should a plan made while
      -- the table was empty pick that index.
      v_customer := null;
      v_has_name := true;
      v_found := 0;
      v_others := '{}';
      for v_i in 0 .. v_count - 1 loop
        select i.customer_id, (select c.display_name is not null from customers c where c.id = i.customer_id)
          into v_match, v_named
          from identities i
          where i.kind = v_identities->v_i->>'kind' and i.value = v_identities->v_i->>'value'
            and reverse(i.value) = reverse(v_identities->v_i->>'value');
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

      v_new_customer := v_customer is null;
      if v_new_customer then
        v_customer := uuid_v7();
        w_new_customer_pos := w_new_customer_pos || v_pos;
        w_new_customer := w_new_customer || v_customer;
      elsif (not v_has_name and v_contact->>'displayName' is not null) or v_found < v_count
          or cardinality(v_others) > 0 or (v_contact->>'mayRevealDuplicate')::boolean then
        update customers set
            display_name = coalesce(display_name, v_contact->>'displayName'),
            duplicate_check_requested_at = case when v_found < v_count or cardinality(v_others) > 0
              or (v_contact->>'mayRevealDuplicate')::boolean then now() else duplicate_check_requested_at end,
            updated_at = now()
          where id = v_customer;
      end if;

      if v_found < v_count then
        w_identity_pos := w_identity_pos || v_pos;
        w_identity_customer := w_identity_customer || v_customer;
      end if;

      -- One contact that carried identities of several customers: the strongest duplicate signal, recorded
      -- now (every customer here exists already: a new customer has no known identity, so no others).
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

      v_interaction := null;
      if v_thread is not null and not v_new_customer then
        select id into v_interaction from interactions
          where channel = v_channel and thread_key = v_thread and status <> 'closed' and customer_id = v_customer
          order by created_at desc limit 1;
      end if;
      v_new_interaction := v_interaction is null;
      if v_new_interaction then
        v_interaction := uuid_v7();
      else
        w_threaded := w_threaded || v_interaction;
      end if;

      w_pos := w_pos || v_pos;
      w_customer := w_customer || v_customer;
      w_interaction := w_interaction || v_interaction;
      w_opens := w_opens || v_new_interaction;
      w_has_attachments := w_has_attachments
        or jsonb_array_length(coalesce(v_contact->'attachments', '[]'::jsonb)) > 0;
      v_results[v_pos + 1] := jsonb_build_object('duplicate', false, 'interactionId', v_interaction,
        'customerId', v_customer, 'isNewInteraction', v_new_interaction, 'isNewCustomer', v_new_customer,
        'otherCustomerIds', to_jsonb(v_others));
    end loop;

    if cardinality(w_pos) > 0 then
      if cardinality(w_new_customer) > 0 then
        insert into customers (id, display_name, created_at, duplicate_check_requested_at)
          select w.id, c->>'displayName', coalesce((c->>'occurredAt')::timestamptz, now()), now()
          from unnest(w_new_customer_pos, w_new_customer) with ordinality w(pos, id, ord),
            lateral (select contacts->w.pos) x(c)
          order by w.ord;
      end if;

      -- Every identity of the contact, as before: the known ones conflict and are skipped.
      if cardinality(w_identity_pos) > 0 then
        with added as (
          insert into identities (customer_id, kind, value, raw_value)
            select w.customer, j->>'kind', j->>'value', coalesce(j->>'raw', j->>'value')
            from unnest(w_identity_pos, w_identity_customer) with ordinality w(pos, customer, ord),
              jsonb_array_elements(contacts->w.pos->'identities') with ordinality j(j, o)
            order by w.ord, j.o
            on conflict (kind, value) do nothing
            returning id, kind, value
        )
        select coalesce(jsonb_object_agg(pos, ids), '{}') into v_new_identity_ids from (
          select w.pos, jsonb_agg(a.id order by j.o) as ids
          from unnest(w_identity_pos) w(pos),
            jsonb_array_elements(contacts->w.pos->'identities') with ordinality j(j, o)
            join added a on a.kind = j->>'kind' and a.value = j->>'value'
          group by w.pos
        ) added_by_contact;
      end if;

      insert into interactions (id, customer_id, channel, direction, external_id, thread_key, subject, created_at)
        select w.id, w.customer, c->>'channel', c->>'direction', c->>'externalId', c->>'threadKey', c->>'subject',
          coalesce((c->>'occurredAt')::timestamptz, now())
        from unnest(w_pos, w_interaction, w_customer, w_opens) with ordinality w(pos, id, customer, opens, ord),
          lateral (select contacts->w.pos) x(c)
        where w.opens
        order by w.ord;

      if cardinality(w_threaded) > 0 then
        update interactions set updated_at = now() where id = any(w_threaded);
      end if;

      -- Rows are inserted, and their ids drawn, in the order of the ORDER BY: a new interaction's
      -- interaction.created precedes its first message (lower id), and the message.received ids, in id order,
      -- are in the order of the contacts (matching them back by external id instead cost a join, as much as
      -- the insert itself for one contact).
      with logged as (
        insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, external_id, payload, occurred_at)
          select w.interaction, e.type, e.actor_type, e.actor_id, c->>'channel', e.external_id, e.payload,
            coalesce((c->>'occurredAt')::timestamptz, now())
          from unnest(w_pos, w_interaction, w_customer, w_opens) with ordinality w(pos, interaction, customer, opens, ord),
            lateral (select contacts->w.pos) x(c),
            lateral (values
              (1, 'interaction.created', 'system', null, null,
                jsonb_build_object('direction', c->>'direction', 'threadKey', c->>'threadKey', 'subject', c->>'subject')),
              (2, 'message.received', 'customer', w.customer::text, c->>'externalId',
                coalesce(c->'eventPayload', '{}'::jsonb))
            ) e(seq, type, actor_type, actor_id, external_id, payload)
          where w.opens or e.seq = 2
          order by w.ord, e.seq
          returning id, type
      )
      select array_agg(id order by id) into v_event_ids from logged where type = 'message.received';

      if w_has_attachments then
        insert into attachments (interaction_id, event_id, file_name, content_type, size_bytes, storage_key, sha256)
          select w.interaction, v_event_ids[w.ord], a->>'fileName', a->>'contentType', (a->>'sizeBytes')::bigint,
            a->>'storageKey', a->>'sha256'
          from unnest(w_pos, w_interaction) with ordinality w(pos, interaction, ord),
            jsonb_array_elements(coalesce(contacts->w.pos->'attachments', '[]'::jsonb)) a;
      end if;

      for v_i in 1 .. cardinality(w_pos) loop
        v_results[w_pos[v_i] + 1] := v_results[w_pos[v_i] + 1] || jsonb_build_object('eventId', v_event_ids[v_i],
          'newIdentityIds', coalesce(v_new_identity_ids->(w_pos[v_i]::text), '[]'::jsonb));
      end loop;
    end if;
    v_start := v_end;
  end loop;
  return to_jsonb(v_results);
end
$fn$;
`;

/* switchboard_ingest(contact jsonb) -> jsonb: one contact, through the batch function above. */
const INGEST_FUNCTION = `
create or replace function switchboard_ingest(contact jsonb) returns jsonb language sql
as $fn$
  select switchboard_ingest_batch(jsonb_build_array(contact))->0
$fn$;
`;

// The 2026-11-22 bodies, for down().
const PREVIOUS_INGEST_FUNCTION = `
create or replace function switchboard_ingest(contact jsonb) returns jsonb language plpgsql
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

const PREVIOUS_INGEST_BATCH_FUNCTION = `
create or replace function switchboard_ingest_batch(contacts jsonb) returns jsonb language plpgsql
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

import { sql, type Kysely } from 'kysely';

// Frozen in time: the email channel's tables and the ingest function as they were on 2026-11-25; imports
// nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Where each mailbox's ingest stands: the folder's UIDVALIDITY and the highest UID whose message is
    -- committed to the log. Advanced only after that commit, so a crash re-reads (ingest is idempotent on
    -- the Message-ID) rather than skips.
    create table mailbox_cursors (
      mailbox text primary key,
      uid_validity bigint not null,
      last_uid bigint not null,
      updated_at timestamptz not null default now()
    );

    -- Every message of the email channel by its Message-ID, ours (replies, acknowledgments) and the
    -- customers', with the interaction it belongs to and its participants (lower-cased From, To and Cc):
    -- threading looks a reply's In-Reply-To and References up here, and accepts a sender who is the
    -- interaction's customer or one of these participants.
    create table email_messages (
      id bigint generated always as identity primary key,
      message_id text not null,
      interaction_id uuid not null references interactions(id) on delete cascade,
      event_id bigint,
      direction interaction_direction not null,
      is_ours boolean not null,
      participants text[] not null default '{}',
      created_at timestamptz not null default now(),
      unique (message_id, interaction_id)
    );
    create index email_messages_interaction_idx on email_messages (interaction_id);

    -- Raw emails, their attachments and long message payloads are stored compressed (TOAST). pglz, the
    -- default, cost Postgres more CPU than the rest of an email's ingest together; lz4 compresses several
    -- times faster. Servers built without lz4 keep pglz.
    do $$ begin
      alter table attachment_contents alter column content set compression lz4;
      alter table interaction_events alter column payload set compression lz4;
    exception when feature_not_supported or invalid_parameter_value then
      raise notice 'lz4 is not available: stored values stay pglz-compressed';
    end $$;
  `.execute(db);
  await sql.raw(INGEST_BATCH_FUNCTION).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw(PREVIOUS_INGEST_BATCH_FUNCTION).execute(db);
  await sql`
    drop table if exists email_messages;
    drop table if exists mailbox_cursors;
  `.execute(db);
}

/*
 * switchboard_ingest_batch(contacts jsonb array) -> jsonb array of results: the 2026-11-23 function (see that
 * migration for its shape, locks and plan settings) with one addition, a channel's own threading. A contact
 * may carry:
 *   joinInteractionId    the interaction the channel's threading found (email: by our Message-IDs in the
 *                        reply, a plus-addressed reply token, or a [#ticket] subject token);
 *   joinReason           why, in words, recorded in the message.received payload as threading.reason;
 *   reopenWithinSeconds  how long after its close that interaction may be reopened.
 * An open interaction is joined (whatever its customer: the adapter checked that the sender is the
 * customer or a participant of the thread); a closed one is reopened (status new, routing columns cleared,
 * an interaction.reopened event) within the window, else a new interaction is opened with
 * linkedInteractionId in its interaction.created payload. Each result also carries isReopened,
 * threadOutcome (joined, reopened, linked, not-found, or null) and linkedInteractionId. Contacts naming the
 * same interaction share a lock key, so the batch takes them one at a time.
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
  -- A channel's own threading (below): the interaction it names, and what became of it.
  v_target record;
  v_outcome text;
  v_linked uuid;
  w_outcome text[];
  w_linked uuid[];
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
        union all select hashtextextended('join:' || (c->>'joinInteractionId'), 0)
          from jsonb_array_elements(contacts) c where c->>'joinInteractionId' is not null
      ) keys group by k order by k
    ) sorted
  ) locked;

  -- Segments: the whole batch, or one contact at a time.
  while v_start < v_total loop
    v_end := case when v_one_by_one then v_start + 1 else v_total end;
    w_pos := '{}'; w_customer := '{}'; w_interaction := '{}'; w_opens := '{}';
    w_new_customer_pos := '{}'; w_new_customer := '{}'; w_identity_pos := '{}'; w_identity_customer := '{}';
    w_threaded := '{}'; w_has_attachments := false; v_new_identity_ids := '{}';
    w_outcome := '{}'; w_linked := '{}';

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
      v_outcome := null;
      v_linked := null;
      -- The interaction a channel's own threading names (email: one of our Message-IDs, a reply token, a
      -- ticket number; the adapter checked that the sender belongs to that thread). An open one is joined
      -- whatever its customer; a closed one is reopened if it closed at most reopenWithinSeconds ago, else
      -- a new interaction is opened and linked to it. Locked, so that an agent's close and this decision
      -- come one after the other.
      if v_contact->>'joinInteractionId' is not null then
        select id, status, closed_at into v_target from interactions
          where id = (v_contact->>'joinInteractionId')::uuid and channel = v_channel
          for update;
        if not found then
          v_outcome := 'not-found';
        elsif v_target.status <> 'closed' then
          v_interaction := v_target.id;
          v_outcome := 'joined';
        elsif v_target.closed_at >= now()
            - make_interval(secs => coalesce((v_contact->>'reopenWithinSeconds')::double precision, 0)) then
          -- Back to the start of routing: queue, assignee, escalation and the ending are decided again.
          update interactions set status = 'new', queue = null, assignee_id = null, enqueued_at = null,
              queue_entered_at = null, escalation_step = 0, relax_levels = 0, extra_queues = '{}',
              offered_at = null, assigned_at = null, closed_at = null, closed_reason = null,
              disposition = null, updated_at = now()
            where id = v_target.id;
          v_interaction := v_target.id;
          v_outcome := 'reopened';
        else
          v_linked := v_target.id;
          v_outcome := 'linked';
        end if;
      end if;
      if v_interaction is null and v_thread is not null and not v_new_customer then
        select id into v_interaction from interactions
          where channel = v_channel and thread_key = v_thread and status <> 'closed' and customer_id = v_customer
          order by created_at desc limit 1;
      end if;
      v_new_interaction := v_interaction is null;
      if v_new_interaction then
        v_interaction := uuid_v7();
      elsif v_outcome is distinct from 'reopened' then
        w_threaded := w_threaded || v_interaction;
      end if;
      w_outcome := w_outcome || v_outcome;
      w_linked := w_linked || v_linked;

      w_pos := w_pos || v_pos;
      w_customer := w_customer || v_customer;
      w_interaction := w_interaction || v_interaction;
      w_opens := w_opens || v_new_interaction;
      w_has_attachments := w_has_attachments
        or jsonb_array_length(coalesce(v_contact->'attachments', '[]'::jsonb)) > 0;
      v_results[v_pos + 1] := jsonb_build_object('duplicate', false, 'interactionId', v_interaction,
        'customerId', v_customer, 'isNewInteraction', v_new_interaction, 'isNewCustomer', v_new_customer,
        'otherCustomerIds', to_jsonb(v_others), 'isReopened', v_outcome is not distinct from 'reopened',
        'threadOutcome', v_outcome, 'linkedInteractionId', v_linked);
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
          from unnest(w_pos, w_interaction, w_customer, w_opens, w_outcome, w_linked)
              with ordinality w(pos, interaction, customer, opens, outcome, linked, ord),
            lateral (select contacts->w.pos) x(c),
            -- Where the channel's threading put the message, and why (the adapter's reason).
            lateral (select case when w.outcome is null then '{}'::jsonb
              else jsonb_build_object('threading', jsonb_strip_nulls(jsonb_build_object('outcome', w.outcome,
                'reason', c->>'joinReason', 'threadInteractionId', c->>'joinInteractionId')))
              end) t(threading),
            lateral (values
              (1, 'interaction.created', 'system', null, null,
                jsonb_build_object('direction', c->>'direction', 'threadKey', c->>'threadKey', 'subject', c->>'subject')
                  || case when w.linked is null then '{}'::jsonb
                     else jsonb_build_object('linkedInteractionId', w.linked) end),
              (2, 'interaction.reopened', 'system', null, null,
                jsonb_build_object('reason', c->>'joinReason')),
              (3, 'message.received', 'customer', w.customer::text, c->>'externalId',
                coalesce(c->'eventPayload', '{}'::jsonb) || t.threading)
            ) e(seq, type, actor_type, actor_id, external_id, payload)
          where (e.seq = 1 and w.opens) or (e.seq = 2 and w.outcome is not distinct from 'reopened') or e.seq = 3
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

// The 2026-11-23 body, for down().
const PREVIOUS_INGEST_BATCH_FUNCTION = `
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

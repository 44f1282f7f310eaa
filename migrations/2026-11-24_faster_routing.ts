import { sql, type Kysely } from 'kysely';

// Frozen in time: routing's change markers and its grouped route of new contacts, as of 2026-11-24.
// Imports nothing from src/.

/*
 * Change markers. Every process keeps a snapshot of the working agents (state, idle clock, loads) and reads
 * only what changed since its last read. Each row of agent_states and agent_loads carries the id of the
 * transaction that last wrote it (a trigger sets it: every path that writes them, functions included, is
 * covered). A reader takes, in the same statement, its snapshot's xmin (the oldest transaction still running
 * then); next time it reads the rows written by that transaction or later. A row written by an older
 * transaction was committed (or aborted) before the previous read began and was seen by it; a row written by
 * a transaction still running then is read again until it is not. So no change is ever missed, whatever the
 * commit order, and an idle system reads nothing. xid8 is 64 bits: no wraparound to reason about.
 * Indexed: a scan of every agent and load row cost Postgres about 0.4 ms for 500 agents, read once per
 * dispatch; the indexes cost each of those updates a few microseconds (no HOT update for these rows).
 * switchboard_agent_changes(since) is that read; its plan is fixed to the indexes (plpgsql: planned once per
 * connection, where a SQL function with settings is planned on every call; a generic plan guesses a
 * third of the rows for `>= $1` and would scan the tables), without JIT (enable_seqscan = off prices the
 * cursors' scan at 1e10, and JIT then compiled for 270 ms).
 *
 * switchboard_route_contacts(p jsonb) -> jsonb: new interactions enqueued (routing.queued logged) and, for
 * each whose caller named an agent, offered to them in the same transaction: the claim of
 * switchboard_claim_offer (2026-11-22_create_routing_tables) without its own round trip, commit and second
 * update of the interaction. Callers send the contacts that arrive together as one call.
 * Input: an array of {interactionId, channel, queue, priority, queuedEvent (the routing.queued payload),
 * claim: null, or the claim fields of switchboard_claim_offer (agentId, capacity, exclusiveChannels,
 * strategy, reason, timeoutSeconds, rotationQueue, eventPayload)}.
 * Locks in the claim's order: the named agents' agent_states rows first, all at once, by agent id (as the
 * routing-control functions do), then each interaction (by its update). Contacts are taken in the order
 * given, each seeing the loads the ones before it left; each runs in its own subtransaction, so one that
 * fails (its error is returned) leaves the others done.
 * Output: an array, in the input's order, of
 *         {status: 'not_new', current}                (queued, offered... meanwhile: nothing changed)
 *       | {status: 'queued', agent: null}             (no claim asked)
 *       | {status: 'queued', agent: {state, loads}}   (the agent could not take it: as they are now)
 *       | {status: 'claimed', offerId, offeredAt, expiresAt, loadAfter}
 *       | {status: 'failed', error}                   (nothing of this contact was written)
 * The offer's own rows and events are exactly those of switchboard_claim_offer, and offers' trigger resets
 * the agent's idle clock as for any offer.
 */
const ROUTE_FUNCTIONS = `
create function switchboard_route_one(p jsonb) returns jsonb language plpgsql as $fn$
declare
  v_interaction uuid := (p->>'interactionId')::uuid;
  v_channel text := p->>'channel';
  v_claim jsonb := p->'claim';
  v_agent uuid := (v_claim->>'agentId')::uuid;
  v_capacity int := (v_claim->>'capacity')::int;
  v_state text;
  v_loads jsonb;
  v_load int;
  v_busy int;
  v_agent_now jsonb;
  v_is_claimed boolean := false;
  v_offer uuid;
  v_offered_at timestamptz;
  v_expires_at timestamptz;
begin
  if v_agent is not null then
    -- Locked already by switchboard_route_contacts; the row as this transaction left it.
    select s.state into v_state
      from agent_states s join agents a on a.id = s.agent_id
      where s.agent_id = v_agent and not a.is_disabled;
    if not found then
      v_agent_now := jsonb_build_object('state', 'offline', 'loads', '{}'::jsonb);
    else
      select coalesce(jsonb_object_agg(channel, load), '{}'::jsonb) into v_loads
        from agent_loads where agent_id = v_agent;
      v_load := coalesce((v_loads->>v_channel)::int, 0);
      select coalesce(sum((v_loads->>c)::int), 0) into v_busy
        from jsonb_array_elements_text(coalesce(v_claim->'exclusiveChannels', '[]'::jsonb)) c;
      if v_state not in ('available', 'on_contact') or v_busy > 0 or v_load >= v_capacity then
        v_agent_now := jsonb_build_object('state', v_state, 'loads', v_loads);
      else
        v_is_claimed := true;
        v_offered_at := clock_timestamp();
        v_expires_at := v_offered_at + make_interval(secs => (v_claim->>'timeoutSeconds')::int);
      end if;
    end if;
  end if;

  update interactions
    set status = case when v_is_claimed then 'offered' else 'queued' end,
      queue = p->>'queue', priority = (p->>'priority')::int,
      enqueued_at = now(), queue_entered_at = now(),
      offered_at = case when v_is_claimed then now() else offered_at end,
      updated_at = now()
    where id = v_interaction and status = 'new';
  if not found then
    return jsonb_build_object('status', 'not_new',
      'current', (select status from interactions where id = v_interaction));
  end if;

  if not v_is_claimed then
    insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload)
      values (v_interaction, 'routing.queued', 'system', null, v_channel, p->'queuedEvent');
    return jsonb_build_object('status', 'queued', 'agent', v_agent_now);
  end if;

  insert into offers (interaction_id, agent_id, channel, queue, strategy, reason, offered_at, expires_at,
      load_after, capacity)
    values (v_interaction, v_agent, v_channel, p->>'queue', v_claim->>'strategy', v_claim->>'reason',
      v_offered_at, v_expires_at, v_load + 1, v_capacity)
    returning id into v_offer;
  insert into agent_loads (agent_id, channel, load) values (v_agent, v_channel, 1)
    on conflict (agent_id, channel) do update set load = agent_loads.load + 1;
  if v_claim->>'rotationQueue' is not null then
    insert into routing_rotations (queue, last_agent_id, updated_at)
      values (v_claim->>'rotationQueue', v_agent, now())
      on conflict (queue) do update set last_agent_id = excluded.last_agent_id, updated_at = excluded.updated_at;
  end if;
  -- Both events in one statement: queued at the transaction's start, offered at the claim's instant.
  insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
    values (v_interaction, 'routing.queued', 'system', null, v_channel, p->'queuedEvent', now()),
      (v_interaction, 'offer.created', 'system', null, v_channel,
        coalesce(v_claim->'eventPayload', '{}'::jsonb)
          || jsonb_build_object('offerId', v_offer, 'expiresAt', to_jsonb(v_expires_at)),
        v_offered_at);

  return jsonb_build_object('status', 'claimed', 'offerId', v_offer, 'offeredAt', to_jsonb(v_offered_at),
    'expiresAt', to_jsonb(v_expires_at), 'loadAfter', v_load + 1);
end
$fn$;

create function switchboard_route_contacts(p jsonb) returns jsonb language plpgsql as $fn$
declare
  v_item jsonb;
  v_agent uuid;
  v_results jsonb := '[]'::jsonb;
begin
  -- Every named agent's row, by agent id: the order all routing writers lock agents in.
  for v_agent in select distinct (e->'claim'->>'agentId')::uuid as agent from jsonb_array_elements(p) e
      where e->'claim'->>'agentId' is not null order by agent loop
    perform 1 from agent_states where agent_id = v_agent for update;
  end loop;
  for v_item in select e from jsonb_array_elements(p) e loop
    v_results := v_results || jsonb_build_array(switchboard_route_one(v_item));
  end loop;
  return v_results;
end
$fn$;
`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table agent_states add column changed_xid xid8 not null default '0';
    alter table agent_loads add column changed_xid xid8 not null default '0';
    create function switchboard_mark_changed() returns trigger language plpgsql as $fn$
    begin
      new.changed_xid := pg_current_xact_id();
      return new;
    end
    $fn$;
    create trigger agent_states_changed before insert or update on agent_states
      for each row execute function switchboard_mark_changed();
    create trigger agent_loads_changed before insert or update on agent_loads
      for each row execute function switchboard_mark_changed();

  `.execute(db);
  await sql.raw(ROUTE_FUNCTIONS).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop function if exists switchboard_route_contacts(jsonb);
    drop function if exists switchboard_route_one(jsonb);
    drop trigger if exists agent_loads_changed on agent_loads;
    drop trigger if exists agent_states_changed on agent_states;
    drop function if exists switchboard_mark_changed();
    alter table agent_loads drop column if exists changed_xid;
    alter table agent_states drop column if exists changed_xid;
  `.execute(db);
}

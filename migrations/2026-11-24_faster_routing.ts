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
 * each whose caller named an agent who can take it, offered to them, all in one transaction: the claim of
 * switchboard_claim_offer (2026-11-22_create_routing_tables) for the contacts that arrive together, with
 * one statement per table for all of them instead of one per contact (each statement's fixed cost was most
 * of a claim).
 * Input: an array of {interactionId, channel, queue, priority, queuedEvent (the routing.queued payload),
 * claim: null, or the claim fields of switchboard_claim_offer (agentId, capacity, exclusiveChannels,
 * strategy, reason, timeoutSeconds, rotationQueue, eventPayload)}.
 * Locks in the claim's order: the named agents' agent_states rows, by agent id (as the routing-control
 * functions do), then the interactions still 'new' (the others are left alone). Contacts are decided in the
 * order given, each seeing the loads the ones before it took; then every write is one statement.
 * Output: an array, in the input's order, of
 *         {status: 'not_new', current}                (queued, offered... meanwhile, or twice in the input)
 *       | {status: 'queued', agent: null}             (no claim asked)
 *       | {status: 'queued', agent: {state, loads}}   (the agent could not take it: as they are now)
 *       | {status: 'claimed', offerId, offeredAt, expiresAt, loadAfter}
 * The offers, loads, rotations and events written are exactly those of switchboard_claim_offer plus the
 * routing.queued event, and offers' trigger resets each agent's idle clock as for any offer.
 */
const ROUTE_FUNCTION = `
create function switchboard_route_contacts(p jsonb) returns jsonb language plpgsql
-- The planner takes a jsonb array for 100 rows and would hash-join it with a scan of interactions; every
-- lookup here is by key. No JIT: the disabled scans are priced at 1e10, which would trigger it.
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set jit = off
as $fn$
declare
  v_agent uuid;
  v_new uuid[];
  v_agents jsonb;
  v_item jsonb;
  v_claim jsonb;
  v_index int := 0;
  v_seen uuid[] := '{}';
  v_interaction uuid;
  v_channel text;
  v_loads jsonb;
  v_load int;
  v_busy int;
  v_state text;
  v_decided jsonb := '[]'::jsonb;
  v_offered_at timestamptz;
  v_results jsonb;
begin
  -- Every named agent's row, by agent id: the order all routing writers lock agents in.
  for v_agent in select distinct (e->'claim'->>'agentId')::uuid as agent from jsonb_array_elements(p) e
      where e->'claim'->>'agentId' is not null order by agent loop
    perform 1 from agent_states where agent_id = v_agent for update;
  end loop;
  -- Then the interactions that are still new; only these are routed.
  select array_agg(n.id) into v_new from (select i.id from interactions i
    where i.id = any(array(select (e->>'interactionId')::uuid from jsonb_array_elements(p) e))
      and i.status = 'new'
    order by i.id
    for update) n;
  v_new := coalesce(v_new, '{}');
  -- The named agents as they are: state (disabled counts as offline) and loads.
  select coalesce(jsonb_object_agg(s.agent_id, jsonb_build_object(
      'state', case when a.is_disabled then 'offline' else s.state end,
      'loads', coalesce((select jsonb_object_agg(l.channel, l.load) from agent_loads l
        where l.agent_id = s.agent_id), '{}'::jsonb))), '{}'::jsonb)
    into v_agents
    from agent_states s join agents a on a.id = s.agent_id
    where s.agent_id = any(array(select (e->'claim'->>'agentId')::uuid from jsonb_array_elements(p) e
      where e->'claim'->>'agentId' is not null));

  -- Decide each contact in order: claimed, queued (with the agent as they are), or not new.
  for v_item in select e from jsonb_array_elements(p) e loop
    v_interaction := (v_item->>'interactionId')::uuid;
    v_channel := v_item->>'channel';
    v_claim := v_item->'claim';
    if not (v_interaction = any(v_new)) or v_interaction = any(v_seen) then
      v_decided := v_decided || jsonb_build_array(jsonb_build_object('i', v_index, 'outcome', 'not_new'));
    elsif v_claim is null or v_claim = 'null'::jsonb then
      v_decided := v_decided || jsonb_build_array(jsonb_build_object('i', v_index, 'outcome', 'queued'));
    else
      v_agent := (v_claim->>'agentId')::uuid;
      v_state := coalesce(v_agents->(v_agent::text)->>'state', 'offline');
      v_loads := coalesce(v_agents->(v_agent::text)->'loads', '{}'::jsonb);
      v_load := coalesce((v_loads->>v_channel)::int, 0);
      select coalesce(sum((v_loads->>c)::int), 0) into v_busy
        from jsonb_array_elements_text(coalesce(v_claim->'exclusiveChannels', '[]'::jsonb)) c;
      if v_state not in ('available', 'on_contact') or v_busy > 0 or v_load >= (v_claim->>'capacity')::int then
        v_decided := v_decided || jsonb_build_array(jsonb_build_object('i', v_index, 'outcome', 'queued',
          'agentNow', jsonb_build_object('state', v_state, 'loads', v_loads)));
      else
        v_offered_at := clock_timestamp();
        v_agents := jsonb_set(v_agents, array[v_agent::text, 'loads', v_channel], to_jsonb(v_load + 1));
        v_decided := v_decided || jsonb_build_array(jsonb_build_object('i', v_index, 'outcome', 'claimed',
          'offeredAt', v_offered_at,
          'expiresAt', v_offered_at + make_interval(secs => (v_claim->>'timeoutSeconds')::int),
          'loadAfter', v_load + 1));
      end if;
    end if;
    if v_interaction = any(v_new) then v_seen := v_seen || v_interaction; end if;
    v_index := v_index + 1;
  end loop;

  -- Every write, one statement each, for all the contacts at once.
  with d as (
    select (x.ordinality - 1)::int as i, x.item, dec.value as dec,
      (x.item->>'interactionId')::uuid as interaction_id, x.item->>'channel' as channel,
      (x.item->'claim'->>'agentId')::uuid as agent_id, dec.value->>'outcome' as outcome,
      (dec.value->>'offeredAt')::timestamptz as offered_at, (dec.value->>'expiresAt')::timestamptz as expires_at
    from jsonb_array_elements(p) with ordinality x(item, ordinality)
    join jsonb_array_elements(v_decided) dec on (dec.value->>'i')::int = x.ordinality - 1
  ), routed as (
    select * from d where outcome <> 'not_new'
  ), marked as (
    update interactions i
      set status = case when r.outcome = 'claimed' then 'offered' else 'queued' end,
        queue = r.item->>'queue', priority = (r.item->>'priority')::int,
        enqueued_at = now(), queue_entered_at = now(),
        offered_at = case when r.outcome = 'claimed' then now() else i.offered_at end,
        updated_at = now()
      from routed r where i.id = r.interaction_id
      returning i.id
  ), offered as (
    insert into offers (interaction_id, agent_id, channel, queue, strategy, reason, offered_at, expires_at,
        load_after, capacity)
      select r.interaction_id, r.agent_id, r.channel, r.item->>'queue', r.item->'claim'->>'strategy',
        r.item->'claim'->>'reason', r.offered_at, r.expires_at, (r.dec->>'loadAfter')::int,
        (r.item->'claim'->>'capacity')::int
      from routed r where r.outcome = 'claimed' order by r.i
      returning id, interaction_id
  ), loaded as (
    insert into agent_loads (agent_id, channel, load)
      select r.agent_id, r.channel, count(*) from routed r where r.outcome = 'claimed' group by 1, 2
      on conflict (agent_id, channel) do update set load = agent_loads.load + excluded.load
  ), rotated as (
    insert into routing_rotations (queue, last_agent_id, updated_at)
      select distinct on (r.item->'claim'->>'rotationQueue') r.item->'claim'->>'rotationQueue', r.agent_id, now()
      from routed r where r.outcome = 'claimed' and r.item->'claim'->>'rotationQueue' is not null
      order by r.item->'claim'->>'rotationQueue', r.i desc
      on conflict (queue) do update set last_agent_id = excluded.last_agent_id, updated_at = excluded.updated_at
  ), logged as (
    insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
      select e.interaction_id, e.type, 'system', null, e.channel, e.payload, e.at from (
        select r.i, 0 as k, r.interaction_id, 'routing.queued' as type, r.channel, r.item->'queuedEvent' as payload,
          now() as at
        from routed r
        union all
        select r.i, 1, r.interaction_id, 'offer.created', r.channel,
          coalesce(r.item->'claim'->'eventPayload', '{}'::jsonb)
            || jsonb_build_object('offerId', o.id, 'expiresAt', to_jsonb(r.expires_at)),
          r.offered_at
        from routed r join offered o on o.interaction_id = r.interaction_id
      ) e order by e.i, e.k
  )
  select jsonb_agg(case d.outcome
      when 'not_new' then jsonb_build_object('status', 'not_new',
        'current', (select status from interactions where id = d.interaction_id))
      when 'queued' then jsonb_build_object('status', 'queued', 'agent', d.dec->'agentNow')
      else jsonb_build_object('status', 'claimed', 'offerId', o.id, 'offeredAt', to_jsonb(d.offered_at),
        'expiresAt', to_jsonb(d.expires_at), 'loadAfter', (d.dec->>'loadAfter')::int)
      end order by d.i)
    into v_results
    from d left join offered o on o.interaction_id = d.interaction_id and d.outcome = 'claimed';
  return coalesce(v_results, '[]'::jsonb);
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
  await sql.raw(ROUTE_FUNCTION).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop function if exists switchboard_route_contacts(jsonb);
    drop trigger if exists agent_loads_changed on agent_loads;
    drop trigger if exists agent_states_changed on agent_states;
    drop function if exists switchboard_mark_changed();
    alter table agent_loads drop column if exists changed_xid;
    alter table agent_states drop column if exists changed_xid;
  `.execute(db);
}

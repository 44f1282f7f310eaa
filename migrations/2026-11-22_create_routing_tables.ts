import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the routing tables as they were on 2026-11-22 and imports nothing
// from src/. The claim and settle functions are routing's atomic core; later changes to them are new
// migrations that CREATE OR REPLACE them.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Waiting contacts: interactions with status 'queued', served by priority, then by time waited.
    alter table interactions add column enqueued_at timestamptz;
    create index interactions_waiting_idx on interactions (priority desc, enqueued_at, id)
      where status = 'queued';

    -- One row per agent who has ever set a state; no row reads as offline. The row is also the agent's lock:
    -- every change to an agent's load or offers takes it first (select ... for update), so claims and
    -- settlements for one agent run one after another, on any server process.
    create table agent_states (
      agent_id uuid primary key references agents(id) on delete cascade,
      state text not null default 'offline'
        check (state in ('offline', 'available', 'away', 'on_contact', 'wrap_up')),
      away_reason text,
      state_since timestamptz not null default now(),
      -- Since the agent last finished work or became available: longest-idle ranks by it.
      idle_since timestamptz not null default now(),
      -- Offers that timed out in a row; reset by any answer (accept or reject).
      missed_in_a_row integer not null default 0 check (missed_in_a_row >= 0),
      check (state = 'away' or away_reason is null)
    );

    -- Open contacts (live offers and accepted work) per agent and channel. Changed only while holding the
    -- agent's agent_states row, by the functions below.
    create table agent_loads (
      agent_id uuid not null references agents(id) on delete cascade,
      channel text not null check (channel in ('voice', 'email', 'chat', 'fax')),
      load integer not null default 0 check (load >= 0),
      primary key (agent_id, channel)
    );

    create table offers (
      id uuid primary key default uuid_v7(),
      interaction_id uuid not null references interactions(id),
      agent_id uuid not null references agents(id),
      channel text not null check (channel in ('voice', 'email', 'chat', 'fax')),
      queue text not null,
      -- The strategy that picked the agent, and its reason ("why was this routed to me").
      strategy text not null,
      reason text not null,
      status text not null default 'offered'
        check (status in ('offered', 'accepted', 'rejected', 'expired', 'cancelled')),
      offered_at timestamptz not null,
      expires_at timestamptz not null,
      settled_at timestamptz,
      settle_reason text,
      -- The agent's load on the channel right after the claim, and the capacity the claim enforced.
      load_after integer not null,
      capacity integer not null,
      check ((status = 'offered') = (settled_at is null)),
      check (load_after >= 1 and load_after <= capacity)
    );
    -- At most one live offer per interaction, whatever any process does.
    create unique index offers_live_interaction_idx on offers (interaction_id) where status = 'offered';
    create index offers_interaction_idx on offers (interaction_id, offered_at);
    create index offers_live_agent_idx on offers (agent_id) where status = 'offered';
    create index offers_live_expiry_idx on offers (expires_at) where status = 'offered';

    -- Round-robin's cursor per queue (see src/routing/strategies/round-robin.ts), stored with the claim.
    create table routing_rotations (
      queue text primary key,
      last_agent_id uuid references agents(id) on delete set null,
      updated_at timestamptz not null default now()
    );
  `.execute(db);

  await sql.raw(CLAIM_FUNCTION).execute(db);
  await sql.raw(SETTLE_FUNCTION).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop function if exists switchboard_settle_offer(jsonb);
    drop function if exists switchboard_claim_offer(jsonb);
    drop table if exists routing_rotations, offers, agent_loads, agent_states;
    drop index if exists interactions_waiting_idx;
    alter table interactions drop column if exists enqueued_at;
  `.execute(db);
}

/*
 * switchboard_claim_offer(p jsonb) -> jsonb: offer one waiting contact to one agent, or refuse, atomically.
 * Input: agentId, interactionId, channel, capacity (the agent's capacity on the channel, exclusive channels
 * already capped at 1), exclusiveChannels (text array), queue, strategy, reason, timeoutSeconds,
 * rotationQueue (null, or the queue whose round-robin cursor moves to this agent), eventPayload (the
 * offer.created payload without offerId and expiresAt, which are added here).
 * Locks, always in this order (settle takes the same order, so the two never deadlock):
 *   1. the agent's agent_states row (for update): claims and settlements for one agent serialize here, and
 *      every later statement reads the agent's load as committed by the one before;
 *   2. the interaction row (for update), only while the interaction is 'queued'.
 * A contact is never offered twice to the same agent: a reject or a miss sends it elsewhere, even when the
 * caller's snapshot predates that answer.
 * The partial unique index on live offers is the last word should anything else ever write offers.
 * Output: {status: 'claimed', offerId, offeredAt, expiresAt, loadAfter}
 *       | {status: 'agent_unavailable', state, loads}  (the agent as they are now, to refresh the snapshot)
 *       | {status: 'contact_taken'}                     (offered, assigned or closed meanwhile)
 *       | {status: 'already_offered'}                   (this agent had it before and declined or missed it)
 */
const CLAIM_FUNCTION = `
create function switchboard_claim_offer(p jsonb) returns jsonb language plpgsql as $fn$
declare
  v_agent uuid := (p->>'agentId')::uuid;
  v_interaction uuid := (p->>'interactionId')::uuid;
  v_channel text := p->>'channel';
  v_capacity int := (p->>'capacity')::int;
  v_state text;
  v_loads jsonb;
  v_load int;
  v_busy int;
  v_offer uuid;
  v_offered_at timestamptz;
  v_expires_at timestamptz;
begin
  select s.state into v_state
    from agent_states s join agents a on a.id = s.agent_id
    where s.agent_id = v_agent and not a.is_disabled
    for update of s;
  if not found then
    return jsonb_build_object('status', 'agent_unavailable', 'state', 'offline', 'loads', '{}'::jsonb);
  end if;

  select coalesce(jsonb_object_agg(channel, load), '{}'::jsonb) into v_loads
    from agent_loads where agent_id = v_agent;
  v_load := coalesce((v_loads->>v_channel)::int, 0);
  select coalesce(sum(load), 0) into v_busy from agent_loads
    where agent_id = v_agent
      and channel in (select jsonb_array_elements_text(coalesce(p->'exclusiveChannels', '[]'::jsonb)));
  if v_state not in ('available', 'on_contact') or v_busy > 0 or v_load >= v_capacity then
    return jsonb_build_object('status', 'agent_unavailable', 'state', v_state, 'loads', v_loads);
  end if;

  perform 1 from interactions where id = v_interaction and status = 'queued' for update;
  if not found then
    return jsonb_build_object('status', 'contact_taken');
  end if;
  -- A fresh snapshot, taken after the lock: every earlier offer of this contact is visible here.
  perform 1 from offers where interaction_id = v_interaction and agent_id = v_agent;
  if found then
    return jsonb_build_object('status', 'already_offered');
  end if;

  update interactions set status = 'offered', offered_at = now(), updated_at = now() where id = v_interaction;

  v_offered_at := clock_timestamp();
  v_expires_at := v_offered_at + make_interval(secs => (p->>'timeoutSeconds')::int);
  insert into offers (interaction_id, agent_id, channel, queue, strategy, reason, offered_at, expires_at,
      load_after, capacity)
    values (v_interaction, v_agent, v_channel, p->>'queue', p->>'strategy', p->>'reason', v_offered_at,
      v_expires_at, v_load + 1, v_capacity)
    returning id into v_offer;
  insert into agent_loads (agent_id, channel, load) values (v_agent, v_channel, 1)
    on conflict (agent_id, channel) do update set load = agent_loads.load + 1;
  if p->>'rotationQueue' is not null then
    insert into routing_rotations (queue, last_agent_id, updated_at) values (p->>'rotationQueue', v_agent, now())
      on conflict (queue) do update set last_agent_id = excluded.last_agent_id, updated_at = excluded.updated_at;
  end if;
  insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
    values (v_interaction, 'offer.created', 'system', null, v_channel,
      coalesce(p->'eventPayload', '{}'::jsonb)
        || jsonb_build_object('offerId', v_offer, 'expiresAt', to_jsonb(v_expires_at)),
      v_offered_at);

  return jsonb_build_object('status', 'claimed', 'offerId', v_offer, 'offeredAt', to_jsonb(v_offered_at),
    'expiresAt', to_jsonb(v_expires_at), 'loadAfter', v_load + 1);
end
$fn$;
`;

/*
 * switchboard_settle_offer(p jsonb) -> jsonb: an agent's answer to a live offer, or its timeout, atomically.
 * Input: offerId, agentId (the answering agent; null for a timeout), outcome ('accepted' | 'rejected' |
 * 'expired'), reason (a reject's reason), missesBeforeAway, awayReason. The offer.<outcome> event's payload
 * ({offerId, agentId, missesInARow}, and a reject's reason) is built here.
 * Locks the agent's agent_states row first, like the claim. Only a live offer settles: the second answer, a
 * timeout after an accept, or a retried timeout job finds it settled and changes nothing.
 *   accepted: the interaction is assigned to the agent, who is now on_contact; the load stays (the work).
 *   rejected / expired: the interaction waits again and the load is released. A timeout counts a miss; the
 *   missesBeforeAway-th miss in a row sets a working agent away, logged as agent.stateChanged.
 * Output: {status: 'settled', interactionId, agentId, channel, missesInARow, isSetAway, stateBefore}
 *       | {status: 'already_settled', offerStatus} | {status: 'not_found'} | {status: 'not_yours'}
 */
const SETTLE_FUNCTION = `
create function switchboard_settle_offer(p jsonb) returns jsonb language plpgsql as $fn$
declare
  v_offer_id uuid := (p->>'offerId')::uuid;
  v_outcome text := p->>'outcome';
  v_agent uuid;
  v_state text;
  v_now timestamptz;
  v_offer offers%rowtype;
  v_misses int;
  v_is_set_away boolean := false;
begin
  if v_outcome not in ('accepted', 'rejected', 'expired') then
    raise exception 'unknown offer outcome %', v_outcome using errcode = '22023';
  end if;
  select agent_id into v_agent from offers where id = v_offer_id;
  if not found then
    return jsonb_build_object('status', 'not_found');
  end if;
  if p->>'agentId' is not null and (p->>'agentId')::uuid <> v_agent then
    return jsonb_build_object('status', 'not_yours');
  end if;

  select state, missed_in_a_row into v_state, v_misses from agent_states where agent_id = v_agent for update;
  v_now := clock_timestamp();
  update offers set status = v_outcome, settled_at = v_now, settle_reason = p->>'reason'
    where id = v_offer_id and status = 'offered'
    returning * into v_offer;
  if not found then
    return jsonb_build_object('status', 'already_settled',
      'offerStatus', (select status from offers where id = v_offer_id));
  end if;

  if v_outcome = 'accepted' then
    update interactions set status = 'assigned', assignee_id = v_agent, assigned_at = now(), updated_at = now()
      where id = v_offer.interaction_id;
    update agent_states set missed_in_a_row = 0,
        state = case when state = 'available' then 'on_contact' else state end,
        state_since = case when state = 'available' then now() else state_since end
      where agent_id = v_agent;
    v_misses := 0;
  else
    update interactions set status = 'queued', updated_at = now()
      where id = v_offer.interaction_id and status = 'offered';
    update agent_loads set load = load - 1 where agent_id = v_agent and channel = v_offer.channel;
    if v_outcome = 'expired' then
      update agent_states set missed_in_a_row = missed_in_a_row + 1 where agent_id = v_agent
        returning missed_in_a_row into v_misses;
      if v_misses >= (p->>'missesBeforeAway')::int and v_state in ('available', 'on_contact') then
        update agent_states set state = 'away', away_reason = p->>'awayReason', state_since = now()
          where agent_id = v_agent;
        v_is_set_away := true;
      end if;
    else
      update agent_states set missed_in_a_row = 0 where agent_id = v_agent;
      v_misses := 0;
    end if;
  end if;

  insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
    values (v_offer.interaction_id, 'offer.' || v_outcome,
      case when v_outcome = 'expired' then 'system' else 'agent' end,
      case when v_outcome = 'expired' then null else v_agent::text end,
      v_offer.channel,
      jsonb_build_object('offerId', v_offer_id, 'agentId', v_agent, 'missesInARow', v_misses)
        || case when v_outcome = 'rejected' then jsonb_build_object('reason', p->>'reason') else '{}'::jsonb end,
      v_now);
  if v_is_set_away then
    insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
      values (v_offer.interaction_id, 'agent.stateChanged', 'system', null, v_offer.channel,
        jsonb_build_object('agentId', v_agent, 'from', v_state, 'to', 'away', 'reason', p->>'awayReason'),
        v_now);
  end if;

  return jsonb_build_object('status', 'settled', 'interactionId', v_offer.interaction_id, 'agentId', v_agent,
    'channel', v_offer.channel, 'missesInARow', v_misses, 'isSetAway', v_is_set_away, 'stateBefore', v_state);
end
$fn$;
`;

import { sql, type Kysely } from 'kysely';
import type { InteractionEventPayloads } from '../../events.js';
import type { Database, VoiceCallState, VoiceCallsTable } from '../tables.js';

/*
 * What the phone channel keeps beside the log: every call leg by its provider call id (voice_calls), the
 * IVR's step events, and the queue facts a waiting caller is told (position, estimated wait). The per-step
 * IVR memory is not here: it lives in Redis for the length of the call (channels/phone/call-state.ts).
 */

export interface VoiceCall {
  callSid: string;
  interactionId: string;
  direction: 'inbound' | 'outbound';
  purpose: VoiceCallsTable['purpose'];
  fromNumber: string;
  toNumber: string;
  state: VoiceCallState;
  agentId: string | null;
  callbackNumber: string | null;
  queuedAt: Date | null;
  bridgedAt: Date | null;
  endedAt: Date | null;
  /** As the provider reported them: the whole leg, and the talk with the agent (Dial's duration). */
  durationSeconds: number | null;
  talkSeconds: number | null;
}

type Actor = { type: 'customer' | 'agent' | 'system'; id: string | null };
type CallEventType = Extract<
  keyof InteractionEventPayloads,
  `call.${string}` | `callback.${string}` | 'ivr.handedOff' | 'ivr.step'
>;

const columns = [
  'call_sid',
  'interaction_id',
  'direction',
  'purpose',
  'from_number',
  'to_number',
  'state',
  'agent_id',
  'callback_number',
  'queued_at',
  'bridged_at',
  'ended_at',
  'duration_seconds',
  'talk_seconds',
] as const;

function toCall(
  row: Pick<Database['voice_calls'], (typeof columns)[number]> & Record<string, unknown>,
): VoiceCall {
  return {
    callSid: row.call_sid,
    interactionId: row.interaction_id,
    direction: row.direction,
    purpose: row.purpose,
    fromNumber: row.from_number,
    toNumber: row.to_number,
    state: row.state,
    agentId: row.agent_id,
    callbackNumber: row.callback_number,
    queuedAt: row.queued_at,
    bridgedAt: row.bridged_at,
    endedAt: row.ended_at,
    durationSeconds: row.duration_seconds,
    talkSeconds: row.talk_seconds,
  };
}

export function createVoiceRepository(db: Kysely<Database>) {
  const repository = {
    /**
     * Records a call leg (idempotent on the call id). `isIvr`: the interaction the leg opened waits in the IVR
     * ('ivr', not routed) instead of being routed; only a 'new' one is changed, so a retry or a process that
     * already routed it changes nothing.
     */
    async recordCall(call: {
      callSid: string;
      interactionId: string;
      direction: 'inbound' | 'outbound';
      purpose: VoiceCallsTable['purpose'];
      fromNumber: string;
      toNumber: string;
      state: VoiceCallState;
      agentId?: string | null;
      /** The number a callback goes to (a scheduled callback's leg). */
      callbackNumber?: string;
      isIvr?: boolean;
    }): Promise<{ isNew: boolean }> {
      const { rows } = await sql<{ is_new: boolean }>`
        with ivr as (
          update interactions set status = 'ivr', updated_at = now()
            where ${call.isIvr === true} and id = ${call.interactionId} and status = 'new'
        ), leg as (
          insert into voice_calls (call_sid, interaction_id, direction, purpose, from_number, to_number, state,
            agent_id, callback_number)
          values (${call.callSid}, ${call.interactionId}, ${call.direction}, ${call.purpose}, ${call.fromNumber},
            ${call.toNumber}, ${call.state}, ${call.agentId ?? null}, ${call.callbackNumber ?? null})
          on conflict (call_sid) do nothing
          returning 1
        )
        select exists (select 1 from leg) as is_new`.execute(db);
      return { isNew: rows[0]?.is_new === true };
    },

    async callOf(callSid: string): Promise<VoiceCall | undefined> {
      const row = await db
        .selectFrom('voice_calls')
        .select(columns)
        .where('call_sid', '=', callSid)
        .executeTakeFirst();
      return row && toCall(row);
    },

    /** The interaction's newest leg that has not ended (the caller, or a callback we placed). */
    async liveCallOf(interactionId: string): Promise<VoiceCall | undefined> {
      const row = await db
        .selectFrom('voice_calls')
        .select(columns)
        .where('interaction_id', '=', interactionId)
        .where('state', '<>', 'ended')
        .orderBy('created_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row && toCall(row);
    },

    /** The interaction's legs, oldest first. */
    async callsOf(interactionId: string): Promise<VoiceCall[]> {
      const rows = await db
        .selectFrom('voice_calls')
        .select(columns)
        .where('interaction_id', '=', interactionId)
        .orderBy('created_at')
        .execute();
      return rows.map(toCall);
    },

    /**
     * Moves a leg to `state` when it is in one of `from` (every state but 'ended' when omitted): the check
     * and the change are one statement, so two webhooks racing for a call (a status callback and a queue
     * result) cannot both act. Returns the leg as it was before, or undefined when nothing changed.
     */
    async transition(
      callSid: string,
      state: VoiceCallState,
      options: {
        from?: readonly VoiceCallState[];
        agentId?: string | null;
        callbackNumber?: string;
        durationSeconds?: number | null;
        talkSeconds?: number | null;
      } = {},
    ): Promise<VoiceCall | undefined> {
      const from = options.from ?? [
        'ivr',
        'queued',
        'callback-requested',
        'voicemail',
        'ringing',
        'bridged',
        'on-hold',
      ];
      const { rows } = await sql<Record<string, unknown>>`
        update voice_calls v set
          state = ${state},
          updated_at = now(),
          agent_id = case when ${options.agentId !== undefined} then ${options.agentId ?? null}::uuid else v.agent_id end,
          -- A caller asking to be called back is called on the number they call from, unless told otherwise.
          callback_number = coalesce(${options.callbackNumber ?? null}, v.callback_number,
            case when ${state} = 'callback-requested' then v.from_number end),
          queued_at = case when ${state} = 'queued' then coalesce(v.queued_at, now()) else v.queued_at end,
          bridged_at = case when ${state} = 'bridged' then coalesce(v.bridged_at, now()) else v.bridged_at end,
          ended_at = case when ${state} = 'ended' then coalesce(v.ended_at, now()) else v.ended_at end,
          duration_seconds = coalesce(${options.durationSeconds ?? null}::int, v.duration_seconds),
          talk_seconds = coalesce(${options.talkSeconds ?? null}::int, v.talk_seconds)
        from voice_calls old
        where v.call_sid = ${callSid} and old.call_sid = v.call_sid and v.state = any(${from}::text[])
        returning old.*`.execute(db);
      const row = rows[0];
      return row ? toCall(row as Parameters<typeof toCall>[0]) : undefined;
    },

    /** Appends one phone event to the interaction's log; returns its id. */
    async log<T extends CallEventType>(
      interactionId: string,
      type: T,
      payload: InteractionEventPayloads[T],
      actor: Actor = { type: 'system', id: null },
    ): Promise<string> {
      const row = await db
        .insertInto('interaction_events')
        .values({
          interaction_id: interactionId,
          type,
          actor_type: actor.type,
          actor_id: actor.id,
          channel: 'voice',
          payload: JSON.stringify(payload),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return String(row.id);
    },

    /**
     * Logs a call recording with its attachments row (so that GET /api/attachments/:id serves it), once per
     * recording: a retried job finds it logged and returns undefined.
     */
    async logRecording(
      interactionId: string,
      payload: InteractionEventPayloads['call.recorded'],
      file: { storageKey: string; sha256: string | null },
    ): Promise<string | undefined> {
      const { rows } = await sql<{ id: string }>`
        with event as (
          insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload)
            select ${interactionId}, 'call.recorded', 'system', null, 'voice', ${JSON.stringify(payload)}::jsonb
            where not exists (
              select 1 from interaction_events e where e.interaction_id = ${interactionId}
                and e.type = 'call.recorded' and e.payload->>'recordingSid' = ${payload.recordingSid})
          returning id
        ), attachment as (
          insert into attachments (interaction_id, event_id, file_name, content_type, size_bytes, storage_key, sha256)
            select ${interactionId}, id, ${payload.attachment.fileName}, ${payload.attachment.contentType},
              ${payload.attachment.sizeBytes}, ${file.storageKey}, ${file.sha256} from event
        )
        select id::text from event`.execute(db);
      return rows[0]?.id;
    },

    /**
     * The IVR steps of many caller turns (channels/phone/step-log.ts), in order, in one statement, at the time
     * each turn happened. `isRecovery`: a batch that may have been inserted before (its writer died before
     * saying so) skips turns already logged.
     */
    async logTurns(
      turns: readonly {
        interactionId: string;
        turn: string;
        at: string;
        steps: InteractionEventPayloads['ivr.step'][];
      }[],
      isRecovery = false,
    ): Promise<void> {
      const rows = turns.flatMap((t) =>
        t.steps.map((step) => ({
          interaction: t.interactionId,
          at: t.at,
          actor: step.input ? 'customer' : 'system',
          payload: JSON.stringify({ ...step, turn: t.turn }),
          turn: t.turn,
        })),
      );
      if (rows.length === 0) return;
      await sql`
        insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload, occurred_at)
        select r.interaction, 'ivr.step', r.actor, null, 'voice', r.payload::jsonb, r.at::timestamptz
        from unnest(${rows.map((r) => r.interaction)}::uuid[], ${rows.map((r) => r.actor)}::text[],
          ${rows.map((r) => r.payload)}::text[], ${rows.map((r) => r.at)}::text[], ${rows.map((r) => r.turn)}::text[])
          with ordinality r(interaction, actor, payload, at, turn, ord)
        where not ${isRecovery} or not exists (
          select 1 from interaction_events e where e.interaction_id = r.interaction and e.type = 'ivr.step'
            and e.payload->>'turn' = r.turn)
        order by r.ord`.execute(db);
    },

    /**
     * The IVR hands the caller to routing: the interaction leaves 'ivr' for 'new' and the hand-off (with the
     * routing hints the match rules read) is logged, together. False when it was not in the IVR (a retry).
     */
    async handOff(
      interactionId: string,
      payload: InteractionEventPayloads['ivr.handedOff'],
    ): Promise<boolean> {
      const { rows } = await sql<{ id: string }>`
        with moved as (
          update interactions set status = 'new', updated_at = now()
            where id = ${interactionId} and status = 'ivr'
          returning id, channel
        )
        insert into interaction_events (interaction_id, type, actor_type, actor_id, channel, payload)
          select id, 'ivr.handedOff', 'customer', null, channel, ${JSON.stringify(payload)}::jsonb from moved
        returning interaction_id as id`.execute(db);
      return rows.length > 0;
    },

    /**
     * Where a waiting contact stands in its queue (1 = next; by priority, then time waited) and how fast the
     * queue has been answered lately: contacts taken from it in the last `windowSeconds`.
     */
    async queueStanding(
      interactionId: string,
      windowSeconds = 1800,
    ): Promise<{ queue: string; position: number; answeredRecently: number; status: string } | undefined> {
      const { rows } = await sql<{ queue: string; position: number; answered: number; status: string }>`
        select i.queue, i.status,
          (select count(*)::int from interactions o
            where o.queue = i.queue and o.status in ('queued', 'offered')
              and (o.priority > i.priority or (o.priority = i.priority and o.enqueued_at <= i.enqueued_at))
          ) as position,
          (select count(*)::int from interactions a
            where a.queue = i.queue and a.assigned_at > now() - make_interval(secs => ${windowSeconds})
          ) as answered
        from interactions i where i.id = ${interactionId} and i.queue is not null`.execute(db);
      const row = rows[0];
      return row
        ? {
            queue: row.queue,
            position: Math.max(1, row.position),
            answeredRecently: row.answered,
            status: row.status,
          }
        : undefined;
    },

    /** The customer's name, for a known caller's greeting. */
    async customerNameOf(customerId: string): Promise<string | null> {
      const row = await db
        .selectFrom('customers')
        .select('display_name')
        .where('id', '=', customerId)
        .executeTakeFirst();
      return row?.display_name ?? null;
    },

    /** An agent's own phone number (calls reach them there instead of the softphone), or null. */
    async agentPhoneOf(agentId: string): Promise<string | null> {
      const row = await db
        .selectFrom('agents')
        .select('phone_number')
        .where('id', '=', agentId)
        .executeTakeFirst();
      return row?.phone_number ?? null;
    },

    async setAgentPhone(agentId: string, phoneNumber: string | null): Promise<boolean> {
      const result = await db
        .updateTable('agents')
        .set({ phone_number: phoneNumber, updated_at: sql`now()` })
        .where('id', '=', agentId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
  return repository;
}

export type VoiceRepository = ReturnType<typeof createVoiceRepository>;

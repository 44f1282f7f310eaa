import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { groupCalls, type GroupOptions } from '../group-calls.js';
import type { Channel, IngestResult } from '../../interactions/inbound-contact.js';
import type { Database, InteractionEventRow, InteractionRow } from '../tables.js';

/** What the ingest function takes: a contact whose identities are already normalized. */
export interface IngestRecord {
  channel: Channel;
  externalId: string;
  direction: 'inbound' | 'outbound';
  occurredAt: string | null;
  displayName: string | null;
  threadKey: string | null;
  subject: string | null;
  identities: { kind: string; value: string; raw: string }[];
  attachments: {
    fileName: string;
    contentType: string;
    sizeBytes: number;
    storageKey: string;
    sha256: string | null;
  }[];
  mayRevealDuplicate: boolean;
  eventPayload: Record<string, unknown>;
  /** See InboundContact.thread. */
  joinInteractionId?: string;
  joinReason?: string;
  reopenWithinSeconds?: number;
}

export interface Interaction {
  id: string;
  ticketNumber: number;
  customerId: string;
  channel: Channel;
  direction: 'inbound' | 'outbound';
  status: string;
  queue: string | null;
  priority: number;
  assigneeId: string | null;
  subject: string | null;
  threadKey: string | null;
  createdAt: string;
  offeredAt: string | null;
  assignedAt: string | null;
  firstResponseAt: string | null;
  closedAt: string | null;
}

export interface LoggedEvent {
  id: string;
  interactionId: string;
  type: string;
  actorType: string;
  actorId: string | null;
  channel: Channel;
  payload: Record<string, unknown>;
  occurredAt: string;
}

export interface TimelineCursor {
  occurredAt: string;
  id: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toInteraction(row: InteractionRow): Interaction {
  return {
    id: row.id,
    ticketNumber: Number(row.ticket_number),
    customerId: row.customer_id,
    channel: row.channel as Channel,
    direction: row.direction as 'inbound' | 'outbound',
    status: row.status,
    queue: row.queue,
    priority: row.priority,
    assigneeId: row.assignee_id,
    subject: row.subject,
    threadKey: row.thread_key,
    createdAt: row.created_at.toISOString(),
    offeredAt: iso(row.offered_at),
    assignedAt: iso(row.assigned_at),
    firstResponseAt: iso(row.first_response_at),
    closedAt: iso(row.closed_at),
  };
}

export function toLoggedEvent(row: InteractionEventRow): LoggedEvent {
  return {
    id: row.id,
    interactionId: row.interaction_id,
    type: row.type,
    actorType: row.actor_type,
    actorId: row.actor_id,
    channel: row.channel as Channel,
    payload: row.payload,
    occurredAt: row.occurred_at.toISOString(),
  };
}

// A named statement: Postgres plans it once per connection (node-pg's unnamed statements cost about twice
// the server CPU on this hot path). One contact is a batch of one: a single statement, planned once.
const ingestBatch = 'select switchboard_ingest_batch($1::jsonb) as results';

function toIngestResult(r: Record<string, unknown>): IngestResult {
  return {
    isDuplicate: r.duplicate === true,
    interactionId: r.interactionId as string,
    customerId: r.customerId as string,
    eventId: String(r.eventId),
    isNewInteraction: r.isNewInteraction === true,
    isNewCustomer: r.isNewCustomer === true,
    newIdentityIds: (r.newIdentityIds as string[] | undefined) ?? [],
    otherCustomerIds: (r.otherCustomerIds as string[] | undefined) ?? [],
    isReopened: r.isReopened === true,
    threadOutcome: (r.threadOutcome as IngestResult['threadOutcome'] | undefined) ?? null,
  };
}

/** Ingest as a group call (../group-calls.ts): contacts arriving together go in one call and one commit. */
export function createIngestBatcher(pool: pg.Pool, options: GroupOptions) {
  return groupCalls(async (records: IngestRecord[]): Promise<IngestResult[]> => {
    const { rows } = await pool.query<{ results: Record<string, unknown>[] }>({
      name: 'switchboard_ingest_batch',
      text: ingestBatch,
      values: [JSON.stringify(records)],
    });
    return rows[0]!.results.map(toIngestResult);
  }, options);
}

export function createInteractionsRepository(
  db: Kysely<Database>,
  pool: pg.Pool,
  batching: GroupOptions = { maxInFlight: 2, maxBatch: 32 },
) {
  const ingest = createIngestBatcher(pool, batching);
  return {
    /** The whole ingest of one contact (see switchboard_ingest); batched with others under load. */
    ingest,

    async findById(id: string): Promise<Interaction | undefined> {
      const row = await db.selectFrom('interactions').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toInteraction(row);
    },

    async eventsOf(interactionId: string): Promise<LoggedEvent[]> {
      const rows = await db
        .selectFrom('interaction_events')
        .selectAll()
        .where('interaction_id', '=', interactionId)
        .orderBy('occurred_at', 'asc')
        .orderBy('id', 'asc')
        .execute();
      return rows.map(toLoggedEvent);
    },

    async listByCustomer(customerId: string, limit: number): Promise<Interaction[]> {
      const rows = await db
        .selectFrom('interactions')
        .selectAll()
        .where('customer_id', '=', customerId)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toInteraction);
    },

    /** Newest first across every channel; keyset pagination on (occurred_at, id). */
    /**
     * Newest first across every channel; keyset pagination on (occurred_at, id). Each event comes with its
     * cursor at full (microsecond) precision: a cursor rounded to the millisecond would skip events.
     */
    async timeline(
      customerId: string,
      limit: number,
      before?: TimelineCursor,
    ): Promise<{ event: LoggedEvent; cursor: TimelineCursor }[]> {
      let query = db
        .selectFrom('interaction_events as e')
        .innerJoin('interactions as i', 'i.id', 'e.interaction_id')
        .selectAll('e')
        .select(
          sql<string>`to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as(
            'exact_at',
          ),
        )
        .where('i.customer_id', '=', customerId);
      if (before) {
        query = query.where(
          sql<boolean>`(e.occurred_at, e.id) < (${before.occurredAt}::timestamptz, ${before.id}::bigint)`,
        );
      }
      const rows = await query
        .orderBy('e.occurred_at', 'desc')
        .orderBy('e.id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        event: toLoggedEvent(row),
        cursor: { occurredAt: row.exact_at, id: row.id },
      }));
    },

    async appendEvent(event: {
      interactionId: string;
      type: string;
      actorType: 'customer' | 'agent' | 'system';
      actorId: string | null;
      channel: Channel;
      payload: Record<string, unknown>;
    }): Promise<LoggedEvent> {
      const row = await db
        .insertInto('interaction_events')
        .values({
          interaction_id: event.interactionId,
          type: event.type,
          actor_type: event.actorType,
          actor_id: event.actorId,
          channel: event.channel,
          payload: JSON.stringify(event.payload),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toLoggedEvent(row);
    },

    /** Texts the customer wrote (for phone numbers in signatures), newest first. */
    async customerTexts(customerId: string, limit: number): Promise<{ eventId: string; text: string }[]> {
      const rows = await db
        .selectFrom('interaction_events as e')
        .innerJoin('interactions as i', 'i.id', 'e.interaction_id')
        .select(['e.id', sql<string>`e.payload->>'text'`.as('text')])
        .where('i.customer_id', '=', customerId)
        .where('e.type', '=', 'message.received')
        .where(sql<boolean>`e.payload ? 'text'`)
        .orderBy('e.id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ eventId: r.id, text: r.text }));
    },
  };
}

export type InteractionsRepository = ReturnType<typeof createInteractionsRepository>;

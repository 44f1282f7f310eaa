import { sql, type Kysely } from 'kysely';
import type { Database } from '../tables.js';

/*
 * What the email channel keeps beside the log: where each mailbox's ingest stands (IMAP UIDVALIDITY and
 * the last UID committed), and every message by Message-ID with its interaction and participants, which
 * threading and replies read. Message-IDs are stored as written between angle brackets.
 */

export interface MailboxCursor {
  uidValidity: bigint;
  lastUid: number;
}

export interface EmailMessageRecord {
  messageId: string;
  interactionId: string;
  eventId: string | null;
  direction: 'inbound' | 'outbound';
  isOurs: boolean;
  /** Lower-cased addresses: From, To and Cc. */
  participants: string[];
}

/** One message of a thread, oldest first, for a reply's References and its quoted history. */
export interface ThreadMessage {
  messageId: string;
  direction: 'inbound' | 'outbound';
  isOurs: boolean;
  eventId: string | null;
  participants: string[];
  createdAt: Date;
}

export function createEmailRepository(db: Kysely<Database>) {
  return {
    async cursorOf(mailbox: string): Promise<MailboxCursor | undefined> {
      const row = await db
        .selectFrom('mailbox_cursors')
        .select(['uid_validity', 'last_uid'])
        .where('mailbox', '=', mailbox)
        .executeTakeFirst();
      return row && { uidValidity: BigInt(row.uid_validity), lastUid: Number(row.last_uid) };
    },

    /**
     * Moves the cursor forward (never back within one UIDVALIDITY); a new UIDVALIDITY replaces it. Called
     * only after the messages up to `lastUid` are committed to the log.
     */
    async advanceCursor(mailbox: string, cursor: MailboxCursor): Promise<void> {
      await db
        .insertInto('mailbox_cursors')
        .values({
          mailbox,
          uid_validity: cursor.uidValidity.toString(),
          last_uid: String(cursor.lastUid),
        })
        .onConflict((oc) =>
          oc.column('mailbox').doUpdateSet({
            last_uid: sql`case when mailbox_cursors.uid_validity = excluded.uid_validity
              then greatest(mailbox_cursors.last_uid, excluded.last_uid) else excluded.last_uid end`,
            uid_validity: sql`excluded.uid_validity`,
            updated_at: sql`now()`,
          }),
        )
        .execute();
    },

    /** Which of these Message-IDs are already in the log as email messages (a resync skips them early). */
    async loggedExternalIds(messageIds: readonly string[]): Promise<string[]> {
      if (messageIds.length === 0) return [];
      const rows = await db
        .selectFrom('interaction_events')
        .select('external_id')
        .where('channel', '=', 'email')
        .where('external_id', 'in', [...messageIds])
        .execute();
      return rows.map((r) => r.external_id).filter((id): id is string => id !== null);
    },

    /**
     * Of these logged Message-IDs, those that opened their interaction and whose interaction has no
     * acknowledgment logged: the acknowledgment a crash between the log and the acknowledgment left owed.
     */
    async unacknowledgedOpeners(messageIds: readonly string[]): Promise<Map<string, string>> {
      if (messageIds.length === 0) return new Map();
      const { rows } = await sql<{ external_id: string; interaction_id: string }>`
        select e.external_id, e.interaction_id
        from interaction_events e
        where e.channel = 'email' and e.type = 'message.received' and e.external_id = any(${[...messageIds]}::text[])
          and e.id = (select min(f.id) from interaction_events f
            where f.interaction_id = e.interaction_id and f.type = 'message.received')
          and not exists (select 1 from interaction_events g
            where g.interaction_id = e.interaction_id and g.type = 'message.sent'
              and g.payload->>'automatic' = 'acknowledgment')`.execute(db);
      return new Map(rows.map((r) => [r.external_id, r.interaction_id]));
    },

    /** The newest message.received of an interaction: what a reply answers and quotes. */
    async lastReceived(
      interactionId: string,
    ): Promise<{ eventId: string; payload: Record<string, unknown>; occurredAt: Date } | undefined> {
      const row = await db
        .selectFrom('interaction_events')
        .select(['id', 'payload', 'occurred_at'])
        .where('interaction_id', '=', interactionId)
        .where('type', '=', 'message.received')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row && { eventId: row.id, payload: row.payload, occurredAt: row.occurred_at };
    },

    async recordMessages(records: EmailMessageRecord[]): Promise<void> {
      if (records.length === 0) return;
      await db
        .insertInto('email_messages')
        .values(
          records.map((r) => ({
            message_id: r.messageId,
            interaction_id: r.interactionId,
            event_id: r.eventId,
            direction: r.direction,
            is_ours: r.isOurs,
            participants: r.participants,
          })),
        )
        .onConflict((oc) => oc.columns(['message_id', 'interaction_id']).doNothing())
        .execute();
    },

    /** Email interactions that hold any of these Message-IDs, ours first, then the newest. */
    async interactionsByMessageIds(
      messageIds: readonly string[],
    ): Promise<{ messageId: string; interactionId: string; isOurs: boolean }[]> {
      if (messageIds.length === 0) return [];
      // Email interactions only: a web chat answered by email is not continued by mail (a reply opens an
      // email interaction of the same customer).
      const rows = await db
        .selectFrom('email_messages')
        .select(['message_id', 'interaction_id', 'is_ours'])
        .where('message_id', 'in', [...messageIds])
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('interactions')
              .select('id')
              .whereRef('interactions.id', '=', 'email_messages.interaction_id')
              .where('interactions.channel', '=', 'email'),
          ),
        )
        .orderBy('is_ours', 'desc')
        .orderBy('id', 'desc')
        .limit(50)
        .execute();
      return rows.map((r) => ({
        messageId: r.message_id,
        interactionId: r.interaction_id,
        isOurs: r.is_ours,
      }));
    },

    /** Email interactions by ticket number. */
    async emailInteractionsByTickets(ticketNumbers: readonly number[]): Promise<Map<number, string>> {
      if (ticketNumbers.length === 0) return new Map();
      const rows = await db
        .selectFrom('interactions')
        .select(['id', 'ticket_number'])
        .where('ticket_number', 'in', ticketNumbers.map(String))
        .where('channel', '=', 'email')
        .execute();
      return new Map(rows.map((r) => [Number(r.ticket_number), r.id]));
    },

    /**
     * For each (interaction, lower-cased address) pair, whether the address belongs to the interaction's
     * thread: an email identity of its customer, or a participant of one of its messages. Keyed by
     * `${interactionId} ${address}`; pairs that do not belong are absent.
     */
    async threadMembership(
      pairs: readonly { interactionId: string; address: string }[],
    ): Promise<Map<string, 'customer' | 'participant'>> {
      if (pairs.length === 0) return new Map();
      const { rows } = await sql<{ interaction_id: string; address: string; is_customer: boolean }>`
        select p.interaction_id, p.address,
          exists (select 1 from identities d where d.customer_id = i.customer_id
            and d.kind = 'email' and d.value = p.address) as is_customer
        from unnest(${pairs.map((p) => p.interactionId)}::uuid[], ${pairs.map((p) => p.address)}::text[])
          as p(interaction_id, address)
        join interactions i on i.id = p.interaction_id
        where exists (select 1 from identities d where d.customer_id = i.customer_id
            and d.kind = 'email' and d.value = p.address)
          or exists (select 1 from email_messages m where m.interaction_id = p.interaction_id
            and p.address = any(m.participants))`.execute(db);
      return new Map(
        rows.map(
          (r) => [`${r.interaction_id} ${r.address}`, r.is_customer ? 'customer' : 'participant'] as const,
        ),
      );
    },

    async threadOf(interactionId: string): Promise<ThreadMessage[]> {
      const rows = await db
        .selectFrom('email_messages')
        .select(['message_id', 'direction', 'is_ours', 'event_id', 'participants', 'created_at'])
        .where('interaction_id', '=', interactionId)
        .orderBy('id', 'asc')
        .execute();
      return rows.map((r) => ({
        messageId: r.message_id,
        direction: r.direction,
        isOurs: r.is_ours,
        eventId: r.event_id,
        participants: r.participants,
        createdAt: r.created_at,
      }));
    },

    /** Our message by its Message-ID (a bounce names it): its interaction and its message.sent event. */
    async ourMessage(
      messageId: string,
    ): Promise<{ interactionId: string; eventId: string | null } | undefined> {
      const row = await db
        .selectFrom('email_messages')
        .select(['interaction_id', 'event_id'])
        .where('message_id', '=', messageId)
        .where('is_ours', '=', true)
        .orderBy('id', 'desc')
        .executeTakeFirst();
      return row && { interactionId: row.interaction_id, eventId: row.event_id };
    },

    /**
     * A bounce (delivery status notification) on one of our messages: logged once per bounce Message-ID as
     * message.bounced, and the reply it reports marked message.failed (after its message.delivered: the
     * server accepted it, then could not deliver it). Returns false when this bounce was logged before.
     */
    async logBounce(request: {
      interactionId: string;
      bounceMessageId: string;
      messageEventId: string | null;
      payload: Record<string, unknown>;
      reason: string;
    }): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`bounce:${request.bounceMessageId}`}, 0))`.execute(
          trx,
        );
        const seen = await trx
          .selectFrom('interaction_events')
          .select('id')
          .where('interaction_id', '=', request.interactionId)
          .where('type', '=', 'message.bounced')
          .where(sql<boolean>`payload->>'bounceMessageId' = ${request.bounceMessageId}`)
          .executeTakeFirst();
        if (seen) return false;
        await trx
          .insertInto('interaction_events')
          .values({
            interaction_id: request.interactionId,
            type: 'message.bounced',
            actor_type: 'system',
            actor_id: null,
            channel: 'email',
            payload: JSON.stringify({
              ...request.payload,
              bounceMessageId: request.bounceMessageId,
              ...(request.messageEventId && { messageEventId: request.messageEventId }),
            }),
          })
          .execute();
        if (request.messageEventId) {
          await trx
            .insertInto('interaction_events')
            .values({
              interaction_id: request.interactionId,
              type: 'message.failed',
              actor_type: 'system',
              actor_id: null,
              channel: 'email',
              payload: JSON.stringify({
                messageEventId: request.messageEventId,
                reason: request.reason,
                isBounce: true,
              }),
            })
            .execute();
        }
        await trx
          .updateTable('interactions')
          .set({ updated_at: sql`now()` })
          .where('id', '=', request.interactionId)
          .execute();
        return true;
      });
    },
  };
}

export type EmailRepository = ReturnType<typeof createEmailRepository>;

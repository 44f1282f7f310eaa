import { sql, type Kysely } from 'kysely';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { Database } from '../tables.js';

/*
 * The bytes of attachments the core keeps itself (attachment_contents), and an attachment with its bytes and
 * the interaction it belongs to, looked up by storage key. The attachments rows themselves are written by
 * the ingest function, in the same transaction as the message they came with.
 */

export interface AttachmentWithContent {
  id: string;
  storageKey: string;
  interactionId: string;
  /** The interaction's channel and thread, for a channel that authorizes its own customers' reads. */
  channel: Channel;
  threadKey: string | null;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  content: Buffer;
}

export function createAttachmentsRepository(db: Kysely<Database>) {
  return {
    async saveContent(storageKey: string, content: Buffer): Promise<void> {
      await db.insertInto('attachment_contents').values({ storage_key: storageKey, content }).execute();
    },

    /** Many files in one statement (a batch of emails and their attachments). */
    async saveContents(files: readonly { storageKey: string; content: Buffer }[]): Promise<void> {
      if (files.length === 0) return;
      await db
        .insertInto('attachment_contents')
        .values(files.map((f) => ({ storage_key: f.storageKey, content: f.content })))
        .execute();
    },

    /** Drops kept bytes no attachment names, many at once. */
    async deleteUnreferencedContents(storageKeys: readonly string[]): Promise<void> {
      if (storageKeys.length === 0) return;
      await db
        .deleteFrom('attachment_contents')
        .where('storage_key', 'in', [...storageKeys])
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('attachments')
                .select(sql`1`.as('one'))
                .whereRef('attachments.storage_key', '=', 'attachment_contents.storage_key'),
            ),
          ),
        )
        .execute();
    },

    /** Deletes bytes no attachment names (an upload refused or deduplicated after it was stored). */
    async deleteUnreferencedContent(storageKey: string): Promise<void> {
      await db
        .deleteFrom('attachment_contents')
        .where('storage_key', '=', storageKey)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('attachments')
                .select(sql`1`.as('one'))
                .where('storage_key', '=', storageKey),
            ),
          ),
        )
        .execute();
    },

    /**
     * A file an agent attached to a reply they have not sent yet: an attachments row with no event, on the
     * interaction. Sending the reply names it with the message.sent event (attachToEvent).
     */
    async addDraft(request: {
      interactionId: string;
      fileName: string;
      contentType: string;
      sizeBytes: number;
      storageKey: string;
      sha256: string | null;
    }): Promise<void> {
      await db
        .insertInto('attachments')
        .values({
          interaction_id: request.interactionId,
          event_id: null,
          file_name: request.fileName,
          content_type: request.contentType,
          size_bytes: request.sizeBytes,
          storage_key: request.storageKey,
          sha256: request.sha256,
        })
        .execute();
    },

    /** Draft attachments (no event yet) of the interaction among these storage keys. */
    async draftsOf(
      interactionId: string,
      storageKeys: readonly string[],
    ): Promise<{ id: string; fileName: string; contentType: string; sizeBytes: number }[]> {
      if (storageKeys.length === 0) return [];
      const rows = await db
        .selectFrom('attachments')
        .select(['storage_key', 'file_name', 'content_type', 'size_bytes'])
        .where('interaction_id', '=', interactionId)
        .where('event_id', 'is', null)
        .where('storage_key', 'in', [...storageKeys])
        .execute();
      return rows.map((r) => ({
        id: r.storage_key,
        fileName: r.file_name,
        contentType: r.content_type,
        sizeBytes: Number(r.size_bytes),
      }));
    },

    async attachToEvent(
      interactionId: string,
      storageKeys: readonly string[],
      eventId: string,
    ): Promise<void> {
      if (storageKeys.length === 0) return;
      await db
        .updateTable('attachments')
        .set({ event_id: eventId })
        .where('interaction_id', '=', interactionId)
        .where('event_id', 'is', null)
        .where('storage_key', 'in', [...storageKeys])
        .execute();
    },

    /** The first attachment stored under `storageKey`, with its bytes; undefined when either is missing. */
    async findWithContent(storageKey: string): Promise<AttachmentWithContent | undefined> {
      const row = await db
        .selectFrom('attachments as a')
        .innerJoin('attachment_contents as c', 'c.storage_key', 'a.storage_key')
        .innerJoin('interactions as i', 'i.id', 'a.interaction_id')
        .select([
          'a.id',
          'a.storage_key',
          'a.interaction_id',
          'i.channel',
          'i.thread_key',
          'a.file_name',
          'a.content_type',
          'a.size_bytes',
          'c.content',
        ])
        .where('a.storage_key', '=', storageKey)
        .orderBy('a.created_at')
        .limit(1)
        .executeTakeFirst();
      return (
        row && {
          id: row.id,
          storageKey: row.storage_key,
          interactionId: row.interaction_id,
          channel: row.channel as Channel,
          threadKey: row.thread_key,
          fileName: row.file_name,
          contentType: row.content_type,
          sizeBytes: Number(row.size_bytes),
          content: row.content,
        }
      );
    },
  };
}

export type AttachmentsRepository = ReturnType<typeof createAttachmentsRepository>;

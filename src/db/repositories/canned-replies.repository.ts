import { sql, type Kysely } from 'kysely';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { CannedReplyRow, Database } from '../tables.js';
import type { AuditRepository } from './audit.repository.js';

export type CannedReplyId = string;

export interface CannedReply {
  id: CannedReplyId;
  title: string;
  body: string;
  shortcut: string | null;
  keywords: string[];
  /** Empty: every channel. */
  channels: Channel[];
  isVisitorSuggestible: boolean;
  createdBy: string | null;
  updatedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What a write sets; normalized by the service (lower-case shortcut and keywords). */
export interface CannedReplyFields {
  title: string;
  body: string;
  shortcut: string | null;
  keywords: string[];
  channels: Channel[];
  isVisitorSuggestible: boolean;
}

export type WriteOutcome =
  { status: 'saved'; reply: CannedReply } | { status: 'not_found' } | { status: 'shortcut_taken' };

const toReply = (row: CannedReplyRow): CannedReply => ({
  id: row.id,
  title: row.title,
  body: row.body,
  shortcut: row.shortcut,
  keywords: row.keywords,
  channels: row.channels as Channel[],
  isVisitorSuggestible: row.is_visitor_suggestible,
  createdBy: row.created_by,
  updatedBy: row.updated_by,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const toColumns = (fields: Partial<CannedReplyFields>) => ({
  ...(fields.title !== undefined && { title: fields.title }),
  ...(fields.body !== undefined && { body: fields.body }),
  ...(fields.shortcut !== undefined && { shortcut: fields.shortcut }),
  ...(fields.keywords !== undefined && { keywords: fields.keywords }),
  ...(fields.channels !== undefined && { channels: fields.channels }),
  ...(fields.isVisitorSuggestible !== undefined && { is_visitor_suggestible: fields.isVisitorSuggestible }),
});

const isShortcutTaken = (error: unknown) =>
  (error as { code?: string; constraint?: string }).code === '23505' &&
  (error as { constraint?: string }).constraint === 'canned_replies_shortcut_key';

/** LIKE's wildcards and its escape character, escaped. */
const likeEscaped = (text: string) => text.replace(/[\\%_]/g, (m) => `\\${m}`);

/*
 * Standard answers. Every write records its audit entry in the same transaction (like merges): a change to
 * what agents send customers is an admin action.
 */
export function createCannedRepliesRepository(db: Kysely<Database>, audit: AuditRepository) {
  return {
    async findById(id: CannedReplyId): Promise<CannedReply | undefined> {
      const row = await db.selectFrom('canned_replies').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toReply(row);
    },

    /**
     * Every term of `phrase` (lower-case words, at most 8) must occur in the title, shortcut, keywords or
     * body (a substring match the trigram index serves). Ranked: the shortcut exactly, then a shortcut
     * prefix, the whole phrase as the title, title prefix, within the title, the phrase as a keyword, then
     * per term in the title or as a keyword; ties by title. No terms: every reply by title. `channel`: only
     * replies for that channel (or for every channel).
     */
    async search(query: {
      terms: string[];
      phrase: string;
      channel: Channel | undefined;
      limit: number;
    }): Promise<CannedReply[]> {
      let q = db.selectFrom('canned_replies').selectAll();
      if (query.channel)
        q = q.where(sql<boolean>`(cardinality(channels) = 0 or ${query.channel} = any(channels))`);
      for (const term of query.terms) q = q.where('search_text', 'like', `%${likeEscaped(term)}%`);
      if (query.terms.length > 0) {
        const phrase = likeEscaped(query.phrase);
        const perTerm = query.terms.map(
          (term) =>
            sql`(case when lower(title) like ${`%${likeEscaped(term)}%`} then 20 else 0 end)
              + (case when ${term} = any(keywords) then 15 else 0 end)`,
        );
        const score = sql<number>`(case when shortcut = ${query.phrase} then 1000
              when shortcut like ${`${phrase}%`} then 400 else 0 end)
            + (case when lower(title) = ${query.phrase} then 600
              when lower(title) like ${`${phrase}%`} then 300
              when lower(title) like ${`%${phrase}%`} then 150 else 0 end)
            + (case when ${query.phrase} = any(keywords) then 200 else 0 end)
            + ${sql.join(perTerm, sql` + `)}`;
        q = q.orderBy(score, 'desc');
      }
      const rows = await q
        .orderBy(sql`lower(title)`)
        .orderBy('id')
        .limit(query.limit)
        .execute();
      return rows.map(toReply);
    },

    /** The replies that may be offered to web chat visitors on `channel` (a small set: no paging). */
    async suggestible(
      channel: Channel,
    ): Promise<{ id: string; title: string; body: string; keywords: string[] }[]> {
      return db
        .selectFrom('canned_replies')
        .select(['id', 'title', 'body', 'keywords'])
        .where('is_visitor_suggestible', '=', true)
        .where(sql<boolean>`(cardinality(channels) = 0 or ${channel} = any(channels))`)
        .where(sql<boolean>`cardinality(keywords) > 0`)
        .orderBy('id')
        .limit(1000)
        .execute();
    },

    async create(fields: CannedReplyFields, actorId: string | null): Promise<WriteOutcome> {
      try {
        return await db.transaction().execute(async (trx) => {
          const row = await trx
            .insertInto('canned_replies')
            .values({ ...toColumns(fields), title: fields.title, body: fields.body, created_by: actorId })
            .returningAll()
            .executeTakeFirstOrThrow();
          await audit.record(
            {
              actorId,
              action: 'cannedReply.created',
              subjectType: 'canned_reply',
              subjectId: row.id,
              details: { ...fields },
            },
            trx,
          );
          return { status: 'saved', reply: toReply(row) } as const;
        });
      } catch (error) {
        if (isShortcutTaken(error)) return { status: 'shortcut_taken' };
        throw error;
      }
    },

    async update(
      id: CannedReplyId,
      patch: Partial<CannedReplyFields>,
      actorId: string | null,
    ): Promise<WriteOutcome> {
      try {
        return await db.transaction().execute(async (trx) => {
          const row = await trx
            .updateTable('canned_replies')
            .set({ ...toColumns(patch), updated_by: actorId, updated_at: new Date() })
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirst();
          if (!row) return { status: 'not_found' } as const;
          await audit.record(
            {
              actorId,
              action: 'cannedReply.updated',
              subjectType: 'canned_reply',
              subjectId: id,
              details: { title: row.title, changed: { ...patch } },
            },
            trx,
          );
          return { status: 'saved', reply: toReply(row) } as const;
        });
      } catch (error) {
        if (isShortcutTaken(error)) return { status: 'shortcut_taken' };
        throw error;
      }
    },

    /** Deletes the reply; its audit entry keeps the whole of it. */
    async delete(id: CannedReplyId, actorId: string | null): Promise<CannedReply | undefined> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .deleteFrom('canned_replies')
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (!row) return undefined;
        const reply = toReply(row);
        await audit.record(
          {
            actorId,
            action: 'cannedReply.deleted',
            subjectType: 'canned_reply',
            subjectId: id,
            details: { reply },
          },
          trx,
        );
        return reply;
      });
    },
  };
}

export type CannedRepliesRepository = ReturnType<typeof createCannedRepliesRepository>;

import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../tables.js';

export interface AuditEntry {
  id: string;
  actorId: string | null;
  action: string;
  subjectType: string;
  subjectId: string;
  details: Record<string, unknown>;
  occurredAt: string;
}

type Db = Kysely<Database> | Transaction<Database>;

export function createAuditRepository(db: Kysely<Database>) {
  return {
    async record(
      entry: {
        actorId: string | null;
        action: string;
        subjectType: string;
        subjectId: string;
        details: Record<string, unknown>;
      },
      on: Db = db,
    ): Promise<string> {
      const row = await on
        .insertInto('audit_log')
        .values({
          actor_id: entry.actorId,
          action: entry.action,
          subject_type: entry.subjectType,
          subject_id: entry.subjectId,
          details: JSON.stringify(entry.details),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },

    async findById(id: string, on: Db = db): Promise<AuditEntry | undefined> {
      const row = await on.selectFrom('audit_log').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toEntry(row);
    },

    async findLater(
      action: string,
      field: string,
      value: string,
      on: Db = db,
    ): Promise<AuditEntry | undefined> {
      const row = await on
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', action)
        .where(sql<string>`details->>${field}`, '=', value)
        .executeTakeFirst();
      return row && toEntry(row);
    },

    async list(limit: number, beforeId?: string): Promise<AuditEntry[]> {
      let q = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit);
      if (beforeId) q = q.where('id', '<', beforeId);
      return (await q.execute()).map(toEntry);
    },
  };
}

function toEntry(row: {
  id: string;
  actor_id: string | null;
  action: string;
  subject_type: string;
  subject_id: string;
  details: Record<string, unknown>;
  occurred_at: Date;
}): AuditEntry {
  return {
    id: row.id,
    actorId: row.actor_id,
    action: row.action,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    details: row.details,
    occurredAt: row.occurred_at.toISOString(),
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;

import { sql, type Kysely, type Transaction } from 'kysely';
import { AppError } from '../../errors.js';
import type { Database } from '../tables.js';
import type { AuditRepository } from './audit.repository.js';

/** What a merge moved, kept in the audit log so that the merge can be undone exactly. */
export interface MergeRecord {
  sourceCustomerId: string;
  targetCustomerId: string;
  identityIds: string[];
  interactionIds: string[];
  suggestionIds: string[];
  /** Target fields the merge filled in from the source; restored by undo when still unchanged. */
  filledAccountId: string | null;
  filledDisplayName: string | null;
}

/*
 * A merge and an ingest must not interleave: an ingest that resolved the source customer just before the
 * merge moved its identities would land its interaction on the merged record. Ingest serializes on advisory
 * locks per identity (switchboard_ingest); the merge takes the same locks for every identity it moves,
 * before any row lock (the order ingest uses too, so the two cannot deadlock).
 */
async function lockIdentitiesOf(trx: Transaction<Database>, customerIds: string[]) {
  await sql`
    select pg_advisory_xact_lock(k) from (
      select distinct hashtextextended('id:' || kind || ':' || value, 0) as k
      from identities where customer_id = any(${customerIds}::uuid[])
      order by 1
    ) keys`.execute(trx);
}

async function lockCustomers(trx: Transaction<Database>, ids: string[]) {
  // Sorted, so that two merges of the same pair in opposite directions cannot deadlock.
  return trx
    .selectFrom('customers')
    .select(['id', 'display_name', 'account_id', 'merged_into_id'])
    .where('id', 'in', [...ids].sort())
    .orderBy('id')
    .forUpdate()
    .execute();
}

export function createMergesRepository(db: Kysely<Database>, audit: AuditRepository) {
  return {
    async merge(
      sourceId: string,
      targetId: string,
      actorId: string | null,
    ): Promise<{ auditId: string; record: MergeRecord }> {
      if (sourceId === targetId) throw new AppError('MERGE_SAME_CUSTOMER');
      return db.transaction().execute(async (trx) => {
        await lockIdentitiesOf(trx, [sourceId]);
        const rows = await lockCustomers(trx, [sourceId, targetId]);
        const source = rows.find((r) => r.id === sourceId);
        const target = rows.find((r) => r.id === targetId);
        if (!source || !target) throw new AppError('CUSTOMER_NOT_FOUND');
        if (source.merged_into_id || target.merged_into_id) throw new AppError('CUSTOMER_ALREADY_MERGED');

        const identities = await trx
          .updateTable('identities')
          .set({ customer_id: targetId })
          .where('customer_id', '=', sourceId)
          .returning('id')
          .execute();
        const interactions = await trx
          .updateTable('interactions')
          .set({ customer_id: targetId, updated_at: new Date() })
          .where('customer_id', '=', sourceId)
          .returning('id')
          .execute();
        const filledAccountId = !target.account_id && source.account_id ? source.account_id : null;
        const filledDisplayName = !target.display_name && source.display_name ? source.display_name : null;
        await trx
          .updateTable('customers')
          .set({
            ...(filledAccountId && { account_id: filledAccountId }),
            ...(filledDisplayName && { display_name: filledDisplayName }),
            updated_at: new Date(),
          })
          .where('id', '=', targetId)
          .execute();
        await trx
          .updateTable('customers')
          .set({ merged_into_id: targetId, updated_at: new Date() })
          .where('id', '=', sourceId)
          .execute();
        const [a, b] = sourceId < targetId ? [sourceId, targetId] : [targetId, sourceId];
        const suggestions = await trx
          .updateTable('duplicate_suggestions')
          .set({ status: 'merged', updated_at: new Date() })
          .where('customer_id', '=', a)
          .where('other_customer_id', '=', b)
          .returning('id')
          .execute();

        const record: MergeRecord = {
          sourceCustomerId: sourceId,
          targetCustomerId: targetId,
          identityIds: identities.map((r) => r.id),
          interactionIds: interactions.map((r) => r.id),
          suggestionIds: suggestions.map((r) => r.id),
          filledAccountId,
          filledDisplayName,
        };
        const auditId = await audit.record(
          {
            actorId,
            action: 'customer.merged',
            subjectType: 'customer',
            subjectId: targetId,
            details: { ...record },
          },
          trx,
        );
        return { auditId, record };
      });
    },

    async undo(
      mergeAuditId: string,
      actorId: string | null,
    ): Promise<{ auditId: string; record: MergeRecord }> {
      return db.transaction().execute(async (trx) => {
        const entry = await audit.findById(mergeAuditId, trx);
        if (!entry || entry.action !== 'customer.merged') throw new AppError('MERGE_NOT_FOUND');
        const record = entry.details as unknown as MergeRecord;
        // The identities that move back now belong to the target.
        await lockIdentitiesOf(trx, [record.targetCustomerId]);
        const rows = await lockCustomers(trx, [record.sourceCustomerId, record.targetCustomerId]);
        const source = rows.find((r) => r.id === record.sourceCustomerId);
        const target = rows.find((r) => r.id === record.targetCustomerId);
        if (!source || !target) throw new AppError('CUSTOMER_NOT_FOUND');
        if (await audit.findLater('customer.unmerged', 'mergeAuditId', mergeAuditId, trx))
          throw new AppError('MERGE_ALREADY_UNDONE');
        if (source.merged_into_id !== target.id || target.merged_into_id)
          throw new AppError('MERGE_SUPERSEDED');

        if (record.identityIds.length) {
          await trx
            .updateTable('identities')
            .set({ customer_id: source.id })
            .where('id', 'in', record.identityIds)
            .where('customer_id', '=', target.id)
            .execute();
        }
        if (record.interactionIds.length) {
          await trx
            .updateTable('interactions')
            .set({ customer_id: source.id, updated_at: new Date() })
            .where('id', 'in', record.interactionIds)
            .where('customer_id', '=', target.id)
            .execute();
        }
        if (record.filledAccountId && target.account_id === record.filledAccountId) {
          await trx.updateTable('customers').set({ account_id: null }).where('id', '=', target.id).execute();
        }
        if (record.filledDisplayName && target.display_name === record.filledDisplayName) {
          await trx
            .updateTable('customers')
            .set({ display_name: null })
            .where('id', '=', target.id)
            .execute();
        }
        await trx
          .updateTable('customers')
          .set({ merged_into_id: null, updated_at: new Date() })
          .where('id', '=', source.id)
          .execute();
        if (record.suggestionIds.length) {
          await trx
            .updateTable('duplicate_suggestions')
            .set({ status: 'open', updated_at: new Date() })
            .where('id', 'in', record.suggestionIds)
            .execute();
        }
        const auditId = await audit.record(
          {
            actorId,
            action: 'customer.unmerged',
            subjectType: 'customer',
            subjectId: source.id,
            details: { mergeAuditId, ...record },
          },
          trx,
        );
        return { auditId, record };
      });
    },
  };
}

export type MergesRepository = ReturnType<typeof createMergesRepository>;

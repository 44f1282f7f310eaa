import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../tables.js';

export interface DuplicateReason {
  code:
    | 'shared_contact'
    | 'same_number_other_kind'
    | 'phone_national_match'
    | 'same_name_and_email_domain'
    | 'phone_in_signature';
  detail: string;
}

export interface DuplicateSuggestion {
  id: string;
  customerId: string;
  otherCustomerId: string;
  score: number;
  reasons: DuplicateReason[];
  status: 'open' | 'merged' | 'dismissed';
  createdAt: string;
}

export interface IdentityOwner {
  customerId: string;
  kind: string;
  value: string;
  displayName: string | null;
}

type Db = Kysely<Database> | Transaction<Database>;

export function createDuplicatesRepository(db: Kysely<Database>) {
  const live = (q: 'c') => sql<boolean>`${sql.ref(`${q}.merged_into_id`)} is null`;

  return {
    /** Owners (other than `customerId`) of identities with exactly these values, of the given kinds. */
    async ownersOf(values: string[], kinds: string[], customerId: string): Promise<IdentityOwner[]> {
      if (values.length === 0) return [];
      const rows = await db
        .selectFrom('identities as i')
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .select(['i.customer_id', 'i.kind', 'i.value', 'c.display_name'])
        .where('i.value', 'in', values)
        .where('i.kind', 'in', kinds)
        .where('i.customer_id', '<>', customerId)
        .where(live('c'))
        .limit(200)
        .execute();
      return rows.map((r) => ({
        customerId: r.customer_id,
        kind: r.kind,
        value: r.value,
        displayName: r.display_name,
      }));
    },

    /** Owners of identities of `kind` ending in `suffix` (national numbers, `@domain`). */
    async ownersBySuffix(kind: string, suffix: string, customerId: string): Promise<IdentityOwner[]> {
      const pattern =
        suffix
          .split('')
          .reverse()
          .join('')
          .replace(/[\\%_]/g, (m) => `\\${m}`) + '%';
      const rows = await db
        .selectFrom('identities as i')
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .select(['i.customer_id', 'i.kind', 'i.value', 'c.display_name'])
        .where('i.kind', '=', kind)
        .where(sql<boolean>`reverse(i.value) like ${pattern}`)
        .where('i.customer_id', '<>', customerId)
        .where(live('c'))
        .limit(200)
        .execute();
      return rows.map((r) => ({
        customerId: r.customer_id,
        kind: r.kind,
        value: r.value,
        displayName: r.display_name,
      }));
    },

    async recordMentions(
      customerId: string,
      mentions: { kind: string; value: string; eventId: string }[],
    ): Promise<void> {
      if (mentions.length === 0) return;
      await db
        .insertInto('identity_mentions')
        .values(
          mentions.map((m) => ({
            customer_id: customerId,
            kind: m.kind,
            value: m.value,
            event_id: m.eventId,
          })),
        )
        .onConflict((oc) => oc.columns(['customer_id', 'kind', 'value']).doNothing())
        .execute();
    },

    /** Other customers whose messages mention one of these values. */
    async mentionersOf(
      kind: string,
      values: string[],
      customerId: string,
    ): Promise<{ customerId: string; value: string }[]> {
      if (values.length === 0) return [];
      const rows = await db
        .selectFrom('identity_mentions as m')
        .innerJoin('customers as c', 'c.id', 'm.customer_id')
        .select(['m.customer_id', 'm.value'])
        .where('m.kind', '=', kind)
        .where('m.value', 'in', values)
        .where('m.customer_id', '<>', customerId)
        .where(live('c'))
        .limit(200)
        .execute();
      return rows.map((r) => ({ customerId: r.customer_id, value: r.value }));
    },

    /**
     * Records or strengthens the suggestion for a pair (stored once, smaller id first). A dismissed or merged
     * pair stays as a person left it.
     */
    async upsert(
      a: string,
      b: string,
      score: number,
      reasons: DuplicateReason[],
    ): Promise<{ id: string; isNew: boolean } | undefined> {
      const [customerId, otherCustomerId] = a < b ? [a, b] : [b, a];
      const row = await db
        .insertInto('duplicate_suggestions')
        .values({
          customer_id: customerId,
          other_customer_id: otherCustomerId,
          score,
          reasons: JSON.stringify(reasons),
        })
        .onConflict((oc) =>
          oc
            .columns(['customer_id', 'other_customer_id'])
            .doUpdateSet({
              score: sql`greatest(duplicate_suggestions.score, excluded.score)`,
              reasons: sql`(select jsonb_agg(distinct r) from jsonb_array_elements(duplicate_suggestions.reasons || excluded.reasons) r)`,
              updated_at: sql`now()`,
            })
            .where('duplicate_suggestions.status', '=', 'open'),
        )
        .returning(['id', sql<boolean>`xmax = 0`.as('is_new')])
        .executeTakeFirst();
      return row && { id: row.id, isNew: row.is_new };
    },

    async list(status: 'open' | 'merged' | 'dismissed', limit: number): Promise<DuplicateSuggestion[]> {
      const rows = await db
        .selectFrom('duplicate_suggestions as s')
        .innerJoin('customers as a', 'a.id', 's.customer_id')
        .innerJoin('customers as b', 'b.id', 's.other_customer_id')
        .selectAll('s')
        .where('s.status', '=', status)
        .$if(status === 'open', (q) =>
          q.where('a.merged_into_id', 'is', null).where('b.merged_into_id', 'is', null),
        )
        .orderBy('s.score', 'desc')
        .orderBy('s.created_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toSuggestion);
    },

    async forCustomer(customerId: string): Promise<DuplicateSuggestion[]> {
      const rows = await db
        .selectFrom('duplicate_suggestions')
        .selectAll()
        .where((eb) => eb.or([eb('customer_id', '=', customerId), eb('other_customer_id', '=', customerId)]))
        .orderBy('score', 'desc')
        .execute();
      return rows.map(toSuggestion);
    },

    async findById(id: string, on: Db = db): Promise<DuplicateSuggestion | undefined> {
      const row = await on
        .selectFrom('duplicate_suggestions')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row && toSuggestion(row);
    },

    async setStatus(id: string, status: 'open' | 'merged' | 'dismissed', on: Db = db): Promise<void> {
      await on
        .updateTable('duplicate_suggestions')
        .set({ status, updated_at: new Date() })
        .where('id', '=', id)
        .execute();
    },
  };
}

function toSuggestion(row: {
  id: string;
  customer_id: string;
  other_customer_id: string;
  score: number;
  reasons: unknown;
  status: 'open' | 'merged' | 'dismissed';
  created_at: Date;
}): DuplicateSuggestion {
  return {
    id: row.id,
    customerId: row.customer_id,
    otherCustomerId: row.other_customer_id,
    score: row.score,
    reasons: row.reasons as DuplicateReason[],
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

export type DuplicatesRepository = ReturnType<typeof createDuplicatesRepository>;

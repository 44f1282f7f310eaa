import { sql, type Kysely, type Transaction } from 'kysely';
import type { IdentityKind } from '../../interactions/inbound-contact.js';
import type { Database, IdentityRow } from '../tables.js';

export interface Identity {
  id: string;
  kind: IdentityKind;
  value: string;
  rawValue: string;
}

export interface Customer {
  id: string;
  displayName: string | null;
  accountId: string | null;
  mergedIntoId: string | null;
  createdAt: string;
  identities: Identity[];
  account: {
    id: string;
    name: string;
    tier: string;
    ownerAgentId: string | null;
    ownerName: string | null;
  } | null;
}

export interface CustomerSummary {
  id: string;
  displayName: string | null;
  identities: Identity[];
}

const toIdentity = (row: IdentityRow): Identity => ({
  id: row.id,
  kind: row.kind as IdentityKind,
  value: row.value,
  rawValue: row.raw_value,
});

type Db = Kysely<Database> | Transaction<Database>;

export function createCustomersRepository(db: Kysely<Database>) {
  async function identitiesOf(ids: string[], on: Db = db): Promise<Map<string, Identity[]>> {
    const byCustomer = new Map<string, Identity[]>();
    if (ids.length === 0) return byCustomer;
    const rows = await on
      .selectFrom('identities')
      .selectAll()
      .where('customer_id', 'in', ids)
      .orderBy('created_at')
      .execute();
    for (const row of rows) {
      const list = byCustomer.get(row.customer_id) ?? [];
      list.push(toIdentity(row));
      byCustomer.set(row.customer_id, list);
    }
    return byCustomer;
  }

  return {
    identitiesOf,

    async findById(id: string): Promise<Customer | undefined> {
      const row = await db
        .selectFrom('customers as c')
        .leftJoin('accounts as a', 'a.id', 'c.account_id')
        .leftJoin('agents as o', 'o.id', 'a.owner_agent_id')
        .select([
          'c.id',
          'c.display_name',
          'c.account_id',
          'c.merged_into_id',
          'c.created_at',
          'a.name as account_name',
          'a.tier as account_tier',
          'a.owner_agent_id',
          'o.display_name as owner_name',
        ])
        .where('c.id', '=', id)
        .executeTakeFirst();
      if (!row) return undefined;
      const identities = (await identitiesOf([id])).get(id) ?? [];
      return {
        id: row.id,
        displayName: row.display_name,
        accountId: row.account_id,
        mergedIntoId: row.merged_into_id,
        createdAt: row.created_at.toISOString(),
        identities,
        account: row.account_id
          ? {
              id: row.account_id,
              name: row.account_name ?? '',
              tier: row.account_tier ?? 'standard',
              ownerAgentId: row.owner_agent_id ?? null,
              ownerName: row.owner_name ?? null,
            }
          : null,
      };
    },

    /** Exact identity matches first (phone or email), then name prefix matches. Merged customers are hidden. */
    async search(q: {
      identities: { kind: IdentityKind; value: string }[];
      name: string | undefined;
      limit: number;
    }): Promise<CustomerSummary[]> {
      const ids: string[] = [];
      if (q.identities.length > 0) {
        const rows = await db
          .selectFrom('identities as i')
          .innerJoin('customers as c', 'c.id', 'i.customer_id')
          .select('c.id')
          .where((eb) =>
            eb.or(q.identities.map((x) => eb.and([eb('i.kind', '=', x.kind), eb('i.value', '=', x.value)]))),
          )
          .where('c.merged_into_id', 'is', null)
          .limit(q.limit)
          .execute();
        ids.push(...rows.map((r) => r.id));
      }
      if (q.name && ids.length < q.limit) {
        const pattern = q.name.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`);
        const rows = await db
          .selectFrom('customers')
          .select('id')
          .where(
            sql<boolean>`lower(display_name) like ${pattern + '%'} or lower(display_name) like ${'% ' + pattern + '%'}`,
          )
          .where('merged_into_id', 'is', null)
          .orderBy('display_name')
          .limit(q.limit)
          .execute();
        for (const r of rows) if (!ids.includes(r.id)) ids.push(r.id);
      }
      const chosen = ids.slice(0, q.limit);
      if (chosen.length === 0) return [];
      const names = await db
        .selectFrom('customers')
        .select(['id', 'display_name'])
        .where('id', 'in', chosen)
        .execute();
      const identities = await identitiesOf(chosen);
      return chosen.map((id) => ({
        id,
        displayName: names.find((n) => n.id === id)?.display_name ?? null,
        identities: identities.get(id) ?? [],
      }));
    },

    async setAccount(customerId: string, accountId: string | null): Promise<void> {
      await db
        .updateTable('customers')
        .set({ account_id: accountId, updated_at: new Date() })
        .where('id', '=', customerId)
        .execute();
    },

    async createAccount(account: {
      name: string;
      tier: string;
      ownerAgentId: string | null;
    }): Promise<string> {
      const row = await db
        .insertInto('accounts')
        .values({ name: account.name, tier: account.tier, owner_agent_id: account.ownerAgentId })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },

    /**
     * Customers flagged for a duplicate check, oldest request first, with the flag's exact value (as text:
     * a JS Date keeps milliseconds, the column microseconds, and the clear below compares for equality).
     */
    async pendingDuplicateChecks(limit: number): Promise<{ id: string; requestedAt: string }[]> {
      const rows = await db
        .selectFrom('customers')
        .select(['id', sql<string>`duplicate_check_requested_at::text`.as('requested_at')])
        .where('duplicate_check_requested_at', 'is not', null)
        .orderBy('duplicate_check_requested_at')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ id: r.id, requestedAt: r.requested_at }));
    },

    /** Clears the flag unless a newer request came in while the check ran. */
    async clearDuplicateCheck(id: string, requestedAt: string): Promise<void> {
      await db
        .updateTable('customers')
        .set({ duplicate_check_requested_at: null })
        .where('id', '=', id)
        .where(sql<boolean>`duplicate_check_requested_at = ${requestedAt}::timestamptz`)
        .execute();
    },
  };
}

export type CustomersRepository = ReturnType<typeof createCustomersRepository>;

import type { CountryCode } from 'libphonenumber-js';
import type {
  Customer,
  CustomersRepository,
  CustomerSummary,
} from '../db/repositories/customers.repository.js';
import type { DuplicatesRepository, DuplicateSuggestion } from '../db/repositories/duplicates.repository.js';
import type { AuditRepository } from '../db/repositories/audit.repository.js';
import type {
  Interaction,
  InteractionsRepository,
  LoggedEvent,
  TimelineCursor,
} from '../db/repositories/interactions.repository.js';
import type { MergesRepository } from '../db/repositories/merges.repository.js';
import { AppError } from '../errors.js';
import type { IdentityKind } from '../interactions/inbound-contact.js';
import type { DomainEvents } from '../events.js';
import { normalizeEmail, normalizePhone } from './identity-normalizer.js';

export interface CustomersServiceDeps {
  customers: CustomersRepository;
  interactions: InteractionsRepository;
  duplicates: DuplicatesRepository;
  merges: MergesRepository;
  audit: AuditRepository;
  events: DomainEvents;
  defaultPhoneRegion: CountryCode;
}

export const encodeCursor = (c: TimelineCursor) =>
  Buffer.from(`${c.occurredAt}|${c.id}`).toString('base64url');

export function decodeCursor(cursor: string): TimelineCursor {
  const [occurredAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!occurredAt || !id || !/^\d{1,19}$/.test(id) || Number.isNaN(Date.parse(occurredAt)))
    throw new AppError('INVALID_CURSOR');
  return { occurredAt, id };
}

export function createCustomersService(deps: CustomersServiceDeps) {
  async function live(id: string): Promise<Customer> {
    const customer = await deps.customers.findById(id);
    if (!customer) throw new AppError('CUSTOMER_NOT_FOUND');
    return customer;
  }

  return {
    /** One box for everything: a phone number (any format), an email address, or a name. */
    async search(query: string, limit = 20): Promise<CustomerSummary[]> {
      const q = query.trim();
      if (!q) return [];
      const identities: { kind: IdentityKind; value: string }[] = [];
      if (q.includes('@')) {
        try {
          identities.push({ kind: 'email', value: normalizeEmail(q) });
        } catch {
          // not an address: searched as a name below
        }
      }
      if (/\d/.test(q)) {
        try {
          const value = normalizePhone(q, deps.defaultPhoneRegion);
          identities.push({ kind: 'phone', value }, { kind: 'fax', value });
        } catch {
          // not a number
        }
      }
      return deps.customers.search({ identities, name: identities.length ? undefined : q, limit });
    },

    async profile(
      id: string,
    ): Promise<{ customer: Customer; interactions: Interaction[]; suggestions: DuplicateSuggestion[] }> {
      const customer = await live(id);
      const [interactions, suggestions] = await Promise.all([
        deps.interactions.listByCustomer(id, 20),
        deps.duplicates.forCustomer(id),
      ]);
      return { customer, interactions, suggestions: suggestions.filter((s) => s.status === 'open') };
    },

    async timeline(
      id: string,
      limit: number,
      cursor?: string,
    ): Promise<{ events: LoggedEvent[]; nextCursor: string | null }> {
      const before = cursor ? decodeCursor(cursor) : undefined;
      const customer = await live(id);
      // A merged customer's history now lives with the customer it was merged into.
      const rows = await deps.interactions.timeline(customer.mergedIntoId ?? id, limit + 1, before);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        events: page.map((r) => r.event),
        nextCursor: rows.length > limit && last ? encodeCursor(last.cursor) : null,
      };
    },

    /** The customer's open duplicate suggestions, best first, each with the other customer it names. */
    async duplicatesOf(id: string): Promise<(DuplicateSuggestion & { otherCustomer: CustomerSummary })[]> {
      await live(id);
      const open = (await deps.duplicates.forCustomer(id)).filter((s) => s.status === 'open');
      const withOthers = await Promise.all(
        open.map(async (suggestion) => {
          const other = await deps.customers.findById(
            suggestion.customerId === id ? suggestion.otherCustomerId : suggestion.customerId,
          );
          return other && !other.mergedIntoId
            ? [
                {
                  ...suggestion,
                  otherCustomer: {
                    id: other.id,
                    displayName: other.displayName,
                    identities: other.identities,
                  },
                },
              ]
            : [];
        }),
      );
      return withOthers.flat().sort((a, b) => b.score - a.score);
    },

    listSuggestions: (status: 'open' | 'merged' | 'dismissed', limit: number) =>
      deps.duplicates.list(status, limit),

    async dismissSuggestion(id: string, actorId: string): Promise<void> {
      const suggestion = await deps.duplicates.findById(id);
      if (!suggestion) throw new AppError('SUGGESTION_NOT_FOUND');
      await deps.duplicates.setStatus(id, 'dismissed');
      await deps.audit.record({
        actorId,
        action: 'duplicate.dismissed',
        subjectType: 'duplicate_suggestion',
        subjectId: id,
        details: {},
      });
    },

    async merge(sourceId: string, targetId: string, actorId: string) {
      const { auditId, record } = await deps.merges.merge(sourceId, targetId, actorId);
      deps.events.publish('customer.merged', {
        targetCustomerId: targetId,
        sourceCustomerId: sourceId,
        auditId,
      });
      return { auditId, ...record };
    },

    async undoMerge(mergeAuditId: string, actorId: string) {
      const { auditId, record } = await deps.merges.undo(mergeAuditId, actorId);
      deps.events.publish('customer.unmerged', {
        targetCustomerId: record.targetCustomerId,
        sourceCustomerId: record.sourceCustomerId,
        auditId,
      });
      return { auditId, ...record };
    },
  };
}

export type CustomersService = ReturnType<typeof createCustomersService>;

import { findPhoneNumbersInText, type CountryCode } from 'libphonenumber-js/max';
import type { CustomersRepository } from '../db/repositories/customers.repository.js';
import type { DuplicateReason, DuplicatesRepository } from '../db/repositories/duplicates.repository.js';
import type { InteractionsRepository } from '../db/repositories/interactions.repository.js';
import type { DomainEvents } from '../events.js';
import { nationalNumberOf } from './identity-normalizer.js';

/*
 * Looks for customers who are probably the same person as `customerId`, and records *suggestions* with a
 * score and the reasons. It never merges: a supervisor confirms. Ingest flags a customer when it creates
 * it or one of its identities, or receives text that may carry a phone number; the repeating sweep job
 * checks flagged customers in batches, off the ingest path. Signals and scores:
 *  - shared_contact (0.95): one contact carried identities that belong to both customers (recorded by the
 *    ingest function itself, since only that moment knows it);
 *  - same_number_other_kind (0.9): one's fax number is the other's phone number (or the reverse);
 *  - phone_in_signature (0.85): a number one customer wrote (an email signature) is the other's phone or fax;
 *  - same_name_and_email_domain (0.8): same normalized name and the same email domain, free-mail excluded;
 *  - phone_national_match (0.7): same national number under a different country code (a number written
 *    without its country code and read in the wrong region).
 */

// Webmail domains hold millions of unrelated people: a shared name there says nothing.
const freeMailDomains = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'live.com',
  'msn.com',
  'yahoo.com',
  'ymail.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'aol.com',
  'proton.me',
  'protonmail.com',
  'gmx.com',
  'gmx.de',
  'gmx.net',
  'web.de',
  'mail.ru',
  'yandex.ru',
  'qq.com',
  '163.com',
  '126.com',
  'zoho.com',
  'fastmail.com',
  'orange.fr',
]);

const scores: Record<DuplicateReason['code'], number> = {
  shared_contact: 0.95,
  same_number_other_kind: 0.9,
  phone_in_signature: 0.85,
  same_name_and_email_domain: 0.8,
  phone_national_match: 0.7,
};

/** Lower case, no accents, single spaces: "José  GARCÍA" and "jose garcia" are the same name. */
export function normalizeName(name: string | null | undefined): string {
  return (name ?? '')
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Phone numbers (E.164) written in a text, such as an email signature. */
export function phonesInText(text: string, region: CountryCode): string[] {
  const found = new Set<string>();
  for (const match of findPhoneNumbersInText(text.slice(0, 20_000), region)) {
    if (match.number.isValid()) found.add(match.number.number);
  }
  return [...found];
}

/** Cheap pre-filter on the ingest path: could this text contain a phone number at all? */
export const mayContainPhone = (text: string | undefined): boolean =>
  !!text && /\d[\d\s().\-/]{5,}\d/.test(text);

export interface DuplicateDetectorDeps {
  customers: CustomersRepository;
  duplicates: DuplicatesRepository;
  interactions: InteractionsRepository;
  events: DomainEvents;
  defaultPhoneRegion: CountryCode;
}

export function createDuplicateDetector(deps: DuplicateDetectorDeps) {
  return {
    /** Checks up to `limit` flagged customers; returns how many were checked. */
    async sweep(limit: number): Promise<number> {
      const pending = await deps.customers.pendingDuplicateChecks(limit);
      for (const { id, requestedAt } of pending) {
        await this.detectFor(id);
        await deps.customers.clearDuplicateCheck(id, requestedAt);
      }
      return pending.length;
    },

    async detectFor(customerId: string, sharedContactCustomerIds: string[] = []): Promise<number> {
      const customer = await deps.customers.findById(customerId);
      if (!customer || customer.mergedIntoId) return 0;
      const found = new Map<string, DuplicateReason[]>();
      const add = (other: string, reason: DuplicateReason) => {
        if (other === customerId) return;
        const list = found.get(other) ?? [];
        if (!list.some((r) => r.code === reason.code && r.detail === reason.detail)) list.push(reason);
        found.set(other, list);
      };

      for (const other of sharedContactCustomerIds)
        add(other, { code: 'shared_contact', detail: 'one contact carried identities of both' });

      const numbers = customer.identities.filter((i) => i.kind === 'phone' || i.kind === 'fax');
      for (const n of numbers) {
        for (const owner of await deps.duplicates.ownersOf(
          [n.value],
          n.kind === 'phone' ? ['fax'] : ['phone'],
          customerId,
        )) {
          add(owner.customerId, {
            code: 'same_number_other_kind',
            detail: `${n.value} is one customer's phone and the other's fax`,
          });
        }
        const national = nationalNumberOf(n.value);
        if (national && national.length >= 7) {
          for (const kind of ['phone', 'fax']) {
            for (const owner of await deps.duplicates.ownersBySuffix(kind, national, customerId)) {
              if (owner.value !== n.value && nationalNumberOf(owner.value) === national) {
                add(owner.customerId, {
                  code: 'phone_national_match',
                  detail: `${[n.value, owner.value].sort().join(' and ')} share the national number ${national}`,
                });
              }
            }
          }
        }
      }

      const name = normalizeName(customer.displayName);
      if (name.includes(' ')) {
        // A single given name ("Anna") is too common to mean anything, even within one company.
        for (const email of customer.identities.filter((i) => i.kind === 'email')) {
          const domain = email.value.slice(email.value.lastIndexOf('@') + 1);
          if (freeMailDomains.has(domain)) continue;
          for (const owner of await deps.duplicates.ownersBySuffix('email', `@${domain}`, customerId)) {
            if (normalizeName(owner.displayName) === name) {
              add(owner.customerId, {
                code: 'same_name_and_email_domain',
                detail: `both named "${name}" at ${domain}`,
              });
            }
          }
        }
      }

      // Numbers this customer wrote, matched to others' identities; and others who wrote this customer's numbers.
      const mentions: { kind: string; value: string; eventId: string }[] = [];
      for (const { eventId, text } of await deps.interactions.customerTexts(customerId, 20)) {
        if (!mayContainPhone(text)) continue;
        for (const phone of phonesInText(text, deps.defaultPhoneRegion)) {
          if (!mentions.some((m) => m.value === phone))
            mentions.push({ kind: 'phone', value: phone, eventId });
        }
      }
      const ownNumbers = new Set(numbers.map((n) => n.value));
      const foreignMentions = mentions.filter((m) => !ownNumbers.has(m.value));
      await deps.duplicates.recordMentions(customerId, foreignMentions);
      for (const owner of await deps.duplicates.ownersOf(
        foreignMentions.map((m) => m.value),
        ['phone', 'fax'],
        customerId,
      )) {
        add(owner.customerId, {
          code: 'phone_in_signature',
          detail: `${owner.value}, one customer's number, is written in the other's message`,
        });
      }
      for (const m of await deps.duplicates.mentionersOf('phone', [...ownNumbers], customerId)) {
        add(m.customerId, {
          code: 'phone_in_signature',
          detail: `${m.value}, one customer's number, is written in the other's message`,
        });
      }

      let recorded = 0;
      for (const [other, reasons] of found) {
        const score = Math.max(...reasons.map((r) => scores[r.code]));
        const row = await deps.duplicates.upsert(customerId, other, score, reasons);
        if (!row) continue;
        recorded += 1;
        if (row.isNew) {
          deps.events.publish('duplicate.suggested', {
            suggestionId: row.id,
            customerId,
            otherCustomerId: other,
            score,
          });
        }
      }
      return recorded;
    },
  };
}

export type DuplicateDetector = ReturnType<typeof createDuplicateDetector>;

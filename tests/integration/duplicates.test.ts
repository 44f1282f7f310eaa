import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DuplicateSuggestion } from '../../src/db/repositories/duplicates.repository.js';
import type { InboundContact, RawIdentity } from '../../src/interactions/inbound-contact.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Duplicate suggestions on real Postgres: data enters through ingest(), detection runs through the detector
 * (what the 'customers.sweep-duplicates' job runs for each customer ingest flagged), and one test lets the
 * BullMQ worker do it all on its own. Every test uses its own numbers and addresses, so tests in this file do
 * not see each other's customers. No worker runs in the shared context: detection happens when a test says.
 */

let ctx: TestContext;
beforeAll(async () => {
  // Routing on ingest is off: duplicate detection is what is under test.
  ctx = await createTestContext({ config: { routeOnIngest: false } });
});
afterAll(() => ctx.close());

async function contact(
  identities: RawIdentity[],
  more: Partial<Omit<InboundContact, 'identities'>> = {},
  on: TestContext = ctx,
) {
  return on.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@test>`,
    identities,
    ...more,
  });
}

/** A new customer from one contact; fails loudly if the contact landed on an existing customer. */
async function newCustomer(
  identities: RawIdentity[],
  more: Partial<Omit<InboundContact, 'identities'>> = {},
  on: TestContext = ctx,
): Promise<string> {
  const result = await contact(identities, more, on);
  expect(result.isNewCustomer).toBe(true);
  // Every identity was usable (a typo in a test number would otherwise pass a "no suggestion" test).
  expect(result.newIdentityIds).toHaveLength(identities.length);
  return result.customerId;
}

const detect = (customerId: string, shared: string[] = []) =>
  ctx.services.duplicateDetector.detectFor(customerId, shared);

/** Every suggestion row, in any status, that pairs a and b. */
async function suggestionsFor(a: string, b: string, on: TestContext = ctx): Promise<DuplicateSuggestion[]> {
  const rows = await on.services.repositories.duplicates.forCustomer(a);
  return rows.filter(
    (s) => (s.customerId === a && s.otherCustomerId === b) || (s.customerId === b && s.otherCustomerId === a),
  );
}

async function theSuggestion(a: string, b: string): Promise<DuplicateSuggestion> {
  const rows = await suggestionsFor(a, b);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

const codes = (s: DuplicateSuggestion) => s.reasons.map((r) => r.code);

describe('duplicate suggestions: signals', () => {
  it('same national number under a different country code (+44 vs the default region)', async () => {
    const uk = await newCustomer([{ kind: 'phone', value: '+44 20 7946 0958' }], { channel: 'voice' });
    // The same digits written without a country code are read in the default region (US): +1 207 946 0958.
    const us = await newCustomer([{ kind: 'phone', value: '(207) 946-0958' }], { channel: 'voice' });
    expect(ctx.config.defaultPhoneRegion).toBe('US');

    expect(await detect(us)).toBe(1);
    const suggestion = await theSuggestion(uk, us);
    expect(codes(suggestion)).toEqual(['phone_national_match']);
    expect(suggestion.score).toBeCloseTo(0.7);
    expect(suggestion.status).toBe('open');
    // Stored once per pair, smaller id first.
    expect([suggestion.customerId, suggestion.otherCustomerId]).toEqual([uk, us].sort());
  });

  it('also with an explicit +1, detected from the other side of the pair', async () => {
    const us = await newCustomer([{ kind: 'phone', value: '+1 207 946 0959' }], { channel: 'voice' });
    const uk = await newCustomer([{ kind: 'phone', value: '+44 (0)20 7946 0959' }], { channel: 'voice' });
    expect(await detect(us)).toBe(1);
    expect(codes(await theSuggestion(us, uk))).toEqual(['phone_national_match']);
  });

  it("a fax number equal to another customer's phone", async () => {
    const caller = await newCustomer([{ kind: 'phone', value: '+1 312 767 4821' }], { channel: 'voice' });
    const faxer = await newCustomer([{ kind: 'fax', value: '+1 (312) 767-4821' }], { channel: 'fax' });

    expect(await detect(faxer)).toBe(1);
    const suggestion = await theSuggestion(caller, faxer);
    expect(codes(suggestion)).toEqual(['same_number_other_kind']);
    expect(suggestion.score).toBeCloseTo(0.9);
  });

  it("a phone equal to another customer's fax (phone arrives second)", async () => {
    const faxer = await newCustomer([{ kind: 'fax', value: '+1 312 767 4822' }], { channel: 'fax' });
    const caller = await newCustomer([{ kind: 'phone', value: '3127674822' }], { channel: 'voice' });

    expect(await detect(caller)).toBe(1);
    expect(codes(await theSuggestion(caller, faxer))).toEqual(['same_number_other_kind']);
  });

  it('same full name and the same corporate email domain; accents, case and spacing do not matter', async () => {
    const first = await newCustomer([{ kind: 'email', value: 'jose.garcia@acme-corp.example' }], {
      displayName: 'José García',
    });
    const second = await newCustomer([{ kind: 'email', value: 'JGarcia@ACME-CORP.example' }], {
      displayName: 'JOSE  GARCIA',
    });

    expect(await detect(second)).toBe(1);
    const suggestion = await theSuggestion(first, second);
    expect(codes(suggestion)).toEqual(['same_name_and_email_domain']);
    expect(suggestion.score).toBeCloseTo(0.8);
  });

  it("signature first: a number written in one customer's email, later another customer's phone", async () => {
    const writer = await newCustomer([{ kind: 'email', value: 'tom.baker@signature-first.example' }], {
      displayName: 'Tom Baker',
      text: 'Thanks for the help.\n\n--\nTom Baker\nTel: +1 (617) 253-1000\n',
    });
    // The check of the new writer runs first; nobody owns the number yet.
    expect(await detect(writer)).toBe(0);

    const caller = await newCustomer([{ kind: 'phone', value: '617.253.1000' }], { channel: 'voice' });
    expect(await detect(caller)).toBe(1);
    const suggestion = await theSuggestion(writer, caller);
    expect(codes(suggestion)).toEqual(['phone_in_signature']);
    expect(suggestion.score).toBeCloseTo(0.85);
  });

  it('phone first: a known customer later writes that number in an email signature', async () => {
    const caller = await newCustomer([{ kind: 'phone', value: '+1 415 767 3300' }], { channel: 'voice' });
    expect(await detect(caller)).toBe(0);

    const writer = await newCustomer([{ kind: 'email', value: 'ann.lee@phone-first.example' }], {
      displayName: 'Ann Lee',
      text: 'First message, no number here.',
      threadKey: 'thread-phone-first',
    });
    expect(await detect(writer)).toBe(0);
    const later = await contact([{ kind: 'email', value: 'ann.lee@phone-first.example' }], {
      text: 'Please call me back.\n\nAnn Lee | Sales | mobile 415 767 3300',
    });
    expect(later).toMatchObject({ customerId: writer, isNewCustomer: false, newIdentityIds: [] });

    expect(await detect(writer)).toBe(1);
    expect(codes(await theSuggestion(writer, caller))).toEqual(['phone_in_signature']);
  });

  it('a number written as a fax in one signature and owned as a fax by another customer', async () => {
    const faxer = await newCustomer([{ kind: 'fax', value: '+1 212 736 5100' }], { channel: 'fax' });
    const writer = await newCustomer([{ kind: 'email', value: 'kim@fax-sig.example' }], {
      text: 'Regards,\nKim\nFax +1 212-736-5100',
    });
    expect(await detect(writer)).toBe(1);
    expect(codes(await theSuggestion(writer, faxer))).toEqual(['phone_in_signature']);
  });

  it('one contact carrying identities of two existing customers (shared_contact)', async () => {
    const byEmail = await newCustomer([{ kind: 'email', value: 'sam@shared-contact.example' }]);
    const byPhone = await newCustomer([{ kind: 'phone', value: '+1 312 767 4830' }], { channel: 'voice' });

    const both = await contact([
      { kind: 'email', value: 'sam@shared-contact.example' },
      { kind: 'phone', value: '+1 312 767 4830' },
    ]);
    // The first known identity decides the customer; the other owner is reported, never silently merged.
    expect(both).toMatchObject({ customerId: byEmail, isNewCustomer: false, otherCustomerIds: [byPhone] });
    expect((await ctx.services.customers.profile(byPhone)).customer.mergedIntoId).toBeNull();

    // Only the ingest itself knows this signal: it is recorded at once, before any detection runs.
    const suggestion = await theSuggestion(byEmail, byPhone);
    expect(codes(suggestion)).toEqual(['shared_contact']);
    expect(suggestion.score).toBeCloseTo(0.95);
    expect(suggestion.status).toBe('open');

    // Detection afterwards (with or without the hint) keeps the one row.
    await detect(byEmail, [byPhone]);
    await detect(byPhone);
    expect((await theSuggestion(byEmail, byPhone)).id).toBe(suggestion.id);
  });

  it('several signals for one pair make one suggestion with every reason and the best score', async () => {
    const a = await newCustomer(
      [
        { kind: 'phone', value: '+1 312 767 4840' },
        { kind: 'email', value: 'lena.fischer@multi-signal.example' },
      ],
      { displayName: 'Lena Fischer', channel: 'voice' },
    );
    const b = await newCustomer(
      [
        { kind: 'fax', value: '+1 312 767 4840' },
        { kind: 'email', value: 'l.fischer@multi-signal.example' },
      ],
      { displayName: 'Lena Fischer', channel: 'fax' },
    );
    expect(await detect(b)).toBe(1);
    const suggestion = await theSuggestion(a, b);
    expect(codes(suggestion).sort()).toEqual(['same_name_and_email_domain', 'same_number_other_kind']);
    expect(suggestion.score).toBeCloseTo(0.9);
  });
});

describe('duplicate suggestions: not for different people', () => {
  it('same name at gmail.com or outlook.com', async () => {
    const ids = [
      await newCustomer([{ kind: 'email', value: 'maria.lopez@gmail.com' }], { displayName: 'Maria Lopez' }),
      await newCustomer([{ kind: 'email', value: 'mlopez1980@gmail.com' }], { displayName: 'Maria Lopez' }),
      await newCustomer([{ kind: 'email', value: 'maria.lopez@outlook.com' }], {
        displayName: 'María López',
      }),
      await newCustomer([{ kind: 'email', value: 'lopez.maria@outlook.com' }], {
        displayName: 'Maria Lopez',
      }),
    ];
    for (const id of ids) expect(await detect(id)).toBe(0);
    for (const id of ids) expect(await ctx.services.repositories.duplicates.forCustomer(id)).toEqual([]);
  });

  it('same corporate domain with different names', async () => {
    const a = await newCustomer([{ kind: 'email', value: 'anna.schmidt@globex.example' }], {
      displayName: 'Anna Schmidt',
    });
    const b = await newCustomer([{ kind: 'email', value: 'peter.weber@globex.example' }], {
      displayName: 'Peter Weber',
    });
    const c = await newCustomer([{ kind: 'email', value: 'a.schmidt-weber@globex.example' }], {
      displayName: 'Anna Schmidt-Weber',
    });
    for (const id of [a, b, c]) expect(await detect(id)).toBe(0);
    expect(await suggestionsFor(a, b)).toEqual([]);
    expect(await suggestionsFor(a, c)).toEqual([]);
  });

  it('a single given name only, even at the same company', async () => {
    const a = await newCustomer([{ kind: 'email', value: 'anna@initech.example' }], { displayName: 'Anna' });
    const b = await newCustomer([{ kind: 'email', value: 'anna.k@initech.example' }], {
      displayName: 'ANNA',
    });
    expect(await detect(a)).toBe(0);
    expect(await detect(b)).toBe(0);
    expect(await suggestionsFor(a, b)).toEqual([]);
  });

  it('different numbers, including ones that only share trailing digits', async () => {
    const a = await newCustomer([{ kind: 'phone', value: '+1 212 736 5000' }], { channel: 'voice' });
    const b = await newCustomer([{ kind: 'phone', value: '+1 212 736 5001' }], { channel: 'voice' });
    const c = await newCustomer([{ kind: 'fax', value: '+1 212 736 5002' }], { channel: 'fax' });
    // National number 2127365000 is the tail of this German number, whose national number is longer.
    const d = await newCustomer([{ kind: 'phone', value: '+49 30 2127365000' }], { channel: 'voice' });
    const e = await newCustomer([{ kind: 'email', value: 'no-number@numbers.example' }], {
      text: 'Call me on +1 212 736 5003 please',
    });
    for (const id of [a, b, c, d, e]) expect(await detect(id)).toBe(0);
    for (const id of [a, b, c, d, e])
      expect(await ctx.services.repositories.duplicates.forCustomer(id)).toEqual([]);
  });

  it('a customer is never suggested with itself', async () => {
    // Phone and fax on the same number, the own number in the own signature, and itself as "shared".
    const self = await newCustomer(
      [
        { kind: 'phone', value: '+1 312 767 4850' },
        { kind: 'fax', value: '+1 312 767 4850' },
        { kind: 'email', value: 'self@self.example' },
      ],
      { displayName: 'Self Same', text: 'Regards,\nSelf Same\n+1 312 767 4850' },
    );
    expect(await detect(self, [self])).toBe(0);
    expect(await ctx.services.repositories.duplicates.forCustomer(self)).toEqual([]);
  });

  it('re-running detection, from either side, does not duplicate the suggestion row', async () => {
    const a = await newCustomer([{ kind: 'phone', value: '+1 312 767 4860' }], { channel: 'voice' });
    const b = await newCustomer([{ kind: 'fax', value: '+1 312 767 4860' }], { channel: 'fax' });
    expect(await detect(b)).toBe(1);
    const first = await theSuggestion(a, b);
    expect(await detect(b)).toBe(1);
    expect(await detect(a)).toBe(1);
    expect(await detect(a, [b])).toBe(1);
    const rows = await suggestionsFor(a, b);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toBe(first.id);
    // The stronger signal found later raises the score and adds its reason to the same row.
    expect(rows[0]!.score).toBeCloseTo(0.95);
    expect(new Set(codes(rows[0]!))).toEqual(new Set(['same_number_other_kind', 'shared_contact']));
  });

  it('detection from the other side of a pair adds no second copy of the same evidence', async () => {
    const pairs = [
      [
        await newCustomer([{ kind: 'phone', value: '+1 312 767 4890' }], { channel: 'voice' }),
        await newCustomer([{ kind: 'fax', value: '+1 312 767 4890' }], { channel: 'fax' }),
      ],
      [
        await newCustomer([{ kind: 'phone', value: '+44 20 7946 0960' }], { channel: 'voice' }),
        await newCustomer([{ kind: 'phone', value: '207 946 0960' }], { channel: 'voice' }),
      ],
      [
        await newCustomer([{ kind: 'email', value: 'olga.ivanova@both-sides.example' }], {
          displayName: 'Olga Ivanova',
        }),
        await newCustomer([{ kind: 'email', value: 'o.ivanova@both-sides.example' }], {
          displayName: 'Olga Ivanova',
        }),
      ],
    ] as const;
    for (const [a, b] of pairs) {
      // Both customers are new, so ingest flags both and the sweep checks each: both sides run.
      await detect(b);
      const once = await theSuggestion(a, b);
      await detect(a);
      const twice = await theSuggestion(a, b);
      expect(twice.reasons).toHaveLength(once.reasons.length);
      expect(codes(twice)).toEqual([...new Set(codes(twice))]);
    }
  });

  it('a dismissed suggestion stays dismissed when detection runs again', async () => {
    const a = await newCustomer([{ kind: 'phone', value: '+1 312 767 4870' }], { channel: 'voice' });
    const b = await newCustomer([{ kind: 'fax', value: '+1 312 767 4870' }], { channel: 'fax' });
    expect(await detect(b)).toBe(1);
    const suggestion = await theSuggestion(a, b);

    const { cookie } = await ctx.loginAs('supervisor');
    const dismissed = await ctx.app.inject({
      method: 'POST',
      url: `/api/duplicate-suggestions/${suggestion.id}/dismiss`,
      headers: { cookie },
    });
    expect(dismissed.statusCode).toBe(204);

    await detect(b);
    await detect(a, [b]);
    // A new contact carrying both identities again does not reopen it either.
    const both = await contact(
      [
        { kind: 'phone', value: '+1 312 767 4870' },
        { kind: 'fax', value: '+1 312 767 4870' },
      ],
      { channel: 'fax' },
    );
    await detect(both.customerId, both.otherCustomerIds);

    const rows = await suggestionsFor(a, b);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: suggestion.id, status: 'dismissed' });
    const open = await ctx.app.inject({
      method: 'GET',
      url: '/api/duplicate-suggestions?status=open&limit=200',
      headers: { cookie },
    });
    expect(open.statusCode).toBe(200);
    const openIds = (open.json<{ suggestions: { id: string }[] }>().suggestions ?? []).map((s) => s.id);
    expect(openIds).not.toContain(suggestion.id);
  });
});

describe('duplicate suggestions: the sweep', () => {
  it('a sweep checks each flagged customer once and clears its flag', async () => {
    const sweep = (limit: number) => ctx.services.duplicateDetector.sweep(limit);
    // Every customer ingested so far in this file is flagged (no worker runs here): one sweep checks them all.
    await newCustomer([{ kind: 'email', value: 'flagged@sweep.example' }]);
    expect(await sweep(10_000)).toBeGreaterThanOrEqual(1);
    expect(await sweep(10_000)).toBe(0);

    const caller = await newCustomer([{ kind: 'phone', value: '+1 312 767 4895' }], { channel: 'voice' });
    const faxer = await newCustomer([{ kind: 'fax', value: '+1 312 767 4895' }], { channel: 'fax' });
    // A known customer with nothing new to say is not flagged again.
    await contact([{ kind: 'phone', value: '+1 312 767 4895' }], { channel: 'voice' });
    expect(await sweep(1)).toBe(1);
    expect(await sweep(1)).toBe(1);
    expect(await sweep(1)).toBe(0);
    expect(new Set(codes(await theSuggestion(caller, faxer)))).toEqual(new Set(['same_number_other_kind']));

    // A number written in a message flags the (known) writer again.
    await contact([{ kind: 'phone', value: '+1 312 767 4895' }], {
      channel: 'voice',
      text: 'call 312 767 4000',
    });
    expect(await sweep(10)).toBe(1);
    expect(await sweep(10)).toBe(0);
  });

  it('the customers.sweep-duplicates job records suggestions on its own after ingest', async () => {
    const worker = await createTestContext({ isWorker: true, config: { duplicateSweepMs: 100 } });
    try {
      // New customers are flagged by ingest.
      const caller = await newCustomer(
        [{ kind: 'phone', value: '+1 312 767 4880' }],
        { channel: 'voice' },
        worker,
      );
      const faxer = await newCustomer(
        [{ kind: 'fax', value: '+1 312 767 4880' }],
        { channel: 'fax' },
        worker,
      );
      // A known customer writing a number (no new identity) is flagged too.
      const phoneOwner = await newCustomer(
        [{ kind: 'phone', value: '+1 312 767 4881' }],
        { channel: 'voice' },
        worker,
      );
      const writer = await newCustomer([{ kind: 'email', value: 'job@job-signature.example' }], {}, worker);
      const later = await contact(
        [{ kind: 'email', value: 'job@job-signature.example' }],
        { text: 'Regards,\nJo\nTel +1 312 767 4881' },
        worker,
      );
      expect(later).toMatchObject({ isNewCustomer: false, newIdentityIds: [] });

      const deadline = Date.now() + 15_000;
      let found: DuplicateSuggestion[][] = [];
      while (Date.now() < deadline) {
        found = [
          await suggestionsFor(caller, faxer, worker),
          await suggestionsFor(phoneOwner, writer, worker),
        ];
        if (found.every((rows) => rows.length > 0)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(found[0]!.map((s) => [...new Set(codes(s))])).toEqual([['same_number_other_kind']]);
      expect(found[1]!.map((s) => [...new Set(codes(s))])).toEqual([['phone_in_signature']]);
    } finally {
      await worker.close();
    }
  });
});

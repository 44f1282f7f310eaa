import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawIdentity } from '../../src/interactions/inbound-contact.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * A customer's duplicate suggestions for the console's profile (GET /api/customers/:id/duplicate-suggestions),
 * on a real Postgres: open suggestions only, best first, each naming the other customer with their name and
 * identities, from either customer's side; a dismissed or merged pair is gone.
 */

let ctx: TestContext;
let cookie: string;
let supervisorId: string;

beforeAll(async () => {
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  ({ cookie } = await ctx.loginAs('agent'));
  ({ agentId: supervisorId } = await ctx.loginAs('supervisor'));
});
afterAll(() => ctx.close());

async function customer(identities: RawIdentity[], displayName: string): Promise<string> {
  const result = await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@duplicates>`,
    identities,
    displayName,
  });
  expect(result.isNewCustomer).toBe(true);
  return result.customerId;
}

interface Listed {
  id: string;
  score: number;
  reasons: { code: string; detail: string }[];
  otherCustomer: { id: string; displayName: string | null; identities: { kind: string; value: string }[] };
}

const suggestionsOf = async (customerId: string) => {
  const response = await ctx.app.inject({
    method: 'GET',
    url: `/api/customers/${customerId}/duplicate-suggestions`,
    headers: { cookie },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ suggestions: Listed[] }>().suggestions;
};

describe('GET /api/customers/:id/duplicate-suggestions', () => {
  it('names the other customer from either side, best first, and drops dismissed and merged pairs', async () => {
    const phone = '+1 212 555 01' + String(Math.floor(Math.random() * 90) + 10);
    const jane = await customer([{ kind: 'phone', value: phone }], 'Jane Doe');
    const faxJane = await customer([{ kind: 'fax', value: phone }], 'J. Doe (fax)');
    const sharedJane = await customer([{ kind: 'email', value: `${randomUUID()}@doe.example` }], 'Jane D.');
    await ctx.services.duplicateDetector.detectFor(faxJane);
    await ctx.services.duplicateDetector.detectFor(sharedJane, [jane]);

    const fromJane = await suggestionsOf(jane);
    expect(fromJane.map((s) => s.otherCustomer.id).sort()).toEqual([faxJane, sharedJane].sort());
    expect(fromJane.map((s) => s.score)).toEqual([...fromJane.map((s) => s.score)].sort((a, b) => b - a));
    const fax = fromJane.find((s) => s.otherCustomer.id === faxJane)!;
    expect(fax.otherCustomer).toMatchObject({
      displayName: 'J. Doe (fax)',
      identities: [{ kind: 'fax', value: expect.stringMatching(/^\+1212555/) as unknown }],
    });
    expect(fax.reasons.map((r) => r.code)).toContain('same_number_other_kind');

    const fromFax = await suggestionsOf(faxJane);
    expect(fromFax.map((s) => s.otherCustomer)).toEqual([
      expect.objectContaining({ id: jane, displayName: 'Jane Doe' }),
    ]);

    await ctx.services.customers.dismissSuggestion(fax.id, supervisorId);
    expect((await suggestionsOf(jane)).map((s) => s.otherCustomer.id)).toEqual([sharedJane]);
    await ctx.services.customers.merge(sharedJane, jane, supervisorId);
    expect(await suggestionsOf(jane)).toEqual([]);
  });

  it('answers 404 for an unknown customer', async () => {
    const response = await ctx.app.inject({
      method: 'GET',
      url: '/api/customers/00000000-0000-4000-8000-000000000000/duplicate-suggestions',
      headers: { cookie },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'CUSTOMER_NOT_FOUND' } });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/test-context.js';

describe('app on real Postgres and Redis', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.close());

  it('is ready when Postgres and Redis answer', async () => {
    const response = await ctx.app.inject({ method: 'GET', url: '/ready' });
    expect(response.json()).toEqual({ status: 'ready', postgres: true, redis: true });
  });

  it('ingests a contact into the log', async () => {
    const result = await ctx.services.ingest({
      channel: 'email',
      externalId: '<a@b>',
      identities: [{ kind: 'email', value: 'A@Example.com ' }],
      text: 'hello',
    });
    expect(result.isDuplicate).toBe(false);
    const again = await ctx.services.ingest({
      channel: 'email',
      externalId: '<a@b>',
      identities: [{ kind: 'email', value: 'a@example.com' }],
    });
    expect(again).toMatchObject({ isDuplicate: true, interactionId: result.interactionId });
  });
});

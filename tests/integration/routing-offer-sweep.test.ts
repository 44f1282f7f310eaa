import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAgent, queueContact, resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The overdue-offer sweep: a live offer whose timeout job never ran (here: no job worker in this process,
 * as if the process died right after the claim) is expired by the sweep once past its expiry plus the
 * grace, and the contact is re-offered. Nothing is expired early, and a second sweep changes nothing.
 */

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({
    config: { routingRulesDir: rules.dir, routeOnIngest: false },
    isWorker: false,
  });
});

afterAll(async () => {
  await ctx?.close();
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

describe('overdue-offer sweep', () => {
  it('expires a live offer whose timeout job was lost, re-offers the contact, and never expires early', async () => {
    const routing = ctx.services.routing;
    const first = await createAgent(ctx.services);
    const second = await createAgent(ctx.services);
    await ctx.services.agentStates.setState(first, 'available');
    await ctx.services.agentStates.setState(second, 'available');
    const id = await queueContact(ctx.services, 'chat', 'a quick question'); // the 1 s queue

    const [offer] = (await routing.dispatcher.dispatch()).offers;
    expect(offer).toBeDefined();
    // Before expiry plus grace, the sweep leaves the offer alone.
    expect(await routing.offers.expireOverdue(60_000)).toBe(0);
    expect((await ctx.services.repositories.routing.findOffer(offer!.offerId))?.status).toBe('offered');

    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(await routing.offers.expireOverdue(60_000)).toBe(0);
    expect(await routing.offers.expireOverdue(100)).toBe(1);
    expect((await ctx.services.repositories.routing.findOffer(offer!.offerId))?.status).toBe('expired');

    const live = (await ctx.services.repositories.routing.offersOf(id)).filter((o) => o.status === 'offered');
    expect(live).toHaveLength(1);
    expect(live[0]!.agentId).not.toBe(offer!.agentId);
    // A second sweep, or the lost job turning up late, changes nothing.
    expect(await routing.offers.expireOverdue(100)).toBe(0);
    expect(await routing.offers.expire(offer!.offerId)).toBe('already-settled');
  });
});

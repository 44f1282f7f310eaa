import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../src/interactions/outbound-message.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * SLA clocks in the agent console, against the real server: a queue whose policy wants a first response in
 * 2 minutes (warning 15 s after the contact arrived) and a resolution in an hour, around the clock. Ada
 * takes an email and sees both clocks count down; the sweep (run here by the test instead of the repeating
 * job) settles the first response's warning, the console reads the clocks again on the `sla.changed` push
 * and the chip says "warning"; Ada replies, the next sweep stops the clock, and the chip says it was met.
 * Screenshots land in test-results/screenshots/.
 */

const password = 'correct horse battery';
const rulesText = `
queues:
  - name: general
    strategy: longest-idle
    channels: [email, chat]
    wrapUpSeconds: 0
    sla:
      - { firstResponse: 2m, resolution: 1h, warnBefore: 1m45s, businessHours: false }
rules:
  - { name: default, queue: general, priority: 0 }
capacity:
  email: { max: 5 }
options:
  offerTimeoutSeconds: 600
`;

describe('agent console: SLA clocks', () => {
  let ctx: TestContext;
  let browser: Browser;
  let page: Page;
  const rules = writeRulesFolder(rulesText);
  const sent: OutboundMessage[] = [];
  const pageErrors: string[] = [];
  /** The console's reads of the clocks (GET /api/interactions/:id/sla). */
  let slaReads = 0;

  beforeAll(async () => {
    // No job worker: the test runs the sweep itself, when it wants a clock settled.
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir } });
    ctx.services.outboundRegistry.register('email', {
      isImmediate: true,
      send: async (message) => {
        sent.push(message);
        return {};
      },
    });
    const baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    await ctx.services.agents.create(
      { email: 'ada@sla.e2e', displayName: 'Ada Agent', role: 'agent', password },
      null,
    );
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => {
      if (/\/api\/interactions\/[^/]+\/sla$/.test(new URL(request.url()).pathname)) slaReads += 1;
    });
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    rules.remove();
  });

  it('counts the first response down, shows its warning after a sweep, and its met once answered', async () => {
    await page.goto('/');
    await page.getByLabel('Email').fill('ada@sla.e2e');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Connected').waitFor();
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');

    const { interactionId } = await ctx.services.ingest({
      channel: 'email',
      externalId: `<sla-${Date.now()}@example.com>`,
      identities: [{ kind: 'email', value: 'grace@customer.example' }],
      displayName: 'Grace Customer',
      subject: 'Parcel missing',
      text: 'My parcel never arrived.',
    });
    const toast = page.getByTestId('offer-toast');
    await toast.waitFor();
    // Routed to its queue (offered to Ada): a sweep gives it its queue's clocks before she opens it.
    await ctx.services.sla.sweep();
    const stored = await ctx.services.repositories.sla.clocksOf(interactionId);
    const firstResponse = stored.find((clock) => clock.metric === 'firstResponse');
    expect(firstResponse).toBeDefined();
    expect(firstResponse!.targetSeconds).toBe(120);
    await toast.getByRole('button', { name: /Accept/ }).click();
    await toast.waitFor({ state: 'detached' });

    // Both clocks run, counting down each second; the due time is the chip's title.
    const chip = page.locator('[data-testid="sla-clock"][data-metric="firstResponse"]');
    const resolution = page.locator('[data-testid="sla-clock"][data-metric="resolution"]');
    await chip.waitFor();
    expect(await chip.getAttribute('data-status')).toBe('running');
    const countdown = await chip.textContent();
    expect(countdown).toMatch(/^First response · due in 1m [45]\ds$/);
    await expect.poll(() => chip.textContent(), { timeout: 3000 }).not.toBe(countdown);
    expect(await chip.getAttribute('title')).toContain('Due ');
    expect(await chip.getAttribute('title')).toContain('Target 2m 00s (queue general)');
    expect(await chip.getByRole('timer').getAttribute('aria-label')).toMatch(
      /^First response · due in 1m \d\ds, due /,
    );
    expect(await resolution.textContent()).toMatch(/^Resolution · due in 59m \d\ds$/);
    expect(await page.getByRole('list', { name: 'SLA' }).getByRole('listitem').count()).toBe(2);
    await saveScreenshot(page, 'console-sla-running');

    // Past the warning time, a sweep settles the warning: the console is told and reads the clocks again.
    const warnAt = firstResponse!.warnAt.getTime();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, warnAt - Date.now() + 300)));
    const readsBefore = slaReads;
    expect((await ctx.services.sla.sweep()).settled).toBe(1);
    await expect.poll(() => slaReads).toBeGreaterThan(readsBefore);
    await expect.poll(() => chip.getAttribute('data-status')).toBe('warning');
    expect(await chip.textContent()).toMatch(/^First response · warning · due in 1m [34]\ds$/);
    expect(await chip.getAttribute('class')).toContain('sla-warning');
    expect(await resolution.getAttribute('data-status')).toBe('running');
    await expect
      .poll(() => page.getByTestId('sla-announcer').textContent())
      .toMatch(/^First response · warning · due in 1m \d\ds$/);
    await saveScreenshot(page, 'console-sla-warning');

    // Ada answers; the next sweep stops the first response's clock in time: met, shown small.
    const reply = page.getByRole('textbox', { name: 'Reply' });
    await reply.fill('Sorry: a new parcel leaves today.');
    await reply.press('Control+Enter');
    await expect.poll(() => sent.map((m) => m.text)).toEqual(['Sorry: a new parcel leaves today.']);
    await waitFor(async () => {
      const clocks = await ctx.services.repositories.sla.clocksOf(interactionId);
      if (clocks.some((c) => c.metric === 'firstResponse' && c.stoppedAt !== null)) return true;
      await ctx.services.sla.sweep();
      return undefined;
    });
    await expect.poll(() => chip.getAttribute('data-status')).toBe('met');
    expect(await chip.textContent()).toMatch(/^First response met in \d+s$/);
    expect(await chip.getAttribute('class')).toContain('stopped');
    expect(await chip.getByRole('timer').count()).toBe(0);
    expect(await resolution.getAttribute('data-status')).toBe('running');
    await saveScreenshot(page, 'console-sla-met');

    expect(pageErrors).toEqual([]);
  }, 60_000);
});

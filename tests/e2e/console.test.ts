import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../src/interactions/outbound-message.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The agent console in a real Chromium against the real server (Postgres, Redis, routing) on a free port:
 * log in, go available, take an offer from its toast, read the customer's message, reply. Customer-supplied
 * HTML must show as text. Screenshots land in test-results/screenshots/.
 */

const hostile = '<img src=x onerror=alert(1)><script>window.pwned=1</script>';
const password = 'correct horse battery';

describe('agent console', () => {
  let ctx: TestContext;
  let browser: Browser;
  let page: Page;
  let baseUrl: string;
  const rules = writeRulesFolder();
  const sent: OutboundMessage[] = [];
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir } });
    ctx.services.outboundRegistry.register('email', {
      isImmediate: true,
      send: async (message) => {
        sent.push(message);
        return {};
      },
    });
    baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    rules.remove();
  });

  it('serves the console at / and keeps the API beside it', async () => {
    const index = await ctx.app.inject({ url: '/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toMatch(/text\/html/);
    expect(index.body).toContain('<div id="app">');
    expect((await ctx.app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await ctx.app.inject({ url: '/api/nothing-here' })).statusCode).toBe(404);
  });

  it('logs in, takes an offer from the toast, replies, and renders customer HTML as text', async () => {
    await ctx.services.agents.create(
      { email: 'ada@e2e.switchboard', displayName: 'Ada Agent', role: 'agent', password },
      null,
    );

    await page.goto('/');
    await page.getByLabel('Email').fill('ada@e2e.switchboard');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Connected').waitFor();

    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');

    await ctx.services.ingest({
      channel: 'email',
      externalId: `<e2e-${Date.now()}@example.com>`,
      identities: [{ kind: 'email', value: 'mallory@example.com' }],
      displayName: `Mallory ${hostile}`,
      subject: 'Wrong total',
      text: `Hello, my order shows ${hostile} instead of a total.`,
    });

    const toast = page.getByTestId('offer-toast');
    await toast.waitFor();
    await expect.poll(() => page.getByTestId('offer-countdown').textContent()).toMatch(/^\d+s$/);
    await toast.getByText(`Mallory ${hostile}`).waitFor();
    await saveScreenshot(page, 'console-offer-toast');

    await page.keyboard.press('a');
    await toast.waitFor({ state: 'detached' });
    const conversation = page.getByTestId('conversation');
    await conversation.getByText(`Hello, my order shows ${hostile} instead of a total.`).waitFor();
    await conversation.getByText('Why was this routed to me:').waitFor();
    await page.getByTestId('work-item').getByText(`Mallory ${hostile}`).waitFor();

    // The draft survives a reload.
    await page
      .getByRole('textbox', { name: 'Reply' })
      .fill('Sorry about that: a corrected order is on its way.');
    await page.reload();
    await page.getByTestId('work-item').click();
    const reply = page.getByRole('textbox', { name: 'Reply' });
    await expect.poll(() => reply.inputValue()).toBe('Sorry about that: a corrected order is on its way.');
    await reply.press('Control+Enter');

    await conversation
      .locator('[data-type="message.sent"]')
      .getByText('Sorry about that: a corrected order is on its way.')
      .waitFor();
    await expect.poll(() => reply.inputValue()).toBe('');
    await expect
      .poll(() => sent.map((m) => m.text))
      .toEqual(['Sorry about that: a corrected order is on its way.']);
    await saveScreenshot(page, 'console-conversation');

    // Customer-supplied markup stayed text: no element came of it, nothing ran.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('#app script').count()).toBe(0);
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

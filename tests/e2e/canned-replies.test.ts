import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Standard answers in a real Chromium: a supervisor writes one on the console's screen for them, then
 * answers a contact from the composer's picker (Ctrl+K, and "/" in an empty composer) and gets the text
 * rendered for that ticket and agent, with the placeholder it had no value for (no customer name on
 * record) selected for them to type over. A web chat
 * visitor on a shop's page is offered a matching answer before anyone takes the chat, says it answered
 * them, and the chat ends as self-served. Screenshots land in test-results/screenshots/.
 */

const password = 'correct horse battery';

describe('standard answers', () => {
  let ctx: TestContext;
  let browser: Browser;
  let baseUrl: string;
  // The shop's page, on its own local server: the widget is embedded from the Switchboard server.
  let shop: Server;
  let shopOrigin: string;
  const rules = writeRulesFolder();
  const pageErrors: string[] = [];

  beforeAll(async () => {
    shop = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(`<!doctype html><html><body><h1>Shop</h1>
        <script>window.SwitchboardChat = { widgetId: 'shop' };</script>
        <script src="${baseUrl}/widget.js"></script></body></html>`);
    });
    await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
    shopOrigin = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;
    ctx = await createTestContext({
      config: {
        routingRulesDir: rules.dir,
        webchat: {
          widgets: {
            shop: { allowedOrigins: [shopOrigin], identitySecret: undefined, isIdentityRequired: false },
          },
          tokenSecret: undefined,
          maxMessageChars: 4000,
          rateLimitMessages: 10,
          rateLimitWindowMs: 10_000,
        },
      },
    });
    ctx.services.outboundRegistry.register('email', { isImmediate: true, send: async () => ({}) });
    baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    shop?.close();
    rules.remove();
  });

  async function newPage(): Promise<Page> {
    const page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    return page;
  }

  it('a supervisor writes an answer, then inserts it rendered from the composer', async () => {
    await ctx.services.agents.create(
      { email: 'sue@e2e.switchboard', displayName: 'Sue Supervisor', role: 'supervisor', password },
      null,
    );
    const page = await newPage();
    await page.goto('/');
    await page.getByLabel('Email').fill('sue@e2e.switchboard');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Connected').waitFor();

    // The supervisors' screen: a new answer.
    await page.getByTestId('answers-admin-open').click();
    const admin = page.getByTestId('answers-admin');
    await admin.waitFor();
    await page.getByTestId('answer-title').fill('Parcel on its way');
    await page
      .getByTestId('answer-body')
      .fill('Hello {{customer.firstName}}, your parcel ({{ticket}}) left today. {{agent.firstName}}');
    await page.getByTestId('answer-shortcut').fill('/parcel');
    await page.getByTestId('answer-keywords').fill('parcel, delivery');
    await page.getByTestId('answer-save').click();
    await expect.poll(() => page.getByTestId('answer-notice').textContent()).toContain('Saved');
    await admin.getByTestId('answer-row').getByText('Parcel on its way').waitFor();
    await page.getByTestId('answer-new').click();
    await page.getByTestId('answer-title').fill('Apology');
    await page.getByTestId('answer-body').fill('Dear {{customer.name}}, we are sorry.');
    await page.getByTestId('answer-save').click();
    await admin.getByTestId('answer-row').getByText('Apology').waitFor();
    await saveScreenshot(page, 'console-standard-answers-admin');
    await page.getByTestId('answers-admin-open').click();
    await admin.waitFor({ state: 'detached' });

    // Take a contact and answer it from the picker.
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');
    const contact = await ctx.services.ingest({
      channel: 'email',
      externalId: `<e2e-answers-${Date.now()}@example.com>`,
      // No name on record: the answers' name placeholders stay for the agent to fill in.
      identities: [{ kind: 'email', value: 'ada@example.com' }],
      subject: 'Where is my parcel?',
      text: 'Hello, where is my parcel?',
    });
    const { ticketNumber } = (await ctx.services.interactions.detail(contact.interactionId)).interaction;
    await page.getByTestId('offer-toast').waitFor();
    await page.keyboard.press('a');
    const reply = page.getByRole('textbox', { name: 'Reply' });
    await reply.waitFor();

    await reply.fill('Hi! ');
    await page.keyboard.press('Control+k');
    await page.getByTestId('canned-search').fill('parcel');
    await page.getByTestId('canned-result').first().getByText('Parcel on its way').waitFor();
    await saveScreenshot(page, 'console-standard-answers-picker');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => reply.inputValue())
      .toBe(`Hi! Hello {{customer.firstName}}, your parcel (#${ticketNumber}) left today. Sue`);
    await page.getByTestId('canned-picker').waitFor({ state: 'detached' });
    // The unfilled placeholder is selected: typing replaces it, and the warning goes.
    await expect
      .poll(() => page.getByTestId('canned-unresolved').textContent())
      .toContain('{{customer.firstName}}');
    await page.keyboard.type('Ada');
    await expect
      .poll(() => reply.inputValue())
      .toBe(`Hi! Hello Ada, your parcel (#${ticketNumber}) left today. Sue`);
    expect(await page.getByTestId('canned-unresolved').count()).toBe(0);

    // "/" in an empty composer opens the picker too; a click picks.
    await reply.fill('');
    await reply.press('/');
    await page.getByTestId('canned-search').fill('apology');
    await page.getByTestId('canned-result').getByText('Apology').click();
    await expect.poll(() => reply.inputValue()).toBe('Dear {{customer.name}}, we are sorry.');
    await page.getByTestId('canned-unresolved').waitFor();
    await saveScreenshot(page, 'console-standard-answers-inserted');

    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('offers a matching answer to a web chat visitor, who says it answered them', async () => {
    const supervisor = await ctx.services.agents.create(
      { email: 'sam@e2e.switchboard', displayName: 'Sam Supervisor', role: 'supervisor', password },
      null,
    );
    await ctx.services.cannedReplies.create(
      {
        title: 'Reset your password',
        body: 'Hi {{customer.firstName}}, use "Forgot password" on the login page.',
        keywords: ['password'],
        isVisitorSuggestible: true,
      },
      supervisor,
    );
    const page = await newPage();
    await page.goto(`${shopOrigin}/`);
    await page.getByTestId('sb-launcher').click();
    await page.getByTestId('sb-prechat-name').fill('Grace Hopper');
    await page.getByTestId('sb-start').click();
    await page.getByTestId('sb-input').fill('I forgot my password');
    await page.getByTestId('sb-send').click();

    const suggestion = page.getByTestId('sb-suggestion');
    await suggestion.getByText('Hi Grace, use "Forgot password" on the login page.').waitFor();
    await saveScreenshot(page, 'widget-standard-answers');
    await suggestion.getByTestId('sb-suggestion-yes').click();
    await page.getByTestId('sb-self-served').waitFor();
    await page.getByTestId('sb-closed').waitFor();
    expect(await page.getByTestId('sb-suggestions').count()).toBe(0);

    const { rows } = await ctx.services.pool.query<{ status: string; closed_reason: string }>(
      `select status, closed_reason from interactions where channel = 'chat'`,
    );
    expect(rows).toEqual([
      {
        status: 'closed',
        closed_reason: 'self-served: the standard answer "Reset your password" answered them',
      },
    ]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

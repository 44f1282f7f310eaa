import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Agent } from '../../src/db/repositories/agents.repository.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The agent console's working tools in a real Chromium against the real server (Postgres, Redis, routing,
 * web chat), with a shop's page embedding the chat widget:
 *   - a returning customer chats: the offer's toast says why it came to Ada (strategy, the colleague passed
 *     over); the conversation shows the customer's whole timeline across channels (email, a call, colleagues'
 *     notes, this chat marked), earlier contacts paged in; typing shows both ways (visitor in the console,
 *     agent in the widget); closing needs one of the billing queue's disposition codes, and a code an admin
 *     removed meanwhile is refused by the server, said clearly, and the list re-read;
 *   - Ada transfers an email to a colleague picked by state and load; a colleague who went away meanwhile is
 *     refused with his name and the reason; then he takes it, and his console says who transferred it and why;
 *   - a phone number typed in another format finds the customer; the profile shows identities, the open call,
 *     recent contacts and the possible duplicate, whose own profile opens from there.
 * Screenshots land in test-results/screenshots/.
 */

const password = 'correct horse battery';

const rulesText = (billingCodes: string) => `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
  - name: billing
    strategy: skills
    skills: { billing: 2 }
    channels: [voice, email, chat, fax]
    wrapUpSeconds: 0
    dispositions:
${billingCodes}
  # Nobody has the skill: calls and faxes wait here, open.
  - { name: callbacks, strategy: longest-idle, skills: { callbacks: 1 }, channels: [voice, fax] }
rules:
  - { name: billing, when: { keywords: invoice }, queue: billing, priority: 10 }
  - { name: calls-and-faxes, when: { channel: [voice, fax] }, queue: callbacks, priority: 0 }
  - { name: default, queue: general, priority: 0 }
options:
  offerTimeoutSeconds: 600
  dispositions:
    - { code: resolved, label: Resolved }
    - { code: follow-up, label: Follow-up needed }
`;
const allBillingCodes = `      - { code: refund-issued, label: Refund issued }
      - { code: resolved, label: Resolved }
      - { code: spam, label: Spam }`;
const withoutSpam = `      - { code: refund-issued, label: Refund issued }
      - { code: resolved, label: Resolved }`;

describe('agent console: timeline, typing, wrap-up, transfer, customers', () => {
  let ctx: TestContext;
  let browser: Browser;
  let baseUrl: string;
  let shop: Server;
  let shopOrigin: string;
  let ada: Agent;
  let bob: Agent;
  let dee: Agent;
  let adaPage: Page;
  let linusId: string;
  const rules = writeRulesFolder(rulesText(allBillingCodes));
  const pageErrors: string[] = [];

  const agent = (email: string, displayName: string, skills: Record<string, number>) =>
    ctx.services.agents.create({ email, displayName, role: 'agent', password, skills }, null);

  async function newPage(): Promise<Page> {
    const page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    return page;
  }

  async function consoleOf(email: string): Promise<Page> {
    const page = await newPage();
    await page.goto('/');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('Connected');
    return page;
  }

  async function available(page: Page) {
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');
  }

  /** An interaction from the past: routed like any contact, then closed unless it should stay open. */
  async function history(contact: Parameters<TestContext['services']['ingest']>[0], isClosed = true) {
    const { interactionId } = await ctx.services.ingest(contact);
    await ctx.services.routing.route(interactionId);
    if (isClosed)
      await ctx.services.routing.endContact(interactionId, {
        actor: { type: 'system', id: null },
        reason: 'answered',
      });
    return interactionId;
  }

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
          ...loadConfig({}).webchat,
          widgets: {
            shop: { allowedOrigins: [shopOrigin], identitySecret: undefined, isIdentityRequired: false },
          },
        },
      },
    });
    ctx.services.outboundRegistry.register('email', { isImmediate: true, send: async () => ({}) });
    baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();

    ada = await agent('ada@features.e2e', 'Ada Agent', { billing: 3 });
    bob = await agent('bob@features.e2e', 'Bob Builder', { billing: 3 });
    const cy = await agent('cy@features.e2e', 'Cy Colleague', { billing: 3 });
    dee = await agent('dee@features.e2e', 'Dee Newcomer', {});

    // Linus's past, before anyone works: an email (with his phone in the signature block's identities), a
    // call that waits for a callback, and many notes colleagues left on the email since.
    const email = await history({
      channel: 'email',
      externalId: '<old-order@features.e2e>',
      identities: [
        { kind: 'email', value: 'linus@example.com' },
        { kind: 'phone', value: '+1 415 555 0199' },
      ],
      displayName: 'Linus Torvalds',
      subject: 'Where is my keyboard?',
      text: 'I ordered a keyboard two weeks ago.',
    });
    const call = await history(
      {
        channel: 'voice',
        externalId: 'CA-features-1',
        identities: [{ kind: 'phone', value: '+14155550199' }],
        text: 'Caller asked to be called back about the keyboard.',
      },
      false,
    );
    const detail = await ctx.services.interactions.detail(call);
    linusId = detail.interaction.customerId;
    for (let i = 1; i <= 60; i++)
      await ctx.services.interactions.addNote(email, `Checked the courier, update ${i}`, ada);

    await ctx.services.agentStates.setState(cy.id, 'away', 'Lunch');
    // Available without the billing skill: the router passes her over for billing contacts.
    await ctx.services.agentStates.setState(dee.id, 'available', null);
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    shop?.close();
    rules.remove();
  });

  it('shows why, the whole cross-channel timeline, typing both ways, and requires a valid disposition', async () => {
    adaPage = await consoleOf('ada@features.e2e');
    await available(adaPage);

    // Linus chats from the shop, leaving the email address the console knows him by.
    const visitor = await newPage();
    await visitor.goto(`${shopOrigin}/`);
    await visitor.getByTestId('sb-launcher').click();
    await visitor.getByTestId('sb-prechat-name').fill('Linus Torvalds');
    await visitor.getByTestId('sb-prechat-email').fill('linus@example.com');
    await visitor.getByTestId('sb-start').click();
    await visitor.getByTestId('sb-input').fill('Hello, my invoice shows the keyboard twice.');
    await visitor.getByTestId('sb-send').click();

    // The toast: why Ada, by which strategy, and who was passed over (names, not ids).
    const toast = adaPage.getByTestId('offer-toast');
    await toast.waitFor();
    const why = toast.getByTestId('offer-why');
    await why.getByText('Queue billing · skills').waitFor();
    await why.getByText(/Passed over: Dee Newcomer \(lacks skill billing\)/).waitFor();
    expect(await why.textContent()).toContain('Ada Agent');
    expect(await why.textContent()).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    await saveScreenshot(adaPage, 'console-features-offer-why');
    await toast.getByRole('button', { name: /Accept/ }).click();

    // The whole timeline: the chat (this conversation, marked, newest last) after the notes on the email.
    const conversation = adaPage.getByTestId('conversation');
    const timeline = conversation.getByTestId('timeline');
    await timeline.getByText('Hello, my invoice shows the keyboard twice.').waitFor();
    const runs = timeline.getByTestId('timeline-run');
    const current = timeline.locator('[data-testid="timeline-run"][data-current="true"]');
    await expect.poll(() => current.count()).toBe(1);
    expect(await current.getAttribute('data-channel')).toBe('chat');
    expect(await runs.last().getAttribute('data-current')).toBe('true');
    await timeline.getByText('Checked the courier, update 60').waitFor();
    expect(await timeline.getByText('I ordered a keyboard two weeks ago.').count()).toBe(0);
    // Earlier contacts, paged in: the call and the first email, oldest first.
    await timeline.getByTestId('timeline-older').click();
    await timeline.getByText('I ordered a keyboard two weeks ago.').waitFor();
    await timeline.getByText('Caller asked to be called back about the keyboard.').waitFor();
    await expect
      .poll(async () => runs.evaluateAll((els) => els.map((el) => el.getAttribute('data-channel'))))
      .toEqual(['email', 'voice', 'email', 'chat']);
    expect(await timeline.getByTestId('timeline-older').count()).toBe(0);

    // Why it came here, in the conversation too.
    const whyPanel = conversation.getByTestId('why-routed');
    await whyPanel.getByText('Why was this routed to me?').waitFor();
    await whyPanel.getByText('Queue billing · strategy skills').waitFor();
    await whyPanel.getByText('Dee Newcomer').waitFor();
    await saveScreenshot(adaPage, 'console-features-timeline');

    // Typing, both ways. The widget says "typing" on a key after 1.5 s without one, and "stopped" 1.5 s
    // after the last: the visitor presses a key every 2 s (so that a burst the widget already counted as
    // announced, its first message's, cannot hide it) while the console is watched in between.
    const visitorInput = visitor.getByTestId('sb-input');
    const typingShown = conversation.getByTestId('customer-typing');
    let pressedAt = 0;
    await expect
      .poll(
        async () => {
          // The text of what is shown, read without waiting (it may go between two reads).
          const shown = await typingShown.evaluateAll((els) => els.map((el) => el.textContent).join(''));
          if (shown) return shown;
          if (Date.now() - pressedAt >= 2000) {
            pressedAt = Date.now();
            await visitorInput.press('x');
          }
          return null;
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe('Linus Torvalds is typing…');
    await saveScreenshot(adaPage, 'console-features-visitor-typing');
    // Stopped typing: the indicator goes.
    await typingShown.waitFor({ state: 'detached', timeout: 15_000 });

    const reply = adaPage.getByRole('textbox', { name: 'Reply' });
    const agentTyping = visitor.getByTestId('sb-typing');
    await reply.pressSequentially('Let me check', { delay: 20 });
    await expect
      .poll(
        async () => {
          if (await agentTyping.isVisible()) return agentTyping.textContent();
          await reply.press('.');
          return null;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBe('Ada Agent is typing…');
    await saveScreenshot(visitor, 'widget-agent-typing');
    await reply.fill('Let me check.');
    await reply.press('Control+Enter');
    await visitor.getByText('Let me check.').waitFor();
    // Sent: the agent stopped typing.
    await expect.poll(() => agentTyping.isVisible(), { timeout: 10_000 }).toBe(false);

    // Wrap-up: the billing queue's codes; closing without one is refused by the server, clearly.
    const wrapUp = conversation.getByTestId('wrap-up');
    const disposition = wrapUp.getByTestId('disposition');
    await expect
      .poll(() => disposition.locator('option').allTextContents())
      .toEqual(['Choose…', 'Refund issued', 'Resolved', 'Spam']);
    await wrapUp.getByTestId('close-interaction').click();
    await expect
      .poll(() => wrapUp.getByTestId('wrap-up-error').textContent())
      .toBe('Choose a disposition code to close this contact: refund-issued, resolved, spam.');
    // An admin drops "spam" meanwhile; the console still offers it, the server refuses it.
    await disposition.selectOption('spam');
    writeFileSync(join(rules.dir, 'rules.yaml'), rulesText(withoutSpam));
    expect((await ctx.services.routing.rules.load()).status).toBe('loaded');
    await wrapUp.getByTestId('close-interaction').click();
    await expect
      .poll(() => wrapUp.getByTestId('wrap-up-error').textContent())
      .toBe("'spam' is not a disposition code for this contact; choose one of: refund-issued, resolved.");
    await expect
      .poll(() => disposition.locator('option').allTextContents())
      .toEqual(['Choose…', 'Refund issued', 'Resolved']);
    await saveScreenshot(adaPage, 'console-features-disposition-refused');
    await disposition.selectOption('refund-issued');
    await wrapUp.getByTestId('close-interaction').click();
    await visitor.getByTestId('sb-closed').waitFor();
    await conversation.getByText('Closed (refund-issued): agent closed').waitFor();
    await expect.poll(() => conversation.getByTestId('wrap-up').count()).toBe(0);
    await visitor.close();
  }, 90_000);

  it('transfers to a colleague picked by state and load, and says clearly why one was refused', async () => {
    const bobPage = await consoleOf('bob@features.e2e');
    await ctx.services.ingest({
      channel: 'email',
      externalId: '<charged-twice@features.e2e>',
      identities: [{ kind: 'email', value: 'margaret@example.com' }],
      displayName: 'Margaret Hamilton',
      subject: 'Charged twice',
      text: 'Invoice 42 was charged twice.',
    });
    await adaPage.getByTestId('offer-toast').getByText('Margaret Hamilton').waitFor();
    await adaPage
      .getByTestId('offer-toast')
      .getByRole('button', { name: /Accept/ })
      .click();
    const conversation = adaPage.getByTestId('conversation');
    await conversation.getByText('Invoice 42 was charged twice.').waitFor();
    await available(bobPage);

    await adaPage.keyboard.press('t');
    const panel = conversation.getByTestId('transfer-panel');
    const rows = panel.getByTestId('transfer-agent');
    await expect
      .poll(() => rows.allTextContents())
      .toEqual([
        'Bob BuilderAvailableemail 0/5',
        'Cy ColleagueAway (Lunch)email 0/5Not working: is away (Lunch)',
        'Dee NewcomerAvailableemail 0/5Not eligible: lacks skill billing',
      ]);
    expect(await rows.nth(1).isDisabled()).toBe(true);
    expect(await rows.nth(2).isDisabled()).toBe(true);
    await rows.first().click();
    await saveScreenshot(adaPage, 'console-features-transfer-picker');

    // Bob steps away between the list and the click: the server refuses, by name and reason.
    await ctx.services.agentStates.setState(bob.id, 'away', 'Meeting');
    await panel.getByTestId('transfer-note').fill('Charged twice: needs a refund');
    await panel.getByTestId('transfer-submit').click();
    await expect
      .poll(() => panel.getByTestId('transfer-error').textContent())
      .toBe('Bob Builder is away (Meeting): choose someone else, or a queue.');
    await expect.poll(() => rows.first().textContent()).toContain('Not working: is away (Meeting)');
    expect(await panel.getByTestId('transfer-submit').isDisabled()).toBe(true);
    await saveScreenshot(adaPage, 'console-features-transfer-refused');

    await available(bobPage);
    await panel.getByTestId('transfer-refresh').click();
    await expect.poll(() => rows.first().isDisabled()).toBe(false);
    await rows.first().click();
    await panel.getByTestId('transfer-submit').click();
    await adaPage.getByText('Pick a contact from the worklist, or wait for an offer.').waitFor();
    await expect.poll(() => adaPage.getByTestId('work-item').count()).toBe(0);

    // Bob has it, and his console says who sent it and why.
    await bobPage.getByTestId('work-item').getByText('Margaret Hamilton').click();
    const bobsWhy = bobPage.getByTestId('why-routed');
    await bobsWhy.getByText('Transferred to you by Ada Agent: “Charged twice: needs a refund”').waitFor();
    await saveScreenshot(bobPage, 'console-features-transferred-to-bob');
    await bobPage.close();
  }, 60_000);

  it('finds a customer by phone in any format and shows the profile with a duplicate suggestion', async () => {
    // A fax from Linus's phone number, as another customer: a likely duplicate.
    const fax = await history(
      {
        channel: 'fax',
        externalId: 'FX-features-1',
        identities: [{ kind: 'fax', value: '+1 (415) 555-0199' }],
        displayName: 'L. Torvalds (fax)',
        text: 'Signed return form attached.',
      },
      false,
    );
    const faxCustomer = (await ctx.services.interactions.detail(fax)).interaction.customerId;
    expect(faxCustomer).not.toBe(linusId);
    await ctx.services.duplicateDetector.detectFor(faxCustomer);

    await adaPage.keyboard.press('s');
    const search = adaPage.getByTestId('customer-search');
    await expect
      .poll(() => adaPage.evaluate(() => document.activeElement?.getAttribute('data-testid')))
      .toBe('customer-search');
    await search.fill('(415) 555-0199');
    const results = adaPage.getByTestId('customer-result');
    await results.getByText('Linus Torvalds').waitFor();
    await results.getByText('L. Torvalds (fax)').waitFor();
    await results.getByText('Linus Torvalds').click();

    const profile = adaPage.getByTestId('customer-profile');
    await profile.getByRole('heading', { name: 'Linus Torvalds' }).waitFor();
    const identities = profile.getByTestId('profile-identities');
    await identities.getByText('linus@example.com').waitFor();
    await identities.getByText('+14155550199').waitFor();
    await profile.getByTestId('profile-open-interaction').getByText('voice').waitFor();
    const recent = profile.getByTestId('profile-recent');
    await recent.getByText('Where is my keyboard?').waitFor();
    await expect.poll(() => recent.locator('.channel').allTextContents()).toEqual(['chat', 'voice', 'email']);
    const duplicate = profile.getByTestId('duplicate-suggestion');
    await duplicate.getByText('L. Torvalds (fax)').waitFor();
    await duplicate.getByText('90% alike', { exact: false }).waitFor();
    await duplicate.getByText("+14155550199 is one customer's phone and the other's fax").waitFor();
    // Exactly the chat message (the chat's transcript, emailed on close, quotes it too).
    await profile
      .getByTestId('timeline')
      .getByText('Hello, my invoice shows the keyboard twice.', { exact: true })
      .waitFor();
    await saveScreenshot(adaPage, 'console-features-customer-profile');

    // The suggestion opens the other customer's profile, which points back.
    await duplicate.getByRole('button', { name: 'L. Torvalds (fax)' }).click();
    await profile.getByRole('heading', { name: 'L. Torvalds (fax)' }).waitFor();
    await profile.getByTestId('duplicate-suggestion').getByText('Linus Torvalds').waitFor();

    // The open call opens read-only in the conversation view.
    await profile.getByTestId('duplicate-suggestion').getByRole('button', { name: 'Linus Torvalds' }).click();
    await profile.getByRole('heading', { name: 'Linus Torvalds' }).waitFor();
    await profile.getByTestId('profile-open-interaction').click();
    const conversation = adaPage.getByTestId('conversation');
    await conversation
      .getByTestId('not-yours')
      .getByText('Waiting in callbacks: you can read it here.')
      .waitFor();
    expect(await conversation.getByTestId('wrap-up').count()).toBe(0);

    expect(pageErrors).toEqual([]);
  }, 60_000);
});

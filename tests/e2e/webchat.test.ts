import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

/*
 * Web chat end to end in a real Chromium, on two server processes sharing one Postgres and one Redis:
 * process A (this test's own app, which also runs the jobs: offer timeouts) serves the widget to a shop's
 * page on a third local server; process B (tests/support/realtime-worker.ts) serves the agents' console.
 * So every visitor message, offer, reply, "agent joined" and re-offer below crosses processes through the
 * Redis adapter. The visitor fills the pre-chat form and chats; the agent gets the offer with the customer's
 * cross-channel history, accepts and replies; the visitor sees the reply and the agent's name, reloads and
 * carries on in the same conversation. HTML in names and messages stays text on both sides. An offer nobody
 * takes moves to another agent's console when it times out. Screenshots land in test-results/screenshots/.
 */

const password = 'correct horse battery';
const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>';

// `german`: only German speakers take chats from the German page, and an offer lasts 5 seconds.
const rulesYaml = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax] }
  - { name: german, strategy: longest-idle, skills: { german: 1 }, channels: [chat], offerTimeoutSeconds: 5 }
rules:
  - { name: german, when: { channel: chat, locale: de }, queue: german, priority: 0 }
  - { name: default, queue: general, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 3 }
  email: { max: 3 }
  fax: { max: 1 }
options:
  offerTimeoutSeconds: 600
  missesBeforeAway: 3
`;

interface Visitor {
  context: BrowserContext;
  page: Page;
}

describe('web chat, end to end on two server processes', () => {
  let ctx: TestContext;
  let browser: Browser;
  let processB: WorkerProcess;
  /** Process A (the widget and the visitors' sockets) and process B (the console and the agents'). */
  let widgetServer: string;
  let consoleServer: string;
  let shop: Server;
  let shopOrigin: string;
  const rules = writeRulesFolder(rulesYaml);
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  /** Every socket.io URL (WebSocket or polling) each page opened, by page. */
  const socketUrls = new Map<Page, string[]>();
  /** The text frames each page's WebSockets received. */
  const socketFrames = new Map<Page, string[]>();
  const contexts: BrowserContext[] = [];

  /** The shop's pages: one script tag and a settings object each. */
  const shopPages: Record<string, object> = {
    '/shop': {
      widgetId: 'shop',
      position: 'left',
      colour: '#0f766e',
      locale: 'en-GB',
      preChat: [{ name: 'order', label: 'Order number' }],
    },
    '/de': { widgetId: 'shop', position: 'right', colour: '#b91c1c', locale: 'de' },
  };

  beforeAll(async () => {
    shop = createServer((request, response) => {
      const settings = shopPages[new URL(request.url ?? '/', 'http://shop').pathname];
      if (!settings) {
        response.writeHead(404).end();
        return;
      }
      // `<` escaped: the settings are data, never markup.
      const json = JSON.stringify(settings).replace(/</g, '\\u003c');
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
        <body><h1>The shop</h1><p>Questions? Chat with us.</p>
        <script>window.SwitchboardChat = ${json};</script>
        <script src="${widgetServer}/widget.js" async></script></body></html>`);
    });
    await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
    shopOrigin = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;

    const shared: Partial<Config> = {
      routingRulesDir: rules.dir,
      webchat: {
        widgets: { shop: { allowedOrigins: [shopOrigin], isIdentityRequired: false } },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 10,
        rateLimitWindowMs: 10_000,
      },
    };
    ctx = await createTestContext({ config: shared, isWorker: true });
    processB = startWorkerProcess(
      new URL('../support/realtime-worker.ts', import.meta.url),
      ctx.config,
      60_000,
    );
    processB.send(`start ${JSON.stringify({ ...shared, publicBaseUrl: ctx.config.publicBaseUrl })}`);
    widgetServer = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = JSON.parse(await processB.expectLine('ready')) as { port: number };
    consoleServer = `http://127.0.0.1:${port}`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await processB?.stop();
    await ctx?.close();
    shop?.close();
    rules.remove();
  });

  async function newPage(baseURL?: string): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      ...(baseURL && { baseURL }),
    });
    contexts.push(context);
    const page = await context.newPage();
    const urls: string[] = [];
    const frames: string[] = [];
    socketUrls.set(page, urls);
    socketFrames.set(page, frames);
    page.on('websocket', (socket) => {
      urls.push(socket.url());
      socket.on('framereceived', ({ payload }) => {
        if (typeof payload === 'string') frames.push(payload);
      });
    });
    page.on('request', (request) => {
      if (request.url().includes('/socket.io/')) urls.push(request.url());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    return page;
  }

  async function createAgent(email: string, displayName: string, skills: Record<string, number> = {}) {
    return ctx.services.agents.create({ email, displayName, role: 'agent', password, skills }, null);
  }

  /** A console on `server`, logged in and available. */
  async function openConsole(server: string, email: string): Promise<Page> {
    const page = await newPage(server);
    await page.goto('/');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('Connected');
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');
    return page;
  }

  /** A visitor on one of the shop's pages, chat panel open and the pre-chat form shown. */
  async function openShop(path: string): Promise<Visitor> {
    const page = await newPage();
    await page.goto(`${shopOrigin}${path}`);
    await page.getByTestId('sb-launcher').click();
    await page.getByTestId('sb-prechat').waitFor();
    return { context: page.context(), page };
  }

  async function startChat(visitor: Visitor, prechat: { name: string; email?: string; order?: string }) {
    const { page } = visitor;
    await page.getByTestId('sb-prechat-name').fill(prechat.name);
    if (prechat.email) await page.getByTestId('sb-prechat-email').fill(prechat.email);
    if (prechat.order) await page.getByTestId('sb-prechat-order').fill(prechat.order);
    await page.getByTestId('sb-start').click();
    await page.getByTestId('sb-input').waitFor();
  }

  async function say(visitor: Visitor, text: string) {
    const { page } = visitor;
    await page.getByTestId('sb-input').fill(text);
    await page.getByTestId('sb-send').click();
    await page.locator('[data-testid="sb-message"][data-from="visitor"]', { hasText: text }).waitFor();
  }

  const widgetMessages = (page: Page) =>
    page
      .getByTestId('sb-message')
      .evaluateAll((nodes) => nodes.map((n) => [n.getAttribute('data-from'), n.textContent]));

  /** The seconds an offer's toast says are left. */
  const countdown = async (page: Page) =>
    Number((await page.getByTestId('offer-countdown').textContent())?.replace(/s$/, ''));

  const pwned = (page: Page) => page.evaluate(() => (window as { pwned?: number }).pwned);

  // The story of one customer, told across several tests in order.
  let ada: Page;
  let grace: Visitor;
  let interactionId: string;
  const firstMessage = 'Hello, my order A-1001 has not arrived. Can you check?';
  const reply = 'Hi Grace, I am on it: it left the warehouse this morning.';
  const afterReload = 'Thank you! Will it come before Friday?';

  it('a visitor on the shop page fills the pre-chat form and chats', { timeout: 60_000 }, async () => {
    // Grace wrote and called before: her history is on other channels.
    const email = await ctx.services.ingest({
      channel: 'email',
      externalId: `<order-a1001-${Date.now()}@example.com>`,
      identities: [{ kind: 'email', value: 'grace@example.com' }],
      displayName: 'Grace Hopper',
      subject: 'Order A-1001 never arrived',
      text: 'My order has not arrived yet.',
    });
    const call = await ctx.services.ingest({
      channel: 'voice',
      externalId: `CA-e2e-${Date.now()}`,
      identities: [
        { kind: 'phone', value: '+14155550123' },
        { kind: 'email', value: 'grace@example.com' },
      ],
      text: 'Caller asked about a late delivery.',
    });
    for (const earlier of [email, call])
      await ctx.services.routing.endContact(earlier.interactionId, {
        actor: { type: 'system', id: null },
        reason: 'answered before the test',
      });
    expect(call.customerId).toBe(email.customerId);

    await createAgent('ada@e2e.switchboard', 'Ada Lovelace');
    ada = await openConsole(consoleServer, 'ada@e2e.switchboard');

    grace = await openShop('/shop');
    const { page } = grace;
    // The settings object took effect: position, colour and the site's own pre-chat field.
    const launcher = await page.getByTestId('sb-launcher').boundingBox();
    expect(launcher!.x).toBeLessThan(100);
    expect(
      await page.getByTestId('sb-launcher').evaluate((node) => getComputedStyle(node).backgroundColor),
    ).toBe('rgb(15, 118, 110)');
    expect(await page.getByTestId('sb-prechat-order').getAttribute('placeholder')).toBe('Order number');

    await startChat(grace, { name: 'Grace Hopper', email: 'grace@example.com', order: 'A-1001' });
    await say(grace, firstMessage);

    // The widget shows a message as it sends it: wait for the server to have it.
    const chats = async () =>
      (
        await ctx.services.pool.query<{ id: string; customer_id: string }>(
          `select id, customer_id from interactions where channel = 'chat'`,
        )
      ).rows;
    await expect.poll(chats).toHaveLength(1);
    const [chat] = await chats();
    interactionId = chat!.id;
    // One customer across channels: the pre-chat email tied the chat to the earlier email and call.
    expect(chat!.customer_id).toBe(email.customerId);
    const { events } = await ctx.services.interactions.detail(interactionId);
    const received = events.find((e) => e.type === 'message.received')!;
    expect(received.payload).toMatchObject({
      text: firstMessage,
      hints: { widgetId: 'shop', locale: 'en-GB', 'prechat.order': 'A-1001' },
    });
  });

  it(
    "an agent on another process gets the offer with the customer's history, accepts and replies; the visitor sees the reply and the agent's name",
    { timeout: 60_000 },
    async () => {
      const toast = ada.getByTestId('offer-toast');
      await toast.waitFor();
      // The screen pop: who it is, their identities on every channel, their last contacts on any channel.
      const card = toast.getByTestId('customer-card');
      await card.getByText('Grace Hopper', { exact: true }).waitFor();
      await card.getByText('grace@example.com').waitFor();
      await card.getByText('+14155550123').waitFor();
      await card.getByText('chat_visitor').waitFor();
      await card.getByText('Order A-1001 never arrived').waitFor();
      const recent = await card
        .locator('.recent li .channel')
        .evaluateAll((nodes) => nodes.map((n) => n.textContent));
      expect(recent.sort()).toEqual(['email', 'voice']);
      await expect.poll(() => ada.getByTestId('offer-countdown').textContent()).toMatch(/^\d+s$/);
      expect(await countdown(ada)).toBeLessThanOrEqual(600);
      await saveScreenshot(ada, 'webchat-console-offer');

      await toast.getByRole('button', { name: /Accept/ }).click();
      await toast.waitFor({ state: 'detached' });
      const conversation = ada.getByTestId('conversation');
      await conversation.getByText(firstMessage).waitFor();
      await ada.getByTestId('work-item').getByText('Grace Hopper').waitFor();

      const { page } = grace;
      await page.getByTestId('sb-agent-joined').getByText('Ada Lovelace joined the chat').waitFor();
      await expect.poll(() => page.getByTestId('sb-agent-name').textContent()).toBe('Ada Lovelace');

      const composer = ada.getByRole('textbox', { name: 'Reply' });
      await composer.fill(reply);
      await composer.press('Control+Enter');
      await conversation.locator('[data-type="message.sent"]').getByText(reply).waitFor();
      await expect.poll(() => composer.inputValue()).toBe('');

      await page.locator('[data-testid="sb-message"][data-from="agent"]', { hasText: reply }).waitFor();
      expect(await widgetMessages(page)).toEqual([
        ['visitor', firstMessage],
        ['agent', reply],
      ]);
      await saveScreenshot(ada, 'webchat-console-conversation');
      await saveScreenshot(page, 'webchat-widget-conversation');
    },
  );

  it('the visitor reloads the page and carries on in the same conversation', async () => {
    const { page } = grace;
    await page.reload();
    await page.getByTestId('sb-launcher').click();
    // The stored token brought the conversation back: its messages, the agent, and the composer.
    await page.getByTestId('sb-input').waitFor();
    await expect
      .poll(() => widgetMessages(page))
      .toEqual([
        ['visitor', firstMessage],
        ['agent', reply],
      ]);
    expect(await page.getByTestId('sb-agent-name').textContent()).toBe('Ada Lovelace');
    expect(await page.getByTestId('sb-prechat').isHidden()).toBe(true);
    await saveScreenshot(page, 'webchat-widget-reloaded');

    // The visitor's typing reaches the agent's browser, across processes. (The console shows no typing
    // indicator yet, and sends none: see the todo below.)
    const isVisitorTyping = () =>
      socketFrames
        .get(ada)!
        .some((frame) => /"typing\.changed".*"from":"customer".*"isTyping":true/.test(frame));
    expect(isVisitorTyping()).toBe(false);
    await page.getByTestId('sb-input').fill(afterReload);
    await expect.poll(isVisitorTyping).toBe(true);
    await page.getByTestId('sb-send').click();
    await ada.getByTestId('conversation').getByText(afterReload).waitFor();
    const { rows } = await ctx.services.pool.query<{ id: string }>(
      `select id from interactions where channel = 'chat'`,
    );
    expect(rows.map((r) => r.id)).toEqual([interactionId]);
    const { events } = await ctx.services.interactions.detail(interactionId);
    expect(
      events
        .filter((e) => e.type === 'message.received' || e.type === 'message.sent')
        .map((e) => [e.type, e.payload.text]),
    ).toEqual([
      ['message.received', firstMessage],
      ['message.sent', reply],
      ['message.received', afterReload],
    ]);
  });

  it('the visitor and the agent were connected to different server processes', () => {
    const origin = (url: string) => new URL(url.replace(/^ws/, 'http')).origin;
    const visitorSockets = socketUrls.get(grace.page)!.map(origin);
    const agentSockets = socketUrls.get(ada)!.map(origin);
    expect(visitorSockets.length).toBeGreaterThan(0);
    expect(agentSockets.length).toBeGreaterThan(0);
    expect(new Set(visitorSockets)).toEqual(new Set([widgetServer]));
    expect(new Set(agentSockets)).toEqual(new Set([consoleServer]));
    expect(widgetServer).not.toBe(consoleServer);
  });

  it('HTML and scripts in the visitor name and in messages render as text in the console and the widget', async () => {
    const name = `Eve ${hostile}`;
    const said = `Is this safe? ${hostile}`;
    const answered = `Quite safe: ${hostile}`;
    const eve = await openShop('/shop');
    await startChat(eve, { name });
    await say(eve, said);

    const toast = ada.getByTestId('offer-toast');
    await toast.waitFor();
    await expect.poll(() => toast.locator('.customer-name').textContent(), { timeout: 10_000 }).toBe(name);
    await toast.getByRole('button', { name: /Accept/ }).click();
    await toast.waitFor({ state: 'detached' });
    const message = ada
      .getByTestId('conversation')
      .locator('[data-type="message.received"] .body')
      .filter({ hasText: 'Is this safe?' });
    await expect.poll(() => message.textContent()).toBe(said);
    await expect
      .poll(() =>
        ada
          .getByTestId('work-item')
          .locator('.customer')
          .evaluateAll((nodes) => nodes.map((n) => n.textContent)),
      )
      .toContain(name);

    const composer = ada.getByRole('textbox', { name: 'Reply' });
    await composer.fill(answered);
    await composer.press('Control+Enter');
    await ada.getByTestId('conversation').locator('[data-type="message.sent"]').getByText(answered).waitFor();
    await expect.poll(() => composer.inputValue()).toBe('');
    await eve.page.locator('[data-testid="sb-message"][data-from="agent"]').waitFor();
    expect(await widgetMessages(eve.page)).toEqual([
      ['visitor', said],
      ['agent', answered],
    ]);
    await saveScreenshot(ada, 'webchat-console-sanitized');
    await saveScreenshot(eve.page, 'webchat-widget-sanitized');

    // Nothing became markup, nothing ran (the locators pierce the widget's shadow root).
    for (const page of [ada, eve.page]) {
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('b').count()).toBe(0);
      expect(await pwned(page)).toBeUndefined();
    }
    expect(await ada.locator('#app script').count()).toBe(0);
  });

  it(
    "an offer ignored past its timeout leaves the first agent's console and reaches another agent's",
    { timeout: 60_000 },
    async () => {
      await createAgent('bruno@e2e.switchboard', 'Bruno Braun', { german: 1 });
      await createAgent('clara@e2e.switchboard', 'Clara Klein', { german: 1 });
      // One on each process: the re-offer crosses processes whichever of them is asked first.
      const consoles = new Map([
        ['Bruno Braun', await openConsole(consoleServer, 'bruno@e2e.switchboard')],
        ['Clara Klein', await openConsole(widgetServer, 'clara@e2e.switchboard')],
      ]);

      const hans = await openShop('/de');
      await startChat(hans, { name: 'Hans Meier' });
      await say(hans, 'Hallo, ich brauche Hilfe.');

      // Whoever is asked first ignores the toast.
      const toasts = async () => {
        const shown: string[] = [];
        for (const [name, page] of consoles)
          if ((await page.getByTestId('offer-toast').count()) > 0) shown.push(name);
        return shown;
      };
      await expect.poll(toasts, { timeout: 10_000 }).toHaveLength(1);
      const [first] = await toasts();
      const second = [...consoles.keys()].find((name) => name !== first)!;
      const ignoring = consoles.get(first!)!;
      const taking = consoles.get(second)!;
      await ignoring.getByTestId('offer-toast').getByText('Hans Meier').waitFor();
      // The countdown never shows more than the queue's 5 seconds.
      expect(await countdown(ignoring)).toBeLessThanOrEqual(5);
      await saveScreenshot(ignoring, 'webchat-console-offer-before-timeout');

      // Five seconds later it is gone from the first console and offered in the second.
      await ignoring.getByTestId('offer-toast').waitFor({ state: 'detached', timeout: 15_000 });
      const toast = taking.getByTestId('offer-toast');
      await toast.getByText('Hans Meier').waitFor({ timeout: 15_000 });
      expect(await countdown(taking)).toBeLessThanOrEqual(5);
      await saveScreenshot(taking, 'webchat-console-offer-moved');
      await toast.getByRole('button', { name: /Accept/ }).click();
      await taking.getByTestId('conversation').getByText('Hallo, ich brauche Hilfe.').waitFor();
      // The German page's widget speaks German (locale 'de').
      await hans.page
        .getByTestId('sb-agent-joined')
        .getByText(`${second} ist dem Chat beigetreten`)
        .waitFor();
      expect(await ignoring.getByTestId('work-item').count()).toBe(0);

      const { rows } = await ctx.services.pool.query<{ display_name: string; status: string }>(
        `select a.display_name, o.status from offers o
           join interactions i on i.id = o.interaction_id
           join agents a on a.id = o.agent_id
         where i.channel = 'chat' and i.queue = 'german' order by o.offered_at`,
      );
      expect(rows).toEqual([
        { display_name: first, status: 'expired' },
        { display_name: second, status: 'accepted' },
      ]);
    },
  );

  // Typing shown both ways in the console and the widget: tests/e2e/console-features.test.ts.

  it('raised no page errors or dialogs anywhere', async () => {
    for (const context of contexts)
      for (const page of context.pages()) expect(await pwned(page)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

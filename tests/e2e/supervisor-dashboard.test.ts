import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { io as connectClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRoutes } from '../../src/api/console.routes.js';
import type { SupervisorBoard } from '../../src/realtime/supervisor-events.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The supervisor dashboard at /supervisor in a real Chromium.
 *
 * Against the real server (Postgres, Redis, routing, the live board on the `/supervisor` socket): a
 * supervisor sees the board; contacts ingested on chat and email show as waiting and offered within a few
 * seconds; an agent's accept, and a supervisor's assign from the dashboard, show as answered; an agent is
 * refused the page and the socket.
 *
 * Against a stub board (the built console served by its own route, the API and the socket answered by the
 * test): the parts the real server cannot be made to show on demand: alerts highlighted and announced, the
 * waits ticking between pushes, the charts with their target line, refusals shown, and the stale-board and
 * connection-lost indicators.
 */

const password = 'correct horse battery';
const expectEventually = { timeout: 15_000, interval: 250 };

const cell = (page: Page, queue: string, figure: string) =>
  page.locator(`[data-testid="queue-row"][data-queue="${queue}"] tr.queue-row [data-figure="${figure}"]`);

async function logIn(page: Page, email: string) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

describe('supervisor dashboard, real server', () => {
  let ctx: TestContext;
  let browser: Browser;
  let baseUrl: string;
  const rules = writeRulesFolder();
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir }, isWorker: true });
    baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    await ctx.services.agents.create(
      { email: 'sue@e2e.switchboard', displayName: 'Sue Supervisor', role: 'supervisor', password },
      null,
    );
    await ctx.services.agents.create(
      { email: 'ada@e2e.switchboard', displayName: 'Ada Agent', role: 'agent', password },
      null,
    );
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    rules.remove();
  });

  it('serves the dashboard page at /supervisor', async () => {
    const response = await ctx.app.inject({ url: '/supervisor' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    expect(response.body).toContain('<div id="app">');
    // Revalidated like the index at `/`, so that a new build is picked up at once.
    expect(response.headers['cache-control']).toBe('no-cache');
  });

  it('shows the live board; waiting, offered and answered move as contacts come and are taken', async () => {
    const page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // The agent's side, in its own browser context: logged in and available, so routing offers them work.
    const agentPage = await (await browser.newContext({ baseURL: baseUrl })).newPage();
    agentPage.on('pageerror', (error) => pageErrors.push(error.message));

    // The console links supervisors to the dashboard.
    await page.goto('/');
    await logIn(page, 'sue@e2e.switchboard');
    await page.getByTestId('supervisor-link').click();
    await page.waitForURL('**/supervisor');
    await page.getByTestId('board').waitFor(expectEventually);
    await expect
      .poll(() => page.getByTestId('board-status').getAttribute('data-state'), expectEventually)
      .toBe('live');
    await page.locator('[data-testid="queue-row"][data-queue="general"]').waitFor();
    const offeredBefore = Number(await cell(page, 'general', 'offered').textContent());

    // Two contacts on chat and email, nobody working: they wait.
    for (const channel of ['chat', 'email'] as const)
      await ctx.services.ingest({
        channel,
        externalId: `e2e-${channel}-${Date.now()}`,
        identities: [{ kind: 'email', value: `${channel}-customer@example.com` }],
        displayName: `${channel} customer`,
        subject: `Help on ${channel}`,
        text: 'Hello, I need a hand.',
      });
    await expect.poll(() => cell(page, 'general', 'waitingNow').textContent(), expectEventually).toBe('2');
    await expect
      .poll(async () => Number(await cell(page, 'general', 'offered').textContent()), expectEventually)
      .toBe(offeredBefore + 2);
    const chatRow = page.locator('[data-testid="channel-row"][data-channel="chat"]');
    await expect
      .poll(() => chatRow.locator('[data-figure="waitingNow"]').textContent(), expectEventually)
      .toBe('1');

    // The queue opens into its channels.
    await page.locator('[data-queue="general"] [data-testid="queue-expand"]').click();
    const emailInQueue = page.locator(
      '[data-queue="general"] [data-testid="queue-channel-row"][data-channel="email"]',
    );
    await expect.poll(() => emailInQueue.locator('[data-figure="waitingNow"]').textContent()).toBe('1');
    await saveScreenshot(page, 'supervisor-dashboard-waiting');

    // The agent goes available and accepts what they are offered: answered moves, waiting drops.
    await agentPage.goto('/');
    await logIn(agentPage, 'ada@e2e.switchboard');
    await agentPage.getByText('Connected').waitFor();
    await agentPage.getByRole('button', { name: 'Available', exact: true }).click();
    await agentPage.getByTestId('offer-toast').waitFor(expectEventually);
    await agentPage.keyboard.press('a');
    await expect.poll(() => cell(page, 'general', 'answered').textContent(), expectEventually).toBe('1');
    // The other contact still waits (queued, or ringing at Ada: an offer does not end a wait).
    expect(await cell(page, 'general', 'waitingNow').textContent()).toBe('1');
    const adaRow = page.locator('[data-testid="agent-row"]', { hasText: 'Ada Agent' });
    await expect.poll(() => adaRow.getAttribute('data-state'), expectEventually).toBe('on_contact');
    await saveScreenshot(page, 'supervisor-dashboard-answered');

    // The supervisor sets Ada away from the board; the board shows it.
    await adaRow.getByTestId('agent-state-choice').selectOption('away:Coaching');
    await adaRow.getByTestId('agent-state-set').click();
    await expect
      .poll(() => adaRow.getByTestId('agent-row-state').textContent(), expectEventually)
      .toBe('Away (Coaching)');

    // Whatever still waits, the supervisor gives to Ada from the queue's panel (an assign overrides her state).
    const waiting = await ctx.services.pool.query<{ id: string }>(
      `select id from interactions where status in ('queued', 'offered', 'new') order by created_at`,
    );
    const answeredBefore = Number(await cell(page, 'general', 'answered').textContent());
    for (const { id } of waiting.rows) {
      const mover = page.locator('[data-queue="general"] [data-testid="contact-mover"]');
      await mover.getByTestId('mover-interaction').fill(id);
      const adaOption = mover.getByTestId('mover-target').locator('option', { hasText: 'Ada Agent' });
      await mover.getByTestId('mover-target').selectOption(await adaOption.getAttribute('value'));
      await mover.getByTestId('mover-submit').click();
      await mover.getByTestId('mover-done').waitFor();
    }
    await expect
      .poll(async () => Number(await cell(page, 'general', 'answered').textContent()), expectEventually)
      .toBe(answeredBefore + waiting.rows.length);
    await expect.poll(() => cell(page, 'general', 'waitingNow').textContent(), expectEventually).toBe('0');

    // A refusal from the server is said on the panel.
    const mover = page.locator('[data-queue="general"] [data-testid="contact-mover"]');
    await mover.getByTestId('mover-interaction').fill('00000000-0000-4000-8000-000000000000');
    await mover.getByTestId('mover-target').selectOption('queue:billing');
    await mover.getByTestId('mover-submit').click();
    await expect.poll(() => mover.getByTestId('mover-error').textContent()).toMatch(/\w{3}/);
    await saveScreenshot(page, 'supervisor-dashboard-actions');

    expect(pageErrors).toEqual([]);
    await page.close();
    await agentPage.context().close();
  }, 60_000);

  it('refuses an agent the page and the board', async () => {
    const page = await browser.newPage({ baseURL: baseUrl });
    await page.goto('/supervisor');
    await logIn(page, 'ada@e2e.switchboard');
    await page.getByTestId('supervisor-refused').waitFor();
    expect(await page.getByTestId('board').count()).toBe(0);
    await saveScreenshot(page, 'supervisor-dashboard-refused');
    await page.close();

    // The socket, asked directly with the agent's session, refuses the handshake.
    const { cookie } = await ctx.loginAs('agent');
    const socket = connectClient(`${baseUrl}/supervisor`, {
      transports: ['websocket'],
      extraHeaders: { cookie, origin: ctx.config.publicBaseUrl },
      reconnection: false,
    });
    const refusal = await new Promise<{ code?: string }>((resolve) => {
      socket.on('connect', () => resolve({ code: 'CONNECTED' }));
      socket.on('connect_error', (err) => resolve((err as Error & { data?: { code?: string } }).data ?? {}));
    });
    socket.disconnect();
    expect(refusal.code).toBe('FORBIDDEN');
  });
});

/** A board as the server would push it, at `at`: general under target and with a long wait, billing fine. */
function stubBoard(at: Date, overrides: Partial<SupervisorBoard> = {}): SupervisorBoard {
  const dayFrom = new Date(at);
  dayFrom.setUTCHours(0, 0, 0, 0);
  const figures = {
    offered: 40,
    answered: 30,
    abandoned: 5,
    serviceLevel: 0.62,
    serviceLevelWithAbandons: 0.58,
    asaSeconds: 41,
    ahtSeconds: 312,
    abandonRate: 0.14,
  };
  const staffing = { staffed: 3, available: 1, onContact: 1, wrapUp: 0, away: 1 };
  const queueRow = {
    ...figures,
    queue: 'general',
    thresholdSeconds: 20,
    targetServiceLevel: 0.8,
    waitAlertSeconds: 60,
    slaBreached: 0,
    staffing,
  };
  const points = Array.from({ length: 12 }, (_, i) => ({
    at: new Date(at.getTime() - (12 - i) * 5 * 60_000).toISOString(),
    waiting: [0, 1, 3, 2, 4, 6, 5, 3, 2, 4, 3, 3][i]!,
    serviceLevel: i === 3 ? null : [0.9, 0.85, 0.8, 0, 0.7, 0.6, 0.55, 0.6, 0.62, 0.65, 0.6, 0.62][i]!,
  }));
  return {
    at: at.toISOString(),
    day: { from: dayFrom.toISOString(), timeZone: 'UTC' },
    queues: [
      { ...queueRow, channel: null, waitingNow: 3, longestWaitSeconds: 125 },
      { ...queueRow, channel: 'chat', waitingNow: 2, longestWaitSeconds: 125, serviceLevel: 0.5 },
      { ...queueRow, channel: 'email', waitingNow: 1, longestWaitSeconds: 40, serviceLevel: 0.9 },
      {
        ...queueRow,
        queue: 'billing',
        channel: null,
        waitingNow: 0,
        longestWaitSeconds: null,
        offered: 8,
        answered: 8,
        abandoned: 0,
        serviceLevel: 1,
        serviceLevelWithAbandons: 1,
        abandonRate: 0,
      },
    ],
    channels: [
      { ...figures, channel: 'chat', waitingNow: 2, longestWaitSeconds: 125 },
      { ...figures, channel: 'email', waitingNow: 1, longestWaitSeconds: 40 },
    ],
    agents: [
      {
        agentId: '11111111-1111-4111-8111-111111111111',
        name: 'Ada Agent',
        state: 'on_contact',
        awayReason: null,
        stateSince: new Date(at.getTime() - 65_000).toISOString(),
        load: [
          { channel: 'chat', load: 2, capacity: 2 },
          { channel: 'email', load: 1, capacity: 3 },
        ],
        handledToday: 12,
        ahtSeconds: 280,
        occupancy: 0.83,
      },
      {
        agentId: '22222222-2222-4222-8222-222222222222',
        name: 'Bob Agent',
        state: 'away',
        awayReason: 'Lunch',
        stateSince: new Date(at.getTime() - 600_000).toISOString(),
        load: [{ channel: 'chat', load: 0, capacity: 2 }],
        handledToday: 4,
        ahtSeconds: null,
        occupancy: null,
      },
    ],
    alerts: [
      {
        kind: 'service-level',
        queue: 'general',
        channel: null,
        message: 'Service level 62% is under the 80% target',
        since: new Date(at.getTime() - 300_000).toISOString(),
      },
    ],
    series: [
      { queue: 'general', points },
      { queue: 'billing', points: points.map((p) => ({ ...p, waiting: 0, serviceLevel: 1 })) },
    ],
    ...overrides,
  };
}

/**
 * The `/supervisor` socket played by the test, in engine.io's v4 text protocol over the WebSocket:
 * the open packet, the namespace's connect, then `board.snapshot` events as the test sends them.
 */
class StubBoardSocket {
  private sockets: WebSocketRoute[] = [];

  async attach(page: Page, onConnected: () => void) {
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      this.sockets.push(ws);
      ws.send(
        JSON.stringify({
          sid: 'stub',
          upgrades: [],
          pingInterval: 25_000,
          pingTimeout: 20_000,
          maxPayload: 1e6,
        }).replace(/^/, '0'),
      );
      ws.onMessage((message) => {
        if (typeof message === 'string' && message.startsWith('40/supervisor')) {
          ws.send('40/supervisor,{"sid":"stub-supervisor"}');
          onConnected();
        }
      });
    });
  }

  push(board: SupervisorBoard) {
    for (const ws of this.sockets) ws.send(`42/supervisor,${JSON.stringify(['board.snapshot', board])}`);
  }

  async drop() {
    const sockets = this.sockets;
    this.sockets = [];
    await Promise.all(sockets.map((ws) => ws.close({ code: 1011, reason: 'stub dropped' })));
  }
}

describe('supervisor dashboard, stub board', () => {
  let server: FastifyInstance;
  let browser: Browser;
  let page: Page;
  const stub = new StubBoardSocket();
  let connections = 0;
  const assigns: { url: string; body: unknown }[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const distDir = join(import.meta.dirname, '..', '..', 'web-console', 'dist');
    if (!existsSync(join(distDir, 'index.html'))) throw new Error('web-console/dist is not built');
    // The console's own routes serve the build; the API is answered below, per request.
    server = Fastify();
    await consoleRoutes(server, distDir);
    const baseUrl = await server.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1440, height: 1100 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await stub.attach(page, () => (connections += 1));
    await page.route('**/api/**', async (route) => {
      const { pathname } = new URL(route.request().url());
      const json = (status: number, body: unknown) =>
        route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
      if (pathname === '/api/auth/me')
        return json(200, {
          agent: { id: 'sup', email: 'sue@e2e', displayName: 'Sue Supervisor', role: 'supervisor' },
        });
      if (pathname.endsWith('/state'))
        return json(409, {
          error: { code: 'INVALID_AGENT_STATE', message: 'Ada Agent is on a contact: end it first.' },
        });
      if (pathname.startsWith('/api/queues/'))
        return json(200, {
          contacts: [
            {
              interactionId: '33333333-3333-4333-8333-333333333333',
              ticketNumber: 1042,
              channel: 'chat',
              customerName: 'Grace Customer',
              subject: 'Where is my parcel?',
              queuedAt: new Date(Date.now() - 125_000).toISOString(),
            },
          ],
        });
      if (pathname.endsWith('/assign')) {
        assigns.push({ url: pathname, body: route.request().postDataJSON() });
        return route.fulfill({ status: 204 });
      }
      return json(404, { error: { code: 'NOT_FOUND', message: 'Not found.' } });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows the wallboard: figures, alerts announced, waits ticking, charts with the target', async () => {
    await page.goto('/supervisor');
    await expect.poll(() => connections, expectEventually).toBe(1);
    stub.push(stubBoard(new Date()));
    await page.getByTestId('board').waitFor();
    expect(await page.getByTestId('board-status').getAttribute('data-state')).toBe('live');

    // General is under target: its row is highlighted with the message, and the alert is announced.
    const general = page.locator('[data-testid="queue-row"][data-queue="general"]');
    expect(await general.locator('tr.queue-row').getAttribute('data-alert')).toBe('true');
    expect(await general.getByTestId('row-alert').textContent()).toContain(
      'Service level 62% is under the 80% target',
    );
    expect(await page.locator('[data-queue="billing"] tr.queue-row').getAttribute('data-alert')).toBe(
      'false',
    );
    await expect
      .poll(() => page.getByTestId('alert-announcer').textContent())
      .toBe('New alert: general: Service level 62% is under the 80% target');
    expect(await cell(page, 'general', 'serviceLevel').textContent()).toBe('62%');
    expect(await cell(page, 'general', 'serviceLevelWithAbandons').textContent()).toBe('58%');
    expect(await cell(page, 'general', 'aht').textContent()).toBe('5m 12s');
    expect(await cell(page, 'billing', 'longestWait').textContent()).toBe('—');
    // Both service levels say their definition.
    expect(await page.locator('th', { hasText: 'SL with abandons' }).first().getAttribute('title')).toContain(
      'abandoned within the threshold',
    );

    // The longest wait and the time in state tick between pushes.
    await expect
      .poll(() => cell(page, 'general', 'longestWait').textContent(), expectEventually)
      .toMatch(/^2m 0[7-9]s$/);
    const ada = page.locator('[data-testid="agent-row"]', { hasText: 'Ada Agent' });
    expect(await ada.getByTestId('agent-time-in-state').textContent()).toMatch(/^1m 0\ds$/);
    expect(await ada.locator('[data-channel="chat"] [role="meter"]').getAttribute('aria-valuenow')).toBe('2');

    // A new alert on the next board is announced; the one that stays is not again.
    const next = stubBoard(new Date());
    next.alerts.push({
      kind: 'longest-wait',
      queue: 'general',
      channel: 'chat',
      message: 'A contact has waited 2m 05s (limit 1m)',
      since: new Date().toISOString(),
    });
    stub.push(next);
    await expect
      .poll(() => page.getByTestId('alert-announcer').textContent())
      .toBe('New alert: general (chat): A contact has waited 2m 05s (limit 1m)');
    expect(await page.getByTestId('board-alert').count()).toBe(2);

    // The queue opens into its channels, the chat row highlighted with its own alert.
    await general.getByTestId('queue-expand').click();
    const chat = general.locator('[data-testid="queue-channel-row"][data-channel="chat"]');
    expect(await chat.getAttribute('class')).toContain('alerting');
    expect(await chat.locator('[data-figure="serviceLevel"]').textContent()).toBe('50%');

    // Charts: a pair per queue, the service level against its dashed target.
    expect(await page.getByTestId('queue-chart').count()).toBe(2);
    const generalChart = page.locator('[data-testid="queue-chart"][data-queue="general"]');
    expect(await generalChart.getByTestId('target-line').textContent()).toBe('target 80%');
    expect(await generalChart.getByTestId('depth-chart').getAttribute('aria-label')).toContain('peak 6');
    await saveScreenshot(page, 'supervisor-dashboard-stub');
  });

  it('assigns a waiting contact, and shows a refused state change', async () => {
    const mover = page.locator('[data-queue="general"] [data-testid="contact-mover"]');
    await mover.getByTestId('waiting-contact').check();
    await mover.getByTestId('mover-target').selectOption('queue:billing');
    await mover.getByTestId('mover-note').fill('Billing question');
    await mover.getByTestId('mover-submit').click();
    await expect.poll(() => mover.getByTestId('mover-done').textContent()).toBe('Moved to queue billing.');
    expect(assigns).toEqual([
      {
        url: '/api/interactions/33333333-3333-4333-8333-333333333333/assign',
        body: { queue: 'billing', note: 'Billing question' },
      },
    ]);

    const ada = page.locator('[data-testid="agent-row"]', { hasText: 'Ada Agent' });
    await ada.getByTestId('agent-state-choice').selectOption('offline');
    await ada.getByTestId('agent-state-set').click();
    await expect
      .poll(() => ada.getByTestId('agent-state-error').textContent())
      .toBe('Ada Agent is on a contact: end it first.');
    await saveScreenshot(page, 'supervisor-dashboard-stub-actions');
  });

  it('shows the contacts past an SLA due time per queue, and their alert', async () => {
    const at = new Date();
    const board = stubBoard(at);
    // Two email contacts of general are past an SLA due time: the queue's row and its email row count them.
    board.queues = board.queues.map((row) =>
      row.queue === 'general' && row.channel !== 'chat' ? { ...row, slaBreached: 2 } : row,
    );
    board.alerts.push({
      kind: 'sla-breach',
      queue: 'general',
      channel: 'email',
      message: '2 contacts are past an SLA due time',
      since: at.toISOString(),
    });
    stub.push(board);

    await expect.poll(() => cell(page, 'general', 'slaBreached').textContent()).toBe('2');
    expect(await cell(page, 'general', 'slaBreached').getAttribute('data-breached')).toBe('true');
    expect(await cell(page, 'billing', 'slaBreached').textContent()).toBe('0');
    expect(await cell(page, 'billing', 'slaBreached').getAttribute('data-breached')).toBe('false');
    expect(await page.locator('th', { hasText: 'SLA breached' }).first().getAttribute('title')).toContain(
      'past its due time',
    );
    // The longest wait is marked against the row's own alert limit (60 s here), not a multiple of the threshold.
    expect(await cell(page, 'general', 'longestWait').getAttribute('data-over-limit')).toBe('true');
    expect(await cell(page, 'billing', 'longestWait').getAttribute('data-over-limit')).toBe('false');

    // The alert is listed with its kind, announced, and carried by the (expanded) email row.
    await expect
      .poll(() => page.getByTestId('alert-announcer').textContent())
      .toBe('New alert: general (email): 2 contacts are past an SLA due time');
    const alert = page.locator('[data-testid="board-alert"][data-kind="sla-breach"]');
    expect(await alert.textContent()).toContain('SLA breach');
    expect(await alert.textContent()).toContain('general · email 2 contacts are past an SLA due time');
    const general = page.locator('[data-testid="queue-row"][data-queue="general"]');
    const email = general.locator('[data-testid="queue-channel-row"][data-channel="email"]');
    expect(await email.getAttribute('class')).toContain('alerting');
    expect(await email.locator('[data-figure="slaBreached"]').textContent()).toBe('2');
    expect(await general.getByTestId('row-alert').last().textContent()).toContain(
      '2 contacts are past an SLA due time',
    );
    await saveScreenshot(page, 'supervisor-dashboard-sla');
  });

  it('says the board is stale after 5 s without one, and when the connection is lost', async () => {
    stub.push(stubBoard(new Date()));
    await expect.poll(() => page.getByTestId('board-status').getAttribute('data-state')).toBe('live');
    await expect
      .poll(() => page.getByTestId('board-status').getAttribute('data-state'), { timeout: 9000 })
      .toBe('stale');
    expect(await page.getByTestId('board-status').textContent()).toMatch(/^Stale board: no update for \ds$/);
    expect(await page.getByTestId('board').getAttribute('class')).toContain('stale');
    await saveScreenshot(page, 'supervisor-dashboard-stale');

    await stub.drop();
    await expect.poll(() => page.getByTestId('board-status').getAttribute('data-state')).toBe('lost');
    // socket.io reconnects by itself; a board on the new socket makes it live again.
    await expect.poll(() => connections, expectEventually).toBe(2);
    stub.push(stubBoard(new Date()));
    await expect.poll(() => page.getByTestId('board-status').getAttribute('data-state')).toBe('live');
    expect(pageErrors).toEqual([]);
  });
});

import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { io as connectClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recorder } from '../support/wait-for.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The visitor row of the role × route matrix (tests/integration/api-roles.test.ts has the staff rows): a
 * web chat visitor's credential, their conversation token, presented every way a client could (as the
 * session cookie, as a bearer header, in the query), gets 401 NOT_AUTHENTICATED on every /api route the app
 * registers, about their own conversation too; from the widget's site, an unsafe method may be refused
 * earlier by the cross-origin rule (403). The routes are read from the OpenAPI document, so a new route is
 * covered without a new row. The public login route is the one exception: it takes no credential.
 */

const widgetOrigin = 'https://shop.example';

let ctx: TestContext;
let token: string;
let interactionId: string;
let conversationId: string;

beforeAll(async () => {
  ctx = await createTestContext({
    config: {
      routeOnIngest: false,
      webchat: {
        widgets: { shop: { allowedOrigins: [widgetOrigin], isIdentityRequired: false } },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 10,
        rateLimitWindowMs: 10_000,
      },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (ctx.app.server.address() as AddressInfo).port;
  const socket = connectClient(`http://127.0.0.1:${port}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: { widgetId: 'shop' },
    extraHeaders: { origin: widgetOrigin },
  });
  try {
    const session = await recorder(socket).next<{ token: string; conversationId: string }>('chat:session');
    token = session.token;
    conversationId = session.conversationId;
    const sent = (await socket.emitWithAck('message:send', { clientId: 'first', text: 'hello' })) as {
      ok: boolean;
      interactionId: string;
    };
    expect(sent.ok).toBe(true);
    interactionId = sent.interactionId;
  } finally {
    socket.disconnect();
  }
});
afterAll(() => ctx?.close());

interface Operation {
  method: string;
  path: string;
}

async function apiOperations(): Promise<Operation[]> {
  const response = await ctx.app.inject({ method: 'GET', url: '/docs/json' });
  const paths = response.json<{ paths: Record<string, Record<string, unknown>> }>().paths;
  return Object.entries(paths)
    .filter(([path]) => path.startsWith('/api/'))
    .flatMap(([path, operations]) => Object.keys(operations).map((m) => ({ method: m.toUpperCase(), path })))
    .filter(({ method, path }) => !(method === 'POST' && path === '/api/auth/login'));
}

/** The route with its parameters filled in: ids are the visitor's own interaction (their best guess). */
const urlOf = (path: string) =>
  `${path.replace(/\{(\w+)\}/g, (_, name: string) =>
    name === 'queue' ? 'general' : name === 'day' ? '2026-11-01' : interactionId,
  )}?widgetId=shop&token=${encodeURIComponent(token)}`;

const visitorHeaders = () => ({
  cookie: `sb_session=${token}; sb_chat=${token}`,
  authorization: `Bearer ${token}`,
});

describe('a web chat visitor on the API', () => {
  it('gets 401 NOT_AUTHENTICATED on every /api route, whatever way the token is sent', async () => {
    const operations = await apiOperations();
    expect(operations.length).toBeGreaterThan(40);
    const answers: string[] = [];
    for (const { method, path } of operations) {
      const response = await ctx.app.inject({
        method: method as 'GET',
        url: urlOf(path),
        headers: visitorHeaders(),
        ...(['POST', 'PUT', 'PATCH'].includes(method) && { payload: {} }),
      });
      answers.push(
        `${method} ${path} ${response.statusCode} ${response.json<{ error?: { code: string } }>().error?.code}`,
      );
    }
    expect(answers.filter((a) => !a.endsWith(' 401 NOT_AUTHENTICATED'))).toEqual([]);
  });

  it('from the widget’s site: refused too (401, or 403 by the cross-origin rule for unsafe methods)', async () => {
    const answers: string[] = [];
    for (const { method, path } of await apiOperations()) {
      const response = await ctx.app.inject({
        method: method as 'GET',
        url: urlOf(path),
        headers: { ...visitorHeaders(), origin: widgetOrigin },
        ...(['POST', 'PUT', 'PATCH'].includes(method) && { payload: {} }),
      });
      const code = response.json<{ error?: { code: string } }>().error?.code;
      const isRefused =
        (response.statusCode === 401 && code === 'NOT_AUTHENTICATED') ||
        (response.statusCode === 403 && code === 'FORBIDDEN' && method !== 'GET');
      if (!isRefused) answers.push(`${method} ${path} ${response.statusCode} ${code}`);
    }
    expect(answers).toEqual([]);
  });

  it('cannot read their own conversation through the agents’ API, only through the widget', async () => {
    const detail = await ctx.app.inject({
      method: 'GET',
      url: `/api/interactions/${interactionId}`,
      headers: visitorHeaders(),
    });
    expect(detail.statusCode).toBe(401);
    expect(detail.body).not.toContain('hello');
    expect(detail.body).not.toContain(conversationId);
    // The same interaction is there for staff (the route exists and the id is right).
    const { cookie } = await ctx.loginAs('agent');
    const staff = await ctx.app.inject({
      method: 'GET',
      url: `/api/interactions/${interactionId}`,
      headers: { cookie },
    });
    expect(staff.statusCode).toBe(200);
  });

  it('a login attempt with the visitor’s token as a password is just a failed login', async () => {
    const response = await ctx.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: visitorHeaders(),
      payload: { email: `visitor-${randomUUID()}@visitor.test`, password: token },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'INVALID_CREDENTIALS' } });
  });
});

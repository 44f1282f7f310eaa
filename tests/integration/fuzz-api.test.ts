import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectErrorEnvelope,
  expectHandled,
  expectPrototypeClean,
  fuzzRuns,
  fuzzSeed,
  jsonBody,
  nastyString,
  queryString,
  safeEncode,
} from '../support/fuzz-inputs.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Bad input at the API door, generated: every /api route the router holds, called by an admin (so that no
 * authorization refusal hides how a request is handled) with generated path parameters, query strings, bodies
 * and content types. The answer is never a 5xx, and every 4xx is the JSON error envelope. A body over the
 * configured limit is refused with 413 before it is parsed. The route list comes from the router itself, so a
 * new route is fuzzed without a change here.
 */

const password = 'correct horse battery';
// Built while the file is collected (top-level await), so that the routes it holds can name the tests.
const ctx: TestContext = await createTestContext({ config: { routeOnIngest: false } });
let admin: string;
/** Ids of things that exist, so that generated requests reach handlers and not only the not-found path. */
const known: Record<string, string> = {};
/** An admin whose sessions the logout route ends (the fuzzing admin's session must survive). */
const logoutEmail = 'fuzz-logout@test.switchboard';

beforeAll(async () => {
  admin = (await ctx.loginAs('admin')).cookie;
  await ctx.loginAs('admin', { email: logoutEmail });
  ctx.services.outboundRegistry.register('email', { isImmediate: true, send: async () => ({}) });
  const victim = await ctx.services.agents.create(
    { email: 'fuzz-victim@test.switchboard', displayName: 'Victim', role: 'agent', password },
    null,
  );
  known.agent = victim.id;
  const contact = await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@fuzz>`,
    identities: [{ kind: 'email', value: 'fuzz@fuzz.example' }],
    displayName: 'Fuzz Customer',
    text: 'hello',
  });
  known.customer = contact.customerId;
  known.interaction = contact.interactionId;
  const adminAgent = await ctx.services.agents.get(
    (await ctx.services.repositories.agents.findCredentials(logoutEmail))!.id,
  );
  known.cannedReply = (await ctx.services.cannedReplies.create({ title: 'Fuzz', body: 'Hi' }, adminAgent)).id;
});
afterAll(() => ctx.close());

/** Parses fastify's printRoutes tree (as api-roles.test.ts does) into `METHOD /path` pairs under /api/. */
function apiRoutes(): { method: string; path: string }[] {
  const tree = ctx.app.printRoutes({ commonPrefix: false });
  const routes: { method: string; path: string }[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    prefixes.length = depth;
    const path = (prefixes[depth - 1] ?? '') + match[2]!;
    prefixes[depth] = path;
    for (const method of (match[3] ?? '').split(', ').filter(Boolean))
      if (method !== 'HEAD' && path.startsWith('/api/')) routes.push({ method, path });
  }
  return routes.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
}

/** A body each route accepts (from api-roles.test.ts), mutated one field at a time by jsonBody(). */
const validBodies: Record<string, () => Record<string, unknown>> = {
  'POST /api/auth/login': () => ({ email: 'fuzz-victim@test.switchboard', password }),
  'POST /api/agents': () => ({
    email: `${randomUUID()}@fuzz.example`,
    displayName: 'N',
    role: 'agent',
    password,
  }),
  'PATCH /api/agents/:id': () => ({ displayName: 'Renamed' }),
  'POST /api/customers/:id/merge': () => ({ sourceCustomerId: known.customer }),
  'POST /api/interactions/:id/notes': () => ({ text: 'a note' }),
  'POST /api/me/state': () => ({ state: 'away', reason: 'lunch' }),
  'POST /api/offers/:id/reject': () => ({ reason: 'busy' }),
  'POST /api/interactions/:id/close': () => ({ disposition: 'resolved' }),
  'POST /api/interactions/:id/assign': () => ({ agentId: known.agent, note: 'fuzz' }),
  'POST /api/agents/:id/state': () => ({ state: 'away', reason: 'fuzz' }),
  'POST /api/interactions/:id/transfer': () => ({ queue: 'billing', note: 'fuzz' }),
  'POST /api/interactions/:id/messages': () => ({ text: 'hello' }),
  'POST /api/canned-replies': () => ({ title: `T ${randomUUID()}`, body: 'Hello {{customer.name}}' }),
  'PATCH /api/canned-replies/:id': () => ({ title: `T ${randomUUID()}` }),
  'PUT /api/phone/device': () => ({ phoneNumber: null }),
  'POST /api/phone/calls/:interactionId/hold': () => ({ isOnHold: true }),
  'POST /api/phone/calls': () => ({ interactionId: known.interaction, to: '+14155550100' }),
  'POST /api/phone/callbacks': () => ({
    number: '+14155550100',
    at: new Date(Date.now() + 86_400_000).toISOString(),
  }),
};

/** A path parameter: an id that exists, or a valid-looking one that does not, or nonsense. */
const paramValue = fc.oneof(
  fc
    .constantFrom(...['agent', 'customer', 'interaction', 'cannedReply'].map((k) => () => known[k]!))
    .map((f) => f()),
  fc.constantFrom('general', 'support', 'billing'),
  nastyString.filter((s) => s !== ''),
);

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      '',
    ),
  },
);

function fillPath(path: string, values: readonly string[]): string {
  let i = 0;
  return path.replace(/:\w+/g, () => safeEncode(values[i++] ?? 'x'));
}

// The router's own route list names the tests below.
const routes = apiRoutes();

describe('every /api route under generated input (as an admin)', () => {
  it('the router holds /api routes to fuzz', () => {
    expect(routes.length).toBeGreaterThan(40);
  });

  it.each(routes)('$method $path: never a 5xx, the error envelope on 4xx', async (route) => {
    const key = `${route.method} ${route.path}`;
    const paramCount = (route.path.match(/:\w+/g) ?? []).length;
    const hasBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method);
    const isLogin = key === 'POST /api/auth/login';
    const isLogout = key === 'POST /api/auth/logout';
    await fc.assert(
      fc.asyncProperty(
        fc.array(paramValue, { minLength: paramCount, maxLength: paramCount }),
        fc.option(queryString, { nil: undefined }),
        hasBody ? jsonBody(validBodies[key]?.()) : fc.constant(undefined),
        contentType,
        async (params, query, body, type) => {
          let cookie = admin;
          if (isLogout) {
            const login = await ctx.app.inject({
              method: 'POST',
              url: '/api/auth/login',
              payload: { email: logoutEmail, password },
            });
            cookie = `sb_session=${login.cookies.find((c) => c.name === 'sb_session')!.value}`;
          }
          const url = fillPath(route.path, params) + (query ? `?${query}` : '');
          const response = await ctx.app.inject({
            method: route.method as 'GET',
            url,
            headers: { cookie, ...(body !== undefined && type && { 'content-type': type }) },
            // Failed logins throttle their address: the login route is fuzzed from an address of its own.
            ...(isLogin && { remoteAddress: '203.0.113.7' }),
            ...(body !== undefined && { payload: body }),
          });
          expectHandled(
            response,
            `${route.method} ${url.slice(0, 200)} ${type} ${String(body).slice(0, 200)}`,
          );
          expectPrototypeClean();
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(25) },
    );
    // The admin's session survived its own fuzzing (no route ended it or locked the admin out).
    const me = await ctx.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: admin } });
    expect(me.statusCode, key).toBe(200);
  });
});

describe('regressions found by fuzzing', () => {
  // The router refused these before any route ran, with fastify's own body ({ error: 'Bad Request', code:
  // 'FST_ERR_BAD_URL', ... }), not the error envelope; app.ts now hands them to the one error handler.
  it.each([
    ['a path parameter that is not valid UTF-8', '/api/customers/%ED%A0%80'],
    ['a path parameter over the router length limit', `/api/customers/${'a'.repeat(500)}`],
  ])('%s gets 400 in the error envelope', async (_name, url) => {
    const response = await ctx.app.inject({ method: 'GET', url, headers: { cookie: admin } });
    expect(response.statusCode).toBe(400);
    expectErrorEnvelope(response, url);
    expect(response.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });
});

describe('oversized bodies', () => {
  const limit = 1024 * 1024;

  it.each([
    ['POST', '/api/interactions/:id/notes'],
    ['POST', '/api/agents'],
    ['POST', '/api/auth/login'],
    ['PATCH', '/api/canned-replies/:id'],
  ] as const)('%s %s: a body over the limit gets 413 before it is parsed', async (method, path) => {
    const url = path.replace(':id', known.interaction!);
    for (const payload of [
      // Not even JSON: a 400 would mean the parser ran; 413 means it was refused first.
      '{'.repeat(limit + 1),
      JSON.stringify({ text: 'x'.repeat(limit) }),
    ]) {
      const response = await ctx.app.inject({
        method,
        url,
        headers: { cookie: admin, 'content-type': 'application/json' },
        payload,
      });
      expect(response.statusCode).toBe(413);
      expectErrorEnvelope(response, `${method} ${path}`);
      expect(response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    }
  });

  it('a declared content-length over the limit is refused without reading the body', async () => {
    const response = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${known.interaction}/notes`,
      headers: { cookie: admin, 'content-type': 'application/json', 'content-length': String(limit * 10) },
      payload: '{"text":"short"}',
    });
    expect(response.statusCode).toBe(413);
    expectErrorEnvelope(response, 'declared length');
  });
});

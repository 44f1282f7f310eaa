import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Sessions, credentials and the request guard, through app.inject on real Postgres and Redis.
 */

const password = 'correct horse battery';
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let ctx: TestContext;
let admin: string;
let interactionId: string;
beforeAll(async () => {
  ctx = await createTestContext();
  admin = (await ctx.loginAs('admin')).cookie;
  interactionId = (
    await ctx.services.ingest({
      channel: 'chat',
      externalId: `chat-${randomUUID()}`,
      identities: [{ kind: 'chat_visitor', value: 'visitor-auth' }],
      text: 'hi',
    })
  ).interactionId;
});
afterAll(() => ctx.close());

const login = (email: string, pass = password, headers: Record<string, string> = {}) =>
  ctx.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: pass }, headers });

function sessionToken(response: LightMyRequestResponse): string {
  const cookie = response.cookies.find((c) => c.name === 'sb_session');
  expect(cookie?.value).toBeTruthy();
  return cookie!.value;
}

const me = (cookie: string) => ctx.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });

async function newAgent(role: 'agent' | 'supervisor' | 'admin' = 'agent') {
  const email = `${role}-${randomUUID().slice(0, 8)}@auth.test`;
  const { cookie, agentId } = await ctx.loginAs(role, { email });
  return { email, cookie, agentId };
}

const patchAgent = (id: string, payload: Record<string, unknown>) =>
  ctx.app.inject({ method: 'PATCH', url: `/api/agents/${id}`, headers: { cookie: admin }, payload });

const withoutRequestId = (response: LightMyRequestResponse) => {
  const body = response.json<{ error: { requestId?: string } }>();
  const { requestId, ...error } = body.error;
  expect(typeof requestId).toBe('string');
  return { error };
};

/** The one error envelope: {error: {code, message, requestId}}, the id matching the x-request-id header. */
function expectErrorEnvelope(response: LightMyRequestResponse, code: string) {
  const body = response.json<{ error: { code: unknown; message: unknown; requestId: unknown } }>();
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(String(body.error.message)).not.toBe('');
  expect(typeof body.error.requestId).toBe('string');
  expect(body.error.requestId).toBe(response.headers['x-request-id']);
}

const notesOf = async (id: string) =>
  (await ctx.services.interactions.detail(id)).events.filter((e) => e.type === 'note.added');

describe('login and sessions', () => {
  it('login sets an httpOnly, SameSite session cookie and returns the agent', async () => {
    const { email } = await newAgent();
    const response = await login(email);
    expect(response.statusCode).toBe(200);
    const cookie = response.cookies.find((c) => c.name === 'sb_session');
    expect(cookie).toMatchObject({
      httpOnly: true,
      sameSite: 'Lax',
      path: '/',
      maxAge: ctx.config.sessionTtlSeconds,
    });
    expect(cookie!.value.length).toBeGreaterThanOrEqual(32);
    const header = String(response.headers['set-cookie']);
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Lax/i);
    expect(response.json()).toMatchObject({ agent: { email, role: 'agent', isDisabled: false } });
    // Email is matched case-insensitively.
    expect((await login(email.toUpperCase())).statusCode).toBe(200);
  });

  it('a wrong password and an unknown email get the same 401 body', async () => {
    const { email } = await newAgent();
    const wrong = await login(email, 'not the password at all');
    const unknown = await login(`nobody-${randomUUID()}@auth.test`);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(withoutRequestId(wrong)).toEqual(withoutRequestId(unknown));
    expect(wrong.json()).toMatchObject({ error: { code: 'INVALID_CREDENTIALS' } });
    expect(wrong.cookies.find((c) => c.name === 'sb_session')).toBeUndefined();
  });

  it('a disabled agent cannot log in, and its existing session stops working', async () => {
    const { email, cookie, agentId } = await newAgent();
    expect((await me(cookie)).statusCode).toBe(200);

    expect((await patchAgent(agentId, { isDisabled: true })).statusCode).toBe(200);
    const afterDisable = await me(cookie);
    expect(afterDisable.statusCode).toBe(401);
    expect(afterDisable.json()).toMatchObject({ error: { code: 'NOT_AUTHENTICATED' } });
    const refused = await login(email);
    expect(refused.statusCode).toBe(401);
    // No hint that the account exists but is disabled.
    expect(withoutRequestId(refused)).toEqual(
      withoutRequestId(await login(`nobody-${randomUUID()}@auth.test`)),
    );
  });

  it('re-enabling an agent does not bring back the sessions that disabling ended', async () => {
    const { email, cookie, agentId } = await newAgent();
    expect((await patchAgent(agentId, { isDisabled: true })).statusCode).toBe(200);
    expect((await patchAgent(agentId, { isDisabled: false })).statusCode).toBe(200);
    expect((await me(cookie)).statusCode).toBe(401);
    expect((await login(email)).statusCode).toBe(200);
  });

  it('a password change ends every session of that agent, and only the new password logs in', async () => {
    const { email, cookie, agentId } = await newAgent();
    const second = `sb_session=${sessionToken(await login(email))}`;
    const other = await newAgent();
    expect((await patchAgent(agentId, { password: 'a brand new passphrase' })).statusCode).toBe(200);
    expect((await me(cookie)).statusCode).toBe(401);
    expect((await me(second)).statusCode).toBe(401);
    expect((await me(other.cookie)).statusCode).toBe(200);
    expect((await login(email)).statusCode).toBe(401);
    expect((await login(email, 'a brand new passphrase')).statusCode).toBe(200);
  });

  it('a role change takes effect on the next request', async () => {
    const { cookie, agentId } = await newAgent('agent');
    const listAgents = () => ctx.app.inject({ method: 'GET', url: '/api/agents', headers: { cookie } });
    expect((await listAgents()).statusCode).toBe(403);

    expect((await patchAgent(agentId, { role: 'supervisor' })).statusCode).toBe(200);
    expect((await listAgents()).statusCode).toBe(200);
    expect((await me(cookie)).json()).toMatchObject({ agent: { role: 'supervisor' } });

    expect((await patchAgent(agentId, { role: 'agent' })).statusCode).toBe(200);
    expect((await listAgents()).statusCode).toBe(403);
  });

  it('logout ends the session: the old cookie gets 401', async () => {
    const { cookie } = await newAgent();
    const response = await ctx.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie } });
    expect(response.statusCode).toBe(204);
    const cleared = response.cookies.find((c) => c.name === 'sb_session');
    expect(cleared?.value ?? '').toBe('');
    expect((await me(cookie)).statusCode).toBe(401);
    expect(
      (await ctx.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie } })).statusCode,
    ).toBe(401);
  });

  it('every login issues a new token; a cookie sent at login is never adopted', async () => {
    const { email, cookie: firstCookie } = await newAgent();
    const first = firstCookie.replace(/^sb_session=/, '');

    const again = await login(email, password, { cookie: firstCookie });
    const second = sessionToken(again);
    expect(second).not.toBe(first);

    const planted = 'attacker-chosen-session-token-0123456789abcdef';
    const withPlanted = await login(email, password, { cookie: `sb_session=${planted}` });
    const third = sessionToken(withPlanted);
    expect(new Set([first, second, third, planted]).size).toBe(4);
    expect((await me(`sb_session=${planted}`)).statusCode).toBe(401);
    expect((await me(`sb_session=${third}`)).statusCode).toBe(200);
  });

  it('a made-up or oversized cookie is simply not a session', async () => {
    expect((await me('sb_session=nope')).statusCode).toBe(401);
    expect((await me(`sb_session=${'x'.repeat(5000)}`)).statusCode).toBe(401);
  });
});

describe('request guard', () => {
  it('refuses a cross-origin POST that carries a valid cookie (403) and changes nothing', async () => {
    const { cookie } = await newAgent();
    const notesBefore = (await notesOf(interactionId)).length;
    for (const origin of ['https://evil.example', 'null', 'http://localhost:3000.evil.example']) {
      const response = await ctx.app.inject({
        method: 'POST',
        url: `/api/interactions/${interactionId}/notes`,
        headers: { cookie, origin },
        payload: { text: 'csrf' },
      });
      expect(response.statusCode, origin).toBe(403);
      expect(response.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    }
    const logout = await ctx.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie, origin: 'https://evil.example' },
    });
    expect(logout.statusCode).toBe(403);
    expect((await me(cookie)).statusCode).toBe(200);
    expect(await notesOf(interactionId)).toHaveLength(notesBefore);

    // Login CSRF: logging a victim into the attacker's account is refused too.
    const { email } = await newAgent();
    expect((await login(email, password, { origin: 'https://evil.example' })).statusCode).toBe(403);

    // The console's own origin is fine.
    const sameOrigin = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${interactionId}/notes`,
      headers: { cookie, origin: ctx.config.publicBaseUrl },
      payload: { text: 'same origin' },
    });
    expect(sameOrigin.statusCode).toBe(201);
  });

  it('refuses form-encoded POSTs with 415 UNSUPPORTED_MEDIA_TYPE and changes nothing', async () => {
    const { email, cookie } = await newAgent();
    const notesBefore = (await notesOf(interactionId)).length;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const responses = [
      await ctx.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: form,
        payload: `email=${encodeURIComponent(email)}&password=${encodeURIComponent(password)}`,
      }),
      await ctx.app.inject({
        method: 'POST',
        url: `/api/interactions/${interactionId}/notes`,
        headers: { ...form, cookie },
        payload: 'text=from+a+form',
      }),
      await ctx.app.inject({
        method: 'POST',
        url: '/api/auth/logout',
        headers: { ...form, cookie },
        payload: 'x=1',
      }),
      await ctx.app.inject({
        method: 'POST',
        url: `/api/interactions/${interactionId}/notes`,
        headers: { 'content-type': 'multipart/form-data; boundary=xyz', cookie },
        payload: '--xyz\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--xyz--\r\n',
      }),
    ];
    for (const response of responses) {
      expect(response.statusCode).toBe(415);
      expectErrorEnvelope(response, 'UNSUPPORTED_MEDIA_TYPE');
      expect(response.cookies.find((c) => c.name === 'sb_session')).toBeUndefined();
    }
    expect(await notesOf(interactionId)).toHaveLength(notesBefore);
    expect((await me(cookie)).statusCode).toBe(200);
  });

  it("refuses text/plain POSTs (the other body a cross-site form can send) with 415, per the guard's contract", async () => {
    const { cookie } = await newAgent();
    const notesBefore = (await notesOf(interactionId)).length;
    const text = { 'content-type': 'text/plain' };
    const note = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${interactionId}/notes`,
      headers: { ...text, cookie },
      payload: JSON.stringify({ text: 'from a text/plain form' }),
    });
    const logout = await ctx.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { ...text, cookie },
      payload: 'x',
    });
    expect(await notesOf(interactionId)).toHaveLength(notesBefore);
    expect([note.statusCode, logout.statusCode]).toEqual([415, 415]);
    expect((await me(cookie)).statusCode).toBe(200);
  });

  it('bodies, params and queries failing the schema get 400 VALIDATION_FAILED in the error envelope', async () => {
    const requests = [
      { method: 'POST' as const, url: '/api/auth/login', payload: { email: 'a@b.example' } },
      {
        method: 'POST' as const,
        url: '/api/agents',
        payload: { email: 'not-an-email', displayName: 'X', role: 'agent', password },
      },
      {
        method: 'POST' as const,
        url: '/api/agents',
        payload: { email: 'x@auth.test', displayName: 'X', role: 'boss', password },
      },
      {
        method: 'POST' as const,
        url: '/api/agents',
        payload: { email: 'y@auth.test', displayName: 'Y', role: 'agent', password, capacity: { voice: 2 } },
      },
      { method: 'PATCH' as const, url: `/api/agents/${randomUUID()}`, payload: {} },
      { method: 'GET' as const, url: '/api/customers/not-a-uuid' },
      { method: 'GET' as const, url: '/api/audit?limit=0' },
      { method: 'GET' as const, url: '/api/customers' },
      { method: 'POST' as const, url: `/api/interactions/${interactionId}/notes`, payload: { text: '' } },
    ];
    for (const request of requests) {
      const requestId = `schema-${randomUUID()}`;
      const response = await ctx.app.inject({
        ...request,
        headers: { cookie: admin, 'x-request-id': requestId },
      });
      expect(response.statusCode, `${request.method} ${request.url}`).toBe(400);
      expectErrorEnvelope(response, 'VALIDATION_FAILED');
      expect(response.headers['x-request-id']).toBe(requestId);
    }
    expect(await ctx.services.repositories.agents.findCredentials('y@auth.test')).toBeUndefined();

    const malformed = await ctx.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    });
    expect(malformed.statusCode).toBe(400);
    expectErrorEnvelope(malformed, 'VALIDATION_FAILED');
  });

  it('never includes a password hash in any response', async () => {
    const email = `hash-${randomUUID().slice(0, 8)}@auth.test`;
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/api/agents',
      headers: { cookie: admin },
      payload: { email, displayName: 'Hash Check', role: 'agent', password },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ agent: { id: string } }>().agent.id;
    const responses = [
      created,
      await patchAgent(id, { password: 'another long password' }),
      await login(email, 'another long password'),
      await me(admin),
      await ctx.app.inject({ method: 'GET', url: '/api/agents', headers: { cookie: admin } }),
      await ctx.app.inject({
        method: 'POST',
        url: '/api/agents',
        headers: { cookie: admin },
        payload: { email, displayName: 'Again', role: 'agent', password },
      }),
      await ctx.app.inject({ method: 'GET', url: '/api/audit?limit=500', headers: { cookie: admin } }),
    ];
    expect(responses.map((r) => r.statusCode)).toEqual([201, 200, 200, 200, 200, 409, 200]);
    for (const response of responses) {
      expect(response.body).not.toMatch(/password_?hash/i);
      expect(response.body).not.toContain('scrypt$');
    }
  });

  it('echoes x-request-id, and makes one up when it is missing or unsafe', async () => {
    const ok = await ctx.app.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'abc-123.X_y' },
    });
    expect(ok.headers['x-request-id']).toBe('abc-123.X_y');

    const refused = await ctx.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { 'x-request-id': 'req-401' },
    });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['x-request-id']).toBe('req-401');
    expect(refused.json()).toMatchObject({ error: { requestId: 'req-401' } });

    const missing = await ctx.app.inject({ method: 'GET', url: '/health' });
    expect(String(missing.headers['x-request-id'])).toMatch(uuidPattern);
    for (const unsafe of ['two words', 'x'.repeat(65), 'a\\b<script>']) {
      const response = await ctx.app.inject({
        method: 'GET',
        url: '/health',
        headers: { 'x-request-id': unsafe },
      });
      expect(String(response.headers['x-request-id'])).toMatch(uuidPattern);
    }
  });
});

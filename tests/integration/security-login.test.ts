import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Login rate limit and lockout (src/agents/login-guard.ts) through POST /api/auth/login on a real Redis:
 * failures per account lock it (the right password too is refused while locked), failures per client
 * address throttle that address, success resets the account's count, and the answer for an unknown email is
 * the same as for a real account, so the limit tells nobody which accounts exist. A second app on the same
 * Redis sees the same lock (the counters are not per process). Expiry is shown by removing the lock key,
 * which is what its TTL does, so that no test waits for a clock.
 *
 * What must never happen: a correct password accepted during a lockout; a successful login counted as a
 * failure; a locked unknown email answered differently from a locked real account; a lockout not audited.
 */

const password = 'correct horse battery';
const limits = { maxFailures: 3, maxFailuresPerIp: 6, windowSeconds: 900, lockoutSeconds: 600 };

let ctx: TestContext;
let redis: Redis;
let addressCount = 0;

beforeAll(async () => {
  ctx = await createTestContext({ config: { login: limits } });
  redis = new Redis(ctx.config.redisUrl!);
});
afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
});

/** A client address of its own, so that per-address counts of one test do not reach into another. */
const newAddress = () => `10.0.${Math.floor(++addressCount / 250)}.${(addressCount % 250) + 1}`;

async function newAgent(): Promise<{ email: string; agentId: string }> {
  const email = `lock-${randomUUID()}@login.test`;
  const agent = await ctx.services.agents.create(
    { email, displayName: 'Lock Test', role: 'agent', password },
    null,
  );
  return { email, agentId: agent.id };
}

const login = (email: string, pass: string, remoteAddress: string, app = ctx.app) =>
  app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: pass }, remoteAddress });

const bodyWithoutRequestId = (response: LightMyRequestResponse) => {
  const { error } = response.json<{ error: Record<string, unknown> }>();
  const { requestId: _requestId, ...rest } = error;
  return rest;
};

async function failTimes(n: number, email: string, address: () => string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 1) statuses.push((await login(email, `wrong-${i}`, address())).statusCode);
  return statuses;
}

function expectLocked(response: LightMyRequestResponse) {
  expect(response.statusCode, response.body).toBe(429);
  expect(response.json()).toMatchObject({ error: { code: 'LOGIN_LOCKED' } });
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(limits.lockoutSeconds);
  expect(response.cookies.find((c) => c.name === 'sb_session')).toBeUndefined();
}

const lockKeys = () => redis.keys(`${ctx.config.redisPrefix}login:locked:*`);

describe('per account', () => {
  it('locks an account after the limit of failures, refuses the right password while locked, and audits it', async () => {
    const { email, agentId } = await newAgent();
    // From a new address each time: the account is what is counted.
    expect(await failTimes(limits.maxFailures, email, newAddress)).toEqual([401, 401, 401]);
    expectLocked(await login(email, password, newAddress()));
    // The email is matched as login matches it: another spelling of it is the same account.
    expectLocked(await login(`  ${email.toUpperCase()} `, password, newAddress()));

    const audit = await ctx.services.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'agent.loginLocked')
      .where('subject_id', '=', agentId)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ subject_type: 'agent', actor_id: null });
    expect(audit[0]!.details).toMatchObject({ email, failures: limits.maxFailures });
    // Nothing about the password in the audit entry.
    expect(JSON.stringify(audit[0]!.details)).not.toContain('wrong-');
  });

  it('keys the lock by a hash of the email, with a TTL of the lockout; once it lapses the right password works', async () => {
    const { email } = await newAgent();
    const before = new Set(await lockKeys());
    await failTimes(limits.maxFailures, email, newAddress);
    const added = (await lockKeys()).filter((key) => !before.has(key));
    expect(added).toHaveLength(1);
    expect(added[0]).not.toContain(email);
    const ttl = await redis.ttl(added[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(limits.lockoutSeconds);
    expectLocked(await login(email, password, newAddress()));

    await redis.del(added[0]!); // what the TTL does at the end of the lockout
    expect((await login(email, password, newAddress())).statusCode).toBe(200);
  });

  it('answers an unknown email exactly as a real account, before and during a lockout', async () => {
    const { email } = await newAgent();
    const unknown = `nobody-${randomUUID()}@login.test`;
    const real = [] as LightMyRequestResponse[];
    const ghost = [] as LightMyRequestResponse[];
    for (let i = 0; i <= limits.maxFailures; i += 1) {
      real.push(await login(email, 'wrong', newAddress()));
      ghost.push(await login(unknown, 'wrong', newAddress()));
    }
    expect(real.map((r) => r.statusCode)).toEqual([401, 401, 401, 429]);
    expect(ghost.map((r) => r.statusCode)).toEqual(real.map((r) => r.statusCode));
    for (let i = 0; i < real.length; i += 1)
      expect(bodyWithoutRequestId(ghost[i]!)).toEqual(bodyWithoutRequestId(real[i]!));
    expect(ghost.at(-1)!.headers['retry-after']).toBeDefined();

    // An unknown email's lockout is audited against the email typed.
    const audit = await ctx.services.db
      .selectFrom('audit_log')
      .select(['subject_type', 'subject_id'])
      .where('action', '=', 'agent.loginLocked')
      .where('subject_id', '=', unknown)
      .execute();
    expect(audit).toEqual([{ subject_type: 'login', subject_id: unknown }]);
  });

  it('starts the count afresh after a successful login', async () => {
    const { email } = await newAgent();
    // Addresses vary: an address's own count is not reset by success (see the per-address tests).
    for (let round = 0; round < 3; round += 1) {
      expect(await failTimes(limits.maxFailures - 1, email, newAddress)).toEqual([401, 401]);
      expect((await login(email, password, newAddress())).statusCode).toBe(200);
    }
  });

  it('never counts successful logins, however many', async () => {
    const { email } = await newAgent();
    const address = newAddress();
    for (let i = 0; i < limits.maxFailuresPerIp * 2; i += 1)
      expect((await login(email, password, address)).statusCode).toBe(200);
  });

  it('holds across processes: a second app on the same Redis refuses the locked account', async () => {
    const second = await buildApp({ config: ctx.config, isWorker: false });
    try {
      await second.app.ready();
      const { email } = await newAgent();
      await failTimes(limits.maxFailures, email, newAddress);
      expectLocked(await login(email, password, newAddress(), second.app));
    } finally {
      await second.app.close();
    }
  });
});

describe('per client address', () => {
  it('throttles an address after its limit of failures over any accounts, with Retry-After; other addresses go on', async () => {
    const { email } = await newAgent();
    const address = newAddress();
    // Failures spread over different emails, so that no account is locked.
    for (let i = 0; i < limits.maxFailuresPerIp; i += 1)
      expect((await login(`spray-${i}-${randomUUID()}@login.test`, 'guess', address)).statusCode).toBe(401);

    const throttled = await login(email, password, address);
    expect(throttled.statusCode, throttled.body).toBe(429);
    expect(throttled.json()).toMatchObject({ error: { code: 'LOGIN_THROTTLED' } });
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(limits.windowSeconds);
    expect(throttled.cookies.find((c) => c.name === 'sb_session')).toBeUndefined();

    // The account itself is not locked: from elsewhere the right password works.
    expect((await login(email, password, newAddress())).statusCode).toBe(200);
  });

  it("does not clear an address's count on success: one known account must not unlock guessing at others", async () => {
    const { email } = await newAgent();
    const address = newAddress();
    for (let i = 0; i < limits.maxFailuresPerIp - 1; i += 1)
      await login(`spray-${i}-${randomUUID()}@login.test`, 'guess', address);
    expect((await login(email, password, address)).statusCode).toBe(200);
    expect((await login(`spray-${randomUUID()}@login.test`, 'guess', address)).statusCode).toBe(401);
    expect((await login(email, password, address)).statusCode).toBe(429);
  });

  it('refuses a malformed login (400) without counting it', async () => {
    const address = newAddress();
    for (let i = 0; i < limits.maxFailuresPerIp + 2; i += 1) {
      const response = await ctx.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: 'x@login.test' },
        remoteAddress: address,
      });
      expect(response.statusCode).toBe(400);
    }
    const { email } = await newAgent();
    expect((await login(email, password, address)).statusCode).toBe(200);
  });
});

describe('the client address behind a proxy (TRUST_PROXY)', () => {
  const spoofed = (app: typeof ctx.app, email: string, i: number, from: string) =>
    app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email, password: `wrong-${i}` },
      remoteAddress: from,
      // A new address in every request: what a client spraying guesses would send.
      headers: { 'x-forwarded-for': `198.51.100.${i + 1}` },
    });

  it('ignores X-Forwarded-For by default: a client cannot pick a fresh address per guess', async () => {
    const address = newAddress();
    const statuses: number[] = [];
    for (let i = 0; i < limits.maxFailuresPerIp + 1; i += 1)
      statuses.push((await spoofed(ctx.app, `spray-${randomUUID()}@login.test`, i, address)).statusCode);
    expect(statuses.slice(0, limits.maxFailuresPerIp)).toEqual(Array(limits.maxFailuresPerIp).fill(401));
    expect(statuses.at(-1)).toBe(429);
  });

  it("takes the client's address from a trusted proxy's header, and only from it", async () => {
    const proxy = '10.200.0.1';
    const { app } = await buildApp({
      config: { ...ctx.config, trustProxy: [proxy] },
      isWorker: false,
    });
    try {
      // Through the trusted proxy each guess comes from a different client: none of them is throttled.
      const viaProxy: number[] = [];
      for (let i = 0; i < limits.maxFailuresPerIp + 1; i += 1)
        viaProxy.push((await spoofed(app, `spray-${randomUUID()}@login.test`, i + 100, proxy)).statusCode);
      expect(viaProxy).toEqual(Array(limits.maxFailuresPerIp + 1).fill(401));
      // The same header from an address that is not the proxy is not believed.
      const direct = newAddress();
      const statuses: number[] = [];
      for (let i = 0; i < limits.maxFailuresPerIp + 1; i += 1)
        statuses.push((await spoofed(app, `spray-${randomUUID()}@login.test`, i + 150, direct)).statusCode);
      expect(statuses.at(-1)).toBe(429);
    } finally {
      await app.close();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { buildApp, type AppOptions, type Services } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Role } from '../../src/db/repositories/agents.repository.js';
import type { FastifyInstance } from 'fastify';

/*
 * One isolated world per test file: a fresh Postgres schema (migrated) and a Redis key prefix, and an app
 * built on them. close() drops the schema and the keys.
 */
export interface TestContext {
  app: FastifyInstance;
  services: Services;
  config: Config;
  /** Logs an agent of that role in and returns its cookie header. */
  loginAs(role: Role, overrides?: { email?: string }): Promise<{ cookie: string; agentId: string }>;
  close(): Promise<void>;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  const id = randomBytes(5).toString('hex');
  return {
    ...loadConfig({}),
    databaseUrl: inject('databaseUrl'),
    redisUrl: inject('redisUrl'),
    databaseSchema: `t_${id}`,
    redisPrefix: `t_${id}:`,
    publicBaseUrl: 'http://localhost:3000',
    // Tests that need the folder watcher turn it on; the rest should not hold a watcher per app.
    watchRoutingRules: false,
    // No email channel unless a test writes its own mailboxes file (a developer's mailboxes.yaml is not read).
    email: { mailboxesFile: '', secrets: {}, tokenSecret: 'test-email-token-secret', isPolling: true },
    // The phone channel on, signing as a test account; REST calls go nowhere unless a test points
    // apiBaseUrl at its Twilio stand-in.
    phone: {
      accountSid: 'AC0123456789abcdef0123456789abcdef',
      authToken: 'test-twilio-auth-token',
      apiKeySid: 'SK0123456789abcdef0123456789abcdef',
      apiKeySecret: 'test-api-key-secret',
      twimlAppSid: 'AP0123456789abcdef0123456789abcdef',
      apiBaseUrl: 'http://127.0.0.1:9',
      callerId: '+18005550100',
      isRecording: false,
    },
    // The fax channel with test secrets (Telnyx needs a key pair: a test that posts Telnyx events makes one
    // and sets its public key); fax replies go through Phaxio's API at an address that refuses, unless a
    // test points it at its stand-in. Small media retries keep the flagged-download path quick.
    fax: {
      ...loadConfig({}).fax,
      signalwire: {
        signingKey: 'test-signalwire-signing-key',
        spaceUrl: 'http://127.0.0.1:9',
        projectId: 'test-project',
        apiToken: 'test-signalwire-api-token',
      },
      phaxio: {
        callbackToken: 'test-phaxio-callback-token',
        apiKey: 'test-phaxio-key',
        apiSecret: 'test-phaxio-secret',
        apiBaseUrl: 'http://127.0.0.1:9',
      },
      hylafax: { token: 'test-hylafax-token' },
      sendProvider: 'phaxio',
      number: '+18005550199',
      mediaAttempts: 3,
      mediaRetryMs: 100,
      mediaSecret: 'test-fax-media-secret',
    },
    ...overrides,
  };
}

export async function migrateSchema(config: Config): Promise<void> {
  const handle = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
  try {
    await migrateToLatest(handle.db, handle.pool, config.databaseSchema);
  } finally {
    await handle.close();
  }
}

export async function createTestContext(
  options: { config?: Partial<Config>; isWorker?: boolean; emailPoller?: AppOptions['emailPoller'] } = {},
): Promise<TestContext> {
  const config = testConfig(options.config);
  await migrateSchema(config);
  const { app, services } = await buildApp({
    config,
    isWorker: options.isWorker ?? false,
    ...(options.emailPoller && { emailPoller: options.emailPoller }),
  });
  await app.ready();
  let agentCount = 0;

  return {
    app,
    services,
    config,
    async loginAs(role, overrides = {}) {
      agentCount += 1;
      const email = overrides.email ?? `${role}${agentCount}@test.switchboard`;
      const password = 'correct horse battery';
      const agent = await services.agents.create(
        { email, displayName: `${role} ${agentCount}`, role, password },
        null,
      );
      const response = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email, password },
      });
      if (response.statusCode !== 200) throw new Error(`login failed: ${response.body}`);
      const setCookie = response.cookies.find((c) => c.name === 'sb_session');
      if (!setCookie) throw new Error('no session cookie');
      return { cookie: `sb_session=${setCookie.value}`, agentId: agent.id };
    },
    async close() {
      await app.close();
      const handle = openDatabase(config.databaseUrl!, 'public', { max: 1 });
      await sql`drop schema if exists ${sql.id(config.databaseSchema)} cascade`.execute(handle.db);
      await handle.close();
      const redis = new Redis(config.redisUrl!);
      const keys = await redis.keys(`${config.redisPrefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

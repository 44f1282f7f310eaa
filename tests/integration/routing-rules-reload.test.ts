import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type Services } from '../../src/app.js';
import { testRules, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Rules reload without a restart: the folder watcher picks up an edit, an invalid edit is refused with file,
 * line and reason while the rules in force stay, an admin's reload reaches every process (Redis pub/sub),
 * and each outcome is audited once for the cluster.
 */

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let second: Awaited<ReturnType<typeof buildApp>>;
let adminCookie: string;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({ config: { routingRulesDir: rules.dir, watchRoutingRules: true } });
  // A second process of the same cluster, without a folder watcher: only the pub/sub reaches it.
  second = await buildApp({
    config: { ...ctx.config, watchRoutingRules: false },
    isWorker: false,
  });
  adminCookie = (await ctx.loginAs('admin')).cookie;
});

afterAll(async () => {
  await second?.app.close();
  await ctx?.close();
  rules?.remove();
});

async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function audits(action: string) {
  const { rows } = await ctx.services.pool.query<{ subject_id: string; details: Record<string, unknown> }>(
    'select subject_id, details from audit_log where action = $1 order by occurred_at',
    [action],
  );
  return rows;
}

const rulesFile = () => join(rules.dir, 'rules.yaml');
const queuesOf = (app: { services: Services }) => [
  ...(app.services.routing.rules.current?.queues.keys() ?? []),
];

describe('routing rules reload', () => {
  it('picks up an edited file without a restart, and audits the new version once', async () => {
    const before = ctx.services.routing.rules.current!.fingerprint;
    writeFileSync(
      rulesFile(),
      testRules.replace(
        'queues:\n',
        'queues:\n  - { name: added, strategy: least-busy, channels: [chat] }\n',
      ),
    );
    await waitFor(() => ctx.services.routing.rules.current!.fingerprint !== before);
    expect(queuesOf(ctx)).toContain('added');
    const loaded = await waitFor(async () => {
      const rows = await audits('routing.rules.loaded');
      return rows.length > 0 && rows;
    });
    expect(loaded).toHaveLength(1);
    expect(loaded[0]!.details).toMatchObject({ trigger: 'file change', previousFingerprint: before });
  });

  it('refuses an invalid edit with file, line and reason, and keeps the rules in force', async () => {
    const inForce = ctx.services.routing.rules.current!.fingerprint;
    writeFileSync(rulesFile(), testRules.replace('strategy: round-robin', 'strategy: round-robbin'));
    const refused = await waitFor(async () => {
      const rows = await audits('routing.rules.refused');
      return rows.length > 0 && rows;
    });
    const problems = refused[0]!.details.problems as { file: string; line: number; reason: string }[];
    expect(problems[0]!.file).toMatch(/rules\.yaml$/);
    expect(problems[0]!.line).toBeGreaterThan(0);
    expect(problems[0]!.reason).toMatch(/round-robbin/);
    expect(ctx.services.routing.rules.current!.fingerprint).toBe(inForce);

    // The admin's reload says the same, with 422, and routing carries on.
    const response = await ctx.app.inject({
      method: 'POST',
      url: '/api/routing/rules/reload',
      headers: { cookie: adminCookie },
    });
    expect(response.statusCode).toBe(422);
    const refusal = response.json<{ error: { code: string; details: { problems: unknown[] } } }>();
    expect(refusal.error.code).toBe('RULES_REFUSED');
    expect(refusal.error.details.problems.length).toBeGreaterThan(0);
    expect(ctx.services.routing.rules.current!.fingerprint).toBe(inForce);
  });

  it('reloads every process on an admin’s request', async () => {
    writeFileSync(
      rulesFile(),
      testRules.replace(
        'queues:\n',
        'queues:\n  - { name: everywhere, strategy: longest-idle, channels: [email] }\n',
      ),
    );
    const response = await ctx.app.inject({
      method: 'POST',
      url: '/api/routing/rules/reload',
      headers: { cookie: adminCookie },
    });
    expect(response.statusCode).toBe(200);
    const reloaded = response.json<{ rules: { queues: { name: string }[] } }>();
    expect(reloaded.rules.queues.map((q) => q.name)).toContain('everywhere');
    await waitFor(() => queuesOf(second).includes('everywhere'));
    const fingerprint = ctx.services.routing.rules.current!.fingerprint;
    expect(second.services.routing.rules.current!.fingerprint).toBe(fingerprint);
    // Three processes-worth of outcomes (watcher, request, pub/sub echo), one audit entry for the version.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const entries = (await audits('routing.rules.loaded')).filter((r) => r.subject_id === fingerprint);
    expect(entries).toHaveLength(1);
  });
});

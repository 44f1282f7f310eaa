import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../src/demo/demo-seed.js';
import { freePort } from '../../src/runtime/local-services.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `src/main.ts <command>` and collects its output. */
function runMain(
  command: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('start-up', () => {
  it('says in one line which service cannot be reached, with no stack trace', async () => {
    const closedPort = await freePort();
    const { code, stderr } = await runMain('migrate', {
      DATABASE_URL: `postgres://switchboard:secret@127.0.0.1:${closedPort}/switchboard`,
      REDIS_URL: `redis://127.0.0.1:${closedPort}`,
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(
      new RegExp(`Cannot reach Postgres at postgres://switchboard:\\*\\*\\*@127.0.0.1:${closedPort}`),
    );
    expect(stderr).not.toContain('secret');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a half configuration (only one of the two URLs) with a clear message', async () => {
    const { code, stderr } = await runMain('migrate', {
      DATABASE_URL: 'postgres://127.0.0.1:1/x',
      REDIS_URL: '',
    });
    expect(code).toBe(1);
    expect(stderr).toContain('Set both DATABASE_URL and REDIS_URL, or neither');
  });
});

describe('demo data', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.close());

  it('seeds agents with skills, accounts with owners, and customers with history on every channel', async () => {
    const lines: string[] = [];
    await seedDemo(ctx.services, (line) => lines.push(line));
    expect(lines.at(-1)).toBe('demo data ready');

    const agents = await ctx.services.agents.list();
    expect(agents.map((a) => a.role).sort()).toEqual([
      'admin',
      'agent',
      'agent',
      'agent',
      'agent',
      'supervisor',
    ]);
    expect(agents.filter((a) => a.role === 'agent').every((a) => Object.keys(a.skills).length > 0)).toBe(
      true,
    );

    const channels = await ctx.services.db.selectFrom('interactions').select('channel').distinct().execute();
    expect(channels.map((c) => c.channel).sort()).toEqual(['chat', 'email', 'fax', 'voice']);

    const [maria] = await ctx.services.customers.search('+1 415 555 0132');
    expect(maria?.displayName).toBe('Maria Lopez');
    const profile = await ctx.services.customers.profile(maria!.id);
    expect(profile.customer.account?.ownerName).toBe('Alice Agent');
    const timeline = await ctx.services.customers.timeline(maria!.id, 50);
    expect(new Set(timeline.events.map((e) => e.channel))).toEqual(new Set(['voice', 'email', 'chat']));

    // The clinic's doctor called, and wrote her number in an email signature from another address.
    const suggestions = await ctx.services.customers.listSuggestions('open', 50);
    expect(suggestions.some((s) => s.reasons.some((r) => r.code === 'phone_in_signature'))).toBe(true);
    // Two different John Smiths at a webmail domain are not suggested.
    const smiths = await ctx.services.customers.search('John Smith');
    expect(smiths).toHaveLength(2);
    expect(
      suggestions.some(
        (s) => smiths.some((a) => a.id === s.customerId) && smiths.some((b) => b.id === s.otherCustomerId),
      ),
    ).toBe(false);
  });

  it('counts ingested contacts in the Prometheus metrics', async () => {
    const response = await ctx.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatch(
      /switchboard_contacts_ingested_total\{channel="email",duplicate="false"\} [1-9]/,
    );
  });
});

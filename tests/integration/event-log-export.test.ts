import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExportEvents } from '../../src/reports/export-events.command.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * The event-log export on the real log: contacts ingested and routed, then read back through the API (as a
 * supervisor) and the command line, a line per event, in the window asked for.
 */

describe('the event-log export', () => {
  let ctx: TestContext;
  const rules = writeRulesFolder();
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-events-'));
  let between: Date;

  beforeAll(async () => {
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir } });
    for (const [i, text] of ['my invoice is wrong', 'hello there', 'urgent: the app is down'].entries()) {
      if (i === 2) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        between = new Date();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await ctx.services.ingest({
        channel: 'chat',
        externalId: `export-${i}`,
        identities: [{ kind: 'chat_visitor', value: `visitor-export-${i}` }],
        text,
      });
    }
    await waitFor(async () => {
      const queued = await ctx.services.db
        .selectFrom('interaction_events')
        .select('id')
        .where('type', '=', 'routing.queued')
        .execute();
      return queued.length === 3 ? true : undefined;
    });
  });

  afterAll(async () => {
    await ctx?.close();
    rules.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const lineCount = async () =>
    Number(
      (
        await ctx.services.db
          .selectFrom('interaction_events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('streams a line per event to supervisors, queue-log shaped, in the window asked for', async () => {
    const { cookie } = await ctx.loginAs('supervisor');
    const all = await ctx.app.inject({ method: 'GET', url: '/api/reports/event-log', headers: { cookie } });
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toMatch(/^text\/plain/);
    const lines = all.body.trimEnd().split('\n');
    expect(lines).toHaveLength(await lineCount());
    for (const line of lines)
      expect(line).toMatch(/^\d+\.\d{3}\|[0-9a-f-]{36}\|[^|]+\|[^|]+\|[A-Z_]+(\|[^|\n]*)*$/);
    const entered = lines.filter((l) => l.split('|')[4] === 'ENTERQUEUE');
    expect(entered.map((l) => l.split('|')[2]).sort()).toEqual(['billing', 'general', 'general']);
    expect(all.body).not.toContain('invoice is wrong');

    const later = await ctx.app.inject({
      method: 'GET',
      url: `/api/reports/event-log?from=${encodeURIComponent(between.toISOString())}`,
      headers: { cookie },
    });
    expect(later.body.split('\n').filter((l) => l.includes('|ENTERQUEUE|'))).toHaveLength(1);

    const agent = await ctx.loginAs('agent');
    const refused = await ctx.app.inject({
      method: 'GET',
      url: '/api/reports/event-log',
      headers: { cookie: agent.cookie },
    });
    expect(refused.statusCode).toBe(403);
  });

  it('writes the same lines to a file from the command line, with progress on stderr', async () => {
    const out = join(dir, 'events.log');
    const stderr = new PassThrough();
    let said = '';
    stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const code = await runExportEvents(
      ['--out', out],
      { stdout: new PassThrough(), stderr },
      async () => ctx.config,
    );
    expect(code).toBe(0);
    const written = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(written).toHaveLength(await lineCount());
    expect(said).toMatch(/events in the window/);
    expect(said).toMatch(
      new RegExp(`wrote ${written.length} events to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    await expect(
      runExportEvents(['--from', 'yesterday'], { stdout: new PassThrough(), stderr }, async () => ctx.config),
    ).rejects.toThrow(/is not an ISO date-time/);
  });
});

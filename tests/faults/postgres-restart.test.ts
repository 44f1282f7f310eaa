import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { nodeLog, startNode, type FaultNode } from '../support/fault-cluster.js';
import { halfWrittenInteractions, report } from '../support/fault-log.js';
import { startPostgres, stopPostgres } from '../support/fault-services.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * Postgres, the system of record, stopped as if it crashed (pg_ctl -m immediate: every backend killed, no
 * checkpoint; the next start recovers from the WAL) while Twilio's incoming-call webhooks stream into a
 * server process, three at a time, some of them in flight at that instant, then started again.
 * What must hold, read from the answers and the log:
 *   - while Postgres is down every webhook answers 503 (Twilio retries), never a 500 or a hang;
 *   - a webhook in flight when it stopped answers 200 or 503, nothing else;
 *   - once it is back, the same webhooks retried answer 200, and each call is logged once: one interaction
 *     per CallSid, with its interaction.created event, its call record, and routed (queued);
 *   - no half-written interaction: nothing without its created event or its call record.
 * FAULT_POSTGRES_DOWN_MS sets how long Postgres stays down (default 10 s).
 */

const downMs = Number(process.env.FAULT_POSTGRES_DOWN_MS ?? 10_000);
const settleMs = 180_000;

let ctx: TestContext;
let folder: ReturnType<typeof writeRulesFolder>;
let node: FaultNode | undefined;

beforeAll(async () => {
  folder = writeRulesFolder();
  ctx = await createTestContext({ config: { routingRulesDir: folder.dir, routeOnIngest: true } });
});

afterAll(async () => {
  await node?.worker.stop();
  await ctx?.close();
  folder?.remove();
});

const callSid = () => `CA${randomBytes(16).toString('hex')}`;
const caller = () => `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;

/** Posts Twilio's incoming-call webhook for `sid`, signed as Twilio signs it; resolves with the status. */
async function incoming(sid: string, from: string): Promise<number> {
  const path = '/webhooks/twilio/voice/incoming';
  const params = {
    AccountSid: ctx.config.phone.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: sid,
    From: from,
    To: '+18005550100',
    CallStatus: 'ringing',
    Direction: 'inbound',
  };
  const signature = twilio.getExpectedTwilioSignature(
    ctx.config.phone.authToken!,
    `${ctx.config.publicBaseUrl}${path}`,
    params,
  );
  const response = await fetch(`${node!.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(120_000),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('Postgres restarted under a running server', () => {
  it('answers webhooks 503 while it is down, then logs each retried call once and whole', async () => {
    node = await startNode('postgres', ctx.config, {
      config: {
        publicBaseUrl: ctx.config.publicBaseUrl,
        phone: ctx.config.phone,
        routeOnIngest: true,
        duplicateSweepMs: 600_000,
      },
    });
    const calls: { sid: string; from: string }[] = [];
    const newCall = () => {
      const call = { sid: callSid(), from: caller() };
      calls.push(call);
      return call;
    };
    const first = newCall();
    expect(await incoming(first.sid, first.from)).toBe(200);

    // Calls keep coming, three at a time, as Postgres dies: some answered before, some cut mid-way, the
    // rest refused. Each stream stops at its first answer other than 200 once Postgres is stopped.
    const statuses: number[] = [];
    let isStopped = false;
    const stream = async () => {
      for (;;) {
        const call = newCall();
        const status = await incoming(call.sid, call.from);
        statuses.push(status);
        if (isStopped && status !== 200) return;
      }
    };
    const streams = [stream(), stream(), stream()];
    await waitFor(() => (statuses.length >= 6 ? true : undefined), settleMs);
    stopPostgres(inject('faultServices'), 'immediate');
    isStopped = true;
    await Promise.all(streams);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    report(
      `postgres: ${statuses.filter((s) => s === 200).length} webhooks answered 200 around the stop, ` +
        `${statuses.filter((s) => s === 503).length} 503`,
    );

    // While it is down: a new call gets 503; a retry of one answered before gets its stored answer or 503.
    const whileDown = newCall();
    expect(await incoming(whileDown.sid, whileDown.from)).toBe(503);
    expect([200, 503]).toContain(await incoming(first.sid, first.from));
    await new Promise((resolve) => setTimeout(resolve, downMs));
    expect(await incoming(whileDown.sid, whileDown.from)).toBe(503);

    await startPostgres(inject('faultServices'));
    // Twilio retries what was not answered 200; we retry everything (a retry of an answered call is one
    // Twilio may send too, and must change nothing).
    for (const call of calls) {
      await waitFor(
        async () => ((await incoming(call.sid, call.from)) === 200 ? true : undefined),
        settleMs,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\nnode's log:\n${nodeLog(node!)}`);
      });
    }

    const { rows } = await ctx.services.pool.query<{
      external_id: string;
      status: string;
      calls: number;
      created: number;
    }>(`
      select i.external_id, i.status,
             (select count(*)::int from voice_calls v where v.interaction_id = i.id) as calls,
             (select count(*)::int from interaction_events e
               where e.interaction_id = i.id and e.type = 'interaction.created') as created
        from interactions i`);
    expect(rows.map((r) => r.external_id).sort()).toEqual(calls.map((c) => c.sid).sort());
    expect(rows.filter((r) => r.calls !== 1 || r.created !== 1 || r.status !== 'queued')).toEqual([]);
    expect(await halfWrittenInteractions(ctx.services.pool)).toEqual([]);
  });
});

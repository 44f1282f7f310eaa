import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/app.js';
import { startDovecot, type Dovecot } from '../support/dovecot.js';
import { buildMail, imapClient, mailboxFixture, uniqueMessageId } from '../support/email-fixtures.js';
import { receivedCounts } from '../support/fault-log.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startSmtpCapture, type CapturedMessage, type SmtpCapture } from '../support/smtp-capture.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * Dovecot and the SMTP server both stopped for a while (FAULT_MAIL_DOWN_MS, default 60 s) under a running
 * Switchboard that reads a mailbox and has an agent's reply to send. Mail keeps arriving at the mailbox
 * meanwhile (delivered to Dovecot while Switchboard cannot reach it), and the reply is written while the
 * SMTP server is gone. Switchboard reaches Dovecot through a proxy on a fixed address (Dovecot comes back
 * on another port, with the same mail and UIDs).
 * What must hold afterwards: every message, before and during the outage, is in the log once; the reply
 * is delivered once, when the SMTP server is back (its job retries); no Message-ID reaches the server twice.
 * Limit found with this test: the reply's job tries 8 times, 0.5 s doubling (src/jobs/job-registry.ts), so
 * an SMTP outage longer than about 63 s marks the reply failed instead of delivering it later.
 * Restarts of Dovecot alone, and the mailbox's reader killed, are covered by
 * tests/integration/email-resilience.test.ts.
 */

const downMs = Number(process.env.FAULT_MAIL_DOWN_MS ?? 60_000);
const settleMs = 180_000;

let ctx: TestContext | undefined;
let dovecot: Dovecot | undefined;
let proxy: FaultProxy | undefined;
let smtp: SmtpCapture | undefined;
const captured: CapturedMessage[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'sb-faults-mail-'));

afterAll(async () => {
  await ctx?.close();
  await proxy?.stop();
  await smtp?.stop();
  await dovecot?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function events(services: Services, interactionId: string) {
  return (await services.interactions.detail(interactionId)).events;
}

describe('Dovecot and the SMTP server down for a while', () => {
  it('ingests the mail that arrived meanwhile and delivers the reply once, when they are back', async () => {
    dovecot = await startDovecot({ dataDir, log: () => undefined });
    proxy = await startFaultProxy(dovecot.port);
    smtp = await startSmtpCapture();
    const smtpPort = smtp.port;
    const mailbox = mailboxFixture({
      imap: { host: '127.0.0.1', port: proxy.port },
      smtp: { host: '127.0.0.1', port: smtpPort },
      pollSeconds: 1,
    });
    ctx = await createTestContext({
      config: {
        routeOnIngest: false,
        email: {
          mailboxesFile: mailbox.file,
          secrets: mailbox.secrets,
          tokenSecret: 'faults',
          isPolling: true,
        },
      },
      isWorker: true,
      emailPoller: { leaseMs: 3000, leaseRetryMs: 200, backoff: { initialMs: 200, maxMs: 2000 } },
    });
    const { services, app } = ctx;
    const deliver = async (messageId: string, subject: string) => {
      const imap = await imapClient({ host: '127.0.0.1', port: dovecot!.port, user: mailbox.imapUser });
      await imap.append(
        buildMail({ from: 'customer@customer.example', to: mailbox.address, subject, messageId }),
      );
      await imap.close();
    };

    const first = uniqueMessageId('before');
    await deliver(first, 'Before the outage');
    const interactionId = await waitFor(async () => {
      const { rows } = await services.pool.query<{ interaction_id: string }>(
        `select interaction_id from interaction_events where external_id = $1`,
        [first],
      );
      return rows[0]?.interaction_id;
    }, settleMs);

    // Both servers go away.
    captured.push(...smtp.messages);
    await proxy.cut();
    await smtp.stop();
    smtp = undefined;
    await dovecot.stop();
    dovecot = undefined;

    // An agent replies meanwhile: accepted, and left to its job.
    const { cookie } = await ctx.loginAs('supervisor');
    const response = await app.inject({
      method: 'POST',
      url: `/api/interactions/${interactionId}/messages`,
      headers: { cookie },
      payload: { text: 'Written while the mail server was away.' },
    });
    expect(response.statusCode, response.body).toBe(201);
    const replyId = response.json<{ event: { id: string } }>().event.id;
    await new Promise((resolve) => setTimeout(resolve, downMs));

    // The SMTP server is back on its address; Dovecot is back with mail delivered while Switchboard could
    // not reach it, and then reachable again.
    smtp = await startSmtpCapture({ port: smtpPort });
    dovecot = await startDovecot({ dataDir, log: () => undefined });
    const during = [uniqueMessageId('during'), uniqueMessageId('during')];
    for (const [i, id] of during.entries()) await deliver(id, `During the outage ${i}`);
    proxy.setTarget(dovecot.port);
    await proxy.resume();
    const after = uniqueMessageId('after');
    await deliver(after, 'After the outage');

    const all = [first, ...during, after];
    const counts = await waitFor(async () => {
      const c = await receivedCounts(services.pool, 'email');
      return all.every((id) => c.has(id)) ? c : undefined;
    }, settleMs);
    const outcome = await waitFor(async () => {
      const list = await events(services, interactionId);
      return list.find(
        (e) =>
          (e.type === 'message.delivered' || e.type === 'message.failed') &&
          e.payload.messageEventId === replyId,
      );
    }, settleMs);
    expect(outcome.type, JSON.stringify(outcome.payload)).toBe('message.delivered');
    // Settled: whatever else was to be sent (acknowledgments) has had its chance.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    captured.push(...smtp.messages);

    expect(all.map((id) => counts.get(id))).toEqual(all.map(() => 1));
    const parsed = await Promise.all(captured.map((m) => simpleParser(m.raw)));
    const replies = parsed.filter((m) => m.text?.includes('Written while the mail server was away.'));
    expect(replies).toHaveLength(1);
    const ids = parsed.map((m) => m.messageId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });
});

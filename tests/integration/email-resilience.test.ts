import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { readersOf } from '../../channels/email/imap-poller.js';
import type { ClusterNodeStart } from '../support/cluster-node.js';
import { startDovecot, type startDovecot as StartDovecot } from '../support/dovecot.js';
import {
  buildMail,
  imapClient,
  mailboxFixture,
  uniqueMessageId,
  type MailboxFixture,
} from '../support/email-fixtures.js';
import { migrateSchema, testConfig } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';

/*
 * The email channel when things go wrong, on real servers and real processes: Dovecot restarted while mail
 * streams in, the Switchboard process restarted meanwhile, a UIDVALIDITY change, and several processes
 * that must never read one mailbox at once (a Redis lease; the holder killed with SIGKILL is taken over).
 * What must never happen: a message lost, a message logged twice, two readers of one mailbox at once.
 * This file runs its own Dovecot, so that restarting it disturbs no other test file.
 */

type Dovecot = Awaited<ReturnType<typeof StartDovecot>>;
let dovecot: Dovecot;
let db: DatabaseHandle;
let redis: Redis;
const schemas: Config[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'sb-dovecot-'));

beforeAll(async () => {
  dovecot = await startDovecot({ dataDir, log: () => undefined });
});
afterAll(async () => {
  await dovecot?.stop();
  for (const config of schemas) {
    await sql`drop schema if exists ${sql.id(config.databaseSchema)} cascade`.execute(db.db);
    const keys = await redis.keys(`${config.redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await db?.close();
  redis?.disconnect();
});

function emailConfig(mailbox: MailboxFixture, base?: Config): Config {
  const config = base ?? testConfig();
  return {
    ...config,
    email: {
      mailboxesFile: mailbox.file,
      secrets: mailbox.secrets,
      tokenSecret: 'resilience',
      isPolling: true,
    },
  };
}

/** This test's schema, migrated, and a connection to it and to Redis (the previous test's closed). */
async function worldOf(config: Config) {
  await migrateSchema(config);
  schemas.push(config);
  await db?.close();
  redis?.disconnect();
  db = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
  redis = new Redis(config.redisUrl!);
}

/** How many times each Message-ID is in the log. */
async function loggedCounts(): Promise<Map<string, number>> {
  const rows = await db.db
    .selectFrom('interaction_events')
    .select(['external_id'])
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('channel', '=', 'email')
    .where('type', '=', 'message.received')
    .groupBy('external_id')
    .execute();
  return new Map(rows.map((r) => [r.external_id!, Number(r.n)]));
}

/** Appends mail one message at a time, with pauses, as a stream; reconnects when the server goes away. */
async function streamMail(mailbox: MailboxFixture, ids: string[], pauseMs: number) {
  let client = await imapClient({ host: dovecot.host, port: dovecot.port, user: mailbox.imapUser });
  for (const [i, messageId] of ids.entries()) {
    for (;;) {
      try {
        await client.append(
          buildMail({
            from: `streamer${i % 7}@customer.example`,
            to: mailbox.address,
            subject: `Stream ${i}`,
            messageId,
          }),
        );
        break;
      } catch {
        await client.close();
        await new Promise((resolve) => setTimeout(resolve, 100));
        client = await imapClient({ host: dovecot.host, port: dovecot.port, user: mailbox.imapUser }).catch(
          () => client,
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  await client.close();
}

describe('restarts', () => {
  it('loses and duplicates nothing when Dovecot and the Switchboard process restart mid-stream', async () => {
    const mailbox = mailboxFixture({ imap: { host: dovecot.host, port: dovecot.port }, pollSeconds: 1 });
    const config = emailConfig(mailbox, testConfig({ routeOnIngest: false }));
    await worldOf(config);
    const short = { leaseMs: 3000, leaseRetryMs: 200, backoff: { initialMs: 100, maxMs: 1000 } };
    let app = (await buildApp({ config, isWorker: false, emailPoller: short })).app;
    await app.ready();

    const ids = Array.from({ length: 60 }, () => uniqueMessageId('stream'));
    const streaming = streamMail(mailbox, ids, 40);
    // Dovecot restarts when a third has been appended, the Switchboard process when two thirds have.
    await waitFor(async () => ((await loggedCounts()).size >= 20 ? true : undefined), 30_000);
    await dovecot.restart();
    await waitFor(async () => ((await loggedCounts()).size >= 40 ? true : undefined), 30_000);
    await app.close();
    app = (await buildApp({ config, isWorker: false, emailPoller: short })).app;
    await app.ready();
    await streaming;

    const counts = await waitFor(async () => {
      const c = await loggedCounts();
      return ids.every((id) => c.has(id)) ? c : undefined;
    }, 30_000);
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    await app.close();
  });

  it('reads the folder again after a UIDVALIDITY change, logging nothing twice', async () => {
    const mailbox = mailboxFixture({
      imap: { host: dovecot.host, port: dovecot.port },
      folder: 'Support',
      pollSeconds: 1,
    });
    const config = emailConfig(mailbox, testConfig({ routeOnIngest: false }));
    await worldOf(config);
    const imap = await imapClient({ host: dovecot.host, port: dovecot.port, user: mailbox.imapUser });
    await imap.client.mailboxCreate('Support');
    const first = [uniqueMessageId('v1'), uniqueMessageId('v1')];
    for (const messageId of first)
      await imap.append(
        buildMail({ from: 'a@customer.example', to: mailbox.address, subject: 'v1', messageId }),
        'Support',
      );
    const { app } = await buildApp({
      config,
      isWorker: false,
      emailPoller: { backoff: { initialMs: 100, maxMs: 500 } },
    });
    await app.ready();
    await waitFor(async () => ((await loggedCounts()).size === 2 ? true : undefined), 20_000);
    // The cursor moves right after the batch is logged.
    const before = await waitFor(() =>
      db.db.selectFrom('mailbox_cursors').selectAll().where('last_uid', '>=', '2').executeTakeFirst(),
    );

    // The folder is deleted and made again (new UIDVALIDITY), with the same two messages and a new one.
    await app.close();
    await imap.client.mailboxDelete('Support');
    // Dovecot's UIDVALIDITY is the creation time in seconds: a folder made again in the same second keeps it.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await imap.client.mailboxCreate('Support');
    const later = uniqueMessageId('v2');
    for (const messageId of [...first, later])
      await imap.append(
        buildMail({ from: 'a@customer.example', to: mailbox.address, subject: 'again', messageId }),
        'Support',
      );
    const again = (await buildApp({ config, isWorker: false })).app;
    await again.ready();
    const counts = await waitFor(async () => {
      const c = await loggedCounts();
      return c.has(later) ? c : undefined;
    }, 20_000);
    expect([...counts.entries()]).toEqual(
      expect.arrayContaining([
        [first[0], 1],
        [first[1], 1],
        [later, 1],
      ]),
    );
    expect(counts.size).toBe(3);
    // The reader moved its cursor to the new UIDVALIDITY (right after the batch was logged).
    await waitFor(async () => {
      const after = await db.db.selectFrom('mailbox_cursors').selectAll().executeTakeFirstOrThrow();
      return after.uid_validity !== before.uid_validity ? true : undefined;
    });
    await again.close();
    await imap.close();
  });
});

describe('one reader per mailbox across processes', () => {
  const nodes: { worker: WorkerProcess; pid: number; port: number }[] = [];
  afterAll(async () => {
    for (const node of nodes) await node.worker.stop().catch(() => undefined);
  });

  it('never has two readers at once, and another process takes over when the reader is killed', async () => {
    const mailbox = mailboxFixture({ imap: { host: dovecot.host, port: dovecot.port }, pollSeconds: 1 });
    const config = emailConfig(mailbox, testConfig({ routeOnIngest: false }));
    await worldOf(config);
    const logDir = mkdtempSync(join(tmpdir(), 'sb-email-nodes-'));
    for (let i = 0; i < 3; i++) {
      const worker = startWorkerProcess(
        new URL('../support/cluster-node.ts', import.meta.url),
        config,
        60_000,
      );
      const start: ClusterNodeStart = {
        config: { email: config.email, routeOnIngest: false },
        emailPoller: { leaseMs: 3000, leaseRetryMs: 200, backoff: { initialMs: 100, maxMs: 1000 } },
        logFile: join(logDir, `node-${i}.log`),
        offerLog: join(logDir, `offers-${i}.log`),
      };
      worker.send(`start ${JSON.stringify(start)}`);
      const { port, pid } = JSON.parse(await worker.expectLine('ready')) as { port: number; pid: number };
      nodes.push({ worker, pid, port });
    }

    // Sample the readers all along: never two at once.
    let maxReaders = 0;
    const readerNames = new Set<string>();
    let isSampling = true;
    const sampling = (async () => {
      while (isSampling) {
        const readers = await readersOf(redis, config.redisPrefix, mailbox.id);
        maxReaders = Math.max(maxReaders, readers.length);
        for (const r of readers) readerNames.add(r);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const ids = Array.from({ length: 40 }, () => uniqueMessageId('cluster'));
    const firstHalf = ids.slice(0, 20);
    await streamMail(mailbox, firstHalf, 20);
    await waitFor(async () => {
      const c = await loggedCounts();
      return firstHalf.every((id) => c.has(id)) ? true : undefined;
    }, 30_000);

    // Kill the reader's process (SIGKILL: no goodbye, its lease and reader entry just lapse).
    const [holder] = await readersOf(redis, config.redisPrefix, mailbox.id);
    expect(holder).toBeDefined();
    const holderPid = Number(holder!.split('/')[1]);
    const victim = nodes.find((n) => n.pid === holderPid);
    expect(victim).toBeDefined();
    process.kill(holderPid, 'SIGKILL');
    nodes.splice(nodes.indexOf(victim!), 1);

    await streamMail(mailbox, ids.slice(20), 20);
    const counts = await waitFor(async () => {
      const c = await loggedCounts();
      return ids.every((id) => c.has(id)) ? c : undefined;
    }, 30_000);
    const newHolder = await waitFor(async () => (await readersOf(redis, config.redisPrefix, mailbox.id))[0]);
    isSampling = false;
    await sampling;

    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect(maxReaders).toBe(1);
    expect(Number(newHolder.split('/')[1])).not.toBe(holderPid);
    expect(nodes.map((n) => n.pid)).toContain(Number(newHolder.split('/')[1]));
  });
});

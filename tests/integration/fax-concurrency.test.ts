import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterNodeStart } from '../support/cluster-node.js';
import { makeFaxPdf, makeFaxTiff } from '../support/fax-fixtures.js';
import {
  hylafaxFields,
  hylafaxMultipart,
  telnyxFaxReceived,
  telnyxKeys,
  telnyxRequest,
} from '../support/fax-signing.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

/*
 * Providers retry, and a balancer spreads the retries over the cluster: the same fax reported many times
 * to two server processes at once must be logged exactly once, its media fetched once, and every copy of
 * bytes that came with a repeat given back (none left behind).
 */

const publicBaseUrl = 'http://localhost:3000';
const telnyx = telnyxKeys();
const faxCount = 5;
const copiesPerNode = 3;

describe('fax reports to several processes at once', () => {
  let ctx: TestContext;
  let media: Server;
  let mediaUrl = '';
  const mediaHits = new Map<string, number>();
  const nodes: { worker: WorkerProcess; url: string }[] = [];
  const rules = writeRulesFolder();
  const workDir = mkdtempSync(join(tmpdir(), 'switchboard-fax-cluster-'));
  let pdf: Buffer;
  let tiff: Buffer;

  beforeAll(async () => {
    [pdf, tiff] = await Promise.all([
      makeFaxPdf(['Cluster test page one', 'Cluster test page two']),
      makeFaxTiff(['HylaFAX cluster page'], { compression: 'g3' }),
    ]);
    media = createServer((request, response) => {
      const path = request.url ?? '/';
      mediaHits.set(path, (mediaHits.get(path) ?? 0) + 1);
      response.writeHead(200, { 'content-type': 'application/pdf' }).end(pdf);
    });
    await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
    mediaUrl = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
    ctx = await createTestContext({ config: { routingRulesDir: rules.dir, publicBaseUrl } });
    const fax = {
      ...ctx.config.fax,
      telnyx: { ...ctx.config.fax.telnyx, publicKey: telnyx.publicKey },
    };
    await Promise.all(
      [0, 1].map(async (index) => {
        const worker = startWorkerProcess(
          new URL('../support/cluster-node.ts', import.meta.url),
          ctx.config,
          60_000,
        );
        const start: ClusterNodeStart = {
          config: { publicBaseUrl, fax },
          logFile: join(workDir, `node-${index}.log`),
          offerLog: join(workDir, `offers-${index}.log`),
        };
        worker.send(`start ${JSON.stringify(start)}`);
        const { port } = JSON.parse(await worker.expectLine('ready')) as { port: number };
        nodes.push({ worker, url: `http://127.0.0.1:${port}` });
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(nodes.map((n) => n.worker.stop()));
    await ctx?.close();
    await new Promise<void>((resolve) => (media ? media.close(() => resolve()) : resolve()));
    rules.remove();
    rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  it('logs each fax once, fetches its media once, and keeps no stray bytes', async () => {
    const posts: Promise<Response>[] = [];
    for (let i = 0; i < faxCount; i++) {
      const faxId = `c1c1c1c1-0000-4000-8000-00000000000${i}`;
      const event = telnyxFaxReceived(
        { fax_id: faxId, from: `+1415555020${i}`, media_url: `${mediaUrl}/${faxId}.pdf` },
        { id: `evt-cluster-${i}` },
      );
      // Each copy signed on its own (a provider's retry carries a new timestamp), the same event id.
      for (const node of nodes)
        for (let copy = 0; copy < copiesPerNode; copy++) {
          const { rawBody, headers } = telnyxRequest(telnyx, event);
          posts.push(
            fetch(`${node.url}/webhooks/fax/telnyx`, {
              method: 'POST',
              body: new Uint8Array(rawBody),
              headers,
            }),
          );
        }
    }
    // HylaFAX's hook retrying an upload it did not see answered, to both processes.
    const upload = hylafaxMultipart({
      token: ctx.config.fax.hylafax.token!,
      fields: hylafaxFields({ commid: '000000900', callid: '4155550299' }),
      file: { content: tiff },
    });
    for (const node of nodes)
      for (let copy = 0; copy < copiesPerNode; copy++)
        posts.push(
          fetch(`${node.url}/webhooks/fax/hylafax`, {
            method: 'POST',
            body: new Uint8Array(upload.body),
            headers: { 'content-type': upload.contentType, authorization: upload.authorization },
          }),
        );
    const answers = await Promise.all(posts);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));

    const db = ctx.services.db;
    const logged = await waitFor(async () => {
      const rows = await db
        .selectFrom('interaction_events')
        .select([sql<string>`payload #>> '{details,fax,faxId}'`.as('faxId'), 'interaction_id'])
        .where('type', '=', 'message.received')
        .where('channel', '=', 'fax')
        .execute();
      return rows.length >= faxCount + 1 ? rows : undefined;
    }, 90_000);
    // Let any job that would log a second copy run before counting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const all = await db
      .selectFrom('interaction_events')
      .select([sql<string>`payload #>> '{details,fax,faxId}'`.as('faxId'), 'interaction_id'])
      .where('type', '=', 'message.received')
      .where('channel', '=', 'fax')
      .execute();
    expect(all).toHaveLength(logged.length);
    const perFax = new Map<string, number>();
    for (const row of all) perFax.set(row.faxId, (perFax.get(row.faxId) ?? 0) + 1);
    expect([...perFax.values()]).toEqual(Array.from({ length: faxCount + 1 }, () => 1));
    expect(new Set(all.map((r) => r.interaction_id)).size).toBe(faxCount + 1);
    // Never a second download of one fax's media.
    expect([...mediaHits.values()]).toEqual(Array.from({ length: faxCount }, () => 1));
    // Every byte kept belongs to a logged attachment: the repeats' uploads were given back.
    const stray = await db
      .selectFrom('attachment_contents as c')
      .leftJoin('attachments as a', 'a.storage_key', 'c.storage_key')
      .select('c.storage_key')
      .where('a.id', 'is', null)
      .execute();
    expect(stray).toEqual([]);
    const reports = await db
      .selectFrom('fax_reports')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirst();
    expect(reports?.n).toBe(faxCount + 1);
  });
});

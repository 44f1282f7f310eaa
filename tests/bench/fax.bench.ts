import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import multipart from '@fastify/multipart';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { processFaxDocument } from '../../channels/fax/document.js';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { makeFaxTiff } from '../support/fax-fixtures.js';
import { hylafaxFields, hylafaxMultipart } from '../support/fax-signing.js';
import {
  benchServices,
  fmt,
  type LoopResult,
  printTable,
  say,
  type SummaryLine,
  timedLoop,
} from './bench-kit.js';

/*
 * npm run bench:fax — what a fax costs, beside a bare baseline measured in the same run:
 *   - the document pipeline per page (TIFF to PDF, previews, OCR) against the same Debian tools run bare, one
 *     after the other, on the same file: the pipeline's own overhead is the ratio;
 *   - the webhook's answer (HylaFAX upload: verify, keep the bytes, take the report, enqueue) against a bare
 *     Fastify route that only buffers the same multipart upload;
 *   - a queue of faxes worked off by one process: when each is logged, and the pages per minute it reads.
 */

const pagesPerFax = 3;
/** Faxes posted to the webhook (each is then converted and read: about 3 s of CPU for three pages). */
const faxCount = Number(process.env.BENCH_FAX_COUNT ?? 30);
const token = 'bench-hylafax-token';

interface FaxBenchResult {
  pipeline: { name: string; msPerPage: number }[];
  ack: LoopResult;
  bareAck: LoopResult;
  toLogged: { faxes: number; p50Ms: number; p99Ms: number; pagesPerMinute: number };
}

// tesseract on one thread, as the pipeline runs it (the other core stays the server's).
const run = (file: string, args: string[], cwd: string) =>
  new Promise<void>((resolve, reject) =>
    execFile(
      file,
      args,
      { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, OMP_THREAD_LIMIT: '1' } },
      (error) => (error ? reject(new Error(`${file}: ${error.message}`)) : resolve()),
    ),
  );

/** The Debian tools alone, as the pipeline runs them, on one TIFF: the bare cost of a fax. */
async function bareTools(tiff: Buffer, isOcr: boolean): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fax-bare-'));
  try {
    await writeFile(join(dir, 'in.tif'), tiff);
    await run('tiff2pdf', ['-o', 'out.pdf', 'in.tif'], dir);
    await run('pdftoppm', ['-png', '-scale-to-x', '816', '-scale-to-y', '-1', 'out.pdf', 'preview'], dir);
    if (!isOcr) return;
    await run('pdftoppm', ['-r', '300', '-gray', 'out.pdf', 'ocr'], dir);
    for (const page of (await readdir(dir)).filter((f) => f.startsWith('ocr')).sort())
      await run('tesseract', [page, 'stdout'], dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The bare tools and the pipeline, alternately, `rounds` times each (interleaved, so that the machine's
 * noise falls on both alike): milliseconds per page of each.
 */
async function interleaved(
  rounds: number,
  bare: () => Promise<unknown>,
  pipeline: () => Promise<unknown>,
): Promise<{ bare: number; pipeline: number }> {
  await bare();
  await pipeline();
  const totals = { bare: 0, pipeline: 0 };
  for (let i = 0; i < rounds; i++) {
    let started = performance.now();
    await bare();
    totals.bare += performance.now() - started;
    started = performance.now();
    await pipeline();
    totals.pipeline += performance.now() - started;
  }
  return { bare: totals.bare / rounds / pagesPerFax, pipeline: totals.pipeline / rounds / pagesPerFax };
}

export async function runFaxBench(seconds: number): Promise<FaxBenchResult> {
  say(`making a ${pagesPerFax}-page G4 fax`);
  const tiff = await makeFaxTiff(
    Array.from({ length: pagesPerFax }, (_, i) => `Benchmark page ${i + 1}: INVOICE ${4400 + i} for clinic`),
    { compression: 'g4', resolution: 'fine' },
  );
  const rounds = Math.max(2, Math.round(seconds / 4));
  say('document pipeline: bare tools, then processFaxDocument (without and with OCR)');
  const plain = await interleaved(
    rounds,
    () => bareTools(tiff, false),
    () => processFaxDocument(tiff, { ocr: false }),
  );
  const read = await interleaved(
    rounds,
    () => bareTools(tiff, true),
    () => processFaxDocument(tiff),
  );
  const pipeline = [
    { name: 'bare tools, no OCR', msPerPage: plain.bare },
    { name: 'pipeline, no OCR', msPerPage: plain.pipeline },
    { name: 'bare tools with OCR', msPerPage: read.bare },
    { name: 'pipeline with OCR', msPerPage: read.pipeline },
  ];

  const services = await benchServices();
  const base = services.config;
  const handle = openDatabase(base.databaseUrl!, base.databaseSchema, { max: 2 });
  await migrateToLatest(handle.db, handle.pool, base.databaseSchema);
  await handle.close();
  // The webhook's answers are timed with no job worker in the process (the documents wait in the queue),
  // so that they are not timed against OCR running on the same two cores; a worker drains them after.
  const config = { ...base, fax: { ...base.fax, hylafax: { token } } };
  const { app, services: core } = await buildApp({ config, isWorker: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/fax/hylafax`;

  const bare = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  await bare.register(multipart, { limits: { fileSize: 64 * 1024 * 1024 } });
  bare.post('/upload', async (request) => {
    for await (const part of request.parts()) if (part.type === 'file') await part.toBuffer();
    return { received: true };
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}/upload`;

  let sent = 0;
  const upload = (commid: string) => {
    const request = hylafaxMultipart({ token, fields: hylafaxFields({ commid }), file: { content: tiff } });
    return {
      body: new Uint8Array(request.body),
      contentType: request.contentType,
      auth: request.authorization,
    };
  };
  // Uploads are made ahead, so both loops time the HTTP exchange only.
  const uploads = Array.from({ length: faxCount }, (_, i) => upload(`bench${String(i).padStart(6, '0')}`));
  const ackSeconds = Math.max(2, seconds / 2);
  say(`webhook answers for ${ackSeconds} s each: bare multipart route, then /webhooks/fax/hylafax`);
  const bareAck = await timedLoop('bare multipart upload', 4, ackSeconds, async (_p, i) => {
    const u = uploads[i % uploads.length]!;
    const response = await fetch(bareUrl, {
      method: 'POST',
      body: u.body,
      headers: { 'content-type': u.contentType },
    });
    if (!response.ok) throw new Error(`bare answered ${response.status}`);
  });
  const ack = await timedLoop(
    'hylafax webhook',
    4,
    ackSeconds,
    async () => {
      const index = sent++;
      const u = uploads[index]!;
      const response = await fetch(url, {
        method: 'POST',
        body: u.body,
        headers: { 'content-type': u.contentType, authorization: u.auth },
      });
      if (!response.ok) throw new Error(`webhook answered ${response.status}`);
    },
    () => sent >= uploads.length,
  );

  say(`${sent} faxes taken; a job worker converts, reads and logs them (OCR is the long part)`);
  const workerStartedAt = performance.now();
  const worker = await buildApp({ config, isWorker: true });
  const loggedAt = new Map<string, number>();
  const started = performance.now();
  while (loggedAt.size < sent) {
    const rows = await core.db
      .selectFrom('faxes')
      .select(['provider_fax_id'])
      .where('logged_rank', '>', 0)
      .execute();
    const now = performance.now();
    for (const row of rows) if (!loggedAt.has(row.provider_fax_id)) loggedAt.set(row.provider_fax_id, now);
    if (performance.now() - started > 20 * 60_000) throw new Error('faxes not logged within 20 minutes');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // From the worker's start: how long a fax waits behind the others, and how fast one process reads.
  const waits = [...loggedAt.values()].map((at) => at - workerStartedAt).sort((a, b) => a - b);
  const span = (Math.max(...loggedAt.values()) - workerStartedAt) / 60_000;
  const messages = await core.db
    .selectFrom('interaction_events')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('channel', '=', 'fax')
    .where('type', '=', 'message.received')
    .executeTakeFirstOrThrow();
  if (messages.n !== sent) throw new Error(`${messages.n} fax messages logged for ${sent} faxes`);

  await bare.close();
  await worker.app.close();
  await app.close();
  await services.stop();
  return {
    pipeline,
    ack,
    bareAck,
    toLogged: {
      faxes: sent,
      p50Ms: waits[Math.floor(waits.length * 0.5)]!,
      p99Ms: waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.99))]!,
      pagesPerMinute: (sent * pagesPerFax) / span,
    },
  };
}

export function faxRows(r: FaxBenchResult): Record<string, string | number>[] {
  const bareOf = (name: string) => r.pipeline.find((p) => p.name === name)!.msPerPage;
  return [
    ...r.pipeline.map((p) => ({
      measure: `${p.name}: ms per page`,
      value: fmt(p.msPerPage, 0),
      'vs bare':
        p.name === 'pipeline, no OCR'
          ? fmt(p.msPerPage / bareOf('bare tools, no OCR'), 2)
          : p.name === 'pipeline with OCR'
            ? fmt(p.msPerPage / bareOf('bare tools with OCR'), 2)
            : '',
    })),
    {
      measure: 'bare multipart upload: p50 / p99 ms',
      value: `${fmt(r.bareAck.p50Ms)} / ${fmt(r.bareAck.p99Ms)}`,
      'vs bare': '',
    },
    {
      measure: 'hylafax webhook answer: p50 / p99 ms',
      value: `${fmt(r.ack.p50Ms)} / ${fmt(r.ack.p99Ms)}`,
      'vs bare': `${fmt(r.ack.p50Ms / r.bareAck.p50Ms, 2)} / ${fmt(r.ack.p99Ms / r.bareAck.p99Ms, 2)}`,
    },
    {
      measure: `${r.toLogged.faxes} queued faxes of ${pagesPerFax} pages, logged after: p50 / p99 s`,
      value: `${fmt(r.toLogged.p50Ms / 1000)} / ${fmt(r.toLogged.p99Ms / 1000)}`,
      'vs bare': '',
    },
    {
      measure: 'pages read per minute (one process)',
      value: fmt(r.toLogged.pagesPerMinute, 0),
      'vs bare': '',
    },
  ];
}

/** The summary's lines (npm run bench): the pipeline against the bare tools, and the webhook's answer. */
export function faxSummary(r: FaxBenchResult): SummaryLine[] {
  const msOf = (name: string) => r.pipeline.find((p) => p.name === name)?.msPerPage ?? NaN;
  return [
    {
      benchmark: 'fax',
      figure: 'document pipeline with OCR, per page',
      value: `${fmt(msOf('pipeline with OCR'), 0)} ms`,
      baseline: `${fmt(msOf('bare tools with OCR'), 0)} ms bare Debian tools`,
      ratio: fmt(msOf('pipeline with OCR') / msOf('bare tools with OCR'), 2),
      target: '',
      verdict: 'information',
    },
    {
      benchmark: 'fax',
      figure: 'HylaFAX webhook answer p99',
      value: `${fmt(r.ack.p99Ms, 1)} ms`,
      baseline: `${fmt(r.bareAck.p99Ms, 1)} ms bare multipart upload`,
      ratio: fmt(r.ack.p99Ms / r.bareAck.p99Ms, 2),
      target: '',
      verdict: r.ack.errors > 0 ? 'ERRORS' : 'information',
    },
  ];
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  runFaxBench(seconds)
    .then((r) => printTable(faxRows(r)))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}

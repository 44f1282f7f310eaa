/*
 * A separate server process for tests/integration/ingest-concurrency.test.ts: it builds the real app on the
 * test's schema and key prefix, then, on command, fires a batch of contacts at ingest all at once.
 *
 * Run: node --import tsx tests/support/ingest-worker.ts
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, DEFAULT_PHONE_REGION (read by loadConfig).
 * Protocol, one command per stdin line and one answer per stdout line:
 *   (start)             -> `ready` once the app is built and its Postgres pool is warm
 *   `load <json>`       -> `loaded`: a JSON array of InboundContact (without occurredAt) is held for the next go
 *   `go <epoch ms>`     -> `result <json>` (a WorkerSummary): at that wall-clock instant, every loaded contact
 *                          is ingested concurrently (Promise.all); given to several workers, the same instant
 *                          makes them fire together even when one reads its stdin a little late
 *   `exit` or stdin EOF -> closes the app and exits 0
 * The app is built once and serves many rounds, because building it costs seconds and a round milliseconds.
 * Anything unexpected goes to stderr with exit code 1.
 */
import { createInterface } from 'node:readline';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import { runWorker, wallClock, writeLine } from './worker-process.js';

export interface WorkerSummary {
  pid: number;
  results: IngestResult[];
  /** Messages of ingests that threw; a correct ingest never throws on a race. */
  errors: string[];
  /** Wall-clock milliseconds (fractional) when the first ingest started and the last one finished. */
  startedAt: number;
  finishedAt: number;
}

const poolWarmth = 20;

async function main(): Promise<void> {
  const { app, services } = await buildApp({ config: loadConfig(process.env), isWorker: false });
  try {
    await app.ready();
    // Open the pool's connections now, so the race is in Postgres and not in connection set-up.
    await Promise.all(Array.from({ length: poolWarmth }, () => services.pool.query('select 1')));
    await writeLine('ready');

    let contacts: InboundContact[] = [];
    for await (const line of createInterface({ input: process.stdin })) {
      const space = line.indexOf(' ');
      const command = space < 0 ? line.trim() : line.slice(0, space);
      if (command === 'exit') break;
      if (command === 'load') {
        contacts = JSON.parse(line.slice(space + 1)) as InboundContact[];
        await writeLine('loaded');
      } else if (command === 'go') {
        const startAt = Number(line.slice(space + 1));
        if (!Number.isFinite(startAt)) throw new Error(`go needs a start time, got '${line}'`);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - wallClock())));
        const errors: string[] = [];
        const startedAt = wallClock();
        const settled = await Promise.all(
          contacts.map((contact) =>
            services.ingest(contact).catch((error: unknown) => {
              errors.push(error instanceof Error ? error.message : String(error));
              return undefined;
            }),
          ),
        );
        const finishedAt = wallClock();
        const summary: WorkerSummary = {
          pid: process.pid,
          results: settled.filter((r): r is IngestResult => r !== undefined),
          errors,
          startedAt,
          finishedAt,
        };
        await writeLine(`result ${JSON.stringify(summary)}`);
      } else {
        throw new Error(`unknown command '${command}'`);
      }
    }
  } finally {
    await app.close();
  }
}

runWorker('ingest-worker', main);

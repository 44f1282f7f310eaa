/*
 * One member of a test cluster for tests/integration/routing-load.test.ts: the whole app as production runs
 * it (HTTP, the /agent socket namespace on the Redis adapter, and the job worker, so that timeout jobs,
 * sweeps and presence checks run in every process), on the test's schema, key prefix and rule folder,
 * listening on a free loopback port. Contacts reach it the way a channel adapter hands them over: ingest()
 * in-process, which routes them right after (config.routeOnIngest).
 *
 * Run: node --import tsx tests/support/cluster-node.ts
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, ROUTING_RULES_DIR (read by loadConfig).
 * Protocol, one command per stdin line and one answer per stdout line:
 *   `start <json ClusterNodeStart>`     -> `ready <json { port, pid }>` once the app listens
 *   `ingest <json InboundContact[]>`    -> `ingested <json IngestReport>`: all of them ingested at once;
 *                                          a contact that failed is listed, never retried here (the sender
 *                                          resends, like a provider retrying a webhook: ingest is idempotent)
 *   `ingest-slowly <ms> <json InboundContact[]>`
 *                                       -> the same, answered `ms` after the ingest committed: a process
 *                                          that dies meanwhile leaves its sender with committed contacts it
 *                                          was never told about (it resends them)
 *   `exit` or stdin EOF                 -> closes the app and exits 0
 * Logs at `warn` and above go to `logFile` (pino JSON lines), never to stdout, which carries the protocol.
 * Every offer this process claims is appended to `offerLog` (one id a line, synchronously, so that a
 * SIGKILL loses none that were written): the test tells the killed process's offers from the others'.
 */
import { appendFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { buildApp, type AppOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { InboundContact } from '../../src/interactions/inbound-contact.js';
import { runWorker, writeLine } from './worker-process.js';

export interface ClusterNodeStart {
  config: Partial<Config>;
  /** Mailbox readers' timings (a short lease, so that a takeover fits in a test). */
  emailPoller?: AppOptions['emailPoller'];
  logFile: string;
  offerLog: string;
}

export interface IngestReport {
  ok: number;
  /** Of these, provider retries of contacts already ingested (by any process). */
  duplicates: number;
  failed: { externalId: string; error: string }[];
}

async function main(): Promise<void> {
  let app: Awaited<ReturnType<typeof buildApp>>['app'] | undefined;
  let services: Awaited<ReturnType<typeof buildApp>>['services'] | undefined;
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      const space = line.indexOf(' ');
      const command = space < 0 ? line.trim() : line.slice(0, space);
      const argument = space < 0 ? '' : line.slice(space + 1);
      if (command === 'exit') break;
      if (command === 'start') {
        const start = JSON.parse(argument) as ClusterNodeStart;
        ({ app, services } = await buildApp({
          config: { ...loadConfig(process.env), ...start.config },
          logger: { level: 'warn', file: start.logFile },
          isWorker: true,
          ...(start.emailPoller && { emailPoller: start.emailPoller }),
        }));
        services.events.subscribe('offer.created', ({ offerId }) =>
          appendFileSync(start.offerLog, `${offerId}\n`),
        );
        await app.listen({ host: '127.0.0.1', port: 0 });
        const { port } = app.server.address() as AddressInfo;
        await writeLine(`ready ${JSON.stringify({ port, pid: process.pid })}`);
      } else if (command === 'ingest' || command === 'ingest-slowly') {
        if (!services) throw new Error('ingest before start');
        const ingest = services.ingest;
        let json = argument;
        let replyAfterMs = 0;
        if (command === 'ingest-slowly') {
          const space = argument.indexOf(' ');
          replyAfterMs = Number(argument.slice(0, space));
          json = argument.slice(space + 1);
        }
        const contacts = JSON.parse(json) as InboundContact[];
        const results = await Promise.allSettled(contacts.map((contact) => ingest(contact)));
        const report: IngestReport = { ok: 0, duplicates: 0, failed: [] };
        results.forEach((result, i) => {
          if (result.status === 'fulfilled') {
            report.ok += 1;
            if (result.value.isDuplicate) report.duplicates += 1;
          } else {
            const error = result.reason instanceof Error ? result.reason.message : String(result.reason);
            report.failed.push({ externalId: contacts[i]!.externalId, error });
          }
        });
        if (replyAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, replyAfterMs));
        await writeLine(`ingested ${JSON.stringify(report)}`);
      } else {
        throw new Error(`unknown command '${command}'`);
      }
    }
  } finally {
    await app?.close();
  }
}

runWorker('cluster-node', main);

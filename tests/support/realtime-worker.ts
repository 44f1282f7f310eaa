/*
 * A separate server process for tests/integration/realtime-agent.test.ts: the real app on the test's schema
 * and key prefix, listening on a free loopback port, so that agent sockets can live in another process than
 * the test's own app (and die with it when the test kills it).
 *
 * Run: node --import tsx tests/support/realtime-worker.ts
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, ROUTING_RULES_DIR (read by loadConfig).
 * Protocol, one command per stdin line and one answer per stdout line:
 *   `start <json Partial<Config>>` -> `ready <json { port, pid }>` once the app listens (no job worker: the
 *                                     test's app runs the jobs, so killing this process loses none)
 *   `exit` or stdin EOF            -> closes the app and exits 0
 */
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { runWorker, writeLine } from './worker-process.js';

async function main(): Promise<void> {
  let close: (() => Promise<unknown>) | undefined;
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      const space = line.indexOf(' ');
      const command = space < 0 ? line.trim() : line.slice(0, space);
      if (command === 'exit') break;
      if (command !== 'start') throw new Error(`unknown command '${command}'`);
      const overrides = JSON.parse(line.slice(space + 1)) as Partial<Config>;
      const { app } = await buildApp({
        config: { ...loadConfig(process.env), ...overrides },
        isWorker: false,
      });
      close = () => app.close();
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      await writeLine(`ready ${JSON.stringify({ port, pid: process.pid })}`);
    }
  } finally {
    await close?.();
  }
}

runWorker('realtime-worker', main);

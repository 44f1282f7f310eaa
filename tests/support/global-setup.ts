import type { TestProject } from 'vitest/node';
import { startLocalServices, type LocalServices } from '../../src/runtime/local-services.js';

/*
 * Starts Postgres and Redis once for the whole run (unless DATABASE_URL and REDIS_URL are set) and hands
 * their URLs to the test files; stops them when the run ends. Test files isolate themselves by schema and
 * Redis key prefix (tests/support/test-context.ts).
 */
declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

/*
 * Every project that lists this file (integration, e2e) runs it; one Postgres and Redis serve them all,
 * started by the first and stopped when the last one tears down (same process: shared on globalThis).
 */
interface SharedServices {
  started: Promise<LocalServices>;
  users: number;
}
const registry = globalThis as { switchboardTestServices?: SharedServices };

export default async function setup(project: TestProject) {
  const { DATABASE_URL, REDIS_URL } = process.env;
  if (DATABASE_URL && REDIS_URL) {
    project.provide('databaseUrl', DATABASE_URL);
    project.provide('redisUrl', REDIS_URL);
    return;
  }
  const dataDir = `.data/test-${process.pid}`;
  const shared = (registry.switchboardTestServices ??= {
    started: startLocalServices({
      dataDir,
      isEphemeral: true,
      log: (line) => process.stdout.write(`[test services] ${line}\n`),
    }),
    users: 0,
  });
  shared.users += 1;
  const services = await shared.started;
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    registry.switchboardTestServices = undefined;
    await services.stop();
    const { rmSync } = await import('node:fs');
    rmSync(dataDir, { recursive: true, force: true });
  };
}

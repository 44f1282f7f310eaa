import type { TestProject } from 'vitest/node';
import { startLocalServices } from '../../src/runtime/local-services.js';

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

export default async function setup(project: TestProject) {
  const { DATABASE_URL, REDIS_URL } = process.env;
  if (DATABASE_URL && REDIS_URL) {
    project.provide('databaseUrl', DATABASE_URL);
    project.provide('redisUrl', REDIS_URL);
    return;
  }
  const services = await startLocalServices({
    dataDir: `.data/test-${process.pid}`,
    isEphemeral: true,
    log: (line) => process.stdout.write(`[test services] ${line}\n`),
  });
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  return async () => {
    await services.stop();
    const { rmSync } = await import('node:fs');
    rmSync(`.data/test-${process.pid}`, { recursive: true, force: true });
  };
}

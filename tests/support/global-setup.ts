import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startLocalServices } from '../../src/runtime/local-services.js';
import { startDovecot } from './dovecot.js';

/*
 * Starts Postgres and Redis (unless DATABASE_URL and REDIS_URL are set) and Dovecot (unless IMAP_HOST and
 * IMAP_PORT are set) once for the whole run, hands their addresses to the test files, and stops them when
 * the run ends. Test files isolate themselves by schema and Redis key prefix (tests/support/test-context.ts)
 * and by IMAP user name (any user logs in with `dovecotPassword`, tests/support/dovecot.ts).
 */
declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    imapHost: string;
    imapPort: number;
  }
}

interface TestServices {
  databaseUrl: string;
  redisUrl: string;
  imapHost: string;
  imapPort: number;
  stop(): Promise<void>;
}

/*
 * Every project that lists this file (integration, e2e) runs it; one set of servers serves them all,
 * started by the first and stopped when the last one tears down (same process: shared on globalThis).
 */
interface SharedServices {
  started: Promise<TestServices>;
  users: number;
}
const registry = globalThis as { switchboardTestServices?: SharedServices };

async function startTestServices(): Promise<TestServices> {
  const { DATABASE_URL, REDIS_URL, IMAP_HOST, IMAP_PORT } = process.env;
  const dataDir = `.data/test-${process.pid}`;
  const log = (line: string) => process.stdout.write(`[test services] ${line}\n`);
  // First: an ephemeral start wipes dataDir, where Dovecot keeps its data too.
  const local =
    DATABASE_URL && REDIS_URL ? undefined : await startLocalServices({ dataDir, isEphemeral: true, log });
  const dovecot =
    IMAP_HOST && IMAP_PORT
      ? undefined
      : await startDovecot({ dataDir: `${dataDir}/dovecot`, log }).catch(async (error: unknown) => {
          await local?.stop();
          throw error;
        });
  return {
    databaseUrl: local?.databaseUrl ?? DATABASE_URL!,
    redisUrl: local?.redisUrl ?? REDIS_URL!,
    imapHost: dovecot?.host ?? IMAP_HOST!,
    imapPort: dovecot?.port ?? Number(IMAP_PORT),
    async stop() {
      await Promise.all([local?.stop(), dovecot?.stop()]);
      if (local || dovecot) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject) {
  const shared = (registry.switchboardTestServices ??= { started: startTestServices(), users: 0 });
  shared.users += 1;
  const services = await shared.started;
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('imapHost', services.imapHost);
  project.provide('imapPort', services.imapPort);
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    registry.switchboardTestServices = undefined;
    await services.stop();
  };
}

import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startDovecot } from '../support/dovecot.js';
import { startFaultServices, type FaultServiceSpec } from '../support/fault-services.js';

/*
 * The fault suite's own Postgres, Redis and Dovecot, never the ones the other projects share: its tests
 * stop and restart them. They are handed to the test files as the integration project's are (databaseUrl,
 * redisUrl, imapHost, imapPort: tests/support/test-context.ts works unchanged), plus `faultServices`, the
 * ports and folders through which a test file stops and starts Postgres and Redis
 * (tests/support/fault-services.ts). Test files run one at a time (vitest.config.ts), so a restart
 * disturbs only the file that asked for it.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    faultServices: FaultServiceSpec;
  }
}

export default async function setup(project: TestProject) {
  const dataDir = `.data/faults-${process.pid}`;
  const log = (line: string) => process.stdout.write(`[fault services] ${line}\n`);
  const services = await startFaultServices(dataDir, log);
  const dovecot = await startDovecot({ dataDir: `${dataDir}-dovecot`, log }).catch(async (error: unknown) => {
    await services.stop();
    throw error;
  });
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('imapHost', dovecot.host);
  project.provide('imapPort', dovecot.port);
  project.provide('faultServices', services.spec);
  return async () => {
    await dovecot.stop();
    await services.stop();
    rmSync(`${dataDir}-dovecot`, { recursive: true, force: true });
  };
}

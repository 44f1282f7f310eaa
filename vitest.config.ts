import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/*
 * The fault suite (tests/faults/) kills server processes and restarts its own Postgres, Redis and Dovecot, so
 * it does not run beside the other projects: `npm test` runs it as a second vitest run once they have passed.
 * It is in the project list only when asked for, by `--project faults` on the command line (`npm test`'s
 * second run, `npm run test:faults`) or VITEST_FAULTS=1.
 */
const isFaultRunRequested =
  process.env.VITEST_FAULTS === '1' ||
  process.argv.some(
    (arg, i) => arg === '--project=faults' || (arg === '--project' && process.argv[i + 1] === 'faults'),
  );

const faults: TestProjectInlineConfiguration = {
  test: {
    name: 'faults',
    include: ['tests/faults/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['tests/faults/faults-setup.ts'],
    // One file at a time: each restarts services the next one uses.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 300_000,
    hookTimeout: 180_000,
  },
};

// Three speeds: unit tests (pure logic, no services), integration tests (real Postgres and Redis, started
// once per run by tests/support/global-setup.ts; every test file gets its own schema and key prefix), and
// end-to-end tests of the console in Debian's Chromium (tests/support/browser.ts).
export default defineConfig({
  test: {
    reporters: ['default', './tests/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          // The same Postgres and Redis as integration (shared), and the console built once.
          globalSetup: ['tests/support/global-setup.ts', 'tests/e2e/build-console.setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      ...(isFaultRunRequested ? [faults] : []),
    ],
  },
});

import { defineConfig } from 'vitest/config';

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
    ],
  },
});

#!/usr/bin/env node
import closeWithGrace from 'close-with-grace';
import pg from 'pg';
import { Redis } from 'ioredis';
import pino from 'pino';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { demoAgents, demoPassword, seedDemo } from './demo/demo-seed.js';
import { runExportArrivals } from './routing/simulate/export-arrivals.command.js';
import { ExportEventsError, runExportEvents } from './reports/export-events.command.js';
import { runSimulate } from './routing/simulate/simulate.command.js';
import { runSimulateCall } from '../channels/phone/simulator/cli.js';
import { LocalServiceError, startLocalServices, type LocalServices } from './runtime/local-services.js';

/*
 * The command line: `start` (migrate, seed demo data on an empty database, serve), `migrate`, `seed`,
 * `simulate` (replay an arrivals file against a rule folder; no database), `simulate-call` (play Twilio for
 * one call against a running server) and `export-arrivals` (write that file from the log). With no
 * DATABASE_URL / REDIS_URL, a local Postgres and Redis are started under .data/dev and stopped on exit.
 */

const say = (line: string) => process.stdout.write(`switchboard: ${line}\n`);

class UnreachableError extends Error {}

async function withServices(
  config: Config,
  log: (line: string) => void = say,
): Promise<{ config: Config; local?: LocalServices }> {
  if (config.databaseUrl && config.redisUrl) return { config };
  if (config.databaseUrl || config.redisUrl) {
    throw new ConfigError(
      'Set both DATABASE_URL and REDIS_URL, or neither (then local servers are started for you).',
    );
  }
  log('no DATABASE_URL / REDIS_URL: starting local Postgres and Redis');
  const local = await startLocalServices({ dataDir: `${config.dataDir}/dev`, isEphemeral: false, log });
  return { config: { ...config, databaseUrl: local.databaseUrl, redisUrl: local.redisUrl }, local };
}

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

async function checkReachable(config: Config): Promise<void> {
  const client = new pg.Client({ connectionString: config.databaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new UnreachableError(
      `Cannot reach Postgres at ${redact(config.databaseUrl!)}: ${(error as Error).message}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(config.redisUrl!, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new UnreachableError(
      `Cannot reach Redis at ${redact(config.redisUrl!)}: ${(error as Error).message}`,
    );
  } finally {
    redis.disconnect();
  }
}

async function migrate(config: Config): Promise<void> {
  const database = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
  try {
    const { applied } = await migrateToLatest(database.db, database.pool, config.databaseSchema);
    say(applied.length ? `applied migrations: ${applied.join(', ')}` : 'schema up to date');
  } finally {
    await database.close();
  }
}

async function start(
  config: Config,
  local: LocalServices | undefined,
  options: { isSeedOnly: boolean },
): Promise<void> {
  await checkReachable(config);
  await migrate(config);
  const logger = {
    level: config.logLevel,
    ...(process.stdout.isTTY && { transport: { target: 'pino-pretty' } }),
  };
  const { app, services } = await buildApp({ config, logger: options.isSeedOnly ? false : logger });
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    await app.close();
    await local?.stop();
  });

  const isEmpty = (await services.repositories.agents.count()) === 0;
  if (isEmpty) {
    say('empty database: seeding demo data');
    await seedDemo(services, (line) => say(`seed: ${line}`));
  } else if (options.isSeedOnly) {
    say('the database already has agents: demo data not seeded');
  }
  if (options.isSeedOnly) {
    await app.close();
    await local?.stop();
    return;
  }

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(
        `Port ${config.port} on ${config.host} is in use: stop what holds it, or set PORT.`,
      );
    }
    throw error;
  }
  say(`ready at ${config.publicBaseUrl}  (API docs: ${config.publicBaseUrl}/docs)`);
  if (await services.repositories.agents.findCredentials(demoAgents[0]!.email)) {
    say(`demo logins (password "${demoPassword}"):`);
    for (const a of demoAgents) say(`  ${a.role.padEnd(10)} ${a.email}`);
  }
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'start';
  const base = loadConfig();
  const commands = [
    'start',
    'migrate',
    'seed',
    'simulate',
    'simulate-call',
    'export-arrivals',
    'export-events',
  ];
  if (!commands.includes(command)) {
    throw new ConfigError(`unknown command '${command}' (${commands.join(', ')})`);
  }
  const io = { stdout: process.stdout, stderr: process.stderr };
  if (command === 'simulate') {
    process.exitCode = await runSimulate(process.argv.slice(3), io, {
      defaultRulesDir: base.routingRulesDir,
    });
    return;
  }
  if (command === 'simulate-call') {
    // Plays Twilio for one call against a running server (channels/phone/simulator/).
    process.exitCode = await runSimulateCall(process.argv.slice(3), (line) =>
      process.stdout.write(`${line}\n`),
    );
    return;
  }
  if (command === 'export-events' || command === 'export-arrivals') {
    // stdout may carry the file: service messages go to stderr. The database (local services started when
    // none is configured) is connected only once the arguments are known to be good.
    const run = command === 'export-events' ? runExportEvents : runExportArrivals;
    const note = (line: string) => process.stderr.write(`switchboard: ${line}\n`);
    let local: LocalServices | undefined;
    try {
      process.exitCode = await run(process.argv.slice(3), io, async () => {
        const services = await withServices(base, note);
        local = services.local;
        await checkReachable(services.config);
        return services.config;
      });
    } finally {
      await local?.stop();
    }
    return;
  }
  const { config, local } = await withServices(base);
  try {
    if (command === 'migrate') {
      await checkReachable(config);
      await migrate(config);
      await local?.stop();
    } else {
      await start(config, local, { isSeedOnly: command === 'seed' });
    }
  } catch (error) {
    await local?.stop();
    throw error;
  }
}

main().catch((error: unknown) => {
  if (
    error instanceof ConfigError ||
    error instanceof ExportEventsError ||
    error instanceof LocalServiceError ||
    error instanceof UnreachableError
  ) {
    process.stderr.write(`switchboard: ${error.message}\n`);
  } else {
    pino().error({ err: error }, 'switchboard failed to start');
  }
  process.exit(1);
});

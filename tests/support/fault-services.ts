/*
 * Private Postgres and Redis for the fault suite (tests/faults/), which stops and starts them under a
 * running cluster. Unlike src/runtime/local-services.ts, both run as daemons (pg_ctl, redis-server
 * --daemonize) on fixed ports and data folders, so that any process of the run (the global setup that
 * starts them, or a test file's fork that restarts them) controls them through the same `FaultServiceSpec`.
 * Redis keeps an append-only file, as `npm start` configures it: a restart keeps the jobs and timers.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/runtime/local-services.js';

export interface FaultServiceSpec {
  pgBin: string;
  pgData: string;
  pgPort: number;
  redisDir: string;
  redisPort: number;
}

const isRoot = process.getuid?.() === 0;

/** Runs a command (as the postgres user when we are root: Postgres refuses root); throws on failure. */
function run(cmd: string, args: string[], what: string, asPostgres = false): void {
  const [c, a] = asPostgres && isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const result = spawnSync(c, a, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0)
    throw new Error(`${what} failed: ${(result.stderr || result.stdout || '').trim()}`);
}

function findPostgresBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('Postgres is not installed (apt-get install postgresql)');
  return join(base, newest, 'bin');
}

export function isPortOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => res(false));
  });
}

async function until(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startPostgres(spec: FaultServiceSpec): Promise<void> {
  const options = [
    `-p ${spec.pgPort}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c max_connections=200',
    '-c fsync=off',
  ].join(' ');
  run(
    join(spec.pgBin, 'pg_ctl'),
    ['-D', spec.pgData, '-l', join(spec.pgData, 'server.log'), '-o', options, '-w', '-t', '120', 'start'],
    'pg_ctl start',
    true,
  );
  await until(async () => {
    const result = spawnSync(join(spec.pgBin, 'pg_isready'), ['-h', '127.0.0.1', '-p', `${spec.pgPort}`]);
    return result.status === 0;
  }, 'Postgres accepting connections');
}

/**
 * Stops Postgres. `immediate` is a crash as far as the data goes (no checkpoint, every backend killed at
 * once; the next start recovers from the WAL); `fast` rolls back open transactions and checkpoints.
 */
export function stopPostgres(spec: FaultServiceSpec, mode: 'immediate' | 'fast' = 'immediate'): void {
  if (!existsSync(join(spec.pgData, 'postmaster.pid'))) return;
  run(join(spec.pgBin, 'pg_ctl'), ['-D', spec.pgData, '-m', mode, '-w', 'stop'], 'pg_ctl stop', true);
}

export async function startRedis(spec: FaultServiceSpec): Promise<void> {
  const redisServer = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
  if (!redisServer) throw new Error('redis-server is not installed (apt-get install redis-server)');
  run(
    redisServer,
    [
      '--port',
      `${spec.redisPort}`,
      '--bind',
      '127.0.0.1',
      '--dir',
      spec.redisDir,
      '--daemonize',
      'yes',
      '--pidfile',
      join(spec.redisDir, 'redis.pid'),
      '--logfile',
      join(spec.redisDir, 'redis.log'),
      '--loglevel',
      'warning',
      '--appendonly',
      'yes',
      '--save',
      '',
    ],
    'redis-server',
  );
  await until(() => isPortOpen(spec.redisPort), 'Redis listening');
}

function redisPid(spec: FaultServiceSpec): number | undefined {
  const file = join(spec.redisDir, 'redis.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Stops Redis: SIGTERM (it writes out the append-only file and exits) or SIGKILL (a crash: what it had
 * written to the file before replying survives, as after a process crash in production). Resolves once the
 * port is closed.
 */
export async function stopRedis(spec: FaultServiceSpec, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
  const pid = redisPid(spec);
  if (pid) process.kill(pid, signal);
  await until(async () => !(await isPortOpen(spec.redisPort)), 'Redis stopped');
  if (signal === 'SIGKILL') rmSync(join(spec.redisDir, 'redis.pid'), { force: true });
}

/** Initialises (wiping `dataDir`) and starts both; stop() stops both and removes the folder. */
export async function startFaultServices(dataDir: string, log: (line: string) => void) {
  const root = resolve(dataDir);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  if (isRoot) spawnSync('chmod', ['o+x', root, resolve(root, '..')]);
  const spec: FaultServiceSpec = {
    pgBin: findPostgresBin(),
    pgData: join(root, 'postgres'),
    pgPort: await freePort(),
    redisDir: join(root, 'redis'),
    redisPort: await freePort(),
  };
  mkdirSync(spec.pgData, { recursive: true });
  mkdirSync(spec.redisDir, { recursive: true });
  if (isRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(spec.pgData, uid, gid);
  }
  log(`initialising Postgres in ${spec.pgData}`);
  run(
    join(spec.pgBin, 'initdb'),
    ['-D', spec.pgData, '-U', 'switchboard', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8'],
    'initdb',
    true,
  );
  await startPostgres(spec);
  await startRedis(spec);
  const client = new pg.Client({
    host: '127.0.0.1',
    port: spec.pgPort,
    user: 'switchboard',
    database: 'postgres',
  });
  await client.connect();
  await client.query('create database switchboard');
  await client.end();
  log(`Postgres on 127.0.0.1:${spec.pgPort}, Redis on 127.0.0.1:${spec.redisPort} (data in ${root})`);
  return {
    spec,
    databaseUrl: `postgres://switchboard@127.0.0.1:${spec.pgPort}/switchboard`,
    redisUrl: `redis://127.0.0.1:${spec.redisPort}`,
    async stop() {
      try {
        stopPostgres(spec, 'fast');
      } finally {
        await stopRedis(spec);
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

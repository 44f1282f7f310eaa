import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, chownSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';

/*
 * Local Postgres and Redis from Debian's packages, for `npm start` and `npm test` when no DATABASE_URL /
 * REDIS_URL is configured. Servers listen on free loopback ports, keep their data under `.data/`, and are
 * stopped by stop() (callers wire it to process exit). Postgres refuses to run as root, so as root initdb
 * and the server run as the `postgres` system user that the Debian package creates.
 */

export interface LocalServicesOptions {
  /** Folder for the servers' data, e.g. `.data/dev` or `.data/test`. */
  dataDir: string;
  /** Throw-away data (tests, benchmarks): no Redis persistence, and the folder wiped first. */
  isEphemeral: boolean;
  /**
   * Postgres flushes every commit to disk (fsync, synchronous_commit), as a system of record must. Defaults
   * to !isEphemeral; benchmarks keep it on so that they measure what production runs.
   */
  isDurable?: boolean;
  log: (line: string) => void;
}

export interface LocalServices {
  databaseUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

export class LocalServiceError extends Error {
  override name = 'LocalServiceError';
}

const isRoot = process.getuid?.() === 0;

function findPostgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

function findRedisServer(): string | undefined {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(p)) return p;
  return undefined;
}

function ensurePackages(log: (line: string) => void): { pgBin: string; redisServer: string } {
  let pgBin = findPostgresBin();
  let redisServer = findRedisServer();
  const missing = [!pgBin && 'postgresql', !redisServer && 'redis-server'].filter(Boolean) as string[];
  if (missing.length > 0) {
    const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
    if (!isRoot) {
      throw new LocalServiceError(
        `Local ${missing.join(' and ')} not installed. Install with:\n  sudo ${command}\n` +
          'or set DATABASE_URL and REDIS_URL to servers you already run.',
      );
    }
    log(`installing ${missing.join(', ')} from Debian's packages (${command})`);
    const result = spawnSync('sh', ['-c', command], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0) throw new LocalServiceError(`'${command}' failed (exit ${result.status})`);
    pgBin = findPostgresBin();
    redisServer = findRedisServer();
  }
  if (!pgBin || !redisServer)
    throw new LocalServiceError('postgresql or redis-server still missing after install');
  return { pgBin, redisServer };
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Runs a command as the postgres user when we are root (Postgres refuses root). */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function run(cmd: string, args: string[], what: string): void {
  const [c, a] = asPostgres(cmd, args);
  const result = spawnSync(c, a, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new LocalServiceError(`${what} failed: ${(result.stderr || result.stdout || '').trim()}`);
  }
}

function chownTree(path: string): void {
  if (!isRoot) return;
  const postgres = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (postgres.status !== 0)
    throw new LocalServiceError('the postgres system user is missing (reinstall postgresql)');
  chownSync(path, Number(postgres.stdout.trim()), Number(group.stdout.trim()));
}

async function waitFor(check: () => Promise<boolean>, what: string, child: ChildProcess, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new LocalServiceError(`${what} exited with code ${child.exitCode}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LocalServiceError(`${what} did not start within ${ms / 1000}s`);
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((res) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => res(false));
  });
}

function readPostmasterPid(pgData: string): number | undefined {
  const pidFile = join(pgData, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A Redis left running by a process that was killed -9: stopped through its pid file. */
function stopStaleRedis(redisDir: string, log: (line: string) => void): void {
  const pidFile = join(redisDir, 'redis.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    log(`stopping a Redis left running from an earlier run (pid ${pid})`);
    process.kill(pid, 'SIGTERM');
  }
}

function stopStalePostgres(pgBin: string, pgData: string, log: (line: string) => void): void {
  const pid = readPostmasterPid(pgData);
  if (pid && isAlive(pid)) {
    log(`stopping a Postgres left running from an earlier run (pid ${pid})`);
    const [c, a] = asPostgres(join(pgBin, 'pg_ctl'), ['-D', pgData, 'stop', '-m', 'fast', '-w']);
    spawnSync(c, a);
  }
}

function logChildOutput(child: ChildProcess, name: string, log: (line: string) => void, sink: string[]) {
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      sink.push(line);
      if (sink.length > 50) sink.shift();
      if (/FATAL|PANIC/.test(line) && !/administrator command/.test(line)) log(`${name}: ${line}`);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
}

export async function startLocalServices(options: LocalServicesOptions): Promise<LocalServices> {
  const { log } = options;
  const dataDir = resolve(options.dataDir);
  const { pgBin, redisServer } = ensurePackages(log);

  if (options.isEphemeral && existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  if (isRoot) {
    // The postgres user must be able to reach the data folder through every parent.
    spawnSync('chmod', ['o+x', dataDir, resolve(dataDir, '..')]);
  }

  const pgData = join(dataDir, 'postgres');
  const pgLog: string[] = [];
  const redisLog: string[] = [];
  if (!existsSync(join(pgData, 'PG_VERSION'))) {
    log(`initialising Postgres in ${pgData}`);
    mkdirSync(pgData, { recursive: true });
    chownTree(pgData);
    run(
      join(pgBin, 'initdb'),
      [
        '-D',
        pgData,
        '-U',
        'switchboard',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C.UTF-8',
        '--no-instructions',
      ],
      'initdb',
    );
  } else {
    stopStalePostgres(pgBin, pgData, log);
  }

  const [pgPort, redisPort] = [await freePort(), await freePort()];
  const pgArgs = [
    '-D',
    pgData,
    '-p',
    String(pgPort),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=300',
    '-c',
    'shared_buffers=256MB',
    // For profiling (benchmarks): per-statement timings in pg_stat_statements.
    ...(process.env.SWITCHBOARD_PG_STATS === '1'
      ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all']
      : []),
    ...(!(options.isDurable ?? !options.isEphemeral)
      ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
      : []),
  ];
  const [pgCmd, pgCmdArgs] = asPostgres(join(pgBin, 'postgres'), pgArgs);
  const postgres = spawn(pgCmd, pgCmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  logChildOutput(postgres, 'postgres', log, pgLog);

  const redisDir = join(dataDir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  stopStaleRedis(redisDir, log);
  const redisArgs = [
    '--port',
    String(redisPort),
    '--bind',
    '127.0.0.1',
    '--dir',
    redisDir,
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    '--pidfile',
    join(redisDir, 'redis.pid'),
    ...(options.isEphemeral ? ['--save', '', '--appendonly', 'no'] : ['--appendonly', 'yes']),
  ];
  const redis = spawn(redisServer, redisArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  logChildOutput(redis, 'redis', log, redisLog);

  const stopChild = (child: ChildProcess, signal: NodeJS.Signals) =>
    new Promise<void>((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res();
      child.once('exit', () => res());
      child.kill(signal);
      setTimeout(() => {
        child.kill('SIGKILL');
        res();
      }, 10_000).unref();
    });
  const stop = async () => {
    // SIGINT is Postgres's "fast" shutdown: roll back open transactions, checkpoint, exit. It goes to the
    // postmaster itself (from its pid file): runuser, our direct child as root, does not pass SIGINT on.
    const postmasterPid = readPostmasterPid(pgData);
    if (postmasterPid) {
      try {
        process.kill(postmasterPid, 'SIGINT');
      } catch {
        // already gone
      }
    }
    await Promise.all([stopChild(postgres, 'SIGINT'), stopChild(redis, 'SIGTERM')]);
  };

  try {
    await waitFor(() => canConnect(pgPort), `Postgres (${pgLog.slice(-3).join(' | ')})`, postgres);
    await waitFor(() => canConnect(redisPort), 'Redis', redis);
    // The port answers a little before Postgres accepts logins; createdb retries until it does.
    await waitFor(async () => pgReady(pgBin, pgPort), 'Postgres accepting connections', postgres);
  } catch (error) {
    await stop();
    const detail = [...pgLog.slice(-5), ...redisLog.slice(-5)].join('\n  ');
    throw new LocalServiceError(`${(error as Error).message}\n  ${detail}`);
  }
  await ensureDatabase(pgPort, 'switchboard');
  log(`Postgres on 127.0.0.1:${pgPort}, Redis on 127.0.0.1:${redisPort} (data in ${dataDir})`);
  return {
    databaseUrl: `postgres://switchboard@127.0.0.1:${pgPort}/switchboard`,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    stop,
  };
}

async function pgReady(pgBin: string, port: number): Promise<boolean> {
  const result = spawnSync(join(pgBin, 'pg_isready'), [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    'switchboard',
    '-d',
    'postgres',
  ]);
  return result.status === 0;
}

async function ensureDatabase(port: number, name: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'switchboard', database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}

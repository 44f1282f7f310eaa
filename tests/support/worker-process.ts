import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config.js';

/*
 * Real server processes for concurrency tests. The parent starts a worker script (tests/support/*-worker.ts)
 * on the test file's schema and key prefix and talks to it in lines: it sends commands on stdin, and reads
 * one reply line per command, which starts with an agreed word ("ready", "result {...}"). Workers build the
 * app once and serve several rounds, since building it takes seconds and a round takes milliseconds.
 */

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  /** The next line the worker prints, which must start with `word`; returns the rest of the line. */
  expectLine(word: string, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  stop(): Promise<void>;
}

/** The environment that points a worker's loadConfig() at this test file's world. */
export function workerEnv(config: Config): Record<string, string> {
  return {
    DATABASE_URL: config.databaseUrl!,
    REDIS_URL: config.redisUrl!,
    DATABASE_SCHEMA: config.databaseSchema,
    REDIS_PREFIX: config.redisPrefix,
    DEFAULT_PHONE_REGION: config.defaultPhoneRegion,
    ROUTING_RULES_DIR: config.routingRulesDir,
    ROUTE_ON_INGEST: config.routeOnIngest ? '1' : '0',
    WATCH_ROUTING_RULES: config.watchRoutingRules ? '1' : '0',
  };
}

export function startWorkerProcess(
  scriptUrl: URL,
  config: Config,
  defaultTimeoutMs: number,
  /** More for the worker: node flags (`--expose-gc`), and environment beyond what workerEnv sets. */
  options: { nodeArgs?: string[]; env?: Record<string, string> } = {},
): WorkerProcess {
  const script = fileURLToPath(scriptUrl);
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', script], {
    cwd: projectRoot,
    env: { ...process.env, ...workerEnv(config), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const name = script.split('/').at(-1);
  const failure = (what: string) => new Error(`${name} ${child.pid}: ${what}\n${stderr}`);

  return {
    async expectLine(word, timeoutMs = defaultTimeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(failure(`no '${word}' within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const next = await Promise.race([lines.next(), timeout]);
        if (next.done) throw failure(`exited with ${await exited} before '${word}'`);
        if (!next.value.startsWith(word)) throw failure(`said '${next.value.slice(0, 300)}', not '${word}'`);
        return next.value.slice(word.length).trim();
      } finally {
        clearTimeout(timer);
      }
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    async stop() {
      if (child.exitCode === null) child.stdin.end('exit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), defaultTimeoutMs);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0) throw failure(`exited with ${code}`);
    },
  };
}

/** Worker side: one reply line, flushed before the next command is read. */
export function writeLine(line: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(`${line}\n`, (err) => (err ? reject(err) : resolve())),
  );
}

/** Milliseconds since the epoch, fractional: both processes compare against one start instant. */
export const wallClock = () => performance.timeOrigin + performance.now();

/** Worker side: runs `main` and exits 0, or prints the error and exits 1. */
export function runWorker(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${name} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}

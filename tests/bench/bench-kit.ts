import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadConfig, type Config } from '../../src/config.js';
import { startLocalServices, type LocalServices } from '../../src/runtime/local-services.js';

/*
 * Shared by the benchmarks: services (local unless DATABASE_URL / REDIS_URL are set), a timed loop of
 * concurrent producers with latency percentiles, and a table printer. Benchmarks always print a bare
 * baseline measured in the same run and the ratio: these machines are noisy, a lone figure means little.
 */

export const say = (line: string) => process.stdout.write(`bench: ${line}\n`);

export async function benchServices(): Promise<{ config: Config; stop: () => Promise<void> }> {
  const base = loadConfig();
  const id = randomBytes(4).toString('hex');
  let local: LocalServices | undefined;
  if (!base.databaseUrl || !base.redisUrl) {
    // Durable, as production runs: every commit flushed to disk.
    local = await startLocalServices({
      dataDir: `.data/bench-${process.pid}`,
      isEphemeral: true,
      isDurable: process.env.BENCH_DURABLE !== '0',
      log: say,
    });
  }
  const config: Config = {
    ...base,
    databaseUrl: base.databaseUrl ?? local!.databaseUrl,
    redisUrl: base.redisUrl ?? local!.redisUrl,
    databaseSchema: `bench_${id}`,
    redisPrefix: `bench_${id}:`,
    logLevel: 'warn',
  };
  return {
    config,
    stop: async () => {
      await local?.stop();
      if (local) rmSync(`.data/bench-${process.pid}`, { recursive: true, force: true });
    },
  };
}

export interface LoopResult {
  name: string;
  operations: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU time this Node process spent per operation (client side of the work), in microseconds. */
  nodeCpuUsPerOp: number;
  /** Every call's latency, sorted (for merging slices of one loop). */
  latenciesMs: number[];
}

/**
 * Runs `producers` concurrent loops of `operation` for `seconds` (or until `isDone()` says the work ran out),
 * recording each call's latency.
 */
export async function timedLoop(
  name: string,
  producers: number,
  seconds: number,
  operation: (producer: number, i: number) => Promise<unknown>,
  isDone: () => boolean = () => false,
): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: producers }, async (_, producer) => {
      for (let i = 0; performance.now() < deadline && !isDone(); i++) {
        const t0 = performance.now();
        try {
          await operation(producer, i);
          latencies.push(performance.now() - t0);
        } catch (error) {
          errors += 1;
          firstError ??= error;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (firstError) say(`${name}: ${errors} errors, first: ${(firstError as Error).message}`);
  latencies.sort((a, b) => a - b);
  return {
    name,
    operations: latencies.length,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
    nodeCpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, latencies.length),
    latenciesMs: latencies,
  };
}

/** The value at quantile `q` of `sorted` (ascending); NaN when empty. */
export const percentile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * One result from slices of the same loop. Benchmarks that compare loops run them in alternating slices, so
 * that the load other tenants put on the machine weighs on each loop alike.
 */
export function mergeLoops(slices: readonly LoopResult[]): LoopResult {
  const operations = slices.reduce((sum, s) => sum + s.operations, 0);
  const seconds = slices.reduce((sum, s) => sum + s.seconds, 0);
  const cpuUs = slices.reduce((sum, s) => sum + s.nodeCpuUsPerOp * Math.max(1, s.operations), 0);
  const latencies = slices.flatMap((s) => s.latenciesMs).sort((a, b) => a - b);
  return {
    name: slices[0]?.name ?? '',
    operations,
    seconds,
    perSecond: operations / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors: slices.reduce((sum, s) => sum + s.errors, 0),
    nodeCpuUsPerOp: cpuUs / Math.max(1, operations),
    latenciesMs: latencies,
  };
}

export function printTable(rows: Record<string, string | number>[]): void {
  const headers = Object.keys(rows[0] ?? {});
  const cells = rows.map((r) => headers.map((h) => String(r[h])));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`${line(headers)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const c of cells) process.stdout.write(`${line(c)}\n`);
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/**
 * One line of `npm run bench`'s summary table: a benchmark's headline figure, the bare baseline it is
 * compared with (measured in the same run), the ratio, the target and whether it was met. `verdict` is
 * `met`, `MISSED`, `information` (no target), or a word saying why the figure does not count (`ERRORS`,
 * `LOST/DOUBLED`, `NOT SUSTAINED`).
 */
export interface SummaryLine {
  benchmark: string;
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}

export function printSummary(lines: readonly SummaryLine[]): void {
  printTable(
    lines.map((l) => ({
      benchmark: l.benchmark,
      figure: l.figure,
      value: l.value,
      'bare baseline': l.baseline,
      ratio: l.ratio,
      target: l.target,
      verdict: l.verdict,
    })),
  );
}

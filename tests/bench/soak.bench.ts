import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { CallSimulator, realClock } from '../../channels/phone/simulator/call-simulator.js';
import { fmt, percentile, printTable, say, type SummaryLine } from './bench-kit.js';
import { boardBedRules, connected, procCpuMs, serverLogOf, startBoardBed } from './board-bed.js';
import type { ArrivalTotals, PhaseReport } from './live-board-server.js';

/*
 * npm run bench:soak (and the last part of npm run bench): a whole server process under a steady mixed load
 * for BENCH_SOAK_MINUTES (10), with its memory and latencies sampled each minute. What it proves is the
 * absence of a trend: a process that leaks, or slows as its tables and keys fill, shows it here in minutes
 * rather than in a week of production.
 *
 * The load, the same every minute:
 *   - contacts arrive at BENCH_SOAK_RATE (20/s) by email, chat and fax, ingest() in the server process as
 *     the adapters hand them over (tests/bench/live-board-server.ts), routed on ingest to four queues;
 *   - 30 agents on /agent sockets take every offer and close the contact over HTTP 1-3 s later;
 *   - 5 supervisors watch the live board on /supervisor;
 *   - a phone call a second, Twilio's side played by the CallSimulator (signed webhooks, the TwiML
 *     followed): the incoming call, a short IVR (a greeting, a menu, key 4 for the hours, the menu again),
 *     then the caller hangs up and the status callback comes;
 *   - an agent's console reads, 5 a second: a customer search, then that customer's timeline.
 *
 * Sampled each minute: the server process's RSS and heap (after a full collection: it runs --expose-gc),
 * arrival-to-offer p50/p99, the console reads' p99, the IVR's webhook p99 (each step's round trip), Redis's
 * memory and key count, the server's CPU. The verdicts compare the run's second half with its first (the
 * first minute, the warm-up, left out): heap and RSS must not grow by more than `growthLimit`, and the
 * latencies' p99 must not rise past `slowdownLimit` times. A trend is a slope over the minutes (printed,
 * least squares), but the verdict uses the halves' means: one noisy minute moves a slope more.
 */

const minutes = Number(process.env.BENCH_SOAK_MINUTES ?? 10);
/** A "minute" is this many seconds (60; shorter only to try the bench out). */
const sampleSeconds = Number(process.env.BENCH_SOAK_SAMPLE_SECONDS ?? 60);
const arrivalsPerSecond = Number(process.env.BENCH_SOAK_RATE ?? 20);
const callsPerSecond = 1;
const readsPerSecond = 5;
const agentCount = 30;
/** BENCH_SOAK_SUPERVISORS: 0 leaves the live board out (no process computes it). */
const supervisorCount = Number(process.env.BENCH_SOAK_SUPERVISORS ?? 5);
const holdMs: [number, number] = [1000, 3000];
/** At most this much more memory in the second half than in the first (mean over the minutes). */
export const growthLimit = 0.1;
/** At most this many times the first half's p99 in the second half (mean over the minutes). */
export const slowdownLimit = 1.5;

const twilio = {
  accountSid: 'AC5a0c0a4a5a0c0a4a5a0c0a4a5a0c0a4a',
  authToken: 'soak-bench-auth-token',
  publicBaseUrl: 'https://switchboard.soak.test',
};

export const soakRuleFiles: Record<string, string> = {
  'rules.yaml': boardBedRules(['voice']),
  'ivr.yaml': `
ivr:
  languages:
    en-US: { voice: Polly.Joanna-Neural }
  defaultFlow: main
  flows:
    main:
      start: greeting
      steps:
        greeting:
          say: Thank you for calling.
          next: menu
        menu:
          menu:
            prompt: For our opening hours, press 4. For anything else, press 0.
            options:
              - { press: '4', say: [hours], next: hours }
              - { press: '0', say: [agent], next: to-agent }
            retries: 1
            onFailure: to-agent
        hours:
          say: We are open every day, around the clock.
          next: menu
        to-agent:
          agent: { choice: '0' }
`,
};

export interface SoakMinute {
  minute: number;
  rssMb: number;
  heapMb: number;
  redisMb: number;
  redisKeys: number;
  serverCores: number;
  dbCores: number;
  ingestedPerSecond: number;
  offerP50Ms: number;
  offerP99Ms: number;
  readP99Ms: number;
  ivrP99Ms: number;
  calls: number;
  reads: number;
  errors: number;
}

export interface SoakResult {
  minutes: SoakMinute[];
  arrivals: ArrivalTotals;
  callErrors: number;
  readErrors: number;
  agentErrors: number;
  firstError: string | null;
  serverLog: ReturnType<typeof serverLogOf>;
  isGcExposed: boolean;
  /** Redis keys by shape (ids replaced by *) after the first minute and at the end, most grown first. */
  redisKeyGrowth: { shape: string; first: number; last: number }[];
}

/** Redis's keys counted by shape: every run of digits, hex id or UUID in a key replaced by `*`. */
async function keyShapes(redis: Redis): Promise<Map<string, number>> {
  const shapes = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const shape = key
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '*')
        .replace(/\b[0-9a-f]{16,}\b/gi, '*')
        .replace(/\d+/g, '*');
      shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
    }
  } while (cursor !== '0');
  return shapes;
}

/** Paces `operation` at `perSecond`, open loop, until stopped; each run's latency goes to `into`. */
function paced(perSecond: number, operation: (n: number) => Promise<number[]>, into: () => number[]) {
  let n = 0;
  let errors = 0;
  let firstError: string | null = null;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) * perSecond) / 1000);
    for (; n < due; n++) {
      const run = operation(n)
        .then((latencies) => void into().push(...latencies))
        .catch((error: unknown) => {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        })
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    }
  }, 20);
  return {
    errors: () => ({ count: errors, first: firstError }),
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}

export async function runSoakBench(): Promise<SoakResult> {
  const bed = await startBoardBed({
    name: 'soak',
    ruleFiles: soakRuleFiles,
    agentCount,
    agentState: 'available',
    supervisorCount,
    holdMs,
    server: {
      nodeArgs: ['--expose-gc'],
      env: {
        TWILIO_ACCOUNT_SID: twilio.accountSid,
        TWILIO_AUTH_TOKEN: twilio.authToken,
        PUBLIC_BASE_URL: twilio.publicBaseUrl,
      },
    },
  });
  const { server, base } = bed;
  const supervisors: Socket[] = [];
  const redis = new Redis(bed.config.redisUrl!);
  try {
    for (const cookie of bed.supervisorCookies)
      supervisors.push(
        await connected(
          io(`${base}/supervisor`, { transports: ['websocket'], forceNew: true, extraHeaders: { cookie } }),
        ),
      );

    // Latencies of the minute now measured; swapped at each minute's end.
    let ivrLatencies: number[] = [];
    let readLatencies: number[] = [];
    let calls = 0;
    let reads = 0;
    const timed = async (step: () => Promise<unknown>) => {
      const t0 = performance.now();
      await step();
      return performance.now() - t0;
    };
    const caller = paced(
      callsPerSecond,
      async (n) => {
        const sim = new CallSimulator({
          serverUrl: base,
          publicBaseUrl: twilio.publicBaseUrl,
          accountSid: twilio.accountSid,
          authToken: twilio.authToken,
          from: `+1415${String(5000000 + (n % 2000)).padStart(7, '0')}`,
          to: '+18005550100',
          clock: realClock,
          stepTimeoutMs: 30_000,
        });
        const steps = [await timed(() => sim.start()), await timed(() => sim.press('4'))];
        steps.push(await timed(() => sim.hangup()));
        const wrong = [...sim.errors.map((e) => `${e.purpose} ${e.status}`), ...sim.problems];
        if (wrong.length > 0) throw new Error(`call: ${wrong.join('; ')}`);
        calls += 1;
        return steps;
      },
      () => ivrLatencies,
    );
    const [readerCookie] = bed.agentCookies;
    const reader = paced(
      readsPerSecond,
      async (n) => {
        const get = async (path: string) => {
          const response = await fetch(`${base}${path}`, { headers: { cookie: readerCookie! } });
          if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`);
          return response.json() as Promise<unknown>;
        };
        const t0 = performance.now();
        const { customers } = (await get(
          `/api/customers?q=${encodeURIComponent(`customer${(n * 7919) % 3000}@bench.test`)}&limit=1`,
        )) as { customers: { id: string }[] };
        const searched = performance.now() - t0;
        if (!customers[0]) return [searched]; // not arrived yet
        const t1 = performance.now();
        await get(`/api/customers/${customers[0].id}/timeline`);
        reads += 1;
        return [searched, performance.now() - t1];
      },
      () => readLatencies,
    );

    say(
      `${minutes} minutes: ${arrivalsPerSecond} contacts/s, ${callsPerSecond} call/s, ${readsPerSecond} reads/s`,
    );
    server.send(`arrivals-start ${arrivalsPerSecond}`);
    await server.expectLine('arriving');
    const samples: SoakMinute[] = [];
    let isGcExposed = false;
    let firstShapes = new Map<string, number>();
    for (let minute = 1; minute <= minutes; minute++) {
      const db0 = procCpuMs(bed.postmasterPid, true);
      server.send('phase-start');
      await server.expectLine('phase-started');
      const callsBefore = calls;
      const readsBefore = reads;
      const errorsBefore = caller.errors().count + reader.errors().count + bed.agentErrors().count;
      await sleep(sampleSeconds * 1000);
      server.send('phase-end');
      const phase = JSON.parse(await server.expectLine('phase')) as PhaseReport;
      const ivr = ivrLatencies.sort((a, b) => a - b);
      const read = readLatencies.sort((a, b) => a - b);
      ivrLatencies = [];
      readLatencies = [];
      const memory = await redis.info('memory');
      isGcExposed = phase.memory.isAfterGc;
      const sample: SoakMinute = {
        minute,
        rssMb: phase.memory.rssMb,
        heapMb: phase.memory.heapUsedMb,
        redisMb: Number(/used_memory:(\d+)/.exec(memory)?.[1]) / 1048576,
        redisKeys: await redis.dbsize(),
        serverCores: phase.cpuMs / phase.wallMs,
        dbCores: (procCpuMs(bed.postmasterPid, true) - db0) / phase.wallMs,
        ingestedPerSecond: (phase.ingested * 1000) / phase.wallMs,
        offerP50Ms: percentile(phase.arrivalToOfferMs, 0.5),
        offerP99Ms: percentile(phase.arrivalToOfferMs, 0.99),
        readP99Ms: percentile(read, 0.99),
        ivrP99Ms: percentile(ivr, 0.99),
        calls: calls - callsBefore,
        reads: reads - readsBefore,
        errors: caller.errors().count + reader.errors().count + bed.agentErrors().count - errorsBefore,
      };
      samples.push(sample);
      if (minute === 1) firstShapes = await keyShapes(redis);
      say(
        `minute ${minute}/${minutes}: heap ${fmt(sample.heapMb)} MB, RSS ${fmt(sample.rssMb)} MB; ` +
          `offer p99 ${fmt(sample.offerP99Ms)} ms, reads p99 ${fmt(sample.readP99Ms)} ms, IVR p99 ` +
          `${fmt(sample.ivrP99Ms)} ms; ${fmt(sample.ingestedPerSecond)} contacts/s, ${sample.calls} calls, ` +
          `${sample.reads} reads; errors ${sample.errors}`,
      );
    }
    const lastShapes = await keyShapes(redis);
    const redisKeyGrowth = [...new Set([...firstShapes.keys(), ...lastShapes.keys()])]
      .map((shape) => ({ shape, first: firstShapes.get(shape) ?? 0, last: lastShapes.get(shape) ?? 0 }))
      .sort((a, b) => b.last - b.first - (a.last - a.first));
    await caller.stop();
    await reader.stop();
    server.send('arrivals-stop');
    const arrivals = JSON.parse(await server.expectLine('arrivals-stopped', 120_000)) as ArrivalTotals;
    await bed.stopLoad();
    const errors = [caller.errors(), reader.errors(), bed.agentErrors()];
    return {
      minutes: samples,
      arrivals,
      callErrors: errors[0]!.count,
      readErrors: errors[1]!.count,
      agentErrors: errors[2]!.count,
      firstError: errors.find((e) => e.first)?.first ?? null,
      serverLog: serverLogOf(bed.logFile),
      isGcExposed,
      redisKeyGrowth,
    };
  } finally {
    for (const socket of supervisors) socket.disconnect();
    redis.disconnect();
    await bed.close();
  }
}

/** Least-squares slope of `values` over their index (per minute). */
export function slope(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return NaN;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  values.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

/** The second half's mean over the first half's, the first minute (warm-up) left out. */
export function halvesRatio(values: readonly number[]): number {
  const measured = values.slice(1);
  const half = Math.floor(measured.length / 2);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (half === 0) return NaN;
  return mean(measured.slice(measured.length - half)) / mean(measured.slice(0, half));
}

interface Trend {
  figure: string;
  key: keyof SoakMinute;
  unit: string;
  limit: number;
}

const trends: Trend[] = [
  { figure: 'server heap after GC', key: 'heapMb', unit: 'MB', limit: 1 + growthLimit },
  { figure: 'server RSS', key: 'rssMb', unit: 'MB', limit: 1 + growthLimit },
  { figure: 'arrival-to-offer p99', key: 'offerP99Ms', unit: 'ms', limit: slowdownLimit },
  { figure: 'console reads p99', key: 'readP99Ms', unit: 'ms', limit: slowdownLimit },
  { figure: 'IVR webhook p99', key: 'ivrP99Ms', unit: 'ms', limit: slowdownLimit },
];

const isWrong = (r: SoakResult) =>
  r.callErrors + r.readErrors + r.agentErrors + r.arrivals.failed > 0 || r.arrivals.shed > 0;

export function printSoak(r: SoakResult): void {
  printTable(
    r.minutes.map((m) => ({
      minute: m.minute,
      'heap MB': fmt(m.heapMb),
      'RSS MB': fmt(m.rssMb),
      'redis MB': fmt(m.redisMb),
      'redis keys': m.redisKeys,
      'server cores': fmt(m.serverCores, 2),
      'db cores': fmt(m.dbCores, 2),
      'contacts/s': fmt(m.ingestedPerSecond),
      'offer p50/p99 ms': `${fmt(m.offerP50Ms)} / ${fmt(m.offerP99Ms)}`,
      'reads p99 ms': fmt(m.readP99Ms),
      'IVR p99 ms': fmt(m.ivrP99Ms),
      calls: m.calls,
      reads: m.reads,
      errors: m.errors,
    })),
  );
  say(
    `arrivals: ${r.arrivals.issued} issued, ${r.arrivals.ingested} ingested, ${r.arrivals.failed} failed, ` +
      `${r.arrivals.shed} shed; errors: calls ${r.callErrors}, reads ${r.readErrors}, agents ${r.agentErrors}` +
      `${r.firstError ? ` (first: ${r.firstError})` : ''}`,
  );
  say(
    `server log: ${r.serverLog.warnings} lines at warn or above` +
      `${r.serverLog.first ? ` (first: ${r.serverLog.first})` : ''}` +
      (r.isGcExposed ? '' : '; heap NOT measured after a full GC (no --expose-gc)'),
  );
  const grown = r.redisKeyGrowth.filter((k) => k.last > k.first).slice(0, 6);
  say(
    `Redis keys that grew after minute 1: ${grown.length === 0 ? 'none' : grown.map((k) => `${k.shape} ${k.first} -> ${k.last}`).join(', ')}`,
  );
}

/** The summary's lines (npm run bench): each figure's trend, second half against first. */
export function soakSummary(r: SoakResult): SummaryLine[] {
  return trends.map((t) => {
    const values = r.minutes.map((m) => m[t.key]);
    const ratio = halvesRatio(values);
    const last = values.at(-1) ?? NaN;
    return {
      benchmark: 'soak',
      figure: `${t.figure}, ${r.minutes.length} min (slope ${fmt(slope(values.slice(1)), 2)} ${t.unit}/min)`,
      value: `${fmt(last)} ${t.unit} last minute`,
      baseline: `${fmt(values[1] ?? NaN)} ${t.unit} minute 2`,
      ratio: fmt(ratio, 2),
      target: `2nd half <= ${fmt(t.limit, 1)} x 1st`,
      verdict: isWrong(r) ? 'ERRORS' : ratio <= t.limit ? 'met' : 'MISSED',
    };
  });
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  runSoakBench()
    .then((r) => {
      process.stdout.write('\n');
      printSoak(r);
      process.stdout.write('\n');
      printTable(soakSummary(r).map(({ benchmark: _b, ...line }) => line));
      if (isWrong(r)) process.exitCode = 1;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

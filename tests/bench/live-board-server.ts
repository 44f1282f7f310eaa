/*
 * The server process of the live board bench (tests/bench/live-board.bench.ts): the whole app as production
 * runs it (buildApp with the job worker, routing on ingest, /agent and /supervisor on the Redis adapter, the
 * live board started), logger at warn. Contacts reach it the way a channel adapter hands them over: ingest()
 * in-process, from an open-loop generator in this process at a steady rate (cluster-node.ts does the same
 * for the routing load test), so that the bench's agents and supervisors, in the parent process, take no
 * CPU from the arrivals' schedule.
 *
 * Run: node --import tsx tests/bench/live-board-server.ts (started by live-board.bench.ts)
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, ROUTING_RULES_DIR, ROUTE_ON_INGEST (loadConfig).
 * Protocol, one command per stdin line and one answer per stdout line:
 *   `start <logFile>`               -> `ready <json { port, pid }>` once the app listens; logs at warn and
 *                                      above go to `logFile` (pino JSON lines), never to stdout, the protocol's
 *   `arrivals-start <perSecond>`    -> `arriving`: contacts from now on, `perSecond` a second
 *   `arrivals-stop`                 -> `arrivals-stopped <json ArrivalTotals>` once the last ingest settled
 *   `phase-start`                   -> `phase-started`: zeroes the counters of `phase-end`
 *   `phase-end`                     -> `phase <json PhaseReport>` (since `phase-start`)
 *   `profile-start`                 -> `profiling` (a sampled CPU profile of this process, via inspector)
 *   `profile-stop`                  -> `profiled <json ProfileSummary>`: where the live board's CPU went
 *   `exit` or stdin EOF             -> closes and exits 0
 */
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { buildApp, type Services } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Channel, InboundContact } from '../../src/interactions/inbound-contact.js';
import { runWorker, writeLine } from '../support/worker-process.js';

/**
 * Past this many ingests in flight (two seconds at 200/s) the generator sheds arrivals, counted, rather than
 * pile up a backlog that the process would take minutes to drain.
 */
const maxInFlight = 400;
const loopDelayResolutionMs = 10;
/** Returning customers: contacts come from a pool this size, so that the customers' table stays small. */
const customerPool = 3000;
/** Keywords the bench's rules send to each queue (none: the default queue). */
const topics = ['invoice', 'order', 'claim', 'upgrade', ''];
const arrivalChannels: Channel[] = ['email', 'chat', 'chat', 'email', 'fax'];

export interface ArrivalTotals {
  issued: number;
  ingested: number;
  failed: number;
  shed: number;
  firstError: string | null;
}

export interface PhaseReport {
  wallMs: number;
  /** This process's CPU time (user + system) over the phase. */
  cpuMs: number;
  loopDelayP99Ms: number;
  issued: number;
  ingested: number;
  failed: number;
  shed: number;
  offered: number;
  accepted: number;
  closed: number;
  /** From ingest()'s call to the contact's first offer, for contacts that arrived in the phase (sorted). */
  arrivalToOfferMs: number[];
  /** At the phase's end, after a full garbage collection when the process runs with --expose-gc. */
  memory: { rssMb: number; heapUsedMb: number; isAfterGc: boolean };
  /** Boards this process computed in the phase, with the service's own timing of the latest of them. */
  boards: number;
  boardCpuMs: number[];
  boardWallMs: number[];
}

export interface ProfileSummary {
  samples: number;
  /** Samples with a frame of the live board's code (service, repository, facts, metrics) on the stack. */
  boardSamples: number;
  /** Of those, the functions that were on top (self time), most first: `name file:line share`. */
  boardTop: { fn: string; share: number }[];
  /** Samples of the whole process by file of the top frame, most first (context). */
  byFile: { file: string; share: number }[];
}

const boardFiles = [
  'src/reports/live-board.service.ts',
  'src/db/repositories/live-board.repository.ts',
  'src/reports/contact-facts.ts',
  'src/reports/metrics.ts',
];

function contactOf(n: number): InboundContact {
  const channel = arrivalChannels[n % arrivalChannels.length]!;
  const who = (n * 7919) % customerPool;
  const topic = topics[n % topics.length]!;
  const identity =
    channel === 'email'
      ? { kind: 'email' as const, value: `customer${who}@bench.test` }
      : channel === 'chat'
        ? { kind: 'chat_visitor' as const, value: `visitor-${who}` }
        : { kind: 'fax' as const, value: `+1415${String(3000000 + who).padStart(7, '0')}` };
  return {
    channel,
    externalId: `live-board-${process.pid}-${n}`,
    identities: [identity],
    displayName: `Customer ${who}`,
    ...(channel === 'email' && { subject: `About my ${topic || 'account'}` }),
    text: `Hello, a question about my ${topic || 'account'} (${n})`,
  };
}

/**
 * Arrival-to-offer latency: ingest() may resolve before or after the contact's first offer.created (routing
 * on ingest offers within the call), so whichever of the two comes second records the gap.
 */
function createOfferClock() {
  const arrivedAt = new Map<string, number>();
  const offeredAt = new Map<string, number>();
  let latencies: number[] = [];
  const record = (arrived: number, offered: number) => latencies.push(offered - arrived);
  return {
    arrived(interactionId: string, at: number): void {
      const offered = offeredAt.get(interactionId);
      if (offered === undefined) arrivedAt.set(interactionId, at);
      else {
        offeredAt.delete(interactionId);
        record(at, offered);
      }
    },
    offered(interactionId: string): void {
      const arrived = arrivedAt.get(interactionId);
      if (arrived !== undefined) {
        arrivedAt.delete(interactionId);
        record(arrived, performance.now());
      } else if (!offeredAt.has(interactionId)) offeredAt.set(interactionId, performance.now());
    },
    /** The latencies since the last call, sorted; forgets offers of contacts it never saw arrive. */
    take(): number[] {
      const taken = latencies.sort((a, b) => a - b);
      latencies = [];
      offeredAt.clear();
      return taken;
    },
  };
}

function createArrivals(services: Services, offers: ReturnType<typeof createOfferClock>) {
  const totals: ArrivalTotals = { issued: 0, ingested: 0, failed: 0, shed: 0, firstError: null };
  let timer: NodeJS.Timeout | undefined;
  let inFlight = 0;
  let sequence = 0;
  let settled: (() => void) | undefined;
  return {
    totals,
    start(perSecond: number): void {
      const started = performance.now();
      let due = 0;
      timer = setInterval(() => {
        const target = Math.floor(((performance.now() - started) * perSecond) / 1000);
        for (; due < target; due += 1) {
          if (inFlight >= maxInFlight) {
            totals.shed += 1;
            continue;
          }
          inFlight += 1;
          totals.issued += 1;
          const arrivedAt = performance.now();
          services
            .ingest(contactOf(sequence++))
            .then(
              (result) => {
                totals.ingested += 1;
                if (result.isNewInteraction) offers.arrived(result.interactionId, arrivedAt);
              },
              (error: unknown) => {
                totals.failed += 1;
                totals.firstError ??= error instanceof Error ? error.message : String(error);
              },
            )
            .finally(() => {
              inFlight -= 1;
              if (inFlight === 0) settled?.();
            });
        }
      }, 5);
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      if (inFlight > 0) await new Promise<void>((resolve) => (settled = resolve));
    },
  };
}

function summarise(profile: {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples?: number[];
}): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const fileOf = (url: string) =>
    url.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules|tests)\//, '$1/');
  const isBoard = (url: string) => boardFiles.some((file) => url.endsWith(file));
  const underBoard = new Map<number, boolean>();
  const isUnderBoard = (id: number): boolean => {
    const known = underBoard.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    const parent = parentOf.get(id);
    const answer =
      node !== undefined && (isBoard(node.callFrame.url) || (parent !== undefined && isUnderBoard(parent)));
    underBoard.set(id, answer);
    return answer;
  };
  const samples = profile.samples ?? [];
  const boardTop = new Map<string, number>();
  const byFile = new Map<string, number>();
  let boardSamples = 0;
  for (const id of samples) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const file = frame.url ? fileOf(frame.url) : `(${frame.functionName || 'native'})`;
    byFile.set(file, (byFile.get(file) ?? 0) + 1);
    if (!isUnderBoard(id)) continue;
    boardSamples += 1;
    // No line: tsx's transpiled code has no source map in the profile.
    const fn = `${frame.functionName || '(anonymous)'} ${file}`;
    boardTop.set(fn, (boardTop.get(fn) ?? 0) + 1);
  }
  const top = <K extends string>(counts: Map<string, number>, key: K, total: number, n: number) =>
    [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(
        ([name, count]) =>
          ({ [key]: name, share: count / Math.max(1, total) }) as Record<K, string> & { share: number },
      );
  return {
    samples: samples.length,
    boardSamples,
    boardTop: top(boardTop, 'fn', boardSamples, 12),
    byFile: top(byFile, 'file', samples.length, 12),
  };
}

async function main(): Promise<void> {
  let built: Awaited<ReturnType<typeof buildApp>> | undefined;
  let arrivals: ReturnType<typeof createArrivals> | undefined;
  let profiler: Session | undefined;
  const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
  loopDelay.enable();
  const counts = { offered: 0, accepted: 0, closed: 0 };
  const offers = createOfferClock();
  let phase = {
    startedMs: performance.now(),
    cpu: process.cpuUsage(),
    counts: { ...counts },
    arrivals: { issued: 0, ingested: 0, failed: 0, shed: 0 },
    boards: 0,
  };
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      const [command = '', argument = ''] = line.trim().split(' ');
      if (command === 'exit') break;
      if (command === 'start') {
        built = await buildApp({
          config: loadConfig(process.env),
          logger: { level: 'warn', file: argument },
          isWorker: true,
        });
        const { events } = built.services;
        events.subscribe('offer.created', (payload) => {
          counts.offered += 1;
          offers.offered(payload.interactionId);
        });
        events.subscribe('offer.accepted', () => void (counts.accepted += 1));
        events.subscribe('interaction.closed', () => void (counts.closed += 1));
        arrivals = createArrivals(built.services, offers);
        await built.app.listen({ host: '127.0.0.1', port: 0 });
        const { port } = built.app.server.address() as AddressInfo;
        await writeLine(`ready ${JSON.stringify({ port, pid: process.pid })}`);
      } else if (command === 'arrivals-start') {
        if (!arrivals) throw new Error('arrivals-start before start');
        arrivals.start(Number(argument));
        await writeLine('arriving');
      } else if (command === 'arrivals-stop') {
        if (!arrivals) throw new Error('arrivals-stop before start');
        await arrivals.stop();
        await writeLine(`arrivals-stopped ${JSON.stringify(arrivals.totals)}`);
      } else if (command === 'phase-start') {
        loopDelay.reset();
        offers.take();
        phase = {
          startedMs: performance.now(),
          cpu: process.cpuUsage(),
          counts: { ...counts },
          arrivals: { ...(arrivals?.totals ?? phase.arrivals) },
          boards: built?.services.liveBoard.stats().boardsComputed ?? 0,
        };
        await writeLine('phase-started');
      } else if (command === 'phase-end') {
        const cpu = process.cpuUsage(phase.cpu);
        const stats = built!.services.liveBoard.stats();
        const totals = arrivals!.totals;
        const boards = stats.boardsComputed - phase.boards;
        const gc = (globalThis as { gc?: () => void }).gc;
        gc?.();
        const memory = process.memoryUsage();
        const report: PhaseReport = {
          wallMs: performance.now() - phase.startedMs,
          cpuMs: (cpu.user + cpu.system) / 1000,
          // The histogram holds whole intervals between samples: the delay is what exceeds the 10 ms.
          loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - loopDelayResolutionMs),
          issued: totals.issued - phase.arrivals.issued,
          ingested: totals.ingested - phase.arrivals.ingested,
          failed: totals.failed - phase.arrivals.failed,
          shed: totals.shed - phase.arrivals.shed,
          offered: counts.offered - phase.counts.offered,
          accepted: counts.accepted - phase.counts.accepted,
          closed: counts.closed - phase.counts.closed,
          arrivalToOfferMs: offers.take(),
          memory: { rssMb: memory.rss / 1048576, heapUsedMb: memory.heapUsed / 1048576, isAfterGc: !!gc },
          boards,
          boardCpuMs: boards > 0 ? stats.recentCpuMs.slice(-boards) : [],
          boardWallMs: boards > 0 ? stats.recentWallMs.slice(-boards) : [],
        };
        await writeLine(`phase ${JSON.stringify(report)}`);
      } else if (command === 'profile-start') {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
        await profiler.post('Profiler.start');
        await writeLine('profiling');
      } else if (command === 'profile-stop') {
        if (!profiler) throw new Error('profile-stop without profile-start');
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        profiler = undefined;
        await writeLine(`profiled ${JSON.stringify(summarise(profile))}`);
      } else {
        throw new Error(`unknown command '${command}'`);
      }
    }
  } finally {
    loopDelay.disable();
    profiler?.disconnect();
    await arrivals?.stop();
    await built?.app.close();
  }
}

runWorker('live-board-server', main);

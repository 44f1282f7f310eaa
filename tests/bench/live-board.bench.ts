import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import type { SupervisorBoard, SupervisorServerEvents } from '../../src/realtime/supervisor-events.js';
import { fmt, printTable, say, type SummaryLine } from './bench-kit.js';
import { boardBedRules, connected, procCpuMs, serverLogOf, startBoardBed } from './board-bed.js';
import type { ArrivalTotals, PhaseReport, ProfileSummary } from './live-board-server.js';

/*
 * The live dashboard's CPU cost (issue 8: "with 20 supervisors connected while 200 contacts per second
 * arrive"), measured on a server process of its own (tests/bench/live-board-server.ts: the whole app, the job
 * worker, routing on ingest, the live board started; Postgres durable).
 *
 * Load, the same in both phases: contacts arrive at `arrivalsPerSecond` (open loop, ingest() in the server
 * process, as a channel adapter hands them over) on email, chat and fax, into four always-open queues by
 * keyword; 40 agents are connected to /agent from this process. By default they are away: signed in and
 * on the board, taking nothing, so the contacts wait and the queues grow (the board's waiting figures and
 * its per-queue rows move; answered stays 0). With BENCH_LIVE_ANSWER=1 they are available, accept every
 * offer on their socket and close the contact over HTTP 0.5-1.5 s later (no wrap-up), so that answered and
 * handled figures move too; on a 2-core machine that load (offers, accepts, closes, and the Postgres
 * writes they make) saturates both cores at 70-90 contacts a second, short of 200.
 *
 * The two phases alternate in `rounds` slices of `sliceSeconds` each, so that the load other tenants put on
 * this shared machine weighs on both alike:
 *   without supervisors: nobody watches, so no process computes the board (the service only keeps its
 *     one-second tick, which finds no watcher); checked: no board is computed in these slices.
 *   with supervisors: `supervisorCount` sockets on /supervisor receive `board.snapshot`. They connect
 *     before the slice, which starts only once every one of them has a board computed after it connected
 *     (taking the lease reads the day in full: that one-off read is timed apart, not in the slice).
 * Measured in each slice: the server process's CPU (process.cpuUsage, read by the server itself), and, when
 * they run on this machine, Postgres's (postmaster and backends) and Redis's (from /proc). The difference
 * between the phases is the dashboard's cost. Also: snapshots per client per second and the gap between
 * boards (at most one a second, the issue says), the snapshot's size, the service's own timing of each board
 * (LiveBoardService.stats(): wall time of the tick and the process's CPU meanwhile, interleaved work of the
 * process included), and whether the board's figures moved. Last, a short profiled slice with supervisors
 * (not measured) says where the board's own CPU goes.
 *
 * The arrival rate is what the server actually ingested in the slices, printed beside the target: on a small
 * machine the server and this process may not keep up, and the bench says so rather than hide it.
 *
 * Env: BENCH_LIVE_RATE (arrivals/s, 200), BENCH_LIVE_SLICE (seconds, 15), BENCH_LIVE_ROUNDS (2),
 * BENCH_LIVE_ANSWER (0: the agents are away, see below; 1: they answer).
 */

const arrivalsPerSecond = Number(process.env.BENCH_LIVE_RATE ?? 200);
const sliceSeconds = Number(process.env.BENCH_LIVE_SLICE ?? 15);
const rounds = Number(process.env.BENCH_LIVE_ROUNDS ?? 2);
const warmUpSeconds = 8;
const profileSeconds = 6;
const agentCount = 40;
const isAnswering = process.env.BENCH_LIVE_ANSWER === '1';
const supervisorCount = 20;
/** How long after the last supervisor left the cluster stops computing: the watchers key's TTL and a tick. */
const boardIdleMs = 4500;
const holdMs: [number, number] = [500, 1500];
const freshBoardWaitMs = 20_000;

type SupervisorClient = Socket<SupervisorServerEvents>;

const percentile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

interface Snapshot {
  atMs: number;
  arrivedMs: number;
}

interface PhaseTotals {
  wallMs: number;
  cpuMs: number;
  dbCpuMs: number;
  redisCpuMs: number;
  ingested: number;
  failed: number;
  shed: number;
  offered: number;
  accepted: number;
  closed: number;
  boards: number;
  loopDelayP99Ms: number;
}

export interface LiveBoardBenchResult {
  arrivalsPerSecond: number;
  sliceSeconds: number;
  rounds: number;
  without: PhaseTotals;
  with: PhaseTotals;
  snapshots: {
    /** Over the supervisors, snapshots received in the measured slices per second. */
    perClientPerSecondMean: number;
    perClientPerSecondMax: number;
    /** The smallest gap between the `at` of two boards one client received in a slice. */
    minBoardGapMs: number;
    /** The smallest gap between two arrivals at one client (delivery jitter included). */
    minArrivalGapMs: number;
    bytesMedian: number;
    bytesMax: number;
    /** Offered and answered today on the first and last board of the measured slices (all channels). */
    offeredFirst: number;
    offeredLast: number;
    answeredFirst: number;
    answeredLast: number;
  };
  /** The service's timing of each board computed in the measured slices. */
  boardWallMs: number[];
  boardCpuMs: number[];
  /** From the supervisors' connecting to a board computed after it, per round (includes the day's read). */
  firstBoardMs: number[];
  profile: ProfileSummary | null;
  arrivals: ArrivalTotals;
  agentErrors: number;
  firstAgentError: string | null;
  /** Lines the server logged at warn and above; of them, Postgres pool waits that timed out. */
  serverLog: { warnings: number; first: string | null; poolTimeouts: number };
}

const emptyTotals = (): PhaseTotals => ({
  wallMs: 0,
  cpuMs: 0,
  dbCpuMs: 0,
  redisCpuMs: 0,
  ingested: 0,
  failed: 0,
  shed: 0,
  offered: 0,
  accepted: 0,
  closed: 0,
  boards: 0,
  loopDelayP99Ms: 0,
});

export async function runLiveBoardBench(): Promise<LiveBoardBenchResult> {
  const bed = await startBoardBed({
    name: 'live-board',
    ruleFiles: { 'rules.yaml': boardBedRules() },
    agentCount,
    agentState: isAnswering ? 'available' : 'away',
    supervisorCount,
    holdMs,
  });
  const { server, base, supervisorCookies, postmasterPid, redisPid } = bed;
  let supervisors: SupervisorClient[] = [];
  try {
    // Supervisors: each socket's boards, with when they came.
    const received = new Map<SupervisorClient, Snapshot[]>();
    let window: { fromMs: number; toMs: number } | null = null;
    const windowBoards: { board: SupervisorBoard; bytes: number }[] = [];
    const connectSupervisors = async () => {
      const connectedMs = Date.now();
      supervisors = await Promise.all(
        supervisorCookies.map(async (cookie, i) => {
          const socket: SupervisorClient = io(`${base}/supervisor`, {
            transports: ['websocket'],
            reconnection: false,
            forceNew: true,
            extraHeaders: { cookie },
          });
          const boards: Snapshot[] = [];
          received.set(socket, boards);
          socket.on('board.snapshot', (board) => {
            const arrivedMs = Date.now();
            if (window === null || arrivedMs < window.fromMs) {
              boards.length = 0; // only the last board before a slice is kept: the slice's first gap
              boards.push({ atMs: Date.parse(board.at), arrivedMs });
              return;
            }
            if (arrivedMs > window.toMs) return;
            boards.push({ atMs: Date.parse(board.at), arrivedMs });
            if (i === 0) windowBoards.push({ board, bytes: Buffer.byteLength(JSON.stringify(board)) });
          });
          return connected(socket);
        }),
      );
      // Fresh boards on every socket: computed after they connected (the day has been read). An overloaded
      // server may take long: past `freshBoardWaitMs` the slice starts anyway, and says so (NaN).
      for (let waited = 0; waited < freshBoardWaitMs; waited += 50) {
        if (supervisors.every((s) => (received.get(s)?.at(-1)?.atMs ?? 0) >= connectedMs))
          return Date.now() - connectedMs;
        await sleep(50);
      }
      return NaN;
    };
    const disconnectSupervisors = () => {
      for (const socket of supervisors) socket.disconnect();
      supervisors = [];
    };

    const totals = { without: emptyTotals(), with: emptyTotals() };
    const perClientRates: number[] = [];
    const boardGaps: number[] = [];
    const arrivalGaps: number[] = [];
    const boardWallMs: number[] = [];
    const boardCpuMs: number[] = [];
    const firstBoardMs: number[] = [];
    const measure = async (into: PhaseTotals) => {
      const db0 = procCpuMs(postmasterPid, true);
      const redis0 = procCpuMs(redisPid);
      server.send('phase-start');
      await server.expectLine('phase-started');
      await sleep(sliceSeconds * 1000);
      server.send('phase-end');
      const phase = JSON.parse(await server.expectLine('phase')) as PhaseReport;
      into.wallMs += phase.wallMs;
      into.cpuMs += phase.cpuMs;
      into.dbCpuMs += procCpuMs(postmasterPid, true) - db0;
      into.redisCpuMs += procCpuMs(redisPid) - redis0;
      into.ingested += phase.ingested;
      into.failed += phase.failed;
      into.shed += phase.shed;
      into.offered += phase.offered;
      into.accepted += phase.accepted;
      into.closed += phase.closed;
      into.boards += phase.boards;
      into.loopDelayP99Ms = Math.max(into.loopDelayP99Ms, phase.loopDelayP99Ms);
      const rate = (n: number) => fmt((n * 1000) / phase.wallMs, 0);
      say(
        `  server ${fmt(phase.cpuMs / phase.wallMs, 2)} cores; per second: ingested ${rate(phase.ingested)}, ` +
          `offered ${rate(phase.offered)}, accepted ${rate(phase.accepted)}, closed ${rate(phase.closed)}; ` +
          `shed ${phase.shed}, failed ${phase.failed}; boards ${phase.boards}; loop delay p99 ${fmt(phase.loopDelayP99Ms, 0)} ms`,
      );
      return phase;
    };

    const isStatementStats =
      process.env.SWITCHBOARD_PG_STATS === '1' &&
      (await bed.query('create extension if not exists pg_stat_statements with schema public').then(
        () => true,
        () => false,
      ));

    say(`arrivals at ${arrivalsPerSecond}/s; warming up for ${warmUpSeconds}s`);
    server.send(`arrivals-start ${arrivalsPerSecond}`);
    await server.expectLine('arriving');
    await sleep(warmUpSeconds * 1000);

    if (isStatementStats) await bed.query('select public.pg_stat_statements_reset()');
    for (let round = 0; round < rounds; round++) {
      say(`round ${round + 1}/${rounds}: ${sliceSeconds}s without supervisors`);
      await measure(totals.without);
      const firstMs = await connectSupervisors();
      firstBoardMs.push(firstMs);
      say(
        `round ${round + 1}/${rounds}: ${sliceSeconds}s with ${supervisorCount} supervisors (first board ${firstMs} ms)`,
      );
      const fromMs = Date.now();
      window = { fromMs, toMs: Infinity };
      const phase = await measure(totals.with);
      window.toMs = Date.now();
      const seconds = (window.toMs - fromMs) / 1000;
      for (const socket of supervisors) {
        const boards = received.get(socket) ?? [];
        const inSlice = boards.filter((b) => b.arrivedMs >= fromMs);
        perClientRates.push(inSlice.length / seconds);
        for (let k = 1; k < boards.length; k++) {
          boardGaps.push(boards[k]!.atMs - boards[k - 1]!.atMs);
          arrivalGaps.push(boards[k]!.arrivedMs - boards[k - 1]!.arrivedMs);
        }
      }
      boardWallMs.push(...phase.boardWallMs);
      boardCpuMs.push(...phase.boardCpuMs);
      window = null;
      disconnectSupervisors();
      await sleep(boardIdleMs);
    }

    // SWITCHBOARD_PG_STATS=1: the local Postgres loads pg_stat_statements; the statements that took most of
    // its time over the measured slices print (both phases: the board's own reads stand out, being absent
    // from the slices without supervisors).
    if (isStatementStats) {
      const top = await bed.query<{ calls: string; total_ms: number; mean_ms: number; query: string }>(
        `select calls::text, total_exec_time as total_ms, mean_exec_time as mean_ms, query
         from public.pg_stat_statements order by total_exec_time desc limit 10`,
      );
      say('Postgres statements by total time over the slices (pg_stat_statements):');
      for (const row of top)
        say(
          `  ${fmt(row.total_ms, 0)} ms in ${row.calls} calls (mean ${fmt(row.mean_ms, 2)} ms): ` +
            row.query.replace(/\s+/g, ' ').slice(0, 160),
        );
    }

    say(`profiling ${profileSeconds}s with supervisors (not measured)`);
    await connectSupervisors();
    server.send('profile-start');
    await server.expectLine('profiling');
    await sleep(profileSeconds * 1000);
    server.send('profile-stop');
    const profile = JSON.parse(await server.expectLine('profiled', 120_000)) as ProfileSummary;
    disconnectSupervisors();

    server.send('arrivals-stop');
    const arrivals = JSON.parse(await server.expectLine('arrivals-stopped', 120_000)) as ArrivalTotals;
    await bed.stopLoad();
    const serverLog = serverLogOf(bed.logFile);
    const { count: agentErrors, first: firstAgentError } = bed.agentErrors();
    const sum = (board: SupervisorBoard, key: 'offered' | 'answered') =>
      board.channels.reduce((total, row) => total + row[key], 0);
    const first = windowBoards[0]?.board;
    const last = windowBoards.at(-1)?.board;
    const bytes = windowBoards.map((b) => b.bytes);
    return {
      arrivalsPerSecond,
      sliceSeconds,
      rounds,
      without: totals.without,
      with: totals.with,
      snapshots: {
        perClientPerSecondMean:
          perClientRates.reduce((a, b) => a + b, 0) / Math.max(1, perClientRates.length),
        perClientPerSecondMax: Math.max(...perClientRates),
        minBoardGapMs: Math.min(...boardGaps),
        minArrivalGapMs: Math.min(...arrivalGaps),
        bytesMedian: percentile(bytes, 0.5),
        bytesMax: Math.max(...bytes),
        offeredFirst: first ? sum(first, 'offered') : NaN,
        offeredLast: last ? sum(last, 'offered') : NaN,
        answeredFirst: first ? sum(first, 'answered') : NaN,
        answeredLast: last ? sum(last, 'answered') : NaN,
      },
      boardWallMs,
      boardCpuMs,
      firstBoardMs,
      profile,
      arrivals,
      agentErrors,
      firstAgentError,
      serverLog,
    };
  } finally {
    for (const socket of supervisors) socket.disconnect();
    await bed.close();
  }
}

export function printLiveBoardBench(r: LiveBoardBenchResult): void {
  const cores = (t: PhaseTotals, key: 'cpuMs' | 'dbCpuMs' | 'redisCpuMs') => t[key] / t.wallMs;
  const perSecond = (t: PhaseTotals, key: 'ingested' | 'offered' | 'accepted' | 'closed') =>
    (t[key] * 1000) / t.wallMs;
  const row = (measure: string, a: number, b: number, digits: number, unit = '') => ({
    measure,
    'without supervisors': `${fmt(a, digits)}${unit}`,
    [`with ${supervisorCount} supervisors`]: `${fmt(b, digits)}${unit}`,
    difference: `${b - a >= 0 ? '+' : ''}${fmt(b - a, digits)}${unit}`,
  });
  const w = r.without;
  const s = r.with;
  say(
    `${r.rounds} alternating slices of ${r.sliceSeconds}s per phase; target ${r.arrivalsPerSecond} contacts/s; ` +
      (isAnswering
        ? `${agentCount} agents accept and close everything`
        : `${agentCount} agents signed in and away: contacts arrive and wait`),
  );
  printTable([
    row('server process CPU, cores (the dashboard: the difference)', cores(w, 'cpuMs'), cores(s, 'cpuMs'), 3),
    row('Postgres CPU, cores', cores(w, 'dbCpuMs'), cores(s, 'dbCpuMs'), 3),
    row('Redis CPU, cores', cores(w, 'redisCpuMs'), cores(s, 'redisCpuMs'), 3),
    row('contacts ingested per second (achieved)', perSecond(w, 'ingested'), perSecond(s, 'ingested'), 1),
    row('offers per second', perSecond(w, 'offered'), perSecond(s, 'offered'), 1),
    row('accepted per second', perSecond(w, 'accepted'), perSecond(s, 'accepted'), 1),
    row('closed per second', perSecond(w, 'closed'), perSecond(s, 'closed'), 1),
    row('server event loop delay p99 (worst slice)', w.loopDelayP99Ms, s.loopDelayP99Ms, 1, ' ms'),
    row('boards computed (none without supervisors)', w.boards, s.boards, 0),
  ]);
  const sn = r.snapshots;
  // The promise is a board at most once a second: by the boards' `at`, never two within 1000 ms, give or
  // take the millisecond by which a timer and Date.now() may disagree (the actual smallest gap is printed).
  const isPaced = sn.minBoardGapMs >= 999;
  const isMoving = sn.offeredLast > sn.offeredFirst && (!isAnswering || sn.answeredLast > sn.answeredFirst);
  const isRateMet = (s.ingested * 1000) / s.wallMs >= 0.95 * r.arrivalsPerSecond;
  process.stdout.write('\n');
  printTable([
    {
      measure: 'snapshots per supervisor per second (mean / max)',
      value: `${fmt(sn.perClientPerSecondMean, 2)} / ${fmt(sn.perClientPerSecondMax, 2)}`,
      check: `at most 1 a second: ${isPaced ? 'met' : 'MISSED'}`,
    },
    {
      measure: 'gap between boards a supervisor got, smallest (board.at / arrival)',
      value: `${fmt(sn.minBoardGapMs, 0)} ms / ${fmt(sn.minArrivalGapMs, 0)} ms`,
      check: '>= 1000 ms by board.at',
    },
    {
      measure: 'snapshot size, JSON (median / max)',
      value: `${fmt(sn.bytesMedian / 1024, 1)} KB / ${fmt(sn.bytesMax / 1024, 1)} KB`,
      check: '',
    },
    {
      measure: 'board tick wall time per push (median / p99)',
      value: `${fmt(percentile(r.boardWallMs, 0.5), 0)} ms / ${fmt(percentile(r.boardWallMs, 0.99), 0)} ms`,
      check: `${r.boardWallMs.length} boards`,
    },
    {
      measure: 'process CPU during a tick (median / p99; other work included)',
      value: `${fmt(percentile(r.boardCpuMs, 0.5), 0)} ms / ${fmt(percentile(r.boardCpuMs, 0.99), 0)} ms`,
      check: '',
    },
    {
      measure: 'first fresh board after supervisors connect (day read in full)',
      value: r.firstBoardMs
        .map((ms) => (Number.isNaN(ms) ? `> ${freshBoardWaitMs} ms` : `${ms} ms`))
        .join(', '),
      check: '',
    },
    {
      measure: 'offered today on the boards (first / last measured)',
      value: `${sn.offeredFirst} -> ${sn.offeredLast} (answered ${sn.answeredFirst} -> ${sn.answeredLast})`,
      check: `moving: ${isMoving ? 'yes' : 'NO'}`,
    },
    {
      measure: `arrival rate achieved with supervisors (target ${r.arrivalsPerSecond}/s)`,
      value: `${fmt((s.ingested * 1000) / s.wallMs, 1)}/s`,
      check: isRateMet ? 'sustained' : 'NOT SUSTAINED',
    },
  ]);
  const a = r.arrivals;
  say(
    `arrivals in all: ${a.issued} ingested ${a.ingested}, failed ${a.failed}, shed ${a.shed}` +
      `${a.firstError ? ` (first error: ${a.firstError})` : ''}; agent errors ${r.agentErrors}` +
      `${r.firstAgentError ? ` (first: ${r.firstAgentError})` : ''}`,
  );
  say(
    `server log: ${r.serverLog.warnings} lines at warn or above, ${r.serverLog.poolTimeouts} of them ` +
      `Postgres pool timeouts${r.serverLog.first ? ` (first: ${r.serverLog.first})` : ''}`,
  );
  if (r.profile) {
    const p = r.profile;
    say(
      `profile (${profileSeconds}s with supervisors): ${fmt((100 * p.boardSamples) / Math.max(1, p.samples), 1)}% ` +
        `of the server's samples under the live board's code; its top functions (self time):`,
    );
    for (const { fn, share } of p.boardTop.slice(0, 8)) say(`  ${fmt(100 * share, 1)}%  ${fn}`);
    say(`whole process by file of the top frame:`);
    for (const { file, share } of p.byFile.slice(0, 8)) say(`  ${fmt(100 * share, 1)}%  ${file}`);
  }
}

/** The summary's lines (npm run bench): the dashboard's CPU, against the same load with nobody watching. */
export function liveBoardSummary(r: LiveBoardBenchResult): SummaryLine[] {
  // The dashboard's cost is the server's CPU and Postgres's (the board's reads): both, against nobody watching.
  const cores = (t: PhaseTotals) => t.cpuMs / t.wallMs;
  const dbCores = (t: PhaseTotals) => t.dbCpuMs / t.wallMs;
  const signed = (n: number) => `${n >= 0 ? '+' : ''}${fmt(n, 3)}`;
  const achieved = (r.with.ingested * 1000) / r.with.wallMs;
  const isSustained = achieved >= 0.95 * r.arrivalsPerSecond;
  const without = cores(r.without) + dbCores(r.without);
  const withBoard = cores(r.with) + dbCores(r.with);
  return [
    {
      benchmark: 'live board',
      figure: `CPU with ${supervisorCount} supervisors watching, ${fmt(achieved, 0)} contacts/s arriving`,
      value:
        `${signed(cores(r.with) - cores(r.without))} server, ` +
        `${signed(dbCores(r.with) - dbCores(r.without))} Postgres cores`,
      baseline: `${fmt(cores(r.without), 3)} + ${fmt(dbCores(r.without), 3)} cores nobody watching`,
      ratio: fmt(withBoard / without, 2),
      target: `at ${r.arrivalsPerSecond}/s`,
      verdict:
        r.arrivals.failed > 0 || r.agentErrors > 0 ? 'ERRORS' : isSustained ? 'information' : 'NOT SUSTAINED',
    },
    {
      benchmark: 'live board',
      figure: 'snapshots per supervisor per second (max), and boards never closer than 1 s',
      value: fmt(r.snapshots.perClientPerSecondMax, 2),
      baseline: '',
      ratio: '',
      target: '<= 1 a second',
      verdict: r.snapshots.minBoardGapMs >= 999 ? 'met' : 'MISSED',
    },
  ];
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  runLiveBoardBench()
    .then((r) => {
      printLiveBoardBench(r);
      if (r.arrivals.failed || r.agentErrors) process.exitCode = 1;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import twilio from 'twilio';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { benchServices, fmt, printTable, say, type SummaryLine } from './bench-kit.js';

/*
 * npm run bench:voice — Twilio IVR webhook latency at a steady 300 requests/s, beside a bare Fastify route
 * answering fixed TwiML measured in the same run, and the ratio. Target: IVR p99 at most 3 x the bare p99.
 * The ratio is taken over both routes measured in alternating one-second slices (BENCH_SECONDS rounds of
 * each), as the routing bench does: these machines lend and take back CPU by the second, and a phase of
 * either route alone can land in a quiet or a crowded stretch. The separate runs (bare, IVR, bare) are
 * printed too, for information.
 *
 * Server: tests/bench/voice-server.ts, a child process of its own (so that this load generator does not
 * share its event loop): the whole app (buildApp, job worker in process, logger at warn, phone channel on)
 * and, on another port, a bare Fastify instance with @fastify/formbody and one POST route returning a fixed
 * small TwiML document: no signature check, no application work. Postgres runs durable, as in the other
 * benches (BENCH_DURABLE=0 turns that off).
 *
 * Rules: the repository's routing-rules/*.yaml copied to a temp folder, with ivr.yaml replaced by a bench
 * flow without the business-hours step (so the result does not depend on the clock): greeting, language menu
 * (key 1: English), main menu; key 4 says the opening hours and goes on to a second menu whose key 1 returns
 * to the main menu. So a call loops for ever through real turns: turn 1 presses 1, even turns 4, odd turns 1.
 * Every turn is a fresh (CallSid, seq): the IVR runner and the turn's commit in Redis (call-state.ts), which
 * queues the turn's ivr.step events (2 or 3) for the step log to insert into Postgres in batches. No repeated
 * seq is ever sent (that would be a cached answer); afterwards the ivr.step events in Postgres are counted
 * against the turns answered, which proves it.
 *
 * Load: open loop. Request k is due at start + k / rate and is issued then, whatever is still in flight;
 * latency runs from that scheduled instant to the last byte of the response, so a stalled server shows in the
 * tail (the "p99 ms" columns). The latency from the instant the request was actually handed to the HTTP agent
 * is printed beside it ("p99 from send"); the two part when the generator falls behind, or when the IVR has
 * no call free to take the next turn (a call takes its next turn only after its previous answer, as with
 * Twilio). node:http with a keep-alive agent of 64 sockets; Twilio's real parameter set (form-encoded, about
 * 20 fields) and X-Twilio-Signature over PUBLIC_BASE_URL + path + query, the same body for the bare route.
 *
 * Phases, in order: warm-up (50 calls, then 3 s of each route at 300/s), incoming calls (200 calls at
 * 50/s: ingest, the call record, the first turn; measured for information, no target), bare route run 1,
 * IVR turns (round-robin over those 200 calls), bare route run 2: BENCH_SECONDS (default 10) each at 300/s.
 * The ratio is taken against the better bare run (the lower p99: the stricter ratio); both are printed.
 * Every answer must be 200 with TwiML holding the next Gather (the IVR's with seq = N + 1); anything else
 * counts as an error, and a phase with errors says so loudly and the bench exits 1. A missed target prints
 * MISSED and exits 0, like the other benches.
 *
 * Beside the latencies, each measured phase prints the server process's CPU time per request (the whole
 * process over the phase: its background work, such as the job worker and the sweeps, included), its event
 * loop's worst delay, and how busy the whole machine's CPUs were (every process: this generator, the server,
 * Postgres, Redis, and whatever else runs on the machine). This bench alone takes about a third of two cores
 * in the IVR phase; a phase at 70% or more is flagged: other processes competed for the CPUs, and its tail
 * says as much about them as about Switchboard (run it again on a quiet machine).
 *
 * BENCH_VOICE_RATE changes the rate (default 300); BENCH_VOICE_PROFILE=<folder> writes a CPU profile of the
 * server process over the IVR phase as <folder>/voice-ivr.cpuprofile (Chrome DevTools, or speedscope).
 */

export const ratioTarget = 3;
/** Machine CPU use above which a phase is flagged as measured on a crowded machine. */
const crowdedPercent = 70;
const rate = Number(process.env.BENCH_VOICE_RATE ?? 300);
const incomingRate = 50;
const poolCalls = 200;
const warmupCalls = 50;
const warmupSeconds = 3;
const sockets = 64;
const requestTimeoutMs = 10_000;
const authToken = randomBytes(16).toString('hex');
const publicBaseUrl = 'https://switchboard.bench.example';
const dialled = '+18005550100';
const accountSid = `AC${'0'.repeat(32)}`;

// ---- the bench's IVR -----------------------------------------------------------------------------------

const benchIvr = `# Written by tests/bench/voice.bench.ts: the shipped IVR without its hours check, looping for ever.
ivr:
  languages:
    en-US: { voice: Polly.Joanna-Neural }
    es-US: { voice: Polly.Lupe-Neural }
  defaultFlow: main
  holdMusic: http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3
  offerCallback: true
  flows:
    main:
      start: greeting
      steps:
        greeting:
          say:
            en-US: Thank you for calling Example Insurance.
            es-US: Gracias por llamar a Example Insurance.
          sayToKnown:
            en-US: Welcome back to Example Insurance, {{customer.firstName}}.
            es-US: Bienvenido de nuevo a Example Insurance, {{customer.firstName}}.
          next: language
        language:
          menu:
            prompt: For English, press 1. Para español, oprima 2.
            options:
              - { press: '1', say: [english], language: en-US, next: main-menu }
              - { press: '2', say: [español, espanol, spanish], language: es-US, next: main-menu }
            retries: 1
            onFailure: main-menu
        main-menu:
          menu:
            prompt:
              en-US: >-
                For billing, press 1 or say billing. For claims, press 2. For our opening hours and address,
                press 4. To be called back, press 5. For anything else, press 0.
              es-US: >-
                Para facturación, oprima 1. Para reclamos, oprima 2. Para nuestro horario y dirección, oprima 4.
                Para que le llamemos, oprima 5. Para otra cosa, oprima 0.
            options:
              - { press: '1', say: [billing, bill, invoice, payment, facturación, factura], next: to-billing }
              - { press: '2', say: [claim, claims, accident, reclamo], next: to-claims }
              - { press: '4', say: [hours, opening hours, address, horario], next: hours }
              - { press: '5', say: [callback, call me back, llámenme], next: callback }
              - { press: '0', say: [agent, person, representative, operator, agente], next: to-agent }
            retries: 2
        hours:
          say:
            en-US: >-
              We are open Monday to Friday, 8 AM to 6 PM Eastern time. Our address is 100 Main Street,
              Springfield.
            es-US: >-
              Abrimos de lunes a viernes, de 8 a 18 horas, hora del Este. Nuestra dirección es 100 Main Street,
              Springfield.
          next: anything-else
        anything-else:
          menu:
            prompt:
              en-US: To return to the main menu, press 1. To speak to an agent, press 0.
              es-US: Para volver al menú principal, oprima 1. Para hablar con un agente, oprima 0.
            options:
              - { press: '1', say: [menu, main menu], next: main-menu }
              - { press: '0', say: [agent, person, agente], next: to-agent }
            retries: 1
            onFailure: goodbye
        goodbye:
          hangup:
            en-US: Thank you for calling. Goodbye.
            es-US: Gracias por llamar. Adiós.
        to-billing:
          agent: { choice: '1' }
        to-claims:
          agent: { choice: '2' }
        to-agent:
          agent: { choice: '0' }
        callback:
          callback: { choice: '0' }
`;

/** The key a call presses on turn `seq` of the bench flow (see above). */
const digitsFor = (seq: number) => (seq % 2 === 0 ? '4' : '1');
/** ivr.step events a turn logs: incoming 2 (greeting, language menu), then 2 on odd turns, 3 on even. */
const stepsFor = (seq: number) => (seq === 0 ? 2 : seq % 2 === 0 ? 3 : 2);

function writeRules(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-voice-bench-'));
  const shipped = resolve(import.meta.dirname, '../../routing-rules');
  for (const file of readdirSync(shipped))
    if (/\.ya?ml$/.test(file) && file !== 'ivr.yaml') copyFileSync(join(shipped, file), join(dir, file));
  writeFileSync(join(dir, 'ivr.yaml'), benchIvr);
  return dir;
}

// ---- HTTP ----------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

function post(agent: Agent, port: number, path: string, params: Record<string, string>): Promise<Answer> {
  const body = new URLSearchParams(params).toString();
  const signature = twilio.getExpectedTwilioSignature(authToken, `${publicBaseUrl}${path}`, params);
  return new Promise((resolveAnswer, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded; charset=UTF-8',
          'content-length': Buffer.byteLength(body),
          'x-twilio-signature': signature,
          'user-agent': 'TwilioProxy/1.1',
          accept: '*/*',
        },
        timeout: requestTimeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolveAnswer({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---- calls ---------------------------------------------------------------------------------------------

interface Call {
  callSid: string;
  from: string;
  /** The turn the call's next answer belongs to. */
  seq: number;
}

let callNumber = 0;
function newCall(): Call {
  callNumber += 1;
  return {
    callSid: `CA${randomBytes(16).toString('hex')}`,
    from: `+1415555${String(1000 + (callNumber % 9000)).padStart(4, '0')}`,
    seq: 0,
  };
}

/** What Twilio posts with every voice webhook of an inbound call (its usual geographic fields included). */
function twilioParams(call: Call, extra: Record<string, string>): Record<string, string> {
  return {
    AccountSid: accountSid,
    ApiVersion: '2010-04-01',
    CallSid: call.callSid,
    CallStatus: call.seq === 0 ? 'ringing' : 'in-progress',
    Called: dialled,
    CalledCity: '',
    CalledCountry: 'US',
    CalledState: '',
    CalledZip: '',
    Caller: call.from,
    CallerCity: 'SAN FRANCISCO',
    CallerCountry: 'US',
    CallerState: 'CA',
    CallerZip: '94107',
    Direction: 'inbound',
    From: call.from,
    FromCity: 'SAN FRANCISCO',
    FromCountry: 'US',
    FromState: 'CA',
    FromZip: '94107',
    To: dialled,
    ToCity: '',
    ToCountry: 'US',
    ToState: '',
    ToZip: '',
    ...extra,
  };
}

/** The IVR turn's params: the keys the caller pressed, as a Gather posts them. */
const turnParams = (call: Call) =>
  twilioParams(call, { Digits: digitsFor(call.seq), FinishedOnKey: '', msg: 'Gather End' });

/** Checks an answer: 200, XML, and the Gather of turn `nextSeq` (any Gather for the bare route). */
function check(answer: Answer, nextSeq: number | null): string | null {
  if (answer.status !== 200) return `HTTP ${answer.status}: ${answer.body.slice(0, 200)}`;
  if (!answer.contentType.startsWith('text/xml')) return `content-type '${answer.contentType}'`;
  if (!answer.body.includes('<Gather')) return `no <Gather> in ${answer.body.slice(0, 300)}`;
  if (nextSeq !== null && !answer.body.includes(`/webhooks/twilio/voice/ivr?seq=${nextSeq}"`))
    return `no Gather for turn ${nextSeq} in ${answer.body.slice(0, 300)}`;
  return null;
}

/** Calls free to take their next turn, first freed first; a request waits here when none is. */
class CallPool {
  readonly #free: Call[] = [];
  readonly #waiting: ((call: Call | undefined) => void)[] = [];
  size = 0;

  add(call: Call): void {
    this.size += 1;
    this.release(call);
  }

  release(call: Call): void {
    const next = this.#waiting.shift();
    if (next) next(call);
    else this.#free.push(call);
  }

  /** A call that failed a turn leaves the pool: its state is unknown. */
  drop(): void {
    this.size -= 1;
  }

  take(deadline: number): Promise<Call | undefined> {
    const call = this.#free.shift();
    if (call) return Promise.resolve(call);
    return new Promise((resolveCall) => {
      const waiter = (c: Call | undefined) => {
        clearTimeout(timer);
        resolveCall(c);
      };
      const timer = setTimeout(
        () => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          resolveCall(undefined);
        },
        Math.max(0, deadline - performance.now()),
      );
      this.#waiting.push(waiter);
    });
  }
}

// ---- the open loop -------------------------------------------------------------------------------------

export interface PhaseResult {
  name: string;
  /** Requests due in the phase. */
  requests: number;
  ok: number;
  errors: number;
  firstErrors: string[];
  /** Answers per second, from the phase's start to its last answer. */
  perSecond: number;
  /** From the scheduled instant to the last byte of the answer. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** From the instant the request was handed to the HTTP agent. */
  sendP50Ms: number;
  sendP99Ms: number;
  /** The generator's worst lateness (scheduled instant to send, when it was not waiting for a free call). */
  maxLagMs: number;
  /** The whole machine's CPU use over the phase (all processes: ours, Postgres, Redis, and any other). */
  machineBusyPercent: number;
  /** The server process over the phase (voice-server.ts `phase-end`). */
  server?: { cpuMsPerRequest: number; loopDelayP99Ms: number; loopDelayMaxMs: number };
  /** Every answered request's latency from its scheduled instant, sorted (to merge slices). */
  latenciesMs: number[];
  sendLatenciesMs: number[];
}

/** One result from slices of one kind (the interleaved phase): percentiles over all their requests. */
function mergePhases(name: string, slices: readonly PhaseResult[]): PhaseResult {
  const fromDue = slices.flatMap((p) => p.latenciesMs).sort((a, b) => a - b);
  const fromSend = slices.flatMap((p) => p.sendLatenciesMs).sort((a, b) => a - b);
  const sum = (pick: (p: PhaseResult) => number) => slices.reduce((total, p) => total + pick(p), 0);
  return {
    name,
    requests: sum((p) => p.requests),
    ok: sum((p) => p.ok),
    errors: sum((p) => p.errors),
    firstErrors: slices.flatMap((p) => p.firstErrors).slice(0, 3),
    perSecond: sum((p) => p.perSecond) / Math.max(1, slices.length),
    p50Ms: percentile(fromDue, 0.5),
    p99Ms: percentile(fromDue, 0.99),
    maxMs: fromDue.at(-1) ?? NaN,
    sendP50Ms: percentile(fromSend, 0.5),
    sendP99Ms: percentile(fromSend, 0.99),
    maxLagMs: Math.max(...slices.map((p) => p.maxLagMs)),
    machineBusyPercent: sum((p) => p.machineBusyPercent) / Math.max(1, slices.length),
    latenciesMs: fromDue,
    sendLatenciesMs: fromSend,
  };
}

/** CPU time of the whole machine so far: busy and total, in ms, over all cores. */
function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

const percentile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * Issues `count` requests at `perSecond`, each at its scheduled instant without waiting for earlier ones.
 * `issue` sends request k and returns when it was sent and what went wrong (null: a good answer).
 */
async function openLoop(
  name: string,
  perSecond: number,
  count: number,
  issue: (k: number, dueAt: number) => Promise<{ sentAt: number; problem: string | null }>,
  isQuiet = false,
): Promise<PhaseResult> {
  const fromDue: number[] = [];
  const fromSend: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let maxLagMs = 0;
  let lastDone = 0;
  const interval = 1000 / perSecond;
  const started = performance.now() + 5;
  const cpuBefore = machineCpu();
  const pending: Promise<void>[] = [];
  for (let k = 0; k < count; k++) {
    const dueAt = started + k * interval;
    const wait = dueAt - performance.now();
    if (wait >= 1) await sleep(wait);
    maxLagMs = Math.max(maxLagMs, performance.now() - dueAt);
    pending.push(
      issue(k, dueAt).then(
        ({ sentAt, problem }) => {
          const done = performance.now();
          lastDone = Math.max(lastDone, done);
          if (problem === null) {
            // A timer may wake the loop up to a millisecond early: such a request counts from its send.
            fromDue.push(done - Math.min(dueAt, sentAt));
            fromSend.push(done - sentAt);
          } else {
            errors += 1;
            if (firstErrors.length < 3) firstErrors.push(problem);
          }
        },
        (error: unknown) => {
          lastDone = Math.max(lastDone, performance.now());
          errors += 1;
          if (firstErrors.length < 3)
            firstErrors.push(error instanceof Error ? error.message : String(error));
        },
      ),
    );
  }
  await Promise.all(pending);
  const cpuAfter = machineCpu();
  fromDue.sort((a, b) => a - b);
  fromSend.sort((a, b) => a - b);
  const result: PhaseResult = {
    name,
    requests: count,
    ok: fromDue.length,
    errors,
    firstErrors,
    perSecond: fromDue.length / ((lastDone - started) / 1000),
    p50Ms: percentile(fromDue, 0.5),
    p99Ms: percentile(fromDue, 0.99),
    maxMs: fromDue.at(-1) ?? NaN,
    sendP50Ms: percentile(fromSend, 0.5),
    sendP99Ms: percentile(fromSend, 0.99),
    maxLagMs,
    machineBusyPercent:
      (100 * (cpuAfter.busy - cpuBefore.busy)) / Math.max(1, cpuAfter.total - cpuBefore.total),
    latenciesMs: fromDue,
    sendLatenciesMs: fromSend,
  };
  if (isQuiet) return result;
  say(
    `${name}: ${result.ok}/${count} ok at ${fmt(result.perSecond, 0)}/s, p50 ${fmt(result.p50Ms, 2)} ms, ` +
      `p99 ${fmt(result.p99Ms, 2)} ms, max ${fmt(result.maxMs, 1)} ms (from send: p50 ` +
      `${fmt(result.sendP50Ms, 2)}, p99 ${fmt(result.sendP99Ms, 2)}); generator's worst lag ` +
      `${fmt(maxLagMs, 1)} ms; machine CPU ${fmt(result.machineBusyPercent, 0)}% busy`,
  );
  if (errors > 0)
    say(`!!! ${name}: ${errors} ERRORS !!! first: ${firstErrors.map((e) => JSON.stringify(e)).join('; ')}`);
  return result;
}

interface Phases {
  incoming(name: string, perSecond: number, count: number, pool: CallPool): Promise<PhaseResult>;
  bare(name: string, seconds: number, isQuiet?: boolean): Promise<PhaseResult>;
  ivr(name: string, seconds: number, pool: CallPool, isQuiet?: boolean): Promise<PhaseResult>;
}

function phases(agent: Agent, port: number, barePort: number, turns: Map<number, number>): Phases {
  const countTurn = (seq: number) => turns.set(seq, (turns.get(seq) ?? 0) + 1);
  // One caller for the bare route's requests: the same parameters and signature header, on a fixed turn.
  const bareCall = { ...newCall(), seq: 1 };
  return {
    incoming: (name, perSecond, count, pool) =>
      openLoop(name, perSecond, count, async () => {
        const call = newCall();
        const sentAt = performance.now();
        const answer = await post(agent, port, '/webhooks/twilio/voice/incoming', twilioParams(call, {}));
        const problem = check(answer, 1);
        if (problem === null) {
          countTurn(0);
          call.seq = 1;
          pool.add(call);
        }
        return { sentAt, problem };
      }),
    bare: (name, seconds, isQuiet = false) =>
      openLoop(
        name,
        rate,
        Math.round(rate * seconds),
        async () => {
          const sentAt = performance.now();
          const answer = await post(agent, barePort, '/twiml', turnParams(bareCall));
          return { sentAt, problem: check(answer, null) };
        },
        isQuiet,
      ),
    ivr: (name, seconds, pool, isQuiet = false) => {
      const count = Math.round(rate * seconds);
      const deadline = performance.now() + seconds * 1000 + requestTimeoutMs;
      return openLoop(
        name,
        rate,
        count,
        async () => {
          const call = await pool.take(deadline);
          const sentAt = performance.now();
          if (!call) return { sentAt, problem: 'no call free to take a turn' };
          const seq = call.seq;
          try {
            const answer = await post(agent, port, `/webhooks/twilio/voice/ivr?seq=${seq}`, turnParams(call));
            const problem = check(answer, seq + 1);
            if (problem === null) {
              countTurn(seq);
              call.seq = seq + 1;
              pool.release(call);
            } else pool.drop();
            return { sentAt, problem };
          } catch (error) {
            pool.drop();
            throw error;
          }
        },
        isQuiet,
      );
    },
  };
}

// ---- the bench -----------------------------------------------------------------------------------------

export interface VoiceBenchResult {
  rate: number;
  incoming: PhaseResult;
  bare: [PhaseResult, PhaseResult];
  ivr: PhaseResult;
  /** The better of the two separate bare runs (information). */
  bareBest: PhaseResult;
  /** The headline: both routes in alternating one-second slices. */
  interleaved: { bare: PhaseResult; ivr: PhaseResult };
  /** Interleaved IVR p99 (p50) over interleaved bare p99 (p50). */
  p99Ratio: number;
  p50Ratio: number;
  stepEvents: { expected: number; found: number };
  profile: string | undefined;
}

export async function runVoiceBench(seconds: number): Promise<VoiceBenchResult> {
  const { config: baseConfig, stop } = await benchServices();
  const rulesDir = writeRules();
  let server: WorkerProcess | undefined;
  let handle: ReturnType<typeof openDatabase> | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  try {
    const config = { ...baseConfig, routingRulesDir: rulesDir, watchRoutingRules: false };
    handle = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
    say('migrating a fresh schema');
    await migrateToLatest(handle.db, handle.pool, config.databaseSchema);

    server = startWorkerProcess(new URL('./voice-server.ts', import.meta.url), config, 60_000);
    server.send(`start ${JSON.stringify({ authToken, publicBaseUrl })}`);
    const { port, barePort, pid } = JSON.parse(await server.expectLine('ready')) as {
      port: number;
      barePort: number;
      pid: number;
    };
    say(`server process ${pid}: app on port ${port}, bare route on port ${barePort}`);
    say(
      `open loop at ${rate}/s, ${sockets} keep-alive sockets; latency from each request's scheduled ` +
        'instant to its full answer (and from its send)',
    );

    const turns = new Map<number, number>();
    const run = phases(agent, port, barePort, turns);
    const worker = server;
    /** A measured phase, with the server process's CPU and event loop delay over it. */
    const measured = async (phase: () => Promise<PhaseResult>): Promise<PhaseResult> => {
      worker.send('phase-start');
      await worker.expectLine('phase-started');
      const result = await phase();
      worker.send('phase-end');
      const stats = JSON.parse(await worker.expectLine('phase')) as {
        cpuMs: number;
        loopDelayP99Ms: number;
        loopDelayMaxMs: number;
      };
      result.server = {
        cpuMsPerRequest: stats.cpuMs / Math.max(1, result.requests),
        loopDelayP99Ms: stats.loopDelayP99Ms,
        loopDelayMaxMs: stats.loopDelayMaxMs,
      };
      say(
        `  server process: ${fmt(result.server.cpuMsPerRequest, 3)} ms CPU per request; event loop delay ` +
          `p99 ${fmt(stats.loopDelayP99Ms, 1)} ms, max ${fmt(stats.loopDelayMaxMs, 1)} ms`,
      );
      return result;
    };

    say(`warm-up: ${warmupCalls} calls, then ${warmupSeconds} s of each route`);
    const warmPool = new CallPool();
    await run.incoming('warm-up incoming', 25, warmupCalls, warmPool);
    await run.bare('warm-up bare', warmupSeconds);
    await run.ivr('warm-up IVR', warmupSeconds, warmPool);

    say(`incoming calls: ${poolCalls} at ${incomingRate}/s (these calls take the IVR turns below)`);
    const pool = new CallPool();
    const incoming = await measured(() =>
      run.incoming(`incoming call (${incomingRate}/s)`, incomingRate, poolCalls, pool),
    );

    say(`bare route, run 1: ${seconds} s at ${rate}/s`);
    const bare1 = await measured(() => run.bare('bare Fastify route, run 1', seconds));

    const profileDir = process.env.BENCH_VOICE_PROFILE;
    let profile: string | undefined;
    if (profileDir) {
      server.send('profile-start');
      await server.expectLine('profiling');
    }
    say(`IVR turns: ${seconds} s at ${rate}/s, round-robin over ${pool.size} open calls`);
    const ivr = await measured(() => run.ivr(`IVR turn (${pool.size} calls)`, seconds, pool));
    if (profileDir) {
      server.send(`profile-stop ${resolve(profileDir, 'voice-ivr.cpuprofile')}`);
      profile = await server.expectLine('profiled');
      say(`CPU profile of the server over the IVR phase: ${profile}`);
    }

    say(`bare route, run 2: ${seconds} s at ${rate}/s`);
    const bare2 = await measured(() => run.bare('bare Fastify route, run 2', seconds));

    // The headline: the two routes in alternating one-second slices, so that the machine's noise (these
    // machines lend and take back CPU by the second) falls on both alike.
    say(
      `interleaved: ${seconds} rounds of 1 s bare, then 1 s IVR, at ${rate}/s (after one round not counted)`,
    );
    const bareSlices: PhaseResult[] = [];
    const ivrSlices: PhaseResult[] = [];
    // A first round, not counted: the switch from the separate phases (the generator's lag shows there).
    await run.bare('bare slice', 1, true);
    await run.ivr('IVR slice', 1, pool, true);
    for (let round = 0; round < seconds; round++) {
      bareSlices.push(await run.bare('bare slice', 1, true));
      ivrSlices.push(await run.ivr('IVR slice', 1, pool, true));
      // BENCH_VOICE_SLICES=1: every slice's figures, to see where a tail comes from.
      if (process.env.BENCH_VOICE_SLICES === '1')
        for (const slice of [bareSlices.at(-1)!, ivrSlices.at(-1)!])
          say(
            `  ${slice.name}: p50 ${fmt(slice.p50Ms, 2)} p99 ${fmt(slice.p99Ms, 2)} max ${fmt(slice.maxMs, 1)} lag ${fmt(slice.maxLagMs, 1)} busy ${fmt(slice.machineBusyPercent, 0)}%`,
          );
    }
    const bareInterleaved = mergePhases('bare route, interleaved', bareSlices);
    const ivrInterleaved = mergePhases(`IVR turn, interleaved`, ivrSlices);
    for (const p of [bareInterleaved, ivrInterleaved])
      say(
        `${p.name}: ${p.ok}/${p.requests} ok, p50 ${fmt(p.p50Ms, 2)} ms, p99 ${fmt(p.p99Ms, 2)} ms, max ` +
          `${fmt(p.maxMs, 1)} ms; machine CPU ${fmt(p.machineBusyPercent, 0)}% busy`,
      );

    // Every answered turn must have run the IVR: its ivr.step events are in Postgres.
    // The step log lags the calls by a batch (channels/phone/step-log.ts: ~100 ms, more on a busy
    // machine): counted until it is complete, or has not grown for two seconds.
    const expected = [...turns].reduce((sum, [seq, n]) => sum + n * stepsFor(seq), 0);
    const db = handle.db;
    const countSteps = async () => {
      const { rows } = await sql<{ n: string }>`
        select count(*) as n from interaction_events where type = 'ivr.step'`.execute(db);
      return Number(rows[0]?.n ?? 0);
    };
    let found = await countSteps();
    for (let still = 0; found < expected && still < 2000; still += 100) {
      await sleep(100);
      const now = await countSteps();
      if (now > found) still = 0;
      found = now;
    }
    say(`ivr.step events in Postgres: ${found}, expected ${expected} from the turns answered`);

    await server.stop();
    server = undefined;
    await sql`drop schema ${sql.id(config.databaseSchema)} cascade`.execute(handle.db);

    const bareBest = bare1.p99Ms <= bare2.p99Ms ? bare1 : bare2;
    return {
      rate,
      incoming,
      bare: [bare1, bare2],
      ivr,
      bareBest,
      interleaved: { bare: bareInterleaved, ivr: ivrInterleaved },
      p99Ratio: ivrInterleaved.p99Ms / bareInterleaved.p99Ms,
      p50Ratio: ivrInterleaved.p50Ms / bareInterleaved.p50Ms,
      stepEvents: { expected, found },
      profile,
    };
  } finally {
    await server?.stop().catch(() => undefined);
    await handle?.close();
    agent.destroy();
    rmSync(rulesDir, { recursive: true, force: true });
    await stop();
  }
}

/** Errors anywhere, or turns whose IVR work is not in Postgres. */
export const voiceIsWrong = (r: VoiceBenchResult) =>
  [r.incoming, ...r.bare, r.ivr, r.interleaved.bare, r.interleaved.ivr].some((p) => p.errors > 0) ||
  r.stepEvents.found !== r.stepEvents.expected;

export function voiceRows(r: VoiceBenchResult) {
  const row = (p: PhaseResult, ratio: string, target = '', verdict = '') => ({
    phase: p.name,
    requests: p.requests,
    'achieved rps': fmt(p.perSecond, 0),
    'p50 ms': fmt(p.p50Ms, 2),
    'p99 ms': fmt(p.p99Ms, 2),
    'max ms': fmt(p.maxMs, 1),
    'p99 from send': fmt(p.sendP99Ms, 2),
    'server cpu ms/req': fmt(p.server?.cpuMsPerRequest ?? NaN, 3),
    'machine busy': `${fmt(p.machineBusyPercent, 0)}%`,
    errors: p.errors > 0 ? `${p.errors} ERRORS` : '0',
    'p99 vs bare': ratio,
    target,
    verdict,
  });
  const isMet = r.p99Ratio <= ratioTarget;
  const { bare, ivr } = r.interleaved;
  return [
    row(bare, '1.00'),
    row(
      ivr,
      fmt(r.p99Ratio, 2),
      `p99 <= ${ratioTarget} x bare`,
      ivr.errors > 0 ? 'ERRORS' : isMet ? 'met' : 'MISSED',
    ),
    row(r.bare[0], fmt(r.bare[0].p99Ms / bare.p99Ms, 2), 'information'),
    row(r.ivr, fmt(r.ivr.p99Ms / r.bareBest.p99Ms, 2), 'information (vs the better bare run)'),
    row(r.bare[1], fmt(r.bare[1].p99Ms / bare.p99Ms, 2), 'information'),
    row(r.incoming, fmt(r.incoming.p99Ms / bare.p99Ms, 2), 'information'),
  ];
}

/** The lines under the table: the ratios, against each bare run. */
export function voiceSummary(r: VoiceBenchResult): string[] {
  const against = (b: PhaseResult) =>
    `p99 x${fmt(r.ivr.p99Ms / b.p99Ms, 2)}, p50 x${fmt(r.ivr.p50Ms / b.p50Ms, 2)}`;
  return [
    `IVR p99 / bare p99 = ${fmt(r.p99Ratio, 2)} (target <= ${ratioTarget}: ` +
      `${r.p99Ratio <= ratioTarget ? 'met' : 'MISSED'}); IVR p50 / bare p50 = ${fmt(r.p50Ratio, 2)}`,
    "  both routes in alternating one-second slices (the machine's noise falls on both alike)",
    `  the separate IVR run against the separate bare runs: run 1: ${against(r.bare[0])}; run 2: ${against(r.bare[1])}`,
    `  latencies from each request's scheduled instant at ${r.rate}/s (open loop); "p99 from send" from ` +
      'the moment it was handed to the HTTP agent',
    `  ivr.step events in Postgres: ${r.stepEvents.found} of ${r.stepEvents.expected} expected` +
      (r.stepEvents.found === r.stepEvents.expected ? ' (every turn ran the IVR)' : ' !!! MISMATCH !!!'),
    ...[...r.bare, r.ivr]
      .filter((p) => p.machineBusyPercent >= crowdedPercent)
      .map(
        (p) =>
          `  ! ${p.name}: the machine's CPUs were ${fmt(p.machineBusyPercent, 0)}% busy (this bench alone ` +
          'takes about a third at 300/s): other processes competed, and its tail is theirs as much as ours',
      ),
  ];
}

/** The summary's line (npm run bench): the IVR's p99 against fixed TwiML's, in alternating slices. */
export function voiceSummaryLines(r: VoiceBenchResult): SummaryLine[] {
  const { bare, ivr } = r.interleaved;
  return [
    {
      benchmark: 'voice',
      figure: `IVR turn p99 at ${r.rate}/s (signed Twilio webhooks)`,
      value: `${fmt(ivr.p99Ms, 2)} ms`,
      baseline: `${fmt(bare.p99Ms, 2)} ms bare fixed TwiML`,
      ratio: fmt(r.p99Ratio, 2),
      target: `<= ${ratioTarget} x bare`,
      verdict: voiceIsWrong(r) ? 'ERRORS' : r.p99Ratio <= ratioTarget ? 'met' : 'MISSED',
    },
  ];
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  runVoiceBench(seconds)
    .then((r) => {
      process.stdout.write('\n');
      printTable(voiceRows(r));
      for (const line of voiceSummary(r)) say(line);
      if (voiceIsWrong(r)) {
        say('!!! ERRORS: see above; the figures of a phase with errors do not count !!!');
        process.exitCode = 1;
      }
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

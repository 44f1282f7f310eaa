import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { io, type Socket } from 'socket.io-client';
import { createSessionStore } from '../../src/agents/session.store.js';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { AckResult, AgentRequestResults, OfferPush } from '../../src/realtime/agent-events.js';
import { randomFrom } from '../support/agent-simulator.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { benchServices, say } from './bench-kit.js';

/*
 * The bed of the benchmarks that load a whole server process (live-board.bench.ts, soak.bench.ts): a fresh
 * schema, the bench's rules, agents (available) and supervisors with sessions, the server process
 * (live-board-server.ts: arrivals in-process), and the agents connected to /agent from this process, each
 * accepting every offer on its socket and closing the contact over HTTP after a short hold.
 */

export function connected<T extends Socket>(socket: T): Promise<T> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** CPU time, in ms, of a process and (with `andChildrenOf`) of every process whose parent it is, from /proc. */
export function procCpuMs(pid: number | undefined, andChildrenOf = false): number {
  if (pid === undefined) return NaN;
  let ticks = 0;
  for (const entry of andChildrenOf ? readdirSync('/proc') : [String(pid)]) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[1] is the parent pid; fields[11..12] are utime and stime in clock ticks (USER_HZ 100).
      if (entry !== String(pid) && fields[1] !== String(pid)) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks * 10;
}

/**
 * The benches' routing rules: four always-open queues fed by keyword (the arrivals' topics,
 * live-board-server.ts), no wrap-up, offers that wait a minute. `supportChannels` adds channels to the
 * default queue (the soak's calls reach it as voice).
 */
export function boardBedRules(supportChannels: readonly string[] = []): string {
  return `
queues:
  - { name: billing, strategy: skills, skills: { billing: 1 }, channels: [email, chat, fax], wrapUpSeconds: 0, serviceLevelSeconds: 30 }
  - { name: sales, strategy: least-busy, channels: [email, chat, fax], wrapUpSeconds: 0 }
  - { name: claims, strategy: longest-idle, skills: { claims: 1 }, channels: [email, chat, fax], wrapUpSeconds: 0, serviceLevelSeconds: 60 }
  - { name: support, strategy: round-robin, channels: [${[...supportChannels, 'email', 'chat', 'fax'].join(', ')}], wrapUpSeconds: 0 }
rules:
  - { name: billing, when: { keywords: invoice }, queue: billing, priority: 10 }
  - { name: sales, when: { keywords: upgrade }, queue: sales, priority: 5 }
  - { name: claims, when: { keywords: claim }, queue: claims, priority: 10 }
  - { name: default, queue: support, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 20 }
  email: { max: 20 }
  fax: { max: 20 }
options:
  offerTimeoutSeconds: 60
`;
}

export interface BoardBedOptions {
  name: string;
  /** Rule files of the bench, by name. */
  ruleFiles: Record<string, string>;
  agentCount: number;
  supervisorCount: number;
  /**
   * `available` (the agents take every offer) or `away` (signed in, on the supervisors' board, taking
   * nothing: contacts only arrive and wait).
   */
  agentState: 'available' | 'away';
  /** How long an agent holds a contact before closing it, in ms: [least, most]. */
  holdMs: [number, number];
  /** Flags for the server's node (`--expose-gc`) and more environment (a provider's secrets). */
  server?: { nodeArgs?: string[]; env?: Record<string, string> };
}

export interface BoardBed {
  config: Config;
  server: WorkerProcess;
  /** http://127.0.0.1:port of the server process. */
  base: string;
  supervisorCookies: string[];
  agentCookies: string[];
  /** Postgres's postmaster and Redis's process, when they run on this machine. */
  postmasterPid: number | undefined;
  redisPid: number | undefined;
  /** The server's log file (pino JSON lines at warn and above). */
  logFile: string;
  /** A query on the bench's database (two connections), e.g. for pg_stat_statements. */
  query<R extends object>(text: string): Promise<R[]>;
  agentErrors(): { count: number; first: string | null };
  /** Agents stop answering; the server stops; the schema goes. The services stop with `close()`. */
  stopLoad(): Promise<void>;
  close(): Promise<void>;
}

export async function startBoardBed(options: BoardBedOptions): Promise<BoardBed> {
  const { config: baseConfig, stop } = await benchServices();
  const rulesDir = mkdtempSync(join(tmpdir(), `switchboard-${options.name}-bench-`));
  const logFile = join(rulesDir, 'server.log');
  const agents: Socket[] = [];
  let server: WorkerProcess | undefined;
  let isRunning = true;
  let handle: ReturnType<typeof openDatabase> | undefined;
  const cleanUp = async () => {
    isRunning = false;
    for (const agent of agents) agent.disconnect();
    await server?.stop().catch(() => undefined);
    server = undefined;
    if (handle) {
      await sql`drop schema if exists ${sql.id(config.databaseSchema)} cascade`
        .execute(handle.db)
        .catch(() => undefined);
      await handle.close();
      handle = undefined;
    }
  };
  const config = { ...baseConfig, routingRulesDir: rulesDir, routeOnIngest: true };
  try {
    for (const [file, text] of Object.entries(options.ruleFiles)) writeFileSync(join(rulesDir, file), text);
    handle = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
    say('migrating a fresh schema');
    await migrateToLatest(handle.db, handle.pool, config.databaseSchema);

    say(
      `creating ${options.agentCount} agents (${options.agentState}) and ${options.supervisorCount} supervisors`,
    );
    const { app: setupApp, services } = await buildApp({ config, isWorker: false });
    const redis = new Redis(config.redisUrl!);
    const sessions = createSessionStore(redis, config.redisPrefix, 24 * 3600);
    const agentCookies: string[] = [];
    const supervisorCookies: string[] = [];
    let redisPid: number | undefined;
    try {
      for (let i = 0; i < options.agentCount; i++) {
        const agent = await services.repositories.agents.create({
          email: `agent${i}@${options.name}-bench.test`,
          displayName: `Agent ${i}`,
          role: 'agent',
          passwordHash: 'not-a-real-hash',
          skills: { ...(i % 2 === 0 && { billing: 2 }), ...(i % 3 === 0 && { claims: 2 }) },
          capacity: {},
        });
        await services.agentStates.setState(
          agent.id,
          options.agentState,
          options.agentState === 'away' ? 'Training' : null,
        );
        agentCookies.push(`sb_session=${await sessions.create(agent.id)}`);
      }
      for (let i = 0; i < options.supervisorCount; i++) {
        const supervisor = await services.repositories.agents.create({
          email: `supervisor${i}@${options.name}-bench.test`,
          displayName: `Supervisor ${i}`,
          role: 'supervisor',
          passwordHash: 'not-a-real-hash',
          skills: {},
          capacity: {},
        });
        supervisorCookies.push(`sb_session=${await sessions.create(supervisor.id)}`);
      }
      const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
      redisPid = Number.isFinite(pid) && readdirSync('/proc').includes(String(pid)) ? pid : undefined;
    } finally {
      redis.disconnect();
      await setupApp.close();
    }
    const postmasterPid = await (async () => {
      const { rows } = await handle.pool.query<{ pid: number }>('select pg_backend_pid() as pid');
      try {
        const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      } catch {
        return undefined; // Postgres runs elsewhere.
      }
    })();

    server = startWorkerProcess(new URL('./live-board-server.ts', import.meta.url), config, 180_000, {
      ...options.server,
    });
    server.send(`start ${logFile}`);
    const { port } = JSON.parse(await server.expectLine('ready')) as { port: number; pid: number };
    const base = `http://127.0.0.1:${port}`;
    say(`server process on ${base}`);

    // Agents: accept every offer on the socket, close the contact over HTTP after a short hold.
    let agentErrors = 0;
    let firstAgentError: string | null = null;
    const fail = (what: string) => {
      agentErrors += 1;
      firstAgentError ??= what;
    };
    const [leastHold, mostHold] = options.holdMs;
    for (const [i, cookie] of agentCookies.entries()) {
      const random = randomFrom(1000 + i);
      const agent = await connected(
        io(`${base}/agent`, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          extraHeaders: { cookie },
        }),
      );
      agents.push(agent);
      agent.on('offer', (offer: OfferPush) => {
        void (async () => {
          const answer = (await agent
            .timeout(10_000)
            .emitWithAck('offer:accept', { offerId: offer.offerId })) as AckResult<
            AgentRequestResults['offer:accept']
          >;
          if (!answer.ok) return fail(`accept: ${answer.error.code} ${answer.error.message}`);
          await sleep(leastHold + random() * (mostHold - leastHold));
          if (!isRunning) return;
          const response = await fetch(`${base}/api/interactions/${offer.interactionId}/close`, {
            method: 'POST',
            headers: { cookie, 'content-type': 'application/json' },
            body: '{}',
          });
          if (response.status !== 204) fail(`close: ${response.status} ${await response.text()}`);
        })().catch((error: unknown) => isRunning && fail(String(error)));
      });
    }

    return {
      config,
      server,
      base,
      supervisorCookies,
      agentCookies,
      postmasterPid,
      redisPid,
      logFile,
      agentErrors: () => ({ count: agentErrors, first: firstAgentError }),
      query: async <R extends object>(text: string) => {
        if (!handle) throw new Error('the bench bed is stopped');
        return (await handle.pool.query<R>(text)).rows;
      },
      stopLoad: cleanUp,
      close: async () => {
        await cleanUp();
        rmSync(rulesDir, { recursive: true, force: true });
        await stop();
      },
    };
  } catch (error) {
    await cleanUp();
    rmSync(rulesDir, { recursive: true, force: true });
    await stop();
    throw error;
  }
}

/** The server's log at warn and above: how many lines, the first, and Postgres pool waits that timed out. */
export function serverLogOf(logFile: string): {
  warnings: number;
  first: string | null;
  poolTimeouts: number;
} {
  const logLines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  return {
    warnings: logLines.length,
    first: logLines[0] ? ((JSON.parse(logLines[0]) as { msg?: string }).msg ?? '') : null,
    poolTimeouts: logLines.filter((l) => l.includes('timeout exceeded when trying to connect')).length,
  };
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { io, type Socket } from 'socket.io-client';
import { createSessionStore } from '../../src/agents/session.store.js';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { startWorkerProcess } from '../support/worker-process.js';
import { benchServices, fmt, printTable, say, type SummaryLine } from './bench-kit.js';

/*
 * npm run bench:chat — web chat's two promises, measured against a server process of its own
 * (tests/bench/chat-server.ts: the whole app, routing on ingest, the job worker, Postgres durable):
 *
 * Latency: 200 visitors, each in a conversation an agent has accepted (20 agents, 10 chats each, all
 * connected to /agent), send a message every 2 s, staggered: 100 messages/s in all for BENCH_SECONDS. Each
 * is timed from the visitor's `message:send` to the `interaction:event` (message.received) on the agent's
 * socket: ingest, the commit, the domain event, the Redis adapter, both websockets. Baseline in the same run:
 * a bare socket.io server on the same kind of Redis adapter relaying the same number of messages from 200
 * clients to 20 others' rooms, with no application work (the floor for any socket.io design). Target: p99 at
 * most 15 ms.
 *
 * Memory: the server's heap and RSS (after a full collection, read by the server process itself) with no
 * widget connected, then with 5,000 idle widgets connected (websocket, handshake done, `chat:session`
 * received, no chat started), per connection. Target: at most 50 KB per idle connection (RSS and heap).
 *
 * A missed target prints MISSED and exits 0, like the other benches; errors exit 1.
 */

export const latencyTargetMs = 15;
export const memoryTargetKb = 50;
const visitorCount = 200;
const agentCount = 20;
const chatsPerAgent = 10;
const messageEveryMs = 2000;
const idleConnections = 5000;

type AnySocket = Socket;

function connect(url: string, options: Parameters<typeof io>[1]): Promise<AnySocket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => reject(error));
  });
}

function emitWithAck<T>(socket: AnySocket, event: string, payload: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    socket.timeout(10_000).emit(event, payload, (error: Error | null, answer: { ok: boolean } & T) => {
      if (error) reject(error);
      else if (!answer.ok) reject(new Error(`${event}: ${JSON.stringify(answer)}`));
      else resolve(answer);
    });
  });
}

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length };
}

export interface ChatBenchResult {
  baseline: ReturnType<typeof percentiles>;
  chat: ReturnType<typeof percentiles> & { sent: number; errors: number };
  memory: { idleHeap: number; idleRss: number; perConnectionHeapKb: number; perConnectionRssKb: number };
}

export async function runChatBench(seconds: number): Promise<ChatBenchResult> {
  const { config: baseConfig, stop } = await benchServices();
  const rulesDir = mkdtempSync(join(tmpdir(), 'switchboard-chat-bench-'));
  const sockets: AnySocket[] = [];
  let server: ReturnType<typeof startWorkerProcess> | undefined;
  try {
    writeFileSync(
      join(rulesDir, 'rules.yaml'),
      [
        'queues:',
        '  - { name: chat, strategy: least-busy, channels: [chat] }',
        'rules:',
        '  - { name: default, queue: chat, priority: 0 }',
        'capacity:',
        '  voice: { max: 1, exclusive: true }',
        `  chat: { max: ${chatsPerAgent} }`,
        '  email: { max: 5 }',
        '  fax: { max: 5 }',
        'options:',
        '  offerTimeoutSeconds: 600',
        '',
      ].join('\n'),
    );
    const config = { ...baseConfig, routingRulesDir: rulesDir };
    const handle = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 4 });
    say('migrating a fresh schema');
    await migrateToLatest(handle.db, handle.pool, config.databaseSchema);

    // Agents and their sessions, made by an app of our own that serves nothing.
    say(`creating ${agentCount} agents (chat capacity ${chatsPerAgent})`);
    const { app: setupApp, services } = await buildApp({ config, isWorker: false });
    const redis = new Redis(config.redisUrl!);
    const sessions = createSessionStore(redis, config.redisPrefix, 3600);
    const cookies: string[] = [];
    for (let i = 0; i < agentCount; i++) {
      const agent = await services.repositories.agents.create({
        email: `agent${i}@chat-bench.test`,
        displayName: `Agent ${i}`,
        role: 'agent',
        passwordHash: 'not-a-real-hash',
        skills: {},
        capacity: {},
      });
      await services.agentStates.setState(agent.id, 'available');
      cookies.push(`sb_session=${await sessions.create(agent.id)}`);
    }
    await setupApp.close();
    redis.disconnect();

    server = startWorkerProcess(new URL('./chat-server.ts', import.meta.url), config, 60_000);
    server.send('start');
    const { port, relayPort } = JSON.parse(await server.expectLine('ready')) as {
      port: number;
      relayPort: number;
    };
    const base = `http://127.0.0.1:${port}`;
    say(`server process on ${base}; bare relay on port ${relayPort}`);

    // Agents accept every offer and note when each visitor message reaches them.
    const receivedAt = new Map<string, number>();
    let accepted = 0;
    for (const cookie of cookies) {
      const agent = await connect(`${base}/agent`, { extraHeaders: { cookie } });
      sockets.push(agent);
      agent.on('offer', (offer: { offerId: string }) => {
        emitWithAck(agent, 'offer:accept', { offerId: offer.offerId }).then(
          () => (accepted += 1),
          (error: unknown) => say(`accept failed: ${String(error)}`),
        );
      });
      agent.on('interaction:event', (event: { type: string; eventId: string | null }) => {
        if (event.type === 'message.received' && event.eventId)
          receivedAt.set(event.eventId, performance.now());
      });
    }

    say(`${visitorCount} visitors start a chat; the agents accept them`);
    const visitors: AnySocket[] = [];
    for (let start = 0; start < visitorCount; start += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, visitorCount - start) }, async (_, k) => {
          const visitor = await connect(`${base}/chat`, { auth: { widgetId: 'default' } });
          await emitWithAck(visitor, 'chat:start', { name: `Visitor ${start + k}` });
          await emitWithAck(visitor, 'message:send', { clientId: `first-${start + k}`, text: 'Hello' });
          return visitor;
        }),
      );
      visitors.push(...batch);
    }
    sockets.push(...visitors);
    for (let waited = 0; accepted < visitorCount && waited < 30_000; waited += 50) await sleep(50);
    if (accepted < visitorCount) throw new Error(`only ${accepted}/${visitorCount} chats were accepted`);

    // Latency: each visitor every 2 s, staggered evenly.
    say(`latency: ${(visitorCount * 1000) / messageEveryMs} messages/s for ${seconds}s`);
    const sentAt = new Map<string, number>();
    let sent = 0;
    let errors = 0;
    const started = performance.now();
    const total = Math.floor((seconds * 1000 * visitorCount) / messageEveryMs);
    const interval = messageEveryMs / visitorCount;
    const pending: Promise<void>[] = [];
    for (let k = 0; k < total; k++) {
      const wait = started + k * interval - performance.now();
      if (wait > 1) await sleep(wait);
      const visitor = visitors[k % visitorCount]!;
      const at = performance.now();
      sent += 1;
      pending.push(
        emitWithAck<{ id: string }>(visitor, 'message:send', {
          clientId: `m-${k}`,
          text: `Message ${k}`,
        }).then(
          ({ id }) => void sentAt.set(id, at),
          () => void (errors += 1),
        ),
      );
    }
    await Promise.all(pending);
    await sleep(500);
    const chatLatencies: number[] = [];
    for (const [id, at] of sentAt) {
      const received = receivedAt.get(id);
      if (received !== undefined) chatLatencies.push(received - at);
    }
    const missing = sentAt.size - chatLatencies.length;
    if (missing > 0) say(`${missing} messages never reached an agent's socket`);

    // Baseline: the same traffic through a bare relay.
    say('baseline: the same message rate through a bare socket.io relay on the Redis adapter');
    const receivers = await Promise.all(
      Array.from({ length: agentCount }, (_, i) =>
        connect(`http://127.0.0.1:${relayPort}`, { auth: { room: `agent-${i}` } }),
      ),
    );
    const senders = await Promise.all(
      Array.from({ length: visitorCount }, () => connect(`http://127.0.0.1:${relayPort}`, {})),
    );
    sockets.push(...receivers, ...senders);
    const relayReceived = new Map<number, number>();
    for (const receiver of receivers)
      receiver.on('ping', (n: number) => relayReceived.set(n, performance.now()));
    const relaySent = new Map<number, number>();
    const relayStarted = performance.now();
    for (let k = 0; k < total; k++) {
      const wait = relayStarted + k * interval - performance.now();
      if (wait > 1) await sleep(wait);
      relaySent.set(k, performance.now());
      senders[k % visitorCount]!.emit('ping', `agent-${(k % visitorCount) % agentCount}`, k);
    }
    await sleep(500);
    const relayLatencies = [...relaySent].flatMap(([k, at]) => {
      const received = relayReceived.get(k);
      return received === undefined ? [] : [received - at];
    });
    for (const socket of [...receivers, ...senders, ...visitors]) socket.disconnect();

    // Memory: idle widgets.
    await sleep(1000);
    server.send('memory');
    const before = JSON.parse(await server.expectLine('memory')) as { heapUsed: number; rss: number };
    say(`memory: connecting ${idleConnections} idle widgets`);
    const idle: AnySocket[] = [];
    for (let start = 0; start < idleConnections; start += 250) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(250, idleConnections - start) }, async () => {
          const socket = io(`${base}/chat`, {
            transports: ['websocket'],
            reconnection: false,
            forceNew: true,
            auth: { widgetId: 'default' },
          });
          await new Promise<void>((resolve, reject) => {
            socket.once('chat:session', () => resolve());
            socket.once('connect_error', reject);
          });
          return socket;
        }),
      );
      idle.push(...batch);
      if ((start / 250) % 4 === 3) say(`  ${idle.length} connected`);
    }
    sockets.push(...idle);
    await sleep(1000);
    server.send('memory');
    const after = JSON.parse(await server.expectLine('memory')) as { heapUsed: number; rss: number };
    for (const socket of idle) socket.disconnect();

    await server.stop();
    server = undefined;
    await sql`drop schema ${sql.id(config.databaseSchema)} cascade`.execute(handle.db);
    await handle.close();
    return {
      baseline: percentiles(relayLatencies),
      chat: { ...percentiles(chatLatencies), sent, errors },
      memory: {
        idleHeap: before.heapUsed,
        idleRss: before.rss,
        perConnectionHeapKb: (after.heapUsed - before.heapUsed) / idleConnections / 1024,
        perConnectionRssKb: (after.rss - before.rss) / idleConnections / 1024,
      },
    };
  } finally {
    for (const socket of sockets) socket.disconnect();
    await server?.stop().catch(() => undefined);
    rmSync(rulesDir, { recursive: true, force: true });
    await stop();
  }
}

export function chatRows(r: ChatBenchResult) {
  const isLatencyMet = r.chat.p99 <= latencyTargetMs && r.chat.errors === 0 && r.chat.count === r.chat.sent;
  // The larger of the two: RSS can grow less than the heap when freed pages are reused.
  const isMemoryMet = Math.max(r.memory.perConnectionRssKb, r.memory.perConnectionHeapKb) <= memoryTargetKb;
  return [
    {
      benchmark: `bare socket.io relay on the Redis adapter (baseline, ${r.baseline.count} messages)`,
      p50: `${fmt(r.baseline.p50, 2)} ms`,
      p99: `${fmt(r.baseline.p99, 2)} ms`,
      'vs baseline': '1.00',
      target: '',
      verdict: '',
    },
    {
      benchmark: `visitor message to agent socket, ${visitorCount} visitors (${r.chat.count}/${r.chat.sent})`,
      p50: `${fmt(r.chat.p50, 2)} ms`,
      p99: `${fmt(r.chat.p99, 2)} ms`,
      'vs baseline': `p99 x${fmt(r.chat.p99 / r.baseline.p99, 1)}`,
      target: `p99 <= ${latencyTargetMs} ms`,
      verdict: isLatencyMet ? 'met' : 'MISSED',
    },
    {
      benchmark: `server memory per idle widget connection (${idleConnections})`,
      p50: `${fmt(r.memory.perConnectionRssKb, 1)} KB RSS`,
      p99: `${fmt(r.memory.perConnectionHeapKb, 1)} KB heap`,
      'vs baseline': '',
      target: `<= ${memoryTargetKb} KB`,
      verdict: isMemoryMet ? 'met' : 'MISSED',
    },
  ];
}

/** The summary's lines (npm run bench): message latency against the bare relay, and idle memory. */
export function chatSummary(r: ChatBenchResult): SummaryLine[] {
  const isWhole = r.chat.errors === 0 && r.chat.count === r.chat.sent;
  const memoryKb = Math.max(r.memory.perConnectionRssKb, r.memory.perConnectionHeapKb);
  return [
    {
      benchmark: 'chat',
      figure: `visitor message to agent socket p99, ${visitorCount} visitors`,
      value: `${fmt(r.chat.p99, 2)} ms`,
      baseline: `${fmt(r.baseline.p99, 2)} ms bare socket.io relay`,
      ratio: fmt(r.chat.p99 / r.baseline.p99, 2),
      target: `<= ${latencyTargetMs} ms`,
      verdict: !isWhole ? 'ERRORS' : r.chat.p99 <= latencyTargetMs ? 'met' : 'MISSED',
    },
    {
      benchmark: 'chat',
      figure: 'server memory per idle widget connection (RSS or heap, the larger)',
      value: `${fmt(memoryKb, 1)} KB`,
      baseline: '',
      ratio: '',
      target: `<= ${memoryTargetKb} KB`,
      verdict: memoryKb <= memoryTargetKb ? 'met' : 'MISSED',
    },
  ];
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  runChatBench(seconds)
    .then((r) => {
      printTable(chatRows(r));
      say(
        `chat max ${fmt(r.chat.max, 1)} ms, errors ${r.chat.errors}; server idle heap ` +
          `${fmt(r.memory.idleHeap / 1048576, 0)} MB, RSS ${fmt(r.memory.idleRss / 1048576, 0)} MB`,
      );
      if (r.chat.errors) process.exitCode = 1;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

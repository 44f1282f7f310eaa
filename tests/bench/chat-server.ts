/*
 * The server process of `npm run bench:chat`: the whole app as production runs it (HTTP, /agent and /chat on
 * the Redis adapter, routing on ingest), plus, on a port of its own, the bench's baseline: a bare socket.io
 * server on the same Redis adapter that relays a message from one client to another's room, with no
 * application work. Its memory is measured from here (after a full collection), so that the bench's 5,000
 * client sockets do not count.
 *
 * Run: node --import tsx tests/bench/chat-server.ts (started by chat.bench.ts through startWorkerProcess)
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, ROUTING_RULES_DIR (read by loadConfig).
 * Protocol, one command per stdin line and one answer per stdout line:
 *   `start`   -> `ready <json { port, relayPort, pid }>` once both listen
 *   `memory`  -> `memory <json { heapUsed, rss, external, arrayBuffers, sockets }>` after a full GC
 *   `exit` or stdin EOF -> closes and exits 0
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { runWorker, writeLine } from '../support/worker-process.js';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  let app: Awaited<ReturnType<typeof buildApp>>['app'] | undefined;
  let relay: Server | undefined;
  const redisClients: Redis[] = [];
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      const command = line.trim();
      if (command === 'exit') break;
      if (command === 'start') {
        ({ app } = await buildApp({ config, logger: { level: 'warn' }, isWorker: true }));
        await app.listen({ host: '127.0.0.1', port: 0 });
        const { port } = app.server.address() as AddressInfo;

        // The baseline: relay 'ping' from a client to the room it names, through the same kind of adapter.
        const pub = new Redis(config.redisUrl!);
        const sub = pub.duplicate();
        redisClients.push(pub, sub);
        const http = createServer();
        relay = new Server(http, {
          adapter: createAdapter(pub, sub, { key: `${config.redisPrefix}bench-relay` }),
          transports: ['websocket'],
        });
        relay.on('connection', (socket) => {
          const room = (socket.handshake.auth as { room?: string }).room;
          if (room) void socket.join(room);
          socket.on('ping', (to: string, payload: unknown) => relay!.to(to).emit('ping', payload));
        });
        await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
        const relayPort = (http.address() as AddressInfo).port;
        await writeLine(`ready ${JSON.stringify({ port, relayPort, pid: process.pid })}`);
      } else if (command === 'memory') {
        for (let i = 0; i < 3; i++) gc();
        const usage = process.memoryUsage();
        await writeLine(
          `memory ${JSON.stringify({
            heapUsed: usage.heapUsed,
            rss: usage.rss,
            external: usage.external,
            arrayBuffers: usage.arrayBuffers,
          })}`,
        );
      } else {
        throw new Error(`unknown command '${command}'`);
      }
    }
  } finally {
    await relay?.close();
    for (const client of redisClients) client.disconnect();
    await app?.close();
  }
}

runWorker('chat-server', main);

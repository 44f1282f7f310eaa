/*
 * The one socket.io server of a process, on the HTTP server Fastify listens with, and the Redis adapter
 * that makes every process on one Redis a single cluster: an emit to a room from any process reaches the
 * room's sockets on all of them. The adapter's pub/sub channels start with the Redis prefix, so deployments
 * (and test files) sharing a Redis do not hear each other.
 *
 * Namespaces (`/agent` here; `/supervisor` and `/chat` later) register on `io`; each brings its own event
 * map and its own handshake rules (the chat widget is embedded on customers' sites, so the Origin rule
 * belongs to a namespace, not to the engine).
 */
import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

export interface SocketServer {
  io: Server;
  /**
   * Ends every socket of this process (their disconnect handlers run), then leaves the cluster. The HTTP
   * server is Fastify's to close.
   */
  close(): Promise<void>;
}

export function createSocketServer(
  httpServer: HttpServer,
  options: { redisUrl: string; redisPrefix: string; log: FastifyBaseLogger },
): SocketServer {
  // The adapter publishes without handling the promise: a publish that rejected (Redis away) would be an
  // unhandled rejection, which ends the process. With no retry limit a publish waits for the reconnect.
  const pub = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  // No ready check on the subscriber: INFO is refused once the connection is in subscriber mode.
  const sub = pub.duplicate({ enableReadyCheck: false });
  for (const client of [pub, sub])
    client.on('error', (err: Error) => options.log.warn({ err: err.message }, 'socket adapter redis error'));

  const io = new Server(httpServer, {
    // The console bundles its own client (web-console/); nothing is served from /socket.io/socket.io.js.
    serveClient: false,
    adapter: createAdapter(pub, sub, { key: `${options.redisPrefix}socket.io` }),
  });

  return {
    io,
    async close() {
      // Not io.close(): that also closes the HTTP server, which Fastify closes itself right after.
      for (const nsp of io._nsps.values()) nsp.local.disconnectSockets(true);
      await Promise.allSettled([...io._nsps.values()].map(async (nsp) => nsp.adapter.close()));
      io.engine.close();
      pub.disconnect();
      sub.disconnect();
    },
  };
}

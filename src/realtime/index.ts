/*
 * The realtime surface, attached to the Fastify app: one socket.io server on its HTTP server, spanning
 * processes through Redis, with the `/agent` namespace. app.ts creates the presence service with the
 * other services (its jobs need handlers) and attaches the surface after the HTTP routes.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from 'socket.io';
import type { Config } from '../config.js';
import { registerAgentNamespace, type AgentNamespaceDeps } from './agent.namespace.js';
import { createSocketServer } from './socket-server.js';

export { createPresenceService, type PresenceService } from './presence.service.js';
export type * from './agent-events.js';

export function attachRealtime(
  app: FastifyInstance,
  deps: Omit<AgentNamespaceDeps, 'parseCookie' | 'publicBaseUrl' | 'log'> & {
    config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'publicBaseUrl'>;
  },
): { io: Server } {
  const { config, ...services } = deps;
  if (!config.redisUrl) throw new Error('attachRealtime needs redisUrl');
  const server = createSocketServer(app.server, {
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
    log: app.log,
  });
  const agents = registerAgentNamespace(server.io, {
    ...services,
    parseCookie: (header) => app.parseCookie(header),
    publicBaseUrl: config.publicBaseUrl,
    log: app.log,
  });
  // Before the HTTP server closes (a long-polling socket would hold it open) and before app.ts's onClose
  // hooks close the Redis client and the job queue that the closing sockets' presence work still uses.
  app.addHook('preClose', async () => {
    agents.stop();
    await server.close();
    await agents.settled();
  });
  return { io: server.io };
}

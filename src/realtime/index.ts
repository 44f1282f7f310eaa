/*
 * The realtime surface, attached to the Fastify app: one socket.io server on its HTTP server, spanning
 * processes through Redis, with the `/agent` and `/supervisor` namespaces. app.ts creates the presence service
 * and the live board with the other services and attaches the surface after the HTTP routes; the live board
 * publishes through the `/supervisor` namespace this returns.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from 'socket.io';
import type { Config } from '../config.js';
import { registerAgentNamespace, type AgentNamespaceDeps } from './agent.namespace.js';
import { createSocketServer } from './socket-server.js';
import { registerSupervisorNamespace, type SupervisorNamespaceDeps } from './supervisor.namespace.js';

export { createPresenceService, type PresenceService } from './presence.service.js';
export type * from './agent-events.js';
export type * from './supervisor-events.js';

export function attachRealtime(
  app: FastifyInstance,
  deps: Omit<AgentNamespaceDeps, 'parseCookie' | 'publicBaseUrl' | 'log'> & {
    config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'publicBaseUrl'>;
    board: SupervisorNamespaceDeps['board'];
  },
): { io: Server; supervisors: ReturnType<typeof registerSupervisorNamespace> } {
  const { config, board, ...services } = deps;
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
  const supervisors = registerSupervisorNamespace(server.io, {
    auth: services.auth,
    parseCookie: (header) => app.parseCookie(header),
    publicBaseUrl: config.publicBaseUrl,
    board,
    log: app.log,
  });
  // Before the HTTP server closes (a long-polling socket would hold it open) and before app.ts's onClose
  // hooks close the Redis client and the job queue that the closing sockets' presence work still uses.
  app.addHook('preClose', async () => {
    agents.stop();
    supervisors.stop();
    await server.close();
    await agents.settled();
  });
  return { io: server.io, supervisors };
}

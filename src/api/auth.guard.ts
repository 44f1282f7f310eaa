import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../agents/auth.service.js';
import type { Agent, Role } from '../db/repositories/agents.repository.js';
import { AppError } from '../errors.js';

/*
 * Authentication and roles for /api. Every /api route declares `config.access`: 'public' or the roles that
 * may call it. A route without one makes the app refuse to start, so no route is left unguarded by
 * accident. Unsafe methods also need a same-origin Origin (or none) and a JSON body: a cross-site form
 * cannot carry the session cookie into a state change (CSRF).
 */

export type Access = 'public' | readonly Role[];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    agent: Agent | undefined;
  }
}

export const sessionCookie = 'sb_session';

export const roles = {
  anyAgent: ['agent', 'supervisor', 'admin'],
  supervisor: ['supervisor', 'admin'],
  admin: ['admin'],
} as const satisfies Record<string, readonly Role[]>;

/** The agent of an authenticated request (routes whose access is not 'public'). */
export function currentAgent(request: FastifyRequest): Agent {
  if (!request.agent) throw new AppError('NOT_AUTHENTICATED');
  return request.agent;
}

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function registerAuthGuard(app: FastifyInstance, auth: AuthService, publicBaseUrl: string) {
  const allowedOrigin = new URL(publicBaseUrl).origin;
  app.decorateRequest('agent', undefined);

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    if (route.config?.access === undefined)
      throw new Error(`route ${String(route.method)} ${route.url} declares no config.access`);
  });

  app.addHook('onRequest', async (request: FastifyRequest, _reply: FastifyReply) => {
    const access = request.routeOptions.config?.access;
    if (access === undefined) return;
    if (unsafeMethods.has(request.method)) {
      const origin = request.headers.origin;
      const host = request.headers.host;
      if (!isAllowedOrigin(origin, host, allowedOrigin)) {
        throw new AppError('FORBIDDEN', 'Cross-origin request refused.');
      }
    }
    request.agent = await auth.authenticate(request.cookies[sessionCookie]);
    if (access === 'public') return;
    if (!request.agent) throw new AppError('NOT_AUTHENTICATED');
    if (!access.includes(request.agent.role)) throw new AppError('FORBIDDEN');
  });
}

/**
 * The CSRF rule for requests that carry the session cookie (HTTP and the agent socket): no Origin (not a
 * browser, so no ambient cookie to abuse), the public origin, or the very host the client dialed.
 */
export function isAllowedOrigin(origin: string | undefined, host: string | undefined, allowedOrigin: string) {
  return !origin || origin === allowedOrigin || Boolean(host && origin.endsWith(`//${host}`));
}

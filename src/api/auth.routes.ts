import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { AuthService } from '../agents/auth.service.js';
import { isAppError } from '../errors.js';
import { currentAgent, roles, sessionCookie } from './auth.guard.js';
import { Agent, ErrorBody } from './schemas.js';

export function authRoutes(
  base: FastifyInstance,
  deps: { auth: AuthService; isSecureCookie: boolean; sessionTtlSeconds: number },
) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/api/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Log in with email and password; sets the httpOnly session cookie',
        body: Type.Object({
          email: Type.String({ maxLength: 320 }),
          password: Type.String({ minLength: 1, maxLength: 200 }),
        }),
        response: { 200: Type.Object({ agent: Agent }), 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const { token, agent } = await deps.auth
        .login(request.body.email, request.body.password, request.ip)
        .catch((error: unknown) => {
          // A locked account or a throttled address: say when to come back (RFC 9110 Retry-After).
          const retryAfter = isAppError(error) ? error.details?.retryAfterSeconds : undefined;
          if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
          throw error;
        });
      void reply.setCookie(sessionCookie, token, {
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.isSecureCookie,
        path: '/',
        maxAge: deps.sessionTtlSeconds,
      });
      request.log.info({ agentId: agent.id }, 'agent logged in');
      return { agent };
    },
  );

  app.post(
    '/api/auth/logout',
    {
      config: { access: roles.anyAgent },
      schema: { tags: ['auth'], summary: 'End the session', response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const token = request.cookies[sessionCookie];
      if (token) await deps.auth.logout(token);
      void reply.clearCookie(sessionCookie, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/auth/me',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['auth'],
        summary: 'The logged-in agent',
        response: { 200: Type.Object({ agent: Agent }) },
      },
    },
    async (request) => ({ agent: currentAgent(request) }),
  );
}

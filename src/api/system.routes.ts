import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import type { Database } from '../db/tables.js';

export function systemRoutes(
  app: FastifyInstance,
  deps: { db: Kysely<Database>; redis: Redis; metrics: Registry },
) {
  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        summary: 'Alive',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['system'],
        summary: 'Postgres and Redis answer',
        response: {
          200: Type.Object({ status: Type.String(), postgres: Type.Boolean(), redis: Type.Boolean() }),
          503: Type.Object({ status: Type.String(), postgres: Type.Boolean(), redis: Type.Boolean() }),
        },
      },
    },
    async (_request, reply) => {
      const timeout = <T>(p: Promise<T>) =>
        Promise.race([
          p,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
        ]);
      const [postgres, redis] = await Promise.all([
        timeout(sql`select 1`.execute(deps.db)).then(
          () => true,
          () => false,
        ),
        timeout(deps.redis.ping()).then(
          () => true,
          () => false,
        ),
      ]);
      const isReady = postgres && redis;
      return reply
        .code(isReady ? 200 : 503)
        .send({ status: isReady ? 'ready' : 'unavailable', postgres, redis });
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['system'], summary: 'Prometheus metrics', hide: false } },
    async (_request, reply) => {
      void reply.header('content-type', deps.metrics.contentType);
      return deps.metrics.metrics();
    },
  );
}

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { AuditRepository } from '../db/repositories/audit.repository.js';
import { roles } from './auth.guard.js';
import { Nullable } from './schemas.js';

export function auditRoutes(base: FastifyInstance, deps: { audit: AuditRepository }) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/audit',
    {
      config: { access: roles.admin },
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first (admin)',
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          beforeId: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })),
        }),
        response: {
          200: Type.Object({
            entries: Type.Array(
              Type.Object({
                id: Type.String(),
                actorId: Nullable(Type.String()),
                action: Type.String(),
                subjectType: Type.String(),
                subjectId: Type.String(),
                details: Type.Record(Type.String(), Type.Unknown()),
                occurredAt: Type.String(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({ entries: await deps.audit.list(request.query.limit, request.query.beforeId) }),
  );
}

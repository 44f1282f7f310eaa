import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { EventLogRepository } from '../db/repositories/event-log.repository.js';
import { AppError } from '../errors.js';
import { eventLogLines } from '../reports/export-events.js';
import { roles } from './auth.guard.js';

/*
 * Reports' routes. The event-log export streams the log as it is read (a page at a time), so a month of it
 * costs the server no more memory than a minute.
 */
export function reportsRoutes(app: FastifyInstance, deps: { eventLog: EventLogRepository }): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/api/reports/event-log',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          'The interaction event log in a window, one event a line in the shape of a PBX queue log ' +
          '(time|interaction|queue|agent|EVENT|data...; see the README); no customer content',
        querystring: Type.Object({
          from: Type.Optional(Type.String({ format: 'date-time' })),
          to: Type.Optional(Type.String({ format: 'date-time' })),
        }),
        response: {
          200: Type.Unsafe<Readable>({ type: 'string', description: 'text/plain, a line per event' }),
        },
      },
    },
    async (request, reply) => {
      const from = request.query.from ? new Date(request.query.from) : null;
      const to = request.query.to ? new Date(request.query.to) : null;
      if (from && to && from >= to) throw new AppError('VALIDATION_FAILED', 'from must be before to');
      const name = `switchboard-events${from ? `-${from.toISOString().slice(0, 10)}` : ''}.log`;
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Readable.from(eventLogLines(deps.eventLog, { from, to })));
    },
  );
}

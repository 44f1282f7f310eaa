/*
 * The console's fax API: searching faxes by what they say (their OCR text or text layer), their sender's
 * number or station id. Any agent may search, as any agent may read a customer's history.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { roles } from '../../src/api/auth.guard.js';
import type { FaxRepository } from '../../src/db/repositories/fax.repository.js';
import { keywordWords } from '../../src/routing/rules/rule-matcher.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export function faxAgentRoutes(app: FastifyInstance, deps: { faxes: FaxRepository }): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/api/faxes/search',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['fax'],
        summary:
          'Faxes whose text, sender number or station id holds every word searched ("quoted phrases", ' +
          '-excluded words), best first',
        querystring: Type.Object({
          q: Type.String({ minLength: 1, maxLength: 200 }),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
        }),
        response: {
          200: Type.Object({
            results: Type.Array(
              Type.Object({
                interactionId: Type.String(),
                ticketNumber: Type.Integer(),
                customerId: Type.String(),
                customerName: Nullable(Type.String()),
                from: Nullable(Type.String()),
                stationId: Nullable(Type.String()),
                receivedAt: Type.String({ format: 'date-time' }),
                pageCount: Nullable(Type.Integer()),
                status: Type.String(),
                snippet: Type.String(),
              }),
            ),
            terms: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      const { q, limit } = request.query;
      const hits = await deps.faxes.search(q, limit ?? 20);
      return {
        results: hits.map((hit) => ({
          interactionId: hit.interactionId,
          ticketNumber: hit.ticketNumber,
          customerId: hit.customerId,
          customerName: hit.customerName,
          from: hit.fromNumber,
          stationId: hit.stationId,
          receivedAt: hit.receivedAt.toISOString(),
          pageCount: hit.pageCount,
          status: hit.status,
          snippet: hit.snippet,
        })),
        // The words to highlight: the query's words, less those it excludes.
        terms: [...new Set(keywordWords(q.replace(/(^|\s)-\S+/g, ' ')).filter((w) => w !== 'or'))],
      };
    },
  );
}

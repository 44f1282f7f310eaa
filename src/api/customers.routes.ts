import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { CustomersService } from '../customers/customers.service.js';
import { currentAgent, roles } from './auth.guard.js';
import {
  Customer,
  CustomerSummary,
  DuplicateSuggestion,
  IdParams,
  Interaction,
  LoggedEvent,
  MergeResult,
  Nullable,
  Uuid,
} from './schemas.js';

export function customersRoutes(base: FastifyInstance, deps: { customers: CustomersService }) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/customers',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['customers'],
        summary: 'Search customers by phone (any format), email or name',
        querystring: Type.Object({
          q: Type.String({ minLength: 1, maxLength: 200 }),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        }),
        response: { 200: Type.Object({ customers: Type.Array(CustomerSummary) }) },
      },
    },
    async (request) => ({ customers: await deps.customers.search(request.query.q, request.query.limit) }),
  );

  app.get(
    '/api/customers/:id',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['customers'],
        summary: 'A customer with identities, account, recent interactions and open duplicate suggestions',
        params: IdParams,
        response: {
          200: Type.Object({
            customer: Customer,
            interactions: Type.Array(Interaction),
            suggestions: Type.Array(DuplicateSuggestion),
          }),
        },
      },
    },
    async (request) => deps.customers.profile(request.params.id),
  );

  app.get(
    '/api/customers/:id/timeline',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['customers'],
        summary: "The customer's events across every channel, newest first (keyset-paginated)",
        params: IdParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: {
          200: Type.Object({ events: Type.Array(LoggedEvent), nextCursor: Nullable(Type.String()) }),
        },
      },
    },
    async (request) => deps.customers.timeline(request.params.id, request.query.limit, request.query.cursor),
  );

  app.get(
    '/api/customers/:id/duplicate-suggestions',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['customers'],
        summary: "The customer's open duplicate suggestions, best first, each with the other customer",
        params: IdParams,
        response: {
          200: Type.Object({
            suggestions: Type.Array(
              Type.Object({ ...DuplicateSuggestion.properties, otherCustomer: CustomerSummary }),
            ),
          }),
        },
      },
    },
    async (request) => ({ suggestions: await deps.customers.duplicatesOf(request.params.id) }),
  );

  app.get(
    '/api/duplicate-suggestions',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['customers'],
        summary: 'Duplicate customer suggestions, best score first',
        querystring: Type.Object({
          status: Type.Union([Type.Literal('open'), Type.Literal('merged'), Type.Literal('dismissed')], {
            default: 'open',
          }),
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        }),
        response: { 200: Type.Object({ suggestions: Type.Array(DuplicateSuggestion) }) },
      },
    },
    async (request) => ({
      suggestions: await deps.customers.listSuggestions(request.query.status, request.query.limit),
    }),
  );

  app.post(
    '/api/duplicate-suggestions/:id/dismiss',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['customers'],
        summary: 'Not the same person',
        params: IdParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await deps.customers.dismissSuggestion(request.params.id, currentAgent(request).id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/customers/:id/merge',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['customers'],
        summary: 'Merge another customer into this one: identities, interactions and history move; undoable',
        params: IdParams,
        body: Type.Object({ sourceCustomerId: Uuid }, { additionalProperties: false }),
        response: { 200: MergeResult },
      },
    },
    async (request) =>
      deps.customers.merge(request.body.sourceCustomerId, request.params.id, currentAgent(request).id),
  );

  app.post(
    '/api/merges/:auditId/undo',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['customers'],
        summary: 'Undo a merge, from its audit entry',
        params: Type.Object({ auditId: Type.String({ pattern: '^[0-9]{1,19}$' }) }),
        response: { 200: MergeResult },
      },
    },
    async (request) => deps.customers.undoMerge(request.params.auditId, currentAgent(request).id),
  );
}

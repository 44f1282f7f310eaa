import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { CannedRepliesService } from '../answers/canned-replies.service.js';
import { currentAgent, roles } from './auth.guard.js';
import { Channel, IdParams, Nullable, Uuid } from './schemas.js';

// Standard answers: every agent reads and searches them; supervisors and admins write them (audited).

const Shortcut = Type.String({ pattern: '^/?[A-Za-z0-9][A-Za-z0-9_-]{0,39}$' });
const Keywords = Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { maxItems: 30 });
const Channels = Type.Array(Channel, { maxItems: 4 });

const CannedReply = Type.Object({
  id: Uuid,
  title: Type.String(),
  body: Type.String(),
  shortcut: Nullable(Type.String()),
  keywords: Type.Array(Type.String()),
  channels: Type.Array(Channel),
  isVisitorSuggestible: Type.Boolean(),
  createdBy: Nullable(Uuid),
  updatedBy: Nullable(Uuid),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const fields = {
  title: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
  body: Type.String({
    minLength: 1,
    maxLength: 20_000,
    pattern: '\\S',
    description:
      'Placeholders: {{customer.name}}, {{customer.firstName}}, {{agent.name}}, {{agent.firstName}}, ' +
      '{{ticket}}; any other name is refused (UNKNOWN_PLACEHOLDER).',
  }),
  shortcut: Nullable(Shortcut),
  keywords: Keywords,
  channels: Type.Array(Channel, { maxItems: 4, description: 'Empty: every channel.' }),
  isVisitorSuggestible: Type.Boolean({ description: 'May be offered to web chat visitors by its keywords.' }),
};

export function cannedRepliesRoutes(base: FastifyInstance, deps: { cannedReplies: CannedRepliesService }) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/canned-replies',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['standard answers'],
        summary: 'Search standard answers by title, shortcut, keywords and body, best match first',
        querystring: Type.Object({
          q: Type.Optional(Type.String({ maxLength: 200 })),
          channel: Type.Optional(Channel),
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        }),
        response: { 200: Type.Object({ replies: Type.Array(CannedReply) }) },
      },
    },
    async (request) => ({ replies: await deps.cannedReplies.search(request.query) }),
  );

  app.get(
    '/api/canned-replies/:id',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['standard answers'],
        summary: 'One standard answer, placeholders as written',
        params: IdParams,
        response: { 200: Type.Object({ reply: CannedReply }) },
      },
    },
    async (request) => ({ reply: await deps.cannedReplies.get(request.params.id) }),
  );

  app.post(
    '/api/canned-replies',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['standard answers'],
        summary: 'Create a standard answer (supervisor, admin; audited)',
        body: Type.Object(
          {
            title: fields.title,
            body: fields.body,
            shortcut: Type.Optional(fields.shortcut),
            keywords: Type.Optional(fields.keywords),
            channels: Type.Optional(Channels),
            isVisitorSuggestible: Type.Optional(fields.isVisitorSuggestible),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ reply: CannedReply }) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ reply: await deps.cannedReplies.create(request.body, currentAgent(request)) }),
  );

  app.patch(
    '/api/canned-replies/:id',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['standard answers'],
        summary: 'Change a standard answer (supervisor, admin; audited)',
        params: IdParams,
        body: Type.Partial(Type.Object(fields), { additionalProperties: false, minProperties: 1 }),
        response: { 200: Type.Object({ reply: CannedReply }) },
      },
    },
    async (request) => ({
      reply: await deps.cannedReplies.update(request.params.id, request.body, currentAgent(request)),
    }),
  );

  app.delete(
    '/api/canned-replies/:id',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['standard answers'],
        summary: 'Delete a standard answer (supervisor, admin; the audit entry keeps it)',
        params: IdParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await deps.cannedReplies.remove(request.params.id, currentAgent(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/interactions/:id/canned-replies/:replyId/render',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['standard answers'],
        summary:
          'A standard answer rendered for this interaction and agent (placeholders without a value stay)',
        params: Type.Object({ id: Uuid, replyId: Uuid }),
        response: {
          200: Type.Object({
            reply: Type.Object({ id: Uuid, title: Type.String() }),
            text: Type.String(),
            unresolved: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (request) =>
      deps.cannedReplies.renderFor(request.params.id, request.params.replyId, currentAgent(request)),
  );
}

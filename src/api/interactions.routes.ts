import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { InteractionsService } from '../interactions/interactions.service.js';
import type { OutboundService } from '../interactions/outbound.service.js';
import { currentAgent, roles } from './auth.guard.js';
import { IdParams, Interaction, LoggedEvent } from './schemas.js';

export function interactionsRoutes(
  base: FastifyInstance,
  deps: { interactions: InteractionsService; outbound: OutboundService },
) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/interactions/:id',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['interactions'],
        summary: 'An interaction with its whole event log, oldest first',
        params: IdParams,
        response: { 200: Type.Object({ interaction: Interaction, events: Type.Array(LoggedEvent) }) },
      },
    },
    async (request) => deps.interactions.detail(request.params.id),
  );

  app.post(
    '/api/interactions/:id/notes',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['interactions'],
        summary: 'Add an internal note (never sent to the customer)',
        params: IdParams,
        body: Type.Object(
          { text: Type.String({ minLength: 1, maxLength: 20_000 }) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ event: LoggedEvent }) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({
        event: await deps.interactions.addNote(request.params.id, request.body.text, currentAgent(request)),
      }),
  );

  app.post(
    '/api/interactions/:id/messages',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['interactions'],
        summary: 'Reply to the customer on the interaction’s channel (the assignee, or a supervisor)',
        params: IdParams,
        body: Type.Object(
          {
            text: Type.String({ minLength: 1, maxLength: 20_000 }),
            html: Type.Optional(Type.String({ minLength: 1, maxLength: 200_000 })),
            cc: Type.Optional(
              Type.Array(Type.String({ minLength: 3, maxLength: 254 }), {
                maxItems: 20,
                description: 'More recipients (email only)',
              }),
            ),
            via: Type.Optional(
              Type.Literal('email', {
                description: 'Send by email to the customer instead (a web chat visitor who left a message)',
              }),
            ),
            attachmentIds: Type.Optional(
              Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
                maxItems: 10,
                description: 'Files uploaded to POST /api/interactions/:id/attachments (email only)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ event: LoggedEvent }) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({
        event: await deps.outbound.reply(request.params.id, currentAgent(request), request.body),
      }),
  );
}

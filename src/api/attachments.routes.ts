import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { servingHeadersOf, type AttachmentsService } from '../interactions/attachments.service.js';
import { roles } from './auth.guard.js';
import { IdParams } from './schemas.js';

/** The bytes of a file, as OpenAPI describes a binary response. */
export const FileBody = Type.Unsafe<Buffer>({ type: 'string', format: 'binary' });

export function attachmentsRoutes(base: FastifyInstance, deps: { attachments: AttachmentsService }) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/attachments/:id',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['interactions'],
        summary:
          'An attachment the core keeps, by the id its message.received payload carries: shown inline ' +
          'for PNG, JPEG, GIF and WebP, downloaded otherwise',
        params: IdParams,
        response: { 200: FileBody },
      },
    },
    async (request, reply) => {
      const attachment = await deps.attachments.open(request.params.id);
      return reply.headers(servingHeadersOf(attachment)).send(attachment.content);
    },
  );
}

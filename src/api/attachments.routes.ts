import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../errors.js';
import { servingHeadersOf, type AttachmentsService } from '../interactions/attachments.service.js';
import type { InteractionsService } from '../interactions/interactions.service.js';
import { currentAgent, roles } from './auth.guard.js';
import { IdParams } from './schemas.js';

/** The bytes of a file, as OpenAPI describes a binary response. */
export const FileBody = Type.Unsafe<Buffer>({ type: 'string', format: 'binary' });

export function attachmentsRoutes(
  base: FastifyInstance,
  deps: {
    attachments: AttachmentsService;
    interactions: Pick<InteractionsService, 'detail'>;
    /** The largest file an agent may attach to a reply. */
    maxUploadBytes: number;
  },
) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  // Encapsulated: the multipart parser exists for this route only; the rest of the API takes JSON.
  void base.register(async (scope) => {
    await scope.register(multipart, {
      limits: {
        fileSize: deps.maxUploadBytes,
        files: 1,
        fields: 2,
        fieldSize: 1024,
        parts: 3,
        headerPairs: 20,
      },
    });
    scope.withTypeProvider<TypeBoxTypeProvider>().post(
      '/api/interactions/:id/attachments',
      {
        config: { access: roles.anyAgent },
        schema: {
          tags: ['interactions'],
          summary:
            'Upload a file for a reply not yet sent (multipart, one file; the assignee, or a supervisor); ' +
            'send it by naming its id in the reply’s attachmentIds',
          params: IdParams,
          response: {
            201: Type.Object({
              id: Type.String(),
              fileName: Type.String(),
              contentType: Type.String(),
              sizeBytes: Type.Integer(),
            }),
          },
        },
      },
      async (request, reply) => {
        const agent = currentAgent(request);
        const { interaction } = await deps.interactions.detail(request.params.id);
        if (agent.role === 'agent' && interaction.assigneeId !== agent.id) throw new AppError('NOT_ASSIGNEE');
        if (interaction.status === 'closed') throw new AppError('INTERACTION_CLOSED');
        if (!request.isMultipart())
          throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data.');
        const part = await request.file();
        if (!part) throw new AppError('VALIDATION_FAILED', 'Attach one file.');
        const content = await part.toBuffer().catch((error: unknown) => {
          if (error instanceof scope.multipartErrors.RequestFileTooLargeError) return null;
          throw error;
        });
        if (!content || part.file.truncated) throw new AppError('PAYLOAD_TOO_LARGE');
        const contentType = /^[\w.+-]+\/[\w.+-]+$/.test(part.mimetype)
          ? part.mimetype.toLowerCase()
          : 'application/octet-stream';
        const kept = await deps.attachments.keepDraft(interaction.id, content, {
          fileName: part.filename || 'attachment',
          contentType,
        });
        request.log.info(
          { interactionId: interaction.id, sizeBytes: kept.sizeBytes },
          'reply attachment uploaded',
        );
        return reply.code(201).send({
          id: kept.id,
          fileName: kept.fileName,
          contentType: kept.contentType,
          sizeBytes: kept.sizeBytes,
        });
      },
    );
  });

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

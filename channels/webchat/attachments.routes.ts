/*
 * Images from web chat visitors, over HTTP beside the `/chat` socket, called by the widget from the page
 * that embeds it (another origin, hence the CORS answers below):
 *
 * - `POST /chat/attachments?widgetId=&clientId=[&userId=&userHash=&locale=]`, header
 *   `Authorization: Bearer <conversation token>`, a multipart/form-data body with one file part: the image
 *   becomes a message.received on the conversation's interaction (externalId
 *   `webchat:<conversationId>:<clientId>`, so a resend is a duplicate);
 * - `GET /chat/attachments/:id?widgetId=[&userId=&userHash=]`, the same header: an image of the visitor's
 *   own conversation, never another's (404, as for an id that does not exist).
 *
 * The visitor is admitted as on the socket (widget, Origin, identity validation), except that a missing or
 * unknown token is refused: an upload needs a conversation the socket already started. The file's type is
 * what its bytes are (src/interactions/image-sniffer.ts), never what the browser declared. These routes
 * carry no `config.access`: no session cookie is read, so the cookie's CSRF rule (auth.guard.ts) has
 * nothing to guard, and a cross-site form cannot set the bearer header.
 */
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { FileBody } from '../../src/api/attachments.routes.js';
import { ErrorBody } from '../../src/api/schemas.js';
import type { WebchatConfig, WebchatImageLimits } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import {
  servingHeadersOf,
  type AttachmentsService,
  type KeptAttachment,
} from '../../src/interactions/attachments.service.js';
import { imageTypes, sniffImageType, type ImageType } from '../../src/interactions/image-sniffer.js';
import type { IngestResult } from '../../src/interactions/inbound-contact.js';
import {
  ChatHandshake,
  chatHandshakeValidator,
  type ChatAttachmentPush,
  type ChatSocketData,
} from './chat-events.js';
import { conversationOfThread } from './chat.namespace.js';
import type { ConversationStore } from './conversation.store.js';
import { admitVisitor, isOriginAllowed, type ConversationTokens } from './visitor-auth.js';

export interface ChatAttachmentRoutesDeps {
  config: WebchatConfig;
  limits: WebchatImageLimits;
  tokens: Promise<ConversationTokens>;
  store: ConversationStore;
  attachments: Pick<AttachmentsService, 'keep' | 'discard' | 'open'>;
  receiveImage: (
    visitor: ChatSocketData,
    clientId: string,
    attachment: KeptAttachment,
  ) => Promise<{ result: IngestResult; attachments: ChatAttachmentPush[] }>;
}

/** Room for the multipart boundaries and part headers around the file, in a declared Content-Length. */
const multipartOverheadBytes = 16 * 1024;

const VisitorQuery = {
  widgetId: ChatHandshake.properties.widgetId,
  userId: ChatHandshake.properties.userId,
  userHash: ChatHandshake.properties.userHash,
};
const UploadQuery = Type.Object(
  {
    ...VisitorQuery,
    locale: ChatHandshake.properties.locale,
    clientId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\w-]+$' }),
  },
  { additionalProperties: false },
);
const ReadQuery = Type.Object(VisitorQuery, { additionalProperties: false });
const AttachmentPush = Type.Object({
  id: Type.String(),
  fileName: Type.String(),
  contentType: Type.String(),
  sizeBytes: Type.Integer(),
  url: Type.String(),
});

const sizeText = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${Number((bytes / (1024 * 1024)).toFixed(1))} MB`
    : `${Math.max(1, Math.floor(bytes / 1024))} KB`;
const typeNames: Record<ImageType, string> = {
  'image/png': 'PNG',
  'image/jpeg': 'JPEG',
  'image/gif': 'GIF',
  'image/webp': 'WebP',
};
/** "PNG, JPEG or GIF". */
const typesText = (types: readonly ImageType[]) => {
  const names = types.map((t) => typeNames[t]);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : (names[0] ?? '');
};

export function chatAttachmentRoutes(base: FastifyInstance, deps: ChatAttachmentRoutesDeps) {
  const { limits } = deps;
  const tooLarge = () =>
    new AppError('PAYLOAD_TOO_LARGE', `An image is at most ${sizeText(limits.maxBytes)}.`);
  const isAllowedSomewhere = (origin: string) =>
    Object.values(deps.config.widgets).some((widget) => isOriginAllowed(widget, origin));

  /** The visitor a request speaks for: its query, its bearer token and its Origin, as on the socket. */
  async function visitorOf(request: {
    headers: FastifyRequest['headers'];
    query: { widgetId: string; userId?: string; userHash?: string; locale?: string };
  }): Promise<ChatSocketData> {
    const bearer = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const { widgetId, userId, userHash, locale } = request.query;
    const auth = {
      widgetId,
      ...(bearer !== undefined && { token: bearer }),
      ...(userId !== undefined && { userId }),
      ...(userHash !== undefined && { userHash }),
      ...(locale !== undefined && { locale }),
    };
    if (!chatHandshakeValidator.Check(auth))
      throw new AppError('NOT_AUTHENTICATED', 'This chat is not known: reload the page.');
    return admitVisitor({ widgets: deps.config.widgets, tokens: deps.tokens }, auth, request.headers.origin, {
      mayStart: false,
    });
  }

  // Encapsulated: the multipart parser (and its hooks) exist for these routes only; the API takes JSON.
  void base.register(async (scope) => {
    await scope.register(multipart, {
      limits: { fileSize: limits.maxBytes, files: 1, fields: 4, fieldSize: 1024, parts: 5, headerPairs: 20 },
    });
    const app = scope.withTypeProvider<TypeBoxTypeProvider>();

    // Every answer, refusals included, is readable by a page a widget may be embedded on (the widget's own
    // sites are checked in visitorOf).
    app.addHook('onRequest', async (request, reply) => {
      const { origin } = request.headers;
      void reply.header('vary', 'Origin');
      if (origin && isAllowedSomewhere(origin)) void reply.header('access-control-allow-origin', origin);
    });
    const preflight = async (_request: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(204)
        .header('access-control-allow-methods', 'GET, POST')
        .header('access-control-allow-headers', 'authorization')
        .header('access-control-max-age', '600')
        .send();
    app.options('/chat/attachments', { schema: { hide: true } }, preflight);
    app.options('/chat/attachments/:id', { schema: { hide: true } }, preflight);

    app.post(
      '/chat/attachments',
      {
        schema: {
          tags: ['webchat'],
          summary:
            'A web chat visitor sends an image (multipart, one file; PNG, JPEG, GIF or WebP by content, ' +
            'size-limited), logged as a message on their conversation',
          querystring: UploadQuery,
          response: {
            201: Type.Object({
              id: Type.String(),
              interactionId: Type.String(),
              isDuplicate: Type.Boolean(),
              attachments: Type.Array(AttachmentPush),
            }),
            413: ErrorBody,
            415: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const visitor = await visitorOf(request);
        const log = request.log.child({ conversationId: visitor.conversationId });
        if (Number(request.headers['content-length']) > limits.maxBytes + multipartOverheadBytes) {
          log.warn({ contentLength: request.headers['content-length'] }, 'chat image refused: too large');
          throw tooLarge();
        }
        if (!request.isMultipart())
          throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the image as multipart/form-data.');
        const { config } = deps;
        if (
          !(await deps.store.isWithinRate(
            visitor.conversationId,
            config.rateLimitMessages,
            config.rateLimitWindowMs,
          ))
        )
          throw new AppError('RATE_LIMITED', 'Too many messages; wait a few seconds.');
        const part = await request.file();
        if (!part) throw new AppError('VALIDATION_FAILED', 'Attach one image file.');
        // Busboy stops keeping bytes at the limit and marks the file truncated; the plugin's own error for
        // it is not raised when the limit falls on the last chunk, so the mark is what counts.
        const content = await part.toBuffer().catch((error: unknown) => {
          if (error instanceof scope.multipartErrors.RequestFileTooLargeError) return null;
          throw error;
        });
        if (!content || part.file.truncated) {
          log.warn({ fileName: part.filename }, 'chat image refused: too large');
          throw tooLarge();
        }
        const type = sniffImageType(content);
        if (!type || !limits.types.includes(type)) {
          log.warn(
            {
              fileName: part.filename,
              declaredType: part.mimetype,
              sniffedType: type,
              sizeBytes: content.length,
            },
            'chat image refused: not an allowed image type',
          );
          throw new AppError(
            'ATTACHMENT_TYPE_NOT_ALLOWED',
            `Only ${typesText(limits.types)} images can be sent.`,
          );
        }
        const kept = await deps.attachments.keep(content, {
          fileName: part.filename || `image.${imageTypes[type]}`,
          contentType: type,
        });
        try {
          const { result, attachments } = await deps.receiveImage(visitor, request.query.clientId, kept);
          if (result.isDuplicate) await deps.attachments.discard(kept);
          return reply.code(201).send({
            id: result.eventId,
            interactionId: result.interactionId,
            isDuplicate: result.isDuplicate,
            attachments,
          });
        } catch (error) {
          await deps.attachments
            .discard(kept)
            .catch((err: unknown) => log.warn({ err }, 'an unlogged chat image could not be discarded'));
          throw error;
        }
      },
    );

    app.get(
      '/chat/attachments/:id',
      {
        schema: {
          tags: ['webchat'],
          summary: 'An image of the visitor’s own conversation (by the id its message carries)',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          querystring: ReadQuery,
          response: { 200: FileBody },
        },
      },
      async (request, reply) => {
        const visitor = await visitorOf(request);
        const attachment = await deps.attachments.open(request.params.id);
        // Another conversation's attachment is answered as one that does not exist.
        if (
          attachment.channel !== 'chat' ||
          conversationOfThread(attachment.threadKey) !== visitor.conversationId
        )
          throw new AppError('ATTACHMENT_NOT_FOUND');
        return reply.headers(servingHeadersOf(attachment)).send(attachment.content);
      },
    );
  });
}

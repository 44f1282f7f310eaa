/*
 * The fax webhooks, under /webhooks/fax/<provider>. Each checks its provider's signature first (a bad or
 * missing one gets 403 and a log line; a provider whose secret is not configured gets 503), parses the
 * report (an unreadable one gets 400 and a log line), and hands it on: receiving logic for inbound faxes,
 * sending logic for the status of faxes we sent. They answer as soon as the report is taken: downloads,
 * conversion and OCR are the `fax.process` job's.
 *
 *   POST /webhooks/fax/signalwire           incoming fax: answered with <Receive action=".../received">
 *   POST /webhooks/fax/signalwire/received  the Receive action: the fax and its MediaUrl
 *   POST /webhooks/fax/signalwire/status    status of a fax we sent
 *   POST /webhooks/fax/telnyx               every Telnyx fax event (JSON, Ed25519-signed)
 *   POST /webhooks/fax/phaxio               Phaxio/Sinch callbacks (multipart, the PDF attached)
 *   POST /webhooks/fax/hylafax              the faxrcvd hook (multipart, the TIFF attached, bearer token)
 *   GET  /webhooks/fax/media/<signed link>  a reply's PDF, for the provider sending it
 */
import formBody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../src/errors.js';
import type { FaxConfig } from '../../src/config.js';
import type { FaxReceiving } from './faxes.js';
import { parseHylafaxFax, verifyHylafax } from './providers/hylafax.js';
import { parsePhaxioCallback, verifyPhaxio } from './providers/phaxio.js';
import {
  parseSignalWireFax,
  parseSignalWireSendStatus,
  receiveFaxTwiml,
  verifySignalWire,
} from './providers/signalwire.js';
import { parseTelnyxEvent, verifyTelnyx } from './providers/telnyx.js';
import type { FaxSending } from './sending.js';
import { FaxPayloadError } from './types.js';

const xml = 'text/xml; charset=utf-8';

interface MultipartBody {
  fields: Record<string, string>;
  files: { fieldName: string; fileName: string; contentType: string; content: Buffer }[];
}

export async function faxWebhookRoutes(
  app: FastifyInstance,
  deps: {
    config: FaxConfig;
    publicBaseUrl: string;
    receiving: FaxReceiving;
    sending: FaxSending;
  },
): Promise<void> {
  const { config, publicBaseUrl } = deps;
  const urlOf = (request: FastifyRequest) => `${publicBaseUrl}${request.url}`;

  /** A provider's report that cannot be read: 400, logged with what could be seen. */
  const parsed = <T>(request: FastifyRequest, provider: string, parse: () => T): T => {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof FaxPayloadError)) throw err;
      request.log.warn({ provider, err: err.message }, 'fax report refused: it cannot be read');
      throw new AppError('FAX_PAYLOAD_INVALID', `The ${provider} report cannot be read: ${err.message}`);
    }
  };
  const refuse = (request: FastifyRequest, provider: string, why: string, facts: object = {}): never => {
    request.log.warn({ provider, url: urlOf(request), ...facts }, `fax webhook refused: ${why}`);
    throw new AppError('WEBHOOK_SIGNATURE_INVALID');
  };

  // SignalWire: form bodies, in this scope only (the API keeps refusing them).
  await app.register(async (scope) => {
    await scope.register(formBody, { bodyLimit: 64 * 1024 });
    scope.addHook('preHandler', async (request) => {
      const signingKey = config.signalwire.signingKey;
      if (!signingKey) throw new AppError('FAX_PROVIDER_OFF', 'SIGNALWIRE_SIGNING_KEY is not set.');
      const header = request.headers['x-signalwire-signature'] ?? request.headers['x-twilio-signature'];
      const signature = typeof header === 'string' ? header : undefined;
      const params = (request.body ?? {}) as Record<string, string>;
      if (!verifySignalWire({ signingKey, signature, url: urlOf(request), params }))
        refuse(request, 'signalwire', 'the signature does not match', {
          hasSignature: signature !== undefined,
          faxSid: params.FaxSid,
        });
    });
    const hide = { schema: { hide: true } };
    scope.post('/webhooks/fax/signalwire', hide, async (_request, reply) =>
      reply.type(xml).send(receiveFaxTwiml(`${publicBaseUrl}/webhooks/fax/signalwire/received`)),
    );
    scope.post('/webhooks/fax/signalwire/received', hide, async (request, reply) => {
      const params = request.body as Record<string, string>;
      const receipt = parsed(request, 'signalwire', () => parseSignalWireFax(params));
      await deps.receiving.receive(receipt);
      return reply.type(xml).send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    });
    scope.post('/webhooks/fax/signalwire/status', hide, async (request, reply) => {
      const params = request.body as Record<string, string>;
      await deps.sending.settle(parsed(request, 'signalwire', () => parseSignalWireSendStatus(params)));
      return reply.code(204).send();
    });
  });

  // Telnyx: the signature covers the raw body, so JSON is parsed here, after it is checked.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_request, body, done) =>
      done(null, body),
    );
    scope.post('/webhooks/fax/telnyx', { schema: { hide: true } }, async (request, reply) => {
      const publicKey = config.telnyx.publicKey;
      if (!publicKey) throw new AppError('FAX_PROVIDER_OFF', 'TELNYX_PUBLIC_KEY is not set.');
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = (name: string) => {
        const value = request.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      const verdict = verifyTelnyx({
        publicKey,
        signature: header('telnyx-signature-ed25519'),
        timestamp: header('telnyx-timestamp'),
        rawBody,
        now: new Date(),
        toleranceSeconds: config.telnyx.toleranceSeconds,
      });
      if (!verdict.ok)
        refuse(
          request,
          'telnyx',
          verdict.reason === 'stale'
            ? 'the timestamp is too old or in the future'
            : 'the signature does not match',
          { reason: verdict.reason },
        );
      const event = parsed(request, 'telnyx', () => {
        let body: unknown;
        try {
          body = JSON.parse(rawBody.toString('utf8'));
        } catch {
          throw new FaxPayloadError('the body is not JSON');
        }
        return parseTelnyxEvent(body);
      });
      if (event.kind === 'inbound') await deps.receiving.receive(event.receipt);
      else if (event.kind === 'outbound') await deps.sending.settle(event.status);
      else request.log.info({ eventType: event.eventType, eventId: event.eventId }, 'telnyx event ignored');
      return reply.code(200).send({ received: true });
    });
  });

  // Phaxio and HylaFAX: multipart, with the document as a file part, in this scope only.
  await app.register(async (scope) => {
    await scope.register(multipart, {
      limits: {
        fileSize: config.maxDocumentBytes,
        files: 2,
        fields: 40,
        fieldSize: 64 * 1024,
        parts: 42,
        headerPairs: 40,
      },
    });

    /** Every field and file of the body, in memory (the signature covers the files' bytes). */
    async function readMultipart(request: FastifyRequest, provider: string): Promise<MultipartBody> {
      if (!request.isMultipart())
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Send the ${provider} report as multipart/form-data.`);
      const body: MultipartBody = { fields: {}, files: [] };
      try {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            const content = await part.toBuffer();
            body.files.push({
              fieldName: part.fieldname,
              fileName: part.filename,
              contentType: part.mimetype,
              content,
            });
          } else body.fields[part.fieldname] = String(part.value);
        }
      } catch (err) {
        if (err instanceof scope.multipartErrors.RequestFileTooLargeError)
          throw new AppError('PAYLOAD_TOO_LARGE', 'The fax document is over the size limit.');
        request.log.warn({ provider, err }, 'fax report refused: the multipart body cannot be read');
        throw new AppError('FAX_PAYLOAD_INVALID', 'The multipart body cannot be read.');
      }
      return body;
    }

    scope.post('/webhooks/fax/phaxio', { schema: { hide: true } }, async (request, reply) => {
      const callbackToken = config.phaxio.callbackToken;
      if (!callbackToken) throw new AppError('FAX_PROVIDER_OFF', 'PHAXIO_CALLBACK_TOKEN is not set.');
      const body = await readMultipart(request, 'phaxio');
      const header = request.headers['x-phaxio-signature'];
      const signature = typeof header === 'string' ? header : undefined;
      if (
        !verifyPhaxio({
          callbackToken,
          signature,
          url: urlOf(request),
          fields: body.fields,
          files: body.files,
        })
      )
        refuse(request, 'phaxio', 'the signature does not match', { hasSignature: signature !== undefined });
      const callback = parsed(request, 'phaxio', () =>
        parsePhaxioCallback(body.fields, body.files[0] ?? null),
      );
      if (callback.kind === 'inbound') await deps.receiving.receive(callback.receipt);
      else await deps.sending.settle(callback.status);
      return reply.code(200).send({ received: true });
    });

    scope.post('/webhooks/fax/hylafax', { schema: { hide: true } }, async (request, reply) => {
      const token = config.hylafax.token;
      if (!token) throw new AppError('FAX_PROVIDER_OFF', 'HYLAFAX_TOKEN is not set.');
      const authorization = request.headers.authorization;
      // The token is checked before the body is read: a stranger's upload is not buffered.
      if (!verifyHylafax({ token, authorization }))
        refuse(request, 'hylafax', 'the bearer token does not match', {
          hasToken: authorization !== undefined,
        });
      const body = await readMultipart(request, 'hylafax');
      const receipt = parsed(request, 'hylafax', () => parseHylafaxFax(body.fields, body.files[0] ?? null));
      const taken = await deps.receiving.receive(receipt);
      return reply.code(200).send({ received: true, outcome: taken.outcome });
    });
  });

  app.get('/webhooks/fax/media/:token', { schema: { hide: true } }, async (request, reply) => {
    const { token } = request.params as { token: string };
    const document = await deps.sending.documentFor(token);
    if (!document) {
      request.log.warn({ token: token.slice(0, 40) }, 'fax media link refused');
      throw new AppError('FAX_MEDIA_LINK_INVALID');
    }
    return reply
      .type('application/pdf')
      .header('cache-control', 'private, no-store')
      .header('x-content-type-options', 'nosniff')
      .send(document);
  });
}

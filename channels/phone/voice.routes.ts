/*
 * Twilio's voice webhooks under /webhooks/twilio/voice. Thin: every request's X-Twilio-Signature is checked
 * against the URL Twilio requested (PUBLIC_BASE_URL + path and query: behind a proxy the server sees
 * another URL) and the posted parameters; a bad or missing signature gets 403 and a log line. Handlers
 * answer TwiML (calls.ts); callbacks with nothing to say answer an empty 204.
 */
import formBody from '@fastify/formbody';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import twilio from 'twilio';
import { AppError } from '../../src/errors.js';
import type { TwilioParams, VoiceCalls } from './calls.js';

const Params = Type.Object(
  {
    CallSid: Type.String({ minLength: 2, maxLength: 64, pattern: '^CA[0-9a-fA-F]{32}$' }),
  },
  { additionalProperties: Type.String({ maxLength: 10_000 }) },
);

const xml = 'text/xml; charset=utf-8';

/** Ids our own callback URLs carry; anything else would reach Postgres as a malformed uuid. */
const isUuid = (text: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);

export async function voiceWebhookRoutes(
  app: FastifyInstance,
  deps: { calls: VoiceCalls | undefined; authToken: string | undefined; publicBaseUrl: string },
): Promise<void> {
  await app.register(async (scope) => {
    // Form bodies (Twilio posts application/x-www-form-urlencoded) are taken in this scope only: the API
    // keeps refusing them.
    await scope.register(formBody, { bodyLimit: 64 * 1024 });

    // Before the body schema: an unsigned request gets 403 whatever it holds, never a validation answer.
    scope.addHook('preValidation', async (request: FastifyRequest) => {
      if (!deps.calls || !deps.authToken) throw new AppError('PHONE_CHANNEL_OFF');
      const signature = request.headers['x-twilio-signature'];
      const url = `${deps.publicBaseUrl}${request.url}`;
      const params = (request.body ?? {}) as Record<string, string>;
      if (typeof signature !== 'string' || !twilio.validateRequest(deps.authToken, signature, url, params)) {
        request.log.warn(
          { url, hasSignature: typeof signature === 'string', callSid: params.CallSid },
          'twilio webhook refused: the signature does not match',
        );
        throw new AppError('WEBHOOK_SIGNATURE_INVALID');
      }
    });

    const calls = () => deps.calls as VoiceCalls;
    const body = (request: FastifyRequest) => request.body as TwilioParams;
    const twimlRoute = (path: string, handle: (request: FastifyRequest) => Promise<string> | string) =>
      scope.post(path, { schema: { body: Params, hide: true } }, async (request, reply) =>
        reply.type(xml).send(await handle(request)),
      );
    const callbackRoute = (path: string, handle: (request: FastifyRequest) => Promise<void>) =>
      scope.post(path, { schema: { body: Params, hide: true } }, async (request, reply) => {
        await handle(request);
        return reply.code(204).send();
      });

    twimlRoute('/webhooks/twilio/voice/incoming', (r) => calls().incoming(body(r)));
    twimlRoute('/webhooks/twilio/voice/ivr', (r) => {
      const seq = Number((r.query as { seq?: string }).seq);
      if (!Number.isInteger(seq) || seq < 1)
        throw new AppError('VALIDATION_FAILED', 'seq must be a turn number');
      return calls().ivrAnswer(body(r), seq);
    });
    twimlRoute('/webhooks/twilio/voice/wait', (r) => calls().wait(body(r)));
    twimlRoute('/webhooks/twilio/voice/wait-choice', (r) => calls().waitChoice(body(r)));
    twimlRoute('/webhooks/twilio/voice/queue-result', (r) => calls().queueResult(body(r)));
    twimlRoute('/webhooks/twilio/voice/dial-result', (r) => calls().dialResult(body(r)));
    twimlRoute('/webhooks/twilio/voice/voicemail', (r) => calls().voicemailDone(body(r)));
    twimlRoute('/webhooks/twilio/voice/hold-music', () => calls().holdMusic());
    twimlRoute('/webhooks/twilio/voice/whisper', (r) => {
      const { call, agent, silent } = r.query as { call?: string; agent?: string; silent?: string };
      if (!call || !agent || !isUuid(agent))
        throw new AppError('VALIDATION_FAILED', 'call and agent (an agent id) are required');
      return calls().whisper(body(r), call, agent, silent === '1');
    });
    twimlRoute('/webhooks/twilio/voice/callback-answer', (r) => {
      const { interaction, agent } = r.query as { interaction?: string; agent?: string };
      if (!interaction || !agent || !isUuid(interaction) || !isUuid(agent))
        throw new AppError('VALIDATION_FAILED', 'interaction and agent (ids) are required');
      return calls().callbackAnswered(body(r), interaction, agent);
    });
    twimlRoute('/webhooks/twilio/voice/click-to-call', (r) => {
      const { interaction, to } = r.query as { interaction?: string; to?: string };
      if (!interaction || !to) throw new AppError('VALIDATION_FAILED', 'interaction and to are required');
      return calls().clickToCallAnswered(body(r), interaction, to);
    });
    callbackRoute('/webhooks/twilio/voice/status', (r) => calls().status(body(r)));
    callbackRoute('/webhooks/twilio/voice/recording', (r) => calls().recordingReady(body(r)));
    callbackRoute('/webhooks/twilio/voice/transcription', (r) => calls().transcription(body(r)));
  });
}

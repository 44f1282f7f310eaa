/*
 * The phone API for the agent console (/api/phone): the softphone's access token (a VoiceGrant whose
 * identity is the agent), hold and unhold, the agent's choice of device (the softphone, or their own phone
 * number), and a call contact's legs. Mute is the softphone's own (the audio never leaves the browser).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import twilio from 'twilio';
import { currentAgent, roles } from '../../src/api/auth.guard.js';
import type { Config } from '../../src/config.js';
import { normalizeIdentity } from '../../src/customers/identity-normalizer.js';
import type { VoiceRepository } from '../../src/db/repositories/voice.repository.js';
import type { InteractionsService } from '../../src/interactions/interactions.service.js';
import { AppError } from '../../src/errors.js';
import { clientIdentityOf, type VoiceCalls } from './calls.js';

const InteractionParams = Type.Object({ interactionId: Type.String({ format: 'uuid' }) });
const Leg = Type.Object({
  callSid: Type.String(),
  purpose: Type.String(),
  direction: Type.String(),
  state: Type.String(),
  agentId: Type.Union([Type.String(), Type.Null()]),
  fromNumber: Type.String(),
  toNumber: Type.String(),
});

export function phoneAgentRoutes(
  app: FastifyInstance,
  deps: {
    config: Pick<Config, 'phone' | 'defaultPhoneRegion'>;
    calls: VoiceCalls | undefined;
    voice: VoiceRepository;
    interactions: Pick<InteractionsService, 'get'>;
  },
): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { phone } = deps.config;

  api.get(
    '/api/phone/token',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['phone'],
        summary: "An access token for the console's softphone (Twilio Voice SDK), valid one hour",
        response: {
          200: Type.Object({ token: Type.String(), identity: Type.String(), expiresAt: Type.String() }),
        },
      },
    },
    async (request) => {
      if (!deps.calls || !phone.authToken || !phone.apiKeySid || !phone.apiKeySecret)
        throw new AppError('PHONE_CHANNEL_OFF', 'The softphone needs TWILIO_API_KEY and TWILIO_API_SECRET.');
      const agent = currentAgent(request);
      const identity = clientIdentityOf(agent.id);
      const ttl = 3600;
      const token = new twilio.jwt.AccessToken(phone.accountSid, phone.apiKeySid, phone.apiKeySecret, {
        identity,
        ttl,
      });
      token.addGrant(
        new twilio.jwt.AccessToken.VoiceGrant({
          incomingAllow: true,
          ...(phone.twimlAppSid && { outgoingApplicationSid: phone.twimlAppSid }),
        }),
      );
      return { token: token.toJwt(), identity, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() };
    },
  );

  api.put(
    '/api/phone/device',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['phone'],
        summary: 'Where calls reach the agent: the softphone (phoneNumber null) or their own phone',
        body: Type.Object(
          { phoneNumber: Type.Union([Type.String({ minLength: 3, maxLength: 32 }), Type.Null()]) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ phoneNumber: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const agent = currentAgent(request);
      const number = request.body.phoneNumber === null ? null : phoneNumber(request.body.phoneNumber);
      await deps.voice.setAgentPhone(agent.id, number);
      return { phoneNumber: number };
    },
  );

  api.get(
    '/api/phone/calls/:interactionId',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['phone'],
        summary: "A call contact's legs (the caller's, callbacks), oldest first",
        params: InteractionParams,
        response: { 200: Type.Object({ legs: Type.Array(Leg) }) },
      },
    },
    async (request) => {
      const legs = await deps.voice.callsOf(request.params.interactionId);
      return {
        legs: legs.map((l) => ({
          callSid: l.callSid,
          purpose: l.purpose,
          direction: l.direction,
          state: l.state,
          agentId: l.agentId,
          fromNumber: l.fromNumber,
          toNumber: l.toNumber,
        })),
      };
    },
  );

  const phoneNumber = (value: string) => {
    try {
      return normalizeIdentity({ kind: 'phone', value }, deps.config.defaultPhoneRegion).value;
    } catch {
      throw new AppError('VALIDATION_FAILED', 'That is not a phone number.');
    }
  };

  api.post(
    '/api/phone/calls',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['phone'],
        summary: "Click-to-call: rings the agent's softphone (or phone), then dials the customer",
        body: Type.Object(
          {
            interactionId: Type.String({ format: 'uuid' }),
            to: Type.String({ minLength: 3, maxLength: 32 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ callSid: Type.String() }) },
      },
    },
    async (request, reply) => {
      if (!deps.calls) throw new AppError('PHONE_CHANNEL_OFF');
      const agent = currentAgent(request);
      const interaction = await deps.interactions.get(request.body.interactionId);
      if (interaction.status === 'closed') throw new AppError('INTERACTION_CLOSED');
      // An agent calls about the contacts they hold; supervisors about any.
      if (interaction.assigneeId !== agent.id && agent.role === 'agent') throw new AppError('NOT_ASSIGNEE');
      const placed = await deps.calls.placeCall({
        interactionId: interaction.id,
        agentId: agent.id,
        to: phoneNumber(request.body.to),
      });
      return reply.code(201).send(placed);
    },
  );

  api.post(
    '/api/phone/callbacks',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['phone'],
        summary: 'Schedules a callback: at `at`, a call contact to `number` is routed, and its agent calls',
        body: Type.Object(
          {
            number: Type.String({ minLength: 3, maxLength: 32 }),
            at: Type.String({ format: 'date-time' }),
            interactionId: Type.Optional(Type.String({ format: 'uuid' })),
            note: Type.Optional(Type.String({ maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ number: Type.String(), at: Type.String() }) },
      },
    },
    async (request, reply) => {
      if (!deps.calls) throw new AppError('PHONE_CHANNEL_OFF');
      const agent = currentAgent(request);
      const at = new Date(request.body.at);
      if (at.getTime() > Date.now() + 90 * 86_400_000)
        throw new AppError('VALIDATION_FAILED', 'A callback can be scheduled at most 90 days ahead.');
      if (request.body.interactionId) await deps.interactions.get(request.body.interactionId);
      const number = phoneNumber(request.body.number);
      await deps.calls.scheduleCallback({
        number,
        at,
        byAgentId: agent.id,
        interactionId: request.body.interactionId ?? null,
        note: request.body.note ?? null,
      });
      return reply.code(201).send({ number, at: at.toISOString() });
    },
  );

  api.post(
    '/api/phone/calls/:interactionId/hold',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['phone'],
        summary: 'Puts the caller on hold (music) or takes them back (the agent is rung again)',
        params: InteractionParams,
        body: Type.Object({ isOnHold: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: Type.Object({ isOnHold: Type.Boolean() }) },
      },
    },
    async (request) => {
      if (!deps.calls) throw new AppError('PHONE_CHANNEL_OFF');
      const agent = currentAgent(request);
      await deps.calls.hold(request.params.interactionId, agent.id, request.body.isOnHold);
      return { isOnHold: request.body.isOnHold };
    },
  );
}

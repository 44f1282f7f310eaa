/*
 * The phone channel, attached to the app: Twilio's voice webhooks (voice.routes.ts), the call logic
 * (calls.ts) with its IVR runner over the flows in routing-rules, the REST client that moves calls, and the
 * console's phone API. Without TWILIO_AUTH_TOKEN the channel is off: its webhooks answer 503 and nothing is
 * subscribed.
 *
 * Routing's events drive the calls: an accepted offer (or an assignment, pull or transfer to an agent)
 * connects the waiting caller to that agent, or places the callback they asked for; a call contact closed
 * by an agent or supervisor hangs the call up.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/config.js';
import type { VoiceRepository } from '../../src/db/repositories/voice.repository.js';
import type { DomainEvents } from '../../src/events.js';
import type { AttachmentsService } from '../../src/interactions/attachments.service.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { InteractionsService } from '../../src/interactions/interactions.service.js';
import type { JobQueue } from '../../src/jobs/job-registry.js';
import type { RulesSource } from '../../src/routing/dispatch.service.js';
import type { RoutingService } from '../../src/routing/routing.service.js';
import { phoneAgentRoutes } from './agent.routes.js';
import { createCallState } from './call-state.js';
import { createVoiceCalls, type VoiceCalls } from './calls.js';
import { httpLookup } from './lookups.js';
import { startStepLog } from './step-log.js';
import { createTwilioClient, type TwilioClient } from './twilio-client.js';
import { voiceWebhookRoutes } from './voice.routes.js';
import type { LogSecrets } from '../../src/log-redaction.js';

/** What the logs must not show of this channel's requests (src/log-redaction.ts): Twilio's signature. */
export const phoneLogSecrets: LogSecrets = { headers: ['x-twilio-signature'] };

export interface PhoneChannel {
  calls: VoiceCalls;
  twilio: TwilioClient;
  stop: () => Promise<void>;
}

export async function attachPhone(
  app: FastifyInstance,
  deps: {
    config: Pick<Config, 'phone' | 'publicBaseUrl' | 'redisPrefix' | 'defaultPhoneRegion'>;
    redis: Redis;
    rules: RulesSource;
    voice: VoiceRepository;
    ingest: (contact: InboundContact) => Promise<IngestResult>;
    routing: Pick<RoutingService, 'route' | 'endContact' | 'move'>;
    jobs: JobQueue;
    events: DomainEvents;
    attachments: Pick<AttachmentsService, 'keep' | 'discard'>;
    interactions: Pick<InteractionsService, 'get'>;
  },
): Promise<PhoneChannel | undefined> {
  const { config } = deps;
  const { authToken } = config.phone;
  const log = app.log.child({ channel: 'voice' });
  let channel: PhoneChannel | undefined;
  if (authToken) {
    const client = createTwilioClient({
      accountSid: config.phone.accountSid,
      authToken,
      apiBaseUrl: config.phone.apiBaseUrl,
    });
    // IVR turns on a connection of their own: a caller's turn never queues behind the app's other Redis
    // traffic (the step log's batches, presence, sessions) on one socket.
    const turns = deps.redis.duplicate();
    turns.on('error', (err) => log.warn({ err: err.message }, 'redis error (IVR turns)'));
    const calls = createVoiceCalls({
      config,
      rules: deps.rules,
      state: createCallState(turns, config.redisPrefix),
      voice: deps.voice,
      ingest: deps.ingest,
      routing: deps.routing,
      twilio: client,
      jobs: deps.jobs,
      events: deps.events,
      attachments: deps.attachments,
      lookup: httpLookup,
      log,
    });
    const connect = (interactionId: string, agentId: string) => {
      calls.connectAgent(interactionId, agentId).catch(async (err: unknown) => {
        log.warn({ err, interactionId, agentId }, 'connecting an agent to a call failed; retrying as a job');
        await deps.jobs
          .enqueue(
            'phone.connect-agent',
            { interactionId, agentId },
            { jobId: `connect-${interactionId}-${agentId}` },
          )
          .catch((error: unknown) => log.error({ err: error, interactionId }, 'could not queue the retry'));
      });
    };
    const unsubscribe = [
      deps.events.subscribe('offer.accepted', ({ interactionId, agentId, channel: offered }) => {
        if (offered === 'voice') connect(interactionId, agentId);
      }),
      // A call moved to a queue by hand (an agent's transfer) waits there again with hold music.
      deps.events.subscribe('interaction.queued', ({ interactionId, queue, isMoved }) => {
        if (!isMoved) return;
        calls
          .requeue(interactionId, queue)
          .catch((err: unknown) => log.warn({ err, interactionId }, 'requeueing a call failed'));
      }),
      deps.events.subscribe('interaction.assigned', ({ interactionId, agentId }) =>
        connect(interactionId, agentId),
      ),
      deps.events.subscribe('interaction.closed', ({ interactionId, channel: closedChannel, closedBy }) => {
        // The caller's own hang-up closed it: there is nothing left to hang up.
        if (closedChannel !== 'voice' || closedBy === 'customer') return;
        calls
          .hangUp(interactionId)
          .catch((err: unknown) => log.warn({ err, interactionId }, 'hanging up failed'));
      }),
    ];
    const stepLog = startStepLog({ redis: deps.redis, prefix: config.redisPrefix, voice: deps.voice, log });
    channel = {
      calls,
      twilio: client,
      stop: async () => {
        unsubscribe.forEach((off) => off());
        await stepLog.stop();
        turns.disconnect();
      },
    };
    app.addHook('onClose', async () => channel?.stop());
  } else {
    log.info('no TWILIO_AUTH_TOKEN: the phone channel is off');
  }
  await voiceWebhookRoutes(app, { calls: channel?.calls, authToken, publicBaseUrl: config.publicBaseUrl });
  phoneAgentRoutes(app, {
    config,
    calls: channel?.calls,
    voice: deps.voice,
    interactions: deps.interactions,
  });
  return channel;
}

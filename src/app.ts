import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createAgentStateService } from './agents/agent-state.service.js';
import { createAgentsService } from './agents/agents.service.js';
import { createAuthService } from './agents/auth.service.js';
import { createSessionStore } from './agents/session.store.js';
import { agentsRoutes } from './api/agents.routes.js';
import { auditRoutes } from './api/audit.routes.js';
import { authRoutes } from './api/auth.routes.js';
import { registerAuthGuard } from './api/auth.guard.js';
import { customersRoutes } from './api/customers.routes.js';
import { interactionsRoutes } from './api/interactions.routes.js';
import { systemRoutes } from './api/system.routes.js';
import type { Config } from './config.js';
import { createCustomersService } from './customers/customers.service.js';
import { createDuplicateDetector } from './customers/duplicate-detector.service.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { createAgentStatesRepository } from './db/repositories/agent-states.repository.js';
import { createAgentsRepository } from './db/repositories/agents.repository.js';
import { createAuditRepository } from './db/repositories/audit.repository.js';
import { createCustomersRepository } from './db/repositories/customers.repository.js';
import { createDuplicatesRepository } from './db/repositories/duplicates.repository.js';
import { createInteractionsRepository } from './db/repositories/interactions.repository.js';
import { createMergesRepository } from './db/repositories/merges.repository.js';
import { createRoutingRepository } from './db/repositories/routing.repository.js';
import { AppError, errorCatalogue, isAppError } from './errors.js';
import { DomainEvents } from './events.js';
import { createIngestService } from './interactions/ingest.service.js';
import { createInteractionsService } from './interactions/interactions.service.js';
import { createJobQueue, startJobWorker, type JobHandlers } from './jobs/job-registry.js';
import { createDispatcher } from './routing/dispatch.service.js';
import { createOffersService } from './routing/offers.service.js';
import { createQueueingService } from './routing/queueing.service.js';
import { RulesStore } from './routing/rules/rules.loader.js';

export interface AppOptions {
  config: Config;
  /** Fastify/pino logger settings; false in most tests. */
  logger?: FastifyServerOptions['logger'];
  /** Run the job worker in this process (default true). */
  isWorker?: boolean;
}

export type Services = Awaited<ReturnType<typeof buildApp>>['services'];

/*
 * Builds the whole application in a fixed order: infrastructure (Postgres, Redis, jobs, metrics), then
 * repositories and services, then the HTTP surface. Closing the app closes everything it opened.
 */
export async function buildApp(options: AppOptions) {
  const { config } = options;
  if (!config.databaseUrl || !config.redisUrl)
    throw new Error('buildApp needs databaseUrl and redisUrl (main.ts starts local services)');

  const app = Fastify({
    logger: options.logger ?? false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    // Unknown fields are refused (400) where a schema says additionalProperties: false, not dropped silently.
    ajv: { customOptions: { removeAdditional: false } },
    trustProxy: true,
  });

  // 1. Infrastructure.
  const database: DatabaseHandle = openDatabase(config.databaseUrl, config.databaseSchema);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
  redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis error'));
  const bullConnection = { url: config.redisUrl, maxRetriesPerRequest: null };
  const jobs = createJobQueue(bullConnection, config.redisPrefix);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const httpDuration = new Histogram({
    name: 'switchboard_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });
  const ingested = new Counter({
    name: 'switchboard_contacts_ingested_total',
    help: 'Contacts ingested, by channel and whether they were provider retries',
    labelNames: ['channel', 'duplicate'],
    registers: [metrics],
  });

  // 2. Repositories and services.
  const events = new DomainEvents();
  const { db, pool } = database;
  const repositories = {
    agents: createAgentsRepository(db),
    audit: createAuditRepository(db),
    customers: createCustomersRepository(db),
    duplicates: createDuplicatesRepository(db),
    interactions: createInteractionsRepository(db, pool, {
      maxInFlight: config.ingestMaxInFlight,
      maxBatch: 32,
    }),
    agentStates: createAgentStatesRepository(db),
    routing: createRoutingRepository(db, pool),
  };
  const merges = createMergesRepository(db, repositories.audit);
  const sessions = createSessionStore(redis, config.redisPrefix, config.sessionTtlSeconds);
  const auth = createAuthService({ agents: repositories.agents, sessions });
  const agents = createAgentsService({ agents: repositories.agents, audit: repositories.audit, sessions });
  const duplicateDetector = createDuplicateDetector({
    ...repositories,
    events,
    defaultPhoneRegion: config.defaultPhoneRegion,
  });
  const ingestService = createIngestService({
    interactions: repositories.interactions,
    events,
    defaultPhoneRegion: config.defaultPhoneRegion,
  });
  const ingest = async (contact: Parameters<typeof ingestService.ingest>[0]) => {
    const result = await ingestService.ingest(contact);
    ingested.inc({ channel: contact.channel, duplicate: String(result.isDuplicate) });
    return result;
  };
  const customers = createCustomersService({
    ...repositories,
    merges,
    events,
    defaultPhoneRegion: config.defaultPhoneRegion,
  });
  const interactions = createInteractionsService({ interactions: repositories.interactions, events });

  // Routing: the rules in force (an invalid folder is logged and leaves routing refusing with 503), then
  // enqueue, dispatch and offers, and agent state, which hands a newly available agent to the dispatcher.
  const rules = new RulesStore(config.routingRulesDir);
  const rulesOutcome = await rules.load();
  if (rulesOutcome.status === 'refused')
    app.log.error({ problems: rulesOutcome.problems }, 'routing rules refused; routing is unavailable');
  const dispatcher = createDispatcher({ routing: repositories.routing, rules, jobs, events });
  const routing = {
    rules,
    dispatcher,
    queueing: createQueueingService({ routing: repositories.routing, rules, events }),
    offers: createOffersService({ routing: repositories.routing, rules, events, dispatcher }),
  };
  const agentStates = createAgentStateService({
    agentStates: repositories.agentStates,
    events,
    onAbleToWork: (agentId) => dispatcher.dispatchForAgent(agentId),
  });

  const jobHandlers: JobHandlers = {
    'customers.sweep-duplicates': async () => {
      await duplicateDetector.sweep(200);
    },
    'routing.expire-offer': async ({ offerId }) => {
      await routing.offers.expire(offerId);
    },
    'routing.sweep-overdue-offers': async () => {
      if (routing.rules.current) await routing.offers.expireOverdue(config.offerSweepMs);
    },
  };
  const worker =
    options.isWorker === false
      ? undefined
      : startJobWorker(bullConnection, config.redisPrefix, jobHandlers, app.log);
  if (worker) {
    await jobs.schedule('customers.sweep-duplicates', config.duplicateSweepMs);
    await jobs.schedule('routing.sweep-overdue-offers', config.offerSweepMs);
  }

  app.addHook('onClose', async () => {
    await worker?.close();
    await jobs.close();
    redis.disconnect();
    await database.close();
  });

  // 3. HTTP surface.
  await app.register(cookie);
  // The API takes JSON only: a text/plain body is what a cross-site form or fetch can send without a
  // preflight, so refusing it (415) backs up the Origin check against CSRF.
  app.removeContentTypeParser('text/plain');
  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchboard API', version: '0.1.0', description: 'Omnichannel contact-center engine' },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'sb_session' } } },
      security: [{ session: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.addHook('onResponse', async (request, reply) => {
    httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: appError.code, reason: appError.message }, 'request refused');
    return reply.code(appError.status).send({
      error: {
        code: appError.code,
        message: appError.status < 500 ? appError.message : errorCatalogue[appError.code].message,
        requestId: request.id,
        ...(appError.status < 500 && appError.details && { details: appError.details }),
      },
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `No route ${request.method} ${request.url}`,
        requestId: request.id,
      },
    }),
  );

  registerAuthGuard(app, auth, config.publicBaseUrl);
  systemRoutes(app, { db, redis, metrics });
  authRoutes(app, {
    auth,
    isSecureCookie: config.isSecureCookie,
    sessionTtlSeconds: config.sessionTtlSeconds,
  });
  agentsRoutes(app, { agents });
  customersRoutes(app, { customers });
  interactionsRoutes(app, { interactions });
  auditRoutes(app, { audit: repositories.audit });

  const services = {
    ingest,
    customers,
    interactions,
    agents,
    agentStates,
    routing,
    auth,
    duplicateDetector,
    events,
    jobs,
    repositories,
    merges,
    db,
    pool,
  };
  return { app: app as FastifyInstance, services };
}

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P03',
  '08006',
  '08001',
]);

function toAppError(error: FastifyError & { code?: string }): AppError {
  if (isAppError(error)) return error;
  if (error.validation)
    return new AppError('VALIDATION_FAILED', error.message, { validation: error.validation });
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new AppError('PAYLOAD_TOO_LARGE');
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new AppError('UNSUPPORTED_MEDIA_TYPE');
  if (error.code && connectionErrorCodes.has(error.code)) return new AppError('SERVICE_UNAVAILABLE');
  if (
    /Connection terminated|connect ECONNREFUSED|Connection is closed|timeout exceeded when trying to connect/i.test(
      error.message,
    )
  ) {
    return new AppError('SERVICE_UNAVAILABLE');
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
    return new AppError('VALIDATION_FAILED', error.message);
  return new AppError('INTERNAL');
}

import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { Redis } from 'ioredis';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createAgentStateService } from './agents/agent-state.service.js';
import { createAgentsService } from './agents/agents.service.js';
import { createAuthService } from './agents/auth.service.js';
import { createLoginGuard } from './agents/login-guard.js';
import { createSessionStore } from './agents/session.store.js';
import { createCannedRepliesService } from './answers/canned-replies.service.js';
import { agentsRoutes } from './api/agents.routes.js';
import { attachmentsRoutes } from './api/attachments.routes.js';
import { reportsRoutes } from './api/reports.routes.js';
import { createEventLogRepository } from './db/repositories/event-log.repository.js';
import { auditRoutes } from './api/audit.routes.js';
import { cannedRepliesRoutes } from './api/canned-replies.routes.js';
import { consoleRoutes } from './api/console.routes.js';
import { authRoutes } from './api/auth.routes.js';
import { registerAuthGuard } from './api/auth.guard.js';
import { customersRoutes } from './api/customers.routes.js';
import { interactionsRoutes } from './api/interactions.routes.js';
import { routingRoutes } from './api/routing.routes.js';
import { systemRoutes } from './api/system.routes.js';
import type { Config } from './config.js';
import { createCustomersService } from './customers/customers.service.js';
import { createDuplicateDetector } from './customers/duplicate-detector.service.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { createAgentStatesRepository } from './db/repositories/agent-states.repository.js';
import { createAgentsRepository } from './db/repositories/agents.repository.js';
import { createAttachmentsRepository } from './db/repositories/attachments.repository.js';
import { createAuditRepository } from './db/repositories/audit.repository.js';
import { createCannedRepliesRepository } from './db/repositories/canned-replies.repository.js';
import { createCustomersRepository } from './db/repositories/customers.repository.js';
import { createDuplicatesRepository } from './db/repositories/duplicates.repository.js';
import { createInteractionsRepository } from './db/repositories/interactions.repository.js';
import { createMergesRepository } from './db/repositories/merges.repository.js';
import { createMessagesRepository } from './db/repositories/messages.repository.js';
import { createRoutingControlRepository } from './db/repositories/routing-control.repository.js';
import { createRoutingRepository } from './db/repositories/routing.repository.js';
import { AppError, errorCatalogue, isAppError } from './errors.js';
import { withLogRedaction } from './log-redaction.js';
import { DomainEvents } from './events.js';
import { createAttachmentsService } from './interactions/attachments.service.js';
import { createDispositionsService } from './interactions/dispositions.service.js';
import { createIngestService } from './interactions/ingest.service.js';
import { createInteractionsService } from './interactions/interactions.service.js';
import { OutboundRegistry } from './interactions/outbound-message.js';
import { createOutboundService } from './interactions/outbound.service.js';
import { createTransferService } from './interactions/transfer.service.js';
import { createJobQueue, startJobWorker, type JobHandlers } from './jobs/job-registry.js';
import { attachRealtime, createPresenceService } from './realtime/index.js';
import { createDispatcher } from './routing/dispatch.service.js';
import { createOffersService } from './routing/offers.service.js';
import { createEscalationService } from './routing/escalation.service.js';
import { createQueueingService } from './routing/queueing.service.js';
import { createRoutingService } from './routing/routing.service.js';
import { startRulesSync } from './routing/rules-sync.js';
import { RulesStore } from './routing/rules/rules.loader.js';
import { attachWebchat } from '../channels/webchat/index.js';
import { attachEmail } from '../channels/email/index.js';
import { attachPhone, phoneLogSecrets, type PhoneChannel } from '../channels/phone/index.js';
import { attachFax, faxLogSecrets, type FaxChannel } from '../channels/fax/index.js';
import { createVoiceRepository } from './db/repositories/voice.repository.js';
import { createFaxRepository } from './db/repositories/fax.repository.js';
import { createReportsRepository } from './db/repositories/reports.repository.js';
import { createReportRollups } from './reports/rollups.js';
import { createSlaRepository } from './db/repositories/sla.repository.js';
import { createSlaService } from './sla/sla.service.js';
import { createAlertNotifier } from './alerts/alert-notifier.js';
import { slaRoutes } from './api/sla.routes.js';
import type { PollerOptions } from '../channels/email/imap-poller.js';
import { createEmailRepository } from './db/repositories/email.repository.js';
import { createLiveBoardRepository } from './db/repositories/live-board.repository.js';
import { createLiveBoardService, type LiveBoardOptions } from './reports/live-board.service.js';
import { supervisorRoutes } from './api/supervisor.routes.js';
import { createSupervisorActions } from './agents/supervisor-actions.service.js';

export interface AppOptions {
  config: Config;
  /** Fastify/pino logger settings; false in most tests. */
  logger?: FastifyServerOptions['logger'];
  /** Run the job worker in this process (default true). */
  isWorker?: boolean;
  /** Mailbox readers' timings (tests shorten the lease). */
  emailPoller?: Partial<PollerOptions>;
  /** The supervisors' live board timings (tests shorten the lease). */
  liveBoard?: LiveBoardOptions;
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
    // Credentials are redacted from whatever logger is given (src/log-redaction.ts).
    logger: withLogRedaction(options.logger ?? false, [phoneLogSecrets, faxLogSecrets]),
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    // Unknown fields are refused (400) where a schema says additionalProperties: false, not dropped silently.
    ajv: { customOptions: { removeAdditional: false } },
    // Whose X-Forwarded-For gives request.ip (config.ts, TRUST_PROXY): nobody's unless configured.
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(config.trustProxy)
        : config.trustProxy,
    // A URL that cannot be decoded (`%ED%A0%80`) or a path parameter over the length limit is refused by the
    // router before any route runs: the same error envelope as every other refusal.
    frameworkErrors: (error, request, reply) => void sendError(error, request, reply),
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
    email: createEmailRepository(db),
    voice: createVoiceRepository(db),
    fax: createFaxRepository(db),
    reports: createReportsRepository(db),
    sla: createSlaRepository(db),
  };
  const merges = createMergesRepository(db, repositories.audit);
  const sessions = createSessionStore(redis, config.redisPrefix, config.sessionTtlSeconds);
  // Failed logins lock the account and throttle the address (in Redis, so across processes); a lockout is
  // audited against the agent when the email is one's, else against the email typed.
  const loginGuard = createLoginGuard({
    redis,
    prefix: config.redisPrefix,
    limits: config.login,
    onLocked: async ({ email, ip, failures, lockoutSeconds }) => {
      const agentId = (await repositories.agents.findCredentials(email))?.id;
      app.log.warn({ agentId, ip, failures, lockoutSeconds }, 'login locked after repeated failures');
      await repositories.audit.record({
        actorId: null,
        action: 'agent.loginLocked',
        subjectType: agentId ? 'agent' : 'login',
        subjectId: agentId ?? email,
        details: { email, ip, failures, lockoutSeconds },
      });
    },
  });
  const auth = createAuthService({ agents: repositories.agents, sessions, guard: loginGuard });
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
  // Attachments whose bytes the core keeps (web chat images): stored by the channel, served to agents.
  const attachmentsRepository = createAttachmentsRepository(db);
  const attachments = createAttachmentsService({ attachments: attachmentsRepository });
  // Channel adapters register their senders here; an agent's reply goes out through them.
  const outboundRegistry = new OutboundRegistry();
  const outbound = createOutboundService({
    messages: createMessagesRepository(db),
    drafts: attachmentsRepository,
    interactions,
    registry: outboundRegistry,
    jobs,
    events,
    log: app.log,
  });

  // Routing: the rules in force (an invalid folder is logged and leaves routing refusing with 503), then
  // enqueue, dispatch and offers, and agent state, which hands a newly available agent to the dispatcher.
  const rules = new RulesStore(config.routingRulesDir);
  const rulesOutcome = await rules.load();
  if (rulesOutcome.status === 'refused')
    app.log.error({ problems: rulesOutcome.problems }, 'routing rules refused; routing is unavailable');
  const dispatcher = createDispatcher({ routing: repositories.routing, rules, jobs, events });
  const offers = createOffersService({
    routing: repositories.routing,
    rules,
    events,
    dispatcher,
    // Set away for missed offers: the agent's other live offers go elsewhere too (routing is built below).
    onSetAway: (agentId, reason) => routing.withdrawOffersOf(agentId, reason),
  });
  const control = createRoutingControlRepository(db);
  const queueing = createQueueingService({ routing: repositories.routing, rules, events });
  const escalation = createEscalationService({ control, rules, dispatcher });
  const routingService = createRoutingService({
    routing: repositories.routing,
    control,
    rules,
    queueing,
    dispatcher,
    offers,
    escalation,
    events,
    jobs,
    log: app.log,
  });
  const rulesSync = startRulesSync({
    rules,
    redis,
    prefix: config.redisPrefix,
    audit: repositories.audit,
    log: app.log,
    watch: config.watchRoutingRules,
  });
  const routing = { rules, rulesSync, dispatcher, queueing, offers, escalation, ...routingService };
  // An agent's transfer to a colleague (checked, then routing's move) and the wrap-up codes a close needs.
  const transfers = createTransferService({
    interactions: repositories.interactions,
    roster: (agentId) => repositories.agentStates.roster(agentId),
    rules,
    move: (...args) => routing.move(...args),
  });
  const dispositions = createDispositionsService({ interactions: repositories.interactions, rules });
  // Standard answers: the library agents reply from, and the answers web chat offers visitors (a visitor's
  // "that answered me" ends the contact through routing).
  const cannedReplies = createCannedRepliesService({
    replies: createCannedRepliesRepository(db, repositories.audit),
    interactions: repositories.interactions,
    customers: repositories.customers,
    endContact: (interactionId, options) => routing.endContact(interactionId, options),
  });
  const agentStates = createAgentStateService({
    agentStates: repositories.agentStates,
    events,
    onAbleToWork: (agentId) => dispatcher.dispatchForAgent(agentId),
    onUnableToWork: (agentId) => routing.withdrawOffersOf(agentId, 'the agent is no longer available'),
  });
  // Presence: an agent whose console sockets are all gone for the grace is set offline (realtime/).
  const presence = createPresenceService({
    redis,
    prefix: config.redisPrefix,
    jobs,
    agentStates,
    graceMs: config.presenceGraceMs,
    heartbeatMs: config.presenceHeartbeatMs,
    log: app.log,
  });
  // A new interaction is routed in this process right after ingest (the sweep routes any this process
  // never got to: it died, or routing failed). Listeners run after the ingest committed.
  if (config.routeOnIngest) {
    events.subscribe('contact.ingested', (contact) => {
      if (!(contact.isNewInteraction || contact.isReopened) || contact.isRoutingDeferred || !rules.current)
        return;
      routing.route(contact.interactionId).catch((err: unknown) => {
        app.log.error({ err, interactionId: contact.interactionId }, 'routing a new interaction failed');
      });
    });
  }

  // Historical reports: hourly rollups of the log, built by a repeating job (src/reports/rollups.ts).
  const rollups = createReportRollups({
    reports: repositories.reports,
    targets: () => ({
      targets: new Map(
        [...(rules.current?.queues.values() ?? [])].map((queue) => [
          queue.name,
          { serviceLevelSeconds: queue.serviceLevelSeconds, shortAbandonSeconds: 0 },
        ]),
      ),
      defaultTargets: { serviceLevelSeconds: 20, shortAbandonSeconds: 0 },
    }),
    log: app.log,
  });

  // Supervisors' alert email (mailed through the email channel once it is attached, below).
  const alerts = createAlertNotifier({
    to: config.alertEmail.to,
    everyMinutes: config.alertEmail.everyMinutes,
    redis,
    prefix: config.redisPrefix,
    log: app.log,
  });
  // Service-level clocks and their warnings and breaches, kept by a repeating sweep (src/sla/).
  const sla = createSlaService({
    sla: repositories.sla,
    rules,
    dispatcher,
    events,
    log: app.log,
    alert: (alert) => alerts.notify(alert),
  });

  // Set once the phone channel is attached (below); its jobs may only run after that.
  const attached: { phone?: PhoneChannel; fax?: FaxChannel } = {};
  let isSweepingDuplicates = false;
  const jobHandlers: JobHandlers = {
    'agents.presence-check': async ({ agentId }) => {
      await presence.check(agentId);
    },
    'agents.sweep-presence': async () => {
      await presence.sweep();
    },
    'customers.sweep-duplicates': async () => {
      // One run at a time in a process: a slow run (many new customers) must not be joined by the next ones,
      // which would check the same customers and take the worker's slots from offer timeouts.
      if (isSweepingDuplicates) return;
      isSweepingDuplicates = true;
      try {
        await duplicateDetector.sweep(200);
      } finally {
        isSweepingDuplicates = false;
      }
    },
    'routing.expire-offer': async ({ offerId }) => {
      await routing.offers.expire(offerId);
    },
    'routing.expire-offers': async () => {
      if (routing.rules.current) await routing.offers.expireDue();
    },
    'routing.sweep-overdue-offers': async () => {
      if (routing.rules.current) await routing.sweep(config.offerSweepMs);
    },
    'messages.deliver': async ({ eventId }, { attempt, isLastAttempt }) => {
      await outbound.deliver(eventId, { attempt, isLastAttempt });
    },
    'routing.route': async ({ interactionId }) => {
      await routing.route(interactionId);
    },
    'routing.dispatch': async ({ interactionId }) => {
      await routing.dispatcher.dispatch({ interactionIds: [interactionId] });
    },
    'routing.end-wrap-up': async ({ agentId }) => {
      await routing.endWrapUp(agentId, true);
    },
    'routing.escalate': async () => {
      await routing.escalate();
    },
    'phone.fetch-recording': async (job) => {
      if (!attached.phone) throw new Error('the phone channel is off in this process');
      await attached.phone.calls.fetchRecording(job);
    },
    'phone.scheduled-callback': async (job) => {
      if (!attached.phone) throw new Error('the phone channel is off in this process');
      await attached.phone.calls.startScheduledCallback(job);
    },
    'phone.connect-agent': async ({ interactionId, agentId }) => {
      if (!attached.phone) throw new Error('the phone channel is off in this process');
      await attached.phone.calls.connectAgent(interactionId, agentId);
    },
    'reports.rollup': async () => {
      await rollups.buildDue(new Date());
    },
    'sla.sweep': async () => {
      await sla.sweep();
    },
    'fax.process': async (job, attempt) => {
      if (!attached.fax) throw new Error('the fax channel is not attached yet');
      await attached.fax.receiving.process(job, attempt);
    },
  };
  const worker =
    options.isWorker === false
      ? undefined
      : startJobWorker(bullConnection, config.redisPrefix, jobHandlers, app.log);
  if (worker) {
    await jobs.schedule('customers.sweep-duplicates', config.duplicateSweepMs);
    await jobs.schedule('agents.sweep-presence', config.presenceHeartbeatMs);
    await jobs.schedule('routing.sweep-overdue-offers', config.offerSweepMs);
    await jobs.schedule('routing.escalate', config.escalationSweepMs);
    await jobs.schedule('reports.rollup', 60_000);
    await jobs.schedule('sla.sweep', config.slaSweepMs);
  }

  app.addHook('onClose', async () => {
    await rulesSync.stop();
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
  app.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply));
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
  interactionsRoutes(app, { interactions, outbound });
  attachmentsRoutes(app, { attachments, interactions, maxUploadBytes: 25 * 1024 * 1024 });
  routingRoutes(app, {
    routing,
    offers: routing.offers,
    agentStates,
    repository: repositories.routing,
    interactions,
    rules,
    rulesSync,
    transfers,
    dispositions,
  });
  auditRoutes(app, { audit: repositories.audit });
  slaRoutes(app, { sla: repositories.sla });
  cannedRepliesRoutes(app, { cannedReplies });
  reportsRoutes(app, { eventLog: createEventLogRepository(db), reports: repositories.reports });
  // The live board reads through connections of its own: when the center is overloaded and ingest and routing
  // queue up for the main pool, supervisors still get their board every second.
  const boardDatabase = openDatabase(config.databaseUrl, config.databaseSchema, { max: 2 });
  app.addHook('onClose', async () => boardDatabase.close());
  const liveBoardRepository = createLiveBoardRepository(boardDatabase.db);
  supervisorRoutes(app, {
    actions: createSupervisorActions({ agentStates, agents: repositories.agents, audit: repositories.audit }),
    liveBoard: liveBoardRepository,
  });
  // The agent console's built files at `/` (web-console/).
  await consoleRoutes(app);
  // 4. Realtime: socket.io on the same server, spanning processes through Redis (namespaces /agent and
  // /supervisor), and the supervisors' live board, computed by one process and published through /supervisor
  // (`realtime` is read only once the board is started, below).
  const liveBoard = createLiveBoardService({
    repository: liveBoardRepository,
    rules,
    redis,
    prefix: config.redisPrefix,
    timeZone: config.reportsTimeZone,
    publish: (board) => realtime.supervisors.publish(board),
    onAlertRaised: (alert) => {
      const where = alert.channel ? `${alert.queue} (${alert.channel})` : alert.queue;
      alerts
        .notify({
          key: `board:${alert.kind}:${alert.queue}:${alert.channel ?? ''}`,
          subject: `${alert.kind === 'service-level' ? 'Service level' : alert.kind === 'longest-wait' ? 'Long wait' : 'SLA breached'} in ${where}`,
          text: `${alert.message} (${where}, since ${alert.since}).`,
        })
        .catch((err: unknown) => app.log.warn({ err }, 'alert email failed'));
    },
    log: app.log,
    ...(options.liveBoard && { options: options.liveBoard }),
  });
  app.addHook('preClose', async () => liveBoard.stop());
  const realtime = attachRealtime(app, {
    config,
    board: liveBoard,
    auth,
    sessions,
    presence,
    agentStates,
    offers: routing.offers,
    liveOffersOf: async (agentId) =>
      (await repositories.routing.liveOffersOf(agentId)).map((o) => ({
        offerId: o.id,
        interactionId: o.interactionId,
        channel: o.channel,
        expiresAt: o.expiresAt,
        reason: o.reason,
      })),
    openWorkOf: async (agentId) =>
      (await repositories.routing.worklistOf(agentId)).map((item) => item.interactionId),
    events,
  });
  const { io } = realtime;
  liveBoard.start();
  // 5. Channels: web chat (namespace /chat, GET /widget.js, visitors' images, the chat sender).
  attachWebchat(app, {
    io,
    config,
    redis,
    ingest,
    interactions,
    routing,
    rules,
    workingAgents: () => repositories.routing.workingAgents(),
    agentNameOf: async (agentId) => (await repositories.agents.findById(agentId))?.displayName ?? null,
    outboundRegistry,
    outbound,
    events,
    answers: cannedReplies,
    attachments,
  });

  // Fax (provider webhooks, the document pipeline, replies by fax, fax search).
  const fax = await attachFax(app, {
    config,
    redis,
    faxes: repositories.fax,
    ingest,
    attachments,
    jobs,
    outboundRegistry,
    reportFailure: (eventId, reason) => outbound.reportFailure(eventId, reason),
  });
  attached.fax = fax;

  // Email (IMAP readers, one per mailbox across the cluster; SMTP replies), when a mailboxes file exists.
  const email = await attachEmail(app, {
    config,
    redis,
    ingest,
    email: repositories.email,
    attachments,
    outboundRegistry,
    outbound,
    interactions,
    faxLine: (mail) => fax.receiveMail(mail),
    ...(options.emailPoller && { pollerOptions: options.emailPoller }),
  });
  alerts.useMailer(email ? (notice) => email.sendNotice(notice) : null);

  // Phone (Twilio voice webhooks, the IVR, agent bridging), when TWILIO_AUTH_TOKEN is set.
  const phone = await attachPhone(app, {
    config,
    redis,
    rules,
    voice: repositories.voice,
    ingest,
    routing,
    jobs,
    events,
    attachments,
    interactions,
  });
  if (phone) attached.phone = phone;

  const services = {
    email,
    phone,
    fax,
    attachments,
    ingest,
    customers,
    interactions,
    outbound,
    outboundRegistry,
    agents,
    agentStates,
    presence,
    liveBoard,
    routing,
    transfers,
    dispositions,
    rollups,
    sla,
    alerts,
    auth,
    cannedReplies,
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

/** Every refusal and failure leaves as `{ error: { code, message, requestId } }`, its status from the catalogue. */
function sendError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
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

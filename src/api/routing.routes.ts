import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { AgentStateService } from '../agents/agent-state.service.js';
import type { RoutingRepository } from '../db/repositories/routing.repository.js';
import type { DispositionsService } from '../interactions/dispositions.service.js';
import type { InteractionsService } from '../interactions/interactions.service.js';
import type { TransferService } from '../interactions/transfer.service.js';
import { AppError } from '../errors.js';
import type { OffersService } from '../routing/offers.service.js';
import type { RoutingService } from '../routing/routing.service.js';
import type { RulesStore } from '../routing/rules/rules.loader.js';
import type { RulesSync } from '../routing/rules-sync.js';
import { currentAgent, roles } from './auth.guard.js';
import { IdParams, LoggedEvent, Nullable, Uuid } from './schemas.js';

/*
 * Routing over HTTP: an agent's own state and offers, closing work and wrap-up (with the interaction's
 * disposition codes), manual control (assign, transfer with its picker of colleagues, pull), "why was this
 * routed here" for an interaction, and the rules in force. The socket
 * (realtime/) offers the same actions to the console; both call the same services.
 */

const AgentStatus = Type.Object({
  agentId: Uuid,
  state: Type.String(),
  awayReason: Nullable(Type.String()),
  stateSince: Type.String(),
  idleSince: Type.String(),
  missedInARow: Type.Integer(),
  loads: Type.Record(Type.String(), Type.Integer()),
});

const Offer = Type.Object({
  id: Uuid,
  interactionId: Uuid,
  agentId: Uuid,
  channel: Type.String(),
  queue: Type.String(),
  strategy: Type.String(),
  reason: Type.String(),
  status: Type.String(),
  offeredAt: Type.String(),
  expiresAt: Type.String(),
  settledAt: Nullable(Type.String()),
  settleReason: Nullable(Type.String()),
});

const Target = Type.Union([
  Type.Object(
    { agentId: Uuid, note: Type.Optional(Type.String({ maxLength: 2000 })) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      queue: Type.String({ minLength: 1, maxLength: 100 }),
      note: Type.Optional(Type.String({ maxLength: 2000 })),
    },
    { additionalProperties: false },
  ),
]);

const TransferRefusal = Type.Object({
  code: Type.Union([
    Type.Literal('AGENT_NOT_WORKING'),
    Type.Literal('AGENT_NOT_ELIGIBLE'),
    Type.Literal('AGENT_AT_CAPACITY'),
  ]),
  reason: Type.String(),
});

const TransferTarget = Type.Object({
  agentId: Uuid,
  displayName: Type.String(),
  state: Type.String(),
  awayReason: Nullable(Type.String()),
  load: Type.Integer(),
  capacity: Type.Integer(),
  refusal: Nullable(TransferRefusal),
});

const routingEventTypes = ['routing.', 'offer.', 'interaction.closed', 'agent.stateChanged'];

export function routingRoutes(
  base: FastifyInstance,
  deps: {
    routing: RoutingService;
    offers: OffersService;
    agentStates: AgentStateService;
    repository: RoutingRepository;
    interactions: InteractionsService;
    rules: RulesStore;
    rulesSync: RulesSync;
    transfers: TransferService;
    dispositions: DispositionsService;
  },
) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/me/status',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'My working state, loads per channel and live offers',
        response: { 200: Type.Object({ status: AgentStatus, offers: Type.Array(Offer) }) },
      },
    },
    async (request) => {
      const agent = currentAgent(request);
      const status = (await deps.agentStates.status(agent.id)) ?? {
        agentId: agent.id,
        state: 'offline',
        awayReason: null,
        stateSince: new Date(0).toISOString(),
        idleSince: new Date(0).toISOString(),
        missedInARow: 0,
        loads: {},
      };
      return { status, offers: await deps.repository.liveOffersOf(agent.id) };
    },
  );

  app.get(
    '/api/me/worklist',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'My open work across channels, oldest assignment first',
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                interactionId: Uuid,
                ticketNumber: Type.Integer(),
                channel: Type.String(),
                queue: Nullable(Type.String()),
                priority: Type.Integer(),
                subject: Nullable(Type.String()),
                customerId: Uuid,
                customerName: Nullable(Type.String()),
                createdAt: Type.String(),
                assignedAt: Nullable(Type.String()),
                lastActivityAt: Type.String(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({ items: await deps.repository.worklistOf(currentAgent(request).id) }),
  );

  app.post(
    '/api/me/state',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'Set my state: available, away (with a reason) or offline',
        body: Type.Object(
          {
            state: Type.Union([Type.Literal('available'), Type.Literal('away'), Type.Literal('offline')]),
            reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ status: AgentStatus }) },
      },
    },
    async (request) => {
      const agent = currentAgent(request);
      const { state, reason } = request.body;
      return { status: await deps.agentStates.setState(agent.id, state, reason ?? null) };
    },
  );

  app.post(
    '/api/me/ready',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'End my wrap-up now and take work again',
        response: { 200: Type.Object({ status: AgentStatus }) },
      },
    },
    async (request) => {
      const agent = currentAgent(request);
      if (!(await deps.routing.endWrapUp(agent.id))) throw new AppError('NOT_IN_WRAP_UP');
      return { status: (await deps.agentStates.status(agent.id))! };
    },
  );

  app.post(
    '/api/offers/:id/accept',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'Accept an offer made to me',
        params: IdParams,
        response: { 200: Type.Object({ interactionId: Uuid }) },
      },
    },
    async (request) => deps.offers.accept(request.params.id, currentAgent(request).id),
  );

  app.post(
    '/api/offers/:id/reject',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'Reject an offer made to me, with a reason; it goes to someone else',
        params: IdParams,
        body: Type.Object(
          { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await deps.offers.reject(request.params.id, currentAgent(request).id, request.body.reason ?? null);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/interactions/:id/close',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary:
          'Close an interaction (mine; supervisors: any), with a disposition code (required when its queue has a list)',
        params: IdParams,
        body: Type.Object(
          {
            disposition: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const agent = currentAgent(request);
      const isSupervisor = agent.role !== 'agent';
      await deps.dispositions.check(request.params.id, request.body.disposition ?? null);
      await deps.routing.endContact(request.params.id, {
        actor: { type: 'agent', id: agent.id },
        reason: request.body.reason ?? (isSupervisor ? `closed by ${agent.role}` : 'agent closed'),
        disposition: request.body.disposition ?? null,
        onlyAssignee: isSupervisor ? null : agent.id,
      });
      return reply.code(204).send(null);
    },
  );

  const moveRoute = (kind: 'assign' | 'transfer', access: readonly ('agent' | 'supervisor' | 'admin')[]) =>
    app.post(
      `/api/interactions/:id/${kind}`,
      {
        config: { access },
        schema: {
          tags: ['routing'],
          summary:
            kind === 'assign'
              ? 'Assign or reassign an interaction to an agent or a queue (supervisors)'
              : 'Transfer my interaction to an agent or a queue, with a note',
          params: IdParams,
          body: Target,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const agent = currentAgent(request);
        const body = request.body;
        const target = 'agentId' in body ? { agentId: body.agentId } : { queue: body.queue };
        const actor = { agentId: agent.id, role: agent.role };
        // A transfer to a colleague is checked first (working, eligible, room); a supervisor's assign overrides.
        if (kind === 'transfer')
          await deps.transfers.transfer(request.params.id, actor, target, body.note ?? null);
        else await deps.routing.move(request.params.id, kind, actor, target, body.note ?? null);
        return reply.code(204).send(null);
      },
    );
  moveRoute('assign', roles.supervisor);
  moveRoute('transfer', roles.anyAgent);

  app.get(
    '/api/interactions/:id/transfer-targets',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary:
          'Colleagues to transfer to: state, load and capacity on its channel, and why one cannot take it now',
        params: IdParams,
        response: {
          200: Type.Object({
            channel: Type.String(),
            queue: Nullable(Type.String()),
            agents: Type.Array(TransferTarget),
          }),
        },
      },
    },
    async (request) => deps.transfers.targets(request.params.id, currentAgent(request).id),
  );

  app.get(
    '/api/interactions/:id/dispositions',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'The disposition codes this interaction closes with (its queue’s, else the default list)',
        params: IdParams,
        response: {
          200: Type.Object({
            queue: Nullable(Type.String()),
            isRequired: Type.Boolean(),
            dispositions: Type.Array(Type.Object({ code: Type.String(), label: Type.String() })),
          }),
        },
      },
    },
    async (request) => deps.dispositions.of(request.params.id),
  );

  app.post(
    '/api/interactions/:id/pull',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'Take a waiting contact I am eligible for',
        params: IdParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const agent = currentAgent(request);
      await deps.routing.move(
        request.params.id,
        'pull',
        { agentId: agent.id, role: agent.role },
        { agentId: agent.id },
        null,
      );
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/interactions/:id/routing',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'Why it went where it went: every routing decision with its reason, and every offer',
        params: IdParams,
        response: { 200: Type.Object({ decisions: Type.Array(LoggedEvent), offers: Type.Array(Offer) }) },
      },
    },
    async (request) => {
      const { events } = await deps.interactions.detail(request.params.id);
      return {
        decisions: events.filter((e) => routingEventTypes.some((prefix) => e.type.startsWith(prefix))),
        offers: await deps.repository.offersOf(request.params.id),
      };
    },
  );

  const RulesSummary = Type.Object({
    fingerprint: Type.String(),
    files: Type.Array(Type.String()),
    queues: Type.Array(
      Type.Object({
        name: Type.String(),
        strategy: Type.String(),
        channels: Type.Array(Type.String()),
        offerTimeoutSeconds: Type.Integer(),
        serviceLevelSeconds: Type.Integer(),
      }),
    ),
    rules: Type.Array(Type.Object({ name: Type.String(), queue: Type.String(), priority: Type.Integer() })),
  });
  const summary = () => {
    const current = deps.rules.current;
    if (!current) throw new AppError('ROUTING_RULES_UNAVAILABLE');
    return {
      fingerprint: current.fingerprint,
      files: [...current.files],
      queues: [...current.queues.values()].map((q) => ({
        name: q.name,
        strategy: q.strategy,
        channels: [...q.channels],
        offerTimeoutSeconds: q.offerTimeoutSeconds,
        serviceLevelSeconds: q.serviceLevelSeconds,
      })),
      rules: current.rules.map((r) => ({ name: r.name, queue: r.queue, priority: r.priority })),
    };
  };

  app.get(
    '/api/routing/rules',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['routing'],
        summary: 'The routing rules in force: queues and match rules',
        response: { 200: RulesSummary },
      },
    },
    async () => summary(),
  );

  app.post(
    '/api/routing/rules/reload',
    {
      config: { access: roles.admin },
      schema: {
        tags: ['routing'],
        summary: 'Reload the rule files on every process; a refused set leaves the rules in force (422)',
        response: { 200: Type.Object({ status: Type.String(), rules: RulesSummary }) },
      },
    },
    async (request) => {
      const outcome = await deps.rulesSync.reload(currentAgent(request).id);
      if (outcome.status === 'refused')
        throw new AppError('RULES_REFUSED', 'The routing rules were refused; the rules in force stay.', {
          problems: outcome.problems,
        });
      return { status: outcome.status, rules: summary() };
    },
  );
}

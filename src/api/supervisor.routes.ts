import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { SupervisorActions } from '../agents/supervisor-actions.service.js';
import type { LiveBoardRepository } from '../db/repositories/live-board.repository.js';
import { currentAgent, roles } from './auth.guard.js';
import { IdParams, Nullable, Uuid } from './schemas.js';

/*
 * Supervisors' actions on agents over HTTP, beside the live board (socket namespace /supervisor): set an
 * agent's state. Reassigning and moving work is POST /api/interactions/:id/assign (routing.routes.ts).
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

export function supervisorRoutes(
  base: FastifyInstance,
  deps: { actions: SupervisorActions; liveBoard: Pick<LiveBoardRepository, 'waitingIn'> },
) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/queues/:queue/waiting',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['supervisor'],
        summary: 'The contacts waiting in a queue now, longest waiting first (at most 200)',
        params: Type.Object({ queue: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: {
          200: Type.Object({
            contacts: Type.Array(
              Type.Object({
                interactionId: Uuid,
                ticketNumber: Type.Integer(),
                channel: Type.String(),
                customerName: Nullable(Type.String()),
                subject: Nullable(Type.String()),
                queuedAt: Type.String(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      contacts: (await deps.liveBoard.waitingIn(request.params.queue, 200)).map((c) => ({
        ...c,
        queuedAt: c.queuedAt.toISOString(),
      })),
    }),
  );

  app.post(
    '/api/agents/:id/state',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['supervisor'],
        summary: "Set an agent's state (available, away with a reason, offline); audited",
        params: IdParams,
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
      const { state, reason } = request.body;
      const by = currentAgent(request).id;
      return { status: await deps.actions.setAgentState(by, request.params.id, state, reason ?? null) };
    },
  );
}

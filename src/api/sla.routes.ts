import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { SlaRepository } from '../db/repositories/sla.repository.js';
import { slaStatus } from '../sla/sla-clocks.js';
import { slaMetricLabels } from '../sla/sla.service.js';
import { roles } from './auth.guard.js';
import { IdParams, Nullable } from './schemas.js';

/*
 * An interaction's service-level clocks (src/sla/README.md), each with its status now: what the console's
 * clock shows. `dueAt` is a wall-clock instant (business hours already counted), so a console counts down
 * to it without knowing the calendar.
 */

const SlaClockView = Type.Object({
  metric: Type.Union([
    Type.Literal('firstResponse'),
    Type.Literal('nextResponse'),
    Type.Literal('resolution'),
  ]),
  label: Type.String(),
  cycle: Type.Integer(),
  queue: Type.String(),
  targetSeconds: Type.Integer(),
  startedAt: Type.String(),
  warnAt: Type.String(),
  dueAt: Type.String(),
  stoppedAt: Nullable(Type.String()),
  status: Type.Union([
    Type.Literal('running'),
    Type.Literal('warning'),
    Type.Literal('breached'),
    Type.Literal('met'),
    Type.Literal('missed'),
    Type.Literal('cancelled'),
  ]),
});

export function slaRoutes(base: FastifyInstance, deps: { sla: Pick<SlaRepository, 'clocksOf' | 'now'> }) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/interactions/:id/sla',
    {
      config: { access: roles.anyAgent },
      schema: {
        tags: ['interactions'],
        summary: "An interaction's SLA clocks (first response, next response, resolution) and their status",
        params: IdParams,
        response: { 200: Type.Object({ asOf: Type.String(), clocks: Type.Array(SlaClockView) }) },
      },
    },
    async (request) => {
      const [clocks, now] = await Promise.all([deps.sla.clocksOf(request.params.id), deps.sla.now()]);
      return {
        asOf: now.toISOString(),
        clocks: clocks.map((clock) => ({
          metric: clock.metric,
          label: slaMetricLabels[clock.metric] + (clock.cycle > 1 ? ` #${clock.cycle}` : ''),
          cycle: clock.cycle,
          queue: clock.queue,
          targetSeconds: clock.targetSeconds,
          startedAt: clock.startedAt.toISOString(),
          warnAt: clock.warnAt.toISOString(),
          dueAt: clock.dueAt.toISOString(),
          stoppedAt: clock.stoppedAt?.toISOString() ?? null,
          status: slaStatus(clock, now),
        })),
      };
    },
  );
}

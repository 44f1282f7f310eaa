import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { EventLogRepository } from '../db/repositories/event-log.repository.js';
import type { ReportsRepository } from '../db/repositories/reports.repository.js';
import { createReportsService } from '../reports/reports.service.js';
import { withIvrRatios, withRatios } from '../reports/rollups.js';
import { AppError } from '../errors.js';
import { eventLogLines } from '../reports/export-events.js';
import { roles } from './auth.guard.js';

/*
 * Reports' routes. The event-log export streams the log as it is read (a page at a time), so a month of it
 * costs the server no more memory than a minute.
 */
const hourMs = 3_600_000;

/** A report row: its group's key, counts and seconds, and ratios (null where nothing to divide by). */
const Row = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]));

const Window = {
  from: Type.String({ format: 'date-time', description: 'first hour (rounded down to the hour)' }),
  to: Type.String({ format: 'date-time', description: 'end, exclusive (rounded up to the hour)' }),
  timeZone: Type.Optional(Type.String({ maxLength: 64, description: 'for by=hour and by=day; default UTC' })),
  format: Type.Optional(Type.Enum(['json', 'csv'])),
};

/** A time zone the caller named, checked; UTC when none. */
function timeZoneOf(query: { timeZone?: string }): string {
  const timeZone = query.timeZone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new AppError('VALIDATION_FAILED', `unknown time zone '${timeZone}'`);
  }
  return timeZone;
}

/** The window asked for, on whole hours, checked. */
function windowOf(query: { from: string; to: string; timeZone?: string }) {
  const from = new Date(Math.floor(Date.parse(query.from) / hourMs) * hourMs);
  const to = new Date(Math.ceil(Date.parse(query.to) / hourMs) * hourMs);
  if (!(from < to)) throw new AppError('VALIDATION_FAILED', 'from must be before to');
  if (to.getTime() - from.getTime() > 400 * 24 * hourMs)
    throw new AppError('VALIDATION_FAILED', 'a report covers at most 400 days');
  return { from, to, timeZone: timeZoneOf(query) };
}

const iso = (at: Date | null) => at?.toISOString() ?? null;

/** Sends `rows` as a CSV download. */
function sendCsv(reply: FastifyReply, fileName: string, rows: Record<string, unknown>[]) {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${fileName}"`)
    .send(toCsv(rows));
}

/** Rows as CSV (RFC 4180): a header of the keys, values quoted where they need it. */
function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const headers = Object.keys(rows[0]!);
  const cell = (value: unknown) => {
    const text =
      value === null || value === undefined
        ? ''
        : typeof value === 'number'
          ? String(Math.round(value * 10_000) / 10_000)
          : typeof value === 'string'
            ? value
            : JSON.stringify(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return (
    [headers.join(','), ...rows.map((row) => headers.map((h) => cell(row[h])).join(','))].join('\r\n') +
    '\r\n'
  );
}

export function reportsRoutes(
  app: FastifyInstance,
  deps: { eventLog: EventLogRepository; reports: ReportsRepository },
): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const service = createReportsService({ reports: deps.reports, now: () => new Date() });

  api.get(
    '/api/reports/contacts',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          'Contact figures over whole hours, grouped by queue, channel, queue and channel, hour or day: offered, ' +
          'answered, abandoned, both service levels, ASA, AHT, abandonment, first response and resolution ' +
          '(written channels) (definitions: src/reports/README.md); ' +
          'CSV with format=csv. Hours not yet rolled up (the last few minutes) are not in it: see builtThrough.',
        querystring: Type.Object({
          ...Window,
          by: Type.Optional(Type.Enum(['queue', 'channel', 'queue-channel', 'hour', 'day'])),
        }),
        response: {
          200: Type.Union([
            Type.Object({
              from: Type.String(),
              to: Type.String(),
              by: Type.String(),
              timeZone: Type.String(),
              builtThrough: Type.Union([Type.String(), Type.Null()]),
              rows: Type.Array(Row),
            }),
            Type.String({ description: 'text/csv with format=csv' }),
          ]),
        },
      },
    },
    async (request, reply) => {
      const { from, to, timeZone } = windowOf(request.query);
      const by = request.query.by ?? 'queue';
      const [rows, builtThrough] = await Promise.all([
        deps.reports.sumQueues(from, to, by, timeZone),
        deps.reports.builtThrough(),
      ]);
      const shaped = rows.map((row) => {
        const { key, channel, ...sum } = row;
        return {
          [by === 'queue-channel' ? 'queue' : by]: key,
          ...(by === 'queue-channel' && { channel }),
          ...withRatios(sum),
        };
      });
      if (request.query.format === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="contacts-by-${by}.csv"`)
          .send(toCsv(shaped));
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        by,
        timeZone,
        builtThrough: builtThrough?.toISOString() ?? null,
        rows: shaped,
      };
    },
  );

  api.get(
    '/api/reports/agents',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          'Agent figures over whole hours: handled, AHT, seconds in each state, occupancy (definitions: ' +
          'src/reports/README.md); CSV with format=csv',
        querystring: Type.Object(Window),
        response: {
          200: Type.Union([
            Type.Object({ from: Type.String(), to: Type.String(), rows: Type.Array(Row) }),
            Type.String({ description: 'text/csv with format=csv' }),
          ]),
        },
      },
    },
    async (request, reply) => {
      const { from, to } = windowOf(request.query);
      const rows = (await deps.reports.sumAgents(from, to)).map((agent) => {
        const s = (state: string) => agent.secondsIn[state] ?? 0;
        const working = s('on_contact') + s('wrap_up');
        const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
        return {
          agentId: agent.agentId,
          name: agent.name,
          handled: agent.handled,
          talkSeconds: agent.talkSeconds,
          wrapUpSeconds: agent.wrapUpSeconds,
          averageHandleSeconds: ratio(agent.talkSeconds + agent.wrapUpSeconds, agent.handled),
          availableSeconds: s('available'),
          onContactSeconds: s('on_contact'),
          wrapUpStateSeconds: s('wrap_up'),
          awaySeconds: s('away'),
          occupancy: ratio(working, working + s('available')),
        };
      });
      if (request.query.format === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="agents.csv"')
          .send(toCsv(rows));
      return { from: from.toISOString(), to: to.toISOString(), rows };
    },
  );

  api.get(
    '/api/reports/ivr',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          'IVR containment over whole hours, grouped by flow, hour or day: calls that left the IVR, self-served, ' +
          'abandoned in the IVR, handed to an agent, a callback or voicemail; containment rate (definitions: ' +
          'src/reports/README.md); CSV with format=csv',
        querystring: Type.Object({ ...Window, by: Type.Optional(Type.Enum(['flow', 'hour', 'day'])) }),
        response: {
          200: Type.Union([
            Type.Object({
              from: Type.String(),
              to: Type.String(),
              by: Type.String(),
              timeZone: Type.String(),
              rows: Type.Array(Row),
            }),
            Type.String({ description: 'text/csv with format=csv' }),
          ]),
        },
      },
    },
    async (request, reply) => {
      const { from, to, timeZone } = windowOf(request.query);
      const by = request.query.by ?? 'flow';
      const rows = (await deps.reports.sumIvr(from, to, by, timeZone)).map(({ key, ...sum }) => ({
        [by]: key,
        ...withIvrRatios(sum),
      }));
      if (request.query.format === 'csv') return sendCsv(reply, `ivr-by-${by}.csv`, rows);
      return { from: from.toISOString(), to: to.toISOString(), by, timeZone, rows };
    },
  );

  api.get(
    '/api/reports/daily-summary',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          "The predefined daily summary: one local day's headline figures per queue and in total (offered, " +
          'answered, abandoned, service level, ASA, AHT, abandonment, first response, resolution, busiest ' +
          'hour, open at the end of the day; in total also IVR containment and duplicates merged). ' +
          'Definitions: src/reports/README.md; CSV with format=csv (the total last)',
        querystring: Type.Object({
          date: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' }),
          timeZone: Type.Optional(Type.String({ maxLength: 64, description: 'the day is local to it; UTC' })),
          format: Type.Optional(Type.Enum(['json', 'csv'])),
        }),
        response: {
          200: Type.Union([
            Type.Object({
              date: Type.String(),
              timeZone: Type.String(),
              from: Type.String(),
              to: Type.String(),
              hoursFrom: Type.String(),
              hoursTo: Type.String(),
              asOf: Type.String(),
              builtThrough: Type.Union([Type.String(), Type.Null()]),
              isComplete: Type.Boolean(),
              total: Row,
              byQueue: Type.Array(Row),
            }),
            Type.String({ description: 'text/csv with format=csv' }),
          ]),
        },
      },
    },
    async (request, reply) => {
      const { date } = request.query;
      if (Number.isNaN(Date.parse(`${date}T00:00:00Z`)))
        throw new AppError('VALIDATION_FAILED', `no such date '${date}'`);
      const summary = await service.dailySummary(date, timeZoneOf(request.query));
      if (request.query.format === 'csv')
        return sendCsv(reply, `daily-summary-${date}.csv`, [
          ...summary.byQueue,
          { ...summary.total, queue: '(all queues)' },
        ]);
      return {
        ...summary,
        from: summary.from.toISOString(),
        to: summary.to.toISOString(),
        hoursFrom: summary.hoursFrom.toISOString(),
        hoursTo: summary.hoursTo.toISOString(),
        asOf: summary.asOf.toISOString(),
        builtThrough: iso(summary.builtThrough),
      };
    },
  );

  api.get(
    '/api/reports/open-by-agent',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          'Interactions assigned to each agent and not closed at an instant (default now), from the event ' +
          'log: how many, per channel, the oldest and the longest held (definitions: src/reports/README.md); ' +
          'CSV with format=csv',
        querystring: Type.Object({
          asOf: Type.Optional(Type.String({ format: 'date-time' })),
          format: Type.Optional(Type.Enum(['json', 'csv'])),
        }),
        response: {
          200: Type.Union([
            Type.Object({ asOf: Type.String(), rows: Type.Array(Row) }),
            Type.String({ description: 'text/csv with format=csv' }),
          ]),
        },
      },
    },
    async (request, reply) => {
      const asOf = request.query.asOf === undefined ? undefined : new Date(request.query.asOf);
      const report = await service.openByAgent(asOf);
      const rows = report.rows.map((row) => ({
        agentId: row.agentId,
        name: row.name,
        open: row.open,
        voice: row.byChannel.voice ?? 0,
        email: row.byChannel.email ?? 0,
        chat: row.byChannel.chat ?? 0,
        fax: row.byChannel.fax ?? 0,
        oldestInteractionId: row.oldestInteractionId,
        oldestCreatedAt: row.oldestCreatedAt.toISOString(),
        oldestAgeSeconds: row.oldestAgeSeconds,
        longestHeldSeconds: row.longestHeldSeconds,
      }));
      if (request.query.format === 'csv') return sendCsv(reply, 'open-by-agent.csv', rows);
      return { asOf: report.asOf.toISOString(), rows };
    },
  );

  api.get(
    '/api/reports/event-log',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['reports'],
        summary:
          'The interaction event log in a window, one event a line in the shape of a PBX queue log ' +
          '(time|interaction|queue|agent|EVENT|data...; see the README); no customer content',
        querystring: Type.Object({
          from: Type.Optional(Type.String({ format: 'date-time' })),
          to: Type.Optional(Type.String({ format: 'date-time' })),
        }),
        response: {
          200: Type.Unsafe<Readable>({ type: 'string', description: 'text/plain, a line per event' }),
        },
      },
    },
    async (request, reply) => {
      const from = request.query.from ? new Date(request.query.from) : null;
      const to = request.query.to ? new Date(request.query.to) : null;
      if (from && to && from >= to) throw new AppError('VALIDATION_FAILED', 'from must be before to');
      const name = `switchboard-events${from ? `-${from.toISOString().slice(0, 10)}` : ''}.log`;
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Readable.from(eventLogLines(deps.eventLog, { from, to })));
    },
  );
}

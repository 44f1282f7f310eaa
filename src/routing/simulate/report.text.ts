/*
 * The simulation report as text for a terminal: per queue a simulated and a real row, per agent one row, and
 * the difference from what really happened. Pure.
 */
import { formatDuration } from '../strategies/eligibility.js';
import type { QueueFigures, SimulationReport } from './simulation.report.js';

const count = (n: number) => n.toLocaleString('en-US');
const percent = (value: number | null) => (value === null ? '-' : `${value.toFixed(1)}%`);
const share = (part: number, whole: number) =>
  whole === 0 ? '' : ` (${((100 * part) / whole).toFixed(1)}%)`;

/** "0.4s", "12.0s", "4m 09s", "2h 05m"; '-' when there is no value. */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return formatDuration(seconds * 1000);
}

/** Columns padded to their widest cell; the first `leftColumns` left-aligned, the rest right-aligned. */
function table(rows: readonly (readonly string[])[], leftColumns = 1): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function queueCells(figures: QueueFigures, extra: string[]): string[] {
  return [
    count(figures.contacts),
    count(figures.answered),
    count(figures.abandoned),
    count(figures.unanswered),
    formatSeconds(figures.waitP50),
    formatSeconds(figures.waitP90),
    percent(figures.serviceLevel),
    percent(figures.abandonment),
    ...extra,
  ];
}

export function formatReport(report: SimulationReport): string {
  const lines: string[] = [];
  const period = report.period ? ` from ${report.period.from} to ${report.period.to}` : '';
  lines.push(
    `Simulated ${count(report.input.arrivals)} arrivals and ${count(report.input.agentEvents)} agent events${period}`,
    `Rules: ${report.rules.files.join(', ')} (fingerprint ${report.rules.fingerprint.slice(0, 12)})`,
    `Unrecorded offers accepted after ${report.options.answerSeconds}s; default handle times: ` +
      Object.entries(report.options.handleSeconds)
        .map(([channel, seconds]) => `${channel} ${seconds}s`)
        .join(', '),
    '',
  );

  const queueRows: string[][] = [
    [
      'queue',
      '',
      'contacts',
      'answered',
      'abandoned',
      'unanswered',
      'wait p50',
      'wait p90',
      'SL',
      'abandon',
      'after-hours',
      'moved',
    ],
  ];
  for (const queue of report.queues) {
    const name = `${queue.queue} (SL ${formatSeconds(queue.serviceLevelSeconds).replace('.0s', 's')})`;
    queueRows.push([
      name,
      'simulated',
      ...queueCells(queue.simulated, [count(queue.simulated.closedAfterHours), count(queue.simulated.moved)]),
    ]);
    if (queue.actual) queueRows.push(['', 'real', ...queueCells(queue.actual, ['', ''])]);
  }
  queueRows.push([
    'all queues',
    'simulated',
    ...queueCells(report.totals, [count(report.totals.closedAfterHours), count(report.totals.moved)]),
  ]);
  if (report.actualTotals) queueRows.push(['', 'real', ...queueCells(report.actualTotals, ['', ''])]);
  lines.push('Queues', ...table(queueRows, 2), '');

  const agentRows: string[][] = [
    ['agent', 'handled', 'real', 'offered', 'rejected', 'expired', 'staffed', 'busy', 'occupancy', 'peak'],
  ];
  for (const agent of report.agents) {
    agentRows.push([
      agent.agentId,
      count(agent.handled),
      count(agent.actualHandled),
      count(agent.offered),
      count(agent.rejected),
      count(agent.expired),
      formatDuration(agent.staffedSeconds * 1000),
      formatDuration(agent.busySeconds * 1000),
      percent(agent.occupancy),
      count(agent.peakConcurrent),
    ]);
  }
  lines.push('Agents', ...(report.agents.length === 0 ? ['(no agent events)'] : table(agentRows)), '');

  const d = report.difference;
  lines.push('Difference from what really happened');
  if (d.compared === 0) {
    lines.push('  no arrival carries a real outcome (`actual`): nothing to compare');
  } else {
    lines.push(
      `  ${count(d.compared)} arrivals carry the real outcome`,
      `  routed to a different queue:            ${count(d.differentQueue)}${share(d.differentQueue, d.compared)}`,
      `  answered by a different agent:          ${count(d.differentAgent)}${share(d.differentAgent, d.compared)}`,
      `  answered here, abandoned really:        ${count(d.answeredHereAbandonedReally)}`,
      `  abandoned here, answered really:        ${count(d.abandonedHereAnsweredReally)}`,
    );
    const t = report.totals;
    const a = report.actualTotals;
    if (a) {
      lines.push(
        `  wait p50 ${formatSeconds(a.waitP50)} -> ${formatSeconds(t.waitP50)}, ` +
          `p90 ${formatSeconds(a.waitP90)} -> ${formatSeconds(t.waitP90)}, ` +
          `service level ${percent(a.serviceLevel)} -> ${percent(t.serviceLevel)}, ` +
          `abandonment ${percent(a.abandonment)} -> ${percent(t.abandonment)} (real -> simulated)`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

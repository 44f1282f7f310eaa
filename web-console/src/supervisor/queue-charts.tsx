import type { QueueSeries, SupervisorBoard } from '../../../src/realtime/supervisor-events.js';
import { percent } from './figures.js';

/*
 * Each queue's day in two small hand-drawn SVG charts (no chart library): queue depth and service level per
 * 5-minute bucket, from the day's start to the board's time, the service level against its target (dashed).
 * A bucket with nothing answered has no service level: the line breaks there.
 */

const width = 320;
const height = 110;
const pad = { left: 30, right: 8, top: 8, bottom: 18 };
const plotWidth = width - pad.left - pad.right;
const plotHeight = height - pad.top - pad.bottom;

interface Domain {
  from: number;
  to: number;
  timeZone: string;
}

const xOf = (domain: Domain, at: string) =>
  pad.left + ((Date.parse(at) - domain.from) / (domain.to - domain.from)) * plotWidth;
const yOf = (value: number, max: number) => pad.top + plotHeight - (max > 0 ? value / max : 0) * plotHeight;

/** A line through the points, broken where a value is null; a point with no neighbour shows as a dot. */
function Line({ points, kind }: { points: { x: number; y: number | null }[]; kind: string }) {
  const runs: { x: number; y: number }[][] = [];
  let run: { x: number; y: number }[] = [];
  for (const { x, y } of points) {
    if (y === null) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push({ x, y });
  }
  if (run.length) runs.push(run);
  return (
    <g class={`line ${kind}`}>
      {runs.map((run) =>
        run.length === 1 ? (
          <circle key={run[0]!.x} cx={run[0]!.x} cy={run[0]!.y} r={2} />
        ) : (
          <polyline
            key={run[0]!.x}
            points={run.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ')}
          />
        ),
      )}
    </g>
  );
}

function TimeAxis({ domain }: { domain: Domain }) {
  const format = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    timeZone: domain.timeZone,
  });
  const ticks = [0, 1 / 3, 2 / 3, 1].map((share) => domain.from + share * (domain.to - domain.from));
  return (
    <g class="axis">
      <line x1={pad.left} x2={width - pad.right} y1={height - pad.bottom} y2={height - pad.bottom} />
      {ticks.map((at, index) => (
        <text
          key={at}
          x={pad.left + (index / 3) * plotWidth}
          y={height - 4}
          text-anchor={index === 0 ? 'start' : index === 3 ? 'end' : 'middle'}
        >
          {format.format(new Date(at))}
        </text>
      ))}
    </g>
  );
}

function DepthChart({ series, domain }: { series: QueueSeries; domain: Domain }) {
  const max = Math.max(1, ...series.points.map((p) => p.waiting));
  const peak = Math.max(0, ...series.points.map((p) => p.waiting));
  const last = series.points.at(-1)?.waiting ?? 0;
  const points = series.points.map((p) => ({ x: xOf(domain, p.at), y: yOf(p.waiting, max) }));
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      class="chart"
      role="img"
      aria-label={`${series.queue}: contacts waiting through the day, last ${last}, peak ${peak}`}
      data-testid="depth-chart"
    >
      <g class="axis">
        <text x={pad.left - 4} y={pad.top + 8} text-anchor="end">
          {max}
        </text>
        <text x={pad.left - 4} y={height - pad.bottom} text-anchor="end">
          0
        </text>
      </g>
      <Line points={points} kind="depth" />
      <TimeAxis domain={domain} />
    </svg>
  );
}

function ServiceLevelChart(props: { series: QueueSeries; domain: Domain; target: number | null }) {
  const { series, domain, target } = props;
  const points = series.points.map((p) => ({
    x: xOf(domain, p.at),
    y: p.serviceLevel === null ? null : yOf(p.serviceLevel, 1),
  }));
  const last = [...series.points].reverse().find((p) => p.serviceLevel !== null)?.serviceLevel ?? null;
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      class="chart"
      role="img"
      aria-label={`${series.queue}: service level through the day, last ${percent(last)}${target === null ? '' : `, target ${percent(target)}`}`}
      data-testid="service-level-chart"
    >
      <g class="axis">
        <text x={pad.left - 4} y={pad.top + 8} text-anchor="end">
          100%
        </text>
        <text x={pad.left - 4} y={height - pad.bottom} text-anchor="end">
          0%
        </text>
      </g>
      {target !== null && (
        <g data-testid="target-line">
          <line class="target" x1={pad.left} x2={width - pad.right} y1={yOf(target, 1)} y2={yOf(target, 1)} />
          <text class="target-label" x={width - pad.right} y={yOf(target, 1) - 3} text-anchor="end">
            target {percent(target)}
          </text>
        </g>
      )}
      <Line points={points} kind="service-level" />
      <TimeAxis domain={domain} />
    </svg>
  );
}

export function QueueCharts({ board }: { board: SupervisorBoard }) {
  const from = Date.parse(board.day.from);
  const lastPoint = Math.max(from, ...board.series.flatMap((s) => s.points.map((p) => Date.parse(p.at))));
  // At least an hour wide, so the first minutes of the day are not a smear across the chart.
  const domain: Domain = {
    from,
    to: Math.max(Date.parse(board.at), lastPoint, from + 3600_000),
    timeZone: board.day.timeZone,
  };
  const targetOf = (queue: string) =>
    board.queues.find((row) => row.queue === queue && row.channel === null)?.targetServiceLevel ?? null;
  return (
    <section class="board-section" aria-labelledby="charts-heading">
      <h2 id="charts-heading">Today ({board.day.timeZone})</h2>
      {board.series.length === 0 && <p class="muted">No history yet today.</p>}
      <div class="charts">
        {board.series.map((series) => (
          <figure key={series.queue} class="chart-card" data-testid="queue-chart" data-queue={series.queue}>
            <figcaption>{series.queue}</figcaption>
            <div class="chart-pair">
              <div>
                <span class="chart-title">Waiting</span>
                <DepthChart series={series} domain={domain} />
              </div>
              <div>
                <span class="chart-title">Service level</span>
                <ServiceLevelChart series={series} domain={domain} target={targetOf(series.queue)} />
              </div>
            </div>
          </figure>
        ))}
      </div>
    </section>
  );
}

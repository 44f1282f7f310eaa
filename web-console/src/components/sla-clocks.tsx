import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type SlaClock, type SlaStatus } from '../api.js';
import { clock as localTime } from '../format.js';

/*
 * An interaction's SLA clocks as a strip of chips under the conversation's header: each metric's latest
 * clock (a next response has one per cycle), counting down to its due time while it runs, or saying how it
 * ended. Read when the conversation opens and again at each `revision` (the console bumps it for every push
 * on the interaction, `sla.changed` among them, and after a reconnect). Between reads, a running clock's
 * status advances here on the server's clock: the offset between the answer's `asOf` and the moment it
 * arrived is applied to the browser's clock, as the supervisor board does with its `at`.
 */

interface Read {
  clocks: SlaClock[];
  /** Server time minus browser time, ms. */
  clockOffsetMs: number;
}

const runningRank: Partial<Record<SlaStatus, number>> = { running: 0, warning: 1, breached: 2 };

/**
 * The clock's status at server time `at` (ms): a running clock moves to warning at `warnAt` and to breached
 * at `dueAt`, never back; a stopped clock keeps the server's word.
 */
export function slaStatusAt(clock: SlaClock, at: number): SlaStatus {
  const rank = runningRank[clock.status];
  if (clock.stoppedAt !== null || rank === undefined) return clock.status;
  const local =
    at >= Date.parse(clock.dueAt) ? 'breached' : at >= Date.parse(clock.warnAt) ? 'warning' : 'running';
  return runningRank[local]! > rank ? local : clock.status;
}

/** "42s", "4m 05s", "1h 20m", "2d 3h". */
export function span(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
/** Seconds from `from` to `to`, each an ISO instant or ms. */
const secondsBetween = (from: string | number, to: string | number) =>
  ((typeof to === 'number' ? to : Date.parse(to)) - (typeof from === 'number' ? from : Date.parse(from))) /
  1000;

/** Each metric's clock of the highest cycle, running ones first, in the server's order otherwise. */
function latestPerMetric(clocks: readonly SlaClock[]): SlaClock[] {
  const latest = new Map<string, SlaClock>();
  for (const clock of clocks) {
    const seen = latest.get(clock.metric);
    if (!seen || clock.cycle > seen.cycle) latest.set(clock.metric, clock);
  }
  const shown = [...latest.values()];
  return [...shown.filter((c) => c.stoppedAt === null), ...shown.filter((c) => c.stoppedAt !== null)];
}

/** What a chip says, at server time `at`. */
export function slaText(clock: SlaClock, status: SlaStatus, at: number): string {
  const name = capitalized(clock.label);
  switch (status) {
    case 'running':
      return `${name} · due in ${span(secondsBetween(at, clock.dueAt))}`;
    case 'warning':
      return `${name} · warning · due in ${span(secondsBetween(at, clock.dueAt))}`;
    case 'breached':
      return `${name} · breached · overdue by ${span(secondsBetween(clock.dueAt, at))}`;
    case 'met': {
      // Wall time from start to stop: said only when it fits the target, since in business hours a met
      // clock may span a night (its title gives the instants).
      const took = secondsBetween(clock.startedAt, clock.stoppedAt ?? clock.dueAt);
      return took <= clock.targetSeconds ? `${name} met in ${span(took)}` : `${name} met`;
    }
    case 'missed':
      return `${name} missed by ${span(secondsBetween(clock.dueAt, clock.stoppedAt ?? clock.dueAt))}`;
    case 'cancelled':
      return `${name} stopped: closed before due`;
  }
}

function slaTitle(clock: SlaClock): string {
  const lines = [
    `Target ${span(clock.targetSeconds)} (queue ${clock.queue})`,
    `Due ${localTime(clock.dueAt)}`,
  ];
  if (clock.stoppedAt === null) lines.push(`Warning from ${localTime(clock.warnAt)}`);
  else lines.push(`Stopped ${localTime(clock.stoppedAt)}`);
  return lines.join('\n');
}

export function SlaClocks(props: { interactionId: string; revision: number }) {
  const { interactionId } = props;
  const [read, setRead] = useState<Read | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const [announcement, setAnnouncement] = useState('');
  // Answers may arrive out of order: only the latest request's is shown.
  const latestRequest = useRef(0);
  const announced = useRef<Map<string, SlaStatus> | null>(null);

  const load = useCallback(async () => {
    const request = ++latestRequest.current;
    try {
      const { asOf, clocks } = await api.slaClocks(interactionId);
      if (request !== latestRequest.current) return;
      const receivedAt = Date.now();
      setRead({ clocks, clockOffsetMs: Date.parse(asOf) - receivedAt });
      setNow(receivedAt);
      setProblem(null);
    } catch (err) {
      if (request === latestRequest.current) setProblem(err instanceof Error ? err.message : String(err));
    }
  }, [interactionId]);

  useEffect(() => void load(), [load, props.revision]);

  const shown = read ? latestPerMetric(read.clocks) : [];
  const serverNow = now + (read?.clockOffsetMs ?? 0);
  const statuses = shown.map((clock) => slaStatusAt(clock, serverNow));
  const isTicking = shown.some((clock) => clock.stoppedAt === null);

  useEffect(() => {
    if (!isTicking) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [isTicking]);

  // A clock that reaches its warning or breach while shown is announced (once per status), not the ones
  // already there when the conversation opened.
  const statusKey = shown.map((clock, i) => `${clock.metric}|${clock.cycle}|${statuses[i]}`).join(',');
  useEffect(() => {
    if (!read) return;
    const current = new Map(shown.map((clock, i) => [`${clock.metric}|${clock.cycle}`, statuses[i]!]));
    const before = announced.current;
    announced.current = current;
    if (!before) return;
    const news = shown.filter((clock, i) => {
      const status = statuses[i]!;
      return (
        (status === 'warning' || status === 'breached') &&
        before.get(`${clock.metric}|${clock.cycle}`) !== status
      );
    });
    if (news.length > 0)
      setAnnouncement(
        news.map((clock) => slaText(clock, statuses[shown.indexOf(clock)]!, serverNow)).join('; '),
      );
    // statusKey stands for `shown` and `statuses`: this runs on a change of status, not every second.
  }, [statusKey]);

  if (!read) return problem ? <p class="sla-clocks-problem muted">SLA clocks: {problem}</p> : null;
  if (shown.length === 0) return null;
  return (
    <div class="sla-clocks" data-testid="sla-clocks">
      <span class="sla-clocks-label" id={`sla-${interactionId}`}>
        SLA
      </span>
      <ul aria-labelledby={`sla-${interactionId}`}>
        {shown.map((clock, i) => {
          const status = statuses[i]!;
          const text = slaText(clock, status, serverNow);
          const isRunning = clock.stoppedAt === null;
          return (
            <li
              key={`${clock.metric}-${clock.cycle}`}
              class={`sla-clock sla-${status}${isRunning ? '' : ' stopped'}`}
              data-testid="sla-clock"
              data-metric={clock.metric}
              data-cycle={clock.cycle}
              data-status={status}
              title={slaTitle(clock)}
            >
              {isRunning ? (
                <span role="timer" aria-label={`${text}, due ${localTime(clock.dueAt)}`}>
                  {text}
                </span>
              ) : (
                text
              )}
            </li>
          );
        })}
      </ul>
      <span class="visually-hidden" aria-live="polite" data-testid="sla-announcer">
        {announcement}
      </span>
      {problem && (
        <span class="muted" title={problem}>
          (not refreshed)
        </span>
      )}
    </div>
  );
}

import type { BoardAlert, SupervisorBoard } from '../../../src/realtime/supervisor-events.js';

/*
 * How the board's figures read: formats, the definitions shown as tooltips (from src/reports/README.md,
 * which is the authority when the two differ), and the board's clock. Times that tick between pushes
 * (longest wait, time in state) are measured on the server's clock: the offset between the board's `at` and
 * the moment it arrived here is applied to the browser's clock, so a skewed browser clock does not shift them.
 */

/** "82%"; "—" for a ratio with nothing to divide by (null). */
export const percent = (ratio: number | null | undefined): string =>
  ratio === null || ratio === undefined ? '—' : `${Math.round(ratio * 100)}%`;

/** "42s", "3m 05s", "2h 10m"; "—" when unknown. */
export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const whole = Math.max(0, Math.floor(value));
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** A board as received, with the offset that turns the browser's clock into the server's. */
export interface ReceivedBoard {
  board: SupervisorBoard;
  /** Browser time (ms) when it arrived. */
  receivedAt: number;
  /** Server time minus browser time, ms. */
  clockOffsetMs: number;
}

export function receive(board: SupervisorBoard, receivedAt: number): ReceivedBoard {
  return { board, receivedAt, clockOffsetMs: Date.parse(board.at) - receivedAt };
}

/** Seconds since `since` (a server timestamp) at browser time `now`. */
export const secondsSince = (received: ReceivedBoard, since: string, now: number): number =>
  Math.max(0, (now + received.clockOffsetMs - Date.parse(since)) / 1000);

/** The longest wait at browser time `now`: the board's figure, plus the time since the board was computed. */
export const tickingWait = (received: ReceivedBoard, longest: number | null, now: number): number | null =>
  longest === null ? null : longest + Math.max(0, now - received.receivedAt) / 1000;

/** The longest wait is past the queue's longest-wait alert limit (as the server raises its alert: over, not at). */
export const isWaitOverLimit = (wait: number | null, waitAlertSeconds: number | undefined): boolean =>
  wait !== null && waitAlertSeconds !== undefined && wait > waitAlertSeconds;

/** What each kind of alert is about, said before its message. */
export const alertKindLabels: Record<BoardAlert['kind'], string> = {
  'service-level': 'Service level',
  'longest-wait': 'Longest wait',
  'sla-breach': 'SLA breach',
};

/** Alerts keyed by queue and channel ('' for a queue's row over all its channels). */
export const alertKey = (queue: string, channel: string | null) => `${queue}|${channel ?? ''}`;

export function alertsByRow(alerts: readonly BoardAlert[]): Map<string, BoardAlert[]> {
  const rows = new Map<string, BoardAlert[]>();
  for (const alert of alerts) {
    const key = alertKey(alert.queue, alert.channel);
    rows.set(key, [...(rows.get(key) ?? []), alert]);
  }
  return rows;
}

export const figureDefinitions = {
  waitingNow: 'Contacts in the queue now: entered and not yet answered, abandoned, closed or moved.',
  longestWait:
    'How long the longest-waiting contact now in the queue has waited here. Ticks between updates; marked past the queue’s longest-wait alert limit.',
  slaBreached:
    'Open contacts in the queue with an SLA clock (first response, next response or resolution) running past its due time.',
  offered:
    'Contacts that entered the queue today, counted when they entered: new, reopened, transferred in and after-hours ones.',
  answered:
    'Waits that ended today with an agent taking the contact (an accepted offer, an assign or a pull).',
  abandoned:
    'Customers who left while waiting today (short abandons excepted). A close by an agent or the system is not an abandon.',
  serviceLevel:
    'Answered within the threshold / answered. Ignores abandons; a wait of exactly the threshold meets it.',
  serviceLevelWithAbandons:
    '(Answered within the threshold + abandoned within the threshold) / (answered + abandoned). A customer who gave up after the threshold counts as a failure; short abandons are left out.',
  asa: 'Average speed of answer: total wait of the contacts answered today / answered. Ringing and expired offers keep the clock running.',
  aht: 'Average handle time: (talk + wrap-up) / contacts handled today, counted when the handling and its wrap-up ended.',
  abandonRate:
    'Abandoned / (answered + abandoned): of the waits that ended in an answer or an abandon today, the share that gave up.',
  staffed:
    'Agents of the queue logged in now (any state but offline); then how many of them are available, on a contact, in wrap-up and away.',
  available: 'Staffed agents available for work now.',
  onContact: 'Staffed agents on a contact now.',
  wrapUp: 'Staffed agents in wrap-up now (finishing a closed contact, taking no new work).',
  away: 'Staffed agents away now (break, lunch, meeting…).',
  state: 'The agent’s working state now, and how long they have been in it (ticks between updates).',
  load: 'Open contacts against capacity, per channel the agent may take.',
  handledToday: 'Handlings the agent completed today (talk ended and its wrap-up ended).',
  occupancy:
    '(On contact + wrap-up) / (available + on contact + wrap-up) time today: of the time ready for work, the share spent working. Away and offline time is left out.',
} as const;

export const agentStateLabels: Record<string, string> = {
  available: 'Available',
  away: 'Away',
  offline: 'Offline',
  on_contact: 'On contact',
  wrap_up: 'Wrap-up',
};

/*
 * The browser contract of the supervisor dashboard's socket (socket.io namespace `/supervisor`, supervisors
 * and admins only): the server pushes `board.snapshot`, the whole live board, at most once a second, the same
 * board to every supervisor whichever process they are connected to (one process computes it; see
 * src/reports/live-board.service.ts). A new socket gets the latest board at once. Figures follow the
 * definitions in src/reports/README.md; "today" is the calendar day in the board's time zone.
 */
import type { Channel } from '../interactions/inbound-contact.js';

/** Counts over today (since `SupervisorBoard.day.from`), as src/reports/metrics.ts defines them. */
export interface DayFigures {
  offered: number;
  answered: number;
  abandoned: number;
  /** Answered within the threshold / answered; null with nothing answered. */
  serviceLevel: number | null;
  /** (Answered within + abandoned within the threshold) / (answered + abandoned); null with neither. */
  serviceLevelWithAbandons: number | null;
  /** Average speed of answer, seconds. */
  asaSeconds: number | null;
  /** Average handle time (talk plus wrap-up), seconds. */
  ahtSeconds: number | null;
  /** Abandoned / (answered + abandoned): see src/reports/README.md for why not / offered. */
  abandonRate: number | null;
}

export interface StaffingFigures {
  /** Logged in (any state but offline). */
  staffed: number;
  available: number;
  onContact: number;
  wrapUp: number;
  away: number;
}

export interface QueueBoardRow extends DayFigures {
  queue: string;
  /** null: the queue's row over all its channels; else one channel of it. */
  channel: Channel | null;
  waitingNow: number;
  longestWaitSeconds: number | null;
  thresholdSeconds: number;
  /** The service-level target, 0-1 (e.g. 0.8 for 80/20): the queue's serviceLevelTarget. */
  targetServiceLevel: number;
  /** A contact waiting longer than this raises a longest-wait alert: the queue's longestWaitAlertSeconds. */
  waitAlertSeconds: number;
  /** Open contacts with an SLA clock running past its due time (src/sla/). */
  slaBreached: number;
  staffing: StaffingFigures;
}

export interface ChannelBoardRow extends DayFigures {
  channel: Channel;
  waitingNow: number;
  longestWaitSeconds: number | null;
}

export interface AgentBoardRow {
  agentId: string;
  name: string;
  state: string;
  awayReason: string | null;
  stateSince: string;
  /** Open contacts against capacity, per channel the agent may take. */
  load: { channel: Channel; load: number; capacity: number }[];
  handledToday: number;
  ahtSeconds: number | null;
  /** Time on contacts and wrap-up / time logged in, today; null before any. */
  occupancy: number | null;
}

export interface BoardAlert {
  kind: 'service-level' | 'longest-wait' | 'sla-breach';
  queue: string;
  channel: Channel | null;
  /**
   * "Service level 62% is under the 80% target", "A contact has waited 4m 10s (limit 3m)",
   * "2 contacts are past an SLA due time".
   */
  message: string;
  since: string;
}

/** A queue's depth and service level through the day, one point per bucket (5 minutes). */
export interface QueueSeries {
  queue: string;
  points: { at: string; waiting: number; serviceLevel: number | null }[];
}

export interface SupervisorBoard {
  /** When the board was computed. */
  at: string;
  day: { from: string; timeZone: string };
  queues: QueueBoardRow[];
  channels: ChannelBoardRow[];
  agents: AgentBoardRow[];
  alerts: BoardAlert[];
  series: QueueSeries[];
}

export interface SupervisorServerEvents {
  'board.snapshot': (board: SupervisorBoard) => void;
  /** The supervisor's session ended or lost its role (checked every few seconds): the socket is closed. */
  'session:ended': (reason: { code: string; message: string }) => void;
}

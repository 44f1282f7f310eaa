import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, type Agent } from '../api.js';
import { canAskForNotifications } from '../alerts.js';
import type { ConnectionState } from '../socket.js';
import type { WorkingState } from './console.js';

/** The reasons offered for going away (also by supervisors setting an agent away). */
export const awayReasons = ['Break', 'Lunch', 'Meeting', 'Training', 'Coaching', 'Other'];

const stateLabels: Record<WorkingState['state'], string> = {
  available: 'Available',
  away: 'Away',
  offline: 'Offline',
  on_contact: 'On contact',
  wrap_up: 'Wrap-up',
};

const connectionLabels: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  online: 'Connected',
  reconnecting: 'Connection lost, reconnecting…',
};

/** The agent, the connection, and the working state with its controls. */
export function TopBar(props: {
  agent: Agent;
  connection: ConnectionState;
  working: WorkingState;
  onChange: (working: WorkingState) => void;
  onProblem: (err: unknown) => void;
  onLogout: () => void;
  /** The customer search box. */
  search?: ComponentChildren;
  /** The softphone's state and where calls reach the agent. */
  phone?: ComponentChildren;
  /** Supervisors and admins: open or leave the standard answers screen. */
  onToggleAnswers?: () => void;
  isManagingAnswers?: boolean;
}) {
  const { agent, connection, working } = props;
  const [awayReason, setAwayReason] = useState(awayReasons[0]!);
  const [isAsking, setAsking] = useState(canAskForNotifications());

  const set = async (state: 'available' | 'away' | 'offline') => {
    try {
      const reason = state === 'away' ? awayReason : undefined;
      await api.setState(state, reason);
      props.onChange({ state, awayReason: reason ?? null });
    } catch (err) {
      props.onProblem(err);
    }
  };

  return (
    <header class="top-bar">
      <strong class="brand">Switchboard</strong>
      <span class="who">{agent.displayName}</span>
      <span class={`connection ${connection}`} data-testid="connection" role="status">
        {connectionLabels[connection]}
      </span>
      {props.phone}
      <span class={`state state-${working.state}`} data-testid="agent-state">
        {stateLabels[working.state]}
        {working.state === 'away' && working.awayReason ? ` (${working.awayReason})` : ''}
      </span>
      <div class="state-controls">
        <button
          type="button"
          aria-pressed={working.state === 'available'}
          onClick={() => void set('available')}
        >
          Available
        </button>
        <select
          aria-label="Away reason"
          value={awayReason}
          onChange={(e) => setAwayReason(e.currentTarget.value)}
        >
          {awayReasons.map((reason) => (
            <option key={reason}>{reason}</option>
          ))}
        </select>
        <button type="button" aria-pressed={working.state === 'away'} onClick={() => void set('away')}>
          Away
        </button>
        <button type="button" aria-pressed={working.state === 'offline'} onClick={() => void set('offline')}>
          Offline
        </button>
        {working.state === 'wrap_up' && (
          <button
            type="button"
            class="primary"
            onClick={() =>
              void api
                .ready()
                .then(() => props.onChange({ state: 'available', awayReason: null }), props.onProblem)
            }
          >
            Ready
          </button>
        )}
      </div>
      {props.search}
      {isAsking && (
        <button
          type="button"
          onClick={() => void Notification.requestPermission().finally(() => setAsking(false))}
        >
          Enable notifications
        </button>
      )}
      {props.onToggleAnswers && (
        <button
          type="button"
          data-testid="answers-admin-open"
          aria-pressed={props.isManagingAnswers ?? false}
          onClick={props.onToggleAnswers}
        >
          Standard answers
        </button>
      )}
      {(agent.role === 'supervisor' || agent.role === 'admin') && (
        <a class="nav-link" href="/supervisor" data-testid="supervisor-link">
          Supervisor dashboard
        </a>
      )}
      <button type="button" class="logout" onClick={props.onLogout}>
        Log out
      </button>
    </header>
  );
}

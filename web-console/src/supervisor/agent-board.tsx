import { useState } from 'preact/hooks';
import type { AgentBoardRow } from '../../../src/realtime/supervisor-events.js';
import { api } from '../api.js';
import { awayReasons } from '../components/top-bar.js';
import {
  agentStateLabels,
  figureDefinitions as defs,
  percent,
  seconds,
  secondsSince,
  type ReceivedBoard,
} from './figures.js';
import { Th } from './queue-board.js';

/** Load against capacity on one channel, as a small bar. */
function LoadBar({ load }: { load: AgentBoardRow['load'][number] }) {
  const share = load.capacity > 0 ? Math.min(1, load.load / load.capacity) : 0;
  return (
    <span class="load" data-testid="agent-load" data-channel={load.channel}>
      <span class={`channel channel-${load.channel}`}>{load.channel}</span>
      <span
        class={load.load >= load.capacity ? 'load-bar full' : 'load-bar'}
        role="meter"
        aria-label={`${load.channel} load`}
        aria-valuemin={0}
        aria-valuemax={load.capacity}
        aria-valuenow={load.load}
      >
        <span style={{ width: `${share * 100}%` }} />
      </span>
      <span class="load-figures">
        {load.load}/{load.capacity}
      </span>
    </span>
  );
}

type Choice = 'available' | 'offline' | `away:${string}`;

/** A supervisor setting an agent's state (POST /api/agents/:id/state); a refusal is shown on the row. */
function StateControl({ agent }: { agent: AgentBoardRow }) {
  const [choice, setChoice] = useState<Choice>('available');
  const [error, setError] = useState<string | null>(null);
  const [isBusy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (choice.startsWith('away:')) await api.setAgentState(agent.agentId, 'away', choice.slice(5));
      else await api.setAgentState(agent.agentId, choice as 'available' | 'offline');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="state-change" onSubmit={(e) => void submit(e)}>
      <select
        aria-label={`New state for ${agent.name}`}
        data-testid="agent-state-choice"
        value={choice}
        onChange={(e) => setChoice(e.currentTarget.value as Choice)}
      >
        <option value="available">Available</option>
        {awayReasons.map((reason) => (
          <option key={reason} value={`away:${reason}`}>
            Away ({reason})
          </option>
        ))}
        <option value="offline">Offline</option>
      </select>
      <button type="submit" disabled={isBusy} data-testid="agent-state-set">
        Set
      </button>
      {error && (
        <span class="error" role="alert" data-testid="agent-state-error">
          {error}
        </span>
      )}
    </form>
  );
}

/** Every agent on the board: state and time in it (ticking), load per channel, handled, AHT, occupancy. */
export function AgentBoard({ received, now }: { received: ReceivedBoard; now: number }) {
  const { agents } = received.board;
  return (
    <section class="board-section" aria-labelledby="agents-heading">
      <h2 id="agents-heading">Agents</h2>
      <table class="board-table" data-testid="agent-board">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <Th label="State" definition={defs.state} isText />
            <Th label="Load / capacity" definition={defs.load} isText />
            <Th label="Handled today" definition={defs.handledToday} />
            <Th label="AHT" definition={defs.aht} />
            <Th label="Occupancy" definition={defs.occupancy} />
            <th scope="col" class="text">
              Change state
            </th>
          </tr>
        </thead>
        <tbody>
          {agents.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No agents on the board.
              </td>
            </tr>
          )}
          {agents.map((agent) => (
            <tr
              key={agent.agentId}
              data-testid="agent-row"
              data-agent-id={agent.agentId}
              data-state={agent.state}
            >
              <th scope="row">{agent.name}</th>
              <td class="text">
                <span class={`state state-${agent.state}`} data-testid="agent-row-state">
                  {agentStateLabels[agent.state] ?? agent.state}
                  {agent.awayReason ? ` (${agent.awayReason})` : ''}
                </span>{' '}
                <span class="muted" data-testid="agent-time-in-state">
                  {seconds(secondsSince(received, agent.stateSince, now))}
                </span>
              </td>
              <td class="text loads">
                {agent.load.length === 0 ? (
                  <span class="muted">—</span>
                ) : (
                  agent.load.map((load) => <LoadBar key={load.channel} load={load} />)
                )}
              </td>
              <td data-figure="handledToday">{agent.handledToday}</td>
              <td data-figure="aht">{seconds(agent.ahtSeconds)}</td>
              <td data-figure="occupancy">{percent(agent.occupancy)}</td>
              <td class="text">
                <StateControl agent={agent} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

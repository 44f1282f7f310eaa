import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Queue, type TransferRefusalCode, type TransferTarget } from '../api.js';

/*
 * Transfer the conversation to a colleague or a queue, with an optional note for whoever takes it. The
 * colleagues are read when the panel opens (and on Refresh): who can take it first, each with their state
 * and load on the channel; those who cannot are listed with why, and cannot be picked. The server checks
 * again: a colleague who went away or filled up meanwhile is refused with their name and the reason, shown
 * here, and the list is read again.
 */

const stateLabels: Record<TransferTarget['state'], string> = {
  available: 'Available',
  on_contact: 'On contact',
  wrap_up: 'Wrap-up',
  away: 'Away',
  offline: 'Offline',
};

const refusalLabels: Record<TransferRefusalCode, string> = {
  AGENT_NOT_WORKING: 'Not working',
  AGENT_NOT_ELIGIBLE: 'Not eligible',
  AGENT_AT_CAPACITY: 'Full',
};

export function TransferPanel(props: {
  interactionId: string;
  channel: string;
  queues: Queue[];
  onTransferred: () => void;
  onCancel: () => void;
}) {
  const [targets, setTargets] = useState<TransferTarget[] | null>(null);
  const [agentId, setAgentId] = useState<string | null>(null);
  const [queue, setQueue] = useState('');
  const [note, setNote] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [isSending, setSending] = useState(false);

  const load = useCallback(async () => {
    try {
      const { agents } = await api.transferTargets(props.interactionId);
      setTargets(agents);
      // A pick that can no longer take it is dropped.
      setAgentId((picked) => (agents.some((a) => a.agentId === picked && !a.refusal) ? picked : null));
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    }
  }, [props.interactionId]);

  useEffect(() => void load(), [load]);

  const picked = targets?.find((a) => a.agentId === agentId);
  const target = picked ? { agentId: picked.agentId } : queue ? { queue } : null;

  const send = async () => {
    if (!target || isSending) return;
    setSending(true);
    setProblem(null);
    try {
      await api.transfer(props.interactionId, target, note.trim() || undefined);
      props.onTransferred();
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
      await load();
    } finally {
      setSending(false);
    }
  };

  return (
    <section class="transfer-panel" data-testid="transfer-panel" aria-label="Transfer">
      <header>
        <strong>Transfer</strong>
        <button type="button" data-testid="transfer-refresh" onClick={() => void load()}>
          Refresh
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </header>
      <p class="label">To a colleague</p>
      {targets === null ? (
        <p class="muted">Loading colleagues…</p>
      ) : targets.length === 0 ? (
        <p class="muted">No colleagues.</p>
      ) : (
        <ul class="transfer-agents" role="listbox" aria-label="Colleagues">
          {targets.map((a) => (
            <li key={a.agentId}>
              <button
                type="button"
                role="option"
                aria-selected={a.agentId === agentId}
                disabled={a.refusal !== null}
                class={a.agentId === agentId ? 'transfer-agent picked' : 'transfer-agent'}
                data-testid="transfer-agent"
                data-agent-id={a.agentId}
                onClick={() => {
                  setAgentId(a.agentId);
                  setQueue('');
                }}
              >
                <span class="agent-name">{a.displayName}</span>
                <span class={`state state-${a.state}`}>
                  {stateLabels[a.state]}
                  {a.state === 'away' && a.awayReason ? ` (${a.awayReason})` : ''}
                </span>
                <span class="load">
                  {props.channel} {a.load}/{a.capacity}
                </span>
                {a.refusal && (
                  <span class="refusal">
                    {refusalLabels[a.refusal.code]}: {a.refusal.reason}
                  </span>
                )}
              </button>
            </li>
          ))}
        </ul>
      )}
      <div class="transfer-fields">
        <label>
          Or to a queue
          <select
            data-testid="transfer-queue"
            value={queue}
            onChange={(e) => {
              setQueue(e.currentTarget.value);
              if (e.currentTarget.value) setAgentId(null);
            }}
          >
            <option value="">queue…</option>
            {props.queues.map((q) => (
              <option key={q.name}>{q.name}</option>
            ))}
          </select>
        </label>
        <label>
          Note
          <input
            data-testid="transfer-note"
            maxLength={2000}
            placeholder="For whoever takes it (optional)"
            value={note}
            onInput={(e) => setNote(e.currentTarget.value)}
          />
        </label>
      </div>
      {problem && (
        <p class="error" role="alert" data-testid="transfer-error">
          {problem}
        </p>
      )}
      <button
        type="button"
        class="primary"
        data-testid="transfer-submit"
        disabled={!target || isSending}
        onClick={() => void send()}
      >
        {picked ? `Transfer to ${picked.displayName}` : queue ? `Transfer to queue ${queue}` : 'Transfer'}
      </button>
    </section>
  );
}

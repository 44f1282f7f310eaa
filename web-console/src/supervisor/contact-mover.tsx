import { useEffect, useState } from 'preact/hooks';
import type { AgentBoardRow } from '../../../src/realtime/supervisor-events.js';
import { api, ApiError, type AssignTarget, type WaitingContact } from '../api.js';
import { elapsed } from '../format.js';
import { agentStateLabels } from './figures.js';

/** `agent:<id>` or `queue:<name>`, as the target picker's values. */
type TargetValue = `agent:${string}` | `queue:${string}`;

const targetOf = (value: TargetValue): AssignTarget =>
  value.startsWith('agent:') ? { agentId: value.slice(6) } : { queue: value.slice(6) };

/**
 * A queue's waiting contacts, each given to an agent or moved to another queue by the supervisors' assign
 * (`POST /api/interactions/:id/assign`, which overrides the agent's state and capacity checks). The list
 * comes from `GET /api/queues/:queue/waiting` where the server has it; without it, a contact is named by
 * its interaction id.
 */
export function ContactMover(props: {
  queue: string;
  waitingNow: number;
  agents: readonly AgentBoardRow[];
  queues: readonly string[];
}) {
  const [contacts, setContacts] = useState<WaitingContact[] | null>(null);
  const [isListMissing, setListMissing] = useState(false);
  const [interactionId, setInteractionId] = useState('');
  const [target, setTarget] = useState<TargetValue | ''>('');
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [isBusy, setBusy] = useState(false);
  const [now, setNow] = useState(Date.now());

  // Re-read the list whenever the board says the queue's depth changed.
  useEffect(() => {
    let isCurrent = true;
    api.waitingContacts(props.queue).then(
      (result) => {
        if (!isCurrent) return;
        setContacts(result.contacts);
        setNow(Date.now());
      },
      (err: unknown) => {
        if (!isCurrent) return;
        if (err instanceof ApiError && err.status === 404 && err.code !== 'QUEUE_NOT_FOUND')
          setListMissing(true);
        else setError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      isCurrent = false;
    };
  }, [props.queue, props.waitingNow]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setDone(null);
    const id = interactionId.trim();
    if (!id) return setError('Pick a waiting contact or enter its interaction id.');
    if (!target) return setError('Pick an agent or a queue.');
    setBusy(true);
    try {
      await api.assign(id, targetOf(target), note.trim() || undefined);
      const name = target.startsWith('agent:')
        ? (props.agents.find((a) => a.agentId === target.slice(6))?.name ?? 'the agent')
        : `queue ${target.slice(6)}`;
      setDone(target.startsWith('agent:') ? `Assigned to ${name}.` : `Moved to ${name}.`);
      setInteractionId('');
      setNote('');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="contact-mover" data-testid="contact-mover" onSubmit={(e) => void submit(e)}>
      <h3>Assign or move a waiting contact</h3>
      {contacts && contacts.length === 0 && <p class="muted">Nobody is waiting in {props.queue}.</p>}
      {contacts && contacts.length > 0 && (
        <ul class="waiting-contacts">
          {contacts.map((contact) => (
            <li key={contact.interactionId}>
              <label>
                <input
                  type="radio"
                  name={`waiting-${props.queue}`}
                  data-testid="waiting-contact"
                  checked={interactionId === contact.interactionId}
                  onChange={() => setInteractionId(contact.interactionId)}
                />{' '}
                <span class={`channel channel-${contact.channel}`}>{contact.channel}</span> #
                {contact.ticketNumber} {contact.customerName ?? 'Unknown customer'}
                {contact.subject ? ` · ${contact.subject}` : ''}{' '}
                <span class="muted">waiting {elapsed(contact.queuedAt, now)}</span>
              </label>
            </li>
          ))}
        </ul>
      )}
      {isListMissing && (
        <p class="muted" data-testid="waiting-list-missing">
          This server does not list waiting contacts yet: name the contact by its interaction id.
        </p>
      )}
      <div class="mover-fields">
        <label>
          Interaction id
          <input
            data-testid="mover-interaction"
            value={interactionId}
            onInput={(e) => setInteractionId(e.currentTarget.value)}
            placeholder="00000000-0000-…"
          />
        </label>
        <label>
          To
          <select
            data-testid="mover-target"
            value={target}
            onChange={(e) => setTarget(e.currentTarget.value as TargetValue | '')}
          >
            <option value="">Pick an agent or a queue…</option>
            <optgroup label="Agents">
              {props.agents.map((agent) => (
                <option key={agent.agentId} value={`agent:${agent.agentId}`}>
                  {agent.name} ({agentStateLabels[agent.state] ?? agent.state})
                </option>
              ))}
            </optgroup>
            <optgroup label="Queues">
              {props.queues
                .filter((queue) => queue !== props.queue)
                .map((queue) => (
                  <option key={queue} value={`queue:${queue}`}>
                    Queue {queue}
                  </option>
                ))}
            </optgroup>
          </select>
        </label>
        <label>
          Note
          <input data-testid="mover-note" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary" disabled={isBusy} data-testid="mover-submit">
          Assign
        </button>
      </div>
      {error && (
        <p class="error" role="alert" data-testid="mover-error">
          {error}
        </p>
      )}
      {done && (
        <p role="status" data-testid="mover-done">
          {done}
        </p>
      )}
    </form>
  );
}

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Agent, type Customer, type Interaction, type LoggedEvent, type Queue } from '../api.js';
import { isTyping } from '../format.js';
import { Composer } from './composer.js';
import { CustomerCard } from './customer-card.js';
import { Timeline } from './timeline.js';

// A fixed list until disposition codes are configurable.
const dispositions = ['resolved', 'follow-up', 'no-action-needed', 'escalated', 'spam'];

interface Loaded {
  interaction: Interaction;
  events: LoggedEvent[];
  customer: Customer | null;
  interactions: Interaction[];
}

/** One interaction: the customer, its event timeline, the composer, and close and transfer. */
export function Conversation(props: {
  interactionId: string;
  agent: Agent;
  revision: number;
  queues: Queue[];
  hasOffer: boolean;
  onChanged: () => void;
  onLeave: () => void;
}) {
  const { interactionId } = props;
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [disposition, setDisposition] = useState(dispositions[0]!);
  const [queue, setQueue] = useState('');
  const dispositionField = useRef<HTMLSelectElement>(null);
  const customerId = loaded?.interaction.customerId;

  const report = (err: unknown) => setProblem(err instanceof Error ? err.message : String(err));

  const reload = useCallback(async () => {
    try {
      const { interaction, events } = await api.interaction(interactionId);
      setLoaded((previous) => ({
        interaction,
        events,
        customer: previous?.customer ?? null,
        interactions: previous?.interactions ?? [],
      }));
    } catch (err) {
      report(err);
    }
  }, [interactionId]);

  useEffect(() => void reload(), [reload, props.revision]);
  // The socket only follows interactions accepted while it was connected: a slow poll covers the rest.
  useEffect(() => {
    const timer = window.setInterval(() => void reload(), 15_000);
    return () => window.clearInterval(timer);
  }, [reload]);
  useEffect(() => {
    if (!customerId) return;
    api
      .customer(customerId)
      .then(
        ({ customer, interactions }) =>
          setLoaded((previous) => previous && { ...previous, customer, interactions }),
        report,
      );
  }, [customerId]);

  // c: to the close controls (the composer has its own shortcuts).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'c') {
        event.preventDefault();
        dispositionField.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  /** Runs an action and re-reads the interaction; false (and the error shown) when the server refused. */
  const act = async (action: () => Promise<unknown>, after?: () => void): Promise<boolean> => {
    setProblem(null);
    try {
      await action();
    } catch (err) {
      report(err);
      return false;
    }
    props.onChanged();
    after?.();
    await reload();
    return true;
  };

  if (!loaded)
    return (
      <section class="conversation">
        {problem ? <p class="error">{problem}</p> : <p class="muted">Loading…</p>}
      </section>
    );

  const { interaction } = loaded;
  const isOpen = interaction.closedAt === null && interaction.status !== 'closed';
  return (
    <section class="conversation" aria-label="Conversation" data-testid="conversation">
      <header>
        <span class={`channel channel-${interaction.channel}`}>{interaction.channel}</span>
        <h2>
          #{interaction.ticketNumber} {interaction.subject ?? ''}
        </h2>
        <span class="muted">
          {interaction.status}
          {interaction.queue ? ` · ${interaction.queue}` : ''} · priority {interaction.priority}
        </span>
      </header>
      <div class="conversation-body">
        <div class="conversation-main">
          <Timeline events={loaded.events} agent={props.agent} />
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          {isOpen && (
            <Composer
              interactionId={interactionId}
              channel={interaction.channel}
              isShortcutFree={!props.hasOffer}
              onSend={(mode, text) =>
                act(() => (mode === 'reply' ? api.reply(interactionId, text) : api.note(interactionId, text)))
              }
            />
          )}
          {isOpen && (
            <div class="work-actions">
              <label>
                Disposition
                <select
                  ref={dispositionField}
                  value={disposition}
                  onChange={(e) => setDisposition(e.currentTarget.value)}
                >
                  {dispositions.map((d) => (
                    <option key={d}>{d}</option>
                  ))}
                </select>
              </label>
              <button type="button" onClick={() => void act(() => api.close(interactionId, disposition))}>
                Close
              </button>
              <label>
                Transfer to
                <select value={queue} onChange={(e) => setQueue(e.currentTarget.value)}>
                  <option value="">queue…</option>
                  {props.queues.map((q) => (
                    <option key={q.name}>{q.name}</option>
                  ))}
                </select>
              </label>
              <button
                type="button"
                disabled={!queue}
                onClick={() => void act(() => api.transfer(interactionId, queue), props.onLeave)}
              >
                Transfer
              </button>
            </div>
          )}
        </div>
        {loaded.customer && (
          <CustomerCard
            customer={loaded.customer}
            interactions={loaded.interactions.filter((i) => i.id !== interactionId)}
          />
        )}
      </div>
    </section>
  );
}

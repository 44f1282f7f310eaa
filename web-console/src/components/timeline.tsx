import type { Agent, Interaction, LoggedEvent } from '../api.js';
import { clock } from '../format.js';
import { AttachmentView, hasAttachments } from './attachment-view.js';

/*
 * The customer's event log across every channel, oldest first: messages in and out, notes, and routing
 * decisions with their reasons. Events come in runs per interaction, each run under a header with its
 * channel, ticket and status; the run of the interaction being worked (`currentInteractionId`) is marked.
 * "Earlier" pages are asked for at the top. Everything a customer wrote is rendered as text (JSX text
 * nodes), never as HTML.
 */
export function Timeline(props: {
  events: LoggedEvent[];
  agent: Agent;
  currentInteractionId?: string;
  /** What is known of the customer's interactions (ticket, subject, status), by id. */
  interactions?: ReadonlyMap<string, Interaction>;
  hasOlder?: boolean;
  isLoadingOlder?: boolean;
  onLoadOlder?: () => void;
}) {
  const { events, agent } = props;
  // Consecutive events of one interaction form a run.
  const runs: { interactionId: string; channel: string; events: LoggedEvent[] }[] = [];
  for (const event of events) {
    const last = runs.at(-1);
    if (last?.interactionId === event.interactionId) last.events.push(event);
    else runs.push({ interactionId: event.interactionId, channel: event.channel, events: [event] });
  }
  return (
    <ol class="timeline" data-testid="timeline">
      {props.hasOlder && props.onLoadOlder && (
        <li class="timeline-older">
          <button
            type="button"
            data-testid="timeline-older"
            disabled={props.isLoadingOlder}
            onClick={props.onLoadOlder}
          >
            {props.isLoadingOlder ? 'Loading…' : 'Show earlier contacts'}
          </button>
        </li>
      )}
      {runs.map((run) => {
        const isCurrent = run.interactionId === props.currentInteractionId;
        const interaction = props.interactions?.get(run.interactionId);
        return (
          <li
            key={`${run.interactionId}-${run.events[0]!.id}`}
            class={isCurrent ? 'timeline-run current' : 'timeline-run'}
            data-testid="timeline-run"
            data-interaction={run.interactionId}
            data-channel={run.channel}
            data-current={isCurrent ? 'true' : undefined}
          >
            <header class="run-header">
              <span class={`channel channel-${run.channel}`}>{run.channel}</span>{' '}
              {interaction ? (
                <>
                  #{interaction.ticketNumber} {interaction.subject ?? ''}{' '}
                  <span class="muted">{interaction.status}</span>
                </>
              ) : (
                <span class="muted">earlier contact</span>
              )}
              {isCurrent && <span class="current-badge">this conversation</span>}
            </header>
            <ol class="run-events">
              {run.events.map((event) => (
                <TimelineEntry key={event.id} event={event} agent={agent} />
              ))}
            </ol>
          </li>
        );
      })}
    </ol>
  );
}

const text = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);

function TimelineEntry({ event, agent }: { event: LoggedEvent; agent: Agent }) {
  const { payload } = event;
  const at = <time dateTime={event.occurredAt}>{clock(event.occurredAt)}</time>;
  switch (event.type) {
    case 'message.received':
      return (
        <li class="entry message inbound" data-type={event.type}>
          <header>
            <span class="who">Customer</span> · {event.channel} · {at}
          </header>
          {text(payload.subject) && <p class="subject">{text(payload.subject)}</p>}
          {(text(payload.text) || !hasAttachments(payload)) && (
            <p class="body">{text(payload.text) ?? '(no text)'}</p>
          )}
          <AttachmentView attachments={payload.attachments} />
        </li>
      );
    case 'message.sent':
      return (
        <li class="entry message outbound" data-type={event.type}>
          <header>
            <span class="who">
              {payload.agentId === agent.id ? 'You' : (text(payload.agentName) ?? 'Agent')}
            </span>{' '}
            · {event.channel} · {at}
          </header>
          <p class="body">{text(payload.text)}</p>
        </li>
      );
    case 'note.added':
      return (
        <li class="entry note" data-type={event.type}>
          <header>
            <span class="who">Internal note</span> · {at}
          </header>
          <p class="body">{text(payload.text)}</p>
        </li>
      );
    case 'offer.created': {
      const isMine = payload.agentId === agent.id;
      return (
        <li class="entry routing" data-type={event.type}>
          <header>
            Offered {isMine ? 'to you' : 'to another agent'} from {text(payload.queue)} (
            {text(payload.strategy)}) · {at}
          </header>
          <p class="why">
            <span class="label">{isMine ? 'Why was this routed to me: ' : 'Why: '}</span>
            {text(payload.reason)}
          </p>
        </li>
      );
    }
    case 'interaction.closed':
      return (
        <li class="entry status" data-type={event.type}>
          Closed{text(payload.disposition) ? ` (${text(payload.disposition)})` : ''}
          {text(payload.reason) ? `: ${text(payload.reason)}` : ''} · {at}
        </li>
      );
    case 'cannedReply.suggested':
    case 'cannedReply.accepted':
    case 'cannedReply.declined':
      return (
        <li class="entry status" data-type={event.type}>
          {standardAnswerLine(event.type, payload)} · {at}
        </li>
      );
    case 'message.failed':
      return (
        <li class="entry status error" data-type={event.type}>
          Reply not delivered: {text(payload.reason)} · {at}
        </li>
      );
    default:
      return (
        <li class="entry status" data-type={event.type}>
          {event.type}
          {summary(payload)} · {at}
        </li>
      );
  }
}

/** Standard answers offered to a web chat visitor, and what the visitor said of them. */
function standardAnswerLine(type: string, payload: Record<string, unknown>): string {
  if (type === 'cannedReply.accepted')
    return `The visitor said the standard answer “${text(payload.title) ?? ''}” answered them`;
  if (type === 'cannedReply.declined') return 'The visitor still wants a person after the standard answers';
  const replies = Array.isArray(payload.replies) ? (payload.replies as { title?: unknown }[]) : [];
  return `Standard answers offered to the visitor: ${replies.map((r) => text(r.title) ?? '').join(', ')}`;
}

/** The short string facts of an event we have no special view for (queue, reason, outcome...). */
function summary(payload: Record<string, unknown>): string {
  const parts = ['queue', 'reason', 'outcome', 'rule', 'note']
    .map((key) => text(payload[key]))
    .filter((value): value is string => value !== null);
  return parts.length ? `: ${parts.join(' · ')}` : '';
}

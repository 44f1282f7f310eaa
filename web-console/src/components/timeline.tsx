import type { Agent, Interaction, LoggedEvent } from '../api.js';
import { clock } from '../format.js';
import { AttachmentView, hasAttachments } from './attachment-view.js';
import { foldIvrSteps, isPhoneEvent, IvrPath, PhoneEntry, VoiceMessage } from './call-events.js';
import { EmailAttachments, EmailMessage, LinkedNotice, ReopenedNotice } from './email-message.js';
import { FaxMessage } from './fax-message.js';

/*
 * The customer's event log across every channel, oldest first: messages in and out, notes, and routing
 * decisions with their reasons. Events come in runs per interaction, each run under a header with its
 * channel, ticket and status; the run of the interaction being worked (`currentInteractionId`) is marked.
 * "Earlier" pages are asked for at the top. Everything a customer wrote is rendered as text (JSX text
 * nodes), never as HTML; an email's sanitized HTML is shown in a sandboxed frame (email-message.tsx).
 * A reply's outcome (message.delivered, message.failed, message.bounced, which name the reply's event) is
 * shown on the reply itself, not as entries of its own. Calls' events, voicemails and the IVR path (its
 * steps folded into one block) are drawn by call-events.tsx, a fax (its pages, text and files) by
 * fax-message.tsx. A reply sent on another channel than its interaction's (`via`: a fax or a chat answered
 * by email) names the channel it left on.
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
  const deliveries = deliveriesOf(events);
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
              {foldIvrSteps(run.events.filter((event) => !isShownOnItsReply(event, deliveries))).map(
                (item) =>
                  item.kind === 'ivr' ? (
                    <IvrPath key={item.id} steps={item.steps} />
                  ) : (
                    <TimelineEntry
                      key={item.event.id}
                      event={item.event}
                      agent={agent}
                      delivery={deliveries.get(item.event.id)}
                      {...(props.interactions && { interactions: props.interactions })}
                    />
                  ),
              )}
            </ol>
          </li>
        );
      })}
    </ol>
  );
}

const text = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);

function TimelineEntry({
  event,
  agent,
  delivery,
  interactions,
}: {
  event: LoggedEvent;
  agent: Agent;
  /** A reply's outcome so far (message.sent only). */
  delivery: Delivery | undefined;
  interactions?: ReadonlyMap<string, Interaction>;
}) {
  const { payload } = event;
  const at = <time dateTime={event.occurredAt}>{clock(event.occurredAt)}</time>;
  if (isPhoneEvent(event)) return <PhoneEntry event={event} agent={agent} />;
  switch (event.type) {
    case 'message.received':
      if (event.channel === 'email') return <EmailMessage event={event} />;
      if (event.channel === 'voice') return <VoiceMessage event={event} />;
      if (event.channel === 'fax') return <FaxMessage event={event} />;
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
    case 'message.sent': {
      // An automatic message (an email acknowledgment, a chat transcript) is the system's, not an agent's.
      const automatic = text(payload.automatic);
      const sent = delivery?.sent ?? {};
      const subject = text(payload.subject) ?? text(sent.subject);
      const to = text(sent.to);
      const cc = Array.isArray(payload.cc) ? payload.cc.filter((a) => typeof a === 'string') : [];
      const channel = text(payload.via) ?? event.channel;
      return (
        <li
          class={`entry message outbound${automatic ? ' automatic' : ''}`}
          data-type={event.type}
          data-automatic={automatic ?? undefined}
          data-channel={channel}
        >
          <header>
            <span class="who">
              {automatic
                ? (automaticLabels[automatic] ?? 'Automatic message')
                : payload.agentId === agent.id
                  ? 'You'
                  : (text(payload.agentName) ?? 'Agent')}
            </span>{' '}
            · {channel} · {at}
            {delivery && <DeliveryStatus delivery={delivery} />}
          </header>
          {channel === 'email' && (to || cc.length > 0 || subject) && (
            <p class="email-sent-headers muted" data-testid="email-sent-headers">
              {to && <span>To {to}</span>}
              {cc.length > 0 && <span data-testid="email-sent-cc">Cc {cc.join(', ')}</span>}
              {subject && <span>Subject: {subject}</span>}
            </p>
          )}
          <p class="body">{text(payload.text)}</p>
          <EmailAttachments files={payload.attachments} />
        </li>
      );
    }
    case 'interaction.created': {
      const linkedId = text(payload.linkedInteractionId);
      if (linkedId)
        return <LinkedNotice event={event} linkedId={linkedId} {...(interactions && { interactions })} />;
      return (
        <li class="entry status" data-type={event.type}>
          {event.type}
          {summary(payload)} · {at}
        </li>
      );
    }
    case 'interaction.reopened':
      return <ReopenedNotice event={event} />;
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
    case 'message.bounced':
      return (
        <li class="entry status error" data-type={event.type}>
          Bounce received for {text(payload.originalMessageId) ?? 'one of our messages'}:{' '}
          {bounceDetail(payload)} · {at}
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

/**
 * What became of a reply: logged and on its way (`sending`), taken by the channel (`sent`: an email was
 * accepted by the mail server, which is not yet its reader's inbox), refused or given up on (`failed`), or
 * reported undeliverable afterwards by a bounce (`bounced`). A later bounce wins over `sent`.
 */
export interface Delivery {
  state: 'sending' | 'sent' | 'failed' | 'bounced';
  /** Why it failed or bounced. */
  reason?: string;
  /** What the channel says went out (email: to, cc, subject, messageId). */
  sent?: Record<string, unknown>;
}

const automaticLabels: Record<string, string> = {
  acknowledgment: 'Automatic acknowledgment',
  transcript: 'Chat transcript (automatic)',
};

const outcomeTypes = new Set(['message.delivered', 'message.failed', 'message.bounced']);

/** Each reply's outcome, by the id of its message.sent event. */
export function deliveriesOf(events: readonly LoggedEvent[]): Map<string, Delivery> {
  const deliveries = new Map<string, Delivery>();
  for (const event of events)
    if (event.type === 'message.sent') deliveries.set(event.id, { state: 'sending' });
  for (const event of events) {
    const delivery = deliveries.get(text(event.payload.messageEventId) ?? '');
    if (!delivery) continue;
    const { payload } = event;
    if (event.type === 'message.delivered') {
      if (typeof payload.sent === 'object' && payload.sent !== null)
        delivery.sent = payload.sent as Record<string, unknown>;
      if (delivery.state === 'sending') delivery.state = 'sent';
    } else if (event.type === 'message.failed' && delivery.state !== 'bounced') {
      delivery.state = payload.isBounce === true ? 'bounced' : 'failed';
      delivery.reason = text(payload.reason) ?? 'not delivered';
    } else if (event.type === 'message.bounced') {
      delivery.state = 'bounced';
      delivery.reason = bounceDetail(payload);
    }
  }
  return deliveries;
}

/** An outcome event whose reply is in view: it is shown on the reply. */
const isShownOnItsReply = (event: LoggedEvent, deliveries: ReadonlyMap<string, Delivery>) =>
  outcomeTypes.has(event.type) && deliveries.has(text(event.payload.messageEventId) ?? '');

function bounceDetail(payload: Record<string, unknown>): string {
  const recipients = Array.isArray(payload.recipients)
    ? payload.recipients.filter((r): r is string => typeof r === 'string')
    : [];
  const what = [text(payload.status), text(payload.diagnostic)].filter(Boolean).join(' ') || 'undeliverable';
  return recipients.length ? `${what} (${recipients.join(', ')})` : what;
}

const deliveryLabels = { sending: 'Sending…', sent: 'Sent', failed: 'Not delivered', bounced: 'Bounced' };

function DeliveryStatus({ delivery }: { delivery: Delivery }) {
  const sent = delivery.sent ?? {};
  const facts = [
    text(sent.to) && `to ${text(sent.to)}`,
    Array.isArray(sent.cc) && sent.cc.length > 0 && `cc ${sent.cc.join(', ')}`,
    text(sent.messageId),
  ].filter(Boolean);
  return (
    <span
      class={`delivery delivery-${delivery.state}`}
      data-testid="delivery-status"
      data-status={delivery.state}
      role="status"
      title={facts.length ? `Sent ${facts.join(' · ')}` : undefined}
    >
      {deliveryLabels[delivery.state]}
      {(delivery.state === 'failed' || delivery.state === 'bounced') && `: ${delivery.reason}`}
    </span>
  );
}

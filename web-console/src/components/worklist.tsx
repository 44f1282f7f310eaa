import type { WorkItem } from '../api.js';
import { elapsed } from '../format.js';

/** My open work on every channel, oldest assignment first, with unread markers. */
export function Worklist(props: {
  items: WorkItem[];
  now: number;
  openId: string | null;
  seen: Record<string, string>;
  onOpen: (interactionId: string) => void;
}) {
  return (
    <nav class="worklist" aria-label="Worklist">
      <h2>Worklist ({props.items.length})</h2>
      {props.items.length === 0 && <p class="muted">Nothing assigned to you.</p>}
      <ul>
        {props.items.map((item) => {
          const seenAt = props.seen[item.interactionId];
          const isUnread = item.interactionId !== props.openId && (!seenAt || item.lastActivityAt > seenAt);
          return (
            <li key={item.interactionId}>
              <button
                type="button"
                class={item.interactionId === props.openId ? 'work-item open' : 'work-item'}
                data-testid="work-item"
                onClick={() => props.onOpen(item.interactionId)}
              >
                <span class={`channel channel-${item.channel}`}>{item.channel}</span>
                <span class="customer">{item.customerName ?? 'Unknown customer'}</span>
                {isUnread && <span class="unread" aria-label="unread" />}
                <span class="subject">{item.subject ?? `#${item.ticketNumber}`}</span>
                <span class="meta">
                  waiting {elapsed(item.createdAt, props.now)} · priority {item.priority}
                  {item.queue ? ` · ${item.queue}` : ''}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

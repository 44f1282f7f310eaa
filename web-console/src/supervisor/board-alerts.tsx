import { useEffect, useRef, useState } from 'preact/hooks';
import type { BoardAlert } from '../../../src/realtime/supervisor-events.js';
import { alertKey, alertKindLabels } from './figures.js';

const keyOf = (alert: BoardAlert) => `${alert.kind}|${alertKey(alert.queue, alert.channel)}`;

/**
 * The board's alerts (service level under target, a wait past the limit, contacts past an SLA due time),
 * each listed with its kind, and a polite live region that announces the ones that are new since the last
 * board (an alert that stays is not announced again at every push; one that clears and comes back is).
 */
export function BoardAlerts({ alerts }: { alerts: readonly BoardAlert[] }) {
  const known = useRef<Set<string> | null>(null);
  const [announcement, setAnnouncement] = useState('');

  useEffect(() => {
    const keys = new Set(alerts.map(keyOf));
    // The alerts on the first board are listed, and announced too: the supervisor just opened the page.
    const fresh = alerts.filter((alert) => !known.current?.has(keyOf(alert)));
    known.current = keys;
    if (fresh.length > 0)
      setAnnouncement(
        `${fresh.length === 1 ? 'New alert' : `${fresh.length} new alerts`}: ${fresh
          .map((alert) => `${alert.queue}${alert.channel ? ` (${alert.channel})` : ''}: ${alert.message}`)
          .join('; ')}`,
      );
  }, [alerts]);

  return (
    <section class="board-alerts" aria-label="Alerts">
      <p class="visually-hidden" aria-live="polite" data-testid="alert-announcer">
        {announcement}
      </p>
      {alerts.length > 0 && (
        <ul>
          {alerts.map((alert) => (
            <li
              key={keyOf(alert)}
              class={`board-alert ${alert.kind}`}
              data-testid="board-alert"
              data-kind={alert.kind}
            >
              <span class="alert-kind">{alertKindLabels[alert.kind]}</span>
              <strong>
                {alert.queue}
                {alert.channel ? ` · ${alert.channel}` : ''}
              </strong>{' '}
              {alert.message}
              <span class="muted">
                {' '}
                since {new Date(alert.since).toLocaleTimeString(undefined, { timeStyle: 'short' })}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

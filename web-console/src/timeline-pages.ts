import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type LoggedEvent } from './api.js';

/*
 * A customer's whole timeline across channels (GET /api/customers/:id/timeline), held oldest first for
 * display. `refresh` re-reads the newest page and merges it in (what the socket says changed, or a poll);
 * `loadOlder` follows the server's keyset cursor back in time. When a refresh finds nothing it already held
 * (more than a page arrived meanwhile), the older pages are dropped and paging starts again from there.
 */

const pageSize = 50;

const byTime = (a: LoggedEvent, b: LoggedEvent) =>
  a.occurredAt.localeCompare(b.occurredAt) || Number(BigInt(a.id) - BigInt(b.id));

export interface TimelinePages {
  /** Oldest first; null until the first page arrives. */
  events: LoggedEvent[] | null;
  hasOlder: boolean;
  isLoadingOlder: boolean;
  loadOlder: () => Promise<void>;
  refresh: () => Promise<void>;
}

export function useCustomerTimeline(
  customerId: string | undefined,
  onProblem: (err: unknown) => void,
): TimelinePages {
  const [events, setEvents] = useState<LoggedEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [isLoadingOlder, setLoadingOlder] = useState(false);
  const held = useRef(new Map<string, LoggedEvent>());
  // Paging back from here; undefined until the first page set it.
  const olderCursor = useRef<string | null | undefined>(undefined);
  const problem = useRef(onProblem);
  problem.current = onProblem;

  const show = () => setEvents([...held.current.values()].sort(byTime));

  useEffect(() => {
    held.current = new Map();
    olderCursor.current = undefined;
    setEvents(null);
    setCursor(null);
  }, [customerId]);

  const refresh = useCallback(async () => {
    if (!customerId) return;
    try {
      const page = await api.customerTimeline(customerId, undefined, pageSize);
      const isGap =
        olderCursor.current !== undefined &&
        page.nextCursor !== null &&
        held.current.size > 0 &&
        !page.events.some((e) => held.current.has(e.id));
      if (olderCursor.current === undefined || isGap) {
        held.current = new Map();
        olderCursor.current = page.nextCursor;
        setCursor(page.nextCursor);
      }
      for (const event of page.events) held.current.set(event.id, event);
      show();
    } catch (err) {
      problem.current(err);
    }
  }, [customerId]);

  const loadOlder = useCallback(async () => {
    const from = olderCursor.current;
    if (!customerId || !from) return;
    setLoadingOlder(true);
    try {
      const page = await api.customerTimeline(customerId, from, pageSize);
      for (const event of page.events) held.current.set(event.id, event);
      olderCursor.current = page.nextCursor;
      setCursor(page.nextCursor);
      show();
    } catch (err) {
      problem.current(err);
    } finally {
      setLoadingOlder(false);
    }
  }, [customerId]);

  return { events, hasOlder: cursor !== null, isLoadingOlder, loadOlder, refresh };
}

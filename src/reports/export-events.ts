/*
 * The event-log export (event-log.ts lines) over a time window, read from Postgres a page at a time, for the
 * `export-events` command and `GET /api/reports/event-log`. Memory stays flat whatever the window: a page in
 * hand and the interactions still open in the stream.
 */
import type { EventLogRepository, EventLogWindow } from '../db/repositories/event-log.repository.js';
import { EventLogLines } from './event-log.js';

export async function* eventLogLines(
  repository: EventLogRepository,
  window: EventLogWindow,
  options: { pageSize?: number; onPage?: (written: number) => void } = {},
): AsyncGenerator<string> {
  const pageSize = options.pageSize ?? 2000;
  const lines = new EventLogLines();
  let after: string | null = null;
  let written = 0;
  for (;;) {
    const page = await repository.page(window, after, pageSize);
    if (page.length > 0) {
      yield page.map((event) => `${lines.line(event)}\n`).join('');
      written += page.length;
      options.onPage?.(written);
      after = page[page.length - 1]!.id;
    }
    if (page.length < pageSize) return;
  }
}

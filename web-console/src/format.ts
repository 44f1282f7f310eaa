/** "42s", "3m 05s", "2h 10m": how long ago `since` was, at `now`. */
export function elapsed(since: string, now: number): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export const secondsLeft = (until: string, now: number) =>
  Math.max(0, Math.ceil((Date.parse(until) - now) / 1000));

export const clock = (at: string) =>
  new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });

/** True when a key press was meant for a text field, not for a console shortcut. */
export function isTyping(event: KeyboardEvent): boolean {
  const target = event.target as HTMLElement | null;
  return Boolean(target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)));
}

/** A call's length as "m:ss" ("1:05:09" past an hour); "—" when unknown. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const whole = Math.max(0, Math.round(seconds));
  const minutes = Math.floor(whole / 60);
  const ss = String(whole % 60).padStart(2, '0');
  if (minutes < 60) return `${minutes}:${ss}`;
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')}:${ss}`;
}

/** A run of text, and whether it is one of the words searched for. */
export interface TextRun {
  text: string;
  isMatch: boolean;
}

const escapeRegExp = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `text` cut into runs, the words that begin with one of `terms` (any case: "invoice" marks "Invoices")
 * marked, for rendering the matches as <mark> elements around text nodes, never as HTML. Longer terms win
 * where two begin at one place.
 */
export function highlightTerms(text: string, terms: readonly string[]): TextRun[] {
  const words = [...new Set(terms.map((term) => term.trim()).filter(Boolean))].sort(
    (a, b) => b.length - a.length,
  );
  if (!text) return [];
  if (words.length === 0) return [{ text, isMatch: false }];
  const pattern = new RegExp(
    `(?<![\\p{L}\\p{N}])(?:${words.map(escapeRegExp).join('|')})[\\p{L}\\p{N}]*`,
    'giu',
  );
  const runs: TextRun[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) runs.push({ text: text.slice(last, match.index), isMatch: false });
    runs.push({ text: match[0], isMatch: true });
    last = match.index + match[0].length;
  }
  if (last < text.length) runs.push({ text: text.slice(last), isMatch: false });
  return runs;
}

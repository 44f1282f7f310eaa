import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type FaxSearchResult } from '../api.js';
import { clock, highlightTerms, isTyping } from '../format.js';

/*
 * The top bar's fax search: words printed on a fax (read by OCR or from the PDF's text) find it
 * (GET /api/faxes/search?q=). Each result names its ticket, sender, date, pages and status, with the text
 * around the matches, the words searched marked (<mark> around text nodes: the snippet is the sender's text
 * and never HTML). Arrows move, Enter or a click opens the fax's conversation, Escape clears; f (outside a
 * text field) focuses the box.
 */
export function FaxSearch(props: { onOpen: (result: FaxSearchResult) => void }) {
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<{ results: FaxSearchResult[]; terms: string[] } | null>(null);
  const [active, setActive] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const [isFocused, setFocused] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const results = found?.results ?? null;

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'f') {
        event.preventDefault();
        input.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    const q = query.trim();
    if (q.length < 2) {
      setFound(null);
      setProblem(null);
      return;
    }
    let isCurrent = true;
    // One request per pause in typing, not per key.
    const timer = window.setTimeout(() => {
      api.searchFaxes(q).then(
        (answer) => {
          if (!isCurrent) return;
          setFound(answer);
          setActive(0);
          setProblem(null);
        },
        (err: unknown) => {
          if (isCurrent) setProblem(err instanceof Error ? err.message : String(err));
        },
      );
    }, 250);
    return () => {
      isCurrent = false;
      window.clearTimeout(timer);
    };
  }, [query]);

  const open = (result: FaxSearchResult | undefined) => {
    if (!result) return;
    props.onOpen(result);
    setQuery('');
    setFound(null);
    input.current?.blur();
  };

  const isShown = isFocused && Boolean(results || problem);
  const optionId = (i: number) => `fax-result-${i}`;
  return (
    <div class="fax-search">
      <input
        ref={input}
        type="search"
        role="combobox"
        aria-label="Search faxes"
        aria-expanded={isShown}
        aria-controls="fax-results"
        aria-autocomplete="list"
        aria-activedescendant={isShown && results?.[active] ? optionId(active) : undefined}
        placeholder="Search faxes (f)"
        data-testid="fax-search"
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
        onFocus={() => setFocused(true)}
        onBlur={() => setFocused(false)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            const step = e.key === 'ArrowDown' ? 1 : -1;
            setActive((i) => Math.min(Math.max(i + step, 0), Math.max((results?.length ?? 1) - 1, 0)));
          } else if (e.key === 'Enter') {
            e.preventDefault();
            open(results?.[active]);
          } else if (e.key === 'Escape') {
            setQuery('');
            setFound(null);
          }
        }}
      />
      {isShown && (
        <div class="fax-results" data-testid="fax-results">
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          {results && results.length === 0 && <p class="muted">No fax has these words.</p>}
          <ul id="fax-results" role="listbox" aria-label="Faxes">
            {results?.map((result, i) => (
              <li
                key={result.interactionId}
                id={optionId(i)}
                role="option"
                aria-selected={i === active}
                class={i === active ? 'active' : ''}
                data-testid="fax-result"
                data-interaction={result.interactionId}
                onMouseEnter={() => setActive(i)}
                onMouseDown={(e) => {
                  // Keep the box focused; open on click.
                  e.preventDefault();
                  open(result);
                }}
              >
                <span class="fax-result-head">
                  <strong>#{result.ticketNumber}</strong>{' '}
                  <span class="fax-result-sender">
                    {result.customerName ?? result.from ?? result.stationId ?? 'Unknown sender'}
                  </span>
                  <span class="muted fax-result-status">{result.status}</span>
                </span>
                <span class="muted fax-result-facts">
                  {[
                    result.customerName ? result.from : null,
                    result.stationId && result.stationId !== result.from
                      ? `station ${result.stationId}`
                      : null,
                    clock(result.receivedAt),
                    result.pageCount === null
                      ? null
                      : `${result.pageCount} ${result.pageCount === 1 ? 'page' : 'pages'}`,
                  ]
                    .filter(Boolean)
                    .join(' · ')}
                </span>
                <span class="fax-snippet" data-testid="fax-snippet">
                  {highlightTerms(snippetLine(result.snippet), found?.terms ?? []).map((run, j) =>
                    run.isMatch ? <mark key={j}>{run.text}</mark> : run.text,
                  )}
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

/** The snippet on one line: its line breaks as spaces, a page break (form feed) as a dash. */
const snippetLine = (snippet: string) =>
  snippet
    .replace(/\s*\f\s*/g, ' — ')
    .replace(/\s+/g, ' ')
    .trim();

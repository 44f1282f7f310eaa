import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type CustomerSummary } from '../api.js';
import { isTyping } from '../format.js';

/*
 * One box for finding a customer: a phone number in any format, an email address, or a name (the server
 * normalizes and ranks: GET /api/customers?q=). Results show as the agent types; arrows move, Enter opens the
 * profile, Escape closes. s (outside a text field) focuses the box.
 */
export function CustomerSearch(props: { onOpen: (customerId: string) => void }) {
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<CustomerSummary[] | null>(null);
  const [active, setActive] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  // The results show while the box has the focus (a click on one keeps it there).
  const [isFocused, setFocused] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 's') {
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
      setResults(null);
      return;
    }
    let isCurrent = true;
    // One request per pause in typing, not per key.
    const timer = window.setTimeout(() => {
      api.searchCustomers(q).then(
        ({ customers }) => {
          if (!isCurrent) return;
          setResults(customers);
          setActive(0);
          setProblem(null);
        },
        (err: unknown) => {
          if (isCurrent) setProblem(err instanceof Error ? err.message : String(err));
        },
      );
    }, 200);
    return () => {
      isCurrent = false;
      window.clearTimeout(timer);
    };
  }, [query]);

  const open = (customer: CustomerSummary | undefined) => {
    if (!customer) return;
    props.onOpen(customer.id);
    setQuery('');
    setResults(null);
    input.current?.blur();
  };

  return (
    <div class="customer-search">
      <input
        ref={input}
        type="search"
        aria-label="Search customers"
        placeholder="Find a customer: phone, email or name (s)"
        data-testid="customer-search"
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
            setResults(null);
          }
        }}
      />
      {isFocused && (results || problem) && (
        <div class="customer-results">
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          {results && results.length === 0 && <p class="muted">No customer matches.</p>}
          <ul role="listbox" aria-label="Customers">
            {results?.map((customer, i) => (
              <li
                key={customer.id}
                role="option"
                aria-selected={i === active}
                class={i === active ? 'active' : ''}
                data-testid="customer-result"
                onMouseEnter={() => setActive(i)}
                onMouseDown={(e) => {
                  e.preventDefault();
                  open(customer);
                }}
              >
                <strong>{customer.displayName ?? 'Unknown customer'}</strong>
                <span class="muted">{customer.identities.map((identity) => identity.value).join(' · ')}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { api, type Agent, type Customer, type DuplicateSuggestion, type Interaction } from '../api.js';
import { clock } from '../format.js';
import { useCustomerTimeline } from '../timeline-pages.js';
import { Timeline } from './timeline.js';

/*
 * A customer's profile, opened from the search box or a conversation: identities, account, owner and tier,
 * open interactions (opened in the conversation view), recent contacts on every channel, possible duplicates
 * with why (each opens the other customer's profile; merging is the supervisors' API and dashboard), and the
 * whole timeline across channels.
 */
export function CustomerProfile(props: {
  customerId: string;
  agent: Agent;
  onOpenInteraction: (interactionId: string) => void;
  onOpenCustomer: (customerId: string) => void;
  onClose: () => void;
}) {
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [interactions, setInteractions] = useState<Interaction[]>([]);
  const [suggestions, setSuggestions] = useState<DuplicateSuggestion[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const report = useCallback(
    (err: unknown) => setProblem(err instanceof Error ? err.message : String(err)),
    [],
  );
  const timeline = useCustomerTimeline(props.customerId, report);
  const { refresh } = timeline;

  useEffect(() => {
    let isCurrent = true;
    setCustomer(null);
    setProblem(null);
    Promise.all([api.customer(props.customerId), api.duplicateSuggestions(props.customerId)]).then(
      ([profile, duplicates]) => {
        if (!isCurrent) return;
        setCustomer(profile.customer);
        setInteractions(profile.interactions);
        setSuggestions(duplicates.suggestions);
      },
      (err: unknown) => isCurrent && report(err),
    );
    void refresh();
    return () => {
      isCurrent = false;
    };
  }, [props.customerId, refresh, report]);

  const byId = useMemo(() => new Map(interactions.map((i) => [i.id, i])), [interactions]);
  const open = interactions.filter((i) => i.status !== 'closed');

  return (
    <section class="customer-profile" aria-label="Customer profile" data-testid="customer-profile">
      <header>
        <h2>{customer ? (customer.displayName ?? 'Unknown customer') : 'Customer'}</h2>
        <button type="button" data-testid="profile-close" onClick={props.onClose}>
          Back
        </button>
      </header>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {!customer ? (
        !problem && <p class="muted">Loading…</p>
      ) : (
        <div class="profile-body">
          <div class="profile-facts">
            {customer.mergedIntoId && (
              <p class="notice">
                Merged into another customer.{' '}
                <button type="button" onClick={() => props.onOpenCustomer(customer.mergedIntoId!)}>
                  Open that profile
                </button>
              </p>
            )}
            <p class="label">Identities</p>
            <ul class="identities" data-testid="profile-identities">
              {customer.identities.map((identity) => (
                <li key={identity.id}>
                  <span class="label">{identity.kind}</span> {identity.value}
                </li>
              ))}
            </ul>
            <p class="label">Account</p>
            {customer.account ? (
              <p class="account" data-testid="profile-account">
                {customer.account.name} · <span class="tier">{customer.account.tier}</span>
                {' · owner '}
                {customer.account.ownerName ?? 'none'}
              </p>
            ) : (
              <p class="muted">No account.</p>
            )}

            <p class="label">Open interactions ({open.length})</p>
            <ul class="profile-interactions">
              {open.map((i) => (
                <li key={i.id}>
                  <button
                    type="button"
                    class="link"
                    data-testid="profile-open-interaction"
                    onClick={() => props.onOpenInteraction(i.id)}
                  >
                    <span class={`channel channel-${i.channel}`}>{i.channel}</span> #{i.ticketNumber}{' '}
                    {i.subject ?? ''}
                  </button>{' '}
                  <span class="muted">
                    {i.status}
                    {i.queue ? ` · ${i.queue}` : ''}
                    {i.assigneeId === props.agent.id ? ' · yours' : ''}
                  </span>
                </li>
              ))}
            </ul>

            <p class="label">Recent contacts</p>
            <ul class="recent" data-testid="profile-recent">
              {interactions.map((i) => (
                <li key={i.id}>
                  <span class={`channel channel-${i.channel}`}>{i.channel}</span>{' '}
                  {i.subject ?? `#${i.ticketNumber}`}{' '}
                  <span class="muted">
                    {i.status} · {clock(i.createdAt)}
                  </span>
                </li>
              ))}
            </ul>

            <p class="label">Possible duplicates ({suggestions.length})</p>
            {suggestions.length === 0 ? (
              <p class="muted">None.</p>
            ) : (
              <ul class="duplicates">
                {suggestions.map((s) => (
                  <li key={s.id} data-testid="duplicate-suggestion">
                    <button
                      type="button"
                      class="link"
                      onClick={() => props.onOpenCustomer(s.otherCustomer.id)}
                    >
                      {s.otherCustomer.displayName ?? 'Unknown customer'}
                    </button>{' '}
                    <span class="muted">{s.otherCustomer.identities.map((i) => i.value).join(' · ')}</span>
                    <span class="score"> · {Math.round(s.score * 100)}% alike</span>
                    <ul class="reasons">
                      {s.reasons.map((r) => (
                        <li key={`${r.code}-${r.detail}`}>{r.detail}</li>
                      ))}
                    </ul>
                  </li>
                ))}
              </ul>
            )}
          </div>
          <div class="profile-timeline">
            <p class="label">Timeline, every channel</p>
            {timeline.events ? (
              <Timeline
                events={timeline.events}
                agent={props.agent}
                interactions={byId}
                hasOlder={timeline.hasOlder}
                isLoadingOlder={timeline.isLoadingOlder}
                onLoadOlder={() => void timeline.loadOlder()}
              />
            ) : (
              <p class="muted">Loading…</p>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

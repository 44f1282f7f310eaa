import type { Customer, Interaction } from '../api.js';
import { clock } from '../format.js';

/** Who the customer is: name, identities, account, owner and tier, and their other interactions. */
export function CustomerCard({
  customer,
  interactions,
  onOpenProfile,
}: {
  customer: Customer;
  interactions: Interaction[];
  /** Where the whole profile can be opened (the conversation; not the offer toast). */
  onOpenProfile?: () => void;
}) {
  const recent = [...interactions].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 5);
  return (
    <div class="customer-card" data-testid="customer-card">
      <p class="customer-name">{customer.displayName ?? 'Unknown customer'}</p>
      <ul class="identities">
        {customer.identities.map((identity) => (
          <li key={identity.id}>
            <span class="label">{identity.kind}</span> {identity.value}
          </li>
        ))}
      </ul>
      {customer.account && (
        <p class="account">
          {customer.account.name} · <span class="tier">{customer.account.tier}</span>
          {customer.account.ownerName ? ` · owner ${customer.account.ownerName}` : ''}
        </p>
      )}
      {recent.length > 0 && (
        <>
          <p class="label">Last contacts</p>
          <ul class="recent">
            {recent.map((i) => (
              <li key={i.id}>
                <span class={`channel channel-${i.channel}`}>{i.channel}</span>{' '}
                {i.subject ?? `#${i.ticketNumber}`}{' '}
                <span class="muted">
                  {i.status} · {clock(i.createdAt)}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
      {onOpenProfile && (
        <button type="button" class="link" data-testid="open-profile" onClick={onOpenProfile}>
          Open the profile
        </button>
      )}
    </div>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import type { OfferPush } from '../../../src/realtime/agent-events.js';
import { api, type Agent, type Customer, type Interaction } from '../api.js';
import { secondsLeft } from '../format.js';
import { ivrSummary } from './call-events.js';
import { CustomerCard } from './customer-card.js';
import { WhyRouted } from './why-routed.js';

/**
 * An offer: the channel, a live countdown to expiresAt, why it was routed here, and the screen pop (the
 * customer, their account and their other open work; for a call, the number calling and the IVR path the
 * caller took). Accept (a) or reject (r) with an optional reason.
 */
export function OfferToast(props: {
  offer: OfferPush;
  agent: Agent;
  now: number;
  more: number;
  isRejecting: boolean;
  onStartReject: () => void;
  onCancelReject: () => void;
  onAccept: () => void;
  onReject: (reason: string) => void;
}) {
  const { offer } = props;
  const [pop, setPop] = useState<{
    interaction: Interaction;
    customer: Customer;
    interactions: Interaction[];
    /** A call's number and IVR path; null for other channels. */
    call: { from: string | null; ivr: string | null } | null;
  } | null>(null);
  const [reason, setReason] = useState('');
  const reasonField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    let isCurrent = true;
    setPop(null);
    api
      .interaction(offer.interactionId)
      .then(async ({ interaction, events }) => {
        const [{ customer, interactions }, call] = await Promise.all([
          api.customer(interaction.customerId),
          interaction.channel === 'voice'
            ? api.callLegs(interaction.id).then(
                ({ legs }) => ({
                  from: legs.find((leg) => leg.purpose === 'caller')?.fromNumber ?? null,
                  ivr: ivrSummary(events),
                }),
                () => ({ from: null, ivr: ivrSummary(events) }),
              )
            : null,
        ]);
        if (isCurrent) setPop({ interaction, customer, interactions, call });
      })
      .catch(() => undefined);
    return () => {
      isCurrent = false;
    };
  }, [offer.interactionId]);

  useEffect(() => {
    if (props.isRejecting) reasonField.current?.focus();
    else setReason('');
  }, [props.isRejecting]);

  // `now` ticks once a second, so it may be almost a second old: a fresh offer would show a second too many.
  const left = secondsLeft(offer.expiresAt, Math.max(props.now, Date.now()));
  return (
    <aside class="offer-toast" role="alertdialog" aria-label="Offer" data-testid="offer-toast">
      <header>
        <span class={`channel channel-${offer.channel}`}>{offer.channel}</span>
        <strong>New contact</strong>
        <span class={left <= 10 ? 'countdown urgent' : 'countdown'} data-testid="offer-countdown">
          {left}s
        </span>
      </header>
      {pop ? (
        <>
          {pop.interaction.subject && <p class="subject">{pop.interaction.subject}</p>}
          {pop.call && (
            <div class="call-pop" data-testid="offer-call">
              {pop.call.from && (
                <p class="caller" data-testid="offer-caller">
                  {pop.call.from}
                </p>
              )}
              {pop.call.ivr && (
                <p class="muted" data-testid="offer-ivr">
                  {pop.call.ivr}
                </p>
              )}
            </div>
          )}
          <CustomerCard
            customer={pop.customer}
            interactions={pop.interactions.filter((i) => i.id !== offer.interactionId)}
          />
        </>
      ) : (
        <p class="muted">Loading the customer…</p>
      )}
      <WhyRouted
        interactionId={offer.interactionId}
        agent={props.agent}
        offerId={offer.offerId}
        fallbackReason={offer.reason}
      />
      {props.isRejecting ? (
        <form
          class="reject-form"
          onSubmit={(e) => {
            e.preventDefault();
            props.onReject(reason);
          }}
        >
          <input
            ref={reasonField}
            aria-label="Reject reason"
            placeholder="Reason (optional)"
            maxLength={500}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') props.onCancelReject();
            }}
          />
          <button type="submit">Reject</button>
          <button type="button" onClick={props.onCancelReject}>
            Cancel
          </button>
        </form>
      ) : (
        <div class="actions">
          <button type="button" class="primary" onClick={props.onAccept}>
            Accept <kbd>a</kbd>
          </button>
          <button type="button" onClick={props.onStartReject}>
            Reject <kbd>r</kbd>
          </button>
        </div>
      )}
      {props.more > 0 && <p class="muted">{props.more} more waiting</p>}
    </aside>
  );
}

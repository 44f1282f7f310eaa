import { useEffect, useState } from 'preact/hooks';
import { api, type Agent, type LoggedEvent, type RoutingOffer } from '../api.js';

/*
 * "Why was this routed to me", from the routing log (GET /api/interactions/:id/routing): the router's reason,
 * queue and strategy, and the colleagues it passed over with why; or, when a colleague or a supervisor moved
 * the contact here, who did and their note. In the offer toast it explains that offer (`offerId`); in the
 * conversation, how the agent came to hold it (the latest accepted offer or transfer to them). The router
 * names agents by id; the console shows their names (colleagues' from the transfer picker's list).
 */

interface Explanation {
  kind: 'offer' | 'transfer';
  reason: string | null;
  queue: string | null;
  strategy: string | null;
  passedOver: { agentId: string; why: string }[];
  byAgentId: string | null;
  transferKind: string | null;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);

function fromOffer(event: LoggedEvent): Explanation {
  const { payload } = event;
  const passedOver = Array.isArray(payload.passedOver)
    ? (payload.passedOver as { agentId?: unknown; why?: unknown }[]).flatMap((p) =>
        typeof p.agentId === 'string' && typeof p.why === 'string'
          ? [{ agentId: p.agentId, why: p.why }]
          : [],
      )
    : [];
  return {
    kind: 'offer',
    reason: text(payload.reason),
    queue: text(payload.queue),
    strategy: text(payload.strategy),
    passedOver,
    byAgentId: null,
    transferKind: null,
  };
}

function fromTransfer(event: LoggedEvent): Explanation {
  return {
    kind: 'transfer',
    reason: text(event.payload.note),
    queue: null,
    strategy: null,
    passedOver: [],
    byAgentId: text(event.payload.byAgentId),
    transferKind: text(event.payload.kind),
  };
}

/** The offer's own decision, or how the agent came to hold the interaction: the latest of those events. */
export function explain(
  decisions: LoggedEvent[],
  offers: RoutingOffer[],
  agentId: string | undefined,
  offerId: string | undefined,
): Explanation | null {
  if (offerId) {
    const made = decisions.find((e) => e.type === 'offer.created' && e.payload.offerId === offerId);
    return made ? fromOffer(made) : null;
  }
  const accepted = new Set(
    offers.filter((o) => o.agentId === agentId && o.status === 'accepted').map((o) => o.id),
  );
  for (const event of [...decisions].reverse()) {
    if (event.type === 'offer.created' && accepted.has(String(event.payload.offerId)))
      return fromOffer(event);
    if (event.type === 'routing.transferred' && event.payload.toAgentId === agentId)
      return fromTransfer(event);
  }
  return null;
}

export function WhyRouted(props: {
  interactionId: string;
  /** Who is looking: in the conversation, how they came to hold it. */
  agent: Agent;
  /** The toast's offer: explain it (before it is accepted), in a compact form. */
  offerId?: string;
  /** Shown until the log is read (the offer push carries the reason). */
  fallbackReason?: string;
}) {
  const [why, setWhy] = useState<Explanation | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});

  useEffect(() => {
    let isCurrent = true;
    void api
      .routing(props.interactionId)
      .then(({ decisions, offers }) => {
        if (isCurrent) setWhy(explain(decisions, offers, props.agent.id, props.offerId));
      })
      .catch(() => undefined);
    void api
      .transferTargets(props.interactionId)
      .then(({ agents }) => {
        if (isCurrent) setNames(Object.fromEntries(agents.map((a) => [a.agentId, a.displayName])));
      })
      .catch(() => undefined);
    return () => {
      isCurrent = false;
    };
  }, [props.interactionId, props.agent.id, props.offerId]);

  const nameOf = (agentId: string) =>
    agentId === props.agent.id ? props.agent.displayName : (names[agentId] ?? 'a colleague');
  /** The router's sentence with agent ids replaced by names. */
  const readable = (sentence: string | null | undefined) =>
    sentence?.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, nameOf);
  const passedOver = why?.passedOver ?? [];

  if (props.offerId !== undefined)
    return (
      <div class="why" data-testid="offer-why">
        <p class="why-reason">
          <span class="label">Why you: </span>
          {readable(why?.reason ?? props.fallbackReason)}
        </p>
        {why?.queue && (
          <p class="muted">
            Queue {why.queue} · {why.strategy}
          </p>
        )}
        {passedOver.length > 0 && (
          <p class="muted passed-over-line">
            Passed over: {passedOver.map((p) => `${nameOf(p.agentId)} (${p.why})`).join('; ')}
          </p>
        )}
      </div>
    );

  if (!why) return null;
  return (
    <section class="why-routed" data-testid="why-routed" aria-label="Why was this routed to me?">
      <h3>Why was this routed to me?</h3>
      {why.kind === 'offer' ? (
        <>
          <p class="why-reason">{readable(why.reason)}</p>
          <p class="muted">
            Queue {why.queue} · strategy {why.strategy}
          </p>
          {passedOver.length > 0 && (
            <>
              <p class="label">Passed over</p>
              <ul class="passed-over">
                {passedOver.map((p) => (
                  <li key={p.agentId}>
                    <strong>{nameOf(p.agentId)}</strong> {p.why}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      ) : (
        <p class="why-reason">
          {why.transferKind === 'assign' ? 'Assigned' : 'Transferred'} to you by{' '}
          {why.byAgentId ? nameOf(why.byAgentId) : 'a colleague'}
          {why.reason ? `: “${why.reason}”` : '.'}
        </p>
      )}
    </section>
  );
}

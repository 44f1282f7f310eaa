import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, type Agent, type Customer, type Interaction, type Queue } from '../api.js';
import { isTyping } from '../format.js';
import type { Softphone, SoftphoneSnapshot } from '../phone.js';
import { useCustomerTimeline } from '../timeline-pages.js';
import { CallPanel } from './call-panel.js';
import { Composer } from './composer.js';
import { CustomerCard } from './customer-card.js';
import { othersOnEmail, replySubject } from './email-message.js';
import { SlaClocks } from './sla-clocks.js';
import { Timeline } from './timeline.js';
import { TransferPanel } from './transfer-panel.js';
import { WhyRouted } from './why-routed.js';
import { WrapUp } from './wrap-up.js';

interface Loaded {
  interaction: Interaction;
  customer: Customer | null;
  interactions: Interaction[];
}

/**
 * One interaction in the customer's whole timeline (every channel, this conversation marked), the composer,
 * the visitor's typing, its SLA clocks (sla-clocks.tsx), why it came to this agent, and wrap-up (close with
 * a disposition) and transfer. A voice contact also shows its call (call-panel.tsx). An interaction someone
 * else holds is read-only (supervisors may act on any).
 */
export function Conversation(props: {
  interactionId: string;
  agent: Agent;
  revision: number;
  queues: Queue[];
  hasOffer: boolean;
  /** The customer is typing on this (chat) conversation. */
  isCustomerTyping: boolean;
  /** The agent started or stopped typing a reply (sent to a chat visitor). */
  onTyping: (isTyping: boolean) => void;
  onOpenCustomer: (customerId: string) => void;
  onChanged: () => void;
  onLeave: () => void;
  /** The softphone, for a voice contact's call panel. */
  phone?: { snapshot: SoftphoneSnapshot; softphone: Softphone };
}) {
  const { interactionId } = props;
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [isTransferring, setTransferring] = useState(false);
  const customerId = loaded?.interaction.customerId;

  const report = useCallback(
    (err: unknown) => setProblem(err instanceof Error ? err.message : String(err)),
    [],
  );
  const timeline = useCustomerTimeline(customerId, report);
  const refreshTimeline = timeline.refresh;
  // Newest last: the view starts at the bottom (this conversation, the composer) and stays there as events
  // arrive, unless the agent scrolled up to read.
  const scroller = useRef<HTMLElement>(null);
  const isAtBottom = useRef(true);
  const eventCount = timeline.events?.length ?? 0;
  const isLoaded = loaded !== null;
  useEffect(() => {
    const view = scroller.current;
    if (view && isAtBottom.current) view.scrollTop = view.scrollHeight;
  }, [eventCount, isLoaded]);

  const reload = useCallback(async () => {
    try {
      const { interaction } = await api.interaction(interactionId);
      setLoaded((previous) => ({
        interaction,
        customer: previous?.customer ?? null,
        interactions: previous?.interactions ?? [],
      }));
    } catch (err) {
      report(err);
    }
  }, [interactionId, report]);

  // The timeline follows what the socket says changed, like the interaction.
  useEffect(() => void refreshTimeline(), [refreshTimeline, props.revision]);

  useEffect(() => void reload(), [reload, props.revision]);
  // Pushes are lost while the socket reconnects, and some changes push nothing: a slow poll covers them.
  useEffect(() => {
    const timer = window.setInterval(() => {
      void reload();
      void refreshTimeline();
    }, 15_000);
    return () => window.clearInterval(timer);
  }, [reload, refreshTimeline]);
  useEffect(() => {
    if (!customerId) return;
    api
      .customer(customerId)
      .then(
        ({ customer, interactions }) =>
          setLoaded((previous) => previous && { ...previous, customer, interactions }),
        report,
      );
  }, [customerId, props.revision, report]);

  const byId = useMemo(
    () => new Map((loaded?.interactions ?? []).map((i) => [i.id, i])),
    [loaded?.interactions],
  );
  // An email reply goes to the customer; others on their last email here may be copied (reply all).
  const othersOnLastEmail = useMemo(() => {
    const last = timeline.events?.findLast(
      (e) => e.interactionId === interactionId && e.type === 'message.received' && e.channel === 'email',
    );
    return last ? othersOnEmail(last.payload) : [];
  }, [timeline.events, interactionId]);

  // A chat or a fax can be answered by email at the customer's address; a chat's left message (the visitor
  // is gone) is, by default.
  const byEmail = useMemo(() => {
    const channel = loaded?.interaction.channel;
    if (channel !== 'chat' && channel !== 'fax') return undefined;
    const address = loaded?.customer?.identities.find((i) => i.kind === 'email')?.value;
    if (!address) return undefined;
    if (channel === 'fax') return { address, isDefault: false };
    const first = timeline.events?.find(
      (e) => e.interactionId === interactionId && e.type === 'message.received',
    );
    const hints = (first?.payload as { hints?: { leftMessage?: boolean } } | undefined)?.hints;
    return { address, isDefault: hints?.leftMessage === true };
  }, [loaded?.interaction.channel, loaded?.customer, timeline.events, interactionId]);
  // A fax reply goes to the customer's fax number, else their phone number (as the server picks).
  const faxNumber =
    loaded?.interaction.channel === 'fax'
      ? (
          loaded.customer?.identities.find((i) => i.kind === 'fax') ??
          loaded.customer?.identities.find((i) => i.kind === 'phone')
        )?.value
      : undefined;

  // t: the transfer picker (wrap-up and the composer have their own shortcuts).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (props.hasOffer || isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 't') {
        event.preventDefault();
        setTransferring(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.hasOffer]);

  /** Runs an action and re-reads the interaction; false (and the error shown) when the server refused. */
  const act = async (action: () => Promise<unknown>, after?: () => void): Promise<boolean> => {
    setProblem(null);
    try {
      await action();
    } catch (err) {
      report(err);
      return false;
    }
    props.onChanged();
    after?.();
    await reload();
    return true;
  };

  if (!loaded)
    return (
      <section class="conversation">
        {problem ? <p class="error">{problem}</p> : <p class="muted">Loading…</p>}
      </section>
    );

  const { interaction } = loaded;
  const isOpen = interaction.closedAt === null && interaction.status !== 'closed';
  const isMine = interaction.assigneeId === props.agent.id;
  const canWork = isOpen && (isMine || props.agent.role !== 'agent');
  return (
    <section
      ref={scroller}
      class="conversation"
      aria-label="Conversation"
      data-testid="conversation"
      onScroll={(e) => {
        const view = e.currentTarget;
        isAtBottom.current = view.scrollHeight - view.scrollTop - view.clientHeight < 80;
      }}
    >
      <header>
        <span class={`channel channel-${interaction.channel}`}>{interaction.channel}</span>
        <h2>
          #{interaction.ticketNumber} {interaction.subject ?? ''}
        </h2>
        <span class="muted">
          {interaction.status}
          {interaction.queue ? ` · ${interaction.queue}` : ''} · priority {interaction.priority}
        </span>
      </header>
      <SlaClocks interactionId={interactionId} revision={props.revision} />
      <div class="conversation-body">
        <div class="conversation-main">
          {timeline.events ? (
            <Timeline
              events={timeline.events}
              agent={props.agent}
              currentInteractionId={interactionId}
              interactions={byId}
              hasOlder={timeline.hasOlder}
              isLoadingOlder={timeline.isLoadingOlder}
              onLoadOlder={() => void timeline.loadOlder()}
            />
          ) : (
            <p class="muted">Loading the timeline…</p>
          )}
          {props.isCustomerTyping && (
            <p class="typing" data-testid="customer-typing" role="status">
              {loaded.customer?.displayName ?? 'The customer'} is typing…
            </p>
          )}
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          {isOpen && !canWork && (
            <p class="notice" data-testid="not-yours">
              {interaction.assigneeId
                ? 'A colleague holds this contact: you can read it here.'
                : `Waiting${interaction.queue ? ` in ${interaction.queue}` : ''}: you can read it here.`}
            </p>
          )}
          {canWork && (
            <Composer
              interactionId={interactionId}
              channel={interaction.channel}
              isShortcutFree={!props.hasOffer}
              canReply={interaction.channel !== 'voice'}
              {...(interaction.channel === 'chat' && { onTyping: props.onTyping })}
              {...(byEmail && { byEmail })}
              {...(faxNumber && { replyAddress: faxNumber })}
              {...(interaction.channel === 'email' && {
                email: {
                  subject: replySubject(interaction.subject ?? '', interaction.ticketNumber),
                  othersOnLastEmail,
                },
              })}
              onSend={(mode, text, extras) =>
                act(() =>
                  mode === 'reply' ? api.reply(interactionId, text, extras) : api.note(interactionId, text),
                )
              }
            />
          )}
          {canWork && (
            <div class="work-actions">
              <WrapUp
                interactionId={interactionId}
                onClosed={() => {
                  props.onChanged();
                  void reload();
                  void refreshTimeline();
                }}
              />
              {isTransferring ? (
                <TransferPanel
                  interactionId={interactionId}
                  channel={interaction.channel}
                  queues={props.queues}
                  onCancel={() => setTransferring(false)}
                  onTransferred={() => {
                    props.onChanged();
                    props.onLeave();
                  }}
                />
              ) : (
                <button type="button" data-testid="transfer-open" onClick={() => setTransferring(true)}>
                  Transfer… <kbd>t</kbd>
                </button>
              )}
            </div>
          )}
        </div>
        <div class="conversation-side">
          {interaction.channel === 'voice' && props.phone && (
            <CallPanel
              interactionId={interactionId}
              agent={props.agent}
              revision={props.revision}
              events={timeline.events}
              canWork={canWork}
              phone={props.phone.snapshot}
              softphone={props.phone.softphone}
              onChanged={() => void refreshTimeline()}
            />
          )}
          {loaded.customer && (
            <CustomerCard
              customer={loaded.customer}
              interactions={loaded.interactions.filter((i) => i.id !== interactionId)}
              onOpenProfile={() => props.onOpenCustomer(interaction.customerId)}
            />
          )}
          {isMine && <WhyRouted interactionId={interactionId} agent={props.agent} />}
        </div>
      </div>
    </section>
  );
}

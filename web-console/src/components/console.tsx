import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { OfferPush, StatePush } from '../../../src/realtime/agent-events.js';
import { api, type Agent, type AgentState, type Queue, type WorkItem } from '../api.js';
import { beep, notify } from '../alerts.js';
import { CannedRepliesAdmin } from './canned-replies-admin.js';
import { isTyping } from '../format.js';
import { Softphone } from '../phone.js';
import { connectAgentSocket, type AgentSocket, type ConnectionState } from '../socket.js';
import { Conversation } from './conversation.js';
import { CustomerProfile } from './customer-profile.js';
import { CustomerSearch } from './customer-search.js';
import { FaxSearch } from './fax-search.js';
import { OfferToast } from './offer-toast.js';
import { IncomingCall, PhoneStatus, useSoftphone } from './softphone.js';
import { TopBar } from './top-bar.js';
import { Worklist } from './worklist.js';

export interface WorkingState {
  state: AgentState;
  awayReason: string | null;
}

/*
 * The logged-in console: owns the socket and what it pushes (state, offers, interaction events), the
 * worklist, and which conversation is open. Actions go over HTTP (one error path, and they work while the
 * socket reconnects); the socket only tells the console that something changed.
 */
export function Console({ agent, onLoggedOut }: { agent: Agent; onLoggedOut: () => void }) {
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [working, setWorking] = useState<WorkingState>({ state: 'offline', awayReason: null });
  const [offers, setOffers] = useState<OfferPush[]>([]);
  const [worklist, setWorklist] = useState<WorkItem[]>([]);
  const [queues, setQueues] = useState<Queue[]>([]);
  const [openId, setOpenId] = useState<string | null>(null);
  // Bumped when the open interaction changes on the server, so that the conversation re-reads it.
  const [revision, setRevision] = useState(0);
  const [seen, setSeen] = useState<Record<string, string>>({});
  const [now, setNow] = useState(Date.now());
  const [problem, setProblem] = useState<string | null>(null);
  const [isManagingAnswers, setManagingAnswers] = useState(false);
  // The customer profile shown instead of the conversation (search, or "Open the profile").
  const [profileId, setProfileId] = useState<string | null>(null);
  // Interactions whose customer is typing, until when (a "stopped" that never comes expires).
  const [typingUntil, setTypingUntil] = useState<Record<string, number>>({});
  const socketRef = useRef<AgentSocket | null>(null);
  const canManageAnswers = agent.role === 'supervisor' || agent.role === 'admin';
  const openIdRef = useRef(openId);
  openIdRef.current = openId;
  // The softphone lives as long as the login: registered on mount, torn down on logout.
  const softphone = useMemo(() => new Softphone(), []);
  const phone = useSoftphone(softphone);
  useEffect(() => {
    void softphone.start();
    return () => softphone.stop();
  }, [softphone]);

  const report = (err: unknown) => setProblem(err instanceof Error ? err.message : String(err));

  const refreshWorklist = useCallback(() => {
    api.worklist().then(({ items }) => setWorklist(items), report);
  }, []);

  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, []);

  useEffect(() => {
    api.queues().then(({ queues }) => setQueues(queues), report);
    const socket = connectAgentSocket();
    socketRef.current = socket;
    const onState = (push: StatePush) => setWorking({ state: push.state, awayReason: push.awayReason });
    socket.on('connect', () => {
      setConnection('online');
      // Pushes sent while disconnected are lost: re-read what the console shows.
      refreshWorklist();
      setRevision((r) => r + 1);
    });
    socket.on('disconnect', () => setConnection('reconnecting'));
    socket.io.on('reconnect_attempt', () => setConnection('reconnecting'));
    socket.on('connect_error', (err) => {
      const code = (err as Error & { data?: { code?: string } }).data?.code;
      if (code === 'NOT_AUTHENTICATED') onLoggedOut();
      else setConnection('reconnecting');
    });
    socket.on('state', onState);
    socket.on('offer', (offer) => {
      setOffers((current) =>
        current.some((o) => o.offerId === offer.offerId) ? current : [...current, offer],
      );
      beep();
      notify('New contact offered', `A ${offer.channel} contact is waiting for you.`);
    });
    socket.on('offer:ended', (ended) => {
      setOffers((current) => current.filter((o) => o.offerId !== ended.offerId));
      if (ended.outcome === 'accepted') refreshWorklist();
    });
    socket.on('interaction:event', (event) => {
      // Typing changes nothing on the server: it is shown, never re-read.
      if (event.type === 'typing.changed') {
        const { interactionId } = event;
        setTypingUntil(({ [interactionId]: _, ...others }) =>
          event.payload.isTyping === true ? { ...others, [interactionId]: Date.now() + 10_000 } : others,
        );
        return;
      }
      // A customer who sent what they typed is no longer typing.
      if (event.type === 'message.received')
        setTypingUntil(({ [event.interactionId]: _, ...others }) => others);
      // A caller put on hold (here or in another tab) is rung back on resume: answered without asking.
      if (event.type === 'call.held')
        softphone.expectCall(event.interactionId, event.payload.state === 'on-hold' ? 'on-hold' : 'accepted');
      if (event.type === 'call.ended' || event.type === 'interaction.closed')
        softphone.forgetCall(event.interactionId);
      if (event.interactionId === openIdRef.current) setRevision((r) => r + 1);
      refreshWorklist();
    });
    socket.on('session:ended', () => onLoggedOut());
    return () => {
      socketRef.current = null;
      socket.disconnect();
    };
  }, [onLoggedOut, refreshWorklist, softphone]);

  // The agent's typing on a chat: best effort, never queued while the socket is away (it would arrive
  // stale), and no ack is awaited.
  const sendTyping = useCallback((interactionId: string, isTyping: boolean) => {
    const socket = socketRef.current;
    if (socket?.connected) socket.emit('typing', { interactionId, isTyping }, () => undefined);
  }, []);

  const open = useCallback((interactionId: string | null) => {
    setOpenId(interactionId);
    setProfileId(null);
    if (interactionId) setSeen((s) => ({ ...s, [interactionId]: new Date().toISOString() }));
  }, []);

  const accept = useCallback(
    async (offer: OfferPush) => {
      // The server dials the agent as soon as the accept lands, maybe before its answer arrives here.
      if (offer.channel === 'voice') softphone.expectCall(offer.interactionId, 'accepted');
      try {
        await api.accept(offer.offerId);
        setOffers((current) => current.filter((o) => o.offerId !== offer.offerId));
        open(offer.interactionId);
        refreshWorklist();
      } catch (err) {
        softphone.forgetCall(offer.interactionId);
        report(err);
      }
    },
    [open, refreshWorklist, softphone],
  );

  const reject = useCallback(async (offer: OfferPush, reason: string) => {
    try {
      await api.reject(offer.offerId, reason || undefined);
      setOffers((current) => current.filter((o) => o.offerId !== offer.offerId));
    } catch (err) {
      report(err);
    }
  }, []);

  const [isRejecting, setRejecting] = useState(false);
  const offer = offers[0];
  useEffect(() => setRejecting(false), [offer?.offerId]);

  // Console shortcuts (README): with an offer shown, a accepts and r starts a reject.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (!offer || isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'a') {
        event.preventDefault();
        void accept(offer);
      } else if (event.key === 'r') {
        event.preventDefault();
        setRejecting(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [offer, accept]);

  const logout = async () => {
    await api.logout().catch(() => undefined);
    onLoggedOut();
  };

  return (
    <div class="console">
      <TopBar
        agent={agent}
        connection={connection}
        working={working}
        onChange={(next) => setWorking(next)}
        onProblem={report}
        onLogout={() => void logout()}
        search={
          <>
            <CustomerSearch onOpen={setProfileId} />
            <FaxSearch onOpen={(fax) => open(fax.interactionId)} />
          </>
        }
        phone={<PhoneStatus agent={agent} phone={phone} />}
        {...(canManageAnswers && {
          onToggleAnswers: () => setManagingAnswers((is) => !is),
          isManagingAnswers,
        })}
      />
      {problem && (
        <p class="problem" role="alert">
          {problem}{' '}
          <button type="button" onClick={() => setProblem(null)}>
            Dismiss
          </button>
        </p>
      )}
      {isManagingAnswers && <CannedRepliesAdmin onClose={() => setManagingAnswers(false)} />}
      <div class="panes" hidden={isManagingAnswers}>
        <Worklist items={worklist} now={now} openId={openId} seen={seen} onOpen={open} />
        {profileId ? (
          <CustomerProfile
            key={profileId}
            customerId={profileId}
            agent={agent}
            onOpenInteraction={open}
            onOpenCustomer={setProfileId}
            onClose={() => setProfileId(null)}
          />
        ) : openId ? (
          <Conversation
            key={openId}
            interactionId={openId}
            agent={agent}
            revision={revision}
            queues={queues}
            hasOffer={Boolean(offer)}
            isCustomerTyping={(typingUntil[openId] ?? 0) > now}
            onTyping={(isTyping) => sendTyping(openId, isTyping)}
            onOpenCustomer={setProfileId}
            onChanged={refreshWorklist}
            onLeave={() => open(null)}
            phone={{ snapshot: phone, softphone }}
          />
        ) : (
          <section class="conversation empty">
            <p>Pick a contact from the worklist, or wait for an offer.</p>
          </section>
        )}
      </div>
      {offer && (
        <OfferToast
          offer={offer}
          agent={agent}
          now={now}
          more={offers.length - 1}
          isRejecting={isRejecting}
          onStartReject={() => setRejecting(true)}
          onCancelReject={() => setRejecting(false)}
          onAccept={() => void accept(offer)}
          onReject={(reason) => void reject(offer, reason)}
        />
      )}
      <IncomingCall phone={phone} softphone={softphone} />
    </div>
  );
}

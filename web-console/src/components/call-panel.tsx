import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Agent, type CallLeg, type CallLegState, type LoggedEvent } from '../api.js';
import { duration } from '../format.js';
import type { Softphone, SoftphoneSnapshot } from '../phone.js';

/*
 * The call of a voice contact, beside its conversation: where the call stands (`GET /api/phone/calls/:id`,
 * read again whenever the socket says the contact changed), how long the agent has been talking, and the
 * controls: mute (the softphone's own, nothing leaves the browser), hold and resume (the server moves the
 * caller to hold music and rings the agent again; it refuses with NO_LIVE_CALL when there is no call of this
 * agent, and says so here), and hang up (the softphone's call; nothing when none is connected).
 */

const stateLabels: Record<CallLegState, string> = {
  ivr: 'In the IVR',
  queued: 'Waiting in queue',
  'callback-requested': 'Callback requested',
  voicemail: 'Voicemail',
  ringing: 'Ringing',
  bridged: 'Connected',
  'on-hold': 'On hold',
  ended: 'Ended',
};

const purposeLabels: Record<CallLeg['purpose'], string> = {
  caller: 'caller',
  callback: 'callback',
  'click-to-call': 'click-to-call',
};

export function CallPanel(props: {
  interactionId: string;
  agent: Agent;
  /** Bumped when the socket says the contact changed: the legs are read again. */
  revision: number;
  /** The customer's timeline as loaded (the bridge's time starts the call timer). */
  events: readonly LoggedEvent[] | null;
  /** The agent may act on the call (their open contact, or a supervisor's). */
  canWork: boolean;
  phone: SoftphoneSnapshot;
  softphone: Softphone;
  /** The hold state changed on the server (the timeline re-reads too). */
  onChanged: () => void;
}) {
  const { interactionId, phone, softphone } = props;
  const [legs, setLegs] = useState<CallLeg[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [isHolding, setHolding] = useState(false);
  const [now, setNow] = useState(Date.now());
  // When this console first saw the call connected: the timer's start when no bridge event is loaded.
  const seenConnected = useRef<{ callSid: string; at: number } | null>(null);

  const load = useCallback(async () => {
    try {
      setLegs((await api.callLegs(interactionId)).legs);
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    }
  }, [interactionId]);

  useEffect(() => void load(), [load, props.revision]);

  const live = legs?.findLast((leg) => leg.state !== 'ended') ?? null;
  // Pushes are lost while the socket reconnects, and ringing pushes nothing: a live call is polled too.
  const isLive = live !== null;
  useEffect(() => {
    if (!isLive) return;
    const timer = window.setInterval(() => void load(), 10_000);
    return () => window.clearInterval(timer);
  }, [isLive, load]);
  const shown = live ?? legs?.at(-1) ?? null;
  const isTalking = live?.state === 'bridged' || live?.state === 'on-hold';

  useEffect(() => {
    if (!isTalking) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [isTalking]);

  // The softphone's call is this contact's when the console knew it, or when it cannot tell.
  const call =
    phone.call && (phone.call.interactionId === interactionId || phone.call.interactionId === null)
      ? phone.call
      : null;
  const isConnected = call !== null && call.status !== 'ringing';

  if (live && isTalking && seenConnected.current?.callSid !== live.callSid)
    seenConnected.current = { callSid: live.callSid, at: Date.now() };
  const bridgedAt = live && isTalking ? bridgeTimeOf(props.events, interactionId, live.callSid) : null;
  const talkingSince = bridgedAt ?? call?.connectedAt ?? seenConnected.current?.at ?? null;
  const ended = !live && shown ? lastEnded(props.events, interactionId, shown.callSid) : null;

  const hold = async (isOnHold: boolean) => {
    setHolding(true);
    setProblem(null);
    try {
      await api.holdCall(interactionId, isOnHold);
      // Taking the caller back rings this agent again: that call is answered without asking.
      softphone.expectCall(interactionId, isOnHold ? 'on-hold' : 'accepted');
      props.onChanged();
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    } finally {
      setHolding(false);
      await load();
    }
  };

  const isOnHold = live?.state === 'on-hold';
  const state = shown?.state ?? null;
  return (
    <section class="call-panel" aria-label="Call" data-testid="call-panel">
      <header>
        <strong>Call</strong>
        <span
          class={`call-state call-${state ?? 'none'}`}
          data-testid="call-state"
          data-state={state ?? 'none'}
        >
          {legs === null ? 'Loading…' : state ? stateLabels[state] : 'No call'}
        </span>
        <span class="call-timer" data-testid="call-timer" aria-label="Call time">
          {isTalking && talkingSince !== null
            ? duration((Math.max(now, Date.now()) - talkingSince) / 1000)
            : ended
              ? `talked ${duration(ended.talkSeconds)}`
              : ''}
        </span>
      </header>
      {shown && (
        <p class="call-parties">
          {shown.direction === 'inbound' ? shown.fromNumber : shown.toNumber}{' '}
          <span class="muted">
            {shown.direction === 'inbound' ? `called ${shown.toNumber}` : `called from ${shown.fromNumber}`} ·{' '}
            {purposeLabels[shown.purpose]}
          </span>
        </p>
      )}
      <SoftphoneNote phone={phone} leg={live} agentId={props.agent.id} isThisCall={call !== null} />
      {props.canWork && (
        <div class="call-controls">
          <button
            type="button"
            data-testid="call-mute"
            aria-pressed={call?.isMuted ?? false}
            disabled={!isConnected}
            onClick={() => softphone.mute(!call?.isMuted)}
          >
            {call?.isMuted ? 'Unmute' : 'Mute'}
          </button>
          <button
            type="button"
            data-testid="call-hold"
            aria-pressed={isOnHold}
            disabled={isHolding || !live}
            onClick={() => void hold(!isOnHold)}
          >
            {isOnHold ? 'Resume' : 'Hold'}
          </button>
          <button
            type="button"
            class="danger"
            data-testid="call-hangup"
            disabled={!isConnected}
            onClick={() => softphone.hangUp()}
          >
            Hang up
          </button>
        </div>
      )}
      {(problem ?? phone.callProblem) && (
        <p class="error" role="alert" data-testid="call-error">
          {problem ?? phone.callProblem}
        </p>
      )}
      {legs && legs.length > 1 && (
        <ol class="call-legs" data-testid="call-legs">
          {legs.map((leg) => (
            <li key={leg.callSid}>
              {purposeLabels[leg.purpose]}: {stateLabels[leg.state]}{' '}
              <span class="muted">{leg.direction === 'inbound' ? leg.fromNumber : leg.toNumber}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** What the softphone means for this call: it is on it, it cannot ring, or it is muted. */
function SoftphoneNote(props: {
  phone: SoftphoneSnapshot;
  leg: CallLeg | null;
  agentId: string;
  isThisCall: boolean;
}) {
  const { phone, leg } = props;
  const isMine = leg?.agentId === props.agentId;
  if (props.isThisCall && phone.call?.status === 'open')
    return <p class="call-note">{phone.call.isMuted ? 'On your softphone, muted.' : 'On your softphone.'}</p>;
  if (props.isThisCall && phone.call?.status === 'connecting')
    return <p class="call-note">Answering on your softphone…</p>;
  if (isMine && leg?.state === 'ringing' && phone.registration.state === 'offline')
    return (
      <p class="call-note warn" data-testid="call-softphone-offline">
        Your softphone is offline: this call cannot ring in this browser.
      </p>
    );
  return null;
}

const callSidOf = (event: LoggedEvent) =>
  typeof event.payload.callSid === 'string' ? event.payload.callSid : null;

/** When the leg was last connected to an agent (its newest call.bridged), ms since the epoch. */
function bridgeTimeOf(
  events: readonly LoggedEvent[] | null,
  interactionId: string,
  callSid: string,
): number | null {
  const bridged = events?.findLast(
    (e) => e.interactionId === interactionId && e.type === 'call.bridged' && callSidOf(e) === callSid,
  );
  return bridged ? Date.parse(bridged.occurredAt) : null;
}

function lastEnded(
  events: readonly LoggedEvent[] | null,
  interactionId: string,
  callSid: string,
): { talkSeconds: number | null } | null {
  const ended = events?.findLast(
    (e) => e.interactionId === interactionId && e.type === 'call.ended' && callSidOf(e) === callSid,
  );
  if (!ended) return null;
  const talk = ended.payload.talkSeconds;
  return { talkSeconds: typeof talk === 'number' ? talk : null };
}

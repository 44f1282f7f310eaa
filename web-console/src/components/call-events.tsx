import type { ComponentChildren } from 'preact';
import type { InteractionEventPayloads } from '../../../src/events.js';
import type { Agent, LoggedEvent } from '../api.js';
import { clock, duration } from '../format.js';
import { AttachmentView } from './attachment-view.js';

/*
 * The phone channel's events in the timeline: the IVR path a caller took (consecutive `ivr.step` events
 * folded into one "IVR path" block, so a long menu session takes one line until opened), the hand-off to
 * people, the queue, callbacks, the bridge to an agent, hold, the end of a leg with its durations, and call
 * recordings with a player. A voicemail is a customer message on a voice contact: its audio is played here,
 * and its transcript (a message of its own) shown as such. Payloads are the server's catalogue
 * (src/events.ts); the caller's words are rendered as text.
 */

type Payloads = InteractionEventPayloads;
export type PhoneEventType =
  | 'ivr.step'
  | 'ivr.handedOff'
  | 'call.queued'
  | 'callback.requested'
  | 'call.bridged'
  | 'call.held'
  | 'call.notAnswered'
  | 'call.placed'
  | 'call.ended'
  | 'call.recorded';

const phoneEventTypes: ReadonlySet<string> = new Set<PhoneEventType>([
  'ivr.step',
  'ivr.handedOff',
  'call.queued',
  'callback.requested',
  'call.bridged',
  'call.held',
  'call.notAnswered',
  'call.placed',
  'call.ended',
  'call.recorded',
]);

export const isPhoneEvent = (event: LoggedEvent): boolean => phoneEventTypes.has(event.type);

/** The payload as the server's catalogue types it (the log stores it exactly so). */
const payloadOf = <T extends PhoneEventType>(event: LoggedEvent, _type: T) =>
  event.payload as unknown as Payloads[T];

/** "IVR main-menu: matched 1 (said 'billing')" */
export function ivrStepLine(step: Payloads['ivr.step']): string {
  const said = step.input?.speech ? ` (said '${step.input.speech}')` : '';
  const pressed = !said && step.input?.digits ? ` (pressed ${step.input.digits})` : '';
  const attempt = step.attempt && step.attempt > 1 ? ` · try ${step.attempt}` : '';
  return `IVR ${step.step}: ${step.outcome}${step.detail ? ` ${step.detail}` : ''}${said}${pressed}${attempt}`;
}

/** "IVR → agent (caller chose; ivrChoice 1, en-US)" */
export function handOffLine(handOff: Payloads['ivr.handedOff']): string {
  // The log's JSON does not keep the keys' order: the caller's choices first, then their language.
  const entries = Object.entries(handOff.hints ?? {});
  const isLanguage = ([key]: [string, string]) => key === 'locale' || key === 'language';
  const hints = [
    ...entries.filter((entry) => !isLanguage(entry)).map(([key, value]) => `${key} ${value}`),
    ...entries.filter(isLanguage).map(([, value]) => value),
  ];
  return `IVR → ${handOff.to} (${handOff.reason}${hints.length ? `; ${hints.join(', ')}` : ''})`;
}

/** The steps a caller went through, once each in order: "main-menu → billing-menu → account". */
export function ivrPathOf(events: readonly LoggedEvent[]): string[] {
  const path: string[] = [];
  for (const event of events)
    if (event.type === 'ivr.step') {
      const { step } = payloadOf(event, 'ivr.step');
      if (path.at(-1) !== step) path.push(step);
    }
  return path;
}

/** The screen pop's one line on the IVR: the path and how it ended, or null when there was none. */
export function ivrSummary(events: readonly LoggedEvent[]): string | null {
  const path = ivrPathOf(events);
  const handOff = events.findLast((e) => e.type === 'ivr.handedOff');
  if (path.length === 0 && !handOff) return null;
  const ending = handOff ? ` · ${handOffLine(payloadOf(handOff, 'ivr.handedOff'))}` : '';
  return `${path.join(' → ') || 'IVR'}${ending}`;
}

export type TimelineItem =
  { kind: 'event'; event: LoggedEvent } | { kind: 'ivr'; id: string; steps: LoggedEvent[] };

/** Folds runs of two or more consecutive `ivr.step` events into one IVR path item. */
export function foldIvrSteps(events: readonly LoggedEvent[]): TimelineItem[] {
  const items: TimelineItem[] = [];
  for (const event of events) {
    const last = items.at(-1);
    if (event.type === 'ivr.step' && last?.kind === 'ivr') last.steps.push(event);
    else if (event.type === 'ivr.step') items.push({ kind: 'ivr', id: event.id, steps: [event] });
    else items.push({ kind: 'event', event });
  }
  return items.flatMap((item) =>
    item.kind === 'ivr' && item.steps.length === 1 ? [{ kind: 'event', event: item.steps[0]! }] : [item],
  );
}

const at = (event: LoggedEvent) => <time dateTime={event.occurredAt}>{clock(event.occurredAt)}</time>;

/** A collapsible block of IVR steps, closed at first: the path on one line, every step when opened. */
export function IvrPath({ steps }: { steps: LoggedEvent[] }) {
  const first = steps[0]!;
  const last = steps.at(-1)!;
  return (
    <li class="entry status ivr-path" data-type="ivr.path" data-testid="ivr-path">
      <details>
        <summary>
          IVR path: {ivrPathOf(steps).join(' → ')}{' '}
          <span class="muted">
            · {steps.length} steps · {at(first)}
            {first.occurredAt !== last.occurredAt && <> – {at(last)}</>}
          </span>
        </summary>
        <ol class="ivr-steps">
          {steps.map((event) => (
            <li key={event.id} data-testid="ivr-step">
              {ivrStepLine(payloadOf(event, 'ivr.step'))}
            </li>
          ))}
        </ol>
      </details>
    </li>
  );
}

/** One phone event as a timeline entry. */
export function PhoneEntry({ event, agent }: { event: LoggedEvent; agent: Agent }) {
  const who = (agentId: string | null) =>
    agentId === agent.id ? 'you' : agentId ? 'a colleague' : 'the agent';
  const line = (children: ComponentChildren, extraClass = '') => (
    <li class={`entry status call-event${extraClass}`} data-type={event.type} data-testid="call-event">
      {children} · {at(event)}
    </li>
  );
  switch (event.type as PhoneEventType) {
    case 'ivr.step':
      return line(ivrStepLine(payloadOf(event, 'ivr.step')));
    case 'ivr.handedOff':
      return line(handOffLine(payloadOf(event, 'ivr.handedOff')));
    case 'call.queued': {
      const p = payloadOf(event, 'call.queued');
      const wait = p.estimatedWaitSeconds === null ? 'unknown' : duration(p.estimatedWaitSeconds);
      return line(`Waiting in ${p.queue}: position ${p.position}, estimated wait ${wait}`);
    }
    case 'callback.requested': {
      const p = payloadOf(event, 'callback.requested');
      return line(
        `Callback requested at ${p.number} after waiting ${duration(p.waitedSeconds)}` +
          (p.queue ? `, keeping their place in ${p.queue}` : ''),
      );
    }
    case 'call.bridged': {
      const p = payloadOf(event, 'call.bridged');
      const leg = p.purpose === 'caller' ? 'Call' : p.purpose === 'callback' ? 'Callback' : 'Click-to-call';
      const endpoint = p.endpoint === 'softphone' ? 'the softphone' : 'their phone';
      return line(`${leg} connected to ${who(p.agentId)} on ${endpoint}`);
    }
    case 'call.held': {
      const p = payloadOf(event, 'call.held');
      return line(p.isOnHold ? `Put on hold by ${who(p.agentId)}` : `Taken off hold by ${who(p.agentId)}`);
    }
    case 'call.notAnswered': {
      const p = payloadOf(event, 'call.notAnswered');
      return line(`Not answered by ${who(p.agentId)} (${p.dialStatus}): the caller waits again`, ' warn');
    }
    case 'call.placed': {
      const p = payloadOf(event, 'call.placed');
      const what = p.purpose === 'callback' ? 'Callback' : 'Call';
      return line(`${what} placed to ${p.to} from ${p.from}`);
    }
    case 'call.ended': {
      const p = payloadOf(event, 'call.ended');
      const leg = p.purpose === 'caller' ? 'Call' : p.purpose === 'callback' ? 'Callback' : 'Click-to-call';
      return line(
        `${leg} ended (${p.status}) · total ${duration(p.durationSeconds)} · wait ${duration(p.waitSeconds)}` +
          ` · talk ${duration(p.talkSeconds)}`,
      );
    }
    case 'call.recorded': {
      const p = payloadOf(event, 'call.recorded');
      return (
        <li class="entry call-recording" data-type={event.type} data-testid="call-recording">
          <header>
            Call recording · {duration(p.durationSeconds)} · {at(event)}
          </header>
          <AudioFile file={p.attachment} label="Call recording" />
        </li>
      );
    }
  }
}

interface AudioAttachment {
  id: string;
  fileName: string;
  contentType: string;
}

/** A player and a download link for audio the server keeps (`GET /api/attachments/:id`). */
function AudioFile({ file, label }: { file: AudioAttachment; label: string }) {
  const href = `/api/attachments/${encodeURIComponent(file.id)}`;
  return (
    <div class="audio-file">
      <audio controls preload="metadata" src={href} aria-label={label} data-testid="audio-player" />
      <a href={href} download={file.fileName} data-testid="audio-download">
        Download {file.fileName}
      </a>
    </div>
  );
}

const audioFilesOf = (value: unknown): AudioAttachment[] =>
  Array.isArray(value)
    ? value.filter(
        (a): a is AudioAttachment =>
          typeof a === 'object' &&
          a !== null &&
          typeof (a as AudioAttachment).id === 'string' &&
          typeof (a as AudioAttachment).fileName === 'string' &&
          typeof (a as AudioAttachment).contentType === 'string' &&
          (a as AudioAttachment).contentType.startsWith('audio/'),
      )
    : [];

const detailsOf = (event: LoggedEvent): Record<string, unknown> => {
  const details = event.payload.details;
  return typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : {};
};

const stringOf = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);

/**
 * A customer message on a voice contact: the call arriving (its details name the numbers), a voicemail (its
 * audio), or a voicemail's transcript (with the problem when the transcription failed).
 */
export function VoiceMessage({ event }: { event: LoggedEvent }) {
  const details = detailsOf(event);
  const text = stringOf(event.payload.text);
  const header = (what: string) => (
    <header>
      <span class="who">Customer</span> · {what} · {at(event)}
    </header>
  );
  if (details.voicemailTranscript === true) {
    const problem = stringOf(details.problem);
    return (
      <li class="entry message inbound voicemail" data-type={event.type} data-testid="voicemail-transcript">
        {header('voicemail')}
        <p class="body">
          <span class="label">Voicemail transcript: </span>
          {text ?? (problem ? '(none)' : '(empty)')}
        </p>
        {problem && <p class="error voicemail-problem">The transcription failed: {problem}</p>}
      </li>
    );
  }
  if (details.voicemail === true) {
    const audio = audioFilesOf(event.payload.attachments);
    const others = Array.isArray(event.payload.attachments)
      ? event.payload.attachments.filter((a) => !audio.includes(a as AudioAttachment))
      : [];
    const seconds = typeof details.durationSeconds === 'number' ? details.durationSeconds : null;
    return (
      <li class="entry message inbound voicemail" data-type={event.type} data-testid="voicemail">
        {header(seconds === null ? 'voicemail' : `voicemail · ${duration(seconds)}`)}
        {audio.map((file) => (
          <AudioFile key={file.id} file={file} label="Voicemail" />
        ))}
        {audio.length === 0 && others.length === 0 && <p class="muted">The recording is not available.</p>}
        {text && <p class="body">{text}</p>}
        <AttachmentView attachments={others} />
      </li>
    );
  }
  const from = stringOf(details.from);
  const callerName = stringOf(details.callerName);
  const to = stringOf(details.to);
  return (
    <li class="entry message inbound call-arrival" data-type={event.type} data-testid="call-arrival">
      {header('voice')}
      {(from || !text) && (
        <p class="body">
          Incoming call{from ? ` from ${from}` : ''}
          {callerName ? ` (${callerName})` : ''}
          {to ? ` to ${to}` : ''}
        </p>
      )}
      {text && <p class="body">{text}</p>}
      <AttachmentView attachments={event.payload.attachments} />
    </li>
  );
}

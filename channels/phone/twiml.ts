/*
 * TwiML for the phone channel, built with the twilio package's VoiceResponse (which only lets us nest what
 * Twilio allows). Every document is small and self-contained; URLs are absolute under PUBLIC_BASE_URL,
 * because Twilio signs (and we verify) exactly the URL it requests.
 */
import twilio from 'twilio';
import type { Turn, Utterance } from './ivr-runner.js';

const { VoiceResponse } = twilio.twiml;
type Response = InstanceType<typeof VoiceResponse>;
type SayVoice = Parameters<Response['say']>[0] extends infer A
  ? A extends { voice?: infer V }
    ? V
    : never
  : never;
type SayLanguage = Parameters<Response['say']>[0] extends infer A
  ? A extends { language?: infer L }
    ? L
    : never
  : never;

export { VoiceResponse };

/** Says or plays each utterance into `target` (a Response or a Gather). */
export function speak(target: Pick<Response, 'say' | 'play'>, utterances: readonly Utterance[]): void {
  for (const u of utterances) {
    if ('play' in u) target.play(u.play);
    else
      target.say(
        {
          language: u.language as SayLanguage,
          ...(u.voice !== null && { voice: u.voice as SayVoice }),
        },
        u.say,
      );
  }
}

/** An IVR turn that waits for the caller: what they hear, then a Gather posting to `action`. */
export function gatherTwiml(turn: Turn, action: string): string {
  const end = turn.end;
  if (end.kind !== 'gather') throw new Error('gatherTwiml needs a turn that waits for the caller');
  // Callers hear the same menus again and again: a document is built once per shape (what is said and how
  // the Gather listens), and only its action URL, the next turn's, differs.
  const key = JSON.stringify([turn.heard, end]);
  let document = builtGathers.get(key);
  if (document === undefined) {
    document = buildGather(turn.heard, end);
    builtGathers.set(key, document);
    if (builtGathers.size > maxBuiltGathers) builtGathers.delete(builtGathers.keys().next().value as string);
  }
  return document.replace(actionSentinel, escapeAttribute(action));
}

const actionSentinel = 'urn:switchboard:gather-action';
const maxBuiltGathers = 2000;
const builtGathers = new Map<string, string>();
const escapeAttribute = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function buildGather(heard: Turn['heard'], end: Extract<Turn['end'], { kind: 'gather' }>): string {
  const action = actionSentinel;
  const turn = { heard };
  const response = new VoiceResponse();
  speak(response, turn.heard);
  const gather = response.gather({
    input: end.input === 'dtmf' ? ['dtmf'] : ['dtmf', 'speech'],
    action,
    method: 'POST',
    timeout: end.timeoutSeconds,
    actionOnEmptyResult: true,
    ...(end.numDigits !== null && { numDigits: end.numDigits }),
    ...(end.finishOnKey !== null && { finishOnKey: end.finishOnKey }),
    ...(end.input !== 'dtmf' && {
      language: end.language as Parameters<Response['gather']>[0] extends infer A
        ? A extends { language?: infer L }
          ? L
          : never
        : never,
      speechTimeout: 'auto',
      ...(end.hints.length > 0 && { hints: end.hints.slice(0, 100).join(', ') }),
    }),
  });
  speak(gather, end.prompt);
  return response.toString();
}

/** What the caller hears, then the call ends. */
export function hangupTwiml(heard: readonly Utterance[]): string {
  const response = new VoiceResponse();
  speak(response, heard);
  response.hangup();
  return response.toString();
}

/** An empty document: Twilio goes on with what it was doing (or ends the call when nothing is left). */
export function emptyTwiml(): string {
  return new VoiceResponse().toString();
}

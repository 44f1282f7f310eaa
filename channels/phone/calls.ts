/*
 * What happens to a call, webhook by webhook: the IVR's turns, the hand-off to routing, the queue a caller
 * waits in (position, estimated wait, a callback instead), voicemail, the bridge to the agent who accepted,
 * and the end of every leg with its durations. Each handler takes Twilio's parameters (already verified) and
 * returns the TwiML to answer with; voice.routes.ts is the thin HTTP side.
 *
 * Retries: Twilio may send any webhook again. IVR turns are handled once per (call, turn number)
 * (call-state.ts); everything else moves a call leg from one state to the next in one statement
 * (voice.repository.ts transition), so a repeated webhook finds the move already made and changes nothing.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../src/config.js';
import type { VoiceCall, VoiceRepository } from '../../src/db/repositories/voice.repository.js';
import { AppError, isAppError } from '../../src/errors.js';
import type { DomainEvents } from '../../src/events.js';
import type { AttachmentsService } from '../../src/interactions/attachments.service.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { JobQueue } from '../../src/jobs/job-registry.js';
import type { RulesSource } from '../../src/routing/dispatch.service.js';
import type { RouteOutcome, RoutingService } from '../../src/routing/routing.service.js';
import { openingStatus } from '../../src/routing/rules/rule-matcher.js';
import type { IvrRules } from '../../src/routing/rules/ivr.schema.js';
import type { CallState, StoredCall } from './call-state.js';
import {
  answerTurn,
  beginCall,
  startTurn,
  type CallerInput,
  type LookupAnswer,
  type Turn,
  type Utterance,
} from './ivr-runner.js';
import type { IvrLookup } from '../../src/routing/rules/ivr.schema.js';
import { emptyTwiml, gatherTwiml, hangupTwiml, speak, VoiceResponse } from './twiml.js';
import { rewriteApiUrl, type TwilioClient } from './twilio-client.js';

/** Twilio's webhook parameters, as posted (form fields). */
export type TwilioParams = Record<string, string | undefined>;

export interface VoiceCallsDeps {
  config: Pick<Config, 'publicBaseUrl' | 'phone'>;
  rules: RulesSource;
  state: CallState;
  voice: VoiceRepository;
  ingest: (contact: InboundContact) => Promise<IngestResult>;
  routing: Pick<RoutingService, 'route' | 'endContact' | 'move'>;
  twilio: TwilioClient;
  jobs: JobQueue;
  events: DomainEvents;
  attachments: Pick<AttachmentsService, 'keep' | 'discard'>;
  lookup: (lookup: IvrLookup, vars: Readonly<Record<string, string>>) => Promise<LookupAnswer>;
  log: FastifyBaseLogger;
  now?: () => Date;
}

const terminalStatuses = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);
/** Legs that outlive the caller's hang-up: they wait for an agent to call back. */
const waitingAfterHangup = new Set(['callback-requested', 'voicemail']);

/** Words the channel itself says (not the operator's prompts), by language prefix. */
const phrases = {
  en: {
    hold: 'Please hold while we connect you to an agent.',
    position: (n: number) => (n === 1 ? 'You are next in line.' : `You are number ${n} in line.`),
    wait: (minutes: number) =>
      minutes <= 1
        ? 'The expected wait is about one minute.'
        : `The expected wait is about ${minutes} minutes.`,
    offerCallback:
      'To hang up and be called back when an agent is free, keeping your place in line, press 1.',
    callbackConfirmed:
      'Thank you. We will call you back on this number as soon as an agent is free. Goodbye.',
    callbackRequested: 'We will call you back on this number as soon as an agent is free. Goodbye.',
    voicemailThanks: 'Thank you for your message. Goodbye.',
    noMessage: 'We did not receive a message. Goodbye.',
    sorry: 'We are sorry, we cannot take your call right now. Please leave a message after the tone.',
    unavailable: 'We are sorry, our phone line is not available right now. Please try again later.',
    callbackGreeting: 'Hello, we are returning your call. Please hold while we connect you to an agent.',
    agentMissed: 'Sorry for the wait. Please keep holding for the next available agent.',
    whisper: (queue: string | null) => (queue ? `Call from the ${queue} queue.` : 'Incoming call.'),
  },
  es: {
    hold: 'Por favor, espere mientras le comunicamos con un agente.',
    position: (n: number) => (n === 1 ? 'Usted es el siguiente.' : `Usted es el número ${n} en la fila.`),
    wait: (minutes: number) =>
      minutes <= 1
        ? 'La espera estimada es de un minuto.'
        : `La espera estimada es de unos ${minutes} minutos.`,
    offerCallback:
      'Para colgar y que le llamemos cuando haya un agente libre, sin perder su lugar, oprima 1.',
    callbackConfirmed: 'Gracias. Le llamaremos a este número en cuanto haya un agente libre. Adiós.',
    callbackRequested: 'Le llamaremos a este número en cuanto haya un agente libre. Adiós.',
    voicemailThanks: 'Gracias por su mensaje. Adiós.',
    noMessage: 'No recibimos ningún mensaje. Adiós.',
    sorry: 'Lo sentimos, no podemos atender su llamada ahora. Deje un mensaje después del tono.',
    unavailable: 'Lo sentimos, nuestra línea no está disponible. Inténtelo más tarde.',
    callbackGreeting: 'Hola, le devolvemos la llamada. Espere mientras le comunicamos con un agente.',
    agentMissed: 'Disculpe la espera. Siga en línea para el próximo agente disponible.',
    whisper: (queue: string | null) => (queue ? `Llamada de la fila ${queue}.` : 'Llamada entrante.'),
  },
} as const;

export type PhoneClientIdentity = `agent_${string}`;
/** The softphone identity of an agent (the access token's identity, the Dial's Client). */
export const clientIdentityOf = (agentId: string): PhoneClientIdentity => `agent_${agentId}`;

export function createVoiceCalls(deps: VoiceCallsDeps) {
  const { voice, state, log } = deps;
  const now = deps.now ?? (() => new Date());
  const base = `${deps.config.publicBaseUrl}/webhooks/twilio/voice`;
  const url = (path: string, query: Record<string, string | number> = {}) => {
    const search = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
    return `${base}/${path}${search ? `?${search}` : ''}`;
  };

  const ivrOf = (): IvrRules | null => deps.rules.current?.ivr ?? null;
  const languageTags = () => ivrOf()?.languages ?? [{ tag: 'en-US', voice: null }];
  const phrasesFor = (language: string) => (language.startsWith('es') ? phrases.es : phrases.en);
  const utter = (language: string, text: string): Utterance => ({
    say: text,
    language,
    voice: languageTags().find((l) => l.tag === language)?.voice ?? null,
  });
  const defaultLanguage = () => languageTags()[0]?.tag ?? 'en-US';

  const runnerDeps = {
    isQueueOpen: (queueName: string) => {
      const queue = deps.rules.current?.queues.get(queueName);
      return queue ? openingStatus(queue, now()).isOpen : false;
    },
    lookup: deps.lookup,
  };

  async function memoryLanguage(callSid: string): Promise<string> {
    return (await state.get(callSid))?.memory.language ?? defaultLanguage();
  }

  function published(interactionId: string, eventId: string | null, type: string, callState: string) {
    deps.events.publish('call.updated', { interactionId, eventId, type, state: callState });
  }

  /** Ends an interaction for the caller's side; one already closed (a retry, a race) is fine. */
  async function endForCaller(interactionId: string, reason: string): Promise<void> {
    try {
      await deps.routing.endContact(interactionId, { actor: { type: 'customer', id: null }, reason });
    } catch (error) {
      if (isAppError(error) && error.code === 'INTERACTION_CLOSED') return;
      throw error;
    }
  }

  // ---- TwiML pieces ----

  function enqueueTwiml(heard: readonly Utterance[], queue: string): string {
    const response = new VoiceResponse();
    speak(response, heard);
    response.enqueue(
      { waitUrl: url('wait'), waitUrlMethod: 'POST', action: url('queue-result'), method: 'POST' },
      `switchboard-${queue}`,
    );
    return response.toString();
  }

  function recordTwiml(
    heard: readonly Utterance[],
    options: { maxSeconds: number; transcribe: boolean },
  ): string {
    const response = new VoiceResponse();
    speak(response, heard);
    response.record({
      action: url('voicemail'),
      method: 'POST',
      maxLength: options.maxSeconds,
      finishOnKey: '#',
      playBeep: true,
      timeout: 5,
      recordingStatusCallback: url('recording'),
      recordingStatusCallbackMethod: 'POST',
      ...(options.transcribe && { transcribe: true, transcribeCallback: url('transcription') }),
    });
    // Silence after the message: the Record action answers; if it never does, the call just ends.
    return response.toString();
  }

  /**
   * Rings the agent (their softphone, or their own phone) for the call `customerCallSid` of `interactionId`.
   * The softphone learns which contact it is from the interactionId parameter.
   */
  function dialTwiml(
    heard: readonly Utterance[],
    customerCallSid: string,
    interactionId: string,
    agentId: string,
    phone: string | null,
  ) {
    const response = new VoiceResponse();
    speak(response, heard);
    const dial = response.dial({
      action: url('dial-result'),
      method: 'POST',
      timeout: 20,
      ...(deps.config.phone.isRecording && {
        record: 'record-from-answer-dual',
        recordingStatusCallback: url('recording'),
        recordingStatusCallbackMethod: 'POST',
      }),
    });
    // The whisper URL runs on the agent's leg when they answer, before the two are connected.
    const whisper = url('whisper', { call: customerCallSid, agent: agentId });
    if (phone) {
      dial.number({ url: whisper, method: 'POST' }, phone);
    } else {
      const client = dial.client({ url: whisper, method: 'POST' });
      client.identity(clientIdentityOf(agentId));
      client.parameter({ name: 'interactionId', value: interactionId });
    }
    return response.toString();
  }

  // ---- Hand-off from the IVR (or straight from an incoming call without an IVR) ----

  async function routeAndAnswer(
    call: { callSid: string; interactionId: string; language: string },
    heard: Utterance[],
    to: 'agent' | 'callback' | 'voicemail',
    voicemail: { maxSeconds: number; transcribe: boolean } | null,
  ): Promise<string> {
    const say = phrasesFor(call.language);
    let outcome: RouteOutcome;
    try {
      outcome = await deps.routing.route(call.interactionId);
    } catch (error) {
      // No rules in force, or routing is down: nothing the caller says may be lost, so they leave a message.
      log.error({ err: error, callSid: call.callSid }, 'routing a call failed: taking a voicemail');
      await voice.transition(call.callSid, 'voicemail');
      return recordTwiml([...heard, utter(call.language, say.sorry)], { maxSeconds: 120, transcribe: true });
    }
    if (outcome.status === 'closed') {
      await voice.transition(call.callSid, 'ended');
      return hangupTwiml([...heard, utter(call.language, outcome.message)]);
    }
    if (outcome.status === 'voicemail' || to === 'voicemail') {
      await voice.transition(call.callSid, 'voicemail');
      const greeting =
        outcome.status === 'voicemail' && outcome.greeting ? [utter(call.language, outcome.greeting)] : [];
      return recordTwiml([...heard, ...greeting], voicemail ?? { maxSeconds: 120, transcribe: true });
    }
    if (to === 'callback') {
      const before = await voice.transition(call.callSid, 'callback-requested', {
        from: ['ivr', 'queued'],
      });
      if (before) {
        const number = before.fromNumber;
        const eventId = await voice.log(call.interactionId, 'callback.requested', {
          callSid: call.callSid,
          number,
          queue: outcome.status === 'queued' ? outcome.queue : null,
          waitedSeconds: 0,
        });
        published(call.interactionId, eventId, 'callback.requested', 'callback-requested');
      }
      return hangupTwiml(heard.length > 0 ? heard : [utter(call.language, say.callbackRequested)]);
    }
    if (outcome.status === 'not-new') {
      // Routed already (a retry of this turn after a crash, or the sweep got there first): wait in its queue.
      const standing = await voice.queueStanding(call.interactionId);
      if (!standing) return hangupTwiml([utter(call.language, say.unavailable)]);
      await voice.transition(call.callSid, 'queued', { from: ['ivr', 'queued'] });
      return enqueueTwiml(heard, standing.queue);
    }
    await voice.transition(call.callSid, 'queued', { from: ['ivr'] });
    const standing = await voice.queueStanding(call.interactionId);
    const position = standing?.position ?? 1;
    const estimate = estimateWaitSeconds(position, standing?.answeredRecently ?? 0);
    const eventId = await voice.log(call.interactionId, 'call.queued', {
      callSid: call.callSid,
      queue: outcome.queue,
      position,
      estimatedWaitSeconds: estimate,
    });
    published(call.interactionId, eventId, 'call.queued', 'queued');
    return enqueueTwiml(heard.length > 0 ? heard : [utter(call.language, say.hold)], outcome.queue);
  }

  /** Renders a turn, acting on how it ends (a hand-off routes; a hang-up closes the contact as self-served). */
  async function answerWith(callSid: string, stored: StoredCall, turn: Turn): Promise<string> {
    const end = turn.end;
    const call = { callSid, interactionId: stored.interactionId, language: turn.memory.language };
    if (end.kind === 'gather') return gatherTwiml(turn, url('ivr', { seq: stored.seq }));
    if (end.kind === 'hangup') {
      await endForCaller(stored.interactionId, 'self-served in the IVR');
      return hangupTwiml(turn.heard);
    }
    await voice.handOff(stored.interactionId, {
      flow: turn.memory.flow,
      step: end.step,
      to: end.to,
      reason: end.reason,
      hints: end.hints,
    });
    return routeAndAnswer(call, turn.heard, end.to, end.voicemail);
  }

  /**
   * Runs one IVR turn exactly once per (call, seq); see call-state.ts. The turn's steps go to the log with
   * its answer (step-log.ts).
   */
  async function onceForTurn(
    callSid: string,
    seq: number,
    handle: (stored: StoredCall | undefined) => Promise<{
      twiml: string;
      stored: StoredCall | null;
      logged?: { interactionId: string; turn: Turn } | undefined;
    }>,
  ): Promise<string> {
    const at = now().toISOString();
    const started = await state.begin(callSid, seq);
    if (started.status === 'cached') return started.twiml;
    if (started.status === 'busy') {
      const answer = await state.awaitAnswer(callSid, seq);
      if (answer !== undefined) return answer;
      throw new Error(`turn ${seq} of call ${callSid} is still being handled`);
    }
    try {
      const { twiml, stored, logged } = await handle(started.call);
      await state.commit(
        callSid,
        seq,
        stored,
        twiml,
        logged
          ? { interactionId: logged.interactionId, turn: `${callSid}:${seq}`, at, steps: logged.turn.log }
          : null,
      );
      return twiml;
    } catch (error) {
      await state.release(callSid, seq);
      throw error;
    }
  }

  const service = {
    /** A call came in (the number's Voice URL): the caller is identified, logged, and meets the IVR. */
    async incoming(params: TwilioParams): Promise<string> {
      const callSid = required(params, 'CallSid');
      const from = params.From ?? params.Caller ?? '';
      const to = params.To ?? params.Called ?? '';
      return onceForTurn(callSid, 0, async () => {
        const ivr = ivrOf();
        const result = await deps.ingest({
          channel: 'voice',
          externalId: callSid,
          identities:
            from && !/^(anonymous|restricted|unknown)$/i.test(from) ? [{ kind: 'phone', value: from }] : [],
          ...(params.CallerName && { displayName: params.CallerName }),
          hints: { receivedOn: to },
          details: {
            callSid,
            from,
            to,
            ...(params.CallerName && { callerName: params.CallerName }),
            ...(params.FromCountry && { fromCountry: params.FromCountry }),
          },
          isRoutingDeferred: true,
        });
        await voice.recordCall({
          callSid,
          interactionId: result.interactionId,
          direction: 'inbound',
          purpose: 'caller',
          fromNumber: from,
          toNumber: to,
          state: ivr ? 'ivr' : 'queued',
          isIvr: ivr !== null,
        });
        if (!ivr) {
          const twiml = await routeAndAnswer(
            { callSid, interactionId: result.interactionId, language: defaultLanguage() },
            [],
            'agent',
            null,
          );
          return { twiml, stored: null };
        }
        const name = result.isNewCustomer ? null : await voice.customerNameOf(result.customerId);
        const memory = beginCall(ivr, to, {
          number: from,
          customer: name ? { name, firstName: name.split(/\s+/)[0] ?? null } : null,
        });
        const stored: StoredCall = { interactionId: result.interactionId, seq: 1, memory };
        const turn = await startTurn(ivr, memory, runnerDeps);
        stored.memory = turn.memory;
        return {
          twiml: await answerWith(callSid, stored, turn),
          stored,
          logged: { interactionId: result.interactionId, turn },
        };
      });
    },

    /** The caller answered an IVR prompt (a Gather's action): `seq` is the turn the answer belongs to. */
    async ivrAnswer(params: TwilioParams, seq: number): Promise<string> {
      const callSid = required(params, 'CallSid');
      const input: CallerInput = {
        ...(params.Digits !== undefined && { digits: params.Digits }),
        ...(params.SpeechResult !== undefined && { speech: params.SpeechResult }),
        ...(params.Confidence !== undefined && { confidence: Number(params.Confidence) }),
      };
      const hasInput = Boolean(input.digits || input.speech);
      // The common turn, on the process that served the call's last one: worked out from its memory, and
      // stored in one step unless it was answered meanwhile. A turn that hands off or hangs up has effects
      // beyond its answer: it takes the lock below.
      const ivr = ivrOf();
      const remembered = ivr ? state.recall(callSid, seq) : undefined;
      if (ivr && remembered) {
        const at = now().toISOString();
        const turn = await answerTurn(ivr, remembered.memory, hasInput ? input : undefined, runnerDeps);
        if (turn.end.kind === 'gather') {
          const next: StoredCall = { ...remembered, seq: seq + 1, memory: turn.memory };
          const twiml = gatherTwiml(turn, url('ivr', { seq: next.seq }));
          const logged = {
            interactionId: remembered.interactionId,
            turn: `${callSid}:${seq}`,
            at,
            steps: turn.log,
          };
          const outcome = await state.commitFirst(callSid, seq, next, twiml, logged);
          if (outcome.status === 'stored') return twiml;
          if (outcome.status === 'cached') return outcome.twiml;
          const answer = await state.awaitAnswer(callSid, seq);
          if (answer !== undefined) return answer;
          throw new Error(`turn ${seq} of call ${callSid} is still being handled`);
        }
      }
      return onceForTurn(callSid, seq, async (stored) => {
        if (!stored || !ivr) {
          log.warn({ callSid, seq }, 'an IVR answer for a call the IVR does not know');
          return { twiml: hangupTwiml([utter(defaultLanguage(), phrases.en.unavailable)]), stored: null };
        }
        const turn = await answerTurn(ivr, stored.memory, hasInput ? input : undefined, runnerDeps);
        const next: StoredCall = { ...stored, seq: seq + 1, memory: turn.memory };
        const twiml = await answerWith(callSid, next, turn);
        return { twiml, stored: next, logged: { interactionId: stored.interactionId, turn } };
      });
    },

    /** Enqueue's waitUrl, requested again whenever its document ends: position, wait, callback, music. */
    async wait(params: TwilioParams): Promise<string> {
      const callSid = required(params, 'CallSid');
      const [call, language] = await Promise.all([voice.callOf(callSid), memoryLanguage(callSid)]);
      const say = phrasesFor(language);
      const response = new VoiceResponse();
      const ivr = ivrOf();
      if (call) {
        const standing = await voice.queueStanding(call.interactionId);
        if (standing) {
          const lines = [say.position(standing.position)];
          const estimate = estimateWaitSeconds(standing.position, standing.answeredRecently);
          if (estimate !== null) lines.push(say.wait(Math.max(1, Math.round(estimate / 60))));
          speak(response, [utter(language, lines.join(' '))]);
        }
      }
      if (ivr?.offerCallback ?? true) {
        const gather = response.gather({
          input: ['dtmf'],
          numDigits: 1,
          timeout: 3,
          action: url('wait-choice'),
        });
        speak(gather, [utter(language, say.offerCallback)]);
      }
      response.play(ivr?.holdMusic ?? 'http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3');
      return response.toString();
    },

    /** A key pressed while waiting: 1 asks for a callback (the caller keeps their place and hangs up). */
    async waitChoice(params: TwilioParams): Promise<string> {
      const callSid = required(params, 'CallSid');
      if (params.Digits !== '1' || !(ivrOf()?.offerCallback ?? true)) return emptyTwiml();
      const language = await memoryLanguage(callSid);
      const before = await voice.transition(callSid, 'callback-requested', {
        from: ['queued'],
        callbackNumber: params.From ?? '',
      });
      if (before) {
        const waitedSeconds = before.queuedAt
          ? Math.round((now().getTime() - before.queuedAt.getTime()) / 1000)
          : 0;
        const eventId = await voice.log(
          before.interactionId,
          'callback.requested',
          { callSid, number: before.fromNumber, queue: null, waitedSeconds },
          { type: 'customer', id: null },
        );
        published(before.interactionId, eventId, 'callback.requested', 'callback-requested');
      }
      const response = new VoiceResponse();
      speak(response, [utter(language, phrasesFor(language).callbackConfirmed)]);
      response.leave();
      return response.toString();
    },

    /** Enqueue's action: the caller left the queue (bridged, hung up, asked for a callback, redirected). */
    async queueResult(params: TwilioParams): Promise<string> {
      const callSid = required(params, 'CallSid');
      const result = params.QueueResult ?? '';
      if (result === 'leave') return hangupTwiml([]); // Asked for a callback: told so before Leave.
      if (result === 'hangup') {
        await service.abandon(callSid);
        return emptyTwiml();
      }
      if (result === 'error' || result === 'system-shutdown' || result === 'queue-full') {
        const language = await memoryLanguage(callSid);
        log.warn({ callSid, result }, 'the provider dropped a caller from its queue: taking a voicemail');
        await voice.transition(callSid, 'voicemail', { from: ['queued'] });
        return recordTwiml([utter(language, phrasesFor(language).sorry)], {
          maxSeconds: 120,
          transcribe: true,
        });
      }
      return emptyTwiml(); // bridged, redirected: the call is elsewhere now.
    },

    /**
     * A caller hung up while waiting: an abandoned contact (its wait is enqueued to closed). The leg itself
     * ends with its status callback, which logs the durations (and closes the contact if this did not).
     */
    async abandon(callSid: string): Promise<void> {
      const call = await voice.callOf(callSid);
      if (call?.state === 'queued') await endForCaller(call.interactionId, 'caller hung up while waiting');
    },

    /** The agent's leg answered (Dial's Client/Number url): the caller and the agent are connected. */
    async whisper(
      params: TwilioParams,
      customerCallSid: string,
      agentId: string,
      isSilent = false,
    ): Promise<string> {
      const before = await voice.transition(customerCallSid, 'bridged', { from: ['ringing'], agentId });
      const call = before ?? (await voice.callOf(customerCallSid));
      if (before) {
        const eventId = await voice.log(
          before.interactionId,
          'call.bridged',
          {
            callSid: customerCallSid,
            agentId,
            // A click-to-call's url runs on the customer's leg: the agent's endpoint is theirs to say.
            endpoint: isSilent
              ? (await voice.agentPhoneOf(agentId))
                ? 'phone'
                : 'softphone'
              : (params.To ?? '').startsWith('client:')
                ? 'softphone'
                : 'phone',
            purpose: before.purpose,
          },
          { type: 'agent', id: agentId },
        );
        published(before.interactionId, eventId, 'call.bridged', 'bridged');
      }
      // A click-to-call's customer answered: they hear nothing before the agent.
      if (isSilent) return emptyTwiml();
      const standing = call ? await voice.queueStanding(call.interactionId) : undefined;
      const response = new VoiceResponse();
      speak(response, [
        utter(defaultLanguage(), phrasesFor(defaultLanguage()).whisper(standing?.queue ?? null)),
      ]);
      return response.toString();
    },

    /**
     * Click-to-call: rings the agent (softphone or own phone) first; when they answer, the customer's number
     * is dialled from the contact-center's number (clickToCallAnswered).
     */
    async placeCall(request: {
      interactionId: string;
      agentId: string;
      to: string;
    }): Promise<{ callSid: string }> {
      const legs = await voice.callsOf(request.interactionId);
      const from =
        deps.config.phone.callerId ?? legs.find((l) => l.direction === 'inbound')?.toNumber ?? null;
      if (!from) throw new AppError('VALIDATION_FAILED', 'No number to call from: set TWILIO_CALLER_ID.');
      const phone = await voice.agentPhoneOf(request.agentId);
      const placed = await deps.twilio.calls.create({
        to: phone ?? `client:${clientIdentityOf(request.agentId)}`,
        from,
        url: url('click-to-call', { interaction: request.interactionId, to: request.to }),
        method: 'POST',
        statusCallback: url('status'),
        statusCallbackMethod: 'POST',
      });
      await voice.recordCall({
        callSid: placed.sid,
        interactionId: request.interactionId,
        direction: 'outbound',
        purpose: 'click-to-call',
        fromNumber: from,
        toNumber: request.to,
        state: 'ringing',
        agentId: request.agentId,
      });
      const eventId = await voice.log(
        request.interactionId,
        'call.placed',
        { callSid: placed.sid, to: request.to, from, agentId: request.agentId, purpose: 'click-to-call' },
        { type: 'agent', id: request.agentId },
      );
      published(request.interactionId, eventId, 'call.placed', 'ringing');
      return { callSid: placed.sid };
    },

    /** The agent answered their click-to-call leg: dial the customer. */
    async clickToCallAnswered(params: TwilioParams, interactionId: string, to: string): Promise<string> {
      const callSid = required(params, 'CallSid');
      const call = await voice.callOf(callSid);
      if (!call || call.interactionId !== interactionId || call.purpose !== 'click-to-call')
        return hangupTwiml([]);
      const response = new VoiceResponse();
      const dial = response.dial({
        action: url('dial-result'),
        method: 'POST',
        timeout: 30,
        callerId: call.fromNumber,
        ...(deps.config.phone.isRecording && {
          record: 'record-from-answer-dual',
          recordingStatusCallback: url('recording'),
          recordingStatusCallbackMethod: 'POST',
        }),
      });
      dial.number(
        { url: url('whisper', { call: callSid, agent: call.agentId ?? '', silent: 1 }), method: 'POST' },
        to,
      );
      return response.toString();
    },

    /**
     * A callback for later: at `at`, a new call contact for `number` is routed like any (with the IVR choice
     * given, for the match rules), and the agent who accepts it is connected as with a requested callback.
     */
    async scheduleCallback(request: {
      number: string;
      at: Date;
      byAgentId: string;
      interactionId: string | null;
      note: string | null;
    }): Promise<{ jobKey: string }> {
      const legs = request.interactionId ? await voice.callsOf(request.interactionId) : [];
      const from =
        deps.config.phone.callerId ?? legs.find((l) => l.direction === 'inbound')?.toNumber ?? null;
      if (!from)
        throw new AppError('VALIDATION_FAILED', 'No number to call back from: set TWILIO_CALLER_ID.');
      const jobKey = `${request.number}-${request.at.getTime()}`;
      await deps.jobs.enqueue(
        'phone.scheduled-callback',
        {
          number: request.number,
          from,
          at: request.at.toISOString(),
          byAgentId: request.byAgentId,
          interactionId: request.interactionId,
          note: request.note,
        },
        {
          jobId: `scheduled-callback-${jobKey}`,
          delayMs: Math.max(0, request.at.getTime() - now().getTime()),
        },
      );
      if (request.interactionId) {
        const eventId = await voice.log(
          request.interactionId,
          'callback.scheduled',
          { number: request.number, at: request.at.toISOString(), note: request.note },
          { type: 'agent', id: request.byAgentId },
        );
        published(request.interactionId, eventId, 'callback.scheduled', 'scheduled');
      }
      return { jobKey };
    },

    /** The job behind scheduleCallback, at its time. Retry-safe: every step is keyed by the schedule. */
    async startScheduledCallback(job: {
      number: string;
      from: string;
      at: string;
      byAgentId: string;
      interactionId: string | null;
      note: string | null;
    }): Promise<string> {
      const key = `${job.number}-${Date.parse(job.at)}`;
      const result = await deps.ingest({
        channel: 'voice',
        direction: 'outbound',
        externalId: `scheduled-callback-${key}`,
        identities: [{ kind: 'phone', value: job.number }],
        ...(job.note && { text: job.note }),
        details: {
          scheduledCallback: { at: job.at, byAgentId: job.byAgentId, forInteractionId: job.interactionId },
        },
        isRoutingDeferred: true,
      });
      const callSid = `scheduled-${key}`;
      await voice.recordCall({
        callSid,
        interactionId: result.interactionId,
        direction: 'outbound',
        purpose: 'callback',
        fromNumber: job.from,
        toNumber: job.number,
        state: 'callback-requested',
        callbackNumber: job.number,
      });
      if (result.isNewInteraction) {
        await voice.log(result.interactionId, 'callback.requested', {
          callSid,
          number: job.number,
          queue: null,
          waitedSeconds: 0,
        });
      }
      await deps.routing.route(result.interactionId);
      return result.interactionId;
    },

    /** Dial's action: the bridge ended, or the agent's phone did not answer (the caller waits again). */
    async dialResult(params: TwilioParams): Promise<string> {
      const callSid = required(params, 'CallSid');
      const status = params.DialCallStatus ?? '';
      const call = await voice.callOf(callSid);
      if (!call) return hangupTwiml([]);
      if (status === 'completed' || status === 'answered') {
        const talkSeconds = numberOr(params.DialCallDuration, null);
        await voice.transition(callSid, 'bridged', { from: ['ringing', 'bridged'], talkSeconds });
        return hangupTwiml([]);
      }
      // The agent did not pick up: log it, hand the contact back to its queue, and let the caller wait.
      const before = await voice.transition(callSid, 'queued', { from: ['ringing'] });
      if (!before) return hangupTwiml([]);
      const eventId = await voice.log(call.interactionId, 'call.notAnswered', {
        callSid,
        agentId: before.agentId,
        dialStatus: status,
      });
      published(call.interactionId, eventId, 'call.notAnswered', 'queued');
      if (call.purpose !== 'caller') return hangupTwiml([]);
      const language = await memoryLanguage(callSid);
      if (before.agentId) {
        try {
          await deps.routing.move(
            call.interactionId,
            'transfer',
            { agentId: before.agentId, role: 'agent' },
            { queue: (await voice.queueStanding(call.interactionId))?.queue ?? '' },
            `the call did not reach the agent (${status})`,
          );
        } catch (error) {
          log.warn({ err: error, callSid }, 'could not hand an unanswered call back to its queue');
        }
      }
      const standing = await voice.queueStanding(call.interactionId);
      return enqueueTwiml([utter(language, phrasesFor(language).agentMissed)], standing?.queue ?? 'support');
    },

    /** The Record verb's action: the voicemail is taken (its bytes and transcript arrive by callbacks). */
    async voicemailDone(params: TwilioParams): Promise<string> {
      const callSid = required(params, 'CallSid');
      const language = await memoryLanguage(callSid);
      const seconds = numberOr(params.RecordingDuration, 0) ?? 0;
      if (!params.RecordingUrl || seconds <= 0) {
        const before = await voice.transition(callSid, 'ended', { from: ['voicemail'] });
        if (before) await endForCaller(before.interactionId, 'hung up without leaving a message');
        return hangupTwiml([utter(language, phrasesFor(language).noMessage)]);
      }
      return hangupTwiml([utter(language, phrasesFor(language).voicemailThanks)]);
    },

    /** A leg's final status: logged with its durations; what it ends depends on where the caller was. */
    async status(params: TwilioParams): Promise<void> {
      const callSid = required(params, 'CallSid');
      const status = params.CallStatus ?? '';
      if (!terminalStatuses.has(status)) return;
      const call = await voice.callOf(callSid);
      if (!call || call.state === 'ended') return;
      const durationSeconds = numberOr(params.CallDuration, null);
      // A caller who asked for a callback or left a voicemail still waits for us: their leg keeps its state.
      const keeps = waitingAfterHangup.has(call.state);
      const before = await voice.transition(callSid, keeps ? call.state : 'ended', {
        from: [call.state],
        durationSeconds,
      });
      if (!before) return; // Another request moved it first; it does the rest.
      const endedAt = now();
      const secondsBetween = (from: Date | null, to: Date | null) =>
        from && to ? Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000)) : null;
      const eventId = await voice.log(call.interactionId, 'call.ended', {
        callSid,
        purpose: call.purpose,
        status,
        durationSeconds,
        waitSeconds: secondsBetween(call.queuedAt, call.bridgedAt ?? endedAt),
        talkSeconds: call.talkSeconds ?? (call.bridgedAt ? secondsBetween(call.bridgedAt, endedAt) : null),
      });
      published(call.interactionId, eventId, 'call.ended', keeps ? call.state : 'ended');
      await state.forget(callSid);
      switch (call.state) {
        case 'ivr':
          return endForCaller(call.interactionId, 'caller hung up in the IVR');
        case 'queued':
          return endForCaller(call.interactionId, 'caller hung up while waiting');
        case 'ringing':
        case 'bridged':
        case 'on-hold':
          // A callback or click-to-call nobody answered stays with its agent, who decides what follows.
          if (call.purpose !== 'caller' && status !== 'completed') return;
          if (call.purpose !== 'caller' && !call.bridgedAt) return;
          return endForCaller(call.interactionId, 'call ended');
        default:
          return;
      }
    },

    /** An agent took a call contact (offer accepted, assigned, pulled, transferred): connect them. */
    async connectAgent(interactionId: string, agentId: string): Promise<void> {
      const call = await voice.liveCallOf(interactionId);
      if (!call) return;
      const phone = await voice.agentPhoneOf(agentId);
      if (call.state === 'callback-requested') {
        const number = call.callbackNumber ?? call.fromNumber;
        // From the contact center: the configured number, else the one the customer called (a scheduled
        // callback's leg carries the number it was scheduled from).
        const from =
          deps.config.phone.callerId ?? (call.direction === 'outbound' ? call.fromNumber : call.toNumber);
        // Taken first, so that two processes never both call back; given back if the call cannot be placed.
        const before = await voice.transition(call.callSid, 'ended', { from: ['callback-requested'] });
        if (!before) return;
        let placed: { sid: string };
        try {
          placed = await deps.twilio.calls.create({
            to: number,
            from,
            url: url('callback-answer', { interaction: interactionId, agent: agentId }),
            method: 'POST',
            statusCallback: url('status'),
            statusCallbackMethod: 'POST',
          });
        } catch (error) {
          await voice.transition(call.callSid, 'callback-requested', { from: ['ended'] });
          throw error;
        }
        await voice.recordCall({
          callSid: placed.sid,
          interactionId,
          direction: 'outbound',
          purpose: 'callback',
          fromNumber: from,
          toNumber: number,
          state: 'ringing',
          agentId,
        });
        const eventId = await voice.log(interactionId, 'call.placed', {
          callSid: placed.sid,
          to: number,
          from,
          agentId,
          purpose: 'callback',
        });
        published(interactionId, eventId, 'call.placed', 'ringing');
        return;
      }
      if (
        call.state !== 'queued' &&
        call.state !== 'bridged' &&
        call.state !== 'on-hold' &&
        call.state !== 'ringing'
      )
        return; // A voicemail waits for the agent to call back by hand.
      if (call.purpose !== 'caller') return;
      const before = await voice.transition(call.callSid, 'ringing', {
        from: ['queued', 'bridged', 'on-hold', 'ringing'],
        agentId,
      });
      if (!before) return;
      try {
        await deps.twilio
          .calls(call.callSid)
          .update({ twiml: dialTwiml([], call.callSid, interactionId, agentId, phone) });
        published(interactionId, null, 'call.ringing', 'ringing');
      } catch (error) {
        // The caller hung up meanwhile (Twilio: the call is not in progress): their status callback ends it.
        const code = (error as { code?: number }).code;
        if (code === 20404 || code === 21220) {
          log.info({ callSid: call.callSid }, 'the caller was gone before the agent was connected');
          return;
        }
        await voice.transition(call.callSid, before.state, { from: ['ringing'] });
        throw error;
      }
    },

    /** A callback we placed was answered: greet the customer and ring the agent. */
    async callbackAnswered(params: TwilioParams, interactionId: string, agentId: string): Promise<string> {
      const callSid = required(params, 'CallSid');
      // The callee may answer before connectAgent has recorded the leg it placed: record it from here (the
      // URL is ours, signed by Twilio, so its interaction and agent are the ones connectAgent named).
      await voice.recordCall({
        callSid,
        interactionId,
        direction: 'outbound',
        purpose: 'callback',
        fromNumber: params.From ?? '',
        toNumber: params.To ?? '',
        state: 'ringing',
        agentId,
      });
      const call = await voice.callOf(callSid);
      if (!call || call.interactionId !== interactionId) return hangupTwiml([]);
      const phone = await voice.agentPhoneOf(agentId);
      const language = defaultLanguage();
      return dialTwiml(
        [utter(language, phrasesFor(language).callbackGreeting)],
        callSid,
        interactionId,
        agentId,
        phone,
      );
    },

    /**
     * A recording is ready (recordingStatusCallback): kept by a retry-safe job keyed by its id. A voicemail
     * becomes a customer message with the audio; a call recording is attached to the call.
     */
    async recordingReady(params: TwilioParams): Promise<void> {
      const recordingSid = required(params, 'RecordingSid');
      if ((params.RecordingStatus ?? 'completed') !== 'completed') return;
      await deps.jobs.enqueue(
        'phone.fetch-recording',
        {
          callSid: required(params, 'CallSid'),
          recordingSid,
          recordingUrl: required(params, 'RecordingUrl'),
          durationSeconds: numberOr(params.RecordingDuration, null),
          // A <Record> (the caller's voicemail), else a recorded call (Dial's record).
          kind: (params.RecordingSource ?? 'RecordVerb') === 'RecordVerb' ? 'voicemail' : 'call',
        },
        { jobId: `recording-${recordingSid}` },
      );
    },

    /** The job behind recordingReady: download the audio, keep it, log it. Retry-safe. */
    async fetchRecording(job: {
      callSid: string;
      recordingSid: string;
      recordingUrl: string;
      durationSeconds: number | null;
      kind: 'voicemail' | 'call';
    }): Promise<void> {
      const call = await voice.callOf(job.callSid);
      if (!call) return;
      const { accountSid, authToken, apiBaseUrl } = deps.config.phone;
      const media = rewriteApiUrl(`${job.recordingUrl.replace(/\.(wav|mp3)$/, '')}.mp3`, apiBaseUrl);
      const response = await fetch(media, {
        headers: {
          authorization: `Basic ${Buffer.from(`${accountSid}:${authToken ?? ''}`).toString('base64')}`,
        },
        signal: AbortSignal.timeout(30_000),
      });
      if (!response.ok) throw new Error(`recording ${job.recordingSid}: HTTP ${response.status}`);
      const content = Buffer.from(await response.arrayBuffer());
      const contentType = response.headers.get('content-type')?.split(';')[0] ?? 'audio/mpeg';
      const extension = contentType.includes('wav') ? 'wav' : 'mp3';
      const kept = await deps.attachments.keep(content, {
        fileName: `${job.recordingSid}.${extension}`,
        contentType,
      });
      if (job.kind === 'voicemail') {
        const result = await deps.ingest({
          channel: 'voice',
          externalId: job.recordingSid,
          identities: call.fromNumber ? [{ kind: 'phone', value: call.fromNumber }] : [],
          thread: { interactionId: call.interactionId, reason: 'voicemail', reopenWithinSeconds: 7 * 86_400 },
          attachments: [kept],
          details: { voicemail: true, callSid: job.callSid, durationSeconds: job.durationSeconds },
        });
        if (result.isDuplicate) await deps.attachments.discard(kept);
        return;
      }
      const eventId = await voice.logRecording(
        call.interactionId,
        {
          recordingSid: job.recordingSid,
          attachment: {
            id: kept.id,
            fileName: kept.fileName,
            contentType: kept.contentType,
            sizeBytes: kept.sizeBytes,
          },
          durationSeconds: job.durationSeconds,
        },
        { storageKey: kept.storageKey, sha256: kept.sha256 ?? null },
      );
      if (eventId === undefined) {
        await deps.attachments.discard(kept); // Logged by an earlier run of this job.
        return;
      }
      published(call.interactionId, eventId, 'call.recorded', call.state);
    },

    /** A voicemail's transcript: the customer's words, logged as their message (once per transcription). */
    async transcription(params: TwilioParams): Promise<void> {
      const callSid = required(params, 'CallSid');
      const transcriptionSid = required(params, 'TranscriptionSid');
      const call = await voice.callOf(callSid);
      if (!call) return;
      const isDone = params.TranscriptionStatus === 'completed';
      await deps.ingest({
        channel: 'voice',
        externalId: transcriptionSid,
        identities: call.fromNumber ? [{ kind: 'phone', value: call.fromNumber }] : [],
        thread: {
          interactionId: call.interactionId,
          reason: 'voicemail transcript',
          reopenWithinSeconds: 7 * 86_400,
        },
        ...(isDone && params.TranscriptionText && { text: params.TranscriptionText }),
        details: {
          voicemailTranscript: true,
          callSid,
          ...(params.RecordingSid && { recordingSid: params.RecordingSid }),
          ...(!isDone && { problem: `transcription ${params.TranscriptionStatus ?? 'failed'}` }),
        },
      });
    },

    /** A call contact moved to a queue by hand while the caller is connected: they wait there again. */
    async requeue(interactionId: string, queue: string): Promise<void> {
      const call = await voice.liveCallOf(interactionId);
      if (!call || call.purpose !== 'caller') return;
      const before = await voice.transition(call.callSid, 'queued', {
        from: ['ringing', 'bridged', 'on-hold'],
      });
      if (!before) return;
      const language = await memoryLanguage(call.callSid);
      await deps.twilio
        .calls(call.callSid)
        .update({ twiml: enqueueTwiml([utter(language, phrasesFor(language).hold)], queue) });
    },

    /**
     * An agent or supervisor closed a call contact while the caller is connected or waiting: hang it up. (A
     * call the IVR is serving ends with its own goodbye; the caller's hang-up has already ended the rest.)
     */
    async hangUp(interactionId: string): Promise<void> {
      const call = await voice.liveCallOf(interactionId);
      if (!call || !['queued', 'ringing', 'bridged', 'on-hold'].includes(call.state)) return;
      try {
        await deps.twilio.calls(call.callSid).update({ status: 'completed' });
      } catch (error) {
        const code = (error as { code?: number }).code;
        if (code !== 20404 && code !== 21220) throw error;
      }
    },

    /** Hold: the caller hears hold music in a queue of their own; unhold rings the agent again. */
    async hold(interactionId: string, agentId: string, isOnHold: boolean): Promise<VoiceCall> {
      const call = await voice.liveCallOf(interactionId);
      if (!call || call.agentId !== agentId) throw new AppError('NO_LIVE_CALL');
      const target = isOnHold ? 'on-hold' : 'ringing';
      const from = isOnHold ? 'bridged' : 'on-hold';
      // Asked twice (a double click, a retry): nothing more to do.
      if (call.state === target || (!isOnHold && call.state === 'bridged')) return call;
      const before = await voice.transition(call.callSid, target, { from: [from], agentId });
      if (!before)
        throw new AppError(
          'NO_LIVE_CALL',
          isOnHold ? 'The call is not connected.' : 'The call is not on hold.',
        );
      let twiml: string;
      if (isOnHold) {
        const response = new VoiceResponse();
        response.enqueue(
          { waitUrl: url('hold-music'), waitUrlMethod: 'POST' },
          `switchboard-hold-${call.callSid}`,
        );
        twiml = response.toString();
      } else {
        twiml = dialTwiml([], call.callSid, interactionId, agentId, await voice.agentPhoneOf(agentId));
      }
      try {
        await deps.twilio.calls(call.callSid).update({ twiml });
      } catch (error) {
        await voice.transition(call.callSid, from, { from: [target] });
        throw error;
      }
      const eventId = await voice.log(
        interactionId,
        'call.held',
        { callSid: call.callSid, agentId, isOnHold },
        { type: 'agent', id: agentId },
      );
      published(interactionId, eventId, 'call.held', target);
      return { ...call, state: target };
    },

    /** The hold queue's wait document: music only. */
    holdMusic(): string {
      const response = new VoiceResponse();
      response.play(
        { loop: 0 },
        ivrOf()?.holdMusic ?? 'http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3',
      );
      return response.toString();
    },
  };
  return service;
}

export type VoiceCalls = ReturnType<typeof createVoiceCalls>;

/**
 * Seconds a caller at `position` can expect to wait, from how many contacts the queue answered in the last
 * half hour (its recent pace); null when too few were answered to say.
 */
export function estimateWaitSeconds(position: number, answeredInLastHalfHour: number): number | null {
  if (answeredInLastHalfHour < 3) return null;
  return Math.round((position * 1800) / answeredInLastHalfHour);
}

function required(params: TwilioParams, name: string): string {
  const value = params[name];
  if (!value) throw new AppError('VALIDATION_FAILED', `The webhook has no ${name}.`);
  return value;
}

function numberOr<T>(value: string | undefined, fallback: T): number | T {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

/*
 * The IVR interpreter: walks a flow from routing-rules (ivr.schema.ts) one caller turn at a time. A turn is
 * what the caller hears until the IVR needs something from them (keys or words), hands them to people, or
 * hangs up. The runner knows no provider: it returns the turn as data (twiml.ts renders it), and the only
 * outside facts it asks for come through `deps` (whether a queue is open, a lookup's answer).
 *
 * The call's memory (language, collected digits, lookup results, tries used) goes back to the caller of the
 * runner with each turn; the webhook stores it and hands it back with the caller's next input.
 */
import { normalizeSpeech } from '../../src/routing/rules/rules.loader.js';
import type {
  IvrFlow,
  IvrLookup,
  IvrRules,
  IvrStep,
  MenuOption,
  Prompt,
  PromptPart,
} from '../../src/routing/rules/ivr.schema.js';
import type { InteractionEventPayloads } from '../../src/events.js';

export interface CallMemory {
  flow: string;
  language: string;
  /** Collected digits by name, lookup results as `result.<field>`, `caller`, `customer.<field>`. */
  vars: Record<string, string>;
  isKnownCaller: boolean;
  /** The step whose input the caller's next answer is, and the tries used on it. */
  waitingOn: string | null;
  attempt: number;
  /** The last menu key (or option) the caller chose: the default IVR choice routing sees. */
  lastChoice: string | null;
}

/** Something the caller hears, in their language, with its voice. */
export type Utterance = { say: string; language: string; voice: string | null } | { play: string };

export type TurnEnd =
  | {
      kind: 'gather';
      step: string;
      /** 'dtmf speech' for menus with words; digits only for collects. */
      input: 'dtmf' | 'dtmf speech';
      numDigits: number | null;
      finishOnKey: string | null;
      timeoutSeconds: number;
      language: string;
      /** Words speech recognition should expect. */
      hints: string[];
      /** Said inside the gather: keys may interrupt it. */
      prompt: Utterance[];
    }
  | {
      kind: 'handoff';
      to: 'agent' | 'callback' | 'voicemail';
      step: string;
      reason: string;
      hints: Record<string, string>;
      voicemail: { maxSeconds: number; transcribe: boolean } | null;
    }
  | { kind: 'hangup'; step: string };

export interface Turn {
  /** Heard before `end` (answers, prompts, the retry apology). */
  heard: Utterance[];
  end: TurnEnd;
  memory: CallMemory;
  /** One entry per step the turn went through (ivr.step events). */
  log: InteractionEventPayloads['ivr.step'][];
}

export type LookupAnswer =
  { status: 'found'; data: unknown } | { status: 'not-found' } | { status: 'failed'; reason: string };

export interface RunnerDeps {
  isQueueOpen: (queue: string) => boolean;
  lookup: (lookup: IvrLookup, vars: Readonly<Record<string, string>>) => Promise<LookupAnswer>;
}

export interface CallerInput {
  digits?: string;
  speech?: string;
  confidence?: number;
}

/** Steps a single turn may pass through before it must wait: a guard against a flow the loader missed. */
const maxStepsPerTurn = 50;

/** The flow that answers `dialled`, and a fresh memory for the call. */
export function beginCall(
  ivr: IvrRules,
  dialled: string,
  caller: { number: string; customer: { firstName: string | null; name: string | null } | null },
): CallMemory {
  const flow = ivr.numbers.get(dialled) ?? ivr.defaultFlow;
  const vars: Record<string, string> = { caller: caller.number };
  if (caller.customer?.firstName) vars['customer.firstName'] = caller.customer.firstName;
  if (caller.customer?.name) vars['customer.name'] = caller.customer.name;
  return {
    flow,
    language: ivr.languages[0]?.tag ?? 'en-US',
    vars,
    isKnownCaller: caller.customer !== null,
    waitingOn: null,
    attempt: 0,
    lastChoice: null,
  };
}

/** The first turn of a call: the flow's start step onwards. */
export function startTurn(ivr: IvrRules, memory: CallMemory, deps: RunnerDeps): Promise<Turn> {
  const flow = flowOf(ivr, memory);
  return new TurnBuilder(ivr, flow, memory, deps).run(flow.start);
}

/** The caller answered the step they were waiting on (`input` undefined: they said and pressed nothing). */
export async function answerTurn(
  ivr: IvrRules,
  memory: CallMemory,
  input: CallerInput | undefined,
  deps: RunnerDeps,
): Promise<Turn> {
  const flow = flowOf(ivr, memory);
  const builder = new TurnBuilder(ivr, flow, memory, deps);
  const step = memory.waitingOn ? flow.steps.get(memory.waitingOn) : undefined;
  // A flow reloaded without the step the caller was on: start the flow again rather than strand them.
  if (!step || (step.kind !== 'menu' && step.kind !== 'collect')) return builder.run(flow.start);
  return builder.answer(step, input);
}

function flowOf(ivr: IvrRules, memory: CallMemory): IvrFlow {
  const flow = ivr.flows.get(memory.flow) ?? ivr.flows.get(ivr.defaultFlow);
  if (!flow) throw new Error(`the IVR has no flow '${memory.flow}'`);
  if (flow.name !== memory.flow) memory.flow = flow.name;
  return flow;
}

type InputStep = Extract<IvrStep, { kind: 'menu' | 'collect' }>;

class TurnBuilder {
  readonly #heard: Utterance[] = [];
  readonly #log: Turn['log'] = [];
  readonly #memory: CallMemory;
  #steps = 0;

  constructor(
    readonly ivr: IvrRules,
    readonly flow: IvrFlow,
    memory: CallMemory,
    readonly deps: RunnerDeps,
  ) {
    this.#memory = { ...memory, vars: { ...memory.vars } };
  }

  async answer(step: InputStep, input: CallerInput | undefined): Promise<Turn> {
    const digits = input?.digits?.replace(/[^0-9*#]/g, '') ?? '';
    const speech = input?.speech?.trim() ?? '';
    const given = {
      ...(digits && { digits }),
      ...(speech && { speech }),
      ...(input?.confidence !== undefined && speech && { confidence: input.confidence }),
    };
    const hasInput = digits.length > 0 || speech.length > 0;
    if (step.kind === 'menu') {
      const option = hasInput ? chooseOption(step.options, digits, speech) : null;
      if (option) {
        this.#record(step, 'matched', { input: given, detail: option.press ?? option.say[0] ?? option.next });
        if (option.language) this.#memory.language = option.language;
        this.#memory.lastChoice = option.press ?? option.say[0] ?? null;
        return this.run(option.next);
      }
      return this.#retry(step, hasInput ? 'no match' : 'no input', given);
    }
    // collect: keys only; a finishing key is not part of the value.
    const value = digits.endsWith(step.finishOnKey) && step.finishOnKey ? digits.slice(0, -1) : digits;
    if (!hasInput) return this.#retry(step, 'no input', given);
    const isValid =
      /^[0-9]+$/.test(value) &&
      value.length >= step.minDigits &&
      value.length <= step.maxDigits &&
      (step.pattern === null || step.pattern.test(value));
    if (!isValid) return this.#retry(step, 'invalid', given);
    this.#memory.vars[step.as] = value;
    this.#record(step, 'collected', { input: given, detail: step.as });
    return this.run(step.next);
  }

  async #retry(step: InputStep, outcome: string, input: CallerInput): Promise<Turn> {
    const attempt = this.#memory.waitingOn === step.name ? this.#memory.attempt + 1 : 1;
    this.#record(step, outcome, { ...(Object.keys(input).length > 0 && { input }), attempt });
    if (attempt > step.retries) {
      this.#memory.attempt = 0;
      if (step.onFailure) return this.run(step.onFailure);
      return this.#end({
        kind: 'handoff',
        to: 'agent',
        step: step.name,
        reason: 'too many retries',
        hints: this.#hints(null),
        voicemail: null,
      });
    }
    this.#hear(step.retryPrompt);
    return this.#wait(step, attempt);
  }

  async run(stepName: string): Promise<Turn> {
    let name = stepName;
    for (;;) {
      if (++this.#steps > maxStepsPerTurn)
        throw new Error(`IVR flow '${this.flow.name}' does not wait for the caller`);
      const step = this.flow.steps.get(name);
      if (!step) throw new Error(`IVR flow '${this.flow.name}' has no step '${name}'`);
      switch (step.kind) {
        case 'say': {
          const prompt = this.#memory.isKnownCaller && step.promptToKnown ? step.promptToKnown : step.prompt;
          this.#hear(prompt);
          this.#record(step, 'said');
          name = step.next;
          continue;
        }
        case 'hours': {
          const isOpen = this.deps.isQueueOpen(step.queue);
          this.#record(step, isOpen ? 'open' : 'closed', { detail: step.queue });
          name = isOpen ? step.open : step.closed;
          continue;
        }
        case 'lookup': {
          const lookup = this.ivr.lookups.get(step.use);
          const answer: LookupAnswer = lookup
            ? await this.deps.lookup(lookup, this.#memory.vars)
            : { status: 'failed', reason: `no lookup '${step.use}'` };
          if (answer.status === 'found') {
            Object.assign(this.#memory.vars, flattenResult(answer.data));
            this.#hear(step.answer);
            this.#record(step, 'answered', { detail: step.use });
            name = step.next;
            continue;
          }
          if (answer.status === 'not-found' && step.notFound) {
            this.#hear(step.notFound);
            this.#record(step, 'not found', { detail: step.use });
            name = step.next;
            continue;
          }
          this.#record(step, answer.status === 'failed' ? `lookup failed: ${answer.reason}` : 'not found', {
            detail: step.use,
          });
          if (step.onError) {
            name = step.onError;
            continue;
          }
          return this.#end({
            kind: 'handoff',
            to: 'agent',
            step: step.name,
            reason: 'lookup failed',
            hints: this.#hints(null),
            voicemail: null,
          });
        }
        case 'menu':
        case 'collect':
          this.#record(step, 'prompted');
          return this.#wait(step, 0);
        case 'agent':
        case 'callback':
          if (step.prompt) this.#hear(step.prompt);
          this.#record(step, 'handed off');
          return this.#end({
            kind: 'handoff',
            to: step.kind,
            step: step.name,
            reason: 'caller chose',
            hints: this.#hints(step.choice),
            voicemail: null,
          });
        case 'voicemail':
          this.#hear(step.prompt);
          this.#record(step, 'recording');
          return this.#end({
            kind: 'handoff',
            to: 'voicemail',
            step: step.name,
            reason: 'caller chose',
            hints: this.#hints(step.choice),
            voicemail: { maxSeconds: step.maxSeconds, transcribe: step.transcribe },
          });
        case 'hangup':
          this.#hear(step.prompt);
          this.#record(step, 'self-served');
          return this.#end({ kind: 'hangup', step: step.name });
      }
    }
  }

  #wait(step: InputStep, attempt: number): Turn {
    this.#memory.waitingOn = step.name;
    this.#memory.attempt = attempt;
    const prompt = this.#render(step.prompt);
    const language = this.#memory.language;
    if (step.kind === 'menu') {
      const lengths = step.options.flatMap((o) => (o.press ? [o.press.length] : []));
      const hints = step.options.flatMap((o) => o.say);
      return this.#turn({
        kind: 'gather',
        step: step.name,
        input: hints.length > 0 ? 'dtmf speech' : 'dtmf',
        numDigits: lengths[0] ?? 1,
        finishOnKey: null,
        timeoutSeconds: step.timeoutSeconds,
        language,
        hints,
        prompt,
      });
    }
    return this.#turn({
      kind: 'gather',
      step: step.name,
      input: 'dtmf',
      numDigits: step.finishOnKey ? null : step.maxDigits,
      finishOnKey: step.finishOnKey || null,
      timeoutSeconds: step.timeoutSeconds,
      language,
      hints: [],
      prompt,
    });
  }

  #end(end: TurnEnd): Turn {
    this.#memory.waitingOn = null;
    this.#memory.attempt = 0;
    return this.#turn(end);
  }

  #turn(end: TurnEnd): Turn {
    return { heard: this.#heard, end, memory: this.#memory, log: this.#log };
  }

  /** The routing hints a hand-off carries: the IVR choice and the caller's language. */
  #hints(choice: string | null): Record<string, string> {
    const ivrChoice = choice ?? this.#memory.lastChoice;
    return { ...(ivrChoice !== null && { ivrChoice }), locale: this.#memory.language };
  }

  #hear(prompt: Prompt): void {
    this.#heard.push(...this.#render(prompt));
  }

  #render(prompt: Prompt): Utterance[] {
    const language = this.#memory.language;
    const part: PromptPart | undefined = prompt[language] ?? Object.values(prompt)[0];
    if (!part) return [];
    if ('play' in part) return [{ play: part.play }];
    const voice = this.ivr.languages.find((l) => l.tag === language)?.voice ?? null;
    const text = fillTemplate(part.say, this.#memory.vars);
    return text.trim() ? [{ say: text, language, voice }] : [];
  }

  #record(
    step: IvrStep,
    outcome: string,
    extra: { input?: CallerInput; attempt?: number; detail?: string } = {},
  ): void {
    this.#log.push({
      flow: this.flow.name,
      step: step.name,
      kind: step.kind,
      outcome,
      language: this.#memory.language,
      ...(extra.input && Object.keys(extra.input).length > 0 && { input: extra.input }),
      ...(extra.attempt !== undefined && { attempt: extra.attempt }),
      ...(extra.detail !== undefined && { detail: extra.detail }),
    });
  }
}

/** The option the caller chose: by keys first, else by the words they said (whole words, any synonym). */
export function chooseOption(
  options: readonly MenuOption[],
  digits: string,
  speech: string,
): MenuOption | null {
  if (digits) {
    const byKey = options.find((o) => o.press === digits);
    if (byKey) return byKey;
  }
  if (!speech) return null;
  const said = ` ${normalizeSpeech(speech)} `;
  // A spoken digit ("one", "1") chooses like the key, after the words.
  let best: { option: MenuOption; length: number } | null = null;
  for (const option of options)
    for (const word of option.say)
      if (said.includes(` ${word} `) && (!best || word.length > best.length))
        best = { option, length: word.length };
  if (best) return best.option;
  const spokenKey = said.trim();
  return options.find((o) => o.press !== null && o.press === spokenKey) ?? null;
}

/** `{{name}}` → the value; unknown names become empty (a prompt never reads out braces). */
export function fillTemplate(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name: string) => vars[name] ?? '');
}

/** A lookup's JSON as `result.<path>` strings: objects to two levels, scalars only, bounded. */
export function flattenResult(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (value: unknown, path: string, depth: number) => {
    if (Object.keys(out).length >= 100) return;
    if (value === null || value === undefined) return;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      out[path] = String(value).slice(0, 500);
      return;
    }
    if (typeof value === 'object' && depth < 3 && !Array.isArray(value))
      for (const [key, inner] of Object.entries(value)) visit(inner, `${path}.${key}`, depth + 1);
  };
  visit(data, 'result', 0);
  return out;
}

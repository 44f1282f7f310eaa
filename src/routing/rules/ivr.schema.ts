/*
 * The IVR section of the routing rule files (`ivr:`, in one file only, usually routing-rules/ivr.yaml): the
 * self-service menus callers meet before, or instead of, an agent. Checked like the rest of the rules (the
 * schema here, cross-references in rules.loader.ts) and reloaded with them.
 *
 *   languages  language tag -> the voice that speaks it (the first is the default language)
 *   numbers    dialled number -> flow; `defaultFlow` answers every other number
 *   lookups    named HTTP endpoints for self-service answers (an order's status, a balance)
 *   flows      name -> { start, steps }; a step is one of:
 *                say        a prompt, then `next`
 *                menu       a prompt and options chosen by key or by voice (with synonyms), retried
 *                collect    digits (an order number), validated and retried, kept under `as`
 *                lookup     asks a lookup, answers from its result (templated), then `next`
 *                hours      goes to `open` or `closed` by a queue's business hours
 *                agent      hands the caller to routing (with an IVR choice the match rules read)
 *                callback   hands the caller to routing as a callback request: they hang up and are called
 *                voicemail  records a message (transcribed) that waits in a queue for a call back
 *                hangup     a last prompt, then the call ends (the caller served themselves)
 *
 * Nothing here names a provider: prompts are text to speak or audio to play, input is keys or speech.
 */
import { Type, type Static } from 'typebox';

const StepName = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,59}$',
  description: "a step name: lower-case letters, digits, '-' and '_', at most 60",
});
const FlowName = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,39}$',
  description: "a flow name: lower-case letters, digits, '-' and '_', at most 40",
});
export const LanguageTag = Type.String({
  pattern: '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$',
  description: "a language tag such as 'en-US' or 'es-MX'",
});
const Url = Type.String({ pattern: '^https?://', description: 'an http(s) URL' });
const Keys = Type.String({ pattern: '^[0-9*#]{1,4}$', description: "keys to press: digits, '*' or '#'" });

/** Audio to play instead of speaking. */
const Play = Type.Object({ play: Url }, { additionalProperties: false });

/**
 * What the caller hears: text spoken in the call's language (one text for every language), or per language a
 * text or audio. Text may hold `{{name}}` placeholders (collected digits, lookup results, the customer).
 */
export const PromptSpec = Type.Union([
  Type.String({ minLength: 1, maxLength: 4000 }),
  Play,
  Type.Record(Type.String(), Type.Union([Type.String({ minLength: 1, maxLength: 4000 }), Play]), {
    propertyNames: LanguageTag,
    minProperties: 1,
  }),
]);
export type PromptSpec = Static<typeof PromptSpec>;

const Retry = {
  /** Tries after the first before `onFailure` (default 2). */
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
  /** Seconds of silence that count as no input (default 5). */
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 })),
  /** Said before the prompt is repeated (default: "Sorry, I did not get that."). */
  retryPrompt: Type.Optional(PromptSpec),
  /** Where a caller goes after the last retry (default: an agent, with reason 'too many retries'). */
  onFailure: Type.Optional(StepName),
};

export const MenuOptionSpec = Type.Object(
  {
    press: Type.Optional(Keys),
    /** Words or phrases that choose this option by voice, in any language of the flow. */
    say: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1 })),
    /** The caller's language from now on (a language menu). */
    language: Type.Optional(LanguageTag),
    next: StepName,
  },
  { additionalProperties: false },
);

const SayStep = Type.Object(
  {
    say: PromptSpec,
    /** Said instead of `say` to a caller whose number is a known customer's ({{customer.firstName}}). */
    sayToKnown: Type.Optional(PromptSpec),
    next: StepName,
  },
  { additionalProperties: false },
);

const MenuStep = Type.Object(
  {
    menu: Type.Object(
      {
        prompt: PromptSpec,
        options: Type.Array(MenuOptionSpec, { minItems: 1, maxItems: 12 }),
        ...Retry,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const CollectStep = Type.Object(
  {
    collect: Type.Object(
      {
        prompt: PromptSpec,
        /** The name the digits are kept under ({{orderNumber}}). */
        as: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,39}$' }),
        minDigits: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 })),
        maxDigits: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 })),
        /** A regular expression the whole input must match. */
        pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        /** The key that ends the input (default '#'). */
        finishOnKey: Type.Optional(Type.String({ pattern: '^[*#]?$' })),
        next: StepName,
        ...Retry,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const LookupStep = Type.Object(
  {
    lookup: Type.Object(
      {
        use: Type.String({ minLength: 1, maxLength: 40 }),
        /** Said when the endpoint answered; `{{result.x}}` reads its JSON. */
        answer: PromptSpec,
        /** Said when the endpoint answered 404. */
        notFound: Type.Optional(PromptSpec),
        next: StepName,
        /** Where a caller goes when the endpoint fails or is too slow (default: an agent). */
        onError: Type.Optional(StepName),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const HoursStep = Type.Object(
  {
    hours: Type.Object(
      { queue: Type.String({ minLength: 1 }), open: StepName, closed: StepName },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const AgentStep = Type.Object(
  {
    agent: Type.Object(
      {
        /** The IVR choice the match rules see (`ivrChoice`); default: the last key the caller pressed. */
        choice: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
        /** Said before the caller is queued. */
        prompt: Type.Optional(PromptSpec),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const CallbackStep = Type.Object(
  {
    callback: Type.Object(
      {
        choice: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
        /** Said before the call ends ("We will call you back on the number you are calling from."). */
        prompt: Type.Optional(PromptSpec),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const VoicemailStep = Type.Object(
  {
    voicemail: Type.Object(
      {
        choice: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
        prompt: PromptSpec,
        maxSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 600 })),
        /** Transcribe the message (default true). */
        transcribe: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const HangupStep = Type.Object({ hangup: PromptSpec }, { additionalProperties: false });

export const StepSpec = Type.Union([
  SayStep,
  MenuStep,
  CollectStep,
  LookupStep,
  HoursStep,
  AgentStep,
  CallbackStep,
  VoicemailStep,
  HangupStep,
]);
export type StepSpec = Static<typeof StepSpec>;

export const FlowSpec = Type.Object(
  {
    start: StepName,
    steps: Type.Record(Type.String(), StepSpec, { propertyNames: StepName, minProperties: 1 }),
  },
  { additionalProperties: false },
);

export const LookupSpec = Type.Object(
  {
    /** `{{name}}` placeholders are filled (URL-encoded) from the call: collected digits, `caller`. */
    url: Url,
    method: Type.Optional(Type.Union([Type.Literal('GET'), Type.Literal('POST')])),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** The caller waits at most this long (default 3000); slower is a failure. */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10_000 })),
  },
  { additionalProperties: false },
);

export const IvrSpec = Type.Object(
  {
    languages: Type.Record(
      Type.String(),
      Type.Object(
        { voice: Type.Optional(Type.String({ minLength: 1, maxLength: 60 })) },
        { additionalProperties: false },
      ),
      { propertyNames: LanguageTag, minProperties: 1 },
    ),
    numbers: Type.Optional(Type.Record(Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$' }), FlowName)),
    defaultFlow: FlowName,
    /** Audio played while a caller waits for an agent (default: Twilio-style hold music URL). */
    holdMusic: Type.Optional(Url),
    /** How often a waiting caller hears their position again (default 60). */
    announceEverySeconds: Type.Optional(Type.Integer({ minimum: 15, maximum: 600 })),
    /** Offer a waiting caller a callback (key 1) (default true). */
    offerCallback: Type.Optional(Type.Boolean()),
    lookups: Type.Optional(
      Type.Record(Type.String(), LookupSpec, {
        propertyNames: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$' }),
      }),
    ),
    flows: Type.Record(Type.String(), FlowSpec, { propertyNames: FlowName, minProperties: 1 }),
  },
  { additionalProperties: false },
);
export type IvrSpec = Static<typeof IvrSpec>;

// ---- Resolved: defaults filled, prompts normalized to per-language maps. Plain data. ----

export type PromptPart = { say: string } | { play: string };
/** By language tag; every language of the IVR has an entry (a single text serves them all). */
export type Prompt = Readonly<Record<string, PromptPart>>;

export interface MenuOption {
  press: string | null;
  /** Normalized (lower case, no accents or punctuation). */
  say: readonly string[];
  language: string | null;
  next: string;
}

interface RetryPolicy {
  retries: number;
  timeoutSeconds: number;
  retryPrompt: Prompt;
  /** null: to an agent ('too many retries'). */
  onFailure: string | null;
}

export type IvrStep =
  | { kind: 'say'; name: string; prompt: Prompt; promptToKnown: Prompt | null; next: string }
  | ({ kind: 'menu'; name: string; prompt: Prompt; options: readonly MenuOption[] } & RetryPolicy)
  | ({
      kind: 'collect';
      name: string;
      prompt: Prompt;
      as: string;
      minDigits: number;
      maxDigits: number;
      pattern: RegExp | null;
      finishOnKey: string;
      next: string;
    } & RetryPolicy)
  | {
      kind: 'lookup';
      name: string;
      use: string;
      answer: Prompt;
      notFound: Prompt | null;
      next: string;
      onError: string | null;
    }
  | { kind: 'hours'; name: string; queue: string; open: string; closed: string }
  | { kind: 'agent'; name: string; choice: string | null; prompt: Prompt | null }
  | { kind: 'callback'; name: string; choice: string | null; prompt: Prompt | null }
  | {
      kind: 'voicemail';
      name: string;
      choice: string | null;
      prompt: Prompt;
      maxSeconds: number;
      transcribe: boolean;
    }
  | { kind: 'hangup'; name: string; prompt: Prompt };

export interface IvrFlow {
  name: string;
  start: string;
  steps: ReadonlyMap<string, IvrStep>;
}

export interface IvrLookup {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

export interface IvrRules {
  /** In the order written; the first is the default language. */
  languages: readonly { tag: string; voice: string | null }[];
  numbers: ReadonlyMap<string, string>;
  defaultFlow: string;
  holdMusic: string;
  announceEverySeconds: number;
  offerCallback: boolean;
  lookups: ReadonlyMap<string, IvrLookup>;
  flows: ReadonlyMap<string, IvrFlow>;
}

export const ivrDefaults = {
  retries: 2,
  timeoutSeconds: 5,
  retryPrompt: 'Sorry, I did not get that.',
  minDigits: 1,
  maxDigits: 20,
  finishOnKey: '#',
  lookupTimeoutMs: 3000,
  voicemailMaxSeconds: 120,
  holdMusic: 'http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3',
  announceEverySeconds: 60,
} as const;

import { XMLParser, XMLValidator } from 'fast-xml-parser';

/*
 * The TwiML (Voice) grammar Twilio enforces, as data: which element may hold which, which may hold text,
 * which attributes each takes and the values of the enumerated ones. checkTwiml() lists what Twilio would
 * refuse or warn about (errors 12100 document parse failure and 12200 schema validation warning); the call
 * simulator runs every document it receives through it.
 *
 * Sources: Twilio's TwiML Voice reference pages (<Dial>, <Gather>, <Record>, <Enqueue>, <Number>, <Client>,
 * <Queue>, <Reject>), and for the elements the pages do not tabulate (SSML, <Connect>, <Start>, <Pay>...)
 * the VoiceResponse that twilio-node 6.2.0 generates from Twilio's own TwiML schema. Where the two disagree
 * the union is taken, so a document the official helper builds always passes: twilio-node lets <Hangup> and
 * <Reject> hold <Parameter>, which the older pages say nothing about.
 */

/** Where a document runs: each context has its own set of verbs allowed at the top level. */
export type TwimlContext =
  /** A call's TwiML: the incoming webhook, an action, a Redirect target, a REST update. */
  | 'call'
  /** An <Enqueue waitUrl> document, run while the caller waits in the queue. */
  | 'wait'
  /** A <Number url> or <Client url> document, run on the called party's leg before the bridge. */
  | 'dial-whisper'
  /** A <Queue url> document, run on the dequeued caller's leg before the bridge. */
  | 'queue-whisper';

export interface CheckTwimlOptions {
  /** Default 'call'. */
  context?: TwimlContext;
}

/** A parsed TwiML element; text children keep their original spacing. */
export interface TwimlElement {
  kind: 'element';
  name: string;
  attributes: Readonly<Record<string, string>>;
  children: readonly TwimlNode[];
}

export interface TwimlText {
  kind: 'text';
  text: string;
}

export type TwimlNode = TwimlElement | TwimlText;

type AttributeRule =
  | 'string'
  /** A relative or absolute URL. */
  | 'url'
  | 'method'
  | 'boolean'
  /** A whole number, zero or more. */
  | 'integer'
  /** One of the values. */
  | { oneOf: readonly string[] }
  /** One or more of the values, separated by spaces. */
  | { someOf: readonly string[] };

interface ElementRule {
  children: readonly string[];
  /** Whether non-blank text may appear directly inside the element. */
  text: boolean;
  attributes: Readonly<Record<string, AttributeRule>>;
}

const verbsByContext: Record<TwimlContext, readonly string[]> = {
  // <Sms> in voice TwiML is deprecated; <Prompt> and <Queue> only appear nested (in <Pay>, in <Dial>).
  call: [
    'Connect',
    'Dial',
    'Echo',
    'Enqueue',
    'Gather',
    'Hangup',
    'Leave',
    'Pause',
    'Pay',
    'Play',
    'Record',
    'Redirect',
    'Refer',
    'Reject',
    'Say',
    'Start',
    'Stop',
  ],
  // <Enqueue> page, "The following verbs are supported in the TwiML document located at the waitUrl".
  wait: ['Play', 'Say', 'Pause', 'Hangup', 'Redirect', 'Leave', 'Gather'],
  // <Number>/<Client> pages, url attribute: play or say, decline with <Gather> and <Hangup>, nothing else.
  'dial-whisper': ['Play', 'Say', 'Pause', 'Gather', 'Hangup'],
  // <Queue> page, url attribute: "The allowed verbs in this TwiML document are Play, Say, Pause, and Redirect".
  'queue-whisper': ['Play', 'Say', 'Pause', 'Redirect'],
};

const ssml = ['break', 'emphasis', 'lang', 'p', 'phoneme', 'prosody', 's', 'say-as', 'sub', 'w'] as const;
const ssmlInline = ['break', 'emphasis', 'lang', 'phoneme', 'prosody', 'say-as', 'sub', 'w'] as const;

const callEvents = { someOf: ['initiated', 'ringing', 'answered', 'completed'] } as const;
const recordingEvents = { someOf: ['in-progress', 'completed', 'absent'] } as const;
const trim = { oneOf: ['trim-silence', 'do-not-trim'] } as const;
const track = { oneOf: ['inbound_track', 'outbound_track', 'both_tracks'] } as const;

/** The attributes of the nouns that place a call leg: <Number>, <Client>, <Sip>, <Application>, <WhatsApp>. */
const legAttributes = {
  url: 'url',
  method: 'method',
  statusCallback: 'url',
  statusCallbackEvent: callEvents,
  statusCallbackMethod: 'method',
} as const satisfies Record<string, AttributeRule>;

const machineDetection = {
  machineDetection: { oneOf: ['Enable', 'DetectMessageEnd'] },
  machineDetectionTimeout: 'integer',
  machineDetectionSpeechThreshold: 'integer',
  machineDetectionSpeechEndThreshold: 'integer',
  machineDetectionSilenceTimeout: 'integer',
  amdStatusCallback: 'url',
  amdStatusCallbackMethod: 'method',
} as const satisfies Record<string, AttributeRule>;

const nameValue = { name: 'string', value: 'string' } as const;

function rule(
  children: readonly string[],
  text: boolean,
  attributes: Readonly<Record<string, AttributeRule>> = {},
): ElementRule {
  return { children, text, attributes };
}

/**
 * Rules by element name; a key `Parent/Child` overrides the plain one where the same name means another
 * element under that parent (<Sip> in <Refer> is a bare URI, <Sip> in <Dial> a call leg).
 */
const rules: Readonly<Record<string, ElementRule>> = {
  Say: rule(ssml, true, { voice: 'string', language: 'string', loop: 'integer' }),
  Play: rule([], true, { loop: 'integer', digits: 'string' }),
  Pause: rule([], false, { length: 'integer' }),
  Gather: rule(['Say', 'Play', 'Pause'], false, {
    action: 'url',
    actionOnEmptyResult: 'boolean',
    bargeIn: 'boolean',
    debug: 'boolean',
    enhanced: 'boolean',
    finishOnKey: 'string',
    hints: 'string',
    input: { someOf: ['dtmf', 'speech'] },
    language: 'string',
    maxSpeechTime: 'integer',
    method: 'method',
    numDigits: 'integer',
    partialResultCallback: 'url',
    partialResultCallbackMethod: 'method',
    profanityFilter: 'boolean',
    speechModel: 'string',
    speechTimeout: 'string',
    timeout: 'integer',
  }),
  Record: rule([], false, {
    action: 'url',
    method: 'method',
    timeout: 'integer',
    finishOnKey: 'string',
    maxLength: 'integer',
    playBeep: 'boolean',
    trim,
    recordingStatusCallback: 'url',
    recordingStatusCallbackMethod: 'method',
    recordingStatusCallbackEvent: recordingEvents,
    transcribe: 'boolean',
    transcribeCallback: 'url',
    recordingConfigurationId: 'string',
  }),
  Dial: rule(['Number', 'Client', 'Queue', 'Sip', 'Conference', 'Application', 'Sim', 'WhatsApp'], true, {
    action: 'url',
    method: 'method',
    answerOnBridge: 'boolean',
    callerId: 'string',
    callReason: 'string',
    events: { oneOf: ['call-progress-event'] },
    hangupOnStar: 'boolean',
    passports: 'string',
    record: {
      oneOf: [
        'do-not-record',
        'record-from-answer',
        'record-from-ringing',
        'record-from-answer-dual',
        'record-from-ringing-dual',
        // Aliases kept for backward compatibility (<Dial> page, record attribute).
        'true',
        'false',
      ],
    },
    recordingConfigurationId: 'string',
    recordingStatusCallback: 'url',
    recordingStatusCallbackMethod: 'method',
    recordingStatusCallbackEvent: recordingEvents,
    recordingTrack: { oneOf: ['both', 'inbound', 'outbound'] },
    referUrl: 'url',
    referMethod: 'method',
    ringTone: {
      oneOf: [
        ...['at', 'au', 'bg', 'br', 'be', 'ch', 'cl', 'cn', 'cz', 'de', 'dk', 'ee', 'es', 'fi', 'fr', 'gr'],
        ...['hu', 'il', 'in', 'it', 'lt', 'jp', 'mx', 'my', 'nl', 'no', 'nz', 'ph', 'pl', 'pt', 'ru', 'se'],
        ...['sg', 'th', 'uk', 'us', 'us-old', 'tw', 've', 'za'],
      ],
    },
    sequential: 'boolean',
    timeLimit: 'integer',
    timeout: 'integer',
    trim,
  }),
  Number: rule([], true, { ...legAttributes, ...machineDetection, sendDigits: 'string', byoc: 'string' }),
  Client: rule(['Identity', 'Parameter'], true, { ...legAttributes, clientNotificationUrl: 'url' }),
  Identity: rule([], true),
  Parameter: rule([], false, nameValue),
  Queue: rule([], true, {
    url: 'url',
    method: 'method',
    reservationSid: 'string',
    postWorkActivitySid: 'string',
  }),
  Sip: rule(['Headers', 'Uri'], true, {
    ...legAttributes,
    ...machineDetection,
    username: 'string',
    password: 'string',
  }),
  Headers: rule(['Header'], false),
  Header: rule([], false, nameValue),
  Uri: rule([], true, { username: 'string', password: 'string', priority: 'string', weight: 'string' }),
  Conference: rule([], true, {
    beep: { oneOf: ['true', 'false', 'onEnter', 'onExit'] },
    coach: 'string',
    endConferenceOnExit: 'boolean',
    eventCallbackUrl: 'url',
    jitterBufferSize: { oneOf: ['large', 'medium', 'small', 'off'] },
    maxParticipants: 'integer',
    muted: 'boolean',
    participantLabel: 'string',
    record: { oneOf: ['do-not-record', 'record-from-start'] },
    recordingConfigurationId: 'string',
    recordingStatusCallback: 'url',
    recordingStatusCallbackEvent: recordingEvents,
    recordingStatusCallbackMethod: 'method',
    region: { oneOf: ['us1', 'us2', 'ie1', 'sg1', 'br1', 'au1', 'jp1', 'de1'] },
    startConferenceOnEnter: 'boolean',
    statusCallback: 'url',
    statusCallbackEvent: {
      someOf: ['start', 'end', 'join', 'leave', 'mute', 'hold', 'modify', 'speaker', 'announcement'],
    },
    statusCallbackMethod: 'method',
    trim,
    waitMethod: 'method',
    waitUrl: 'url',
  }),
  Application: rule(['ApplicationSid', 'Parameter'], true, {
    ...legAttributes,
    copyParentTo: 'boolean',
    customerId: 'string',
  }),
  ApplicationSid: rule([], true),
  Sim: rule([], true),
  WhatsApp: rule([], true, legAttributes),

  Enqueue: rule(['Task'], true, {
    action: 'url',
    method: 'method',
    maxQueueSize: 'integer',
    waitUrl: 'url',
    waitUrlMethod: 'method',
    workflowSid: 'string',
  }),
  Task: rule([], true, { priority: 'integer', timeout: 'integer' }),
  Leave: rule([], false),
  Hangup: rule(['Parameter'], false),
  Reject: rule(['Parameter'], false, { reason: { oneOf: ['rejected', 'busy'] } }),
  Redirect: rule([], true, { method: 'method' }),
  Refer: rule(['Sip'], false, { action: 'url', method: 'method' }),
  'Refer/Sip': rule([], true),
  Echo: rule([], false),

  Connect: rule(
    [
      'Room',
      'Stream',
      'VirtualAgent',
      'Conversation',
      'ConversationRelay',
      'AiSession',
      'Autopilot',
      'ConversationRelaySession',
    ],
    false,
    { action: 'url', method: 'method' },
  ),
  Room: rule([], true, { participantIdentity: 'string' }),
  Autopilot: rule([], true),
  Stream: rule(['Parameter'], false, {
    url: 'url',
    name: 'string',
    track,
    statusCallback: 'url',
    statusCallbackMethod: 'method',
    connectorName: 'string',
    audioFormat: 'string',
    sampleRate: 'string',
  }),
  VirtualAgent: rule(['Config', 'Parameter'], false, {
    connectorName: 'string',
    language: 'string',
    sentimentAnalysis: 'boolean',
    statusCallback: 'url',
    statusCallbackMethod: 'method',
  }),
  Config: rule([], false, nameValue),
  Conversation: rule([], false, {
    serviceInstanceSid: 'string',
    inboundAutocreation: 'boolean',
    routingAssignmentTimeout: 'integer',
    inboundTimeout: 'integer',
    url: 'url',
    method: 'method',
    record: {
      oneOf: [
        'do-not-record',
        'record-from-answer',
        'record-from-ringing',
        'record-from-answer-dual',
        'record-from-ringing-dual',
        'true',
        'false',
      ],
    },
    trim,
    recordingStatusCallback: 'url',
    recordingStatusCallbackMethod: 'method',
    recordingStatusCallbackEvent: recordingEvents,
    statusCallback: 'url',
    statusCallbackMethod: 'method',
    statusCallbackEvent: { someOf: ['call-initiated', 'call-ringing', 'call-answered', 'call-completed'] },
  }),
  ConversationRelay: rule(['Language', 'Parameter'], false, {
    url: 'url',
    language: 'string',
    ttsLanguage: 'string',
    transcriptionLanguage: 'string',
    ttsProvider: 'string',
    voice: 'string',
    transcriptionProvider: 'string',
    speechModel: 'string',
    profanityFilter: 'boolean',
    dtmfDetection: 'boolean',
    welcomeGreeting: 'string',
    partialPrompts: 'boolean',
    welcomeGreetingInterruptible: 'string',
    interruptible: 'string',
    preemptible: 'boolean',
    hints: 'string',
    intelligenceService: 'string',
    reportInputDuringAgentSpeech: 'boolean',
    elevenlabsTextNormalization: 'string',
    interruptSensitivity: 'string',
    debug: 'string',
    events: 'string',
    speechtimeout: 'string',
    ignorebackchannel: 'string',
    backgroundnoisereduction: 'string',
    deepgramsmartformat: 'string',
  }),
  Language: rule([], false, {
    code: 'string',
    ttsProvider: 'string',
    voice: 'string',
    transcriptionProvider: 'string',
    speechModel: 'string',
  }),
  AiSession: rule([], false, { aiConnector: 'string', aiSessionConfiguration: 'string' }),
  ConversationRelaySession: rule([], false, { connector: 'string', sessionConfiguration: 'string' }),

  Start: rule(['Stream', 'Siprec', 'Transcription', 'Recording'], false, { action: 'url', method: 'method' }),
  Stop: rule(['Stream', 'Siprec', 'Transcription'], false),
  Siprec: rule(['Parameter'], false, {
    name: 'string',
    connectorName: 'string',
    track,
    statusCallback: 'url',
    statusCallbackMethod: 'method',
  }),
  Transcription: rule(['Config', 'Parameter'], false, {
    name: 'string',
    track,
    statusCallbackUrl: 'url',
    statusCallbackMethod: 'method',
    inboundTrackLabel: 'string',
    outboundTrackLabel: 'string',
    partialResults: 'boolean',
    languageCode: 'string',
    transcriptionEngine: 'string',
    profanityFilter: 'boolean',
    speechModel: 'string',
    hints: 'string',
    enableAutomaticPunctuation: 'boolean',
    intelligenceService: 'string',
  }),
  Recording: rule([], false, {
    recordingStatusCallback: 'url',
    recordingStatusCallbackMethod: 'method',
    recordingStatusCallbackEvent: recordingEvents,
    trim,
    track: { oneOf: ['inbound', 'outbound', 'both'] },
    channels: { oneOf: ['mono', 'dual'] },
    recordingConfigurationId: 'string',
  }),

  Pay: rule(['Prompt', 'Parameter'], false, {
    input: { oneOf: ['dtmf'] },
    action: 'url',
    bankAccountType: {
      oneOf: ['consumer-checking', 'consumer-savings', 'commercial-checking', 'commercial-savings'],
    },
    statusCallback: 'url',
    statusCallbackMethod: 'method',
    timeout: 'integer',
    maxAttempts: 'integer',
    securityCode: 'boolean',
    postalCode: 'string',
    minPostalCodeLength: 'integer',
    paymentConnector: 'string',
    paymentMethod: { oneOf: ['ach-debit', 'credit-card'] },
    tokenType: { oneOf: ['one-time', 'reusable', 'payment-method'] },
    chargeAmount: 'string',
    currency: 'string',
    description: 'string',
    validCardTypes: {
      someOf: [
        'visa',
        'mastercard',
        'amex',
        'maestro',
        'discover',
        'optima',
        'jcb',
        'diners-club',
        'enroute',
      ],
    },
    language: 'string',
  }),
  Prompt: rule(['Say', 'Play', 'Pause'], false, {
    for: {
      oneOf: [
        'payment-card-number',
        'expiration-date',
        'security-code',
        'postal-code',
        'payment-processing',
        'bank-account-number',
        'bank-routing-number',
      ],
    },
    errorType: {
      someOf: [
        'timeout',
        'invalid-card-number',
        'invalid-card-type',
        'invalid-date',
        'invalid-security-code',
        'internal-error',
        'input-matching-failed',
      ],
    },
    cardType: {
      someOf: [
        'visa',
        'mastercard',
        'amex',
        'maestro',
        'discover',
        'optima',
        'jcb',
        'diners-club',
        'enroute',
      ],
    },
    attempt: 'string',
    requireMatchingInputs: 'boolean',
  }),

  // SSML inside <Say> (Amazon Polly and Google voices).
  break: rule([], false, {
    strength: { oneOf: ['none', 'x-weak', 'weak', 'medium', 'strong', 'x-strong'] },
    time: 'string',
  }),
  emphasis: rule(ssmlInline, true, { level: { oneOf: ['strong', 'moderate', 'reduced'] } }),
  lang: rule(ssml, true, { 'xml:lang': 'string' }),
  p: rule(
    ssml.filter((name) => name !== 'p'),
    true,
  ),
  phoneme: rule([], true, {
    alphabet: {
      oneOf: [
        'ipa',
        'x-sampa',
        'x-amazon-jyutping',
        'x-amazon-pinyin',
        'x-amazon-pron-kana',
        'x-amazon-yomigana',
      ],
    },
    ph: 'string',
  }),
  prosody: rule(ssml, true, { pitch: 'string', rate: 'string', volume: 'string' }),
  s: rule(ssmlInline, true),
  'say-as': rule([], true, {
    'interpret-as': {
      oneOf: [
        'characters',
        'spell-out',
        'cardinal',
        'number',
        'ordinal',
        'digits',
        'fraction',
        'unit',
        'date',
        'time',
        'address',
        'expletive',
        'telephone',
      ],
    },
    format: { oneOf: ['mdy', 'dmy', 'ymd', 'md', 'dm', 'ym', 'my', 'd', 'm', 'y', 'yyyymmdd'] },
  }),
  sub: rule([], true, { alias: 'string' }),
  w: rule(
    ssmlInline.filter((name) => name !== 'lang' && name !== 'w'),
    true,
    { role: 'string' },
  ),
};

function ruleFor(name: string, parent: string): ElementRule | undefined {
  return rules[`${parent}/${name}`] ?? rules[name];
}

// parseTagValue off: a <Dial>4155550100</Dial> must stay the string it was, not become a number.
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
});

/** fast-xml-parser's preserveOrder output: one key naming the element (or `#text`), attributes under `:@`. */
type OrderedNode = Record<string, unknown>;

function toNodes(ordered: unknown): TwimlNode[] {
  if (!Array.isArray(ordered)) return [];
  const nodes: TwimlNode[] = [];
  for (const item of ordered as OrderedNode[]) {
    const name = Object.keys(item).find((key) => key !== ':@');
    if (name === undefined || name.startsWith('?')) continue; // the XML declaration, processing instructions
    if (name === '#text') {
      nodes.push({ kind: 'text', text: String(item[name]) });
      continue;
    }
    const rawAttributes = (item[':@'] ?? {}) as Record<string, unknown>;
    const attributes: Record<string, string> = {};
    for (const [key, value] of Object.entries(rawAttributes)) attributes[key] = String(value);
    nodes.push({ kind: 'element', name, attributes, children: toNodes(item[name]) });
  }
  return nodes;
}

export interface ParsedTwiml {
  /** The <Response> element; absent when the document is not well-formed XML or has another root. */
  response?: TwimlElement;
  /** Well-formedness and root problems; grammar problems come from checkTwiml(). */
  problems: string[];
}

/** Parses a document without judging its grammar beyond well-formedness and the root element. */
export function parseTwiml(xml: string): ParsedTwiml {
  if (xml.trim() === '') return { problems: ['the document is empty'] };
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    return { problems: [`not well-formed XML (line ${line}, column ${col}): ${msg}`] };
  }
  const roots = toNodes(parser.parse(xml)).filter(
    (node) => node.kind === 'element' || node.text.trim() !== '',
  );
  const [root] = roots;
  if (roots.length !== 1 || root?.kind !== 'element') {
    return { problems: ['the document must have exactly one root element, <Response>'] };
  }
  if (root.name !== 'Response') return { problems: [`the root element is <${root.name}>, not <Response>`] };
  return { response: root, problems: [] };
}

/** The text of an element and its descendants, spaces collapsed: what <Say> speaks, what <Play> plays. */
export function textOf(node: TwimlNode): string {
  const raw = (function collect(current: TwimlNode): string {
    return current.kind === 'text' ? current.text : current.children.map(collect).join('');
  })(node);
  return raw.replace(/\s+/g, ' ').trim();
}

function checkAttribute(path: string, name: string, value: string, attribute: AttributeRule): string[] {
  const where = `${path} ${name}="${value}"`;
  if (attribute === 'string' || attribute === 'url') return [];
  if (attribute === 'method')
    return value === 'GET' || value === 'POST' ? [] : [`${where}: must be GET or POST`];
  if (attribute === 'boolean') {
    return value === 'true' || value === 'false' ? [] : [`${where}: must be true or false`];
  }
  if (attribute === 'integer') return /^\d+$/.test(value) ? [] : [`${where}: must be a whole number`];
  if ('oneOf' in attribute) {
    return attribute.oneOf.includes(value) ? [] : [`${where}: must be one of ${attribute.oneOf.join(', ')}`];
  }
  const words = value.split(/\s+/).filter((word) => word !== '');
  const unknown = words.filter((word) => !attribute.someOf.includes(word));
  if (words.length === 0 || unknown.length > 0) {
    return [`${where}: must be one or more of ${attribute.someOf.join(', ')}, separated by spaces`];
  }
  return [];
}

/** Value rules no table expresses: what must be present, and attribute values with their own syntax. */
function checkContent(path: string, element: TwimlElement): string[] {
  const text = textOf(element);
  const has = (name: string) => element.children.some((c) => c.kind === 'element' && c.name === name);
  const { attributes } = element;
  switch (element.name) {
    case 'Play':
      return text === '' && attributes.digits === undefined ? [`${path}: needs a media URL or digits`] : [];
    case 'Redirect':
      return text === '' ? [`${path}: needs a URL`] : [];
    case 'Number':
    case 'Queue':
    case 'Conference':
    case 'Sim':
    case 'WhatsApp':
      return text === '' ? [`${path}: needs a ${element.name === 'Number' ? 'phone number' : 'name'}`] : [];
    case 'Client':
      return text === '' && !has('Identity') ? [`${path}: needs a client identity`] : [];
    case 'Enqueue':
      return text === '' && attributes.workflowSid === undefined
        ? [`${path}: needs a queue name or a workflowSid`]
        : [];
    case 'Dial':
      return text === '' && !element.children.some((c) => c.kind === 'element')
        ? [`${path}: needs a number or a noun to dial`]
        : [];
    case 'Gather': {
      const { speechTimeout, finishOnKey } = attributes;
      const problems: string[] = [];
      if (speechTimeout !== undefined && speechTimeout !== 'auto' && !/^\d+$/.test(speechTimeout)) {
        problems.push(`${path} speechTimeout="${speechTimeout}": must be a whole number or auto`);
      }
      // <Gather> page: one of 0-9, #, * or the empty string (<Record> alone takes several keys).
      if (finishOnKey !== undefined && !/^[0-9#*]?$/.test(finishOnKey)) {
        problems.push(`${path} finishOnKey="${finishOnKey}": must be one key (0-9, #, *) or empty`);
      }
      return problems;
    }
    case 'Record': {
      const { finishOnKey } = attributes;
      return finishOnKey !== undefined && !/^[0-9#*]+$/.test(finishOnKey)
        ? [`${path} finishOnKey="${finishOnKey}": must be keys among 0-9, #, *`]
        : [];
    }
    default:
      return [];
  }
}

function checkElement(
  element: TwimlElement,
  path: string,
  parentRule: ElementRule,
  parent: string,
): string[] {
  const problems: string[] = [];
  if (!parentRule.children.includes(element.name)) {
    const allowed = parentRule.children.length === 0 ? 'no elements' : parentRule.children.join(', ');
    return [`${path}: <${element.name}> is not allowed in <${parent}> (allowed: ${allowed})`];
  }
  const elementRule = ruleFor(element.name, parent);
  if (elementRule === undefined) return [`${path}: unknown element <${element.name}>`];
  for (const [name, value] of Object.entries(element.attributes)) {
    const attribute = elementRule.attributes[name];
    if (attribute === undefined) {
      problems.push(`${path}: <${element.name}> has no attribute ${name}`);
      continue;
    }
    problems.push(...checkAttribute(path, name, value, attribute));
  }
  problems.push(...checkContent(path, element));
  const position = positions();
  for (const child of element.children) {
    if (child.kind === 'text') {
      if (!elementRule.text && child.text.trim() !== '') {
        problems.push(`${path}: <${element.name}> holds no text, found "${child.text.trim().slice(0, 40)}"`);
      }
      continue;
    }
    problems.push(...checkElement(child, `${path}/${position(child.name)}`, elementRule, element.name));
  }
  return problems;
}

/** XPath-like steps: `Say[2]` is the second <Say> among its siblings. */
function positions(): (name: string) => string {
  const seen = new Map<string, number>();
  return (name) => {
    const index = (seen.get(name) ?? 0) + 1;
    seen.set(name, index);
    return `${name}[${index}]`;
  };
}

/**
 * The problems Twilio would find in a voice TwiML document, each naming the element path
 * (`Response/Gather[1]/Say[1]`); an empty list means Twilio accepts it.
 */
export function checkTwiml(xml: string, options: CheckTwimlOptions = {}): string[] {
  const context = options.context ?? 'call';
  const { response, problems } = parseTwiml(xml);
  if (response === undefined) return problems;
  if (Object.keys(response.attributes).length > 0) {
    problems.push(`Response: <Response> takes no attributes`);
  }
  const top: ElementRule = { children: verbsByContext[context], text: false, attributes: {} };
  const position = positions();
  for (const child of response.children) {
    if (child.kind === 'text') {
      if (child.text.trim() !== '') problems.push(`Response: <Response> holds no text`);
      continue;
    }
    const path = `Response/${position(child.name)}`;
    if (!top.children.includes(child.name) && ruleFor(child.name, 'Response') !== undefined) {
      const where = context === 'call' ? '<Response>' : `a ${context} document`;
      problems.push(
        `${path}: <${child.name}> is not allowed in ${where} (allowed: ${top.children.join(', ')})`,
      );
      continue;
    }
    problems.push(...checkElement(child, path, top, 'Response'));
  }
  return problems;
}

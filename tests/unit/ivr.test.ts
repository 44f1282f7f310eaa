import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  answerTurn,
  beginCall,
  chooseOption,
  fillTemplate,
  flattenResult,
  startTurn,
  type LookupAnswer,
  type RunnerDeps,
  type Turn,
} from '../../channels/phone/ivr-runner.js';
import { lookupUrl } from '../../channels/phone/lookups.js';
import { gatherTwiml, hangupTwiml } from '../../channels/phone/twiml.js';
import { checkTwiml } from '../../channels/phone/simulator/twiml-rules.js';
import { estimateWaitSeconds } from '../../channels/phone/calls.js';
import { parseRuleFiles, readRuleFolder, type RuleFileSource } from '../../src/routing/rules/rules.loader.js';
import type { IvrRules } from '../../src/routing/rules/ivr.schema.js';

const shippedFolder = fileURLToPath(new URL('../../routing-rules', import.meta.url));

const base: RuleFileSource[] = [
  {
    name: 'queues.yaml',
    text: `queues:
  - name: support
    strategy: round-robin
    channels: [voice, chat]
  - name: email-only
    strategy: round-robin
    channels: [email]
rules:
  - name: default
    queue: support
    priority: 0
`,
  },
];

const ivrFile = (flows: string, extra = '') => ({
  name: 'ivr.yaml',
  text: `ivr:
  languages:
    en-US: { voice: Polly.Joanna }
    es-US: {}
  defaultFlow: main
${extra}  lookups:
    orders: { url: 'http://127.0.0.1:1/orders/{{orderNumber}}', timeoutMs: 500 }
  flows:
    main:
${flows}`,
});

const flow = `      start: hello
      steps:
        hello:
          say: { en-US: 'Hello.', es-US: 'Hola.' }
          sayToKnown: 'Welcome back, {{customer.firstName}}.'
          next: open
        open:
          hours: { queue: support, open: menu, closed: closed }
        menu:
          menu:
            prompt: 'Press 1 for billing, 2 for Spanish, 3 for an order.'
            options:
              - { press: '1', say: [billing, invoice], next: billing }
              - { press: '2', say: [spanish, español], language: es-US, next: menu }
              - { press: '3', say: [order], next: order }
              - { press: '4', next: bye }
            retries: 1
        order:
          collect:
            prompt: 'Enter your order number.'
            as: orderNumber
            minDigits: 4
            maxDigits: 6
            next: lookup
        lookup:
          lookup:
            use: orders
            answer: 'Order {{orderNumber}} is {{result.status}}.'
            notFound: 'No order {{orderNumber}}.'
            next: bye
        bye:
          hangup: 'Goodbye.'
        billing:
          agent: { choice: '1' }
        closed:
          voicemail: { prompt: 'We are closed. Leave a message.', maxSeconds: 60 }
`;

function load(files: RuleFileSource[]): IvrRules {
  const outcome = parseRuleFiles(files);
  if (outcome.status !== 'valid') throw new Error(JSON.stringify(outcome.problems));
  if (!outcome.rules.ivr) throw new Error('no ivr');
  return outcome.rules.ivr;
}

function problemsOf(files: RuleFileSource[]) {
  const outcome = parseRuleFiles(files);
  return outcome.status === 'invalid' ? outcome.problems : [];
}

function deps(overrides: Partial<RunnerDeps> = {}): RunnerDeps {
  return {
    isQueueOpen: () => true,
    lookup: async (): Promise<LookupAnswer> => ({ status: 'found', data: { status: 'shipped' } }),
    ...overrides,
  };
}

const said = (turn: Turn) =>
  [...turn.heard, ...(turn.end.kind === 'gather' ? turn.end.prompt : [])].map((u) =>
    'say' in u ? u.say : u.play,
  );

describe('IVR rules', () => {
  it('loads the shipped flows, with every prompt in every language', async () => {
    const read = await readRuleFolder(shippedFolder);
    if ('problems' in read) throw new Error(JSON.stringify(read.problems));
    const ivr = load(read.files);
    expect(ivr.languages.map((l) => l.tag)).toEqual(['en-US', 'es-US']);
    const main = ivr.flows.get('main');
    expect(main?.steps.get(main.start)?.kind).toBe('say');
  });

  it('refuses a step that leads nowhere, with file and line', () => {
    const problems = problemsOf([...base, ivrFile(flow.replace('next: lookup', 'next: lookupp'))]);
    expect(problems).toEqual([
      expect.objectContaining({ file: 'ivr.yaml', reason: "no step 'lookupp' in flow 'main'" }),
    ]);
    expect(problems[0]!.line).toBeGreaterThan(10);
  });

  it('refuses a prompt missing a language, an unknown lookup, queue or language', () => {
    const broken = flow
      .replace("say: { en-US: 'Hello.', es-US: 'Hola.' }", "say: { en-US: 'Hello.' }")
      .replace('use: orders', 'use: nope')
      .replace('queue: support, open', 'queue: nowhere, open')
      .replace('language: es-US', 'language: fr-FR');
    const reasons = problemsOf([...base, ivrFile(broken)]).map((p) => p.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        "no prompt for 'es-US'",
        "no lookup 'nope' in ivr.lookups",
        "no queue 'nowhere'",
        "language 'fr-FR' is not among the ivr's languages",
      ]),
    );
  });

  it('refuses a loop that never waits for the caller, and the same key twice in a menu', () => {
    const looping = flow.replace('next: open\n', 'next: hello\n');
    expect(problemsOf([...base, ivrFile(looping)]).map((p) => p.reason)).toContainEqual(
      expect.stringContaining('loops without waiting for the caller: hello -> hello'),
    );
    const twice = flow.replace("- { press: '3', say: [order]", "- { press: '1', say: [order]");
    expect(problemsOf([...base, ivrFile(twice)]).map((p) => p.reason)).toContainEqual(
      "key '1' already chooses option 1",
    );
  });

  it('refuses an unknown field by the schema, naming it', () => {
    const problems = problemsOf([
      ...base,
      ivrFile(flow.replace('retries: 1', 'retries: 1\n            tries: 3')),
    ]);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.file).toBe('ivr.yaml');
  });
});

describe('IVR runner', () => {
  const ivr = load([...base, ivrFile(flow)]);
  const caller = { number: '+14155550100', customer: null };

  it('greets, checks the hours and waits on the menu with keys and speech', async () => {
    const memory = beginCall(ivr, '+18005550100', caller);
    const turn = await startTurn(ivr, memory, deps());
    expect(said(turn)).toEqual(['Hello.', 'Press 1 for billing, 2 for Spanish, 3 for an order.']);
    expect(turn.end).toMatchObject({ kind: 'gather', step: 'menu', input: 'dtmf speech', numDigits: 1 });
    expect(turn.log.map((l) => `${l.step}:${l.outcome}`)).toEqual([
      'hello:said',
      'open:open',
      'menu:prompted',
    ]);
    expect(turn.memory.waitingOn).toBe('menu');
  });

  it('greets a known caller by name', async () => {
    const memory = beginCall(ivr, '+18005550100', {
      number: '+14155550100',
      customer: { firstName: 'Ada', name: 'Ada Lovelace' },
    });
    expect(said(await startTurn(ivr, memory, deps()))[0]).toBe('Welcome back, Ada.');
  });

  it('hands a caller who says "billing" to an agent with their IVR choice and language', async () => {
    const first = await startTurn(ivr, beginCall(ivr, '+1', caller), deps());
    const turn = await answerTurn(ivr, first.memory, { speech: 'Billing, please.', confidence: 0.9 }, deps());
    expect(turn.end).toEqual({
      kind: 'handoff',
      to: 'agent',
      step: 'billing',
      reason: 'caller chose',
      hints: { ivrChoice: '1', locale: 'en-US' },
      voicemail: null,
    });
    expect(turn.log[0]).toMatchObject({
      step: 'menu',
      outcome: 'matched',
      input: { speech: 'Billing, please.' },
    });
  });

  it('switches language, then speaks the next prompts in it', async () => {
    const first = await startTurn(ivr, beginCall(ivr, '+1', caller), deps());
    const turn = await answerTurn(ivr, first.memory, { speech: 'Español' }, deps());
    expect(turn.memory.language).toBe('es-US');
    expect(turn.end).toMatchObject({ kind: 'gather', language: 'es-US' });
  });

  it('retries a wrong key, then hands over after too many retries', async () => {
    let turn = await startTurn(ivr, beginCall(ivr, '+1', caller), deps());
    turn = await answerTurn(ivr, turn.memory, { digits: '7' }, deps());
    expect(said(turn)[0]).toBe('Sorry, I did not get that.');
    expect(turn.log[0]).toMatchObject({ outcome: 'no match', attempt: 1 });
    turn = await answerTurn(ivr, turn.memory, undefined, deps());
    expect(turn.end).toMatchObject({ kind: 'handoff', to: 'agent', reason: 'too many retries' });
    expect(turn.log[0]).toMatchObject({ outcome: 'no input', attempt: 2 });
  });

  it('collects and validates digits, looks them up and answers from the result', async () => {
    const lookups: Record<string, string>[] = [];
    const withLookup = deps({
      lookup: async (_l, vars) => {
        lookups.push({ ...vars });
        return { status: 'found', data: { status: 'shipped', eta: { day: 'Monday' } } };
      },
    });
    let turn = await startTurn(ivr, beginCall(ivr, '+1', caller), withLookup);
    turn = await answerTurn(ivr, turn.memory, { digits: '3' }, withLookup);
    expect(turn.end).toMatchObject({ kind: 'gather', step: 'order', input: 'dtmf', finishOnKey: '#' });
    turn = await answerTurn(ivr, turn.memory, { digits: '12#' }, withLookup);
    expect(turn.log[0]).toMatchObject({ step: 'order', outcome: 'invalid' });
    turn = await answerTurn(ivr, turn.memory, { digits: '12345#' }, withLookup);
    expect(lookups[0]?.orderNumber).toBe('12345');
    expect(said(turn)).toEqual(['Order 12345 is shipped.', 'Goodbye.']);
    expect(turn.end).toEqual({ kind: 'hangup', step: 'bye' });
  });

  it('says notFound for a 404 and hands over when the lookup fails', async () => {
    const at = async (answer: LookupAnswer) => {
      const d = deps({ lookup: async () => answer });
      let turn = await startTurn(ivr, beginCall(ivr, '+1', caller), d);
      turn = await answerTurn(ivr, turn.memory, { digits: '3' }, d);
      return answerTurn(ivr, turn.memory, { digits: '9999#' }, d);
    };
    expect(said(await at({ status: 'not-found' }))).toEqual(['No order 9999.', 'Goodbye.']);
    const failed = await at({ status: 'failed', reason: 'no answer within 500 ms' });
    expect(failed.end).toMatchObject({ kind: 'handoff', to: 'agent', reason: 'lookup failed' });
    expect(failed.log.at(-1)?.outcome).toBe('lookup failed: no answer within 500 ms');
  });

  it('sends callers to voicemail when the queue is closed', async () => {
    const turn = await startTurn(ivr, beginCall(ivr, '+1', caller), deps({ isQueueOpen: () => false }));
    expect(turn.end).toMatchObject({
      kind: 'handoff',
      to: 'voicemail',
      voicemail: { maxSeconds: 60, transcribe: true },
    });
    expect(said(turn)).toEqual(['Hello.', 'We are closed. Leave a message.']);
  });

  it('chooses options by key, by the longest matching phrase, and by a spoken digit', () => {
    const options = [
      { press: '1', say: ['order'], language: null, next: 'a' },
      { press: '2', say: ['order status'], language: null, next: 'b' },
    ];
    expect(chooseOption(options, '2', '')?.next).toBe('b');
    expect(chooseOption(options, '', 'What is my ORDER status?')?.next).toBe('b');
    expect(chooseOption(options, '', 'my order')?.next).toBe('a');
    expect(chooseOption(options, '', 'orders')).toBeNull();
    expect(chooseOption(options, '', '1')?.next).toBe('a');
  });

  it('fills templates, flattens results and URL-encodes lookup values', () => {
    expect(fillTemplate('Hi {{ name }}{{missing}}!', { name: 'Ada' })).toBe('Hi Ada!');
    expect(flattenResult({ status: 'ok', n: 3, deep: { a: { b: 'x' } }, list: [1] })).toEqual({
      'result.status': 'ok',
      'result.n': '3',
      'result.deep.a.b': 'x',
    });
    expect(lookupUrl('http://x/orders/{{orderNumber}}', { orderNumber: '1/../2?a' })).toBe(
      'http://x/orders/1%2F..%2F2%3Fa',
    );
  });

  it('renders turns as TwiML Twilio accepts', async () => {
    const turn = await startTurn(ivr, beginCall(ivr, '+1', caller), deps());
    const xml = gatherTwiml(turn, 'https://example.com/webhooks/twilio/voice/ivr?seq=1');
    expect(checkTwiml(xml)).toEqual([]);
    expect(xml).toContain('<Gather input="dtmf speech"');
    expect(xml).toContain('voice="Polly.Joanna"');
    expect(checkTwiml(hangupTwiml(turn.heard))).toEqual([]);
    // The same menu again (built once): only the action differs, escaped like any attribute.
    const again = gatherTwiml(turn, 'https://example.com/webhooks/twilio/voice/ivr?seq=7&x=<1>');
    expect(again).toBe(xml.replace('ivr?seq=1', 'ivr?seq=7&amp;x=&lt;1&gt;'));
    expect(checkTwiml(again)).toEqual([]);
  });

  it('estimates the wait from the recent pace, and says nothing from too little', () => {
    expect(estimateWaitSeconds(3, 2)).toBeNull();
    expect(estimateWaitSeconds(3, 30)).toBe(180);
  });
});

import formBody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import twilio from 'twilio';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CallSimulator,
  ManualClock,
  SimulatedQueues,
  type CallSimulatorOptions,
} from '../../channels/phone/simulator/call-simulator.js';
import { parseScript, parseStep, runSimulateCall, ScriptError } from '../../channels/phone/simulator/cli.js';
import { createLocalTwilioClient } from '../../channels/phone/simulator/local-twilio-client.js';
import { TwilioApiDouble } from '../../channels/phone/simulator/twilio-api-double.js';

/*
 * The simulator against a small Fastify app standing in for Switchboard: it checks every request's
 * X-Twilio-Signature with twilio.validateRequest over the public URL (as the real routes do behind a proxy)
 * and answers fixed TwiML. Each test drives one journey and checks what the app received, what the caller
 * heard, and that no TwiML problem or failed request was seen.
 */

const accountSid = 'AC' + '1'.repeat(32);
const authToken = 'simulator-test-token';
const publicBaseUrl = 'https://switchboard.example.com';

interface Received {
  path: string;
  params: Record<string, string>;
}

const welcome = 'Welcome to Acme. For billing press 1 or say billing. To leave a message press 2.';

/** The fixed IVR: incoming → menu → queue (wait loop), voicemail, or a Dial to an agent. */
function ivrRoutes(app: FastifyInstance): void {
  const twiml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;
  app.post('/webhooks/twilio/voice/incoming', async () =>
    twiml(
      `<Gather action="/webhooks/twilio/voice/menu" numDigits="1" input="dtmf speech" hints="billing">` +
        `<Say voice="Polly.Joanna" language="en-US">${welcome}</Say></Gather>` +
        `<Say>We did not get that.</Say><Redirect>/webhooks/twilio/voice/incoming</Redirect>`,
    ),
  );
  app.post('/webhooks/twilio/voice/menu', async (request) => {
    const { Digits, SpeechResult } = request.body as Record<string, string | undefined>;
    if (Digits === '1' || SpeechResult?.includes('billing')) {
      return twiml(
        `<Say>Please hold.</Say>` +
          `<Enqueue action="/webhooks/twilio/voice/queue-result" waitUrl="/webhooks/twilio/voice/wait">billing</Enqueue>` +
          `<Say>Unreachable after an Enqueue with an action.</Say>`,
      );
    }
    if (Digits === '2') {
      return twiml(
        `<Say>Leave a message after the beep.</Say>` +
          `<Record action="/webhooks/twilio/voice/voicemail" maxLength="120" transcribe="true"` +
          ` transcribeCallback="/webhooks/twilio/voice/transcription"` +
          ` recordingStatusCallback="/webhooks/twilio/voice/recording"/>`,
      );
    }
    if (Digits === '4') return twiml(`<Say>We are open nine to five.</Say><Hangup/>`);
    return twiml(
      `<Say>Sorry, that is not an option.</Say><Redirect>/webhooks/twilio/voice/incoming</Redirect>`,
    );
  });
  app.post('/webhooks/twilio/voice/wait', async (request) => {
    const { QueuePosition } = request.body as Record<string, string>;
    return twiml(
      `<Say>You are caller number ${QueuePosition}.</Say>` +
        `<Gather numDigits="1" action="/webhooks/twilio/voice/wait-choice"><Play>https://cdn.example.com/hold.mp3</Play></Gather>`,
    );
  });
  app.post('/webhooks/twilio/voice/wait-choice', async () => twiml(`<Say>Leaving the queue.</Say><Leave/>`));
  app.post('/webhooks/twilio/voice/queue-result', async (request) => {
    const { QueueResult } = request.body as Record<string, string>;
    return QueueResult === 'leave'
      ? twiml(`<Say>Leave a message.</Say><Record action="/webhooks/twilio/voice/voicemail"/>`)
      : twiml(`<Say>Queue result ${QueueResult}.</Say><Hangup/>`);
  });
  app.post('/webhooks/twilio/voice/voicemail', async () => twiml(`<Say>Thank you. Goodbye.</Say><Hangup/>`));
  app.post('/webhooks/twilio/voice/dial-result', async () =>
    twiml(`<Say>Thanks for calling.</Say><Hangup/>`),
  );
  app.post('/webhooks/twilio/voice/whisper', async () => twiml(`<Say>Billing call from Acme.</Say>`));
  app.post('/webhooks/twilio/voice/agent-answer', async () =>
    twiml(`<Dial action="/webhooks/twilio/voice/dial-result"><Queue>billing</Queue></Dial>`),
  );
  app.post('/webhooks/twilio/voice/broken', async (_request, reply) =>
    reply.type('text/plain').send('<Response><Gather><Dial>+14155550100</Dial></Gather></Response>'),
  );
  for (const path of ['status', 'recording', 'transcription', 'leg-status']) {
    app.post(`/webhooks/twilio/voice/${path}`, async (_request, reply) => reply.code(204).send());
  }
}

async function startApp(token: string) {
  const received: Received[] = [];
  const app = Fastify();
  await app.register(formBody);
  app.addHook('preHandler', async (request, reply) => {
    const params = (request.body ?? {}) as Record<string, string>;
    const signature = request.headers['x-twilio-signature'];
    const valid =
      typeof signature === 'string' &&
      twilio.validateRequest(token, signature, `${publicBaseUrl}${request.url}`, params);
    if (!valid) return reply.code(403).send('bad signature');
    received.push({ path: request.url.replace('/webhooks/twilio/voice/', ''), params });
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (typeof payload === 'string' && payload.startsWith('<?xml')) reply.type('text/xml; charset=utf-8');
    return payload;
  });
  ivrRoutes(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, received, serverUrl: `http://127.0.0.1:${port}` };
}

let server: Awaited<ReturnType<typeof startApp>>;
let api: TwilioApiDouble;
let clock: ManualClock;
let options: CallSimulatorOptions;

beforeEach(async () => {
  server = await startApp(authToken);
  api = await TwilioApiDouble.start({ accountSid, authToken });
  clock = new ManualClock();
  options = {
    serverUrl: server.serverUrl,
    publicBaseUrl,
    accountSid,
    authToken,
    api,
    clock,
    waitLoopMs: 20,
    from: '+14155550123',
    to: '+18005550100',
  };
});

afterEach(async () => {
  await server.app.close();
  await api.close();
});

const paths = () => server.received.map((r) => r.path);
const last = (path: string) => server.received.filter((r) => r.path === path).at(-1)?.params ?? {};

function expectClean(sim: CallSimulator) {
  expect(sim.problems).toEqual([]);
  expect(sim.errors).toEqual([]);
}

describe('an IVR journey', () => {
  it('follows the menu through a wrong key, a timeout and a choice, then reports the call', async () => {
    const sim = await new CallSimulator(options).start();
    expect(sim.state).toBe('ivr');
    expect(sim.resting).toBe('gather');
    expect(sim.heard[0]).toMatchObject({
      verb: 'Say',
      text: welcome,
      voice: 'Polly.Joanna',
      language: 'en-US',
    });
    expect(last('incoming')).toMatchObject({
      AccountSid: accountSid,
      CallSid: sim.callSid,
      CallStatus: 'ringing',
      Direction: 'inbound',
      From: '+14155550123',
      To: '+18005550100',
      Caller: '+14155550123',
      Called: '+18005550100',
      ApiVersion: '2010-04-01',
    });

    await sim.press('7');
    expect(last('menu')).toMatchObject({ Digits: '7', CallStatus: 'in-progress' });
    expect(sim.said.slice(1)).toEqual(['Sorry, that is not an option.', welcome]);

    await sim.silence();
    expect(sim.said.slice(3)).toEqual(['We did not get that.', welcome]);

    clock.advance(42);
    await sim.press('4');
    expect(sim.state).toBe('ended');
    expect(sim.said.at(-1)).toBe('We are open nine to five.');
    expect(paths()).toEqual(['incoming', 'menu', 'incoming', 'incoming', 'menu', 'status']);
    expect(last('status')).toMatchObject({
      CallSid: sim.callSid,
      CallStatus: 'completed',
      CallDuration: '42',
      CallbackSource: 'call-progress-events',
      SequenceNumber: '0',
    });
    expect(api.getCall(sim.callSid)).toMatchObject({ status: 'completed', duration: 42 });
    expect(sim.documents.map((d) => d.purpose)).toEqual([
      'incoming',
      'gather-action',
      'redirect',
      'redirect',
      'gather-action',
    ]);
    expectClean(sim);
  });

  it('takes speech with SpeechResult and Confidence', async () => {
    const sim = await new CallSimulator(options).start();
    await sim.say('billing please', 0.87);
    expect(last('menu')).toMatchObject({ SpeechResult: 'billing please', Confidence: '0.87000000' });
    expect(sim.state).toBe('queued');
    await sim.hangup();
    expectClean(sim);
  });

  it('fails loudly when the server refuses the signature', async () => {
    const strict = await startApp('another-token');
    try {
      const sim = await new CallSimulator({ ...options, serverUrl: strict.serverUrl }).start();
      expect(sim.state).toBe('ended');
      expect(sim.errors[0]).toMatchObject({ purpose: 'incoming', status: 403, body: 'bad signature' });
      await expect(sim.press('1')).rejects.toThrow(/ended.*403 from/);
    } finally {
      await strict.app.close();
    }
  });

  it('collects what Twilio would refuse in a document', async () => {
    const sim = new CallSimulator({ ...options, paths: { incoming: '/webhooks/twilio/voice/broken' } });
    await sim.start();
    expect(sim.problems).toEqual([
      `incoming POST ${publicBaseUrl}/webhooks/twilio/voice/broken: Content-Type "text/plain" is not text/xml or application/xml`,
      `incoming POST ${publicBaseUrl}/webhooks/twilio/voice/broken: Response/Gather[1]/Dial[1]: <Dial> is not allowed in <Gather> (allowed: Say, Play, Pause)`,
    ]);
    await sim.hangup();
  });
});

describe('a queued call', () => {
  it('loops the wait document as time passes, then moves to an agent on a REST update', async () => {
    const sim = await new CallSimulator(options).start();
    await sim.press('1');
    expect(sim.state).toBe('queued');
    expect(sim.said).toContain('Please hold.');
    const [firstWait] = sim.requestsFor('wait');
    expect(firstWait?.params).toMatchObject({
      QueuePosition: '1',
      QueueSid: SimulatedQueues.sidOf('billing'),
      QueueTime: '0',
      CurrentQueueSize: '1',
      MaxQueueSize: '1000',
    });

    clock.advance(30);
    await sim.waitFor((s) => s.requestsFor('wait').some((r) => r.params.QueueTime === '30'));
    await sim.waitFor((s) => s.said.filter((text) => text === 'You are caller number 1.').length > 1);

    const client = createLocalTwilioClient({ accountSid, authToken, apiBaseUrl: api.url });
    await client.calls(sim.callSid).update({
      twiml:
        `<Response><Dial action="${publicBaseUrl}/webhooks/twilio/voice/dial-result">` +
        `<Client url="${publicBaseUrl}/webhooks/twilio/voice/whisper?agent=ana"` +
        ` statusCallback="${publicBaseUrl}/webhooks/twilio/voice/leg-status"` +
        ` statusCallbackEvent="answered completed">agent_ana</Client></Dial></Response>`,
    });
    await sim.waitFor((s) => s.state === 'bridged');
    expect(last('queue-result')).toMatchObject({ QueueResult: 'redirected', QueueTime: '30' });
    expect(sim.said).not.toContain('Queue result redirected.');
    expect(sim.heard.filter((h) => h.leg === 'agent')).toMatchObject([
      { verb: 'Say', text: 'Billing call from Acme.' },
    ]);
    expect(last('whisper?agent=ana')).toMatchObject({
      Direction: 'outbound-dial',
      ParentCallSid: sim.callSid,
      To: 'client:agent_ana',
    });

    clock.advance(95);
    await sim.agentHangsUp();
    expect(last('dial-result')).toMatchObject({
      DialCallStatus: 'completed',
      DialCallDuration: '95',
      DialBridged: 'true',
      CallStatus: 'in-progress',
    });
    expect(last('dial-result').DialCallSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(server.received.filter((r) => r.path === 'leg-status').map((r) => r.params.CallStatus)).toEqual([
      'in-progress',
      'completed',
    ]);
    expect(sim.state).toBe('ended');
    expect(sim.said.at(-1)).toBe('Thanks for calling.');
    expect(last('status')).toMatchObject({ CallStatus: 'completed', CallDuration: '125' });
    expectClean(sim);
  });

  it('never asks for the wait document faster than waitLoopMs', async () => {
    const sim = await new CallSimulator({ ...options, waitLoopMs: 100 }).start();
    await sim.press('1');
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(sim.requestsFor('wait').length).toBeLessThanOrEqual(5);
    await sim.hangup();
  });

  it('reports a hangup while queued to the Enqueue action, then the status callback', async () => {
    const sim = await new CallSimulator(options).start();
    await sim.press('1');
    clock.advance(50);
    await sim.hangup();
    expect(sim.state).toBe('ended');
    expect(last('queue-result')).toMatchObject({
      QueueResult: 'hangup',
      QueueTime: '50',
      CallStatus: 'completed',
      QueueSid: SimulatedQueues.sidOf('billing'),
    });
    expect(paths().slice(-2)).toEqual(['queue-result', 'status']);
    expect(sim.said).not.toContain('Queue result hangup.');
    expect(api.getCall(sim.callSid)?.status).toBe('completed');
    expectClean(sim);
  });

  it('leaves the queue from a Gather in the wait document', async () => {
    const sim = await new CallSimulator(options).start();
    await sim.press('1');
    await sim.press('9');
    expect(last('queue-result')).toMatchObject({ QueueResult: 'leave' });
    expect(sim.resting).toBe('record');
    expect(sim.said.slice(-2)).toEqual(['Leaving the queue.', 'Leave a message.']);
    await sim.silence();
    expect(sim.state).toBe('ended');
    expectClean(sim);
  });

  it('counts callers sharing the queue and bridges one to an agent who dials the queue', async () => {
    const queues = new SimulatedQueues();
    const first = await new CallSimulator({ ...options, queues }).start();
    await first.press('1');
    const second = await new CallSimulator({ ...options, queues, from: '+14155550999' }).start();
    await second.press('1');
    expect(second.requestsFor('wait')[0]?.params).toMatchObject({
      QueuePosition: '2',
      CurrentQueueSize: '2',
    });

    // The agent's browser call, placed by the server through the REST API and answered by the agent.
    const client = createLocalTwilioClient({ accountSid, authToken, apiBaseUrl: api.url });
    await client.calls.create({
      to: 'client:agent_ana',
      from: '+18005550100',
      url: `${publicBaseUrl}/webhooks/twilio/voice/agent-answer`,
    });
    const agent = await CallSimulator.answerOutbound(api, await api.waitForCall(), { ...options, queues });
    expect(agent.state).toBe('bridged');
    await first.waitFor((s) => s.state === 'bridged');
    expect(second.state).toBe('queued');

    clock.advance(60);
    await first.hangup();
    await agent.waitFor((s) => s.state === 'ended');
    expect(agent.requestsFor('dial-action')[0]?.params).toMatchObject({
      DialCallStatus: 'completed',
      DialCallSid: first.callSid,
      DialCallDuration: '60',
    });
    expect(first.requestsFor('enqueue-action')[0]?.params).toMatchObject({ QueueResult: 'bridged' });
    await second.hangup();
    for (const sim of [first, second, agent]) expectClean(sim);
  });
});

describe('a dialled call', () => {
  it('reports an agent who does not answer, then bridges and lets the caller hang up', async () => {
    const sim = await new CallSimulator(options).start();
    const client = createLocalTwilioClient({ accountSid, authToken, apiBaseUrl: api.url });
    const dial = (digits: string) =>
      `<Response><Dial action="${publicBaseUrl}/webhooks/twilio/voice/dial-result?try=${digits}" timeout="20"` +
      ` record="record-from-answer-dual" recordingStatusCallback="${publicBaseUrl}/webhooks/twilio/voice/recording">` +
      `<Number>+1415555${digits}</Number></Dial></Response>`;

    sim.nextDialOutcome = 'no-answer';
    await client.calls(sim.callSid).update({ twiml: dial('0001') });
    await sim.waitFor((s) => s.state === 'ended');
    expect(last('dial-result?try=0001')).toMatchObject({
      DialCallStatus: 'no-answer',
      DialCallDuration: '0',
      DialBridged: 'false',
    });

    const second = await new CallSimulator(options).start();
    await client.calls(second.callSid).update({ twiml: dial('0002') });
    await second.waitFor((s) => s.state === 'bridged');
    clock.advance(20);
    await second.hangup();
    expect(last('dial-result?try=0002')).toMatchObject({
      DialCallStatus: 'completed',
      DialCallDuration: '20',
      CallStatus: 'completed',
    });
    // The caller is gone: the action's answer is not played.
    expect(second.said).not.toContain('Thanks for calling.');
    expect(paths().slice(-3)).toEqual(['dial-result?try=0002', 'recording', 'status']);
    expect(last('recording')).toMatchObject({
      CallSid: second.callSid,
      RecordingUrl: last('dial-result?try=0002').RecordingUrl,
      RecordingStatus: 'completed',
      RecordingDuration: '20',
      RecordingChannels: '2',
      RecordingSource: 'DialVerb',
    });
    for (const each of [sim, second]) expectClean(each);
  });
});

describe('a voicemail', () => {
  it('posts the Record action, the recording status and the transcription, and serves the audio', async () => {
    const sim = await new CallSimulator(options).start();
    await sim.press('2');
    expect(sim.resting).toBe('record');
    clock.advance(12);
    await sim.record({ seconds: 12, transcript: 'please call me back' });

    const action = last('voicemail');
    expect(action).toMatchObject({ RecordingDuration: '12', CallSid: sim.callSid });
    expect(action.RecordingSid).toMatch(/^RE[0-9a-f]{32}$/);
    expect(action.RecordingUrl).toBe(
      `https://api.twilio.com/2010-04-01/Accounts/${accountSid}/Recordings/${action.RecordingSid}`,
    );
    expect(last('recording')).toMatchObject({
      RecordingSid: action.RecordingSid,
      RecordingUrl: action.RecordingUrl,
      RecordingStatus: 'completed',
      RecordingDuration: '12',
      RecordingChannels: '1',
      RecordingSource: 'RecordVerb',
    });
    expect(last('transcription')).toMatchObject({
      TranscriptionText: 'please call me back',
      TranscriptionStatus: 'completed',
      RecordingSid: action.RecordingSid,
    });
    expect(last('transcription').TranscriptionSid).toMatch(/^TR[0-9a-f]{32}$/);
    expect(paths().slice(-4)).toEqual(['voicemail', 'recording', 'transcription', 'status']);
    expect(sim.said.at(-1)).toBe('Thank you. Goodbye.');

    const media = await fetch(
      (action.RecordingUrl ?? '').replace('https://api.twilio.com', api.url) + '.wav',
      {
        headers: { authorization: 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64') },
      },
    );
    const wav = Buffer.from(await media.arrayBuffer());
    expect(wav.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(wav.length).toBe(44 + 12 * 8000 * 2);
    expectClean(sim);
  });

  it('reports a caller who hangs up to end the message with Digits=hangup', async () => {
    const sim = await new CallSimulator(options).start();
    await sim.press('2');
    await sim.record({ seconds: 5, endedBy: 'hangup' });
    expect(last('voicemail')).toMatchObject({ Digits: 'hangup', CallStatus: 'completed' });
    expect(sim.state).toBe('ended');
    expect(sim.said).not.toContain('Thank you. Goodbye.');
    expectClean(sim);
  });
});

describe('an outbound call', () => {
  it('answers a call the server placed, with its status callbacks', async () => {
    const client = createLocalTwilioClient({ accountSid, authToken, apiBaseUrl: api.url });
    const call = await client.calls.create({
      to: '+14155550123',
      from: '+18005550100',
      url: `${publicBaseUrl}/webhooks/twilio/voice/incoming`,
      statusCallback: `${publicBaseUrl}/webhooks/twilio/voice/status`,
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    });
    const sim = await CallSimulator.answerOutbound(
      api,
      await api.waitForCall((c) => c.sid === call.sid),
      options,
    );
    expect(sim.callSid).toBe(call.sid);
    expect(last('incoming')).toMatchObject({
      Direction: 'outbound-api',
      CallStatus: 'in-progress',
      CallSid: call.sid,
    });
    clock.advance(8);
    await sim.press('4');
    const statuses = server.received.filter((r) => r.path === 'status').map((r) => r.params);
    expect(statuses.map((p) => [p.CallStatus, p.SequenceNumber])).toEqual([
      ['initiated', '0'],
      ['ringing', '1'],
      ['in-progress', '2'],
      ['completed', '3'],
    ]);
    expect(statuses.at(-1)?.CallDuration).toBe('8');
    expect((await client.calls(call.sid).fetch()).status).toBe('completed');
    expectClean(sim);
  });

  it('reports a busy callee without fetching any TwiML', async () => {
    const client = createLocalTwilioClient({ accountSid, authToken, apiBaseUrl: api.url });
    await client.calls.create({
      to: '+14155550123',
      from: '+18005550100',
      url: `${publicBaseUrl}/webhooks/twilio/voice/incoming`,
      statusCallback: `${publicBaseUrl}/webhooks/twilio/voice/status`,
    });
    const sim = await CallSimulator.answerOutbound(api, await api.waitForCall(), {
      ...options,
      outcome: 'busy',
    });
    expect(sim.finalStatus).toBe('busy');
    expect(paths()).toEqual(['status']);
    expect(last('status')).toMatchObject({ CallStatus: 'busy', CallDuration: '0' });
  });
});

describe('switchboard simulate-call', () => {
  it('reads script steps', () => {
    expect(
      parseScript('press 1; say billing  please; wait 10;\nsilence; 12#; record 12 call me back; hangup'),
    ).toEqual([
      { kind: 'press', digits: '1' },
      { kind: 'say', text: 'billing please' },
      { kind: 'wait', seconds: 10 },
      { kind: 'silence' },
      { kind: 'press', digits: '12#' },
      { kind: 'record', seconds: 12, transcript: 'call me back' },
      { kind: 'hangup' },
    ]);
    expect(parseStep('agent-hangup')).toEqual({ kind: 'agent-hangup' });
    expect(parseStep('record 5')).toEqual({ kind: 'record', seconds: 5 });
    expect(parseScript(' ; ')).toEqual([]);
  });

  it.each([
    ['press 1; jump', 'step 2: "jump": unknown step'],
    ['press one', 'step 1: "press one": press takes keys'],
    ['wait soon', 'step 1: "wait soon": expected a number of seconds'],
    ['record', 'step 1: "record": expected a number of seconds'],
    ['say', 'step 1: "say": say what?'],
  ])('refuses %j', (script, message) => {
    expect(() => parseScript(script)).toThrow(ScriptError);
    expect(() => parseScript(script)).toThrow(message);
  });

  const cliArgs = () => [
    '--server',
    server.serverUrl,
    '--public-url',
    publicBaseUrl,
    '--token',
    authToken,
    '--account',
    accountSid,
    '--api-port',
    '0',
  ];

  it('runs a script against the server and prints the call', async () => {
    const lines: string[] = [];
    const code = await runSimulateCall([...cliArgs(), '--script', 'press 7; silence; press 4'], (line) =>
      lines.push(line),
    );
    const output = lines.join('\n');
    expect(code).toBe(0);
    expect(output).toContain(`caller hears: "${welcome}" (Polly.Joanna, en-US)`);
    expect(output).toContain('gather-action: POST /webhooks/twilio/voice/menu Digits=7');
    expect(output).toContain('caller hears: "We are open nine to five."');
    expect(output).toContain('call-status: POST /webhooks/twilio/voice/status CallStatus=completed');
    expect(lines.at(-1)).toBe('call ended completed: 0 TwiML problem(s), 0 failed request(s)');
  });

  it('reads steps from the input when there is no script, and hangs up at its end', async () => {
    const lines: string[] = [];
    const input = Readable.from(['help\n', 'press 1\n', 'say nothing\n']);
    const code = await runSimulateCall(cliArgs(), (line) => lines.push(line), { input });
    expect(code).toBe(0);
    const output = lines.join('\n');
    expect(output).toContain('say <words>');
    expect(output).toContain('call is queued');
    expect(output).toContain('the <Gather> does not take speech: say "nothing" cannot be heard');
    expect(output).toContain(
      'enqueue-action: POST /webhooks/twilio/voice/queue-result QueueTime=0 QueueResult=hangup',
    );
  });

  it('refuses to run without an auth token or with a bad script', async () => {
    const lines: string[] = [];
    expect(
      await runSimulateCall(['--server', server.serverUrl], (line) => lines.push(line), { env: {} }),
    ).toBe(2);
    expect(lines[0]).toContain('--token or TWILIO_AUTH_TOKEN');
    expect(await runSimulateCall([...cliArgs(), '--script', 'dance'], (line) => lines.push(line))).toBe(2);
    expect(await runSimulateCall(['--nope'], (line) => lines.push(line))).toBe(2);
  });
});

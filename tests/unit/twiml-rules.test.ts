import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { checkTwiml, parseTwiml, textOf } from '../../channels/phone/simulator/twiml-rules.js';

/*
 * The TwiML grammar check on documents Twilio accepts (many built with twilio-node's own VoiceResponse, which
 * must always pass) and on documents it refuses, one mistake each, with the problem it must name.
 */

const { VoiceResponse } = twilio.twiml;

const doc = (body: string) => `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;

describe('checkTwiml accepts', () => {
  const built: [string, () => InstanceType<typeof VoiceResponse>][] = [
    [
      'a menu',
      () => {
        const response = new VoiceResponse();
        const gather = response.gather({
          action: '/webhooks/twilio/voice/menu',
          method: 'POST',
          input: ['dtmf', 'speech'],
          numDigits: 1,
          timeout: 5,
          speechTimeout: 'auto',
          hints: 'billing, support',
          language: 'en-US',
          actionOnEmptyResult: true,
        });
        gather.say({ voice: 'Polly.Joanna', language: 'en-US' }, 'For billing press 1.');
        gather.pause({ length: 1 });
        gather.play('https://example.com/beep.mp3');
        response.say('We did not get that.');
        response.redirect({ method: 'POST' }, '/webhooks/twilio/voice/incoming');
        return response;
      },
    ],
    [
      'a queue with a task',
      () => {
        const response = new VoiceResponse();
        response.say({ voice: 'alice', loop: 1 }, 'Please hold.');
        const enqueue = response.enqueue({
          action: '/enqueue-action',
          method: 'POST',
          waitUrl: '/wait',
          waitUrlMethod: 'POST',
        });
        enqueue.task({ priority: 5, timeout: 200 }, JSON.stringify({ language: 'en' }));
        response.hangup();
        return response;
      },
    ],
    [
      'a dial to clients and numbers',
      () => {
        const response = new VoiceResponse();
        const dial = response.dial({
          action: '/dial-action',
          callerId: '+18005550100',
          timeout: 20,
          answerOnBridge: true,
          record: 'record-from-answer-dual',
          recordingStatusCallback: '/recording',
          recordingStatusCallbackEvent: ['completed', 'absent'],
          ringTone: 'us',
          timeLimit: 3600,
        });
        const client = dial.client({
          url: '/whisper',
          statusCallback: '/leg-status',
          statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        });
        client.identity('agent_ana');
        client.parameter({ name: 'interactionId', value: 'i-1' });
        dial.number({ sendDigits: 'ww1928', url: '/whisper' }, '+14155550199');
        dial.queue({ url: '/about-to-connect' }, 'support');
        dial.conference({ beep: 'onEnter', startConferenceOnEnter: true }, 'room-1');
        dial.sip({ username: 'u', password: 'p' }, 'sip:agent@example.com');
        return response;
      },
    ],
    [
      'a voicemail',
      () => {
        const response = new VoiceResponse();
        response.say('Leave a message after the beep.');
        response.record({
          action: '/voicemail',
          maxLength: 120,
          finishOnKey: '#*',
          playBeep: true,
          trim: 'trim-silence',
          transcribe: true,
          transcribeCallback: '/transcription',
          recordingStatusCallback: '/recording',
          recordingStatusCallbackMethod: 'POST',
          recordingStatusCallbackEvent: ['completed'],
        });
        return response;
      },
    ],
    [
      'SSML in Say',
      () => {
        const response = new VoiceResponse();
        const say = response.say({ voice: 'Polly.Amy' }, 'Your number is ');
        say.sayAs({ 'interpret-as': 'telephone' }, '4155550100');
        say.break({ time: '500ms', strength: 'medium' });
        say.emphasis({ level: 'strong' }, 'urgent');
        say.prosody({ rate: 'slow' }, 'slowly');
        say.sub({ alias: 'Switchboard' }, 'SB');
        say.lang({ 'xml:lang': 'fr-FR' }, 'bonjour');
        say.p('A paragraph.');
        say.s('A sentence.');
        say.w({ role: 'amazon:VBD' }, 'read');
        say.phoneme({ alphabet: 'ipa', ph: 'pɪˈkɑːn' }, 'pecan');
        return response;
      },
    ],
    [
      'a rejection and streams',
      () => {
        const response = new VoiceResponse();
        const start = response.start();
        start.stream({ url: 'wss://example.com/audio', track: 'inbound_track' });
        response.stop().stream({ name: 'one' });
        response.reject({ reason: 'busy' });
        return response;
      },
    ],
  ];

  it.each(built)('%s built with twilio.twiml.VoiceResponse', (_name, build) => {
    expect(checkTwiml(build().toString())).toEqual([]);
  });

  it.each([
    ['a plain number in Dial', doc('<Dial>415-123-4567</Dial><Say>Goodbye</Say>')],
    ['an empty Response', doc('')],
    [
      'comments and whitespace',
      `<?xml version="1.0"?>\n<!-- menu -->\n<Response>\n  <Hangup/>\n</Response>\n`,
    ],
    ['Gather with no attributes and nothing nested', doc('<Gather/>')],
    ['input written as dtmf speech', doc('<Gather input="dtmf speech"><Say>Hi</Say></Gather>')],
    ['Enqueue with only a workflow', doc('<Enqueue workflowSid="WW0123"/>')],
    ['Play with digits only', doc('<Play digits="ww1234"/>')],
  ])('%s', (_name, xml) => {
    expect(checkTwiml(xml)).toEqual([]);
  });

  it('a wait document of the verbs the waitUrl allows', () => {
    const response = new VoiceResponse();
    response.say('You are caller number 2.');
    response.play({ loop: 2 }, 'https://example.com/hold.mp3');
    response.pause({ length: 5 });
    response.gather({ numDigits: 1, action: '/leave-menu' }).say('Press 1 to leave a message.');
    response.redirect('/wait');
    response.leave();
    response.hangup();
    expect(checkTwiml(response.toString(), { context: 'wait' })).toEqual([]);
  });
});

describe('checkTwiml refuses', () => {
  it.each([
    ['a document that is not XML', 'Hello', 'not well-formed XML'],
    ['an unclosed element', doc('<Say>Hi'), 'not well-formed XML'],
    ['an empty body', '', 'empty'],
    ['another root', '<Reply><Say>Hi</Say></Reply>', 'root element is <Reply>'],
    ['an unknown verb', doc('<Speak>Hi</Speak>'), 'Response/Speak[1]: <Speak> is not allowed in <Response>'],
    ['a lowercase verb', doc('<say>Hi</say>'), '<say> is not allowed in <Response>'],
    [
      'Dial inside Gather',
      doc('<Gather><Dial>+14155550100</Dial></Gather>'),
      '<Dial> is not allowed in <Gather>',
    ],
    ['Gather inside Gather', doc('<Gather><Gather/></Gather>'), '<Gather> is not allowed in <Gather>'],
    ['Say inside Dial', doc('<Dial><Say>Hi</Say></Dial>'), '<Say> is not allowed in <Dial>'],
    [
      'Number outside Dial',
      doc('<Number>+14155550100</Number>'),
      'Response/Number[1]: <Number> is not allowed',
    ],
    ['text in Gather', doc('<Gather>Press 1</Gather>'), '<Gather> holds no text'],
    ['text in Response', doc('Hello<Hangup/>'), '<Response> holds no text'],
    ['a verb inside Record', doc('<Record><Say>Hi</Say></Record>'), '<Say> is not allowed in <Record>'],
    ['a verb inside Hangup', doc('<Hangup><Say>Bye</Say></Hangup>'), '<Say> is not allowed in <Hangup>'],
    ['text in Pause', doc('<Pause>5</Pause>'), '<Pause> holds no text'],
    ['a verb inside Play', doc('<Play><Say>x</Say></Play>'), '<Say> is not allowed in <Play>'],
    ['an SSML tag at the top', doc('<break time="1s"/>'), '<break> is not allowed in <Response>'],
    ['p inside p', doc('<Say><p><p>x</p></p></Say>'), '<p> is not allowed in <p>'],
    [
      'Identity outside Client',
      doc('<Dial><Identity>ana</Identity></Dial>'),
      '<Identity> is not allowed in <Dial>',
    ],
    ['Task outside Enqueue', doc('<Dial><Task>{}</Task></Dial>'), '<Task> is not allowed in <Dial>'],
    ['an unknown Gather attribute', doc('<Gather digits="1"/>'), '<Gather> has no attribute digits'],
    ['a misspelt attribute', doc('<Gather numdigits="1"/>'), '<Gather> has no attribute numdigits'],
    ['an unknown Say attribute', doc('<Say rate="slow">Hi</Say>'), '<Say> has no attribute rate'],
    ['waitUrl on Dial', doc('<Dial waitUrl="/w">+14155550100</Dial>'), '<Dial> has no attribute waitUrl'],
    [
      'an attribute on Response',
      '<Response version="1"><Hangup/></Response>',
      '<Response> takes no attributes',
    ],
    ['a lowercase method', doc('<Gather method="post"/>'), 'method="post": must be GET or POST'],
    ['an unknown method', doc('<Redirect method="PUT">/x</Redirect>'), 'must be GET or POST'],
    ['an unknown input', doc('<Gather input="keys"/>'), 'input="keys": must be one or more of dtmf, speech'],
    ['input joined by a comma', doc('<Gather input="dtmf,speech"/>'), 'must be one or more of dtmf, speech'],
    ['a non-numeric timeout', doc('<Gather timeout="five"/>'), 'timeout="five": must be a whole number'],
    ['a negative length', doc('<Pause length="-1"/>'), 'length="-1": must be a whole number'],
    ['a speechTimeout word', doc('<Gather speechTimeout="soon"/>'), 'must be a whole number or auto'],
    ['two keys to finish a Gather', doc('<Gather finishOnKey="#*"/>'), 'must be one key'],
    ['a yes boolean', doc('<Gather actionOnEmptyResult="yes"/>'), 'must be true or false'],
    [
      'an unknown reject reason',
      doc('<Reject reason="spam"/>'),
      'reason="spam": must be one of rejected, busy',
    ],
    ['an unknown record mode', doc('<Dial record="always">1</Dial>'), 'record="always": must be one of'],
    ['an unknown trim', doc('<Record trim="yes"/>'), 'trim="yes": must be one of trim-silence, do-not-trim'],
    [
      'an unknown leg event',
      doc('<Dial><Client statusCallbackEvent="hung">a</Client></Dial>'),
      'must be one or more',
    ],
    ['a Redirect with no URL', doc('<Redirect/>'), 'needs a URL'],
    ['a Play with nothing to play', doc('<Play/>'), 'needs a media URL or digits'],
    ['an Enqueue with no queue', doc('<Enqueue waitUrl="/wait"/>'), 'needs a queue name or a workflowSid'],
    ['a Dial with nothing to dial', doc('<Dial timeout="10"/>'), 'needs a number or a noun to dial'],
    ['a Client with no identity', doc('<Dial><Client url="/w"/></Dial>'), 'needs a client identity'],
  ])('%s', (_name, xml, expected) => {
    const problems = checkTwiml(xml);
    expect(problems.join('\n')).toContain(expected);
  });

  it('names the element path of a nested problem', () => {
    const xml = doc('<Say>Hi</Say><Gather><Say>a</Say><Say loud="yes">b</Say></Gather>');
    expect(checkTwiml(xml)).toEqual(['Response/Gather[1]/Say[2]: <Say> has no attribute loud']);
  });

  it.each(['Dial', 'Enqueue', 'Record', 'Reject', 'Connect', 'Start'])(
    'a wait document with <%s>',
    (verb) => {
      const problems = checkTwiml(doc(`<${verb}/>`), { context: 'wait' });
      expect(problems.join('\n')).toContain(`<${verb}> is not allowed in a wait document`);
    },
  );

  it('a whisper document that dials', () => {
    const problems = checkTwiml(doc('<Say>Call for you</Say><Dial>+14155550100</Dial>'), {
      context: 'dial-whisper',
    });
    expect(problems).toEqual([
      'Response/Dial[1]: <Dial> is not allowed in a dial-whisper document (allowed: Play, Say, Pause, Gather, Hangup)',
    ]);
  });

  it('checks the verbs a wait document allows with the same attribute rules', () => {
    expect(checkTwiml(doc('<Gather input="sms"/>'), { context: 'wait' })).toEqual([
      'Response/Gather[1] input="sms": must be one or more of dtmf, speech, separated by spaces',
    ]);
  });
});

describe('parseTwiml', () => {
  it('keeps numbers as text and reads SSML as spoken text', () => {
    const { response, problems } = parseTwiml(
      doc(
        '<Dial>04155550100</Dial><Say>Call <say-as interpret-as="digits">42</say-as>  now &amp; later</Say>',
      ),
    );
    expect(problems).toEqual([]);
    const [dial, say] = response?.children ?? [];
    expect(dial && textOf(dial)).toBe('04155550100');
    expect(say && textOf(say)).toBe('Call 42 now & later');
  });
});

import type twilio from 'twilio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalTwilioClient } from '../../channels/phone/simulator/local-twilio-client.js';
import {
  formValue,
  formValues,
  TwilioApiDouble,
  type CallUpdate,
} from '../../channels/phone/simulator/twilio-api-double.js';

/*
 * The Twilio REST double against the real twilio-node client (v6), its requests redirected to the double the
 * way channels/phone/twilio-client.ts does with `apiBaseUrl`: the client's paths, form encoding and parsing
 * of Twilio's JSON must all work unchanged. Plain fetch covers auth failures and recording media.
 */

const accountSid = 'AC' + '0123456789abcdef'.repeat(2);
const authToken = 'test-auth-token';
const basic = (user: string, password: string) =>
  'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

let api: TwilioApiDouble;
let client: twilio.Twilio;

beforeEach(async () => {
  api = await TwilioApiDouble.start({ accountSid, authToken });
  client = createLocalTwilioClient({ accountSid, authToken, apiBaseUrl: api.url });
});

afterEach(async () => {
  await api.close();
});

describe('calls through the twilio client', () => {
  it('creates a call: 201, a fresh CA sid, the create fields kept and emitted', async () => {
    const created: string[] = [];
    api.on('call.created', (call) => created.push(call.sid));
    const call = await client.calls.create({
      to: '+14155550123',
      from: '+18005550100',
      url: 'https://switchboard.example.com/webhooks/twilio/voice/outbound?interaction=i-1',
      method: 'POST',
      statusCallback: 'https://switchboard.example.com/webhooks/twilio/voice/status',
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    });
    expect(call.sid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(call).toMatchObject({
      accountSid,
      to: '+14155550123',
      toFormatted: '(415) 555-0123',
      from: '+18005550100',
      status: 'queued',
      direction: 'outbound-api',
      apiVersion: '2010-04-01',
      uri: `/2010-04-01/Accounts/${accountSid}/Calls/${call.sid}.json`,
    });
    expect(call.dateCreated).toBeInstanceOf(Date);
    expect(created).toEqual([call.sid]);

    const [request] = api.requests;
    expect(request).toMatchObject({
      operation: 'calls.create',
      method: 'POST',
      path: `/2010-04-01/Accounts/${accountSid}/Calls.json`,
      status: 201,
    });
    const record = api.getCall(call.sid);
    expect(record && formValue(record.createParams ?? {}, 'Url')).toContain('/voice/outbound');
    expect(formValues(request?.params ?? {}, 'StatusCallbackEvent')).toEqual([
      'initiated',
      'ringing',
      'answered',
      'completed',
    ]);
  });

  it('creates a call from TwiML, then fetches and updates it', async () => {
    const { sid } = await client.calls.create({
      to: 'client:agent_ana',
      from: '+18005550100',
      twiml: '<Response><Say>Connecting</Say></Response>',
    });
    api.setCallStatus(sid, 'in-progress');

    const updates: CallUpdate[] = [];
    api.on('call.updated', (update) => updates.push(update));
    const twiml = '<Response><Dial><Client>agent_ben</Client></Dial></Response>';
    const updated = await client.calls(sid).update({ twiml });
    expect(updated.sid).toBe(sid);
    expect(updated.status).toBe('in-progress');
    expect(updates).toHaveLength(1);
    expect(formValue(updates[0]?.params ?? {}, 'Twiml')).toBe(twiml);

    await client.calls(sid).update({ url: 'https://switchboard.example.com/next', method: 'GET' });
    const redirect = await api.waitFor(
      (r) => r.operation === 'calls.update' && formValue(r.params, 'Method') === 'GET',
    );
    expect(formValue(redirect.params, 'Url')).toBe('https://switchboard.example.com/next');

    const fetched = await client.calls(sid).fetch();
    expect(fetched).toMatchObject({ sid, status: 'in-progress', to: 'client:agent_ana' });
    expect(fetched.startTime).toBeInstanceOf(Date);
  });

  it('ends a call with Status=completed, then refuses to redirect it (21220)', async () => {
    const { sid } = await client.calls.create({
      to: '+14155550123',
      from: '+18005550100',
      url: 'https://x/y',
    });
    api.setCallStatus(sid, 'in-progress');
    const ended = await client.calls(sid).update({ status: 'completed' });
    expect(ended.status).toBe('completed');
    expect(ended.endTime).toBeInstanceOf(Date);
    await expect(client.calls(sid).update({ twiml: '<Response/>' })).rejects.toMatchObject({
      status: 400,
      code: 21220,
    });
  });

  it('cancels a queued call but not one in progress', async () => {
    const queued = await client.calls.create({
      to: '+14155550123',
      from: '+18005550100',
      url: 'https://x/y',
    });
    expect((await client.calls(queued.sid).update({ status: 'canceled' })).status).toBe('canceled');

    const live = await client.calls.create({ to: '+14155550124', from: '+18005550100', url: 'https://x/y' });
    api.setCallStatus(live.sid, 'in-progress');
    expect((await client.calls(live.sid).update({ status: 'canceled' })).status).toBe('in-progress');
  });

  it('answers an unknown call with 404 and code 20404', async () => {
    const sid = 'CA' + 'f'.repeat(32);
    const failure = client.calls(sid).update({ twiml: '<Response/>' });
    await expect(failure).rejects.toMatchObject({
      status: 404,
      code: 20404,
      moreInfo: 'https://www.twilio.com/docs/errors/20404',
    });
    await expect(client.calls(sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
  });

  it('refuses a create without To, From or instructions', async () => {
    await expect(client.calls.create({ to: '+14155550123', from: '+18005550100' })).rejects.toMatchObject({
      status: 400,
      code: 21205,
    });
  });

  it('refuses a client with the wrong auth token', async () => {
    const stranger = createLocalTwilioClient({ accountSid, authToken: 'wrong', apiBaseUrl: api.url });
    await expect(stranger.calls('CA' + '0'.repeat(32)).fetch()).rejects.toMatchObject({
      status: 401,
      code: 20003,
    });
    expect(api.requests.at(-1)?.status).toBe(401);
  });

  it('serves calls of its own account only', async () => {
    const { sid } = await client.calls.create({
      to: '+14155550123',
      from: '+18005550100',
      url: 'https://x/y',
    });
    const response = await fetch(`${api.url}/2010-04-01/Accounts/AC${'9'.repeat(32)}/Calls/${sid}.json`, {
      headers: { authorization: basic(accountSid, authToken) },
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 20404, status: 404 });
  });
});

describe('plain HTTP', () => {
  it('answers 401 with a Basic challenge and Twilio error JSON when no credentials are sent', async () => {
    const response = await fetch(`${api.url}/2010-04-01/Accounts/${accountSid}/Calls/CA123.json`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('Basic');
    expect(await response.json()).toEqual({
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
  });

  it('serves registered recordings with and without an extension, and a silent WAV otherwise', async () => {
    const bytes = Buffer.from('RIFF....WAVEfmt fake audio');
    api.addRecording('RE' + 'a'.repeat(32), bytes, 'audio/x-wav', { durationSeconds: 12 });
    const auth = { authorization: basic(accountSid, authToken) };
    const base = `${api.url}/2010-04-01/Accounts/${accountSid}/Recordings`;
    for (const suffix of ['', '.wav']) {
      const response = await fetch(`${base}/RE${'a'.repeat(32)}${suffix}`, { headers: auth });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('audio/x-wav');
      expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
    }
    const metadata = await fetch(`${base}/RE${'a'.repeat(32)}.json`, { headers: auth });
    expect(await metadata.json()).toMatchObject({
      sid: 'RE' + 'a'.repeat(32),
      duration: '12',
      status: 'completed',
    });

    const unknown = await fetch(`${base}/RE${'b'.repeat(32)}`, { headers: auth });
    const wav = Buffer.from(await unknown.arrayBuffer());
    expect(wav.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(wav.subarray(8, 12).toString('ascii')).toBe('WAVE');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);

    expect((await fetch(`${base}/RE${'a'.repeat(32)}`)).status).toBe(401);
    const deleted = await fetch(`${base}/RE${'a'.repeat(32)}.json`, { method: 'DELETE', headers: auth });
    expect(deleted.status).toBe(204);
    expect((await fetch(`${base}/RE${'a'.repeat(32)}`, { headers: auth })).status).toBe(404);
  });

  it('404s a recording nobody registered when told to', async () => {
    const strict = await TwilioApiDouble.start({ accountSid, authToken, unknownRecordings: 'not-found' });
    try {
      const response = await fetch(`${strict.url}/2010-04-01/Accounts/${accountSid}/Recordings/RE123.mp3`, {
        headers: { authorization: basic(accountSid, authToken) },
      });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: 20404, status: 404 });
    } finally {
      await strict.close();
    }
  });

  it('waits for a created call that has not happened yet', async () => {
    const waiting = api.waitForCall((call) => call.to === '+14155550999');
    await client.calls.create({ to: '+14155550999', from: '+18005550100', url: 'https://x/y' });
    await expect(waiting).resolves.toMatchObject({ to: '+14155550999', status: 'queued' });
    await expect(api.waitForCall((call) => call.to === 'nobody', 50)).rejects.toThrow('within 50 ms');
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { CallSimulator, ManualClock } from '../../channels/phone/simulator/call-simulator.js';
import { TwilioApiDouble, type CallRecord } from '../../channels/phone/simulator/twilio-api-double.js';
import { createAgent, resetRouting, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/** Waits until `condition` holds (waitFor waits for a value). */
const until = (condition: () => Promise<boolean>, timeoutMs?: number) =>
  waitFor(async () => ((await condition()) ? true : undefined), timeoutMs);

/*
 * The phone channel end to end: the caller simulator plays Twilio (signed webhooks with Twilio's parameter
 * names, following the TwiML it gets), the Twilio REST API is a local double the app's twilio client is
 * pointed at, and everything else is real (Postgres, Redis, routing, jobs). Whole journeys: self-service,
 * queue and bridge, abandonment, after-hours voicemail with its transcript, a callback, a bad signature,
 * a repeated webhook.
 *
 * What must never happen: TwiML Twilio would refuse (every document goes through checkTwiml); a webhook
 * answered with an error; a retried webhook logging or routing anything twice; a contained call routed.
 */

const accountSid = 'AC0123456789abcdef0123456789abcdef';
const authToken = 'test-twilio-auth-token';
const publicBaseUrl = 'https://switchboard.example.com';

const rulesText = `
calendars:
  never: { timeZone: UTC, weekly: {} }
queues:
  - { name: billing, strategy: longest-idle, channels: [voice, email, chat] }
  - { name: owners, strategy: account-owner, secondaryStrategy: longest-idle, channels: [voice] }
  - { name: support, strategy: longest-idle, channels: [voice, email, chat] }
  - name: night
    strategy: longest-idle
    channels: [voice]
    hours: never
    afterHours: { action: voicemail, greeting: Billing is closed. }
rules:
  - { name: owner-calls, when: { channel: voice, hasAccountOwner: true }, queue: owners, priority: 20 }
  - { name: billing-ivr, when: { channel: voice, ivrChoice: '1' }, queue: billing, priority: 10 }
  - { name: night-ivr, when: { channel: voice, ivrChoice: '8' }, queue: night, priority: 10 }
  - { name: default, queue: support, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
options:
  offerTimeoutSeconds: 600
`;

const ivrText = (lookupBase: string) => `
ivr:
  languages:
    en-US: { voice: Polly.Joanna }
  defaultFlow: main
  lookups:
    orders: { url: '${lookupBase}/orders/{{orderNumber}}', timeoutMs: 1000 }
  flows:
    main:
      start: greeting
      steps:
        greeting:
          say: Thank you for calling.
          sayToKnown: Welcome back, {{customer.firstName}}.
          next: menu
        menu:
          menu:
            prompt: For billing press 1. For an order press 3. To be called back press 5. For night press 8.
            options:
              - { press: '1', say: [billing], next: to-billing }
              - { press: '3', say: [order], next: order-number }
              - { press: '5', say: [callback], next: callback }
              - { press: '8', next: to-night }
              - { press: '9', next: message }
        order-number:
          collect: { prompt: Enter your order number then pound., as: orderNumber, minDigits: 6, maxDigits: 8, next: order }
        order:
          lookup:
            use: orders
            answer: Order {{orderNumber}} is {{result.status}}.
            notFound: No order {{orderNumber}}.
            next: anything-else
        anything-else:
          menu:
            prompt: Press 1 for the menu.
            options:
              - { press: '1', next: menu }
            retries: 0
            onFailure: goodbye
        goodbye:
          hangup: Goodbye.
        to-billing:
          agent: { choice: '1' }
        to-night:
          agent: { choice: '8' }
        callback:
          callback: { choice: '1', prompt: We will call you back. }
        message:
          voicemail: { prompt: Leave a message., maxSeconds: 60 }
`;

let ctx: TestContext;
let api: TwilioApiDouble;
let serverUrl: string;
let lookupServer: Server;
let rules: ReturnType<typeof writeRulesFolder>;
const simulators: CallSimulator[] = [];

beforeAll(async () => {
  lookupServer = createServer((request, response) => {
    const match = /^\/orders\/(\d+)$/.exec(request.url ?? '');
    if (match?.[1] === '123456') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: 'shipped' }));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => lookupServer.listen(0, '127.0.0.1', resolve));
  const lookupBase = `http://127.0.0.1:${(lookupServer.address() as AddressInfo).port}`;
  rules = writeRulesFolder(rulesText);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${rules.dir}/ivr.yaml`, ivrText(lookupBase));
  api = await TwilioApiDouble.start({ accountSid, authToken });
  ctx = await createTestContext({
    isWorker: true,
    config: {
      routingRulesDir: rules.dir,
      publicBaseUrl,
      phone: {
        accountSid,
        authToken,
        apiKeySid: undefined,
        apiKeySecret: undefined,
        twimlAppSid: undefined,
        apiBaseUrl: api.url,
        callerId: '+18005550100',
        isRecording: false,
      },
    },
  });
  await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  serverUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const sim of simulators) await sim.hangup().catch(() => undefined);
  await ctx?.close();
  await api?.close();
  await new Promise((resolve) => lookupServer?.close(resolve));
  rules?.remove();
});

beforeEach(async () => {
  await resetRouting(ctx.services);
});

function simulator(options: { from?: string; clock?: ManualClock } = {}): CallSimulator {
  const sim = new CallSimulator({
    serverUrl,
    publicBaseUrl,
    accountSid,
    authToken,
    api,
    from: options.from ?? randomCaller(),
    to: '+18005550100',
    waitLoopMs: 100,
    ...(options.clock && { clock: options.clock }),
  });
  simulators.push(sim);
  return sim;
}

let callerCount = 0;
const randomCaller = () => `+1415555${String(1000 + ((Date.now() + callerCount++) % 9000)).padStart(4, '0')}`;

async function interactionOf(callSid: string) {
  const { rows } = await ctx.services.pool.query<{
    id: string;
    status: string;
    queue: string | null;
    closed_reason: string | null;
    assignee_id: string | null;
  }>('select id, status, queue, closed_reason, assignee_id from interactions where external_id = $1', [
    callSid,
  ]);
  return rows[0];
}

async function eventsOf(interactionId: string) {
  const { rows } = await ctx.services.pool.query<{ type: string; payload: Record<string, unknown> }>(
    'select type, payload from interaction_events where interaction_id = $1 order by occurred_at, id',
    [interactionId],
  );
  return rows;
}

const said = (sim: CallSimulator) => sim.heard.flatMap((h) => (h.verb === 'Say' ? [h.text] : []));

function expectClean(sim: CallSimulator) {
  expect(sim.problems).toEqual([]);
  expect(sim.errors).toEqual([]);
}

async function availableAgent(): Promise<string> {
  const agentId = await createAgent(ctx.services);
  await ctx.services.agentStates.setState(agentId, 'available');
  return agentId;
}

async function liveOfferFor(interactionId: string) {
  let offerId: string | undefined;
  await until(async () => {
    const { rows } = await ctx.services.pool.query<{ id: string }>(
      "select id from offers where interaction_id = $1 and status = 'offered'",
      [interactionId],
    );
    offerId = rows[0]?.id;
    return offerId !== undefined;
  });
  return offerId!;
}

describe('phone: self-service', () => {
  it('answers an order status from the lookup and lets the caller go: contained, never routed', async () => {
    const sim = simulator();
    await sim.start();
    expect(said(sim)).toEqual([
      'Thank you for calling.',
      'For billing press 1. For an order press 3. To be called back press 5. For night press 8.',
    ]);
    await sim.press('3');
    await sim.press('1234#');
    expect(said(sim)).toContain('Sorry, I did not get that.');
    await sim.press('123456#');
    expect(said(sim)).toContain('Order 123456 is shipped.');
    await sim.silence(); // anything else? no: goodbye
    await sim.settled();
    expect(said(sim).at(-1)).toBe('Goodbye.');
    expect(sim.state).toBe('ended');
    expectClean(sim);

    const interaction = await interactionOf(sim.callSid);
    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    const closed = await interactionOf(sim.callSid);
    expect(closed).toMatchObject({ status: 'closed', queue: null, assignee_id: null });
    expect(closed?.closed_reason).toBe('self-served in the IVR');
    // The steps reach the log shortly after each turn (channels/phone/step-log.ts).
    await until(async () => (await eventsOf(interaction!.id)).some((e) => e.payload.step === 'goodbye'));
    const events = await eventsOf(interaction!.id);
    const steps = events
      .filter((e) => e.type === 'ivr.step')
      .map((e) => `${String(e.payload.step)}:${String(e.payload.outcome)}`);
    expect(steps).toEqual([
      'greeting:said',
      'menu:prompted',
      'menu:matched',
      'order-number:prompted',
      'order-number:invalid',
      'order-number:collected',
      'order:answered',
      'anything-else:prompted',
      'anything-else:no input',
      'goodbye:self-served',
    ]);
    const types = events.map((e) => e.type);
    expect(types).not.toContain('ivr.handedOff');
    expect(types).not.toContain('routing.queued');
    const closedEvent = events.find((e) => e.type === 'interaction.closed');
    expect(closedEvent?.payload.wasWaiting).toBeUndefined();
    await until(async () => (await eventsOf(interaction!.id)).some((e) => e.type === 'call.ended'));
  });

  it('greets a caller whose number is a known customer by name', async () => {
    const from = '+14155550177';
    const known = await ctx.services.ingest({
      channel: 'chat',
      externalId: `chat-${Date.now()}`,
      identities: [{ kind: 'phone', value: from }],
      displayName: 'Grace Hopper',
      text: 'hello',
    });
    expect(known.isNewCustomer).toBe(true);
    const sim = simulator({ from });
    await sim.start();
    expect(said(sim)[0]).toBe('Welcome back, Grace.');
    await sim.hangup();
    expectClean(sim);
    const interaction = await interactionOf(sim.callSid);
    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    expect((await interactionOf(sim.callSid))?.closed_reason).toBe('caller hung up in the IVR');
    const { rows } = await ctx.services.pool.query<{ customer_id: string }>(
      'select customer_id from interactions where id = $1',
      [interaction!.id],
    );
    expect(rows[0]?.customer_id).toBe(known.customerId);
  });
});

describe('phone: queue and agent', () => {
  it('routes a known caller whose account has an owner to that owner, greeting them by name', async () => {
    const owner = await availableAgent();
    await availableAgent(); // Free too: longest-idle alone could pick either.
    const from = '+14155550188';
    const known = await ctx.services.ingest({
      channel: 'email',
      externalId: `mail-${Date.now()}`,
      identities: [
        { kind: 'email', value: `ada-${Date.now()}@example.com` },
        { kind: 'phone', value: from },
      ],
      displayName: 'Ada Lovelace',
      text: 'hello',
    });
    const accountId = await ctx.services.repositories.customers.createAccount({
      name: 'Analytical Engines',
      tier: 'standard',
      ownerAgentId: owner,
    });
    await ctx.services.repositories.customers.setAccount(known.customerId, accountId);
    const sim = simulator({ from });
    await sim.start();
    expect(said(sim)[0]).toBe('Welcome back, Ada.');
    await sim.press('1');
    await sim.waitFor((s) => s.state === 'queued');
    const interaction = await interactionOf(sim.callSid);
    expect(interaction?.queue).toBe('owners');
    await liveOfferFor(interaction!.id);
    const { rows } = await ctx.services.pool.query<{ agent_id: string }>(
      "select agent_id from offers where interaction_id = $1 and status = 'offered'",
      [interaction!.id],
    );
    expect(rows.map((r) => r.agent_id)).toEqual([owner]);
    await sim.hangup();
    expectClean(sim);
  });

  it('queues a billing caller with announcements, bridges the agent who accepts, and closes with durations', async () => {
    const clock = new ManualClock();
    const sim = simulator({ clock });
    await sim.start();
    await sim.say('billing please');
    await sim.waitFor((s) => s.state === 'queued');
    await sim.waitFor((s) => said(s).some((t) => t.startsWith('You are next in line.')));
    const interaction = await interactionOf(sim.callSid);
    expect(interaction).toMatchObject({ status: 'queued', queue: 'billing' });

    const agentId = await availableAgent();
    const offerId = await liveOfferFor(interaction!.id);
    await ctx.services.routing.offers.accept(offerId, agentId);
    const update = await api.waitFor((r) => r.operation === 'calls.update' && r.sid === sim.callSid);
    expect(update).toBeDefined();
    await sim.waitFor((s) => s.state === 'bridged');
    await until(async () => (await eventsOf(interaction!.id)).some((e) => e.type === 'call.bridged'));
    clock.advance(95);
    await sim.agentHangsUp();
    await sim.settled();
    expectClean(sim);

    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    expect(await interactionOf(sim.callSid)).toMatchObject({
      closed_reason: 'call ended',
      assignee_id: agentId,
    });
    const events = await eventsOf(interaction!.id);
    const ended = events.find((e) => e.type === 'call.ended');
    expect(ended?.payload).toMatchObject({ status: 'completed', purpose: 'caller', talkSeconds: 95 });
    expect(Number(ended?.payload.durationSeconds)).toBeGreaterThanOrEqual(95);
    expect(events.find((e) => e.type === 'call.bridged')?.payload).toMatchObject({
      agentId,
      endpoint: 'softphone',
    });
    expect(events.find((e) => e.type === 'ivr.handedOff')?.payload).toMatchObject({
      to: 'agent',
      hints: { ivrChoice: '1', locale: 'en-US' },
    });
    const { rows } = await ctx.services.pool.query<{ state: string }>(
      'select state from agent_states where agent_id = $1',
      [agentId],
    );
    expect(rows[0]?.state).toBe('wrap_up');
  });

  it('counts a caller who hangs up while waiting as abandoned', async () => {
    const sim = simulator();
    await sim.start();
    await sim.press('1');
    await sim.waitFor((s) => s.state === 'queued');
    const interaction = await interactionOf(sim.callSid);
    await sim.hangup();
    await sim.settled();
    expectClean(sim);
    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    expect((await interactionOf(sim.callSid))?.closed_reason).toBe('caller hung up while waiting');
    const events = await eventsOf(interaction!.id);
    expect(events.find((e) => e.type === 'interaction.closed')?.payload).toMatchObject({ wasWaiting: true });
    await until(async () => (await eventsOf(interaction!.id)).some((e) => e.type === 'call.ended'));
    const ended = (await eventsOf(interaction!.id)).find((e) => e.type === 'call.ended');
    expect(ended?.payload.waitSeconds).not.toBeNull();
    expect(ended?.payload.talkSeconds).toBeNull();
  });

  it('takes a callback request in the queue and calls back when an agent frees up', async () => {
    const from = '+14155550123';
    const sim = simulator({ from });
    await sim.start();
    await sim.press('1');
    await sim.waitFor((s) => s.state === 'queued');
    await sim.waitFor((s) => s.resting === 'gather' || said(s).some((t) => t.includes('press 1')));
    await sim.press('1');
    await sim.settled();
    expectClean(sim);
    expect(said(sim).some((t) => t.includes('We will call you back'))).toBe(true);
    const interaction = await interactionOf(sim.callSid);
    // The caller hung up but keeps their place in line.
    expect(interaction).toMatchObject({ status: 'queued', queue: 'billing' });
    const events = await eventsOf(interaction!.id);
    expect(events.find((e) => e.type === 'callback.requested')?.payload).toMatchObject({ number: from });

    const created = new Promise<CallRecord>((resolve) => api.once('call.created', resolve));
    const agentId = await availableAgent();
    const offerId = await liveOfferFor(interaction!.id);
    await ctx.services.routing.offers.accept(offerId, agentId);
    const call = await created;
    expect(call).toMatchObject({ to: from, from: '+18005550100' });
    const callee = await CallSimulator.answerOutbound(api, call, {
      serverUrl,
      publicBaseUrl,
      accountSid,
      authToken,
      api,
    });
    simulators.push(callee);
    await callee.waitFor((s) => s.state === 'bridged');
    expect(said(callee)[0]).toContain('we are returning your call');
    await callee.agentHangsUp();
    await callee.settled();
    expectClean(callee);
    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    const after = await eventsOf(interaction!.id);
    expect(after.map((e) => e.type)).toEqual(
      expect.arrayContaining(['call.placed', 'call.bridged', 'call.ended']),
    );
  });
});

describe('phone: agents', () => {
  it("rings an agent's own phone when they chose it, and records the call when recording is on", async () => {
    // A second process with recording on takes this call end to end (the accept too: the process that
    // connects the agent writes the Dial).
    const recording = await buildApp({
      config: { ...ctx.config, phone: { ...ctx.config.phone, isRecording: true } },
      isWorker: false,
    });
    await recording.app.listen({ port: 0, host: '127.0.0.1' });
    const recordingUrl = `http://127.0.0.1:${(recording.app.server.address() as AddressInfo).port}`;
    try {
      const sim = new CallSimulator({
        serverUrl: recordingUrl,
        publicBaseUrl,
        accountSid,
        authToken,
        api,
        from: randomCaller(),
        waitLoopMs: 100,
      });
      simulators.push(sim);
      await sim.start();
      await sim.press('1');
      await sim.waitFor((s) => s.state === 'queued');
      const interaction = await interactionOf(sim.callSid);
      const agentId = await availableAgent();
      await ctx.services.repositories.voice.setAgentPhone(agentId, '+14155550999');
      await recording.services.routing.offers.accept(await liveOfferFor(interaction!.id), agentId);
      await sim.waitFor((s) => s.state === 'bridged');
      const dial = sim.documents.find((d) => d.xml.includes('<Dial'));
      expect(dial?.xml).toContain('>+14155550999</Number>');
      expect(dial?.xml).toContain('record="record-from-answer-dual"');
      await sim.agentHangsUp();
      await sim.settled();
      expectClean(sim);
      await until(async () => (await eventsOf(interaction!.id)).some((e) => e.type === 'call.recorded'));
      const recorded = (await eventsOf(interaction!.id)).find((e) => e.type === 'call.recorded');
      const attachment = recorded?.payload.attachment as { id: string; sizeBytes: number };
      const { cookie } = await ctx.loginAs('agent');
      const download = await ctx.app.inject({
        method: 'GET',
        url: `/api/attachments/${attachment.id}`,
        headers: { cookie },
      });
      expect(download.statusCode).toBe(200);
      expect(download.rawPayload.length).toBe(attachment.sizeBytes);
      expect((await eventsOf(interaction!.id)).find((e) => e.type === 'call.bridged')?.payload).toMatchObject(
        { agentId, endpoint: 'phone' },
      );
    } finally {
      await recording.app.close();
    }
  });

  it("gives the softphone an access token with a voice grant for the agent's identity", async () => {
    const withKeys = await buildApp({
      config: {
        ...ctx.config,
        phone: {
          ...ctx.config.phone,
          apiKeySid: 'SK0123456789abcdef0123456789abcdef',
          apiKeySecret: 'key-secret',
          twimlAppSid: 'AP0123456789abcdef0123456789abcdef',
        },
      },
      isWorker: false,
    });
    try {
      const { cookie, agentId } = await ctx.loginAs('agent');
      const response = await withKeys.app.inject({
        method: 'GET',
        url: '/api/phone/token',
        headers: { cookie },
      });
      expect(response.statusCode).toBe(200);
      const { token, identity } = response.json<{ token: string; identity: string }>();
      expect(identity).toBe(`agent_${agentId}`);
      // An HS256 JWT signed with the API key's secret.
      const [header, payload, signature] = token.split('.') as [string, string, string];
      expect(createHmac('sha256', 'key-secret').update(`${header}.${payload}`).digest('base64url')).toBe(
        signature,
      );
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as {
        iss: string;
        sub: string;
        grants: Record<string, unknown>;
      };
      expect(claims).toMatchObject({ iss: 'SK0123456789abcdef0123456789abcdef', sub: accountSid });
      expect(claims.grants).toMatchObject({
        identity: `agent_${agentId}`,
        voice: {
          incoming: { allow: true },
          outgoing: { application_sid: 'AP0123456789abcdef0123456789abcdef' },
        },
      });
      // This test context has no API key: the softphone is off, said plainly.
      const off = await ctx.app.inject({ method: 'GET', url: '/api/phone/token', headers: { cookie } });
      expect(off.statusCode).toBe(503);
      expect(off.json<{ error: { code: string } }>().error.code).toBe('PHONE_CHANNEL_OFF');
    } finally {
      await withKeys.app.close();
    }
  });
});

describe('phone: transfers', () => {
  it('moves a connected caller to a colleague, then back into a queue, ringing whoever holds them', async () => {
    const sim = simulator();
    await sim.start();
    await sim.press('1');
    await sim.waitFor((s) => s.state === 'queued');
    const interaction = await interactionOf(sim.callSid);
    const first = await availableAgent();
    await ctx.services.routing.offers.accept(await liveOfferFor(interaction!.id), first);
    await sim.waitFor((s) => s.state === 'bridged');
    await until(async () => (await ctx.services.repositories.voice.callOf(sim.callSid))?.state === 'bridged');

    const second = await availableAgent();
    const updates = () => api.requests.filter((r) => r.operation === 'calls.update' && r.sid === sim.callSid);
    const before = updates().length;
    await ctx.services.transfers.transfer(
      interaction!.id,
      { agentId: first, role: 'agent' },
      { agentId: second },
      'billing question',
    );
    await until(async () => updates().length === before + 1);
    expect(String(updates().at(-1)?.params.Twiml)).toContain(`agent_${second}`);
    await until(async () => {
      const events = await eventsOf(interaction!.id);
      return events
        .filter((e) => e.type === 'call.bridged')
        .map((e) => e.payload.agentId)
        .includes(second);
    });
    expect((await ctx.services.repositories.voice.callOf(sim.callSid))?.agentId).toBe(second);

    await ctx.services.transfers.transfer(
      interaction!.id,
      { agentId: second, role: 'agent' },
      { queue: 'support' },
      null,
    );
    await until(async () => updates().length === before + 2);
    expect(String(updates().at(-1)?.params.Twiml)).toContain('<Enqueue');
    await sim.waitFor((s) => s.state === 'queued');
    // Waiting in support again (and offered at once: the first agent is free).
    expect(await interactionOf(sim.callSid)).toMatchObject({ queue: 'support', assignee_id: null });
    await sim.hangup();
    await sim.settled();
    expectClean(sim);
    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    expect((await interactionOf(sim.callSid))?.closed_reason).toBe('caller hung up while waiting');
  });
});

describe('phone: several processes', () => {
  it('takes the same webhook on two processes at once as one call, and any turn on either', async () => {
    const other = await buildApp({ config: ctx.config, isWorker: false });
    await other.app.listen({ port: 0, host: '127.0.0.1' });
    const otherUrl = `http://127.0.0.1:${(other.app.server.address() as AddressInfo).port}`;
    try {
      const params = {
        AccountSid: accountSid,
        ApiVersion: '2010-04-01',
        CallSid: `CA${Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('')}`,
        From: randomCaller(),
        To: '+18005550100',
        CallStatus: 'ringing',
        Direction: 'inbound',
      };
      const post = (base: string, path: string, body: Record<string, string>) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': twilio.getExpectedTwilioSignature(
              authToken,
              `${publicBaseUrl}${path}`,
              body,
            ),
          },
          body: new URLSearchParams(body).toString(),
        });
      const answers = await Promise.all(
        [serverUrl, otherUrl, serverUrl, otherUrl].map(async (base) => {
          const response = await post(base, '/webhooks/twilio/voice/incoming', params);
          expect(response.status).toBe(200);
          return response.text();
        }),
      );
      expect(new Set(answers).size).toBe(1);
      const { rows } = await ctx.services.pool.query<{ n: number }>(
        'select count(*)::int as n from interactions where external_id = $1',
        [params.CallSid],
      );
      expect(rows[0]?.n).toBe(1);
      const interaction = await interactionOf(params.CallSid);
      await until(async () => (await eventsOf(interaction!.id)).some((e) => e.payload.step === 'menu'));
      const steps = (await eventsOf(interaction!.id)).filter((e) => e.type === 'ivr.step');
      expect(steps.map((e) => e.payload.step)).toEqual(['greeting', 'menu']);
      // The caller's answer lands on the other process, which has the call's memory from Redis.
      const next = await post(otherUrl, '/webhooks/twilio/voice/ivr?seq=1', {
        ...params,
        CallStatus: 'in-progress',
        Digits: '3',
      });
      expect(await next.text()).toContain('Enter your order number');
    } finally {
      await other.app.close();
    }
  });
});

describe('phone: voicemail', () => {
  it('sends an after-hours caller to voicemail, keeps the recording and the transcript as their message', async () => {
    const sim = simulator();
    await sim.start();
    await sim.press('8');
    expect(said(sim)).toContain('Billing is closed.');
    await sim.record({ seconds: 12, transcript: 'Please call me back about my invoice.' });
    await sim.settled();
    expectClean(sim);
    expect(said(sim).at(-1)).toBe('Thank you for your message. Goodbye.');
    const interaction = await interactionOf(sim.callSid);
    // It waits in the closed queue for someone to call back.
    expect(interaction).toMatchObject({ status: 'queued', queue: 'night' });
    await until(async () => {
      const events = await eventsOf(interaction!.id);
      return (
        events.some(
          (e) => e.type === 'message.received' && (e.payload.attachments as unknown[] | undefined)?.length,
        ) &&
        events.some(
          (e) => e.type === 'message.received' && e.payload.text === 'Please call me back about my invoice.',
        )
      );
    });
    const events = await eventsOf(interaction!.id);
    const recording = events.find((e) => e.type === 'message.received' && e.payload.attachments);
    const attachment = (
      recording?.payload.attachments as { id: string; contentType: string; sizeBytes: number }[]
    )[0]!;
    expect(attachment.sizeBytes).toBeGreaterThan(0);
    const bytes = await ctx.services.pool.query<{ n: number }>(
      'select octet_length(content) as n from attachment_contents where storage_key = $1',
      [attachment.id],
    );
    expect(bytes.rows[0]?.n).toBe(attachment.sizeBytes);
    expect((await interactionOf(sim.callSid))?.status).toBe('queued');
  });
});

describe('phone: calls we place', () => {
  it("click-to-call: rings the agent, then dials the customer from the contact center's number", async () => {
    const sim = simulator();
    await sim.start();
    await sim.press('9'); // Leaves a message, which waits in support for a call back.
    await sim.record({ seconds: 5 });
    await sim.settled();
    const interaction = await interactionOf(sim.callSid);
    const { cookie, agentId } = await ctx.loginAs('agent');
    const supervisor = await ctx.loginAs('supervisor');
    await ctx.services.agentStates.setState(agentId, 'available');
    await ctx.services.routing.move(
      interaction!.id,
      'assign',
      { agentId: supervisor.agentId, role: 'supervisor' },
      { agentId },
      null,
    );
    const created = new Promise<CallRecord>((resolve) => api.once('call.created', resolve));
    const response = await ctx.app.inject({
      method: 'POST',
      url: '/api/phone/calls',
      headers: { cookie },
      payload: { interactionId: interaction!.id, to: sim.from },
    });
    expect(response.statusCode).toBe(201);
    const call = await created;
    expect(call).toMatchObject({ to: `client:agent_${agentId}`, from: '+18005550100' });
    const agentLeg = await CallSimulator.answerOutbound(api, call, {
      serverUrl,
      publicBaseUrl,
      accountSid,
      authToken,
      api,
    });
    simulators.push(agentLeg);
    await agentLeg.waitFor((s) => s.state === 'bridged');
    const dialled = agentLeg.documents.find((d) => d.xml.includes('<Number'));
    expect(dialled?.xml).toContain(`>${sim.from}</Number>`);
    expect(dialled?.xml).toContain('callerId="+18005550100"');
    await agentLeg.agentHangsUp();
    await agentLeg.settled();
    expectClean(agentLeg);
    await until(async () => (await interactionOf(sim.callSid))?.status === 'closed');
    const events = await eventsOf(interaction!.id);
    expect(events.find((e) => e.type === 'call.placed')?.payload).toMatchObject({
      purpose: 'click-to-call',
      agentId,
    });
    expect(events.find((e) => e.type === 'call.bridged')?.payload).toMatchObject({
      purpose: 'click-to-call',
    });

    // Not the agent's contact: refused.
    const other = await ctx.loginAs('agent');
    const refused = await ctx.app.inject({
      method: 'POST',
      url: '/api/phone/calls',
      headers: { cookie: other.cookie },
      payload: { interactionId: interaction!.id, to: sim.from },
    });
    expect(refused.statusCode).toBe(409); // closed meanwhile
    const bad = await ctx.app.inject({
      method: 'POST',
      url: '/api/phone/callbacks',
      headers: { cookie },
      payload: { number: 'not a number', at: new Date().toISOString() },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('places a scheduled callback at its time, through routing, from the agent who accepts it', async () => {
    const { cookie } = await ctx.loginAs('agent');
    const number = '+14155550166';
    const at = new Date(Date.now() + 1500);
    const response = await ctx.app.inject({
      method: 'POST',
      url: '/api/phone/callbacks',
      headers: { cookie },
      payload: { number, at: at.toISOString(), note: 'Call about the renewal' },
    });
    expect(response.statusCode).toBe(201);
    const agentId = await availableAgent();
    const created = new Promise<CallRecord>((resolve) => api.once('call.created', resolve));
    let offerId: string | undefined;
    const interactionId = await waitFor(async () => {
      const { rows } = await ctx.services.pool.query<{ id: string; offer: string | null }>(
        `select i.id, (select o.id from offers o where o.interaction_id = i.id and o.status = 'offered') as offer
           from interactions i where i.external_id = $1`,
        [`scheduled-callback-${number}-${at.getTime()}`],
      );
      offerId = rows[0]?.offer ?? undefined;
      return offerId ? rows[0]?.id : undefined;
    });
    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime());
    await ctx.services.routing.offers.accept(offerId!, agentId);
    const call = await created;
    expect(call.to).toBe(number);
    const callee = await CallSimulator.answerOutbound(api, call, {
      serverUrl,
      publicBaseUrl,
      accountSid,
      authToken,
      api,
    });
    simulators.push(callee);
    await callee.waitFor((s) => s.state === 'bridged');
    await callee.agentHangsUp();
    await callee.settled();
    expectClean(callee);
    await until(async () => {
      const { rows } = await ctx.services.pool.query<{ status: string }>(
        'select status from interactions where id = $1',
        [interactionId],
      );
      return rows[0]?.status === 'closed';
    });
    const types = (await eventsOf(interactionId)).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['callback.requested', 'call.placed', 'call.bridged', 'call.ended']),
    );
  });
});

describe('phone: webhooks', () => {
  it('refuses a bad or missing signature with 403 and logs nothing', async () => {
    const params = {
      CallSid: `CA${'1'.repeat(32)}`,
      From: '+14155550100',
      To: '+18005550100',
      CallStatus: 'ringing',
    };
    const body = new URLSearchParams(params).toString();
    const url = `${publicBaseUrl}/webhooks/twilio/voice/incoming`;
    const wrong = twilio.getExpectedTwilioSignature('not-the-token', url, params);
    for (const headers of [{ 'x-twilio-signature': wrong }, {}]) {
      const response = await ctx.app.inject({
        method: 'POST',
        url: '/webhooks/twilio/voice/incoming',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload: body,
      });
      expect(response.statusCode).toBe(403);
      expect(response.json<{ error: { code: string } }>().error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    // Signed over the URL the server sees rather than the public one: refused too.
    const local = twilio.getExpectedTwilioSignature(
      authToken,
      'http://localhost/webhooks/twilio/voice/incoming',
      params,
    );
    const response = await ctx.app.inject({
      method: 'POST',
      url: '/webhooks/twilio/voice/incoming',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': local },
      payload: body,
    });
    expect(response.statusCode).toBe(403);
    expect(await interactionOf(params.CallSid)).toBeUndefined();
  });

  it('answers a repeated webhook exactly as before and changes nothing', async () => {
    const sim = simulator();
    await sim.start();
    await sim.press('3');
    const interaction = await interactionOf(sim.callSid);
    await until(async () => (await eventsOf(interaction!.id)).some((e) => e.payload.step === 'order-number'));
    const before = await eventsOf(interaction!.id);
    for (const sent of [sim.requestsFor('incoming')[0]!, sim.requestsFor('gather-action')[0]!]) {
      const path = new URL(sent.url);
      const response = await ctx.app.inject({
        method: 'POST',
        url: `${path.pathname}${path.search}`,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, sent.url, sent.params),
        },
        payload: new URLSearchParams(sent.params).toString(),
      });
      expect(response.statusCode).toBe(200);
      expect(response.body).toBe(sent.body);
    }
    expect(await eventsOf(interaction!.id)).toEqual(before);
    const { rows } = await ctx.services.pool.query<{ n: number }>(
      'select count(*)::int as n from interactions where external_id = $1',
      [sim.callSid],
    );
    expect(rows[0]?.n).toBe(1);
    await sim.hangup();
    expectClean(sim);
  });

  it('verifies the published signature vector', () => {
    expect(
      twilio.validateRequest(
        '12345',
        'GvWf1cFY/Q7PnoempGyD5oXAezc=',
        'https://mycompany.com/myapp.php?foo=1&bar=2',
        {
          CallSid: 'CA1234567890ABCDE',
          Caller: '+14158675310',
          Digits: '1234',
          From: '+14158675310',
          To: '+18005551212',
        },
      ),
    ).toBe(true);
  });
});

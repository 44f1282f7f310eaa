import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newSid,
  silentWav,
  TwilioApiDouble,
  formValue,
} from '../../channels/phone/simulator/twilio-api-double.js';
import type { InteractionEventPayloads } from '../../src/events.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, testConfig, type TestContext } from '../support/test-context.js';

/*
 * Calls in the agent console, in a real Chromium against the real server with its phone channel on. Twilio
 * cannot be reached from here: the softphone's Device never registers, and the console must say so (offline,
 * with the reason) and keep working. Twilio's REST API is the local double (channels/phone/simulator), so the
 * server's own call code runs unchanged: connecting the agent, hold and resume, the recording downloads.
 *
 * The caller's side is played through the server's code paths: the call is ingested and goes through the
 * IVR (the voice repository logs the steps and the hand-off, as the IVR runner does), routing offers it,
 * the agent accepts in the browser, and the agent's answer (the whisper webhook), the recordings and the
 * voicemail transcript arrive through the phone channel's own handlers.
 */

const password = 'correct horse battery';
const caller = '+14155550100';
const ourNumber = '+18005550100';

describe('calls in the agent console', () => {
  let ctx: TestContext;
  let twilioApi: TwilioApiDouble;
  let browser: Browser;
  let page: Page;
  let agentId: string;
  const rules = writeRulesFolder();
  const pageErrors: string[] = [];
  const requested: string[] = [];

  beforeAll(async () => {
    const phone = testConfig().phone;
    twilioApi = await TwilioApiDouble.start({ accountSid: phone.accountSid, authToken: phone.authToken! });
    ctx = await createTestContext({
      config: { routingRulesDir: rules.dir, phone: { ...phone, apiBaseUrl: twilioApi.url } },
    });
    const baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => requested.push(new URL(request.url()).pathname));
    agentId = (
      await ctx.services.agents.create(
        { email: 'grace@e2e.switchboard', displayName: 'Grace Agent', role: 'agent', password },
        null,
      )
    ).id;
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    await twilioApi?.close();
    rules.remove();
  });

  const phoneChannel = () => {
    const phone = ctx.services.phone;
    if (!phone) throw new Error('the phone channel is off in the test server');
    return phone;
  };

  it('shows the softphone offline with the reason, and saves where calls reach the agent', async () => {
    await page.goto('/');
    await page.getByLabel('Email').fill('grace@e2e.switchboard');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Connected').waitFor();

    // The server hands out a token; Twilio is out of reach, so the Device reports why it is not registered.
    const softphone = page.getByTestId('softphone');
    await expect.poll(() => softphone.getAttribute('data-state'), { timeout: 25_000 }).toBe('offline');
    expect((await page.getByTestId('softphone-reason').textContent())?.replace(/^:\s*/, '')).toMatch(/\w{3}/);
    await saveScreenshot(page, 'console-phone-offline');
    // The Voice SDK came as a chunk of its own, loaded once there was a token.
    expect(requested.filter((path) => /^\/assets\/twilio-[\w-]+\.js$/.test(path))).toHaveLength(1);

    // A number that is not one is refused with the server's message; a real one is saved normalized.
    await page.getByTestId('phone-device-open').click();
    const form = page.getByTestId('phone-device');
    await form.getByTestId('phone-device-own').check();
    await form.getByTestId('phone-device-number').fill('call me maybe');
    await form.getByTestId('phone-device-save').click();
    await expect
      .poll(() => form.getByTestId('phone-device-error').textContent())
      .toBe('That is not a phone number.');
    expect(await ctx.services.repositories.voice.agentPhoneOf(agentId)).toBeNull();

    await form.getByTestId('phone-device-number').fill('(415) 555-0123');
    await form.getByTestId('phone-device-save').click();
    await form.waitFor({ state: 'detached' });
    await expect
      .poll(() => page.getByTestId('phone-device-open').textContent())
      .toBe('Calls to +14155550123');
    expect(await ctx.services.repositories.voice.agentPhoneOf(agentId)).toBe('+14155550123');

    // Back to the softphone (the calls below ring the browser's client).
    await page.getByTestId('phone-device-open').click();
    await form.getByTestId('phone-device-softphone').check();
    await form.getByTestId('phone-device-save').click();
    await expect
      .poll(() => page.getByTestId('phone-device-open').textContent())
      .toBe('Calls to this browser');
    expect(await ctx.services.repositories.voice.agentPhoneOf(agentId)).toBeNull();
  });

  it('takes a call: screen pop, call panel, IVR path, hold and resume, recording, voicemail, close', async () => {
    const { voice } = ctx.services.repositories;
    const calls = phoneChannel().calls;

    // An earlier call from the same number went to voicemail: its audio and transcript are the customer's.
    const voicemailSid = newSid('CA');
    const earlier = await ctx.services.ingest({
      channel: 'voice',
      externalId: voicemailSid,
      identities: [{ kind: 'phone', value: caller }],
      hints: { receivedOn: ourNumber },
      details: { callSid: voicemailSid, from: caller, to: ourNumber },
      isRoutingDeferred: true,
    });
    await voice.recordCall({
      callSid: voicemailSid,
      interactionId: earlier.interactionId,
      direction: 'inbound',
      purpose: 'caller',
      fromNumber: caller,
      toNumber: ourNumber,
      state: 'voicemail',
      isIvr: true,
    });
    const voicemailRecording = newSid('RE');
    twilioApi.addRecording(voicemailRecording, silentWav(2), 'audio/x-wav', { callSid: voicemailSid });
    await calls.fetchRecording({
      callSid: voicemailSid,
      recordingSid: voicemailRecording,
      recordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${ctx.config.phone.accountSid}/Recordings/${voicemailRecording}`,
      durationSeconds: 2,
      kind: 'voicemail',
    });
    await calls.transcription({
      CallSid: voicemailSid,
      TranscriptionSid: newSid('TR'),
      TranscriptionStatus: 'completed',
      TranscriptionText: 'Hi, this is about invoice 42, please call me back.',
      RecordingSid: voicemailRecording,
    });

    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');

    // Today's call: in the IVR first (not routed), then handed to people and routed.
    const callSid = newSid('CA');
    twilioApi.addCall({
      sid: callSid,
      from: caller,
      to: ourNumber,
      direction: 'inbound',
      status: 'in-progress',
    });
    const { interactionId } = await ctx.services.ingest({
      channel: 'voice',
      externalId: callSid,
      identities: [{ kind: 'phone', value: caller }],
      hints: { receivedOn: ourNumber },
      details: { callSid, from: caller, to: ourNumber },
      isRoutingDeferred: true,
    });
    await voice.recordCall({
      callSid,
      interactionId,
      direction: 'inbound',
      purpose: 'caller',
      fromNumber: caller,
      toNumber: ourNumber,
      state: 'ivr',
      isIvr: true,
    });
    const step = (
      fields: Pick<InteractionEventPayloads['ivr.step'], 'step' | 'kind' | 'outcome'> &
        Partial<InteractionEventPayloads['ivr.step']>,
    ): InteractionEventPayloads['ivr.step'] => ({ flow: 'main', language: 'en-US', ...fields });
    // The steps of one caller turn, logged as the step log (channels/phone/step-log.ts) writes them.
    let turnNumber = 0;
    const logTurn = (steps: InteractionEventPayloads['ivr.step'][]) =>
      voice.logTurns([{ interactionId, turn: `e2e:${turnNumber++}`, at: new Date().toISOString(), steps }]);
    await logTurn([step({ step: 'welcome', kind: 'say', outcome: 'said' })]);
    await logTurn([
      step({ step: 'main-menu', kind: 'menu', outcome: 'no match', input: { speech: 'bill' }, attempt: 1 }),
    ]);
    await logTurn([
      step({
        step: 'main-menu',
        kind: 'menu',
        outcome: 'matched',
        input: { speech: 'billing' },
        detail: '1',
      }),
      step({
        step: 'account',
        kind: 'collect',
        outcome: 'collected',
        input: { digits: '12345' },
        detail: 'accountNumber',
      }),
    ]);
    expect(
      await voice.handOff(interactionId, {
        flow: 'main',
        step: 'to-agent',
        to: 'agent',
        reason: 'caller chose',
        hints: { ivrChoice: '1', locale: 'en-US' },
      }),
    ).toBe(true);
    // As the phone channel does on a hand-off: route, then the caller waits in the queue.
    const outcome = await ctx.services.routing.route(interactionId);
    expect(outcome).toMatchObject({ status: 'queued', queue: 'general' });
    await voice.transition(callSid, 'queued', { from: ['ivr'] });
    const queuedId = await voice.log(interactionId, 'call.queued', {
      callSid,
      queue: 'general',
      position: 1,
      estimatedWaitSeconds: 90,
    });
    ctx.services.events.publish('call.updated', {
      interactionId,
      eventId: queuedId,
      type: 'call.queued',
      state: 'queued',
    });

    // The screen pop: the number calling and the IVR path it took.
    const toast = page.getByTestId('offer-toast');
    await toast.waitFor();
    await expect.poll(() => toast.getByTestId('offer-caller').textContent()).toBe(caller);
    await expect
      .poll(() => toast.getByTestId('offer-ivr').textContent())
      .toBe('welcome → main-menu → account · IVR → agent (caller chose; ivrChoice 1, en-US)');
    await saveScreenshot(page, 'console-phone-offer');

    // Accepted: the server connects the agent (a REST update of the call that dials the agent's client).
    await page.keyboard.press('a');
    await toast.waitFor({ state: 'detached' });
    const dialled = await twilioApi.waitFor((r) => r.operation === 'calls.update' && r.sid === callSid);
    expect(formValue(dialled.params, 'Twiml')).toContain(`<Client`);
    expect(formValue(dialled.params, 'Twiml')).toContain(`agent_${agentId}`);

    const conversation = page.getByTestId('conversation');
    const panel = conversation.getByTestId('call-panel');
    await panel.waitFor();
    await expect.poll(() => panel.locator('.call-parties').textContent()).toContain(caller);

    const current = conversation.locator('[data-testid="timeline-run"][data-current="true"]');
    // The timeline: the call arriving, the IVR path folded into one block (opened on demand), the hand-off,
    // the queue. A call takes notes, not written replies.
    await current
      .getByTestId('call-arrival')
      .getByText(`Incoming call from ${caller} to ${ourNumber}`)
      .waitFor();
    expect(await conversation.getByRole('tab').allTextContents()).toEqual(['Internal note']);
    const ivrPath = current.getByTestId('ivr-path');
    await expect
      .poll(() => ivrPath.locator('summary').textContent())
      .toMatch(/^IVR path: welcome → main-menu → account · 4 steps/);
    expect(await ivrPath.getByTestId('ivr-step').first().isVisible()).toBe(false);
    await ivrPath.locator('summary').click();
    await expect
      .poll(() => ivrPath.getByTestId('ivr-step').allTextContents())
      .toEqual([
        'IVR welcome: said',
        "IVR main-menu: no match (said 'bill')",
        "IVR main-menu: matched 1 (said 'billing')",
        'IVR account: collected accountNumber (pressed 12345)',
      ]);
    await current
      .locator('[data-type="ivr.handedOff"]')
      .getByText('IVR → agent (caller chose; ivrChoice 1, en-US)')
      .waitFor();
    await current
      .locator('[data-type="call.queued"]')
      .getByText('Waiting in general: position 1, estimated wait 1:30')
      .waitFor();

    // The agent answers (Twilio runs the whisper on the agent's leg): the call is connected, the timer runs.
    await calls.whisper({ CallSid: newSid('CA'), To: `client:agent_${agentId}` }, callSid, agentId);
    const state = panel.getByTestId('call-state');
    await expect.poll(() => state.getAttribute('data-state')).toBe('bridged');
    await expect.poll(() => state.textContent()).toBe('Connected');
    await expect.poll(() => panel.getByTestId('call-timer').textContent()).toMatch(/^\d+:\d\d$/);
    await current
      .locator('[data-type="call.bridged"]')
      .getByText('Call connected to you on the softphone')
      .waitFor();
    // No softphone call here (the Device never registered): mute and hang up have nothing to act on.
    expect(await panel.getByTestId('call-mute').isDisabled()).toBe(true);
    expect(await panel.getByTestId('call-hangup').isDisabled()).toBe(true);

    // Hold: the request goes out, the server moves the caller to hold music, the console follows.
    const hold = panel.getByTestId('call-hold');
    const [holdRequest] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith(`/api/phone/calls/${interactionId}/hold`)),
      hold.click(),
    ]);
    expect(holdRequest.postDataJSON()).toEqual({ isOnHold: true });
    expect((await holdRequest.response())?.status()).toBe(200);
    await expect.poll(() => state.getAttribute('data-state')).toBe('on-hold');
    await expect.poll(() => hold.textContent()).toBe('Resume');
    expect(await hold.getAttribute('aria-pressed')).toBe('true');
    const held = await twilioApi.waitFor(
      (r) =>
        r.operation === 'calls.update' &&
        formValue(r.params, 'Twiml')?.includes('switchboard-hold-') === true,
    );
    expect(held.sid).toBe(callSid);
    await current.locator('[data-type="call.held"]').getByText('Put on hold by you').waitFor();
    await saveScreenshot(page, 'console-phone-on-hold');

    // Resume: the agent is rung again.
    const [resumeRequest] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith(`/api/phone/calls/${interactionId}/hold`)),
      hold.click(),
    ]);
    expect(resumeRequest.postDataJSON()).toEqual({ isOnHold: false });
    await expect.poll(() => state.getAttribute('data-state')).toBe('ringing');
    await current.locator('[data-type="call.held"]').getByText('Taken off hold by you').waitFor();
    await panel.getByTestId('call-softphone-offline').waitFor();

    // The caller hangs up as the agent presses Hold, before the console heard of it: the server refuses
    // (409 NO_LIVE_CALL) and the console says so, then shows the call ended.
    await voice.transition(callSid, 'ended');
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/phone/calls/${interactionId}/hold`)),
      hold.click(),
    ]);
    expect(refused.status()).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'NO_LIVE_CALL' } });
    await expect
      .poll(() => panel.getByTestId('call-error').textContent())
      .toBe('That contact has no call of yours in progress.');
    await expect.poll(() => state.getAttribute('data-state')).toBe('ended');
    expect(await hold.isDisabled()).toBe(true);

    // The end of the leg is logged with its durations, and the call's recording arrives.
    const endedId = await voice.log(interactionId, 'call.ended', {
      callSid,
      purpose: 'caller',
      status: 'completed',
      durationSeconds: 185,
      waitSeconds: 42,
      talkSeconds: 131,
    });
    ctx.services.events.publish('call.updated', {
      interactionId,
      eventId: endedId,
      type: 'call.ended',
      state: 'ended',
    });
    await current
      .locator('[data-type="call.ended"]')
      .getByText('Call ended (completed) · total 3:05 · wait 0:42 · talk 2:11')
      .waitFor();
    const callRecording = newSid('RE');
    twilioApi.addRecording(callRecording, silentWav(1), 'audio/x-wav', { callSid });
    await calls.fetchRecording({
      callSid,
      recordingSid: callRecording,
      recordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${ctx.config.phone.accountSid}/Recordings/${callRecording}`,
      durationSeconds: 131,
      kind: 'call',
    });
    const recording = current.getByTestId('call-recording');
    await recording.getByText(/^Call recording · 2:11/).waitFor();
    expect(await recording.locator('audio[controls]').getAttribute('src')).toMatch(
      /^\/api\/attachments\/[\w-]+$/,
    );
    expect(await recording.getByTestId('audio-download').getAttribute('download')).toBe(
      `${callRecording}.wav`,
    );

    // The earlier voicemail, in its own run: a player that loads the audio, and the transcript.
    const earlierRun = conversation.locator(
      `[data-testid="timeline-run"][data-interaction="${earlier.interactionId}"]`,
    );
    const voicemail = earlierRun.getByTestId('voicemail');
    const audio = voicemail.locator('audio[controls]');
    await audio.waitFor();
    await expect
      .poll(() => audio.evaluate((element: HTMLAudioElement) => element.readyState), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(1);
    expect(await audio.evaluate((element: HTMLAudioElement) => Math.round(element.duration))).toBe(2);
    await earlierRun
      .getByTestId('voicemail-transcript')
      .getByText('Hi, this is about invoice 42, please call me back.')
      .waitFor();
    expect(await earlierRun.getByTestId('voicemail-transcript').textContent()).toContain(
      'Voicemail transcript:',
    );

    // Transfer and wrap-up work on a call as on any contact: the picker opens; Close ends the contact.
    await conversation.getByTestId('transfer-open').click();
    await conversation.getByTestId('transfer-panel').waitFor();
    await conversation.getByTestId('transfer-panel').getByRole('button', { name: 'Cancel' }).click();
    await saveScreenshot(page, 'console-phone-call');
    await conversation.getByTestId('close-interaction').click();
    await expect
      .poll(async () => (await ctx.services.interactions.detail(interactionId)).interaction.status)
      .toBe('closed');
    await current.locator('[data-type="interaction.closed"]').waitFor();

    expect(pageErrors).toEqual([]);
  }, 60_000);
  it('shows a discreet "Phone off" when the server has no phone channel, and never loads the SDK', async () => {
    const phone = testConfig().phone;
    const off = await createTestContext({
      config: { routingRulesDir: rules.dir, phone: { ...phone, authToken: undefined } },
    });
    const offPage = await browser.newPage({
      baseURL: await off.app.listen({ host: '127.0.0.1', port: 0 }),
      viewport: { width: 1360, height: 900 },
    });
    const offRequests: string[] = [];
    const offErrors: string[] = [];
    offPage.on('request', (request) => offRequests.push(new URL(request.url()).pathname));
    offPage.on('pageerror', (error) => offErrors.push(error.message));
    try {
      await off.services.agents.create(
        { email: 'linus@e2e.switchboard', displayName: 'Linus Agent', role: 'agent', password },
        null,
      );
      await offPage.goto('/');
      await offPage.getByLabel('Email').fill('linus@e2e.switchboard');
      await offPage.getByLabel('Password').fill(password);
      await offPage.getByRole('button', { name: 'Log in' }).click();
      await offPage.getByText('Connected').waitFor();
      const softphone = offPage.getByTestId('softphone');
      await expect.poll(() => softphone.getAttribute('data-state')).toBe('off');
      expect(await softphone.textContent()).toBe('Phone off');
      expect(await offPage.getByTestId('phone-device-open').count()).toBe(0);
      expect(await offPage.locator('.problem').count()).toBe(0);
      expect(offRequests).toContain('/api/phone/token');
      expect(offRequests.filter((path) => /twilio/.test(path))).toEqual([]);
      expect(offErrors).toEqual([]);
    } finally {
      await offPage.close();
      await off.close();
    }
  });
});

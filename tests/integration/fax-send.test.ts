import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaxApiDouble, type FaxApiDouble } from '../support/fax-api-double.js';
import { signSignalWire, telnyxKeys, telnyxOutboundEvent, telnyxRequest } from '../support/fax-signing.js';
import { createTestContext, testConfig, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * Replies by fax through the providers that fetch the document (Telnyx, SignalWire): the server listens on
 * its public address, the provider's stand-in fetches the reply's PDF from the signed link it was given, and
 * the provider's status reports settle the send (a failure shows on the reply).
 */

const telnyx = telnyxKeys();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.each(['telnyx', 'signalwire'] as const)('replies by fax through %s', (provider) => {
  let ctx: TestContext;
  let api: FaxApiDouble;
  let publicBaseUrl: string;

  beforeAll(async () => {
    api = await startFaxApiDouble();
    const port = await freePort();
    publicBaseUrl = `http://127.0.0.1:${port}`;
    const base = testConfig().fax;
    ctx = await createTestContext({
      isWorker: true,
      config: {
        publicBaseUrl,
        fax: {
          ...base,
          sendProvider: provider,
          telnyx: {
            publicKey: telnyx.publicKey,
            apiKey: api.credentials.telnyx.apiKey,
            connectionId: api.credentials.telnyx.connectionId,
            apiBaseUrl: api.baseUrl,
            toleranceSeconds: 300,
          },
          signalwire: {
            signingKey: base.signalwire.signingKey,
            spaceUrl: api.baseUrl,
            projectId: api.credentials.signalwire.projectId,
            apiToken: api.credentials.signalwire.apiToken,
          },
        },
      },
    });
    await ctx.app.listen({ host: '127.0.0.1', port });
  });

  afterAll(async () => {
    await ctx?.close();
    await api?.close();
  });

  /** A fax contact from `number`, answered by a supervisor; resolves with the reply's event id. */
  async function reply(number: string, text: string): Promise<string> {
    const { interactionId } = await ctx.services.ingest({
      channel: 'fax',
      externalId: `send-test:${number}`,
      identities: [{ kind: 'fax', value: number }],
      subject: 'Fax from a clinic, 1 page',
      text: 'Please confirm the appointment.',
    });
    const { agentId } = await ctx.loginAs('supervisor');
    const sent = await ctx.services.outbound.reply(
      interactionId,
      { id: agentId, role: 'supervisor', displayName: 'Sam Supervisor' },
      { text },
    );
    return sent.id;
  }

  const sendsOf = () => api.sent[provider].filter((s) => s.providerFaxId);

  it('hands the provider a signed link it fetches the rendered PDF from, once', async () => {
    const eventId = await reply('+14155550401', 'Your appointment is confirmed for Monday at 9.');
    // The stand-in records the id before its fetch of the link ends: wait for both.
    const send = await waitFor(() => sendsOf().find((s) => s.to === '+14155550401' && s.media));
    expect(send.from).toBe('+18005550199');
    expect(send.mediaUrl).toMatch(
      new RegExp(`^${publicBaseUrl}/webhooks/fax/media/${eventId}\\.\\d+\\.[\\w-]{43}\\.pdf$`),
    );
    expect(send.media).toMatchObject({ isFetched: true, status: 200, contentType: 'application/pdf' });
    const bytes = (send.media as { bytes: Buffer }).bytes;
    expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
    expect(send.statusCallbackUrl).toBe(
      provider === 'telnyx'
        ? `${publicBaseUrl}/webhooks/fax/telnyx`
        : `${publicBaseUrl}/webhooks/fax/signalwire/status`,
    );
    const row = await waitFor(async () => {
      const found = await ctx.services.db
        .selectFrom('fax_sends')
        .selectAll()
        .where('message_event_id', '=', eventId)
        .executeTakeFirst();
      return found?.provider_fax_id ? found : undefined;
    });
    expect(row).toMatchObject({ provider, status: 'sending', to_number: '+14155550401' });
    // A retried delivery job sends nothing more.
    await ctx.services.outbound.deliver(eventId);
    expect(sendsOf().filter((s) => s.to === '+14155550401')).toHaveLength(1);
  });

  it("settles the send by the provider's reports: delivered, and a failure shown on the reply", async () => {
    const delivered = await reply('+14155550402', 'Delivered, we hope.');
    const failed = await reply('+14155550403', 'This one will not get through.');
    const idOf = async (eventId: string) =>
      waitFor(async () => {
        const row = await ctx.services.db
          .selectFrom('fax_sends')
          .select('provider_fax_id')
          .where('message_event_id', '=', eventId)
          .executeTakeFirst();
        return row?.provider_fax_id ?? undefined;
      });
    const [deliveredId, failedId] = [await idOf(delivered), await idOf(failed)];

    const report = async (providerFaxId: string, outcome: 'delivered' | 'failed') => {
      if (provider === 'telnyx') {
        const event = telnyxOutboundEvent(outcome === 'delivered' ? 'fax.delivered' : 'fax.failed', {
          fax_id: providerFaxId,
        });
        const { rawBody, headers } = telnyxRequest(telnyx, event);
        return ctx.app.inject({ method: 'POST', url: '/webhooks/fax/telnyx', payload: rawBody, headers });
      }
      const path = '/webhooks/fax/signalwire/status';
      const params: Record<string, string> = {
        FaxSid: providerFaxId,
        FaxStatus: outcome,
        NumPages: '1',
        ...(outcome === 'failed' && { ErrorCode: '15001', ErrorMessage: 'No answer' }),
      };
      return ctx.app.inject({
        method: 'POST',
        url: path,
        payload: new URLSearchParams(params).toString(),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-signalwire-signature': signSignalWire(
            testConfig().fax.signalwire.signingKey!,
            publicBaseUrl + path,
            params,
          ),
        },
      });
    };
    expect((await report(deliveredId, 'delivered')).statusCode).toBeLessThan(300);
    expect((await report(failedId, 'failed')).statusCode).toBeLessThan(300);
    // A repeat of the failure changes nothing.
    expect((await report(failedId, 'failed')).statusCode).toBeLessThan(300);

    const statusOf = async (eventId: string) =>
      (
        await ctx.services.db
          .selectFrom('fax_sends')
          .select('status')
          .where('message_event_id', '=', eventId)
          .executeTakeFirstOrThrow()
      ).status;
    expect(await statusOf(delivered)).toBe('delivered');
    expect(await statusOf(failed)).toBe('failed');
    const failures = await ctx.services.db
      .selectFrom('interaction_events')
      .select('payload')
      .where('type', '=', 'message.failed')
      .execute();
    const mine = failures.filter((f) => (f.payload as { messageEventId: string }).messageEventId === failed);
    expect(mine).toHaveLength(1);
    expect((mine[0]!.payload as { reason: string }).reason).toMatch(/could not be delivered/);
    expect(failures.some((f) => (f.payload as { messageEventId: string }).messageEventId === delivered)).toBe(
      false,
    );
  });
});

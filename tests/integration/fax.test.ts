import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEventPayloads } from '../../src/events.js';
import { makeFaxPdf, makeFaxTiff } from '../support/fax-fixtures.js';
import { startFaxApiDouble, type FaxApiDouble } from '../support/fax-api-double.js';
import {
  hylafaxFields,
  hylafaxMultipart,
  phaxioFields,
  phaxioMultipart,
  phaxioReceivedFax,
  phaxioSentFax,
  signalWireFaxParams,
  signSignalWire,
  telnyxFaxFailed,
  telnyxFaxReceived,
  telnyxKeys,
  telnyxRequest,
} from '../support/fax-signing.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, testConfig, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * The fax channel end to end on real Postgres and Redis, with the job worker on: each provider's webhook,
 * signed exactly as the provider signs it, with real multi-page fax TIFFs and PDFs (made with ImageMagick
 * and libtiff's tools) served from a local HTTP server as the provider's media link. What must never
 * happen: a fax logged twice (repeats, out-of-order events, two processes), a fax dropped (an expired link
 * is retried, then logged flagged), a forged or stale request taken.
 */

const publicBaseUrl = 'http://localhost:3000';
const telnyx = telnyxKeys();

/** The provider's file server: serves documents by path, counts requests, and can fail some first. */
class MediaServer {
  readonly hits = new Map<string, number>();
  readonly #files = new Map<string, { content: Buffer; type: string; failFirst: number; status: number }>();
  #server!: Server;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      const hits = (this.hits.get(path) ?? 0) + 1;
      this.hits.set(path, hits);
      const file = this.#files.get(path);
      if (!file) return response.writeHead(404).end('NoSuchKey');
      if (hits <= file.failFirst) return response.writeHead(file.status).end('Request has expired');
      response.writeHead(200, { 'content-type': file.type, 'content-length': file.content.length });
      response.end(file.content);
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Serves `content` at `path`; the first `failFirst` requests get `status` (403: an expired S3 link). */
  serve(path: string, content: Buffer, type: string, options: { failFirst?: number; status?: number } = {}) {
    this.#files.set(path, {
      content,
      type,
      failFirst: options.failFirst ?? 0,
      status: options.status ?? 403,
    });
    return `${this.url}${path}`;
  }

  close = () => new Promise<void>((resolve) => this.#server.close(() => resolve()));
}

interface LoggedFax {
  interactionId: string;
  messages: InteractionEventPayloads['message.received'][];
  fax: Record<string, unknown> & { pages: { number: number; imageId: string }[]; problems: string[] };
}

describe('the fax channel', () => {
  let ctx: TestContext;
  let media: MediaServer;
  let api: FaxApiDouble;
  let g4: Buffer;
  let pdf: Buffer;
  const rules = writeRulesFolder(`
queues:
  - { name: referrals, strategy: longest-idle, channels: [fax] }
  - { name: faxes, strategy: longest-idle, channels: [fax] }
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax] }
rules:
  - { name: fax-referrals, when: { channel: fax, keywords: referral }, queue: referrals, priority: 70 }
  - { name: fax, when: { channel: fax }, queue: faxes, priority: 40 }
  - { name: default, queue: general, priority: 0 }
capacity:
  fax: { max: 2 }
options:
  offerTimeoutSeconds: 600
`);

  beforeAll(async () => {
    media = new MediaServer();
    await media.start();
    api = await startFaxApiDouble({
      credentials: { phaxio: { apiKey: 'test-phaxio-key', apiSecret: 'test-phaxio-secret' } },
    });
    ctx = await createTestContext({
      isWorker: true,
      config: {
        routingRulesDir: rules.dir,
        publicBaseUrl,
        fax: {
          ...testConfig().fax,
          telnyx: {
            publicKey: telnyx.publicKey,
            apiKey: undefined,
            connectionId: undefined,
            apiBaseUrl: undefined,
            toleranceSeconds: 300,
          },
          phaxio: {
            callbackToken: 'test-phaxio-callback-token',
            apiKey: 'test-phaxio-key',
            apiSecret: 'test-phaxio-secret',
            apiBaseUrl: api.baseUrl,
          },
        },
      },
    });
    [g4, pdf] = await Promise.all([
      makeFaxTiff(['INVOICE 4471 from Acme Clinic', 'Page two: REFERRAL CARDIOLOGY', 'Third page ends'], {
        compression: 'g4',
        resolution: 'fine',
      }),
      makeFaxPdf(['Prior authorization request', 'Member number 88812']),
    ]);
  }, 60_000);

  afterAll(async () => {
    await ctx?.close();
    await media?.close();
    await api?.close();
  });

  /** The fax interaction whose message names this provider fax id, once logged. */
  async function loggedFax(providerFaxId: string, options: { messages?: number } = {}): Promise<LoggedFax> {
    return waitFor(async () => {
      const rows = await ctx.services.db
        .selectFrom('interaction_events')
        .select(['interaction_id', 'payload'])
        .where('type', '=', 'message.received')
        .where('channel', '=', 'fax')
        .where(sql<boolean>`payload #>> '{details,fax,faxId}' = ${providerFaxId}`)
        .orderBy('recorded_at')
        .execute();
      if (rows.length < (options.messages ?? 1)) return undefined;
      const messages = rows.map((r) => r.payload as InteractionEventPayloads['message.received']);
      const fax = (messages.at(-1)!.details as { fax: LoggedFax['fax'] }).fax;
      return { interactionId: rows[0]!.interaction_id, messages, fax };
    }, 60_000);
  }

  const post = (url: string, payload: string | Buffer, headers: Record<string, string>) =>
    ctx.app.inject({ method: 'POST', url, payload, headers });

  function signalWirePost(path: string, params: Record<string, string>, signature?: string) {
    return post(path, new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-signalwire-signature':
        signature ?? signSignalWire('test-signalwire-signing-key', publicBaseUrl + path, params),
    });
  }

  function telnyxPost(event: unknown, options: { timestamp?: number; tamper?: boolean } = {}) {
    const { rawBody, headers } = telnyxRequest(telnyx, event, options);
    const body = options.tamper ? Buffer.from(rawBody.toString().replace('+1', '+4')) : rawBody;
    return post('/webhooks/fax/telnyx', body, headers);
  }

  function phaxioPost(fields: Record<string, string>, file: Buffer | null, signatureOverride?: string) {
    const url = `${publicBaseUrl}/webhooks/fax/phaxio`;
    const request = phaxioMultipart({
      url,
      callbackToken: 'test-phaxio-callback-token',
      fields,
      file: file && { content: file },
    });
    return post('/webhooks/fax/phaxio', request.body, {
      'content-type': request.contentType,
      'x-phaxio-signature': signatureOverride ?? request.signature,
    });
  }

  function hylafaxPost(fields: Record<string, string>, file: Buffer | null, token = 'test-hylafax-token') {
    const request = hylafaxMultipart({ token, fields, file: file && { content: file } });
    return post('/webhooks/fax/hylafax', request.body, {
      'content-type': request.contentType,
      authorization: request.authorization,
    });
  }

  async function fetchAttachment(id: string) {
    const { cookie } = await ctx.loginAs('agent');
    return ctx.app.inject({ method: 'GET', url: `/api/attachments/${id}`, headers: { cookie } });
  }

  it('SignalWire: answers the incoming fax with Receive, then logs the fax its callback names, once', async () => {
    const incoming = await signalWirePost('/webhooks/fax/signalwire', {
      FaxSid: 'FXsw1',
      From: '+14155550101',
      To: '+18005550199',
      FaxStatus: 'receiving',
    });
    expect(incoming.statusCode).toBe(200);
    expect(incoming.body).toContain(
      '<Receive action="http://localhost:3000/webhooks/fax/signalwire/received"',
    );

    const mediaUrl = media.serve('/signalwire/FXsw1.tif', g4, 'image/tiff');
    const params = signalWireFaxParams({
      FaxSid: 'FXsw1',
      From: '+14155550101',
      To: '+18005550199',
      RemoteStationId: 'ACME CLINIC',
      NumPages: '3',
      MediaUrl: mediaUrl,
    });
    const first = await signalWirePost('/webhooks/fax/signalwire/received', params);
    expect(first.statusCode).toBe(200);
    // SignalWire retries a callback it did not see answered: the same report again changes nothing.
    expect((await signalWirePost('/webhooks/fax/signalwire/received', params)).statusCode).toBe(200);

    const logged = await loggedFax('FXsw1');
    expect(logged.messages).toHaveLength(1);
    const [message] = logged.messages;
    expect(message!.subject).toBe('Fax from ACME CLINIC, 3 pages');
    expect(logged.fax).toMatchObject({
      provider: 'signalwire',
      outcome: 'received',
      pageCount: 3,
      stationId: 'ACME CLINIC',
    });
    expect(logged.fax.pages.map((p) => p.number)).toEqual([1, 2, 3]);
    expect(logged.fax.problems).toEqual([]);
    // The text, page by page (form feeds between pages), read by OCR.
    const pages = message!.text!.split('\f');
    expect(pages).toHaveLength(3);
    expect(pages[0]).toMatch(/INVOICE\s+4471/i);
    expect(pages[1]).toMatch(/REFERRAL\s+CARDIOLOGY/i);
    // Original TIFF, converted PDF, and three PNG previews, all served to agents.
    const types = message!.attachments!.map((a) => a.contentType);
    expect(types).toEqual(['image/tiff', 'application/pdf', 'image/png', 'image/png', 'image/png']);
    const preview = await fetchAttachment(logged.fax.pages[1]!.imageId);
    expect(preview.statusCode).toBe(200);
    expect(preview.rawPayload.subarray(1, 4).toString()).toBe('PNG');
    const converted = await fetchAttachment(String(logged.fax.documentId));
    expect(converted.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    // The link was fetched once: the repeat did not fetch it again.
    expect(media.hits.get('/signalwire/FXsw1.tif')).toBe(1);

    // The sender's number resolves the customer; the station name names them.
    const interaction = await ctx.services.interactions.get(logged.interactionId);
    const { customer } = await ctx.services.customers.profile(interaction.customerId);
    expect(customer.identities).toContainEqual(
      expect.objectContaining({ kind: 'fax', value: '+14155550101' }),
    );
    expect(customer.displayName).toBe('ACME CLINIC');
    // Routed by what the fax says: "referral" is on page two.
    await waitFor(async () => {
      const row = await ctx.services.db
        .selectFrom('interactions')
        .select('queue')
        .where('id', '=', logged.interactionId)
        .executeTakeFirst();
      return row?.queue === 'referrals' ? true : undefined;
    });
  });

  it('SignalWire: a forged or missing signature, or one made over another URL, gets 403', async () => {
    const params = signalWireFaxParams({ FaxSid: 'FXforged' });
    expect(
      (await signalWirePost('/webhooks/fax/signalwire/received', params, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='))
        .statusCode,
    ).toBe(403);
    const overOtherUrl = signSignalWire(
      'test-signalwire-signing-key',
      'http://internal:8080/webhooks/fax/signalwire/received',
      params,
    );
    expect((await signalWirePost('/webhooks/fax/signalwire/received', params, overOtherUrl)).statusCode).toBe(
      403,
    );
    const unsigned = await post('/webhooks/fax/signalwire/received', new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(unsigned.statusCode).toBe(403);
    expect(
      await ctx.services.db
        .selectFrom('faxes')
        .select('id')
        .where('provider_fax_id', '=', 'FXforged')
        .execute(),
    ).toEqual([]);
  });

  it('Telnyx: logs fax.received once; repeats and an older fax.failed arriving late change nothing', async () => {
    const faxId = 'c0ffee00-0000-4000-8000-000000000001';
    const mediaUrl = media.serve(`/telnyx/${faxId}.pdf`, pdf, 'application/pdf');
    const received = telnyxFaxReceived(
      { fax_id: faxId, from: '+14155550102', media_url: mediaUrl, page_count: 2 },
      { id: 'evt-received-1' },
    );
    expect((await telnyxPost(received)).statusCode).toBe(200);
    expect((await telnyxPost(received)).statusCode).toBe(200);
    const logged = await loggedFax(faxId);
    // An older failure report (a different event id) arrives after the fax was received in full.
    const failedLate = telnyxFaxFailed({ fax_id: faxId, from: '+14155550102' }, { id: 'evt-failed-old' });
    expect((await telnyxPost(failedLate)).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const again = await loggedFax(faxId);
    expect(again.messages).toHaveLength(1);
    expect(again.fax.outcome).toBe('received');
    expect(logged.messages[0]!.text).toMatch(/authorization/i);
    // An image PDF: kept as it came (no conversion), previewed and read.
    expect(logged.fax.documentId).toBe(logged.fax.originalId);
    expect(logged.fax.pages).toHaveLength(2);
  });

  it('Telnyx: a bad signature, a tampered body, or a stale or future timestamp gets 403', async () => {
    const event = telnyxFaxReceived({ fax_id: 'c0ffee00-0000-4000-8000-0000000000ff' });
    expect((await telnyxPost(event, { tamper: true })).statusCode).toBe(403);
    const now = Math.floor(Date.now() / 1000);
    expect((await telnyxPost(event, { timestamp: now - 301 })).statusCode).toBe(403);
    expect((await telnyxPost(event, { timestamp: now + 301 })).statusCode).toBe(403);
    const unsigned = await post('/webhooks/fax/telnyx', JSON.stringify(event), {
      'content-type': 'application/json',
    });
    expect(unsigned.statusCode).toBe(403);
    // Signed but not a Telnyx event: 400, not taken.
    expect((await telnyxPost({ hello: 'world' })).statusCode).toBe(400);
  });

  it('Telnyx: an expired media link is retried, and the fax is logged flagged when it stays gone', async () => {
    const faxId = 'c0ffee00-0000-4000-8000-000000000002';
    const gone = media.serve(`/telnyx/${faxId}.pdf`, pdf, 'application/pdf', { failFirst: 100, status: 403 });
    await telnyxPost(telnyxFaxReceived({ fax_id: faxId, from: '+14155550103', media_url: gone }));
    const logged = await loggedFax(faxId);
    expect(media.hits.get(`/telnyx/${faxId}.pdf`)).toBe(3); // testConfig: three attempts
    expect(logged.messages[0]!.hints).toMatchObject({ needsAttention: true });
    expect(logged.fax.problems.join(' ')).toMatch(/could not be downloaded after 3 attempts/);
    expect(logged.fax.pages).toEqual([]);

    // A link that fails once, then works, is logged whole.
    const flaky = 'c0ffee00-0000-4000-8000-000000000003';
    const once = media.serve(`/telnyx/${flaky}.pdf`, pdf, 'application/pdf', { failFirst: 1, status: 500 });
    await telnyxPost(telnyxFaxReceived({ fax_id: flaky, from: '+14155550104', media_url: once }));
    const recovered = await loggedFax(flaky);
    expect(media.hits.get(`/telnyx/${flaky}.pdf`)).toBe(2);
    expect(recovered.fax.problems).toEqual([]);
    expect(recovered.fax.pages).toHaveLength(2);
  });

  it('Telnyx: a failed inbound fax is logged and flagged, and a later full receipt joins it', async () => {
    const faxId = 'c0ffee00-0000-4000-8000-000000000004';
    await telnyxPost(telnyxFaxFailed({ fax_id: faxId, from: '+14155550105' }, { id: 'evt-f4-failed' }));
    const failed = await loggedFax(faxId);
    expect(failed.messages[0]!.subject).toMatch(/\(failed\)$/);
    expect(failed.fax.problems[0]).toMatch(/^the fax failed \(.*sender_call_dropped/);
    expect(failed.messages[0]!.hints).toMatchObject({ needsAttention: true, faxOutcome: 'failed' });

    const mediaUrl = media.serve(`/telnyx/${faxId}.pdf`, pdf, 'application/pdf');
    await telnyxPost(
      telnyxFaxReceived(
        { fax_id: faxId, from: '+14155550105', media_url: mediaUrl },
        { id: 'evt-f4-received' },
      ),
    );
    const both = await loggedFax(faxId, { messages: 2 });
    expect(both.interactionId).toBe(failed.interactionId);
    expect(both.fax.outcome).toBe('received');
  });

  it('Phaxio: logs the PDF that comes with the signed callback; a partial fax is flagged; forgeries get 403', async () => {
    const fax = phaxioReceivedFax({ id: 700001, from_number: '+14155550106', num_pages: 2 });
    const fields = phaxioFields(fax);
    expect((await phaxioPost(fields, pdf, '0'.repeat(40))).statusCode).toBe(403);
    expect((await phaxioPost(fields, pdf)).statusCode).toBe(200);
    expect((await phaxioPost(fields, pdf)).statusCode).toBe(200);
    const logged = await loggedFax('700001');
    expect(logged.messages).toHaveLength(1);
    expect(logged.fax.pages).toHaveLength(2);
    // A signature over other bytes: the file was swapped on the way.
    const swapped = phaxioMultipart({
      url: `${publicBaseUrl}/webhooks/fax/phaxio`,
      callbackToken: 'test-phaxio-callback-token',
      fields,
      file: { content: pdf },
    });
    const tampered = Buffer.from(swapped.body);
    const at = tampered.indexOf('%PDF-') + 200;
    tampered[at] = tampered[at]! ^ 0xff;
    const refused = await post('/webhooks/fax/phaxio', tampered, {
      'content-type': swapped.contentType,
      'x-phaxio-signature': swapped.signature,
    });
    expect(refused.statusCode).toBe(403);

    const partial = phaxioReceivedFax({
      id: 700002,
      from_number: '+14155550107',
      num_pages: 1,
      status: 'partialsuccess',
      error_type: 'faxError',
      error_message: 'Lost connection after page 1',
    });
    expect((await phaxioPost(phaxioFields(partial, { success: false }), pdf)).statusCode).toBe(200);
    const flagged = await loggedFax('700002');
    expect(flagged.fax.outcome).toBe('partial');
    expect(flagged.messages[0]!.hints).toMatchObject({ needsAttention: true });
    expect(flagged.fax.problems[0]).toMatch(/the fax is partial/);
  });

  it('HylaFAX: the faxrcvd hook posts the TIFF with a bearer token; a wrong token gets 403', async () => {
    const fields = hylafaxFields({
      commid: '000000777',
      callid: '4155550108',
      sender: 'ACME LAB',
      pages: '3',
    });
    expect((await hylafaxPost(fields, g4, 'wrong-token')).statusCode).toBe(403);
    expect((await hylafaxPost(fields, g4)).statusCode).toBe(200);
    const logged = await loggedFax('000000777');
    expect(logged.fax.pages).toHaveLength(3);
    expect(logged.messages[0]!.subject).toBe('Fax from ACME LAB, 3 pages');
  });

  it('searches faxes by the words on their pages', async () => {
    await loggedFax('FXsw1');
    const { cookie } = await ctx.loginAs('agent');
    const search = async (q: string) =>
      (
        await ctx.app.inject({
          method: 'GET',
          url: `/api/faxes/search?q=${encodeURIComponent(q)}`,
          headers: { cookie },
        })
      ).json<{ results: { interactionId: string; snippet: string }[]; terms: string[] }>();
    const found = await search('cardiology referral');
    expect(found.results.length).toBeGreaterThan(0);
    expect(found.results[0]!.snippet).toMatch(/cardiology/i);
    expect(found.terms).toEqual(['cardiology', 'referral']);
    expect((await search('zebra')).results).toEqual([]);
    const anonymous = await ctx.app.inject({ method: 'GET', url: '/api/faxes/search?q=invoice' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('replies by fax through the provider, once, and logs a failure the provider reports later', async () => {
    const logged = await loggedFax('700001');
    const interaction = await ctx.services.interactions.get(logged.interactionId);
    const { agentId } = await ctx.loginAs('supervisor');
    const sent = await ctx.services.outbound.reply(
      logged.interactionId,
      { id: agentId, role: 'supervisor', displayName: 'Sam Supervisor' },
      { text: 'We received your referral; the appointment is on Monday.' },
    );
    const delivered = await waitFor(async () => {
      const failure = await ctx.services.db
        .selectFrom('interaction_events')
        .select('payload')
        .where('interaction_id', '=', interaction.id)
        .where('type', '=', 'message.failed')
        .executeTakeFirst();
      if (failure) throw new Error(`the reply failed: ${JSON.stringify(failure.payload)}`);
      const row = await ctx.services.db
        .selectFrom('fax_sends')
        .selectAll()
        .where('interaction_id', '=', interaction.id)
        .executeTakeFirst();
      return row?.provider_fax_id ? row : undefined;
    });
    expect(api.sent.phaxio).toHaveLength(1);
    const upload = api.sent.phaxio[0]!;
    expect(upload.to).toBe('+14155550106');
    expect(upload.file?.bytes.subarray(0, 5).toString()).toBe('%PDF-');
    // Providers that fetch the PDF get a signed link; a forged or altered one is refused.
    const link = new URL(ctx.services.fax.sending.mediaUrl(sent.id));
    const fetched = await ctx.app.inject({ method: 'GET', url: link.pathname });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.headers['content-type']).toBe('application/pdf');
    expect(fetched.rawPayload.equals(upload.file!.bytes)).toBe(true);
    const forged = link.pathname.replace(/\.(\d+)\./, (_, expires: string) => `.${Number(expires) + 1}.`);
    expect((await ctx.app.inject({ method: 'GET', url: forged })).statusCode).toBe(404);
    // The delivery job ran again (a retry): nothing is sent twice.
    await ctx.services.outbound.deliver(sent.id);
    expect(api.sent.phaxio).toHaveLength(1);

    // Phaxio reports the fax failed: logged on the reply as message.failed.
    const failedReport = phaxioSentFax({
      id: Number(delivered.provider_fax_id),
      status: 'failure',
      error_message: 'Busy',
    });
    expect((await phaxioPost(phaxioFields(failedReport, { success: false }), null)).statusCode).toBe(200);
    await waitFor(async () => {
      const row = await ctx.services.db
        .selectFrom('interaction_events')
        .select('payload')
        .where('interaction_id', '=', interaction.id)
        .where('type', '=', 'message.failed')
        .executeTakeFirst();
      return row ? true : undefined;
    });
  });
});

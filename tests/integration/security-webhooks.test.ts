import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import {
  hylafaxFields,
  hylafaxMultipart,
  phaxioFields,
  phaxioMultipart,
  phaxioReceivedFax,
  signSignalWire,
  signalWireFaxParams,
  telnyxFaxReceived,
  telnyxKeys,
  telnyxRequest,
  type TelnyxKeys,
} from '../support/fax-signing.js';
import { createTestContext, testConfig, type TestContext } from '../support/test-context.js';

/*
 * Every webhook's signature, enforced: the provider routes the app registers (read from its router, so a
 * new /webhooks route without a row here fails), each called unsigned, signed with the wrong key, and (for
 * the URL-signing providers) with a valid signature made for another of our URLs. Each is refused with 403
 * WEBHOOK_SIGNATURE_INVALID before anything is stored; an app whose provider secrets are unset answers 503
 * and takes nothing, never "unsigned means trusted". The signed fax media link refuses a forged signature.
 * The channels' own tests (phone, fax) show the same requests, correctly signed, being taken.
 */

let ctx: TestContext;
let telnyx: TelnyxKeys;
let otherTelnyx: TelnyxKeys;

beforeAll(async () => {
  telnyx = telnyxKeys();
  otherTelnyx = telnyxKeys();
  const base = testConfig();
  ctx = await createTestContext({
    config: {
      routeOnIngest: false,
      fax: { ...base.fax, telnyx: { ...base.fax.telnyx, publicKey: telnyx.publicKey } },
    },
  });
});
afterAll(() => ctx?.close());

type Provider = 'twilio' | 'signalwire' | 'telnyx' | 'phaxio' | 'hylafax';

const providerOf = (path: string): Provider => {
  if (path.startsWith('/webhooks/twilio/')) return 'twilio';
  if (path.startsWith('/webhooks/fax/signalwire')) return 'signalwire';
  if (path === '/webhooks/fax/telnyx') return 'telnyx';
  if (path === '/webhooks/fax/phaxio') return 'phaxio';
  if (path === '/webhooks/fax/hylafax') return 'hylafax';
  throw new Error(`no provider known for ${path}: add it to this test`);
};

/** The POST routes under /webhooks the router holds (printRoutes' tree, as api-roles.test.ts reads it). */
function webhookRoutes(app: TestContext['app']): string[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const found: string[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    prefixes.length = depth;
    const path = (prefixes[depth - 1] ?? '') + match[2]!;
    prefixes[depth] = path;
    if (path.startsWith('/webhooks/') && (match[3] ?? '').split(', ').includes('POST')) found.push(path);
  }
  return found.sort();
}

const callParams = () => ({
  AccountSid: ctx.config.phone.accountSid,
  CallSid: `CA${randomBytes(16).toString('hex')}`,
  From: '+14155550123',
  To: '+18005550100',
  CallStatus: 'ringing',
  Direction: 'inbound',
});
const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
const formType = 'application/x-www-form-urlencoded';

type Attempt = 'signed' | 'unsigned' | 'wrong key' | 'signed for another URL';

/** The request a provider would send to `path`, signed as `attempt` says. */
function request(
  path: string,
  attempt: Attempt,
): { headers: Record<string, string>; payload: Buffer | string } {
  const url = `${ctx.config.publicBaseUrl}${path}`;
  const otherUrl = `${ctx.config.publicBaseUrl}/webhooks/elsewhere`;
  switch (providerOf(path)) {
    case 'twilio': {
      const params = callParams();
      const key = attempt === 'wrong key' ? 'not-the-auth-token' : ctx.config.phone.authToken!;
      const signature = twilio.getExpectedTwilioSignature(
        key,
        attempt === 'signed for another URL' ? otherUrl : url,
        params,
      );
      return {
        headers: {
          'content-type': formType,
          ...(attempt !== 'unsigned' && { 'x-twilio-signature': signature }),
        },
        payload: form(params),
      };
    }
    case 'signalwire': {
      const params = signalWireFaxParams({ FaxSid: randomBytes(8).toString('hex') });
      const key = attempt === 'wrong key' ? 'not-the-signing-key' : ctx.config.fax.signalwire.signingKey!;
      const signature = signSignalWire(key, attempt === 'signed for another URL' ? otherUrl : url, params);
      return {
        headers: {
          'content-type': formType,
          ...(attempt !== 'unsigned' && { 'x-signalwire-signature': signature }),
        },
        payload: form(params),
      };
    }
    case 'telnyx': {
      // Telnyx signs the body, not the URL: "another URL" is a body signed by the right key, then changed.
      const event = telnyxFaxReceived({}, { id: randomBytes(8).toString('hex') });
      const signed = telnyxRequest(attempt === 'wrong key' ? otherTelnyx : telnyx, event);
      if (attempt === 'unsigned') delete signed.headers['telnyx-signature-ed25519'];
      const payload =
        attempt === 'signed for another URL'
          ? Buffer.from(signed.rawBody.toString().replace('"fax.received"', '"fax.failed"'))
          : signed.rawBody;
      return { headers: signed.headers, payload };
    }
    case 'phaxio': {
      const key = attempt === 'wrong key' ? 'not-the-callback-token' : ctx.config.fax.phaxio.callbackToken!;
      const signed = phaxioMultipart({
        callbackToken: key,
        url: attempt === 'signed for another URL' ? otherUrl : url,
        fields: phaxioFields(phaxioReceivedFax()),
      });
      return {
        headers: {
          'content-type': signed.contentType,
          ...(attempt !== 'unsigned' && { 'x-phaxio-signature': signed.signature }),
        },
        payload: signed.body,
      };
    }
    case 'hylafax': {
      // A bearer token, not a signature: "another URL" is another provider's secret.
      const token =
        attempt === 'wrong key'
          ? 'not-the-token'
          : attempt === 'signed'
            ? ctx.config.fax.hylafax.token!
            : ctx.config.fax.phaxio.callbackToken!;
      const signed = hylafaxMultipart({ token, fields: hylafaxFields(), file: null });
      return {
        headers: {
          'content-type': signed.contentType,
          ...(attempt !== 'unsigned' && { authorization: signed.authorization }),
        },
        payload: signed.body,
      };
    }
  }
}

const storedCounts = async () => {
  const [interactions, faxes] = await Promise.all([
    ctx.services.db
      .selectFrom('interactions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
    ctx.services.pool.query<{ n: string }>('select count(*) as n from interaction_events'),
  ]);
  return { interactions: Number(interactions.n), events: Number(faxes.rows[0]!.n) };
};

describe('every webhook refuses a request that is not signed by its provider', () => {
  it('the router holds the webhook routes this test knows', () => {
    const routes = webhookRoutes(ctx.app);
    expect(routes.length).toBeGreaterThanOrEqual(15);
    for (const path of routes) expect(() => providerOf(path)).not.toThrow();
  });

  const attempts: Attempt[] = ['unsigned', 'wrong key', 'signed for another URL'];
  it.each(attempts)('%s: 403 WEBHOOK_SIGNATURE_INVALID on every route, nothing stored', async (attempt) => {
    const before = await storedCounts();
    const answers: string[] = [];
    for (const path of webhookRoutes(ctx.app)) {
      const { headers, payload } = request(path, attempt);
      const response = await ctx.app.inject({ method: 'POST', url: path, headers, payload });
      const code = response.json<{ error?: { code?: string } }>().error?.code;
      if (response.statusCode !== 403 || code !== 'WEBHOOK_SIGNATURE_INVALID')
        answers.push(`${path}: ${response.statusCode} ${code}`);
    }
    expect(answers).toEqual([]);
    expect(await storedCounts()).toEqual(before);
  });

  it('a forged fax media link is refused (404) and serves nothing', async () => {
    const link = new URL(ctx.services.fax.sending.mediaUrl('1')).pathname;
    const forged = link.replace(
      /\.([\w-]{43})\.pdf$/,
      (_, sig: string) => `.${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}.pdf`,
    );
    expect(forged).not.toBe(link);
    const response = await ctx.app.inject({ method: 'GET', url: forged });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'FAX_MEDIA_LINK_INVALID' } });
  });
});

describe('a control', () => {
  // Last of the refusals, so that what it stores cannot shift their before/after counts.
  it('takes the same requests correctly signed: no 403 on any route', async () => {
    const answers: string[] = [];
    for (const path of webhookRoutes(ctx.app)) {
      const { headers, payload } = request(path, 'signed');
      const response = await ctx.app.inject({ method: 'POST', url: path, headers, payload });
      if (response.statusCode === 403 || response.statusCode >= 500)
        answers.push(`${path}: ${response.statusCode} ${response.body.slice(0, 200)}`);
    }
    expect(answers).toEqual([]);
  });
});

describe('with the providers’ secrets unset', () => {
  it('every webhook answers 503 and takes nothing, signed or not', async () => {
    const base = testConfig();
    const bare = await buildApp({
      config: {
        ...ctx.config,
        phone: { ...base.phone, authToken: undefined },
        fax: {
          ...base.fax,
          signalwire: { ...base.fax.signalwire, signingKey: undefined },
          telnyx: { ...base.fax.telnyx, publicKey: undefined },
          phaxio: { ...base.fax.phaxio, callbackToken: undefined },
          hylafax: { token: undefined },
        },
      },
      isWorker: false,
    });
    try {
      await bare.app.ready();
      const before = await storedCounts();
      const answers: string[] = [];
      for (const path of webhookRoutes(ctx.app)) {
        for (const attempt of ['unsigned', 'wrong key'] as const) {
          const { headers, payload } = request(path, attempt);
          const response = await bare.app.inject({ method: 'POST', url: path, headers, payload });
          const code = response.json<{ error?: { code?: string } }>().error?.code;
          if (response.statusCode !== 503 || !['PHONE_CHANNEL_OFF', 'FAX_PROVIDER_OFF'].includes(code ?? ''))
            answers.push(`${path} ${attempt}: ${response.statusCode} ${code}`);
        }
      }
      expect(answers).toEqual([]);
      expect(await storedCounts()).toEqual(before);
    } finally {
      await bare.app.close();
    }
  });
});

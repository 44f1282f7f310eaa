import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  ChatSessionPush,
} from '../../channels/webchat/index.js';
import { toStorableText } from '../../src/db/storable-text.js';
import { errorCatalogue } from '../../src/errors.js';
import {
  hylafaxFields,
  multipartBody,
  phaxioFields,
  phaxioReceivedFax,
  signPhaxio,
  signSignalWire,
  signalWireFaxParams,
  telnyxFaxReceived,
  telnyxKeys,
  tinyTiff,
  type MultipartFile,
} from '../support/fax-signing.js';
import {
  anyValue,
  expectErrorEnvelope,
  expectHandled,
  expectPrototypeClean,
  fuzzRuns,
  fuzzSeed,
  hugeString,
  nastyString,
  safeEncode,
} from '../support/fuzz-inputs.js';
import { createTestContext, testConfig, type TestContext } from '../support/test-context.js';

/*
 * Bad input at the provider and visitor doors, generated: Twilio voice, the four fax providers (SignalWire,
 * Telnyx, Phaxio, HylaFAX) and web chat (the visitor socket, its handshake and the image upload). Properly
 * signed requests with generated bodies (fields missing, wrong types, extra fields, huge values, bad
 * encodings) are never a 5xx: a clear 4xx in the error envelope, or accepted and recorded (an accepted fax
 * keeps its document, an accepted chat message is in the log). A request that is unsigned or badly signed is
 * always 403. A body over a door's limit is refused with 413 before it is read or checked.
 */

const publicBaseUrl = 'http://localhost:3000';
const authToken = 'test-twilio-auth-token';
const widgetOrigin = 'https://shop.example';
const telnyx = telnyxKeys();
const base = testConfig();

let ctx: TestContext;
let serverUrl: string;
const sockets: { disconnect(): unknown }[] = [];

beforeAll(async () => {
  ctx = await createTestContext({
    config: {
      publicBaseUrl,
      fax: {
        ...base.fax,
        telnyx: {
          publicKey: telnyx.publicKey,
          apiKey: undefined,
          connectionId: undefined,
          apiBaseUrl: undefined,
          toleranceSeconds: 300,
        },
      },
      webchat: {
        widgets: {
          shop: { allowedOrigins: [widgetOrigin], identitySecret: 'fuzz-secret', isIdentityRequired: false },
        },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        // Generated messages come fast: the rate limit is tested in webchat.test.ts, not here.
        rateLimitMessages: 100_000,
        rateLimitWindowMs: 10_000,
      },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  serverUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await ctx?.close();
});

/** Lone surrogates cannot travel in a form or JSON body as themselves: the sender's encoder replaces them. */
const wellFormed = (text: string) => Buffer.from(text, 'utf8').toString('utf8');
const formOf = (params: Record<string, string>) => new URLSearchParams(params).toString();
const count = async (query: string, values: unknown[]) =>
  (await ctx.services.pool.query<{ n: number }>(query, values)).rows[0]!.n;
const hex = (length: number) => randomBytes(length).toString('hex').slice(0, length);

/** Replaces the `fresh` placeholder of `key` with a new id. */
function freshened(params: Record<string, string>, key: string, fresh: () => string): Record<string, string> {
  return params[key] === 'fresh' ? { ...params, [key]: fresh() } : params;
}

/** A form field's value: nasty, huge for this door (up to 8 kB: the form limit is 64 kB), or plain. */
const formValue = fc.oneof(
  nastyString.map(wellFormed),
  fc.string({ unit: 'grapheme', maxLength: 8_000 }),
  fc.constantFrom('', '+14155550100', 'not a number', '-1', '1e9', 'completed', 'no-answer', '1#', 'ringing'),
);

/** Generated form parameters around `valid`: fields dropped, replaced or added (prototype keys included). */
function formParams(
  valid: Record<string, string>,
  keys: readonly string[],
): fc.Arbitrary<Record<string, string>> {
  const fieldName = fc.oneof(
    fc.constantFrom(...keys, '__proto__', 'constructor', 'hasOwnProperty', 'CallSid[]'),
    nastyString.map(wellFormed).filter((k) => k !== ''),
  );
  return fc
    .tuple(fc.subarray(Object.keys(valid)), fc.array(fc.tuple(fieldName, formValue), { maxLength: 6 }))
    .map(([kept, extra]) => {
      const params: Record<string, string> = {};
      for (const key of kept) params[key] = valid[key]!;
      for (const [key, value] of extra)
        Object.defineProperty(params, key, { value, enumerable: true, writable: true, configurable: true });
      return params;
    });
}

// ---------------------------------------------------------------------------------------------------------
// Twilio voice

const voiceUrls = [
  '/webhooks/twilio/voice/incoming',
  '/webhooks/twilio/voice/ivr?seq=1',
  '/webhooks/twilio/voice/ivr?seq=-3',
  '/webhooks/twilio/voice/wait',
  '/webhooks/twilio/voice/wait-choice',
  '/webhooks/twilio/voice/queue-result',
  '/webhooks/twilio/voice/dial-result',
  '/webhooks/twilio/voice/voicemail',
  '/webhooks/twilio/voice/hold-music',
  '/webhooks/twilio/voice/whisper?call=CA0123456789abcdef0123456789abcdef&agent=2b1e4a52-0c53-4d3c-9a55-7f5f4f1e9b10',
  '/webhooks/twilio/voice/whisper?call=x&agent=%ED%A0%80',
  '/webhooks/twilio/voice/callback-answer?interaction=5d2c2d8e-8a7b-4f6e-9d7e-1c9a3b1f0e22&agent=not-a-uuid',
  '/webhooks/twilio/voice/click-to-call?interaction=5d2c2d8e-8a7b-4f6e-9d7e-1c9a3b1f0e22&to=%2B14155550100',
  '/webhooks/twilio/voice/status',
  '/webhooks/twilio/voice/recording',
  '/webhooks/twilio/voice/transcription',
];
const twilioKeys = [
  'CallSid',
  'AccountSid',
  'From',
  'To',
  'CallStatus',
  'Direction',
  'Digits',
  'SpeechResult',
  'Confidence',
  'DialCallStatus',
  'QueueResult',
  'CallDuration',
  'RecordingUrl',
  'RecordingSid',
  'RecordingDuration',
  'TranscriptionText',
  'TranscriptionStatus',
  'CallerName',
];
/** `fresh` is replaced, in the property, by a new valid CallSid (generated values must be replayable). */
const callSid = fc.oneof(
  { weight: 4, arbitrary: fc.constant('fresh') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(`CA${'0'.repeat(31)}`, 'CA', `ca${'f'.repeat(32)}`, `CA${'g'.repeat(32)}`),
  },
);
const voiceParams = callSid.chain((sid) =>
  formParams(
    {
      CallSid: sid,
      AccountSid: 'AC0123456789abcdef0123456789abcdef',
      From: '+14155550123',
      To: '+18005550100',
      CallStatus: 'ringing',
      Direction: 'inbound',
      Digits: '1',
    },
    twilioKeys,
  ),
);

function postForm(
  url: string,
  params: Record<string, string>,
  signature: string | undefined,
  header: string,
) {
  return ctx.app.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature !== undefined && { [header]: signature }),
    },
    payload: formOf(params),
  });
}

type Signer = (key: string, url: string, params: Record<string, string>) => string;

/**
 * Signatures that must not pass: none, garbage, another key's, over another host (not another port: Twilio's
 * validator also tries the URL without its port) or over other parameters.
 */
const badSignature = (sign: Signer, key: string) =>
  fc.oneof(
    fc.constant(() => undefined),
    nastyString.map((s) => () => wellFormed(s)),
    fc.constant((url: string, params: Record<string, string>) =>
      sign('not-the-key', `${publicBaseUrl}${url}`, params),
    ),
    fc.constant((url: string, params: Record<string, string>) =>
      sign(key, `https://evil.example${url}`, params),
    ),
    fc.constant((url: string, params: Record<string, string>) =>
      sign(key, `${publicBaseUrl}${url}`, { ...params, Extra: 'x' }),
    ),
  );

describe('Twilio voice webhooks', () => {
  it('signed, generated parameters: never a 5xx; an accepted incoming call is in the log', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...voiceUrls), voiceParams, async (url, generated) => {
        const params = freshened(generated, 'CallSid', () => `CA${hex(32)}`);
        const signature = twilio.getExpectedTwilioSignature(authToken, `${publicBaseUrl}${url}`, params);
        const response = await postForm(url, params, signature, 'x-twilio-signature');
        expectHandled(response, `${url} ${JSON.stringify(params).slice(0, 300)}`);
        expect(response.statusCode, response.body).not.toBe(403);
        if (url.endsWith('/incoming') && response.statusCode === 200)
          expect(
            await count(
              'select count(*)::int as n from interactions where channel = $1 and external_id = $2',
              ['voice', params.CallSid],
            ),
          ).toBe(1);
        expectPrototypeClean();
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(150) },
    );
  });

  it('unsigned or badly signed: always 403, and nothing is logged', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...voiceUrls),
        voiceParams,
        badSignature(twilio.getExpectedTwilioSignature, authToken),
        async (url, generated, signatureOf) => {
          const params = freshened(generated, 'CallSid', () => `CA${hex(32)}`);
          const response = await postForm(url, params, signatureOf(url, params), 'x-twilio-signature');
          expect(response.statusCode, response.body).toBe(403);
          expect(response.json()).toMatchObject({ error: { code: 'WEBHOOK_SIGNATURE_INVALID' } });
          if (params.CallSid)
            expect(
              await count('select count(*)::int as n from interactions where external_id = $1', [
                params.CallSid,
              ]),
            ).toBe(0);
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(60) },
    );
  });

  it('a form body over 64 kB gets 413 before its signature is checked', async () => {
    const response = await postForm(
      '/webhooks/twilio/voice/incoming',
      { CallSid: `CA${hex(32)}`, Junk: 'x'.repeat(65 * 1024) },
      undefined,
      'x-twilio-signature',
    );
    expect(response.statusCode).toBe(413);
    expectErrorEnvelope(response, 'voice oversized');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Fax: SignalWire

const signalWireKey = base.fax.signalwire.signingKey!;
const signalWireUrls = [
  '/webhooks/fax/signalwire',
  '/webhooks/fax/signalwire/received',
  '/webhooks/fax/signalwire/status',
];
const signalWireParams = fc
  .constant(null)
  .chain(() =>
    formParams(signalWireFaxParams({ FaxSid: 'fresh' }), [
      'FaxSid',
      'FaxStatus',
      'NumPages',
      'MediaUrl',
      'From',
      'To',
      'RemoteStationId',
      'ErrorCode',
      'ErrorMessage',
    ]),
  );

describe('SignalWire fax webhooks', () => {
  it('signed, generated parameters: never a 5xx; an accepted received fax is kept with its media link', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...signalWireUrls), signalWireParams, async (url, generated) => {
        const params = freshened(generated, 'FaxSid', randomUUID);
        const signature = signSignalWire(signalWireKey, `${publicBaseUrl}${url}`, params);
        const response = await postForm(url, params, signature, 'x-signalwire-signature');
        expectHandled(response, `${url} ${JSON.stringify(params).slice(0, 300)}`);
        expect(response.statusCode, response.body).not.toBe(403);
        if (url.endsWith('/received') && response.statusCode === 200)
          expect(
            await count('select count(*)::int as n from faxes where provider = $1 and provider_fax_id = $2', [
              'signalwire',
              params.FaxSid,
            ]),
          ).toBe(1);
        expectPrototypeClean();
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(80) },
    );
  });

  it('unsigned or badly signed: always 403', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...signalWireUrls),
        signalWireParams,
        badSignature(signSignalWire, signalWireKey),
        async (url, generated, signatureOf) => {
          const params = freshened(generated, 'FaxSid', randomUUID);
          const response = await postForm(url, params, signatureOf(url, params), 'x-signalwire-signature');
          expect(response.statusCode, response.body).toBe(403);
          expectErrorEnvelope(response, url);
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(40) },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Fax: Telnyx (Ed25519 over timestamp|raw body)

/** In generated bodies, stands for a new fax id (replaced in the property: generated values are replayed). */
const freshFaxId = 'fresh-fax-id';
const withFreshFaxId = (raw: Buffer, faxId: string) =>
  Buffer.from(raw.toString('latin1').replaceAll(freshFaxId, faxId), 'latin1');

/** A Telnyx event with one part replaced, or any JSON, or bytes that are not JSON. */
const telnyxBody: fc.Arbitrary<{ raw: Buffer; hasFreshId: boolean }> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('event_type', 'id', 'occurred_at', 'payload', 'record_type'),
      fc.oneof(
        anyValue,
        hugeString.map((s) => s.slice(0, 100_000)),
      ),
    )
    .map(([field, value]) => {
      const event = telnyxFaxReceived({ fax_id: freshFaxId });
      (event.data as Record<string, unknown>)[field] = value;
      return { raw: Buffer.from(JSON.stringify(event)), hasFreshId: false };
    }),
  fc
    .tuple(
      fc.constantFrom(
        'fax_id',
        'media_url',
        'page_count',
        'partial_content',
        'status',
        'from',
        'to',
        'direction',
        '__proto__',
      ),
      anyValue,
    )
    .map(([field, value]) => {
      const payload = { ...telnyxFaxReceived({ fax_id: freshFaxId }).data.payload };
      Object.defineProperty(payload, field, { value, enumerable: true, writable: true, configurable: true });
      const event = telnyxFaxReceived(payload, { id: freshFaxId });
      return { raw: Buffer.from(JSON.stringify(event)), hasFreshId: field !== 'fax_id' };
    }),
  anyValue.map((value) => ({ raw: Buffer.from(JSON.stringify(value) ?? 'null'), hasFreshId: false })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ raw: Buffer.from(bytes), hasFreshId: false })),
);

function postTelnyx(raw: Buffer, headers: Record<string, string>) {
  return ctx.app.inject({ method: 'POST', url: '/webhooks/fax/telnyx', headers, payload: raw });
}

describe('Telnyx fax webhook', () => {
  it('signed, generated events: never a 5xx; an accepted fax.received is kept', async () => {
    await fc.assert(
      fc.asyncProperty(
        telnyxBody,
        fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', ''),
        async (generated, type) => {
          const faxId = randomUUID();
          const raw = withFreshFaxId(generated.raw, faxId);
          const timestamp = String(Math.floor(Date.now() / 1000));
          const response = await postTelnyx(raw, {
            ...(type && { 'content-type': type }),
            'telnyx-timestamp': timestamp,
            'telnyx-signature-ed25519': telnyx.sign(timestamp, raw),
          });
          expectHandled(response, raw.toString('utf8').slice(0, 300));
          expect(response.statusCode, response.body).not.toBe(403);
          if (generated.hasFreshId && response.statusCode === 200)
            expect(
              await count(
                'select count(*)::int as n from faxes where provider = $1 and provider_fax_id = $2',
                ['telnyx', faxId],
              ),
            ).toBe(1);
          expectPrototypeClean();
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(80) },
    );
  });

  it('unsigned, badly signed or stale: always 403', async () => {
    const other = telnyxKeys();
    await fc.assert(
      fc.asyncProperty(
        telnyxBody,
        fc.constantFrom('none', 'garbage', 'other-key', 'stale', 'future', 'other-body', 'bad-timestamp'),
        nastyString,
        async ({ raw }, how, garbage) => {
          const now = Math.floor(Date.now() / 1000);
          const timestamp = String(how === 'stale' ? now - 3600 : how === 'future' ? now + 3600 : now);
          const signature = {
            none: undefined,
            garbage: wellFormed(garbage),
            'other-key': other.sign(timestamp, raw),
            stale: telnyx.sign(timestamp, raw),
            future: telnyx.sign(timestamp, raw),
            'other-body': telnyx.sign(timestamp, Buffer.concat([raw, Buffer.from(' ')])),
            'bad-timestamp': telnyx.sign(wellFormed(garbage), raw),
          }[how];
          const response = await postTelnyx(raw, {
            'content-type': 'application/json',
            'telnyx-timestamp': how === 'bad-timestamp' ? safeEncode(garbage) : timestamp,
            ...(signature !== undefined && { 'telnyx-signature-ed25519': signature }),
          });
          // A body over the limit is refused before anything is checked (413); every other one is 403.
          expect(response.statusCode, `${how} ${response.body}`).toBe(raw.length > 256 * 1024 ? 413 : 403);
          expectErrorEnvelope(response, how);
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(60) },
    );
  });

  it('a body over 256 kB gets 413 before its signature is checked', async () => {
    const response = await postTelnyx(Buffer.alloc(257 * 1024, 0x20), { 'content-type': 'application/json' });
    expect(response.statusCode).toBe(413);
    expectErrorEnvelope(response, 'telnyx oversized');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Fax: Phaxio and HylaFAX (multipart, the document attached)

/** A document's bytes; the property appends a new id (unique), so that "kept" can be checked by content. */
const documentBytes = fc
  .tuple(
    fc.constantFrom(Buffer.from('%PDF-1.4\n'), tinyTiff, Buffer.alloc(0), Buffer.from('GIF89a')),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([head, tail]) => Buffer.concat([head, Buffer.from(tail)]));
const unique = (document: Buffer) => Buffer.concat([document, Buffer.from(randomUUID())]);

const keptCopies = (content: Buffer) =>
  count(
    `select count(*)::int as n from faxes f join attachment_contents a on a.storage_key = f.original_key
     where a.content = $1`,
    [content],
  );

/** Stands for a new Phaxio fax id in generated callbacks (replaced in the property). */
const freshPhaxioId = 4_242_424_242;
/**
 * An inbound fax that was taken keeps the document that came with it, unless the provider said it has no
 * pages (page count 0: a failed fax, the file holds nothing). A report about a fax we sent makes no row.
 */
async function expectDocumentKept(provider: string, faxId: string, document: Buffer) {
  const { rows } = await ctx.services.pool.query<{ page_count: number | null }>(
    'select page_count from faxes where provider = $1 and provider_fax_id = $2',
    [provider, faxId],
  );
  const [fax] = rows;
  if (!fax || fax.page_count === 0) return;
  expect(await keptCopies(document), `${provider} ${faxId}`).toBe(1);
}

const phaxioFaxObject = fc
  .tuple(
    fc.constantFrom(
      'id',
      'direction',
      'num_pages',
      'status',
      'from_number',
      'to_number',
      'caller_name',
      'completed_at',
      'recipients',
      '__proto__',
    ),
    anyValue,
    fc.boolean(),
  )
  .map(([field, value, isMutated]) => {
    const fax = phaxioReceivedFax({ id: freshPhaxioId });
    if (isMutated)
      Object.defineProperty(fax, field, { value, enumerable: true, writable: true, configurable: true });
    return { fax, hasFreshId: !(isMutated && field === 'id') };
  });

const phaxioRequest = fc
  .tuple(
    phaxioFaxObject,
    fc.option(documentBytes, { nil: null }),
    fc.array(fc.tuple(nastyString.map(wellFormed), formValue), { maxLength: 3 }),
    fc.oneof(
      fc.constant(null),
      fc
        .constantFrom('success', 'is_test', 'direction', 'fax')
        .chain((field) => formValue.map((value) => [field, value] as const)),
    ),
  )
  .map(([{ fax, hasFreshId }, document, extra, replaced]) => {
    const fields: Record<string, string> = { ...phaxioFields(fax) };
    // Names with a quote or a line break are percent-encoded by a browser's multipart encoder (and so by
    // multipartBody): the server reads another name than the one signed. Phaxio sends none.
    for (const [key, value] of extra)
      if (key !== '' && !/["\r\n]/.test(key))
        Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
    if (replaced) fields[replaced[0]] = replaced[1];
    return { fields, document, hasFreshId: hasFreshId && replaced?.[0] !== 'fax' };
  });

/** The generated callback with a new fax id and a unique document. */
function phaxioMaterialized(generated: { fields: Record<string, string>; document: Buffer | null }) {
  const id = String(Number.parseInt(hex(12), 16));
  const fields = Object.fromEntries(
    Object.entries(generated.fields).map(([k, v]) => [k, v.replaceAll(String(freshPhaxioId), id)]),
  );
  const document = generated.document && unique(generated.document);
  const files: MultipartFile[] = document
    ? [{ fieldName: 'filename', fileName: 'fax.pdf', contentType: 'application/pdf', content: document }]
    : [];
  return { fields, files, document, id };
}

function postMultipart(
  url: string,
  fields: Record<string, string>,
  files: MultipartFile[],
  headers: Record<string, string>,
) {
  const { body, contentType } = multipartBody(fields, files);
  return ctx.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': contentType, ...headers },
    payload: body,
  });
}

describe('Phaxio fax webhook', () => {
  const url = '/webhooks/fax/phaxio';
  const token = base.fax.phaxio.callbackToken!;

  it('signed, generated callbacks: never a 5xx; an accepted received fax keeps its document', async () => {
    await fc.assert(
      fc.asyncProperty(phaxioRequest, async (generated) => {
        const { fields, files, document, id } = phaxioMaterialized(generated);
        const signature = signPhaxio(token, `${publicBaseUrl}${url}`, fields, files);
        const response = await postMultipart(url, fields, files, { 'x-phaxio-signature': signature });
        expectHandled(response, JSON.stringify(fields).slice(0, 300));
        expect(response.statusCode, response.body).not.toBe(403);
        if (response.statusCode === 200 && document && generated.hasFreshId)
          await expectDocumentKept('phaxio', id, document);
        expectPrototypeClean();
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(80) },
    );
  });

  it('unsigned or badly signed: always 403, and no document is kept', async () => {
    await fc.assert(
      fc.asyncProperty(phaxioRequest, nastyString, fc.boolean(), async (generated, garbage, isOtherToken) => {
        const { fields, files, document } = phaxioMaterialized(generated);
        const signature = isOtherToken
          ? signPhaxio('not-the-token', `${publicBaseUrl}${url}`, fields, files)
          : wellFormed(garbage);
        const response = await postMultipart(
          url,
          fields,
          files,
          signature ? { 'x-phaxio-signature': signature } : {},
        );
        // The signature covers the parts, so the body is read first: one that cannot be read (a part named
        // after anything on Object.prototype, refused by the multipart reader) is a 400; every other one is a 403.
        const isUnreadable = Object.keys(fields).some((k) => k in Object.prototype);
        expect(response.statusCode, response.body).toBe(isUnreadable ? 400 : 403);
        expectErrorEnvelope(response, 'phaxio unsigned');
        if (document) expect(await keptCopies(document)).toBe(0);
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(40) },
    );
  });

  it('a document over the size limit gets 413', async () => {
    const fields = phaxioFields(phaxioReceivedFax({ id: 987_654 }));
    const response = await postMultipart(
      url,
      fields,
      [
        {
          fieldName: 'filename',
          fileName: 'big.pdf',
          contentType: 'application/pdf',
          content: Buffer.alloc(base.fax.maxDocumentBytes + 1),
        },
      ],
      { 'x-phaxio-signature': 'unsigned' },
    );
    expect(response.statusCode).toBe(413);
    expectErrorEnvelope(response, 'phaxio oversized');
  });
});

describe('HylaFAX fax webhook', () => {
  const url = '/webhooks/fax/hylafax';
  const authorization = `Bearer ${base.fax.hylafax.token!}`;
  const hylafaxRequest = fc
    .tuple(
      fc.constantFrom('commid', 'pages', 'error', 'sender', 'callid', 'callid2', 'to', 'device', '__proto__'),
      formValue,
      fc.boolean(),
      fc.option(documentBytes, { nil: null }),
      fc.constantFrom('image/tiff', 'application/pdf', 'text/plain', ''),
    )
    .map(([field, value, isMutated, document, contentType]) => {
      const fields = hylafaxFields({ commid: 'fresh' });
      if (isMutated)
        Object.defineProperty(fields, field, { value, enumerable: true, writable: true, configurable: true });
      return { fields, document, contentType };
    });
  const materialized = (generated: {
    fields: Record<string, string>;
    document: Buffer | null;
    contentType: string;
  }) => {
    const fields = freshened(generated.fields, 'commid', () => hex(9));
    const document = generated.document && unique(generated.document);
    const files: MultipartFile[] = document
      ? [{ fieldName: 'file', fileName: 'fax.tif', contentType: generated.contentType, content: document }]
      : [];
    return { fields, files, document };
  };

  it('authorized, generated posts: never a 5xx; a taken fax keeps its document', async () => {
    await fc.assert(
      fc.asyncProperty(hylafaxRequest, async (generated) => {
        const { fields, files, document } = materialized(generated);
        const response = await postMultipart(url, fields, files, { authorization });
        expectHandled(response, JSON.stringify(fields).slice(0, 300));
        if (
          response.statusCode === 200 &&
          document &&
          response.json<{ outcome: string }>().outcome === 'taken'
        )
          await expectDocumentKept('hylafax', fields.commid!.trim(), document);
        expectPrototypeClean();
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(60) },
    );
  });

  it('a wrong or missing bearer token: always 403, and no document is kept', async () => {
    await fc.assert(
      fc.asyncProperty(
        hylafaxRequest,
        fc.option(nastyString, { nil: undefined }),
        async (generated, garbage) => {
          const { fields, files, document } = materialized(generated);
          const response = await postMultipart(
            url,
            fields,
            files,
            garbage === undefined ? {} : { authorization: `Bearer ${wellFormed(garbage)}` },
          );
          expect(response.statusCode, response.body).toBe(403);
          expectErrorEnvelope(response, 'hylafax unauthorized');
          if (document) expect(await keptCopies(document)).toBe(0);
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(40) },
    );
  });

  it('a body that is not multipart, or broken multipart, gets a 4xx', async () => {
    for (const [type, body] of [
      ['application/json', '{"commid":"1"}'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="commid"\r\n\r\n1'],
      ['multipart/form-data', 'no boundary'],
      ['text/plain', 'hello'],
    ] as const) {
      const response = await ctx.app.inject({
        method: 'POST',
        url,
        headers: { authorization, 'content-type': type },
        payload: body,
      });
      expectHandled(response, type);
      expect(response.statusCode, `${type} ${response.body}`).toBeGreaterThanOrEqual(400);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Web chat: the visitor socket, its handshake, and the image upload

type Visitor = ClientSocket<ChatServerToClientEvents, ChatClientToServerEvents>;

function visitorSocket(auth: unknown, origin = widgetOrigin): Visitor {
  const socket: Visitor = connectClient(`${serverUrl}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: auth as Record<string, unknown>,
    extraHeaders: { origin },
  });
  sockets.push(socket);
  return socket;
}

/** Connected with its session push, or refused with the handshake error's data. */
function admitted(
  socket: Visitor,
): Promise<{ session: ChatSessionPush } | { refusal: { code?: unknown } | undefined } | { dropped: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('neither admitted nor refused in 10 s')), 10_000);
    const settle = (outcome: Parameters<typeof resolve>[0]) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    socket.once('chat:session', (session) => settle({ session }));
    socket.once('connect_error', (error: Error & { data?: { code?: unknown } }) =>
      settle({ refusal: error.data }),
    );
    socket.once('disconnect', (reason) => settle({ dropped: reason }));
  });
}

const ackOf = (socket: Visitor, event: string, payload: unknown) =>
  (socket as unknown as ClientSocket).timeout(10_000).emitWithAck(event, payload) as Promise<
    | { ok: true; interactionId?: string; isDuplicate?: boolean }
    | { ok: false; error: { code: string; message: string } }
  >;

const expectRefusalCode = (code: unknown, context: string) => {
  expect(Object.keys(errorCatalogue), context).toContain(code);
  expect(errorCatalogue[code as keyof typeof errorCatalogue].status, context).toBeLessThan(500);
};

describe('web chat', () => {
  it('generated handshakes: admitted, or refused with a 4xx code', async () => {
    const auth = fc.oneof(
      anyValue,
      fc.record(
        {
          widgetId: fc.oneof(fc.constant('shop'), nastyString),
          token: fc.oneof(nastyString, fc.string({ maxLength: 300 })),
          userId: nastyString,
          userHash: fc.oneof(nastyString, fc.constant('00'.repeat(32))),
          locale: fc.oneof(fc.constantFrom('es-MX', 'en', 'x'), nastyString),
          __proto__: anyValue,
        },
        { requiredKeys: ['widgetId'] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        auth,
        fc.constantFrom(widgetOrigin, 'https://evil.example', ''),
        async (generated, origin) => {
          const socket = visitorSocket(generated, origin);
          const outcome = await admitted(socket);
          const context = `${JSON.stringify(generated)?.slice(0, 300)} ${origin}`;
          // socket.io's own parser drops a connection whose auth is not an object (a protocol error, not ours
          // to answer); everything else is admitted or refused with a 4xx code.
          const isObject = typeof generated === 'object' && generated !== null && !Array.isArray(generated);
          if (isObject) expect('dropped' in outcome, `${context} ${JSON.stringify(outcome)}`).toBe(false);
          if ('refusal' in outcome) expectRefusalCode(outcome.refusal?.code, context);
          socket.disconnect();
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(40) },
    );
    // The server serves on.
    const after = visitorSocket({ widgetId: 'shop' });
    expect('session' in (await admitted(after))).toBe(true);
    after.disconnect();
  });

  it('generated requests on an open socket: acked ok or with a 4xx code; accepted messages are in the log', async () => {
    const socket = visitorSocket({ widgetId: 'shop' });
    const outcome = await admitted(socket);
    expect('session' in outcome).toBe(true);
    const events = [
      'chat:start',
      'message:send',
      'typing',
      'chat:close',
      'message:leave',
      'suggestions:answer',
    ];
    const text = fc.oneof(
      nastyString,
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.string({ minLength: 3_990, maxLength: 4_100 }),
    );
    // `fresh`: a new client id, set in the property (generated values are replayed while shrinking).
    const clientId = fc.oneof(fc.constant('fresh'), nastyString);
    const request = fc.oneof(
      fc.tuple(fc.constantFrom(...events, 'nope', '__proto__', 'constructor'), anyValue),
      fc.tuple(fc.constant('message:send'), fc.record({ clientId, text }, { requiredKeys: [] })),
      fc.tuple(fc.constant('message:send'), fc.record({ clientId, text, extra: anyValue })),
      fc.tuple(
        fc.constant('chat:start'),
        fc.record(
          { name: nastyString, email: fc.oneof(fc.emailAddress(), nastyString), fields: anyValue },
          { requiredKeys: [] },
        ),
      ),
      fc.tuple(
        fc.constant('message:leave'),
        fc.record({ clientId, text, email: fc.oneof(fc.emailAddress(), nastyString) }, { requiredKeys: [] }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(request, async ([event, generated]) => {
        const payload =
          typeof generated === 'object' &&
          generated !== null &&
          (generated as { clientId?: unknown }).clientId === 'fresh'
            ? { ...generated, clientId: randomBytes(6).toString('hex') }
            : generated;
        const ack = await ackOf(socket, event, payload);
        const context = `${event} ${JSON.stringify(payload)?.slice(0, 300)}`;
        if (!ack.ok) expectRefusalCode(ack.error.code, context);
        else if (
          (event === 'message:send' || event === 'message:leave') &&
          ack.interactionId &&
          !ack.isDuplicate
        ) {
          const sent = payload as { text: string };
          const { events: logged } = await ctx.services.interactions.detail(ack.interactionId);
          expect(
            logged.some(
              (e) =>
                e.type === 'message.received' &&
                (e.payload as { text?: string }).text === toStorableText(sent.text),
            ),
            context,
          ).toBe(true);
        }
        expect(socket.connected, context).toBe(true);
        expectPrototypeClean();
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(120) },
    );
    socket.disconnect();
  });

  it('a frame over the socket buffer limit is refused (the socket is dropped) and the server serves on', async () => {
    const socket = visitorSocket({ widgetId: 'shop' });
    await admitted(socket);
    const dropped = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    socket.emit('message:send', { clientId: 'big', text: 'x'.repeat(2 * 1024 * 1024) }, () => undefined);
    expect(await dropped).toBeTruthy();
    const next = visitorSocket({ widgetId: 'shop' });
    expect('session' in (await admitted(next))).toBe(true);
    const tooLong = await ackOf(next, 'message:send', { clientId: 'long', text: 'x'.repeat(4001) });
    expect(tooLong).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    next.disconnect();
  });

  it('image uploads with generated tokens, queries and bodies: never a 5xx; an accepted image is in the log', async () => {
    const socket = visitorSocket({ widgetId: 'shop' });
    const outcome = await admitted(socket);
    if (!('session' in outcome)) throw new Error('not admitted');
    // The conversation exists once the visitor has said something.
    await ackOf(socket, 'message:send', { clientId: 'first', text: 'hello' });
    const { token } = outcome.session;
    const png = Buffer.from(
      '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082',
      'hex',
    );
    const upload = fc.record({
      bearer: fc.oneof(
        { weight: 3, arbitrary: fc.constant(token) },
        { weight: 1, arbitrary: nastyString.map(wellFormed) },
      ),
      query: fc.oneof(
        { weight: 3, arbitrary: fc.constant('widgetId=shop&clientId=fresh') },
        {
          weight: 1,
          arbitrary: fc
            .tuple(nastyString, nastyString)
            .map(([w, c]) => `widgetId=${safeEncode(w)}&clientId=${safeEncode(c)}`),
        },
      ),
      content: fc.oneof(
        fc.constant(png),
        documentBytes,
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      ),
      contentType: fc.constantFrom('image/png', 'image/jpeg', 'application/pdf', 'text/html', ''),
      fileName: nastyString.map(wellFormed),
      isMultipart: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        upload,
        async ({ bearer, query: generated, content, contentType, fileName, isMultipart }) => {
          const query = generated.replace('clientId=fresh', `clientId=${randomBytes(6).toString('hex')}`);
          let response: LightMyRequestResponse;
          const headers = { authorization: `Bearer ${bearer}`, origin: widgetOrigin };
          if (isMultipart) {
            const { body, contentType: type } = multipartBody({}, [
              { fieldName: 'file', fileName, contentType, content },
            ]);
            response = await ctx.app.inject({
              method: 'POST',
              url: `/chat/attachments?${query}`,
              headers: { ...headers, 'content-type': type },
              payload: body,
            });
          } else {
            response = await ctx.app.inject({
              method: 'POST',
              url: `/chat/attachments?${query}`,
              headers: { ...headers, 'content-type': contentType || 'application/octet-stream' },
              payload: content,
            });
          }
          expectHandled(response, `${query} ${contentType} ${content.length}`);
          if (response.statusCode === 201) {
            const { id, interactionId } = response.json<{ id: string; interactionId: string }>();
            const { events: logged } = await ctx.services.interactions.detail(interactionId);
            expect(logged.some((e) => e.id === id && e.type === 'message.received')).toBe(true);
          }
          expectPrototypeClean();
        },
      ),
      { seed: fuzzSeed, numRuns: fuzzRuns(60) },
    );
    socket.disconnect();
  });

  it('reading attachments with generated ids and tokens: never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(nastyString, nastyString, nastyString, async (id, widgetId, bearer) => {
        const response = await ctx.app.inject({
          method: 'GET',
          url: `/chat/attachments/${safeEncode(id) || 'x'}?widgetId=${safeEncode(widgetId)}`,
          headers: { authorization: `Bearer ${wellFormed(bearer)}`, origin: widgetOrigin },
        });
        expectHandled(response, `${id} ${widgetId}`);
      }),
      { seed: fuzzSeed, numRuns: fuzzRuns(40) },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Regressions: each was a 500 (or a 400 before the signature check) found by the properties above.

describe('regressions found by fuzzing', () => {
  it('voice: a callback URL whose agent is not an id gets 400, not 500 (Postgres refused the uuid)', async () => {
    const url =
      '/webhooks/twilio/voice/callback-answer?interaction=5d2c2d8e-8a7b-4f6e-9d7e-1c9a3b1f0e22&agent=not-a-uuid';
    const params = { CallSid: `CA${hex(32)}` };
    const response = await postForm(
      url,
      params,
      twilio.getExpectedTwilioSignature(authToken, `${publicBaseUrl}${url}`, params),
      'x-twilio-signature',
    );
    expect(response.statusCode).toBe(400);
    expectErrorEnvelope(response, url);
  });

  it('voice: an unsigned request without a CallSid gets 403, not 400 (the signature is checked first)', async () => {
    const response = await postForm(
      '/webhooks/twilio/voice/incoming',
      { From: '+14155550100' },
      undefined,
      'x-twilio-signature',
    );
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'WEBHOOK_SIGNATURE_INVALID' } });
  });

  it('Telnyx: an event whose id holds NUL characters is taken, not a 500 (Postgres text cannot hold NUL)', async () => {
    const faxId = randomUUID();
    const raw = Buffer.from(
      JSON.stringify(telnyxFaxReceived({ fax_id: faxId }, { id: `evt\u0000${'\u0000'.repeat(40)}` })),
    );
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await postTelnyx(raw, {
      'content-type': 'application/json',
      'telnyx-timestamp': timestamp,
      'telnyx-signature-ed25519': telnyx.sign(timestamp, raw),
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(
      await count('select count(*)::int as n from faxes where provider = $1 and provider_fax_id = $2', [
        'telnyx',
        faxId,
      ]),
    ).toBe(1);
  });

  it('Phaxio: a callback with an extra field holding NUL is taken with its document, not a 500', async () => {
    const url = '/webhooks/fax/phaxio';
    const fields = {
      ...phaxioFields(phaxioReceivedFax({ id: Number.parseInt(hex(12), 16) })),
      note: 'a\u0000b',
    };
    const document = unique(Buffer.from('%PDF-1.4\n'));
    const files: MultipartFile[] = [
      { fieldName: 'filename', fileName: 'fax.pdf', contentType: 'application/pdf', content: document },
    ];
    const signature = signPhaxio(base.fax.phaxio.callbackToken!, `${publicBaseUrl}${url}`, fields, files);
    const response = await postMultipart(url, fields, files, { 'x-phaxio-signature': signature });
    expect(response.statusCode, response.body).toBe(200);
    expect(await keptCopies(document)).toBe(1);
  });

  it('HylaFAX: a page count too large for the column is read as none, and the fax is kept, not a 500', async () => {
    const fields = hylafaxFields({ commid: hex(9), pages: '+14155550100' });
    const document = unique(tinyTiff);
    const response = await postMultipart(
      '/webhooks/fax/hylafax',
      fields,
      [{ fieldName: 'file', fileName: 'fax.tif', contentType: 'image/tiff', content: document }],
      {
        authorization: `Bearer ${base.fax.hylafax.token!}`,
      },
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(await keptCopies(document)).toBe(1);
  });

  it('Phaxio: a failure report that still sent a PDF, with no readable page count, keeps the PDF (partial)', async () => {
    const url = '/webhooks/fax/phaxio';
    const id = Number.parseInt(hex(12), 16);
    const fields = phaxioFields(phaxioReceivedFax({ id, num_pages: 'unknown' }), { success: false });
    const document = unique(Buffer.from('%PDF-1.4\n'));
    const files: MultipartFile[] = [
      { fieldName: 'filename', fileName: 'fax.pdf', contentType: 'application/pdf', content: document },
    ];
    const signature = signPhaxio(base.fax.phaxio.callbackToken!, `${publicBaseUrl}${url}`, fields, files);
    const response = await postMultipart(url, fields, files, { 'x-phaxio-signature': signature });
    expect(response.statusCode, response.body).toBe(200);
    expect(await keptCopies(document)).toBe(1);
  });

  it.each([
    ['an unpaired surrogate', 'before \ud800 after'],
    ['a NUL', 'before \u0000 after'],
  ])('web chat: a message with %s is logged (as U+FFFD), not a 500', async (_name, text) => {
    const socket = visitorSocket({ widgetId: 'shop' });
    expect('session' in (await admitted(socket))).toBe(true);
    const ack = await ackOf(socket, 'message:send', { clientId: randomBytes(6).toString('hex'), text });
    if (!ack.ok) throw new Error(ack.error.message);
    const { events: logged } = await ctx.services.interactions.detail(ack.interactionId!);
    expect(logged.find((e) => e.type === 'message.received')?.payload).toMatchObject({
      text: 'before \uFFFD after',
    });
    socket.disconnect();
  });
});

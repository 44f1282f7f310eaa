import multipart from '@fastify/multipart';
import Fastify from 'fastify';
import { spawn, execFileSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseHylafaxFax, verifyHylafax } from '../../channels/fax/providers/hylafax.js';
import { parsePhaxioCallback, phaxioSignature, verifyPhaxio } from '../../channels/fax/providers/phaxio.js';
import {
  parseSignalWireFax,
  parseSignalWireSendStatus,
  receiveFaxTwiml,
  verifySignalWire,
} from '../../channels/fax/providers/signalwire.js';
import { parseTelnyxEvent, telnyxPublicKey, verifyTelnyx } from '../../channels/fax/providers/telnyx.js';
import { FaxPayloadError, type FaxReceipt } from '../../channels/fax/types.js';
import {
  hylafaxFields,
  hylafaxMultipart,
  phaxioFields,
  phaxioMultipart,
  phaxioReceivedFax,
  phaxioSentFax,
  signalWireFaxParams,
  signPhaxio,
  signSignalWire,
  telnyxEvent,
  telnyxFaxFailed,
  telnyxFaxReceived,
  telnyxKeys,
  telnyxOutboundEvent,
  telnyxRequest,
  tinyTiff,
} from '../support/fax-signing.js';

/*
 * The fax providers' pure halves: signatures checked against published vectors and refused when anything
 * signed is changed, every payload mapped to the channel's types, malformed payloads refused. The request
 * builders of tests/support/fax-signing.ts are checked too (their multipart bodies through @fastify/multipart,
 * as the routes will parse them). The HylaFAX faxrcvd script runs for real with sh and curl against a local
 * HTTP server.
 */

// ---------------------------------------------------------------------------------------------------------
// SignalWire

describe('verifySignalWire', () => {
  // Twilio's published request-validation example (twilio-php/-python/-csharp RequestValidator tests).
  const vector = {
    signingKey: '12345',
    url: 'https://mycompany.com/myapp.php?foo=1&bar=2',
    params: {
      CallSid: 'CA1234567890ABCDE',
      Caller: '+14158675309',
      Digits: '1234',
      From: '+14158675309',
      To: '+18005551212',
    },
    signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=',
  };

  it("accepts Twilio's published vector", () => {
    expect(verifySignalWire(vector)).toBe(true);
  });

  it('accepts what the test helper signs, and nothing changed after signing', () => {
    const url = 'https://switchboard.example.com/webhooks/fax/signalwire/received?inbox=main';
    const params = signalWireFaxParams();
    const signature = signSignalWire('PSK_signing_key', url, params);
    expect(verifySignalWire({ signingKey: 'PSK_signing_key', signature, url, params })).toBe(true);

    const refused = [
      { signingKey: 'PSK_other_key', signature, url, params },
      { signingKey: 'PSK_signing_key', signature, url: url.replace('main', 'other'), params },
      { signingKey: 'PSK_signing_key', signature, url, params: { ...params, NumPages: '3' } },
      { signingKey: 'PSK_signing_key', signature, url, params: { ...params, Extra: '' } },
      { signingKey: 'PSK_signing_key', signature: undefined, url, params },
      { signingKey: 'PSK_signing_key', signature: '', url, params },
      { signingKey: '', signature, url, params },
    ];
    for (const input of refused) expect(verifySignalWire(input)).toBe(false);
  });

  it('refuses a tampered published vector', () => {
    expect(verifySignalWire({ ...vector, params: { ...vector.params, Digits: '9999' } })).toBe(false);
    expect(verifySignalWire({ ...vector, url: `${vector.url}&baz=3` })).toBe(false);
    expect(verifySignalWire({ ...vector, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B9=' })).toBe(false);
  });
});

describe('receiveFaxTwiml', () => {
  it('answers with a <Receive> posting to the action URL, XML-escaped', () => {
    expect(receiveFaxTwiml('https://sb.example.com/webhooks/fax/signalwire/received?a=1&b="2"')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response>' +
        '<Receive action="https://sb.example.com/webhooks/fax/signalwire/received?a=1&amp;b=&quot;2&quot;" method="POST"/>' +
        '</Response>',
    );
  });
});

describe('parseSignalWireFax', () => {
  it('maps a received fax', () => {
    const params = signalWireFaxParams();
    expect(parseSignalWireFax(params)).toEqual<FaxReceipt>({
      provider: 'signalwire',
      faxId: params.FaxSid!,
      eventId: `${params.FaxSid}:received`,
      outcome: 'received',
      from: '+13103383454',
      to: '+13104456789',
      stationId: '+1 310 338 3454',
      pageCount: 2,
      error: null,
      document: { kind: 'url', url: params.MediaUrl! },
      details: {
        FaxSid: params.FaxSid,
        AccountSid: params.AccountSid,
        ApiVersion: 'v1',
        From: '+13103383454',
        To: '+13104456789',
        RemoteStationId: '+1 310 338 3454',
        FaxStatus: 'received',
        NumPages: '2',
      },
    });
  });

  it('maps a failure that left pages and a MediaUrl to partial, with the error', () => {
    const receipt = parseSignalWireFax(
      signalWireFaxParams({
        FaxStatus: 'failed',
        NumPages: '1',
        ErrorCode: '15002',
        ErrorMessage: 'Call dropped',
      }),
    );
    expect(receipt.outcome).toBe('partial');
    expect(receipt.eventId).toBe('b3877c40-da60-4998-90ad-b792e98472fx:failed');
    expect(receipt.error).toEqual({ code: '15002', message: 'Call dropped' });
    expect(receipt.document).toEqual({ kind: 'url', url: signalWireFaxParams().MediaUrl });
  });

  it.each([
    ['failed without media', { FaxStatus: 'failed', NumPages: '0', MediaUrl: '', ErrorCode: '15001' }],
    ['failed with a MediaUrl but no pages', { FaxStatus: 'failed', NumPages: '0' }],
    ['failed with a MediaUrl and no page count', { FaxStatus: 'failed', NumPages: '' }],
    ['received without a MediaUrl', { FaxStatus: 'received', MediaUrl: '' }],
    ['received with zero pages', { FaxStatus: 'received', NumPages: '0' }],
    ['no-answer', { FaxStatus: 'no-answer', MediaUrl: '', NumPages: '' }],
  ])('maps %s to failed, without a document', (_, overrides) => {
    const receipt = parseSignalWireFax(signalWireFaxParams(overrides));
    expect(receipt.outcome).toBe('failed');
    expect(receipt.document).toBeNull();
  });

  it('keeps a received fax whose NumPages is not given, with an unknown page count', () => {
    const { NumPages: _n, ...params } = signalWireFaxParams();
    const receipt = parseSignalWireFax(params);
    expect(receipt.outcome).toBe('received');
    expect(receipt.pageCount).toBeNull();
  });

  it('reads a withheld or missing caller as null, and a missing station id as null', () => {
    for (const From of ['anonymous', 'Restricted', '', '  ']) {
      expect(parseSignalWireFax(signalWireFaxParams({ From })).from).toBeNull();
    }
    expect(parseSignalWireFax(signalWireFaxParams({ RemoteStationId: '' })).stationId).toBeNull();
  });

  it('refuses a callback without a FaxSid', () => {
    expect(() => parseSignalWireFax(signalWireFaxParams({ FaxSid: '' }))).toThrow(FaxPayloadError);
    const { FaxSid: _sid, ...params } = signalWireFaxParams();
    expect(() => parseSignalWireFax(params)).toThrow(FaxPayloadError);
  });
});

describe('parseSignalWireSendStatus', () => {
  it.each([
    ['queued', 'sending'],
    ['processing', 'sending'],
    ['sending', 'sending'],
    ['delivered', 'delivered'],
    ['failed', 'failed'],
    ['no-answer', 'failed'],
    ['busy', 'failed'],
    ['canceled', 'failed'],
  ] as const)('maps FaxStatus %s to %s', (FaxStatus, status) => {
    expect(parseSignalWireSendStatus({ FaxSid: 'FX1', FaxStatus, NumPages: '2' })).toEqual({
      provider: 'signalwire',
      providerFaxId: 'FX1',
      status,
      pageCount: 2,
      error: null,
    });
  });

  it('keeps the error of a failed send', () => {
    expect(
      parseSignalWireSendStatus({
        FaxSid: 'FX1',
        FaxStatus: 'busy',
        ErrorCode: '15003',
        ErrorMessage: 'Busy',
      }),
    ).toMatchObject({ status: 'failed', pageCount: null, error: { code: '15003', message: 'Busy' } });
  });

  it('refuses a callback without a FaxSid or with an unknown FaxStatus', () => {
    expect(() => parseSignalWireSendStatus({ FaxStatus: 'delivered' })).toThrow(FaxPayloadError);
    expect(() => parseSignalWireSendStatus({ FaxSid: 'FX1', FaxStatus: 'exploded' })).toThrow(
      FaxPayloadError,
    );
    expect(() => parseSignalWireSendStatus({ FaxSid: 'FX1' })).toThrow(FaxPayloadError);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Telnyx

describe('verifyTelnyx', () => {
  const keys = telnyxKeys();
  const now = new Date('2024-03-01T12:00:00Z');
  const nowSeconds = now.getTime() / 1000;
  const check = (request: { rawBody: Buffer; headers: Record<string, string> }, publicKey = keys.publicKey) =>
    verifyTelnyx({
      publicKey,
      signature: request.headers['telnyx-signature-ed25519'],
      timestamp: request.headers['telnyx-timestamp'],
      rawBody: request.rawBody,
      now,
      toleranceSeconds: 300,
    });

  it('accepts a signed event, up to the tolerance either side of now', () => {
    for (const timestamp of [nowSeconds, nowSeconds - 300, nowSeconds + 300]) {
      expect(check(telnyxRequest(keys, telnyxFaxReceived(), { timestamp }))).toEqual({ ok: true });
    }
  });

  it('refuses a missing signature or timestamp', () => {
    const request = telnyxRequest(keys, telnyxFaxReceived(), { timestamp: nowSeconds });
    const { 'telnyx-signature-ed25519': _s, ...noSignature } = request.headers;
    const { 'telnyx-timestamp': _t, ...noTimestamp } = request.headers;
    expect(check({ ...request, headers: noSignature })).toEqual({ ok: false, reason: 'missing' });
    expect(check({ ...request, headers: noTimestamp })).toEqual({ ok: false, reason: 'missing' });
  });

  it('refuses a timestamp past the tolerance, in the past or the future, as stale', () => {
    for (const timestamp of [nowSeconds - 301, nowSeconds + 301, nowSeconds - 86_400]) {
      expect(check(telnyxRequest(keys, telnyxFaxReceived(), { timestamp }))).toEqual({
        ok: false,
        reason: 'stale',
      });
    }
  });

  it('refuses a changed body, a changed timestamp, another key, or a malformed signature', () => {
    const request = telnyxRequest(keys, telnyxFaxReceived(), { timestamp: nowSeconds });
    const tamperedBody = Buffer.from(request.rawBody.toString().replace('"page_count":2', '"page_count":3'));
    expect(tamperedBody.equals(request.rawBody)).toBe(false);
    expect(check({ ...request, rawBody: tamperedBody })).toEqual({ ok: false, reason: 'invalid' });
    // Signed at one second, sent as another: still fresh, no longer the signed message.
    expect(
      check({ ...request, headers: { ...request.headers, 'telnyx-timestamp': String(nowSeconds - 1) } }),
    ).toEqual({ ok: false, reason: 'invalid' });
    expect(check(request, telnyxKeys().publicKey)).toEqual({ ok: false, reason: 'invalid' });
    for (const signature of ['not base64!', Buffer.alloc(64).toString('base64'), 'AAAA']) {
      expect(
        check({ ...request, headers: { ...request.headers, 'telnyx-signature-ed25519': signature } }),
      ).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(check({ ...request, headers: { ...request.headers, 'telnyx-timestamp': '17e8' } })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('throws on a public key that is not a raw 32-byte Ed25519 key (a configuration error)', () => {
    expect(() => telnyxPublicKey(Buffer.alloc(31).toString('base64'))).toThrow(/32-byte/);
    expect(telnyxPublicKey(keys.publicKey).asymmetricKeyType).toBe('ed25519');
  });
});

describe('parseTelnyxEvent', () => {
  it('maps fax.received to a received receipt with the media link', () => {
    const event = telnyxFaxReceived({}, { id: '4844b70c-3c6c-4c3a-ba2e-e4c785f02d24' });
    expect(parseTelnyxEvent(JSON.parse(JSON.stringify(event)))).toEqual({
      kind: 'inbound',
      receipt: {
        provider: 'telnyx',
        faxId: 'f72eebbe-f9b6-4f0f-b652-03e742e110d5',
        eventId: '4844b70c-3c6c-4c3a-ba2e-e4c785f02d24',
        occurredAt: new Date('2020-08-27T16:33:36.843054Z'),
        outcome: 'received',
        from: '+16132484850',
        to: '+17733372863',
        stationId: null,
        pageCount: 2,
        error: null,
        document: { kind: 'url', url: event.data.payload.media_url },
        details: {
          event_type: 'fax.received',
          connection_id: '1447842681660114324',
          direction: 'inbound',
          fax_id: 'f72eebbe-f9b6-4f0f-b652-03e742e110d5',
          from: '+16132484850',
          to: '+17733372863',
          user_id: '19a75cea-02c6-4b9a-84fa-c9bc8341feb8',
          caller_id: '+16132484872',
          call_duration_secs: 50,
          page_count: 2,
          partial_content: false,
          status: 'received',
        },
      },
    });
  });

  it('maps partial_content true to partial, keeping the document', () => {
    const parsed = parseTelnyxEvent(telnyxFaxReceived({ partial_content: true, page_count: 1 }));
    expect(parsed).toMatchObject({ kind: 'inbound', receipt: { outcome: 'partial', pageCount: 1 } });
    expect(parsed.kind === 'inbound' && parsed.receipt.document?.kind).toBe('url');
  });

  it('maps an inbound fax.failed to a failed receipt with the failure reason', () => {
    const parsed = parseTelnyxEvent(telnyxFaxFailed({}, { id: '1a7405a6-696c-4369-a0b1-168e4bb7e22c' }));
    expect(parsed).toMatchObject({
      kind: 'inbound',
      receipt: {
        faxId: 'f72eebbe-f9b6-4f0f-b652-03e742e110d5',
        eventId: '1a7405a6-696c-4369-a0b1-168e4bb7e22c',
        outcome: 'failed',
        pageCount: null,
        error: { code: 'sender_call_dropped', message: null },
        document: null,
      },
    });
  });

  it('falls back to caller_id when from is withheld', () => {
    const parsed = parseTelnyxEvent(telnyxFaxReceived({ from: 'anonymous' }));
    expect(parsed.kind === 'inbound' && parsed.receipt.from).toBe('+16132484872');
  });

  it.each([
    ['fax.queued', 'sending'],
    ['fax.media.processed', 'sending'],
    ['fax.sending.started', 'sending'],
    ['fax.delivered', 'delivered'],
    ['fax.failed', 'failed'],
  ] as const)('maps the outbound %s to %s', (eventType, status) => {
    expect(parseTelnyxEvent(telnyxOutboundEvent(eventType))).toEqual({
      kind: 'outbound',
      status: {
        provider: 'telnyx',
        providerFaxId: 'f8338808-3dc6-4f2b-942a-5d1f39255784',
        status,
        pageCount: eventType === 'fax.delivered' ? 2 : null,
        error: eventType === 'fax.failed' ? { code: 'receiver_no_answer', message: null } : null,
      },
    });
  });

  it('takes a fax.failed without a direction for a fax we sent', () => {
    const event = telnyxOutboundEvent('fax.failed');
    delete event.data.payload.direction;
    expect(parseTelnyxEvent(event)).toMatchObject({ kind: 'outbound', status: { status: 'failed' } });
  });

  it('ignores other events, naming them for the log', () => {
    for (const eventType of ['fax.receiving.started', 'fax.media.processing.started', 'call.initiated']) {
      const event = telnyxEvent(eventType, { fax_id: 'x', direction: 'inbound' }, { id: 'ev-1' });
      expect(parseTelnyxEvent(event)).toEqual({ kind: 'ignored', eventType, eventId: 'ev-1' });
    }
    // An outbound status name reported for an inbound fax is not a send status.
    const queuedInbound = telnyxEvent('fax.queued', { fax_id: 'x', direction: 'inbound' }, { id: 'ev-2' });
    expect(parseTelnyxEvent(queuedInbound)).toEqual({
      kind: 'ignored',
      eventType: 'fax.queued',
      eventId: 'ev-2',
    });
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'fax.received'],
    ['no data', { meta: {} }],
    ['data without event_type', { data: { id: 'e', payload: {} } }],
    ['data without id', { data: { event_type: 'fax.received', payload: {} } }],
    ['fax.received without fax_id', telnyxEvent('fax.received', { media_url: 'https://m/x.pdf' })],
    ['fax.received without media_url', telnyxFaxReceived({ media_url: undefined })],
    ['fax.delivered without fax_id', telnyxEvent('fax.delivered', { direction: 'outbound' })],
  ])('refuses %s', (_, body) => {
    expect(() => parseTelnyxEvent(body)).toThrow(FaxPayloadError);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Phaxio

describe('phaxioSignature and verifyPhaxio', () => {
  // The published vector.
  const vector = {
    callbackToken: 'cbtoken',
    url: 'https://example.com/fax/phaxio',
    fields: { direction: 'received', fax: '{"id":1}', is_test: 'false', success: 'true' },
    files: [{ fieldName: 'filename', content: Buffer.from('PDFDATA') }],
  };

  it('matches the published vector', () => {
    expect(phaxioSignature(vector)).toBe('111ff6c36e2170aab3a902d2a2b09f49ae7b4160');
    expect(signPhaxio(vector.callbackToken, vector.url, vector.fields, vector.files)).toBe(
      '111ff6c36e2170aab3a902d2a2b09f49ae7b4160',
    );
    expect(verifyPhaxio({ ...vector, signature: '111ff6c36e2170aab3a902d2a2b09f49ae7b4160' })).toBe(true);
    // Field order as posted does not matter; the hex may come in upper case.
    const reordered = { success: 'true', fax: '{"id":1}', is_test: 'false', direction: 'received' };
    expect(
      verifyPhaxio({ ...vector, fields: reordered, signature: '111FF6C36E2170AAB3A902D2A2B09F49AE7B4160' }),
    ).toBe(true);
  });

  it('refuses anything changed after signing', () => {
    const signature = '111ff6c36e2170aab3a902d2a2b09f49ae7b4160';
    const refused = [
      { ...vector, callbackToken: 'other' },
      { ...vector, url: 'https://example.com/fax/phaxio/' },
      { ...vector, fields: { ...vector.fields, success: 'false' } },
      { ...vector, fields: { ...vector.fields, metadata: '' } },
      { ...vector, files: [{ fieldName: 'filename', content: Buffer.from('PDFDATA!') }] },
      { ...vector, files: [{ fieldName: 'file', content: Buffer.from('PDFDATA') }] },
      { ...vector, files: [] },
      { ...vector, callbackToken: '' },
    ];
    for (const input of refused) expect(verifyPhaxio({ ...input, signature })).toBe(false);
    expect(verifyPhaxio({ ...vector, signature: undefined })).toBe(false);
    expect(verifyPhaxio({ ...vector, signature: signature.slice(0, -1) })).toBe(false);
  });

  it('verifies a helper-built callback as @fastify/multipart parses it', async () => {
    const url = 'https://switchboard.example.com/webhooks/fax/phaxio';
    const pdf = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\nbinary \r\n--not-a-boundary\r\n', 'latin1');
    const request = phaxioMultipart({
      url,
      callbackToken: 'cbtoken',
      fields: phaxioFields(phaxioReceivedFax({ caller_name: 'ACME "CLINIC"\r\nX' })),
      file: { content: pdf, fileName: 'fax 123.pdf' },
    });

    const app = Fastify();
    await app.register(multipart);
    app.post('/webhooks/fax/phaxio', async (req) => {
      const fields: Record<string, string> = {};
      let file: { fieldName: string; fileName: string; contentType: string; content: Buffer } | null = null;
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          file = {
            fieldName: part.fieldname,
            fileName: part.filename,
            contentType: part.mimetype,
            content: await part.toBuffer(),
          };
        } else {
          fields[part.fieldname] = String(part.value);
        }
      }
      const signature = req.headers['x-phaxio-signature'] as string | undefined;
      const isValid = verifyPhaxio({
        callbackToken: 'cbtoken',
        signature,
        url,
        fields,
        files: file ? [file] : [],
      });
      const parsed = parsePhaxioCallback(fields, file);
      return { isValid, parsed };
    });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/webhooks/fax/phaxio',
        headers: { 'content-type': request.contentType, 'x-phaxio-signature': request.signature },
        payload: request.body,
      });
      expect(response.statusCode).toBe(200);
      const { isValid, parsed } = response.json<{ isValid: boolean; parsed: { receipt: FaxReceipt } }>();
      expect(isValid).toBe(true);
      expect(parsed.receipt).toMatchObject({ outcome: 'received', faxId: '123456', pageCount: 3 });
      expect(parsed.receipt.document).toMatchObject({
        kind: 'bytes',
        fileName: 'fax 123.pdf',
        contentType: 'application/pdf',
      });
      expect(parsed.receipt.details['fax.caller_name']).toBe('ACME "CLINIC"\r\nX');
    } finally {
      await app.close();
    }
  });
});

describe('parsePhaxioCallback', () => {
  const pdf = {
    fieldName: 'filename',
    fileName: 'fax.pdf',
    contentType: 'application/pdf',
    content: Buffer.from('%PDF'),
  };

  it('maps a received fax with its PDF', () => {
    const fax = phaxioReceivedFax();
    const parsed = parsePhaxioCallback(phaxioFields(fax), pdf);
    expect(parsed).toEqual({
      kind: 'inbound',
      receipt: {
        provider: 'phaxio',
        faxId: '123456',
        eventId: '123456:received',
        occurredAt: new Date('2024-03-01T16:01:30.000Z'),
        outcome: 'received',
        from: '+18475551234',
        to: '+13125556789',
        stationId: null,
        pageCount: 3,
        error: null,
        document: {
          kind: 'bytes',
          content: pdf.content,
          fileName: 'fax.pdf',
          contentType: 'application/pdf',
        },
        details: expect.objectContaining({
          success: 'true',
          is_test: 'false',
          direction: 'received',
          'fax.id': 123456,
          'fax.caller_name': 'ACME CLINIC',
        }) as Record<string, unknown>,
      },
    });
  });

  it('maps a failure that still sent a PDF with pages to partial', () => {
    const fax = phaxioReceivedFax({
      status: 'failure',
      num_pages: 2,
      error_type: 'faxError',
      error_message: 'Page transfer failed',
      error_id: 36,
    });
    const parsed = parsePhaxioCallback(phaxioFields(fax, { success: false }), pdf);
    expect(parsed).toMatchObject({
      kind: 'inbound',
      receipt: {
        outcome: 'partial',
        eventId: '123456:partial',
        pageCount: 2,
        error: { code: 'faxError', message: 'Page transfer failed' },
      },
    });
  });

  it('maps a failure without a PDF, or with no pages, to failed', () => {
    const fax = phaxioReceivedFax({
      status: 'failure',
      num_pages: 0,
      error_type: 'lineError',
      error_message: 'No answer',
    });
    for (const file of [null, pdf]) {
      expect(parsePhaxioCallback(phaxioFields(fax, { success: false }), file)).toMatchObject({
        kind: 'inbound',
        receipt: { outcome: 'failed', document: null, error: { code: 'lineError', message: 'No answer' } },
      });
    }
  });

  it('does not call a success without a file received', () => {
    expect(parsePhaxioCallback(phaxioFields(phaxioReceivedFax()), null)).toMatchObject({
      kind: 'inbound',
      receipt: { outcome: 'failed', document: null, error: { code: 'no_document' } },
    });
  });

  it('reads a v2.1 webhook: no success or direction field, the file part named file', () => {
    const fields = { fax: JSON.stringify(phaxioReceivedFax()), event_type: 'fax_completed' };
    expect(parsePhaxioCallback(fields, { ...pdf, fieldName: 'file' })).toMatchObject({
      kind: 'inbound',
      receipt: { outcome: 'received', faxId: '123456' },
    });
  });

  it.each([
    [{ status: 'success' }, { success: true }, 'delivered'],
    [{ status: 'inprogress' }, { success: false }, 'sending'],
    [{ status: 'queued' }, { success: false }, 'sending'],
    [{ status: 'failure' }, { success: false }, 'failed'],
    [{ status: undefined }, { success: true }, 'delivered'],
  ] as const)('maps a sent fax %j (%j) to %s', (fax, options, status) => {
    expect(parsePhaxioCallback(phaxioFields(phaxioSentFax(fax), options), null)).toMatchObject({
      kind: 'outbound',
      status: { provider: 'phaxio', providerFaxId: '654321', status, pageCount: 2 },
    });
  });

  it("takes a failed send's error from the fax, else from its recipient", () => {
    const recipientError = phaxioSentFax({
      status: 'failure',
      recipients: [
        {
          phone_number: '+18475551234',
          status: 'failure',
          error_type: 'lineError',
          error_message: 'Busy',
          error_id: 29,
        },
      ],
    });
    expect(parsePhaxioCallback(phaxioFields(recipientError, { success: false }), null)).toEqual({
      kind: 'outbound',
      status: {
        provider: 'phaxio',
        providerFaxId: '654321',
        status: 'failed',
        pageCount: 2,
        error: { code: 'lineError', message: 'Busy' },
      },
    });
  });

  it.each([
    ['no fax field', { success: 'true', direction: 'received' }],
    ['a fax field that is not JSON', { direction: 'received', fax: '{id:1' }],
    ['a fax field that is a JSON array', { direction: 'received', fax: '[1]' }],
    ['a fax without an id', { direction: 'received', fax: '{"num_pages":1}' }],
    ['a fax with an empty id', { direction: 'received', fax: '{"id":""}' }],
    ['no direction anywhere', { fax: '{"id":1}' }],
  ])('refuses %s', (_, fields) => {
    expect(() => parsePhaxioCallback(fields as Record<string, string>, null)).toThrow(FaxPayloadError);
  });
});

// ---------------------------------------------------------------------------------------------------------
// HylaFAX

describe('verifyHylafax', () => {
  it('accepts the bearer token and nothing else', () => {
    expect(verifyHylafax({ token: 's3cret', authorization: 'Bearer s3cret' })).toBe(true);
    expect(verifyHylafax({ token: 's3cret', authorization: 'bearer s3cret' })).toBe(true);
    for (const authorization of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Bearer s3cre',
      'Bearer s3cret2',
      'Basic s3cret',
      's3cret',
    ]) {
      expect(verifyHylafax({ token: 's3cret', authorization })).toBe(false);
    }
    expect(verifyHylafax({ token: '', authorization: 'Bearer ' })).toBe(false);
  });
});

describe('parseHylafaxFax', () => {
  const tiff = { fileName: 'fax00012.tif', contentType: 'image/tiff', content: tinyTiff };

  it('maps a whole fax', () => {
    expect(parseHylafaxFax(hylafaxFields({ to: '+13125556789' }), tiff)).toEqual<FaxReceipt>({
      provider: 'hylafax',
      faxId: '000000123',
      eventId: '000000123:received',
      outcome: 'received',
      from: '4159657824',
      to: '+13125556789',
      stationId: '+1 415 965 7824',
      pageCount: 3,
      error: null,
      document: { kind: 'bytes', content: tinyTiff, fileName: 'fax00012.tif', contentType: 'image/tiff' },
      details: {
        commid: '000000123',
        device: 'ttyS0',
        callid: '4159657824',
        callid2: 'ACME CLINIC',
        sender: '+1 415 965 7824',
        pages: 3,
      },
    });
  });

  it('maps an error with a file that holds pages to partial', () => {
    const receipt = parseHylafaxFax(hylafaxFields({ pages: '2', error: 'RSPREC error/got DCN' }), tiff);
    expect(receipt).toMatchObject({
      outcome: 'partial',
      eventId: '000000123:partial',
      error: { code: null, message: 'RSPREC error/got DCN' },
      document: { kind: 'bytes' },
    });
    // Without faxinfo the page count is unknown: the file is taken as holding what came.
    expect(parseHylafaxFax(hylafaxFields({ pages: '', error: 'RSPREC error/got DCN' }), tiff).outcome).toBe(
      'partial',
    );
  });

  it('maps an error without a file, or with no pages, to failed', () => {
    for (const [fields, file] of [
      [hylafaxFields({ pages: '', error: 'Failure to train' }), null],
      [hylafaxFields({ pages: '0', error: 'Failure to train' }), tiff],
      [hylafaxFields({ pages: '1', error: 'Failure to train' }), { ...tiff, content: Buffer.alloc(0) }],
    ] as const) {
      expect(parseHylafaxFax(fields, file)).toMatchObject({
        outcome: 'failed',
        document: null,
        error: { code: null, message: 'Failure to train' },
      });
    }
  });

  it('takes callid for the sender only when it looks like a number', () => {
    const from = (callid: string) => parseHylafaxFax(hylafaxFields({ callid }), tiff).from;
    expect(from('+1 (415) 965-7824')).toBe('+1 (415) 965-7824');
    for (const callid of ['', 'P', 'O', 'PRIVATE', 'OUT OF AREA', 'ACME CLINIC', '12'])
      expect(from(callid)).toBeNull();
    expect(parseHylafaxFax(hylafaxFields({ sender: '  ' }), tiff).stationId).toBeNull();
  });

  it('refuses a post without a commid', () => {
    expect(() => parseHylafaxFax(hylafaxFields({ commid: ' ' }), tiff)).toThrow(FaxPayloadError);
    const { commid: _c, ...fields } = hylafaxFields();
    expect(() => parseHylafaxFax(fields, tiff)).toThrow(FaxPayloadError);
  });

  it('reads a helper-built post as @fastify/multipart parses it', async () => {
    const request = hylafaxMultipart({ token: 'tok', fields: hylafaxFields(), file: { content: tinyTiff } });
    const app = Fastify();
    await app.register(multipart);
    app.post('/webhooks/fax/hylafax', async (req) => {
      const fields: Record<string, string> = {};
      let file: { fileName: string; contentType: string; content: Buffer } | null = null;
      for await (const part of req.parts()) {
        if (part.type === 'file')
          file = { fileName: part.filename, contentType: part.mimetype, content: await part.toBuffer() };
        else fields[part.fieldname] = String(part.value);
      }
      const isValid = verifyHylafax({ token: 'tok', authorization: req.headers.authorization });
      return { isValid, receipt: parseHylafaxFax(fields, file) };
    });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/webhooks/fax/hylafax',
        headers: { 'content-type': request.contentType, authorization: request.authorization },
        payload: request.body,
      });
      const { isValid, receipt } = response.json<{ isValid: boolean; receipt: FaxReceipt }>();
      expect(isValid).toBe(true);
      expect(receipt).toMatchObject({
        outcome: 'received',
        faxId: '000000123',
        document: { fileName: 'fax00012.tif' },
      });
    } finally {
      await app.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// The faxrcvd script, for real: sh, curl, a local HTTP server

const faxrcvd = resolve(dirname(fileURLToPath(import.meta.url)), '../../channels/fax/hylafax/faxrcvd');

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe('faxrcvd', () => {
  let server: Server;
  let baseUrl: string;
  let received: Received[];
  /** The statuses to answer, in order; the last one repeats. */
  let answers: number[];
  let work: string;
  let spool: string;
  let bin: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        const status = answers.length > 1 ? answers.shift()! : answers[0]!;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status }));
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((done) => server.close(done));
  });

  beforeEach(() => {
    received = [];
    answers = [200];
    work = mkdtempSync(join(tmpdir(), 'faxrcvd-test-'));
    spool = join(work, 'spool');
    mkdirSync(join(spool, 'recvq'), { recursive: true });
    writeFileSync(join(spool, 'recvq/fax00012.tif'), tinyTiff);
    // A PATH with the tools the script uses and no faxinfo, whatever this machine has installed.
    bin = join(work, 'bin');
    mkdirSync(bin);
    for (const tool of ['sh', 'curl', 'sed', 'mktemp', 'rm', 'cat', 'dd', 'tr', 'sleep']) {
      symlinkSync(
        execFileSync('sh', ['-c', `command -v ${tool}`])
          .toString()
          .trim(),
        join(bin, tool),
      );
    }
  });

  afterEach(() => {
    rmSync(work, { recursive: true, force: true });
  });

  function run(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; stderr: string }> {
    return new Promise((done, fail) => {
      const child = spawn(join(bin, 'sh'), [faxrcvd, ...args], {
        cwd: spool,
        env: {
          PATH: bin,
          SWITCHBOARD_URL: `${baseUrl}/`,
          SWITCHBOARD_FAX_TOKEN: 'hylafax-token',
          SWITCHBOARD_FAX_CONF: join(work, 'absent.conf'),
          SWITCHBOARD_FAX_RETRY_DELAY: '0',
          ...env,
        },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', fail);
      child.on('close', (code) => done({ code, stderr }));
    });
  }

  async function formOf(request: Received): Promise<FormData> {
    return new Request('http://localhost/', {
      method: 'POST',
      headers: { 'content-type': String(request.headers['content-type']) },
      body: new Uint8Array(request.body),
    }).formData();
  }

  /** The text fields of a form (the file part left out). */
  function textFields(form: FormData): Record<string, string> {
    const fields: Record<string, string> = {};
    form.forEach((value, name) => {
      if (typeof value === 'string') fields[name] = value;
    });
    return fields;
  }

  it('posts the fax with its fields, the TIFF and the bearer token', async () => {
    const result = await run(['recvq/fax00012.tif', 'ttyS0', '000000123', '', '4159657824', 'ACME CLINIC']);
    expect(result.code).toBe(0);
    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/webhooks/fax/hylafax');
    expect(request.headers.authorization).toBe('Bearer hylafax-token');
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);

    const form = await formOf(request);
    const fields = textFields(form);
    expect(fields).toEqual({
      commid: '000000123',
      device: 'ttyS0',
      sender: '',
      callid: '4159657824',
      callid2: 'ACME CLINIC',
      pages: '',
      error: '',
      to: '',
    });
    const file = form.get('file') as File;
    expect(file.name).toBe('fax00012.tif');
    expect(file.type).toBe('image/tiff');
    expect(Buffer.from(await file.arrayBuffer()).equals(tinyTiff)).toBe(true);
    expect(verifyHylafax({ token: 'hylafax-token', authorization: request.headers.authorization })).toBe(
      true,
    );
    const receipt = parseHylafaxFax(fields, {
      fileName: file.name,
      contentType: file.type,
      content: tinyTiff,
    });
    expect(receipt).toMatchObject({
      outcome: 'received',
      faxId: '000000123',
      from: '4159657824',
      pageCount: null,
    });
  });

  it('adds what faxinfo says, takes settings from the file, and lets the environment override it', async () => {
    writeFileSync(
      join(bin, 'faxinfo'),
      [
        '#!/bin/sh',
        '[ "$1" = -n ] || exit 2',
        'echo "          Sender: +1 415 965 7824  "',
        'echo "           Pages: 3"',
        'echo "         Quality: Normal"',
        'echo "        Received: 1996:01:19 13:51:02"',
      ].join('\n'),
      { mode: 0o755 },
    );
    const conf = join(work, 'switchboard.conf');
    writeFileSync(
      conf,
      [
        '# Switchboard',
        `SWITCHBOARD_URL="${baseUrl}"`,
        "SWITCHBOARD_FAX_TOKEN='from-the-file'",
        'export SWITCHBOARD_FAX_NUMBER=+13125556789',
        'SWITCHBOARD_FAX_ATTEMPTS=$(touch pwned)',
      ].join('\n'),
    );
    const result = await run(['recvq/fax00012.tif', 'ttyS1', '000000124', 'RSPREC error/got DCN', 'P', ''], {
      SWITCHBOARD_URL: '',
      SWITCHBOARD_FAX_CONF: conf,
      SWITCHBOARD_FAX_TOKEN: 'from-the-environment',
    });
    expect(result.code).toBe(0);
    expect(existsSync(join(spool, 'pwned'))).toBe(false);
    expect(received).toHaveLength(1);
    expect(received[0]!.headers.authorization).toBe('Bearer from-the-environment');
    const form = await formOf(received[0]!);
    expect(form.get('sender')).toBe('+1 415 965 7824');
    expect(form.get('pages')).toBe('3');
    expect(form.get('error')).toBe('RSPREC error/got DCN');
    expect(form.get('to')).toBe('+13125556789');
    expect(form.get('callid')).toBe('P');
  });

  it('posts a failed receive without a file part', async () => {
    const result = await run(['recvq/fax00099.tif', 'ttyS0', '000000125', 'Failure to train', '', '']);
    expect(result.code).toBe(0);
    const form = await formOf(received[0]!);
    expect(form.has('file')).toBe(false);
    expect(form.get('error')).toBe('Failure to train');
    const fields = textFields(form);
    expect(parseHylafaxFax(fields, null)).toMatchObject({ outcome: 'failed', faxId: '000000125' });
  });

  it('retries after a 5xx and succeeds', async () => {
    answers = [503, 200];
    const result = await run(['recvq/fax00012.tif', 'ttyS0', '000000126', '']);
    expect(result.code).toBe(0);
    expect(received).toHaveLength(2);
    expect(result.stderr).toMatch(/attempt 1 of 5 failed \(HTTP 503/);
  });

  it('gives up with a non-zero exit when every attempt gets 500, keeping the file', async () => {
    answers = [500];
    const result = await run(['recvq/fax00012.tif', 'ttyS0', '000000127', ''], {
      SWITCHBOARD_FAX_ATTEMPTS: '3',
    });
    expect(result.code).toBe(75);
    expect(received).toHaveLength(3);
    expect(result.stderr).toMatch(/fax 000000127 \(recvq\/fax00012\.tif\) not delivered .* after 3 attempts/);
    expect(readFileSync(join(spool, 'recvq/fax00012.tif')).equals(tinyTiff)).toBe(true);
  });

  it('stops at once when Switchboard refuses the post (401), keeping the file', async () => {
    answers = [401];
    const result = await run(['recvq/fax00012.tif', 'ttyS0', '000000128', '']);
    expect(result.code).toBe(65);
    expect(received).toHaveLength(1);
    expect(result.stderr).toMatch(/refused .* HTTP 401/);
    expect(existsSync(join(spool, 'recvq/fax00012.tif'))).toBe(true);
  });

  it('exits non-zero without the URL or the token, and on too few arguments', async () => {
    expect(
      (await run(['recvq/fax00012.tif', 'ttyS0', '000000129', ''], { SWITCHBOARD_FAX_TOKEN: '' })).code,
    ).toBe(78);
    expect((await run(['recvq/fax00012.tif', 'ttyS0'])).code).toBe(64);
    expect(received).toHaveLength(0);
    expect(existsSync(join(spool, 'recvq/fax00012.tif'))).toBe(true);
  });
});

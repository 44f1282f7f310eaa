import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createPhaxioFaxSender,
  createSignalWireFaxSender,
  createTelnyxFaxSender,
} from '../../channels/fax/providers/senders.js';
import { FaxSendError, type FaxSender, type FaxSendRequest } from '../../channels/fax/types.js';
import { startFaxApiDouble, type FaxApiDouble, type FaxApiProvider } from '../support/fax-api-double.js';

/*
 * The three API senders against the local provider double (tests/support/fax-api-double.ts): what each puts
 * on the wire, how it authenticates, the id it hands back, the PDF that reaches the provider (fetched from a
 * media server in this file, or uploaded), and which failures it calls permanent. Secrets are distinctive
 * strings, so that any leak into an error message shows.
 */

const projectId = '6f1c2c4e-8a0b-4d7e-9a51-0c3b2f7d1e90';
const secrets = {
  signalwireToken: 'PT-sw-secret-token-7c1e',
  telnyxKey: 'KEY-telnyx-secret-9f3a',
  phaxioKey: 'phaxio-key-secret-41d0',
  phaxioSecret: 'phaxio-secret-secret-b2e8',
};

/** A small PDF with every byte value in it, so that any re-encoding on the way shows. */
const pdf = Buffer.concat([
  Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('\n%%EOF\n', 'latin1'),
]);

interface MediaServer {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

async function listen(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

/** Serves the PDF at /media/reply.pdf (any query: the signature), 404 elsewhere. */
async function startMediaServer(): Promise<MediaServer> {
  const requests: string[] = [];
  const { server, url } = await listen((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    requests.push(request.url ?? '/');
    if (path !== '/media/reply.pdf') {
      response.statusCode = 404;
      response.end('not found');
      return;
    }
    response.setHeader('Content-Type', 'application/pdf');
    response.end(pdf);
  });
  return { url, requests, close: () => closeServer(server) };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const { server } = await listen(() => undefined);
  const { port } = server.address() as AddressInfo;
  await closeServer(server);
  return port;
}

/** A provider that answers every request with `status` and `body`, whatever it was. */
async function answeringWith(
  status: number,
  body: unknown,
): Promise<{ url: string; close(): Promise<void> }> {
  const { server, url } = await listen((request, response) => {
    request.resume();
    request.on('end', () => {
      response.statusCode = status;
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify(body));
    });
  });
  return { url, close: () => closeServer(server) };
}

let api: FaxApiDouble;
let media: MediaServer;

beforeEach(async () => {
  api = await startFaxApiDouble({
    credentials: {
      signalwire: { projectId, apiToken: secrets.signalwireToken },
      telnyx: { apiKey: secrets.telnyxKey },
      phaxio: { apiKey: secrets.phaxioKey, apiSecret: secrets.phaxioSecret },
    },
  });
  media = await startMediaServer();
});

afterEach(async () => {
  await api.close();
  await media.close();
});

function faxRequest(overrides: Partial<FaxSendRequest> = {}): FaxSendRequest {
  return {
    to: '+14155550123',
    from: '+18005550100',
    document: { content: pdf, fileName: 'reply-42.pdf' },
    mediaUrl: `${media.url}/media/reply.pdf?expires=1700000000&signature=abc123`,
    statusCallbackUrl: 'https://switchboard.example.com/webhooks/fax/status',
    reference: 'evt-0192f6c4-sent',
    ...overrides,
  };
}

type SenderOverrides = { baseUrl?: string; timeoutMs?: number; wrongSecret?: boolean };

/** A sender for `provider` pointed at the double (or `baseUrl`), with the right credentials unless told. */
function senderFor(provider: FaxApiProvider, overrides: SenderOverrides = {}): FaxSender {
  const baseUrl = overrides.baseUrl ?? api.baseUrl;
  const timeout = overrides.timeoutMs !== undefined ? { timeoutMs: overrides.timeoutMs } : {};
  const wrong = overrides.wrongSecret === true ? '-wrong' : '';
  switch (provider) {
    case 'signalwire':
      return createSignalWireFaxSender({
        spaceUrl: baseUrl,
        projectId: projectId,
        apiToken: api.credentials.signalwire.apiToken + wrong,
        ...timeout,
      });
    case 'telnyx':
      return createTelnyxFaxSender({
        apiBaseUrl: baseUrl,
        apiKey: api.credentials.telnyx.apiKey + wrong,
        connectionId: api.credentials.telnyx.connectionId,
        ...timeout,
      });
    case 'phaxio':
      return createPhaxioFaxSender({
        apiBaseUrl: baseUrl,
        apiKey: api.credentials.phaxio.apiKey,
        apiSecret: api.credentials.phaxio.apiSecret + wrong,
        ...timeout,
      });
  }
}

const providers: FaxApiProvider[] = ['signalwire', 'telnyx', 'phaxio'];
const labels: Record<FaxApiProvider, string> = {
  signalwire: 'SignalWire',
  telnyx: 'Telnyx',
  phaxio: 'Phaxio',
};
/** What each provider answers to a fax it takes. */
const acceptedStatus: Record<FaxApiProvider, number> = { signalwire: 201, telnyx: 202, phaxio: 200 };

const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');
/** Each sender's credentials in the forms they could take in text: raw and as a Basic header's value. */
const credentialsOf: Record<FaxApiProvider, string[]> = {
  signalwire: [secrets.signalwireToken, basic(projectId, secrets.signalwireToken)],
  telnyx: [secrets.telnyxKey],
  phaxio: [secrets.phaxioKey, secrets.phaxioSecret, basic(secrets.phaxioKey, secrets.phaxioSecret)],
};
/** Every credential, the wrong ones the tests use included. */
const everyCredential = [
  ...Object.values(secrets).flatMap((secret) => [secret, `${secret}-wrong`]),
  basic(projectId, secrets.signalwireToken),
  basic(projectId, `${secrets.signalwireToken}-wrong`),
  basic(secrets.phaxioKey, secrets.phaxioSecret),
  basic(secrets.phaxioKey, `${secrets.phaxioSecret}-wrong`),
];

function expectNoSecret(text: string): void {
  for (const secret of everyCredential) expect(text).not.toContain(secret);
}

async function sendError(sender: FaxSender, request: FaxSendRequest = faxRequest()): Promise<FaxSendError> {
  const error = await sender.send(request).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(FaxSendError);
  return error as FaxSendError;
}

describe('SignalWire', () => {
  it('posts the form to the Faxes resource with Basic auth and returns the sid', async () => {
    const result = await senderFor('signalwire').send(faxRequest());

    const [sent] = api.sent.signalwire;
    expect(api.sent.signalwire).toHaveLength(1);
    expect(sent).toMatchObject({
      status: 201,
      path: `/api/laml/2010-04-01/Accounts/${projectId}/Faxes.json`,
      auth: { scheme: 'basic', isValid: true },
      fields: {
        To: '+14155550123',
        From: '+18005550100',
        MediaUrl: faxRequest().mediaUrl,
        StatusCallback: 'https://switchboard.example.com/webhooks/fax/status',
      },
    });
    expect(Object.keys(sent!.fields).sort()).toEqual(['From', 'MediaUrl', 'StatusCallback', 'To']);
    expect(sent!.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(result).toEqual({ providerFaxId: sent!.providerFaxId });
    expect(result.providerFaxId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gets the PDF from the media URL, byte for byte', async () => {
    await senderFor('signalwire').send(faxRequest());
    const fetched = api.sent.signalwire[0]?.media;
    expect(fetched).toMatchObject({ isFetched: true, status: 200, contentType: 'application/pdf' });
    expect(fetched?.isFetched && fetched.bytes.equals(pdf)).toBe(true);
    expect(media.requests).toEqual(['/media/reply.pdf?expires=1700000000&signature=abc123']);
  });

  it('accepts the fax when the media cannot be fetched, as SignalWire does (it fails later)', async () => {
    await senderFor('signalwire').send(faxRequest({ mediaUrl: `${media.url}/media/expired.pdf` }));
    expect(api.sent.signalwire[0]?.media).toMatchObject({ isFetched: false, status: 404 });
  });

  it('takes a bare space host and a trailing slash', async () => {
    const sender = createSignalWireFaxSender({
      spaceUrl: `${api.baseUrl}/`,
      projectId: projectId,
      apiToken: api.credentials.signalwire.apiToken,
    });
    await sender.send(faxRequest());
    expect(api.sent.signalwire[0]?.status).toBe(201);
  });

  it('is refused for good with a bad number, in SignalWire words', async () => {
    const error = await sendError(senderFor('signalwire'), faxRequest({ to: '555-0123' }));
    expect(error).toMatchObject({ isPermanent: true, status: 400 });
    expect(error.message).toMatch(/^SignalWire refused the fax: HTTP 400: The To number 555-0123 is not/);
  });
});

describe('Telnyx', () => {
  it('posts JSON with the connection, the webhook URL and the reference as client_state', async () => {
    const result = await senderFor('telnyx').send(faxRequest());

    const [sent] = api.sent.telnyx;
    expect(sent).toMatchObject({
      status: 202,
      path: '/v2/faxes',
      auth: { scheme: 'bearer', isValid: true },
      reference: 'evt-0192f6c4-sent',
      statusCallbackUrl: 'https://switchboard.example.com/webhooks/fax/status',
    });
    expect(sent!.headers['content-type']).toMatch(/^application\/json/);
    expect(sent!.fields).toEqual({
      connection_id: api.credentials.telnyx.connectionId,
      to: '+14155550123',
      from: '+18005550100',
      media_url: faxRequest().mediaUrl,
      webhook_url: 'https://switchboard.example.com/webhooks/fax/status',
      client_state: Buffer.from('evt-0192f6c4-sent').toString('base64'),
    });
    expect(result).toEqual({ providerFaxId: sent!.providerFaxId });
  });

  it('gets the PDF from the media URL, byte for byte', async () => {
    await senderFor('telnyx').send(faxRequest());
    const fetched = api.sent.telnyx[0]?.media;
    expect(fetched?.isFetched && fetched.bytes.equals(pdf)).toBe(true);
  });

  it('is refused for good with a connection Telnyx does not know, with its error detail', async () => {
    const sender = createTelnyxFaxSender({
      apiBaseUrl: api.baseUrl,
      apiKey: api.credentials.telnyx.apiKey,
      connectionId: '42',
    });
    const error = await sendError(sender);
    expect(error).toMatchObject({ isPermanent: true, status: 422 });
    expect(error.message).toBe(
      'Telnyx refused the fax: HTTP 422: Invalid parameter: The connection_id is invalid. (10015)',
    );
  });
});

describe('Phaxio', () => {
  it('uploads the PDF in a multipart form with Basic auth and returns the numeric id as a string', async () => {
    const result = await senderFor('phaxio').send(faxRequest());

    const [sent] = api.sent.phaxio;
    expect(sent).toMatchObject({
      status: 200,
      path: '/v2.1/faxes',
      auth: { scheme: 'basic', isValid: true },
      to: '+14155550123',
      from: '+18005550100',
      reference: 'evt-0192f6c4-sent',
      statusCallbackUrl: 'https://switchboard.example.com/webhooks/fax/status',
    });
    expect(sent!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(sent!.fields).toEqual({
      to: '+14155550123',
      caller_id: '+18005550100',
      callback_url: 'https://switchboard.example.com/webhooks/fax/status',
      'tag[reference]': 'evt-0192f6c4-sent',
    });
    expect(sent!.file).toMatchObject({ fileName: 'reply-42.pdf', contentType: 'application/pdf' });
    expect(sent!.file?.bytes.equals(pdf)).toBe(true);
    expect(result.providerFaxId).toMatch(/^\d+$/);
    expect(result).toEqual({ providerFaxId: sent!.providerFaxId });
  });

  it('does not fetch the media URL: the document travels in the upload', async () => {
    await senderFor('phaxio').send(faxRequest());
    expect(api.sent.phaxio[0]?.media).toBeUndefined();
    expect(media.requests).toEqual([]);
  });
});

describe.each(providers)('%s failures', (provider) => {
  const label = labels[provider];

  it('wrong credentials: 401, permanent, no secret in the message', async () => {
    const error = await sendError(senderFor(provider, { wrongSecret: true }));
    expect(error).toMatchObject({ isPermanent: true, status: 401 });
    expect(error.message).toMatch(new RegExp(`^${label} refused the fax: HTTP 401: .+`));
    expectNoSecret(error.message);
    expectNoSecret(String(error.stack));
    expect(api.sent[provider][0]?.auth.isValid).toBe(false);
  });

  it.each([
    [400, true],
    [403, true],
    [404, true],
    [422, true],
    [408, false],
    [429, false],
    [500, false],
    [502, false],
    [503, false],
  ])(
    'HTTP %i: isPermanent %s, the provider named with its status and message',
    async (status, isPermanent) => {
      api.failNext(provider, status, 1, `the ${provider} double says no`);
      const error = await sendError(senderFor(provider));
      expect(error).toMatchObject({ isPermanent, status });
      expect(error.message).toContain(`${label} refused the fax: HTTP ${status}: `);
      expect(error.message).toContain(`the ${provider} double says no`);
    },
  );

  it('succeeds on the try after the provider recovers', async () => {
    api.failNext(provider, 503, 2);
    const sender = senderFor(provider);
    expect((await sendError(sender)).isPermanent).toBe(false);
    expect((await sendError(sender)).isPermanent).toBe(false);
    const result = await sender.send(faxRequest());
    expect(api.sent[provider].map((sent) => sent.status)).toEqual([503, 503, acceptedStatus[provider]]);
    expect(result.providerFaxId).toBe(api.sent[provider][2]?.providerFaxId);
  });

  it('connection refused: retryable, no status', async () => {
    const error = await sendError(senderFor(provider, { baseUrl: `http://127.0.0.1:${await closedPort()}` }));
    expect(error.isPermanent).toBe(false);
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(new RegExp(`^${label} could not be reached: .*ECONNREFUSED`));
  });

  it('no answer within the timeout: retryable', async () => {
    api.stallNext(provider);
    const error = await sendError(senderFor(provider, { timeoutMs: 150 }));
    expect(error).toMatchObject({ isPermanent: false, message: `${label} did not answer within 150 ms` });
    expect(error.status).toBeUndefined();
  });

  it('scrubs a credential the provider echoes back', async () => {
    const echoed = credentialsOf[provider].join(' and ');
    api.failNext(provider, 400, 1, `bad request from ${echoed}`);
    const error = await sendError(senderFor(provider));
    expect(error.message).toContain('[redacted]');
    expectNoSecret(error.message);
  });

  it('keeps credentials out of what the double records', async () => {
    await senderFor(provider).send(faxRequest());
    await sendError(senderFor(provider, { wrongSecret: true }));
    const recorded = JSON.stringify(api.sent[provider]);
    expectNoSecret(recorded);
    expect(api.sent[provider][0]?.headers.authorization).toMatch(/^(Basic|Bearer) \[redacted\]$/);
  });
});

describe('a 2xx answer without an id', () => {
  it.each([
    ['signalwire', 201, { status: 'queued' }],
    ['telnyx', 202, { data: { status: 'queued' } }],
    ['phaxio', 200, { success: true, message: 'Fax queued for sending', data: {} }],
    ['phaxio', 200, { success: false, message: 'Fax could not be queued' }],
  ] as const)('%s %i %j: permanent, not retried into a second fax', async (provider, status, body) => {
    const provider2xx = await answeringWith(status, body);
    try {
      const error = await sendError(senderFor(provider, { baseUrl: provider2xx.url }));
      expect(error).toMatchObject({ isPermanent: true, status });
      expect(error.message).toMatch(
        new RegExp(`^${labels[provider]} answered HTTP ${status} without a fax id`),
      );
      if ('message' in body) expect(error.message).toContain(body.message);
    } finally {
      await provider2xx.close();
    }
  });
});

describe('an error answer that is not the provider JSON', () => {
  it('uses the HTTP reason phrase', async () => {
    const proxy = await answeringWith(502, undefined);
    try {
      const error = await sendError(senderFor('telnyx', { baseUrl: proxy.url }));
      expect(error).toMatchObject({ isPermanent: false, status: 502 });
      expect(error.message).toBe('Telnyx refused the fax: HTTP 502: Bad Gateway');
    } finally {
      await proxy.close();
    }
  });
});

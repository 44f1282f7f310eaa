import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { io as connectClient } from 'socket.io-client';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { faxLogSecrets } from '../../channels/fax/index.js';
import { redactUrl } from '../../src/log-redaction.js';
import {
  hylafaxFields,
  hylafaxMultipart,
  phaxioFields,
  phaxioMultipart,
  phaxioReceivedFax,
  signSignalWire,
  signalWireFaxParams,
} from '../support/fax-signing.js';
import { migrateSchema, testConfig } from '../support/test-context.js';
import { recorder, waitFor } from '../support/wait-for.js';

/*
 * Secrets never logged: the app built with a pino stream that keeps every line, at trace level, with every
 * secret setting set to a value of its own (the Twilio auth token and API secret, the fax providers' keys
 * and tokens, the mailboxes' IMAP and SMTP passwords from the environment, the token keys), then driven
 * through what handles secrets: logins (right and wrong password), requests with the session cookie, a
 * logout, signed and badly signed webhooks of every provider, the agent and chat sockets, a fax media link,
 * and a mailbox whose server refuses (its reader logs the failure). No line may contain any of them, nor a
 * password, a session token, a visitor's conversation token or a signature sent.
 */

const secret = (name: string) => `${name}-${randomBytes(12).toString('hex')}`;
const secrets = {
  twilioAuthToken: secret('twilio-auth'),
  twilioApiSecret: secret('twilio-api-secret'),
  signalwireKey: secret('signalwire-key'),
  signalwireApiToken: secret('signalwire-api'),
  phaxioCallbackToken: secret('phaxio-callback'),
  phaxioApiKey: secret('phaxio-key'),
  phaxioApiSecret: secret('phaxio-secret'),
  hylafaxToken: secret('hylafax'),
  faxMediaSecret: secret('fax-media'),
  emailTokenSecret: secret('email-token'),
  webchatTokenSecret: secret('webchat-token'),
  imapPassword: secret('imap-password'),
  smtpPassword: secret('smtp-password'),
};
const password = secret('agent-password');
const wrongPassword = secret('wrong-password');
/** What clients sent or got that is a credential: session tokens, signatures, visitor tokens. */
const sent: string[] = [];

const lines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

let config: Config;
let app: Awaited<ReturnType<typeof buildApp>>['app'];
let services: Awaited<ReturnType<typeof buildApp>>['services'];
let baseUrl: string;
let mailDir: string;

beforeAll(async () => {
  mailDir = mkdtempSync(join(tmpdir(), 'switchboard-logging-'));
  const mailboxesFile = join(mailDir, 'mailboxes.yaml');
  // A mailbox whose servers refuse: its reader fails and logs why.
  writeFileSync(
    mailboxesFile,
    `mailboxes:
  - id: support
    address: support@logging.test
    imap: { host: 127.0.0.1, port: 9, tls: false, user: support@logging.test, passwordEnv: LOG_TEST_IMAP_PASSWORD, pollSeconds: 1 }
    smtp: { host: 127.0.0.1, port: 9, tls: false, user: support@logging.test, passwordEnv: LOG_TEST_SMTP_PASSWORD }
`,
  );
  const base = testConfig();
  config = testConfig({
    email: {
      mailboxesFile,
      secrets: { LOG_TEST_IMAP_PASSWORD: secrets.imapPassword, LOG_TEST_SMTP_PASSWORD: secrets.smtpPassword },
      tokenSecret: secrets.emailTokenSecret,
      isPolling: true,
    },
    phone: { ...base.phone, authToken: secrets.twilioAuthToken, apiKeySecret: secrets.twilioApiSecret },
    fax: {
      ...base.fax,
      signalwire: {
        ...base.fax.signalwire,
        signingKey: secrets.signalwireKey,
        apiToken: secrets.signalwireApiToken,
      },
      phaxio: {
        ...base.fax.phaxio,
        callbackToken: secrets.phaxioCallbackToken,
        apiKey: secrets.phaxioApiKey,
        apiSecret: secrets.phaxioApiSecret,
      },
      hylafax: { token: secrets.hylafaxToken },
      mediaSecret: secrets.faxMediaSecret,
    },
    webchat: { ...base.webchat, tokenSecret: secrets.webchatTokenSecret },
  });
  await migrateSchema(config);
  ({ app, services } = await buildApp({
    config,
    isWorker: false,
    logger: { level: 'trace', stream: capture },
    emailPoller: { backoff: { initialMs: 100, maxMs: 500 } },
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  if (config) {
    const handle = openDatabase(config.databaseUrl!, 'public', { max: 1 });
    await sql`drop schema if exists ${sql.id(config.databaseSchema)} cascade`.execute(handle.db);
    await handle.close();
    const redis = new Redis(config.redisUrl!);
    const keys = await redis.keys(`${config.redisPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
  if (mailDir) rmSync(mailDir, { recursive: true, force: true });
});

describe('redactUrl', () => {
  it.each([
    ['/webhooks/fax/media/12.1700000000.abc.pdf', '/webhooks/fax/media/[redacted]'],
    [
      '/chat/attachments/1?widgetId=w&userId=u&userHash=ff',
      '/chat/attachments/1?widgetId=w&userId=u&userHash=[redacted]',
    ],
    ['/x?token=a&Signature=b&keep=c', '/x?token=[redacted]&Signature=[redacted]&keep=c'],
    ['/api/interactions?status=open', '/api/interactions?status=open'],
  ])('%s', (url, expected) => expect(redactUrl(url, faxLogSecrets.capabilityPaths)).toBe(expected));
});

describe('secrets never logged', () => {
  it('no log line holds a secret setting, a password, a session or visitor token, or a signature', async () => {
    // Logins: right and wrong passwords; requests and a socket with the session; a logout.
    await services.agents.create(
      { email: 'logged@logging.test', displayName: 'Logged', role: 'agent', password },
      null,
    );
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'logged@logging.test', password: wrongPassword },
    });
    expect(wrong.statusCode).toBe(401);
    const login = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'logged@logging.test', password },
    });
    expect(login.statusCode).toBe(200);
    const token = login.cookies.find((c) => c.name === 'sb_session')!.value;
    sent.push(token);
    const cookie = `sb_session=${token}`;
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode).toBe(
      200,
    );
    expect(
      (await app.inject({ method: 'GET', url: '/api/interactions/nope', headers: { cookie } })).statusCode,
    ).toBe(400);
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/api/agents',
          headers: { cookie, origin: 'https://evil.example' },
        })
      ).statusCode,
    ).toBe(403);

    const agentSocket = connectClient(`${baseUrl}/agent`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { cookie, origin: config.publicBaseUrl },
    });
    await recorder(agentSocket).next('state');
    await agentSocket.emitWithAck('state:set', { state: 'bogus' });
    agentSocket.disconnect();
    const badSocket = connectClient(`${baseUrl}/agent`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { cookie: `sb_session=${secret('dead-session')}`, origin: config.publicBaseUrl },
    });
    await new Promise((resolve) => badSocket.once('connect_error', resolve));
    badSocket.disconnect();

    // A chat visitor, their token sent back on a second socket and as a bearer header.
    const visitor = connectClient(`${baseUrl}/chat`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { widgetId: 'default' },
    });
    const session = await recorder(visitor).next<{ token: string }>('chat:session');
    sent.push(session.token);
    visitor.disconnect();
    const again = connectClient(`${baseUrl}/chat`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { widgetId: 'default', token: session.token },
    });
    await recorder(again).next('chat:session');
    again.disconnect();
    await app.inject({
      method: 'GET',
      url: '/chat/attachments/00000000-0000-4000-8000-000000000000?widgetId=default',
      headers: { authorization: `Bearer ${session.token}` },
    });

    // Webhooks: Twilio signed right and wrong.
    const callParams = {
      AccountSid: config.phone.accountSid,
      CallSid: `CA${randomBytes(16).toString('hex')}`,
      From: '+14155550123',
      To: '+18005550100',
      CallStatus: 'ringing',
      Direction: 'inbound',
    };
    const twilioUrl = `${config.publicBaseUrl}/webhooks/twilio/voice/incoming`;
    for (const key of [secrets.twilioAuthToken, 'not-the-auth-token']) {
      const signature = twilio.getExpectedTwilioSignature(key, twilioUrl, callParams);
      sent.push(signature);
      await app.inject({
        method: 'POST',
        url: '/webhooks/twilio/voice/incoming',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        payload: new URLSearchParams(callParams).toString(),
      });
    }
    // SignalWire, signed right and wrong.
    const faxParams = signalWireFaxParams({ FaxSid: randomBytes(8).toString('hex') });
    const signalwireUrl = `${config.publicBaseUrl}/webhooks/fax/signalwire/received`;
    for (const key of [secrets.signalwireKey, 'not-the-signing-key']) {
      const signature = signSignalWire(key, signalwireUrl, faxParams);
      sent.push(signature);
      await app.inject({
        method: 'POST',
        url: '/webhooks/fax/signalwire/received',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-signalwire-signature': signature },
        payload: new URLSearchParams(faxParams).toString(),
      });
    }
    // Phaxio, signed wrong; HylaFAX with a wrong and the right bearer token.
    const phaxio = phaxioMultipart({
      callbackToken: 'not-the-callback-token',
      url: `${config.publicBaseUrl}/webhooks/fax/phaxio`,
      fields: phaxioFields(phaxioReceivedFax()),
    });
    sent.push(phaxio.signature);
    const phaxioAnswer = await app.inject({
      method: 'POST',
      url: '/webhooks/fax/phaxio',
      headers: { 'content-type': phaxio.contentType, 'x-phaxio-signature': phaxio.signature },
      payload: phaxio.body,
    });
    expect(phaxioAnswer.statusCode).toBe(403);
    for (const hylafaxToken of [secret('wrong-hylafax'), secrets.hylafaxToken]) {
      sent.push(hylafaxToken);
      const hylafax = hylafaxMultipart({ token: hylafaxToken, fields: hylafaxFields(), file: null });
      await app.inject({
        method: 'POST',
        url: '/webhooks/fax/hylafax',
        headers: { 'content-type': hylafax.contentType, authorization: hylafax.authorization },
        payload: hylafax.body,
      });
    }
    // A signed fax media link, as a provider fetches it (its message does not exist here): the link is a
    // credential, its signature must not be logged.
    const mediaPath = new URL(services.fax.sending.mediaUrl('123456')).pathname;
    sent.push(/\.([\w-]{43})\.pdf$/.exec(mediaPath)![1]!);
    await app.inject({ method: 'GET', url: mediaPath });
    // The widget's identity hash and a token in a query string.
    const userHash = secret('user-hash');
    sent.push(userHash);
    await app.inject({
      method: 'GET',
      url: `/chat/attachments/00000000-0000-4000-8000-000000000000?widgetId=default&userId=u1&userHash=${userHash}`,
    });

    // The mailbox reader has tried its server and logged the failure.
    await waitFor(() =>
      lines.some((l) => /imap|mailbox/i.test(l) && /"level":(40|50)/.test(l)) ? true : undefined,
    );
    await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie, origin: config.publicBaseUrl },
    });

    expect(lines.length).toBeGreaterThan(20);
    // The lines that would have held them are there, redacted (the test drove the paths it meant to).
    expect(lines.some((l) => l.includes('"url":"/webhooks/fax/media/[redacted]"'))).toBe(true);
    expect(lines.some((l) => l.includes('userHash=[redacted]'))).toBe(true);
    expect(lines.some((l) => l.includes('"authorization":"[redacted]"'))).toBe(true);
    expect(lines.some((l) => l.includes('"x-phaxio-signature":"[redacted]"'))).toBe(true);
    const leaks = [
      ...Object.entries(secrets).map(([name, value]) => ({ name, value })),
      { name: 'password', value: password },
      { name: 'wrong password', value: wrongPassword },
      ...sent.map((value, i) => ({ name: `credential sent #${i}`, value })),
    ].flatMap(({ name, value }) => lines.filter((l) => l.includes(value)).map((l) => `${name}: ${l}`));
    expect(leaks).toEqual([]);
  });
});

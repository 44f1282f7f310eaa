import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChatClientToServerEvents, ChatServerToClientEvents } from '../../channels/webchat/index.js';
import type { LoggedEvent } from '../../src/db/repositories/interactions.repository.js';
import { mailboxFixture } from '../support/email-fixtures.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { recorder, waitFor } from '../support/wait-for.js';

/*
 * Web chat meets email: a visitor who left a message while nobody was working is answered by email at the
 * address they gave (quoting what they wrote), and a visitor who gave an address gets the chat's transcript
 * by email when it closes. Real socket.io visitor, real SMTP capture, real IMAP mailbox configured.
 */

const widgetOrigin = 'https://shop.example';
let ctx: TestContext;
let smtp: SmtpCapture;
let url: string;
let rules: ReturnType<typeof writeRulesFolder>;
const sockets: { disconnect(): unknown }[] = [];
type Visitor = ClientSocket<ChatServerToClientEvents, ChatClientToServerEvents>;

beforeAll(async () => {
  smtp = await startSmtpCapture();
  rules = writeRulesFolder();
  const mailbox = mailboxFixture({
    imap: { host: inject('imapHost'), port: inject('imapPort') },
    smtp: { host: smtp.host, port: smtp.port },
  });
  ctx = await createTestContext({
    isWorker: true,
    config: {
      routingRulesDir: rules.dir,
      email: { mailboxesFile: mailbox.file, secrets: mailbox.secrets, tokenSecret: 't', isPolling: false },
      webchat: {
        widgets: { shop: { allowedOrigins: [widgetOrigin], isIdentityRequired: false } },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 10,
        rateLimitWindowMs: 10_000,
      },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await ctx?.close();
  await smtp?.stop();
  rules?.remove();
});

async function openVisitor() {
  const socket: Visitor = connectClient(`${url}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: { widgetId: 'shop' },
    extraHeaders: { origin: widgetOrigin },
  });
  sockets.push(socket);
  const events = recorder(socket);
  await events.next('chat:session');
  return socket;
}

async function mailTo(address: string, match: (text: string) => boolean) {
  return waitFor(async () => {
    for (const captured of smtp.messages) {
      if (!captured.envelope.to.includes(address)) continue;
      const parsed = await simpleParser(captured.raw);
      if (match(parsed.text ?? '')) return parsed;
    }
    return undefined;
  }, 15_000);
}

describe('a web chat answered by email', () => {
  it("answers a left message at the visitor's address, quoting it, and logs it on the chat", async () => {
    const socket = await openVisitor();
    await socket.emitWithAck('chat:start', { name: 'Lena' });
    const left = await socket.emitWithAck('message:leave', {
      clientId: 'left-1',
      text: 'Do you ship to Norway?',
      email: 'lena.left@customer.example',
    });
    if (!left.ok) throw new Error(left.error.message);
    socket.disconnect();

    const supervisor = await ctx.loginAs('supervisor');
    const response = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${left.interactionId}/messages`,
      headers: { cookie: supervisor.cookie },
      payload: { text: 'Yes, we ship to Norway in 3-5 days.', via: 'email' },
    });
    expect(response.statusCode, response.body).toBe(201);
    const sent = response.json<{ event: LoggedEvent }>().event;
    expect(sent.payload).toMatchObject({ via: 'email' });

    const mail = await mailTo('lena.left@customer.example', (t) => t.includes('3-5 days'));
    expect(mail.text).toContain('> Do you ship to Norway?');
    const { interaction } = await ctx.services.interactions.detail(left.interactionId);
    expect(mail.subject).toBe(`Re: Your message to Example Support [#${interaction.ticketNumber}]`);
    await waitFor(async () => {
      const { events } = await ctx.services.interactions.detail(left.interactionId);
      return events.find((e) => e.type === 'message.delivered' && e.payload.messageEventId === sent.id);
    });
  });

  it('refuses to answer by email where no email sender exists for it (a voice call has no Cc)', async () => {
    const supervisor = await ctx.loginAs('supervisor');
    const call = await ctx.services.ingest({
      channel: 'voice',
      externalId: `CA${Date.now()}`,
      identities: [{ kind: 'phone', value: '+12125550100' }],
    });
    const response = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${call.interactionId}/messages`,
      headers: { cookie: supervisor.cookie },
      payload: { text: 'x', cc: ['a@b.example'] },
    });
    expect(response.statusCode).toBe(409);
  });
});

describe('chat transcripts', () => {
  it('emails the transcript to a visitor who gave an address when the chat closes', async () => {
    const socket = await openVisitor();
    await socket.emitWithAck('chat:start', { name: 'Mia', email: 'mia.transcript@customer.example' });
    const said = await socket.emitWithAck('message:send', {
      clientId: 'm-1',
      text: 'Is my order on its way?',
    });
    if (!said.ok) throw new Error(said.error.message);
    const interactionId = await waitFor(async () => {
      const row = await ctx.services.db
        .selectFrom('interaction_events')
        .select('interaction_id')
        .where('external_id', 'like', '%:m-1')
        .where('channel', '=', 'chat')
        .orderBy('id', 'desc')
        .executeTakeFirst();
      return row?.interaction_id;
    });
    const supervisor = await ctx.loginAs('supervisor');
    const reply = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${interactionId}/messages`,
      headers: { cookie: supervisor.cookie },
      payload: { text: 'It left this morning.' },
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const closed = await socket.emitWithAck('chat:close', {});
    expect(closed.ok).toBe(true);

    const mail = await mailTo('mia.transcript@customer.example', (t) => t.includes('transcript'));
    expect(mail.text).toContain('Mia: Is my order on its way?');
    expect(mail.text).toContain(': It left this morning.');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
  });

  it('sends no transcript to a visitor who gave no address', async () => {
    const socket = await openVisitor();
    await socket.emitWithAck('chat:start', { name: 'Noor' });
    const said = await socket.emitWithAck('message:send', {
      clientId: 'n-1',
      text: 'Just browsing, thanks.',
    });
    if (!said.ok) throw new Error(said.error.message);
    const closed = await socket.emitWithAck('chat:close', {});
    expect(closed.ok).toBe(true);
    const interactionId = await waitFor(async () => {
      const row = await ctx.services.db
        .selectFrom('interaction_events')
        .select('interaction_id')
        .where('external_id', 'like', '%:n-1')
        .executeTakeFirst();
      return row?.interaction_id;
    });
    // The close is published in this process right after it commits; the transcript decision follows at once.
    await waitFor(async () => {
      const { interaction } = await ctx.services.interactions.detail(interactionId);
      return interaction.status === 'closed' ? true : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { events } = await ctx.services.interactions.detail(interactionId);
    expect(events.filter((e) => e.type === 'message.sent')).toEqual([]);
  });
});

import iconv from 'iconv-lite';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { LoggedEvent } from '../../src/db/repositories/interactions.repository.js';
import { processedKeyword } from '../../channels/email/imap-poller.js';
import {
  buildMail,
  imapClient,
  mailboxFixture,
  uniqueMessageId,
  type MailboxFixture,
} from '../support/email-fixtures.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * The email channel end to end on real servers: Dovecot (IMAP, from the global setup) holds the mailbox, a
 * second IMAP client appends mail to it as any mail client would, Switchboard reads it (IDLE), logs it,
 * threads it, acknowledges it, and sends agents' replies to a capturing SMTP server.
 * What must never happen: a message logged twice, a message lost, an auto-reply answered, a stranger's mail
 * threaded into someone else's conversation.
 */

let ctx: TestContext;
let smtp: SmtpCapture;
let mailbox: MailboxFixture;
let imap: Awaited<ReturnType<typeof imapClient>>;
const imapServer = () => ({ host: inject('imapHost'), port: inject('imapPort') });

beforeAll(async () => {
  smtp = await startSmtpCapture();
  mailbox = mailboxFixture({
    imap: imapServer(),
    smtp: { host: smtp.host, port: smtp.port },
    acknowledgment: { maxPerSenderPerHour: 2 },
  });
  ctx = await createTestContext({
    isWorker: true,
    config: {
      email: {
        mailboxesFile: mailbox.file,
        secrets: mailbox.secrets,
        tokenSecret: 'test-email-token-secret',
        isPolling: true,
      },
    },
  });
  imap = await imapClient({ ...imapServer(), user: mailbox.imapUser });
});
afterAll(async () => {
  await imap?.close();
  await ctx?.close();
  await smtp?.stop();
});

let senders = 0;
const newCustomer = (name = 'Customer') => {
  senders += 1;
  return { name, address: `${name.toLowerCase()}.${senders}.${Date.now()}@customer.example` };
};

async function eventByExternalId(messageId: string): Promise<LoggedEvent | undefined> {
  const row = await ctx.services.db
    .selectFrom('interaction_events')
    .select('id')
    .where('channel', '=', 'email')
    .where('external_id', '=', messageId)
    .executeTakeFirst();
  if (!row) return undefined;
  const events = await ctx.services.db
    .selectFrom('interaction_events')
    .selectAll()
    .where('id', '=', row.id)
    .execute();
  const e = events[0]!;
  return {
    id: e.id,
    interactionId: e.interaction_id,
    type: e.type,
    actorType: e.actor_type,
    actorId: e.actor_id,
    channel: 'email',
    payload: e.payload,
    occurredAt: e.occurred_at.toISOString(),
  };
}

const logged = (messageId: string, timeoutMs = 15_000) =>
  waitFor(() => eventByExternalId(messageId), timeoutMs);

/**
 * Waits until the mailbox is done with the message of this UID: logged, acknowledged or not, and the cursor
 * moved past it. What did not happen by then (an acknowledgment) never will for that message.
 */
async function processed(uid: number | undefined, timeoutMs = 15_000) {
  if (uid === undefined) throw new Error('the append returned no UID');
  await waitFor(async () => {
    const cursor = await ctx.services.repositories.email.cursorOf(mailbox.id);
    return cursor && cursor.lastUid >= uid ? true : undefined;
  }, timeoutMs);
}

async function countLogged(messageId: string): Promise<number> {
  const row = await ctx.services.db
    .selectFrom('interaction_events')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('channel', '=', 'email')
    .where('external_id', '=', messageId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The captured SMTP message whose headers match, parsed. */
async function sentMail(match: (m: Awaited<ReturnType<typeof simpleParser>>) => boolean, timeoutMs = 15_000) {
  return waitFor(async () => {
    for (const captured of smtp.messages) {
      const parsed = await simpleParser(captured.raw);
      if (match(parsed)) return { parsed, captured };
    }
    return undefined;
  }, timeoutMs);
}

const header = (parsed: Awaited<ReturnType<typeof simpleParser>>, name: string) => {
  const value = parsed.headers.get(name);
  return typeof value === 'string' ? value : value === undefined ? undefined : JSON.stringify(value);
};

describe('ingest from IMAP', () => {
  it('logs mail appended by another client once, acknowledges it, and flags it as processed', async () => {
    const customer = newCustomer('Ada');
    const messageId = uniqueMessageId();
    const uid = await imap.append(
      buildMail({
        from: `Ada Lovelace <${customer.address}>`,
        to: mailbox.address,
        subject: 'My order 1234 has not arrived',
        messageId,
        text: 'It was due last week. Can you check?',
      }),
    );
    const event = await logged(messageId);
    expect(event.payload).toMatchObject({
      subject: 'My order 1234 has not arrived',
      text: expect.stringContaining('It was due last week.') as unknown,
      hints: { mailbox: 'support', receivedOn: mailbox.address },
      details: { messageId, from: { address: customer.address, name: 'Ada Lovelace' } },
    });
    // The original is kept, as a download.
    const attachments = event.payload.attachments as { fileName: string; contentType: string }[];
    expect(attachments).toContainEqual(
      expect.objectContaining({ fileName: 'original-message.eml', contentType: 'message/rfc822' }),
    );

    const { interaction } = await ctx.services.interactions.detail(event.interactionId);
    const ack = await sentMail((m) => m.inReplyTo === messageId);
    expect(ack.captured.envelope.to).toEqual([customer.address]);
    expect(ack.parsed.subject).toBe(`We received your message [#${interaction.ticketNumber}]`);
    expect(header(ack.parsed, 'auto-submitted')).toBe('auto-replied');
    const replyTo = ack.parsed.replyTo?.value[0]?.address ?? '';
    expect(replyTo).toMatch(
      new RegExp(`^${mailbox.imapUser}\\+t${interaction.ticketNumber}-[a-z0-9_-]{12}@support\\.example$`),
    );
    expect(ack.parsed.text).toContain(String(interaction.ticketNumber));

    // Logged as the system's message, delivered, and not counted as the first response.
    const detail = await waitFor(async () => {
      const d = await ctx.services.interactions.detail(event.interactionId);
      return d.events.some((e) => e.type === 'message.delivered') ? d : undefined;
    });
    expect(detail.events.find((e) => e.type === 'message.sent')).toMatchObject({
      actorType: 'system',
      payload: { automatic: 'acknowledgment' },
    });
    expect(detail.interaction.firstResponseAt).toBeNull();

    await waitFor(async () => ((await imap.flagsOf(uid!)).includes(processedKeyword) ? true : undefined));
    expect(await imap.flagsOf(uid!)).toContain('\\Seen');
    expect(await countLogged(messageId)).toBe(1);
  });

  it('sends an acknowledgment a crash left owed when the message is read again, and only once', async () => {
    const customer = newCustomer('Owed');
    const messageId = uniqueMessageId('owed');
    const raw = buildMail({
      from: customer.address,
      to: mailbox.address,
      subject: 'Crash in between',
      messageId,
    });
    // As if a process logged the message and died before acknowledging it (and before its cursor moved).
    const first = await ctx.services.ingest({
      channel: 'email',
      externalId: messageId,
      identities: [{ kind: 'email', value: customer.address }],
      subject: 'Crash in between',
      details: { mailbox: 'support', messageId, from: { address: customer.address } },
    });
    const mailIngest = ctx.services.email!.ingestOf('support')!;
    for (let i = 0; i < 2; i++)
      expect(await mailIngest.handle([{ uid: 1, source: raw, internalDate: null }])).toEqual([
        { kind: 'duplicate', externalId: messageId },
      ]);
    const { events } = await ctx.services.interactions.detail(first.interactionId);
    expect(
      events.filter((e) => e.type === 'message.sent' && e.payload.automatic === 'acknowledgment'),
    ).toHaveLength(1);
    await sentMail((m) => m.inReplyTo === messageId);
  });

  it('keeps a message that cannot be read, raw, and flags it for a person', async () => {
    const messageId = uniqueMessageId('broken');
    const raw = Buffer.from(
      [
        'From: not an address at all',
        'To: ' + mailbox.address,
        'Subject: =?x-unknown-charset?B?SGVsbG8=?=',
        `Message-ID: ${messageId}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="never-closed"',
        '',
        '--never-closed',
        'Content-Type: text/plain; charset=x-unknown-charset',
        'Content-Transfer-Encoding: base64',
        '',
        '%%%% not base64 at all %%%%',
        '',
      ].join('\r\n'),
    );
    await imap.append(raw);
    const event = await logged(messageId);
    expect(event.payload).toMatchObject({ hints: { needsAttention: true } });
    const problems = (event.payload.details as { problems?: string[] }).problems ?? [];
    expect(problems.length).toBeGreaterThan(0);
    const original = (event.payload.attachments as { id: string; fileName: string }[]).find(
      (a) => a.fileName === 'original-message.eml',
    );
    const bytes = await ctx.app.inject({
      method: 'GET',
      url: `/api/attachments/${original!.id}`,
      headers: { cookie: (await ctx.loginAs('agent')).cookie },
    });
    expect(bytes.statusCode).toBe(200);
    expect(bytes.rawPayload.equals(raw)).toBe(true);
  });
});

/** A first message from a new customer, logged, with its acknowledgment sent; returns what threads need. */
async function conversation(name = 'Bea') {
  const customer = newCustomer(name);
  const messageId = uniqueMessageId();
  const subject = `Question ${messageId.slice(1, 12)}`;
  await imap.append(
    buildMail({ from: `${name} <${customer.address}>`, to: mailbox.address, subject, messageId }),
  );
  const event = await logged(messageId);
  const { interaction } = await ctx.services.interactions.detail(event.interactionId);
  const ack = await sentMail((m) => m.inReplyTo === messageId);
  return { customer, messageId, subject, interaction, ack: ack.parsed };
}

async function replyLoggedIn(messageId: string) {
  const event = await logged(messageId);
  return { event, threading: event.payload.threading as { outcome: string; reason: string } | undefined };
}

describe('threading', () => {
  it('threads a reply by our Message-ID in In-Reply-To', async () => {
    const first = await conversation();
    const replyId = uniqueMessageId('reply');
    await imap.append(
      buildMail({
        from: first.customer.address,
        to: mailbox.address,
        subject: 'Re: something else entirely',
        messageId: replyId,
        inReplyTo: first.ack.messageId!,
        references: [first.messageId, first.ack.messageId!],
        text: 'Thanks, here is more detail.',
      }),
    );
    const { event, threading } = await replyLoggedIn(replyId);
    expect(event.interactionId).toBe(first.interaction.id);
    expect(threading).toMatchObject({ outcome: 'joined' });
    expect(threading?.reason).toContain(`our message ${first.ack.messageId}`);
  });

  it('threads a reply by the plus-addressed reply token alone', async () => {
    const first = await conversation();
    const replyTo = first.ack.replyTo!.value[0]!.address!;
    const replyId = uniqueMessageId('reply');
    await imap.append(
      buildMail({ from: first.customer.address, to: replyTo, subject: 'new words', messageId: replyId }),
    );
    const { event, threading } = await replyLoggedIn(replyId);
    expect(event.interactionId).toBe(first.interaction.id);
    expect(threading?.reason).toContain('reply token');
  });

  it('threads a reply by the [#ticket] subject token alone', async () => {
    const first = await conversation();
    const replyId = uniqueMessageId('reply');
    await imap.append(
      buildMail({
        from: first.customer.address,
        to: mailbox.address,
        subject: `Re: [#${first.interaction.ticketNumber}] still waiting`,
        messageId: replyId,
      }),
    );
    const { event, threading } = await replyLoggedIn(replyId);
    expect(event.interactionId).toBe(first.interaction.id);
    expect(threading?.reason).toContain(`[#${first.interaction.ticketNumber}]`);
  });

  it("never threads a stranger's mail into someone else's conversation, whatever clue it carries", async () => {
    const first = await conversation();
    const stranger = newCustomer('Mallory');
    const replyTo = first.ack.replyTo!.value[0]!.address!;
    const replyId = uniqueMessageId('stranger');
    await imap.append(
      buildMail({
        from: stranger.address,
        to: replyTo,
        subject: `Re: [#${first.interaction.ticketNumber}]`,
        messageId: replyId,
        inReplyTo: first.ack.messageId!,
      }),
    );
    const { event, threading } = await replyLoggedIn(replyId);
    expect(event.interactionId).not.toBe(first.interaction.id);
    expect(threading).toBeUndefined();
    const refused = (event.payload.details as { threadingRefused?: string[] }).threadingRefused ?? [];
    expect(refused.join('\n')).toContain(stranger.address);
    const original = await ctx.services.interactions.detail(first.interaction.id);
    expect(original.events.filter((e) => e.type === 'message.received')).toHaveLength(1);
  });

  it('threads a reply-all from a colleague the customer copied (a participant)', async () => {
    const customer = newCustomer('Cleo');
    const colleague = newCustomer('Dan');
    const messageId = uniqueMessageId();
    await imap.append(
      buildMail({
        from: customer.address,
        to: mailbox.address,
        cc: colleague.address,
        subject: 'Team account question',
        messageId,
      }),
    );
    const first = await logged(messageId);
    const replyId = uniqueMessageId('reply-all');
    await imap.append(
      buildMail({
        from: colleague.address,
        to: `${mailbox.address}, ${customer.address}`,
        subject: 'Re: Team account question',
        messageId: replyId,
        inReplyTo: messageId,
        references: [messageId],
      }),
    );
    const { event, threading } = await replyLoggedIn(replyId);
    expect(event.interactionId).toBe(first.interactionId);
    expect(threading?.reason).toContain('participant');
  });

  it('reopens a closed interaction when the customer replies within the window, and routes it again', async () => {
    const first = await conversation();
    const supervisor = await ctx.loginAs('supervisor');
    const closed = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${first.interaction.id}/close`,
      headers: { cookie: supervisor.cookie },
      payload: { disposition: 'resolved' },
    });
    expect(closed.statusCode, closed.body).toBe(204);
    const replyId = uniqueMessageId('reopen');
    await imap.append(
      buildMail({
        from: first.customer.address,
        to: mailbox.address,
        subject: `Re: ${first.subject}`,
        messageId: replyId,
        inReplyTo: first.ack.messageId!,
      }),
    );
    const { event, threading } = await replyLoggedIn(replyId);
    expect(event.interactionId).toBe(first.interaction.id);
    expect(threading).toMatchObject({ outcome: 'reopened' });
    const detail = await waitFor(async () => {
      const d = await ctx.services.interactions.detail(first.interaction.id);
      return d.interaction.status !== 'new' ? d : undefined;
    });
    expect(detail.interaction.status).not.toBe('closed');
    expect(detail.events.map((e) => e.type)).toContain('interaction.reopened');
  });
});

async function replyAsSupervisor(interactionId: string, body: Record<string, unknown>) {
  const supervisor = await ctx.loginAs('supervisor');
  const response = await ctx.app.inject({
    method: 'POST',
    url: `/api/interactions/${interactionId}/messages`,
    headers: { cookie: supervisor.cookie },
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ event: LoggedEvent }>().event;
}

/** A multipart upload through the real HTTP stack (inject does not stream FormData). */
async function fetchUpload(interactionId: string, cookie: string, form: FormData) {
  const address = await ctx.app.listen({ port: 0, host: '127.0.0.1' }).catch(() => undefined);
  const base = address ?? `http://127.0.0.1:${(ctx.app.server.address() as { port: number }).port}`;
  return fetch(`${base}/api/interactions/${interactionId}/attachments`, {
    method: 'POST',
    headers: { cookie, origin: ctx.config.publicBaseUrl },
    body: form,
  });
}

async function outcomeOf(interactionId: string, messageEventId: string, type: string, timeoutMs = 15_000) {
  return waitFor(async () => {
    const { events } = await ctx.services.interactions.detail(interactionId);
    return events.find((e) => e.type === type && e.payload.messageEventId === messageEventId);
  }, timeoutMs);
}

describe("agents' replies by SMTP", () => {
  it('sends a threaded reply with the quoted message, Cc and the reply token, and logs the sent copy', async () => {
    const first = await conversation('Eli');
    const copied = newCustomer('Fay');
    const supervisor = await ctx.loginAs('supervisor');
    const form = new FormData();
    form.append(
      'file',
      new Blob([Buffer.from('%PDF-1.4 a tracking label')], { type: 'application/pdf' }),
      'label.pdf',
    );
    const upload = await fetchUpload(first.interaction.id, supervisor.cookie, form);
    expect(upload.status).toBe(201);
    const file = (await upload.json()) as { id: string; fileName: string };
    const sent = await replyAsSupervisor(first.interaction.id, {
      text: 'Your parcel left our warehouse today.',
      cc: [copied.address],
      attachmentIds: [file.id],
    });
    const mail = await sentMail((m) => m.text?.includes('Your parcel left our warehouse today.') ?? false);
    expect(mail.parsed.inReplyTo).toBe(first.messageId);
    expect(mail.parsed.references).toEqual(expect.arrayContaining([first.messageId, first.ack.messageId]));
    expect(mail.parsed.subject).toBe(`Re: ${first.subject} [#${first.interaction.ticketNumber}]`);
    expect(mail.parsed.text).toContain('> Hello, I need help with my order.');
    expect(mail.parsed.html).toContain('<blockquote');
    expect(mail.parsed.cc && 'value' in mail.parsed.cc ? mail.parsed.cc.value[0]?.address : null).toBe(
      copied.address,
    );
    expect(mail.captured.envelope.to.sort()).toEqual([first.customer.address, copied.address].sort());
    expect(mail.parsed.from?.value[0]?.address).toBe(mailbox.address);
    expect(header(mail.parsed, 'auto-submitted')).toBeUndefined();
    expect(mail.parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['label.pdf', '%PDF-1.4 a tracking label'],
    ]);
    // A file goes out with the reply it was uploaded for, once: it cannot be named again.
    const again = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${first.interaction.id}/messages`,
      headers: { cookie: supervisor.cookie },
      payload: { text: 'again', attachmentIds: [file.id] },
    });
    expect(again.statusCode).toBe(404);

    const delivered = await outcomeOf(first.interaction.id, sent.id, 'message.delivered');
    expect(delivered.payload).toMatchObject({
      providerId: mail.parsed.messageId,
      sent: { to: first.customer.address, cc: [copied.address], subject: mail.parsed.subject },
    });

    // The customer's answer to the agent's reply joins the same interaction.
    const answerId = uniqueMessageId('answer');
    await imap.append(
      buildMail({
        from: first.customer.address,
        to: mailbox.address,
        subject: `Re: ${mail.parsed.subject}`,
        messageId: answerId,
        inReplyTo: mail.parsed.messageId!,
      }),
    );
    expect((await logged(answerId)).interactionId).toBe(first.interaction.id);
  });

  it('shows the agent a reply the mail server refuses for good, at once', async () => {
    const first = await conversation('Gus');
    smtp.failNext(1, { code: 550, message: 'mailbox unavailable' });
    const sent = await replyAsSupervisor(first.interaction.id, { text: 'This one will be refused.' });
    const failed = await outcomeOf(first.interaction.id, sent.id, 'message.failed');
    expect(failed.payload.reason).toContain('550');
  });

  it('retries a reply the mail server defers, and delivers it once', async () => {
    const first = await conversation('Hana');
    smtp.failNext(1, { code: 451, message: 'try again later' });
    const sent = await replyAsSupervisor(first.interaction.id, { text: 'Deferred once, then delivered.' });
    await outcomeOf(first.interaction.id, sent.id, 'message.delivered');
    const copies = smtp.messages.filter((m) => m.raw.includes('Deferred once, then delivered.'));
    expect(copies).toHaveLength(1);
  });

  it('refuses Cc on a channel that has none, and a Cc that is not an address', async () => {
    const first = await conversation('Ivo');
    const supervisor = await ctx.loginAs('supervisor');
    const response = await ctx.app.inject({
      method: 'POST',
      url: `/api/interactions/${first.interaction.id}/messages`,
      headers: { cookie: supervisor.cookie },
      payload: { text: 'x', cc: ['not an address'] },
    });
    expect(response.statusCode).toBe(400);
  });
});

describe('loop safety (RFC 3834)', () => {
  const automatic: [string, Record<string, string>, string?][] = [
    ['Auto-Submitted: auto-replied', { 'Auto-Submitted': 'auto-replied' }],
    ['Auto-Submitted: auto-generated', { 'Auto-Submitted': 'auto-generated' }],
    ['Precedence: bulk', { Precedence: 'bulk' }],
    ['Precedence: list', { Precedence: 'list' }],
    ['Precedence: junk', { Precedence: 'junk' }],
    ['Precedence: auto_reply', { Precedence: 'auto_reply' }],
    ['X-Autoreply', { 'X-Autoreply': 'yes' }],
    ['X-Auto-Response-Suppress', { 'X-Auto-Response-Suppress': 'All' }],
    ['List-Id', { 'List-Id': '<announce.lists.example>' }],
    ['List-Unsubscribe', { 'List-Unsubscribe': '<mailto:unsubscribe@lists.example>' }],
    ['a null Return-Path', { 'Return-Path': '<>' }],
    ['mail from mailer-daemon', {}, 'MAILER-DAEMON@mx.customer.example'],
  ];
  it.each(automatic)('never acknowledges a message with %s', async (_name, headers, from) => {
    const messageId = uniqueMessageId('auto');
    const uid = await imap.append(
      buildMail({
        from: from ?? newCustomer('Auto').address,
        to: mailbox.address,
        subject: 'Out of office',
        messageId,
        headers,
      }),
    );
    await processed(uid);
    const event = await logged(messageId);
    const { events } = await ctx.services.interactions.detail(event.interactionId);
    expect(events.filter((e) => e.type === 'message.sent')).toEqual([]);
    expect(event.payload).toMatchObject({ hints: { automatic: true } });
  });

  it('acknowledges Auto-Submitted: no like any person’s mail', async () => {
    const messageId = uniqueMessageId();
    await imap.append(
      buildMail({
        from: newCustomer('Person').address,
        to: mailbox.address,
        subject: 'Hello',
        messageId,
        headers: { 'Auto-Submitted': 'no' },
      }),
    );
    await sentMail((m) => m.inReplyTo === messageId);
  });

  it('sends at most the configured acknowledgments to one sender an hour', async () => {
    const sender = newCustomer('Busy');
    const ids = [uniqueMessageId('a'), uniqueMessageId('b'), uniqueMessageId('c')];
    let uid: number | undefined;
    for (const [i, messageId] of ids.entries())
      uid = await imap.append(
        buildMail({
          from: sender.address,
          to: mailbox.address,
          subject: `Separate question ${i}`,
          messageId,
        }),
      );
    await processed(uid);
    const acknowledged = [];
    for (const messageId of ids) {
      const event = await logged(messageId);
      const { events } = await ctx.services.interactions.detail(event.interactionId);
      acknowledged.push(
        events.some((e) => e.type === 'message.sent' && e.payload.automatic === 'acknowledgment'),
      );
    }
    expect(acknowledged).toEqual([true, true, false]);
  });

  it('does not acknowledge mail from its own address', async () => {
    const messageId = uniqueMessageId('self');
    const uid = await imap.append(
      buildMail({ from: mailbox.address, to: mailbox.address, subject: 'loop?', messageId }),
    );
    await processed(uid);
    const event = await logged(messageId);
    const { events } = await ctx.services.interactions.detail(event.interactionId);
    expect(events.filter((e) => e.type === 'message.sent')).toEqual([]);
  });
});

describe('bounces', () => {
  it('attaches a delivery status notification to the reply it reports, and marks the reply undelivered', async () => {
    const first = await conversation('Jude');
    const sent = await replyAsSupervisor(first.interaction.id, { text: 'A reply that will bounce.' });
    const mail = await sentMail((m) => m.text?.includes('A reply that will bounce.') ?? false);
    await outcomeOf(first.interaction.id, sent.id, 'message.delivered');
    const bounceId = uniqueMessageId('dsn');
    const boundary = 'dsn-boundary-1';
    const dsn = Buffer.from(
      [
        'From: Mail Delivery System <MAILER-DAEMON@mx.support.example>',
        `To: ${mailbox.address}`,
        'Subject: Undelivered Mail Returned to Sender',
        `Message-ID: ${bounceId}`,
        'Auto-Submitted: auto-replied',
        'MIME-Version: 1.0',
        `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
        '',
        `--${boundary}`,
        'Content-Type: text/plain; charset=us-ascii',
        '',
        'I could not deliver your message to one or more recipients.',
        '',
        `--${boundary}`,
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.support.example',
        '',
        `Final-Recipient: rfc822; ${first.customer.address}`,
        'Action: failed',
        'Status: 5.1.1',
        'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
        '',
        `--${boundary}`,
        'Content-Type: text/rfc822-headers',
        '',
        `From: ${mailbox.address}`,
        `To: ${first.customer.address}`,
        `Subject: ${mail.parsed.subject}`,
        `Message-ID: ${mail.parsed.messageId}`,
        '',
        `--${boundary}--`,
        '',
      ].join('\r\n'),
    );
    await imap.append(dsn);
    const bounced = await waitFor(async () => {
      const { events } = await ctx.services.interactions.detail(first.interaction.id);
      return events.find((e) => e.type === 'message.bounced');
    });
    expect(bounced.payload).toMatchObject({
      bounceMessageId: bounceId,
      originalMessageId: mail.parsed.messageId,
      status: '5.1.1',
      messageEventId: sent.id,
    });
    const failed = await outcomeOf(first.interaction.id, sent.id, 'message.failed');
    expect(failed.payload).toMatchObject({ isBounce: true });
    expect(failed.payload.reason).toContain('5.1.1');
    // Not a customer's message: nothing was logged under the bounce's own Message-ID.
    expect(await countLogged(bounceId)).toBe(0);
  });
});

describe('mailbox status', () => {
  it('tells supervisors who reads each mailbox and where it stands; agents may not see it', async () => {
    const agent = await ctx.loginAs('agent');
    const refused = await ctx.app.inject({
      method: 'GET',
      url: '/api/email/mailboxes',
      headers: { cookie: agent.cookie },
    });
    expect(refused.statusCode).toBe(403);
    const supervisor = await ctx.loginAs('supervisor');
    const response = await ctx.app.inject({
      method: 'GET',
      url: '/api/email/mailboxes',
      headers: { cookie: supervisor.cookie },
    });
    expect(response.statusCode).toBe(200);
    const [status] = response.json<{ mailboxes: Record<string, unknown>[] }>().mailboxes;
    expect(status).toMatchObject({
      id: 'support',
      address: mailbox.address,
      folder: 'INBOX',
      readers: [ctx.services.email!.pollers[0]!.reader],
      state: expect.stringMatching(/^(idle|reading)$/) as unknown,
      lastError: null,
    });
    expect((status!.cursor as { lastUid: number }).lastUid).toBeGreaterThan(0);
  });
});

describe('charsets through the whole path', () => {
  /** iconv-lite has no ISO-2022-JP encoder: JIS X 0208 is EUC-JP's two bytes without their high bits. */
  const encode = (text: string, charset: string): Buffer => {
    if (charset !== 'ISO-2022-JP') return iconv.encode(text, charset);
    const jis = Buffer.from(iconv.encode(text, 'EUC-JP').map((b) => b & 0x7f));
    return Buffer.concat([Buffer.from('\x1b$B', 'latin1'), jis, Buffer.from('\x1b(B', 'latin1')]);
  };
  const encodedWord = (text: string, charset: string) =>
    `=?${charset}?B?${encode(text, charset).toString('base64')}?=`;
  const cases: [string, string, string][] = [
    ['GB2312', '订单查询：我的包裹在哪里', '您好，我的订单还没有到。'],
    ['GBK', '王镕的订单 喆', '请帮我查一下，谢谢。'],
    ['ISO-2022-JP', 'ご注文について', 'お世話になっております。荷物がまだ届きません。'],
    ['Big5', '訂單查詢', '請幫我查詢訂單狀態。'],
    ['windows-1251', 'Где мой заказ?', 'Здравствуйте, заказ не пришёл.'],
  ];
  it.each(cases)('logs a %s subject and body as the customer wrote them', async (charset, subject, body) => {
    const messageId = uniqueMessageId(charset.toLowerCase());
    const raw = Buffer.concat([
      Buffer.from(
        [
          `From: ${newCustomer('Intl').address}`,
          `To: ${mailbox.address}`,
          `Subject: ${encodedWord(subject, charset)}`,
          `Message-ID: ${messageId}`,
          'MIME-Version: 1.0',
          `Content-Type: text/plain; charset=${charset}`,
          `Content-Transfer-Encoding: ${charset === 'ISO-2022-JP' ? '7bit' : 'base64'}`,
          '',
          '',
        ].join('\r\n'),
      ),
      charset === 'ISO-2022-JP'
        ? encode(body, charset)
        : Buffer.from(encode(body, charset).toString('base64')),
      Buffer.from('\r\n'),
    ]);
    await imap.append(raw);
    const event = await logged(messageId);
    expect(event.payload.subject).toBe(subject);
    expect(event.payload.text).toBe(body);
    expect((event.payload.details as { problems?: string[] }).problems).toBeUndefined();
  });
});

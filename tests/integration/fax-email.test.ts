import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { InteractionEventPayloads } from '../../src/events.js';
import {
  imapClient,
  mailboxFixture,
  uniqueMessageId,
  type MailboxFixture,
} from '../support/email-fixtures.js';
import { makeFaxPdf, makeFaxTiff } from '../support/fax-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * A fax-to-email line on the real IMAP server (Dovecot): a gateway's mail with PDF and TIFF attachments
 * becomes one fax contact per document, with the sender's number read from the mail; a message on the line
 * without a document is logged as the email it is.
 */

const imapServer = () => ({ host: inject('imapHost'), port: inject('imapPort') });

/** A gateway's message: text, then each document base64-encoded (CRLF line ends). */
function gatewayMail(options: {
  messageId: string;
  subject: string;
  text: string;
  from?: string;
  documents: { fileName: string; contentType: string; content: Buffer }[];
}): Buffer {
  const boundary = `b-${Math.random().toString(16).slice(2)}`;
  const lines = [
    `From: ${options.from ?? 'Fax Gateway <fax@gateway.example>'}`,
    'To: faxes@support.example',
    `Subject: ${options.subject}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${options.messageId}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    options.text,
    ...options.documents.flatMap((d) => [
      `--${boundary}`,
      `Content-Type: ${d.contentType}; name="${d.fileName}"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="${d.fileName}"`,
      '',
      ...(d.content.toString('base64').match(/.{1,76}/g) ?? []),
    ]),
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

describe('a fax-to-email line', () => {
  let ctx: TestContext;
  let mailbox: MailboxFixture;
  let imap: Awaited<ReturnType<typeof imapClient>>;

  beforeAll(async () => {
    mailbox = mailboxFixture({ imap: imapServer(), pollSeconds: 1, faxLine: { number: '+18005550199' } });
    ctx = await createTestContext({
      isWorker: true,
      config: {
        email: { mailboxesFile: mailbox.file, secrets: mailbox.secrets, tokenSecret: 'x', isPolling: true },
      },
    });
    imap = await imapClient({ ...imapServer(), user: mailbox.imapUser });
  }, 60_000);

  afterAll(async () => {
    await imap?.close();
    await ctx?.close();
  });

  const faxMessages = (messageId: string) =>
    ctx.services.db
      .selectFrom('interaction_events')
      .select(['interaction_id', 'payload'])
      .where('type', '=', 'message.received')
      .where('channel', '=', 'fax')
      .where(sql<boolean>`payload #>> '{details,provider,messageId}' = ${messageId}`)
      .orderBy('recorded_at')
      .execute();

  it("turns each PDF or TIFF of a gateway's mail into a fax from the number the mail names", async () => {
    const messageId = uniqueMessageId('fax');
    const [pdf, tiff] = await Promise.all([
      makeFaxPdf(['Lab results for patient 5521', 'Glucose normal']),
      makeFaxTiff(['Discharge summary WARD 7'], { compression: 'g3', resolution: 'standard' }),
    ]);
    await imap.append(
      gatewayMail({
        messageId,
        subject: 'Fax from (415) 555-0300 - 3 pages',
        text: 'You have received a fax.\r\nCaller ID: +1 415 555 0300\r\nRemote ID: RIVERSIDE LAB\r\n',
        documents: [
          { fileName: 'fax-1.pdf', contentType: 'application/pdf', content: pdf },
          { fileName: 'fax-2.tif', contentType: 'application/octet-stream', content: tiff },
        ],
      }),
    );
    const rows = await waitFor(async () => {
      const found = await faxMessages(messageId);
      return found.length === 2 ? found : undefined;
    }, 60_000);
    const [first, second] = rows.map((r) => r.payload as InteractionEventPayloads['message.received']);
    const faxOf = (p: typeof first) => (p!.details as { fax: Record<string, unknown> }).fax;
    expect(faxOf(first)).toMatchObject({
      provider: 'email',
      from: '+1 415 555 0300',
      to: '+18005550199',
      stationId: 'RIVERSIDE LAB',
      pageCount: 2,
    });
    expect(faxOf(second)).toMatchObject({ provider: 'email', pageCount: 1 });
    expect(first!.text).toMatch(/patient\s+5521/i);
    expect(second!.text).toMatch(/WARD\s+7/i);
    expect(first!.subject).toBe('Fax from RIVERSIDE LAB, 2 pages');
    // Both from the same sender: one customer, known by the fax number.
    const interactions = await ctx.services.db
      .selectFrom('interactions')
      .select('customer_id')
      .where(
        'id',
        'in',
        rows.map((r) => r.interaction_id),
      )
      .execute();
    expect(new Set(interactions.map((i) => i.customer_id)).size).toBe(1);
    // Not logged as an email too.
    const asEmail = await ctx.services.db
      .selectFrom('interaction_events')
      .select('id')
      .where('channel', '=', 'email')
      .where('external_id', '=', messageId)
      .execute();
    expect(asEmail).toEqual([]);
  });

  it('logs a message without a document on the fax line as an email', async () => {
    const messageId = uniqueMessageId('nofax');
    await imap.append(
      gatewayMail({
        messageId,
        subject: 'Your fax line invoice',
        text: 'The monthly invoice for your fax number.',
        from: 'Billing <billing@gateway.example>',
        documents: [],
      }),
    );
    await waitFor(async () => {
      const row = await ctx.services.db
        .selectFrom('interaction_events')
        .select('id')
        .where('channel', '=', 'email')
        .where('external_id', '=', messageId)
        .executeTakeFirst();
      return row ? true : undefined;
    }, 30_000);
    expect(await faxMessages(messageId)).toEqual([]);
  });
});

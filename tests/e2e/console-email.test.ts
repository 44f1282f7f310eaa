import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import {
  imapClient,
  mailboxFixture,
  uniqueMessageId,
  type MailboxFixture,
} from '../support/email-fixtures.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * Email in the agent console, on the real path: another IMAP client appends mail to the mailbox on Dovecot
 * (from the global setup), Switchboard reads, sanitizes, logs and routes it, Ada works it in Chromium, and
 * her reply leaves by SMTP to a capturing server.
 *   - the email shows From, To, Cc, subject; its HTML in a sandboxed frame where nothing runs; remote
 *     images only once asked (a local image server counts the fetches); the quoted history folded; the
 *     attachment and the original message as downloads; the automatic acknowledgment as the system's;
 *   - Ada replies with Cc (a typo refused in the browser) and a file (another picked and removed): the SMTP
 *     capture gets the Cc and the file, and the reply's bubble says "Sent"; the customer's answer joins the
 *     conversation, saying why;
 *   - an unreadable automatic message shows "Needs attention" with its problem, and "Automatic" with why.
 * Screenshots land in test-results/screenshots/.
 */

const password = 'correct horse battery';
const rulesText = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
rules:
  - { name: default, queue: general, priority: 0 }
capacity:
  email: { max: 5 }
options:
  offerTimeoutSeconds: 600
`;

/** A 1×1 PNG, the "remote image" of the test's newsletter. */
const pixel = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

describe('agent console: email', () => {
  let ctx: TestContext;
  let smtp: SmtpCapture;
  let mailbox: MailboxFixture;
  let imap: Awaited<ReturnType<typeof imapClient>>;
  let images: Server;
  let imageUrl: string;
  let imageHits = 0;
  let browser: Browser;
  let baseUrl: string;
  let page: Page;
  const rules = writeRulesFolder(rulesText);
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  const stamp = Date.now();
  const grace = { name: 'Grace Hopper', address: `grace.${stamp}@customer.example` };
  const alan = { name: 'Alan Turing', address: `alan.${stamp}@customer.example` };
  const graceMessageId = uniqueMessageId('grace');

  beforeAll(async () => {
    images = createServer((_request, response) => {
      imageHits += 1;
      response.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
      response.end(pixel);
    });
    await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
    imageUrl = `http://127.0.0.1:${(images.address() as AddressInfo).port}/logo.png`;

    smtp = await startSmtpCapture();
    const imapServer = { host: inject('imapHost'), port: inject('imapPort') };
    mailbox = mailboxFixture({ imap: imapServer, smtp: { host: smtp.host, port: smtp.port } });
    ctx = await createTestContext({
      // The worker delivers the acknowledgment (a job).
      isWorker: true,
      config: {
        routingRulesDir: rules.dir,
        email: {
          mailboxesFile: mailbox.file,
          secrets: mailbox.secrets,
          tokenSecret: 'test-email-token-secret',
          isPolling: true,
        },
      },
    });
    imap = await imapClient({ ...imapServer, user: mailbox.imapUser });
    baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    await ctx.services.agents.create(
      { email: 'ada@email.e2e', displayName: 'Ada Agent', role: 'agent', password },
      null,
    );
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1360, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await imap?.close();
    await ctx?.close();
    await smtp?.stop();
    images?.close();
    rules.remove();
  });

  /** The text of the email frame's document, read from the console (same origin, no script in the frame). */
  const frameText = (index = 0) =>
    page.evaluate((i) => {
      const frames = document.querySelectorAll<HTMLIFrameElement>('iframe[data-testid="email-body"]');
      return frames[i]?.contentDocument?.body?.textContent ?? null;
    }, index);

  async function acceptNextOffer() {
    const toast = page.getByTestId('offer-toast');
    await toast.waitFor({ timeout: 20_000 });
    await toast.getByRole('button', { name: /Accept/ }).click();
    await toast.waitFor({ state: 'detached' });
  }

  it('shows an email whole and safe, and sends a reply with Cc and a file', async () => {
    await page.goto('/');
    await page.getByLabel('Email').fill('ada@email.e2e');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('Connected');
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');

    await imap.append(
      crlf([
        `From: ${grace.name} <${grace.address}>`,
        `To: Example Support <${mailbox.address}>`,
        `Cc: ${alan.name} <${alan.address}>`,
        'Subject: The invoice page is broken',
        `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
        `Message-ID: ${graceMessageId}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="mixed-b"',
        '',
        '--mixed-b',
        'Content-Type: multipart/alternative; boundary="alt-b"',
        '',
        '--alt-b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Hello team, the invoice page shows nothing.',
        '',
        'On Mon, 2 Mar 2026, Support wrote:',
        '> Earlier answer from support.',
        '--alt-b',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<html><head><style>body { background: red }</style></head><body>',
        '<p>Hello <b>team</b>, the invoice page shows nothing.</p>',
        '<script>parent.__pwned = 1; window.top.__pwned = 1;</script>',
        '<img src="x" onerror="parent.__pwned = 2">',
        `<p><img src="${imageUrl}" alt="Company logo" width="40" height="40"></p>`,
        '<div>On Mon, 2 Mar 2026, Support wrote:</div>',
        '<blockquote><p>Earlier answer from support.</p></blockquote>',
        '</body></html>',
        '--alt-b--',
        '--mixed-b',
        'Content-Type: text/plain; name="receipt.txt"',
        'Content-Disposition: attachment; filename="receipt.txt"',
        '',
        'Receipt 42',
        '--mixed-b--',
        '',
      ]),
    );
    await acceptNextOffer();

    // Headers: who wrote to whom, about what.
    const email = page.getByTestId('email-message').first();
    await email.waitFor({ timeout: 15_000 });
    expect(await email.getByTestId('email-from').textContent()).toContain(`${grace.name} <${grace.address}>`);
    expect(await email.getByTestId('email-to').textContent()).toContain(mailbox.address);
    expect(await email.getByTestId('email-cc').textContent()).toContain(`${alan.name} <${alan.address}>`);
    expect(await email.getByTestId('email-subject').textContent()).toContain('The invoice page is broken');

    // The body: in a frame that runs nothing, measured to its content, quoted history folded.
    const frame = email.getByTestId('email-body');
    const sandbox = (await frame.getAttribute('sandbox')) ?? '';
    expect(sandbox.split(' ')).not.toContain('allow-scripts');
    await expect.poll(() => frameText(), { timeout: 10_000 }).toContain('the invoice page shows nothing');
    expect(await frameText()).not.toContain('Earlier answer from support');
    expect((await frame.boundingBox())?.height ?? 0).toBeGreaterThan(40);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(
      await page.evaluate(
        () =>
          getComputedStyle(
            document.querySelector<HTMLIFrameElement>('iframe[data-testid="email-body"]')!.contentDocument!
              .body,
          ).backgroundColor,
      ),
    ).not.toBe('rgb(255, 0, 0)');

    // Remote images: not fetched until asked, then for this message.
    const remoteSrc = () =>
      page.evaluate(() => {
        const frame = document.querySelector<HTMLIFrameElement>('iframe[data-testid="email-body"]');
        const img = frame?.contentDocument?.querySelector<HTMLImageElement>('img[data-remote-src]');
        return img ? { src: img.getAttribute('src'), width: img.naturalWidth } : null;
      });
    expect(await remoteSrc()).toEqual({ src: null, width: 0 });
    expect(imageHits).toBe(0);
    await email.getByTestId('email-remote-images').click();
    await expect.poll(remoteSrc).toEqual({ src: imageUrl, width: 1 });
    expect(imageHits).toBeGreaterThan(0);
    await email.getByTestId('email-remote-shown').waitFor();
    // The image came back, and still nothing ran.
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();

    await email.getByTestId('email-quoted-toggle').click();
    await expect.poll(() => frameText()).toContain('Earlier answer from support');

    // The attachment, and the original message, as downloads the agent's session can fetch.
    const attachment = email.getByTestId('email-attachment').filter({ hasText: 'receipt.txt' });
    const href = await attachment.getByRole('link').getAttribute('href');
    expect(href).toMatch(/^\/api\/attachments\//);
    expect(await page.evaluate(async (url) => (await fetch(url)).text(), href!)).toContain('Receipt 42');
    expect(await email.getByTestId('email-original').textContent()).toBe('Original message (.eml)');
    const original = await email.getByTestId('email-original').getAttribute('href');
    expect(await page.evaluate(async (url) => (await fetch(url)).text(), original!)).toContain(
      graceMessageId,
    );

    // The acknowledgment the mailbox sent is the system's, not Ada's, and it went out.
    const ack = page.locator('[data-automatic="acknowledgment"]');
    await ack.waitFor({ timeout: 15_000 });
    expect(await ack.locator('.who').textContent()).toBe('Automatic acknowledgment');
    await expect
      .poll(() => ack.getByTestId('delivery-status').getAttribute('data-status'), { timeout: 20_000 })
      .toBe('sent');
    await saveScreenshot(page, 'console-email-message');

    // The reply: its subject, the Cc (alan suggested from the customer's Cc; a typo refused), two files, one
    // of them removed again.
    const interactionId = await page
      .locator('[data-testid="timeline-run"][data-current="true"]')
      .getAttribute('data-interaction');
    const { interaction } = await ctx.services.interactions.detail(interactionId!);
    expect(await page.getByTestId('composer-subject').textContent()).toBe(
      `Re: The invoice page is broken [#${interaction.ticketNumber}]`,
    );
    const suggestion = page.getByTestId('composer-cc-suggest');
    expect(await suggestion.textContent()).toContain(alan.address);
    await suggestion.getByRole('button', { name: 'Add to Cc' }).click();
    const cc = page.getByTestId('composer-cc');
    expect(await cc.inputValue()).toBe(alan.address);
    await cc.fill(`${alan.address}, dana at example`);
    await page
      .getByTestId('composer-cc-error')
      .getByText('Not an email address: dana, at, example')
      .waitFor();
    const reply = page.getByRole('textbox', { name: 'Reply' });
    await reply.fill('We fixed the invoice page: please try again. The label is attached.');
    expect(await page.getByRole('button', { name: /^Send/ }).isDisabled()).toBe(true);
    const dana = `dana.${stamp}@customer.example`;
    await cc.fill(`${alan.address}, Dana Scully <${dana}>`);
    await expect.poll(() => page.getByTestId('composer-cc-error').count()).toBe(0);

    await page.getByTestId('composer-file-input').setInputFiles([
      { name: 'label.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 a tracking label') },
      { name: 'wrong.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') },
    ]);
    const files = page.getByTestId('composer-file');
    await expect.poll(() => files.count()).toBe(2);
    await expect
      .poll(() => files.evaluateAll((items) => items.map((li) => li.getAttribute('data-state'))))
      .toEqual(['done', 'done']);
    expect(await files.first().textContent()).toContain('label.pdf');
    expect(await files.first().textContent()).toContain('25 B');
    await files.filter({ hasText: 'wrong.txt' }).getByTestId('composer-file-remove').click();
    await expect.poll(() => files.count()).toBe(1);
    await saveScreenshot(page, 'console-email-composer');

    await reply.press('Control+Enter');
    await expect.poll(() => reply.inputValue()).toBe('');
    const sent = await waitFor(async () => {
      for (const captured of smtp.messages) {
        const parsed = await simpleParser(captured.raw);
        if (parsed.text?.includes('We fixed the invoice page')) return { parsed, captured };
      }
      return undefined;
    }, 15_000);
    expect(sent.parsed.subject).toBe(`Re: The invoice page is broken [#${interaction.ticketNumber}]`);
    expect(sent.parsed.inReplyTo).toBe(graceMessageId);
    const ccs = sent.parsed.cc && 'value' in sent.parsed.cc ? sent.parsed.cc.value.map((a) => a.address) : [];
    expect(ccs.sort()).toEqual([alan.address, dana].sort());
    expect(sent.captured.envelope.to.sort()).toEqual([alan.address, dana, grace.address].sort());
    expect(sent.parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['label.pdf', '%PDF-1.4 a tracking label'],
    ]);
    expect(await page.getByTestId('composer-file').count()).toBe(0);
    expect(await cc.inputValue()).toBe('');

    // The bubble: Ada's, sent, with its Cc and file.
    const bubble = page
      .locator('[data-type="message.sent"]')
      .filter({ hasText: 'We fixed the invoice page' });
    await expect
      .poll(() => bubble.getByTestId('delivery-status').getAttribute('data-status'), { timeout: 20_000 })
      .toBe('sent');
    expect(await bubble.locator('.who').textContent()).toBe('You');
    expect(await bubble.getByTestId('email-sent-cc').textContent()).toContain(dana);
    await bubble.getByTestId('email-attachment').getByText('label.pdf').waitFor();
    // Outcomes show on their reply, not as entries of their own.
    expect(await page.locator('[data-type="message.delivered"]').count()).toBe(0);

    // Grace answers Ada's reply: it joins this conversation, and says why.
    await imap.append(
      crlf([
        `From: ${grace.name} <${grace.address}>`,
        `To: ${mailbox.address}`,
        `Subject: Re: ${sent.parsed.subject}`,
        `Message-ID: ${uniqueMessageId('grace-again')}`,
        `In-Reply-To: ${sent.parsed.messageId}`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'It works now, thank you!',
        '',
        'On Tue, Ada Agent wrote:',
        '> We fixed the invoice page: please try again.',
        '',
      ]),
    );
    const answer = page.getByTestId('email-message').filter({ hasText: 'It works now, thank you!' });
    await answer.waitFor({ timeout: 20_000 });
    expect(await answer.getByTestId('email-text').textContent()).toBe('It works now, thank you!');
    expect(await answer.getByTestId('email-threading').textContent()).toMatch(
      /^Added to this conversation because: In-Reply-To or References names our message/,
    );
    await answer.getByTestId('email-quoted-toggle').click();
    expect(await answer.getByTestId('email-quoted').textContent()).toContain('> We fixed the invoice page');
    await saveScreenshot(page, 'console-email-thread');

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("answers a web chat visitor's left message by email, by default", async () => {
    const visitor = `visitor-${stamp}`;
    const address = `lin.${stamp}@customer.example`;
    await ctx.services.ingest({
      channel: 'chat',
      externalId: `webchat:${visitor}:left-1`,
      threadKey: `webchat:${visitor}`,
      identities: [
        { kind: 'chat_visitor', value: visitor },
        { kind: 'email', value: address },
      ],
      displayName: 'Lin Left',
      text: 'Nobody was there: do you deliver on Sundays?',
      hints: { leftMessage: true },
    });
    await acceptNextOffer();
    const byEmail = page.getByTestId('composer-by-email');
    await byEmail.waitFor({ timeout: 15_000 });
    expect(await byEmail.isChecked()).toBe(true);
    await page.getByLabel(/Answer by email to/).waitFor();
    const reply = page.getByRole('textbox', { name: 'Reply' });
    await reply.fill('Yes, on Sundays from 10 to 4.');
    await reply.press('Control+Enter');
    const mail = await waitFor(() =>
      smtp.messages.find((m) => m.envelope.to.includes(address) && m.raw.includes('on Sundays from 10 to 4')),
    );
    expect(mail.raw.toString()).toContain('> Nobody was there: do you deliver on Sundays?');
    expect(pageErrors).toEqual([]);
  });

  it('flags an automatic message that could not be read well', async () => {
    await imap.append(
      crlf([
        `From: Monitoring <robot.${stamp}@customer.example>`,
        `To: ${mailbox.address}`,
        'Subject: Nightly report',
        `Message-ID: ${uniqueMessageId('robot')}`,
        'Auto-Submitted: auto-generated',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=x-unknown-charset',
        '',
        'Report body in a charset nobody knows.',
        '',
      ]),
    );
    await acceptNextOffer();
    const email = page.getByTestId('email-message').filter({ hasText: 'Nightly report' });
    await email.waitFor({ timeout: 15_000 });
    const attention = email.getByTestId('email-needs-attention');
    expect(await attention.textContent()).toContain('Needs attention');
    expect(await attention.textContent()).toContain('unknown charset x-unknown-charset');
    expect(await email.getByTestId('email-automatic').textContent()).toMatch(/^Automatic .*auto-generated/i);
    // Nothing was sent back to a machine.
    expect(await page.locator('[data-automatic="acknowledgment"]').count()).toBe(0);
    await saveScreenshot(page, 'console-email-needs-attention');
    expect(pageErrors).toEqual([]);
  });
});

import { randomUUID } from 'node:crypto';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import {
  imapClient,
  mailboxFixture,
  uniqueMessageId,
  type MailboxFixture,
} from '../support/email-fixtures.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Stored XSS in the agent console, in a real Chromium, on the real paths: an email appended to the mailbox
 * on Dovecot (read, sanitized and logged by the email channel) whose sender name, subject, HTML body and
 * attachment file name are hostile, and a chat whose visitor name and message are. Every payload sets
 * `window.__xss` (in the console or, through `parent`/`top`, from a frame) or opens a dialog; after the
 * console has shown all of it, and the agent has clicked what a customer would want clicked, the flag is
 * unset in every frame, no dialog opened, and the hostile strings are on screen as text.
 *
 * The email HTML carries the classic vectors: script, inline handlers (img onerror, body onload, svg onload),
 * javascript: and data: URLs (links, iframes, forms, object, meta refresh), CSS (expression(), javascript:
 * URLs, @import) and base href. tests/e2e/console-email.test.ts covers a script and an onerror on the way to
 * its other checks; tests/e2e/webchat.test.ts a name and message in the widget.
 */

const password = 'correct horse battery';
const rulesText = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
rules:
  - { name: default, queue: general, priority: 0 }
capacity:
  email: { max: 5 }
  chat: { max: 5 }
options:
  offerTimeoutSeconds: 600
`;

/** Sets the flag wherever it runs: the console itself, or the console from inside a frame. */
const set = (tag: string) => `(window.top||window).__xss='${tag}'`;
// No double quotes: the name travels as an RFC 5322 quoted string in the email's From.
const hostileName = `<img src=x onerror=${set('name')}>Mallory`;
const hostileFile = `<img src=x onerror=${set('file').replace(/'/g, '')}>.pdf`;
const hostileSubject = `<svg onload=${set('subject').replace(/'/g, '')}>Invoice`;
const hostileChat = `<script>${set('chat')}</script><img src=x onerror="${set('chat-img')}">hello`;

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

const emailHtml = [
  '<html><head>',
  `<base href="javascript:${set('base')}//">`,
  `<meta http-equiv="refresh" content="0;url=javascript:${set('meta')}">`,
  `<style>@import url("javascript:${set('import')}"); body { background: url("javascript:${set('css-url')}"); }`,
  `  p { width: expression(${set('expression')}); } .x { behavior: url(#default#time2) }</style>`,
  `<script>${set('script')}</script>`,
  `</head><body onload="${set('body-onload')}">`,
  '<p id="marker">Hostile newsletter body</p>',
  `<img src="x" onerror="${set('img-onerror')}">`,
  `<svg onload="${set('svg-onload')}"><circle r="4"/><script>${set('svg-script')}</script></svg>`,
  `<a id="js-link" href="javascript:${set('js-link')}">click me</a>`,
  `<a id="data-link" href="data:text/html,<script>${set('data-link')}</script>">or me</a>`,
  `<a id="entity-link" href="jav&#x09;ascript:${set('entity-link')}">and me</a>`,
  `<iframe src="javascript:${set('iframe')}"></iframe>`,
  `<iframe srcdoc="<script>${set('srcdoc')}</script>"></iframe>`,
  `<object data="javascript:${set('object')}"></object><embed src="javascript:${set('embed')}">`,
  `<form action="javascript:${set('form')}"><button id="form-button">Send</button></form>`,
  `<math><mtext><table><mglyph><style><img src=x onerror="${set('mxss')}"></style></mglyph></table></mtext></math>`,
  `<div style="background-image: url(javascript:${set('inline-css')})">styled</div>`,
  `<details open ontoggle="${set('ontoggle')}">x</details>`,
  '</body></html>',
].join('\n');

describe('stored XSS in the agent console', () => {
  let ctx: TestContext;
  let mailbox: MailboxFixture;
  let imap: Awaited<ReturnType<typeof imapClient>>;
  let browser: Browser;
  let page: Page;
  const rules = writeRulesFolder(rulesText);
  const dialogs: string[] = [];

  beforeAll(async () => {
    const imapServer = { host: inject('imapHost'), port: inject('imapPort') };
    mailbox = mailboxFixture({ imap: imapServer, pollSeconds: 1 });
    ctx = await createTestContext({
      config: {
        routingRulesDir: rules.dir,
        email: { mailboxesFile: mailbox.file, secrets: mailbox.secrets, tokenSecret: 'xss', isPolling: true },
      },
    });
    imap = await imapClient({ ...imapServer, user: mailbox.imapUser });
    const baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    await ctx.services.agents.create(
      { email: 'ada@xss.e2e', displayName: 'Ada Agent', role: 'agent', password },
      null,
    );
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1360, height: 1000 } });
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // A popup (a link that escaped) would be a page of its own: its dialogs count too.
    page.context().on('page', (popup) =>
      popup.on('dialog', (dialog) => {
        dialogs.push(`popup: ${dialog.message()}`);
        void dialog.dismiss();
      }),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await imap?.close();
    await ctx?.close();
    rules.remove();
  });

  /**
   * The flag in every frame of every page. Playwright evaluates in a sandboxed frame too (scripts of the
   * page's own are off there, not the debugger's); a frame it cannot reach fails the test rather than
   * passing unchecked.
   */
  async function flags(): Promise<unknown[]> {
    const frames: Frame[] = page
      .context()
      .pages()
      .flatMap((p) => p.frames());
    const values = await Promise.all(
      frames.map((frame) => frame.evaluate(() => ({ flag: (window as { __xss?: unknown }).__xss ?? null }))),
    );
    expect(values).toHaveLength(frames.length);
    return values.map((v) => v.flag).filter((v) => v !== null);
  }

  async function acceptNextOffer() {
    const toast = page.getByTestId('offer-toast');
    await toast.waitFor({ timeout: 20_000 });
    await toast.getByRole('button', { name: /Accept/ }).click();
    await toast.waitFor({ state: 'detached' });
  }

  it('shows a hostile email (sender, subject, HTML, file name) as text and runs none of it', async () => {
    await page.goto('/');
    await page.getByLabel('Email').fill('ada@xss.e2e');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('Connected');
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');
    // The detector sees a flag when there is one.
    await page.evaluate(() => ((window as { __xss?: unknown }).__xss = 'self-check'));
    expect(await flags()).toEqual(['self-check']);
    await page.evaluate(() => delete (window as { __xss?: unknown }).__xss);

    await imap.append(
      crlf([
        `From: "${hostileName}" <mallory.${randomUUID().slice(0, 8)}@customer.example>`,
        `To: Example Support <${mailbox.address}>`,
        `Subject: ${hostileSubject}`,
        `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
        `Message-ID: ${uniqueMessageId('xss')}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="mixed-b"',
        '',
        '--mixed-b',
        'Content-Type: multipart/alternative; boundary="alt-b"',
        '',
        '--alt-b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Hostile newsletter body',
        '--alt-b',
        'Content-Type: text/html; charset=utf-8',
        '',
        emailHtml,
        '--alt-b--',
        '--mixed-b',
        `Content-Type: application/pdf; name="${hostileFile}"`,
        `Content-Disposition: attachment; filename="${hostileFile}"`,
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('%PDF-1.7\n%%EOF\n').toString('base64'),
        '--mixed-b--',
        '',
      ]),
    );
    await acceptNextOffer();

    const email = page.getByTestId('email-message').first();
    await email.waitFor({ timeout: 15_000 });
    const frame = email.getByTestId('email-body');
    const frameText = () =>
      page.evaluate(
        () =>
          document.querySelector<HTMLIFrameElement>('iframe[data-testid="email-body"]')?.contentDocument?.body
            ?.textContent ?? null,
      );
    await expect.poll(frameText, { timeout: 10_000 }).toContain('Hostile newsletter body');
    expect((await frame.getAttribute('sandbox'))?.split(' ')).not.toContain('allow-scripts');

    // The hostile strings are text on the console: the sender's name, the subject, the file name.
    expect(await email.getByTestId('email-from').textContent()).toContain(hostileName);
    expect(await email.getByTestId('email-subject').textContent()).toContain(hostileSubject);
    const file = email.getByTestId('email-attachment');
    expect(await file.textContent()).toContain(hostileFile);
    await expect
      .poll(() =>
        page
          .getByTestId('work-item')
          .locator('.customer')
          .evaluateAll((nodes) => nodes.map((n) => n.textContent ?? '')),
      )
      .toContainEqual(expect.stringContaining(hostileName));

    // What is left of the mail's HTML holds nothing active.
    const active = await page.evaluate(() => {
      const doc = document.querySelector<HTMLIFrameElement>(
        'iframe[data-testid="email-body"]',
      )!.contentDocument!;
      const found: string[] = [];
      for (const element of Array.from(doc.querySelectorAll('*'))) {
        const tag = element.tagName.toLowerCase();
        if (['script', 'iframe', 'object', 'embed', 'form', 'svg', 'math'].includes(tag))
          found.push(`<${tag}>`);
        // The console's own frame document has `<base target="_blank">`; a base with an address came from the mail.
        if (tag === 'base' && element.hasAttribute('href')) found.push('<base href>');
        if (tag === 'meta' && element.getAttribute('http-equiv')?.toLowerCase() === 'refresh')
          found.push('<meta refresh>');
        for (const attribute of Array.from(element.attributes)) {
          // Browsers skip whitespace and control characters inside a scheme (`jav&#x09;ascript:`).
          // eslint-disable-next-line no-control-regex -- control characters are what is removed
          const value = attribute.value.replace(/[\s\u0000-\u001f]/g, '').toLowerCase();
          if (attribute.name.startsWith('on')) found.push(`${tag}[${attribute.name}]`);
          if (/^(javascript|vbscript|data:text\/html)/.test(value))
            found.push(`${tag}[${attribute.name}=${value}]`);
          if (attribute.name === 'style' && /expression|javascript:/.test(value)) found.push(`${tag}[style]`);
        }
        if (tag === 'style' && /expression|javascript:|@import/i.test(element.textContent ?? ''))
          found.push('<style> with an active rule');
      }
      return found;
    });
    expect(active).toEqual([]);

    // The agent clicks what the mail offers; still nothing runs.
    for (const id of ['js-link', 'data-link', 'entity-link', 'form-button']) {
      await page.evaluate((target) => {
        const doc = document.querySelector<HTMLIFrameElement>(
          'iframe[data-testid="email-body"]',
        )!.contentDocument!;
        doc.getElementById(target)?.click();
      }, id);
    }
    // The attachment link downloads; it is not a page the console would open.
    expect(await file.getByRole('link').getAttribute('download')).toBe(hostileFile);

    // The console's own document holds no element that came from the mail's markup.
    expect(await page.locator('#app img[src="x"], #app svg[onload], #app script').count()).toBe(0);
    expect(
      await page.evaluate(() => document.querySelectorAll('[onerror], [onload], [ontoggle]').length),
    ).toBe(0);
    await saveScreenshot(page, 'security-xss-email');
    expect(page.frames().length).toBeGreaterThanOrEqual(2); // the console and the email's frame, both checked
    expect(await flags()).toEqual([]);
    expect(dialogs).toEqual([]);
  });

  it('shows a hostile chat visitor name and message as text and runs none of it', async () => {
    const visitor = randomUUID();
    const sent = await ctx.services.ingest({
      channel: 'chat',
      externalId: `webchat:${visitor}:1`,
      threadKey: `webchat:${visitor}`,
      identities: [{ kind: 'chat_visitor', value: visitor }],
      displayName: hostileName,
      text: hostileChat,
    });
    await acceptNextOffer();
    const message = page
      .getByTestId('conversation')
      .locator('[data-type="message.received"] .body')
      .filter({ hasText: 'hello' });
    await expect.poll(() => message.last().textContent(), { timeout: 10_000 }).toBe(hostileChat);
    await expect
      .poll(() =>
        page
          .getByTestId('work-item')
          .locator('.customer')
          .evaluateAll((nodes) => nodes.map((n) => n.textContent ?? '')),
      )
      .toContainEqual(expect.stringContaining(hostileName));
    expect((await ctx.services.interactions.detail(sent.interactionId)).interaction.channel).toBe('chat');

    expect(await page.locator('#app img[src="x"], #app script').count()).toBe(0);
    expect(await page.evaluate(() => document.querySelectorAll('[onerror], [onload]').length)).toBe(0);
    await saveScreenshot(page, 'security-xss-chat');
    expect(await flags()).toEqual([]);
    expect(dialogs).toEqual([]);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeptAttachment } from '../../src/interactions/attachments.service.js';
import type { OutboundMessage } from '../../src/interactions/outbound-message.js';
import { launchBrowser, saveScreenshot } from '../support/browser.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Faxes in the agent console, in a real Chromium against the real server (the fax channel attached, jobs run
 * in-process). Most faxes here are logged the way the fax channel logs them (ingest on channel 'fax' with
 * the pages kept as attachments and `details.fax`), with page images drawn by ImageMagick, so that outcomes
 * the pipeline only reaches on a bad day (partial, failed) are shown exactly as the contract says:
 *   - the offer, then the fax: sender, station, number, pages, provider; one thumbnail per page, each of
 *     which really loads; the viewer (Escape closes, arrows and buttons turn the pages, the page's text
 *     beside it); the text per page behind its toggle; the PDF and the original TIFF as downloads;
 *   - a partial fax and a failed one flagged in a warning with the problems and the provider's reason;
 *   - a reply by fax (logged as message.sent on the fax interaction; whether it leaves is the channel's
 *     business: no fax provider is configured here) and, for a customer with an email address, the choice of
 *     fax or email, email picked and logged so;
 *   - a fax received through the whole pipeline (ctx.services.fax.receive: kept, converted, read by
 *     tesseract, ingested, routed) found by a word printed on it in the top bar's fax search, and opened;
 *   - the search's results safe and marked whatever the snippet holds (a stand-in answer, page.route).
 * Where no sender is registered for email (the email channel is off in the test server), a stand-in records
 * what would have left. Screenshots land in test-results/screenshots/.
 */

const password = 'correct horse battery';
const rulesText = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
rules:
  - { name: default, queue: general, priority: 0 }
capacity:
  fax: { max: 5 }
options:
  offerTimeoutSeconds: 600
`;

/** A page as a fax machine would send it: US Letter at 96 dpi, black text on white. */
function faxPage(lines: string[]): Buffer {
  const args = ['-size', '816x1056', 'xc:white', '-font', 'DejaVu-Sans', '-fill', 'black'];
  lines.forEach((line, i) =>
    args.push('-pointsize', i === 0 ? '40' : '24', '-annotate', `+80+${200 + i * 60}`, line),
  );
  return execFileSync('convert', [...args, 'png:-']);
}

/** The pages as one multi-page TIFF, as a fax provider hands over a received fax. */
function tiffOf(pages: Buffer[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-fax-'));
  try {
    const files = pages.map((png, i) => {
      const file = join(dir, `page-${i + 1}.png`);
      writeFileSync(file, png);
      return file;
    });
    return execFileSync('convert', [...files, 'tiff:-']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pdfOf(pages: Buffer[]): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  for (const png of pages) {
    const image = await pdf.embedPng(png);
    pdf.addPage([612, 792]).drawImage(image, { x: 0, y: 0, width: 612, height: 792 });
  }
  return Buffer.from(await pdf.save());
}

describe('agent console: fax', () => {
  let ctx: TestContext;
  let browser: Browser;
  let page: Page;
  const rules = writeRulesFolder(rulesText);
  const pageErrors: string[] = [];
  const emailed: OutboundMessage[] = [];
  const ids = { invoice: '', partial: '', failed: '', order: '' };

  beforeAll(async () => {
    // The worker runs the fax channel's `fax.process` job (convert, read, ingest) and replies' deliveries.
    ctx = await createTestContext({ isWorker: true, config: { routingRulesDir: rules.dir } });
    if (!ctx.services.outboundRegistry.senderFor('email'))
      ctx.services.outboundRegistry.register('email', {
        isImmediate: true,
        send: async (message) => {
          emailed.push(message);
          return { providerId: `stand-in-${emailed.length}`, sent: { to: message.to[0]?.value } };
        },
      });
    const baseUrl = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    await ctx.services.agents.create(
      { email: 'fay@fax.e2e', displayName: 'Fay Agent', role: 'agent', password },
      null,
    );
    page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1360, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
    rules.remove();
  });

  /** Keeps the files of a fax and logs it as the fax channel does; returns the interaction id. */
  async function receiveFax(fax: {
    faxId: string;
    outcome: 'received' | 'partial' | 'failed';
    from: string;
    stationId: string | null;
    email?: string;
    pages: string[][];
    text?: string;
    problems?: string[];
    error?: { code: string; message: string };
  }): Promise<string> {
    const images = fax.pages.map(faxPage);
    const keep = (content: Buffer, fileName: string, contentType: string) =>
      ctx.services.attachments.keep(content, { fileName, contentType });
    let original: KeptAttachment | null = null;
    let document: KeptAttachment | null = null;
    const previews: KeptAttachment[] = [];
    if (images.length > 0) {
      original = await keep(tiffOf(images), `${fax.faxId}.tiff`, 'image/tiff');
      document = await keep(await pdfOf(images), `${fax.faxId}.pdf`, 'application/pdf');
      for (const [i, image] of images.entries())
        previews.push(await keep(image, `${fax.faxId}-page-${i + 1}.png`, 'image/png'));
    }
    const pageCount = images.length || null;
    const result = await ctx.services.ingest({
      channel: 'fax',
      externalId: `telnyx:${fax.faxId}`,
      identities: [
        { kind: 'fax', value: fax.from },
        ...(fax.email ? [{ kind: 'email' as const, value: fax.email }] : []),
      ],
      subject: `Fax from ${fax.from}, ${images.length} ${images.length === 1 ? 'page' : 'pages'}`,
      ...(fax.text && { text: fax.text }),
      attachments: [...(original ? [original] : []), ...(document ? [document] : []), ...previews],
      hints: {
        receivedOn: '+18005550111',
        ...(fax.outcome !== 'received' || fax.problems?.length ? { needsAttention: true } : {}),
      },
      details: {
        fax: {
          provider: 'telnyx',
          faxId: fax.faxId,
          outcome: fax.outcome,
          from: fax.from,
          to: '+18005550111',
          stationId: fax.stationId,
          pageCount,
          documentId: document?.id ?? null,
          originalId: original?.id ?? null,
          pages: previews.map((preview, i) => ({
            number: i + 1,
            imageId: preview.id,
            width: 816,
            height: 1056,
          })),
          textEngine: fax.text ? 'tesseract' : null,
          problems: fax.problems ?? [],
          error: fax.error ?? null,
        },
      },
    });
    return result.interactionId;
  }

  async function acceptNextOffer() {
    const toast = page.getByTestId('offer-toast');
    await toast.waitFor({ timeout: 20_000 });
    expect(await toast.locator('.channel').textContent()).toBe('fax');
    await toast.getByRole('button', { name: /Accept/ }).click();
    await toast.waitFor({ state: 'detached' });
  }

  /** The message.sent events of an interaction, as logged. */
  async function sentOf(interactionId: string) {
    const { events } = await ctx.services.interactions.detail(interactionId);
    return events.filter((e) => e.type === 'message.sent').map((e) => e.payload);
  }

  const currentFax = () =>
    page.locator('[data-testid="timeline-run"][data-current="true"] [data-testid="fax-message"]');

  it('shows a fax: its facts, pages that load, the viewer, the text and the files; replies by fax', async () => {
    await page.goto('/');
    await page.getByLabel('Email').fill('fay@fax.e2e');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('Connected');
    await page.getByRole('button', { name: 'Available', exact: true }).click();
    await expect.poll(() => page.getByTestId('agent-state').textContent()).toBe('Available');

    const pages = [
      ['INVOICE 4471', 'Acme Billing Ltd, 12 Harbour Road', 'Bill to: Northwind Traders', 'Due: 30 days'],
      ['PAGE 2 OF 3', 'Line items: 40 x widgets', 'Subtotal 1,180.00', 'Shipping 70.00'],
      ['PAGE 3 OF 3', 'Total due 1,250.00', 'Please remit to account 88-120'],
    ];
    ids.invoice = await receiveFax({
      faxId: 'fx-invoice',
      outcome: 'received',
      from: '+14155550100',
      stationId: 'ACME BILLING',
      pages,
      text: pages.map((lines) => lines.join('\n')).join('\f'),
    });
    await acceptNextOffer();

    // The facts of the fax.
    const fax = currentFax();
    await fax.waitFor({ timeout: 15_000 });
    expect(await fax.locator('header .who').textContent()).toBe('Fax from +14155550100');
    expect(await fax.getByTestId('fax-from').textContent()).toBe('From+14155550100');
    expect(await fax.getByTestId('fax-station').textContent()).toBe('StationACME BILLING');
    expect(await fax.getByTestId('fax-to').textContent()).toBe('To+18005550111');
    expect(await fax.getByTestId('fax-page-count').textContent()).toBe('Pages3');
    expect(await fax.getByTestId('fax-provider').textContent()).toBe('ViaTelnyx');
    expect(await fax.getByTestId('fax-needs-attention').count()).toBe(0);

    // One thumbnail a page, named for screen readers, sized before it loads, and really loaded.
    const thumbs = fax.getByTestId('fax-page-image');
    expect(await thumbs.count()).toBe(3);
    expect(await thumbs.evaluateAll((images) => images.map((img) => img.getAttribute('alt')))).toEqual([
      'Fax page 1 of 3',
      'Fax page 2 of 3',
      'Fax page 3 of 3',
    ]);
    expect(await thumbs.first().getAttribute('loading')).toBe('lazy');
    expect(await thumbs.first().getAttribute('width')).toBe('816');
    await fax.getByTestId('fax-pages').scrollIntoViewIfNeeded();
    await expect
      .poll(() => thumbs.evaluateAll((images) => images.map((img) => (img as HTMLImageElement).naturalWidth)))
      .toEqual([816, 816, 816]);
    const box = await thumbs.first().boundingBox();
    expect(Math.round((box!.height / box!.width) * 100)).toBe(Math.round((1056 / 816) * 100));
    await saveScreenshot(page, 'console-fax-message');

    // The viewer: page 1 large, arrows and buttons turn the pages, Escape closes back on the thumbnail.
    await fax.getByRole('button', { name: 'Fax page 1 of 3' }).click();
    const viewer = page.getByTestId('fax-viewer');
    await viewer.waitFor();
    expect(await page.getByRole('dialog', { name: 'Fax page 1 of 3' }).count()).toBe(1);
    const large = viewer.getByTestId('fax-viewer-image');
    await expect.poll(() => large.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(816);
    expect((await large.boundingBox())!.width).toBeGreaterThan(400);
    expect(await viewer.getByTestId('fax-viewer-text').textContent()).toContain('INVOICE 4471');
    expect(await viewer.getByTestId('fax-viewer-previous').isDisabled()).toBe(true);
    await saveScreenshot(page, 'console-fax-viewer');

    const title = viewer.getByTestId('fax-viewer-title');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => title.textContent()).toBe('Fax page 2 of 3');
    expect(await viewer.getByTestId('fax-viewer-text').textContent()).toContain('Subtotal 1,180.00');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => title.textContent()).toBe('Fax page 3 of 3');
    expect(await viewer.getByTestId('fax-viewer-next').isDisabled()).toBe(true);
    await page.keyboard.press('ArrowRight');
    expect(await title.textContent()).toBe('Fax page 3 of 3');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => title.textContent()).toBe('Fax page 2 of 3');
    await viewer.getByTestId('fax-viewer-previous').click();
    await expect.poll(() => title.textContent()).toBe('Fax page 1 of 3');
    await page.keyboard.press('End');
    await expect.poll(() => title.textContent()).toBe('Fax page 3 of 3');
    await expect.poll(() => large.getAttribute('alt')).toBe('Fax page 3 of 3');
    await expect.poll(() => large.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(816);
    await page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.querySelector('img')?.getAttribute('alt'))).toBe(
      'Fax page 3 of 3',
    );
    // The keyboard opens it again from there; Close closes it.
    await page.keyboard.press('Enter');
    await viewer.waitFor();
    expect(await title.textContent()).toBe('Fax page 3 of 3');
    await viewer.getByTestId('fax-viewer-close').click();
    await viewer.waitFor({ state: 'detached' });

    // The text read from the pages, page by page, behind its toggle.
    const text = fax.getByTestId('fax-text');
    expect(await text.getByTestId('fax-page-text').first().isVisible()).toBe(false);
    expect(await fax.getByTestId('fax-text-toggle').textContent()).toMatch(/^Text \(OCR\)/);
    await fax.getByTestId('fax-text-toggle').click();
    const texts = text.getByTestId('fax-page-text');
    expect(await texts.count()).toBe(3);
    expect(await texts.nth(0).textContent()).toContain('INVOICE 4471');
    expect(await texts.nth(0).textContent()).toContain('Bill to: Northwind Traders');
    expect(await texts.nth(2).textContent()).toContain('Total due 1,250.00');
    expect(await texts.nth(2).locator('h4').textContent()).toBe('Page 3');

    // The PDF and the original TIFF, fetched with the agent's session.
    const magic = (testId: string) =>
      fax
        .getByTestId(testId)
        .getAttribute('href')
        .then((href) =>
          page.evaluate(async (url) => {
            const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
            return Array.from(bytes.slice(0, 4), (b) => String.fromCharCode(b)).join('');
          }, href!),
        );
    expect(await magic('fax-download-pdf')).toBe('%PDF');
    expect(await fax.getByTestId('fax-download-original').textContent()).toBe('Original (TIFF)');
    expect(await magic('fax-download-original')).toBe('II*\0');
    await saveScreenshot(page, 'console-fax-text');

    // A reply by fax: no email on record, so no choice; it is logged on the fax interaction as written.
    expect(await page.getByTestId('composer-via').count()).toBe(0);
    expect(await page.getByTestId('composer-fax-hint').textContent()).toContain(
      'Sent by fax to +14155550100',
    );
    const reply = page.getByRole('textbox', { name: 'Reply' });
    expect(await reply.getAttribute('placeholder')).toMatch(/^Reply by fax/);
    await reply.fill('Received invoice 4471, thank you. Payment is scheduled for Friday.');
    await reply.press('Control+Enter');
    await expect.poll(() => reply.inputValue()).toBe('');
    await expect
      .poll(() => sentOf(ids.invoice))
      .toEqual([
        expect.objectContaining({
          text: 'Received invoice 4471, thank you. Payment is scheduled for Friday.',
        }),
      ]);
    expect((await sentOf(ids.invoice))[0]!.via).toBeUndefined();
    const bubble = page.locator('[data-type="message.sent"]').filter({ hasText: 'Payment is scheduled' });
    await bubble.waitFor();
    expect(await bubble.getAttribute('data-channel')).toBe('fax');
    expect(await bubble.locator('.who').textContent()).toBe('You');
    await bubble.getByTestId('delivery-status').waitFor();
    await saveScreenshot(page, 'console-fax-reply');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('flags a partial fax and a failed one, and answers by email when the agent picks it', async () => {
    const clinic = { from: '+13125550190', email: `frontdesk.${Date.now()}@northside.example` };
    ids.partial = await receiveFax({
      faxId: 'fx-partial',
      outcome: 'partial',
      from: clinic.from,
      email: clinic.email,
      stationId: 'NORTHSIDE CLINIC',
      pages: [
        ['REFERRAL FORM', 'Patient: J. Doe', 'Please schedule a claims review'],
        ['PAGE 2 OF 4', 'Claim 88-120'],
      ],
      text: 'REFERRAL FORM\nPatient: J. Doe\nPlease schedule a claims review\fPAGE 2 OF 4\nClaim 88-120',
      // As the channel words it: the provider's reason in the problem, not repeated below it.
      problems: ['the fax is partial: 2 pages arrived (The call dropped during page 3, code call_dropped)'],
      error: { code: 'call_dropped', message: 'The call dropped during page 3' },
    });
    await acceptNextOffer();
    const partial = currentFax();
    await partial.waitFor({ timeout: 15_000 });
    expect(await partial.getAttribute('data-outcome')).toBe('partial');
    const warning = partial.getByTestId('fax-needs-attention');
    expect(await warning.getByTestId('fax-outcome').textContent()).toBe('Partial fax');
    expect(await warning.getByTestId('fax-problem').textContent()).toBe(
      'the fax is partial: 2 pages arrived (The call dropped during page 3, code call_dropped)',
    );
    expect(await warning.getByTestId('fax-error').count()).toBe(0);
    expect(await partial.getByTestId('fax-page-image').count()).toBe(2);
    await expect
      .poll(() =>
        partial
          .getByTestId('fax-page-image')
          .evaluateAll((images) => images.map((img) => (img as HTMLImageElement).naturalWidth > 0)),
      )
      .toEqual([true, true]);

    // The customer has an email address: fax or email, fax picked; email chosen and sent so.
    const byFax = page.getByTestId('composer-by-channel');
    const byEmail = page.getByTestId('composer-by-email');
    await byEmail.waitFor({ timeout: 15_000 });
    expect(await byFax.isChecked()).toBe(true);
    expect(await byEmail.isChecked()).toBe(false);
    expect(await page.getByLabel('Answer by fax to +13125550190').isChecked()).toBe(true);
    expect(await page.getByTestId('composer-fax-hint').textContent()).toContain('Sent by fax');
    await page.getByLabel(`Answer by email to ${clinic.email}`).check();
    expect(await page.getByTestId('composer-fax-hint').count()).toBe(0);
    const reply = page.getByRole('textbox', { name: 'Reply' });
    expect(await reply.getAttribute('placeholder')).toMatch(/^Reply by email/);
    await reply.fill('Pages 3 and 4 did not reach us: could you send them again?');
    await saveScreenshot(page, 'console-fax-partial');
    await reply.press('Control+Enter');
    await expect.poll(() => reply.inputValue()).toBe('');
    await expect
      .poll(() => sentOf(ids.partial))
      .toEqual([
        expect.objectContaining({
          text: 'Pages 3 and 4 did not reach us: could you send them again?',
          via: 'email',
        }),
      ]);
    const bubble = page.locator('[data-type="message.sent"]').filter({ hasText: 'Pages 3 and 4' });
    await bubble.waitFor();
    expect(await bubble.getAttribute('data-channel')).toBe('email');
    await expect
      .poll(() => emailed.map((message) => message.to.map((to) => to.value)))
      .toEqual([[clinic.email]]);
    await expect.poll(() => bubble.getByTestId('delivery-status').getAttribute('data-status')).toBe('sent');

    // A failed fax from the same clinic: no pages, no text, the reason in the warning.
    ids.failed = await receiveFax({
      faxId: 'fx-failed',
      outcome: 'failed',
      from: clinic.from,
      stationId: null,
      pages: [],
      problems: ['the fax failed: no page arrived'],
      error: { code: 'no_answer', message: 'The sending machine stopped answering' },
    });
    await acceptNextOffer();
    const failed = currentFax();
    await failed.waitFor({ timeout: 15_000 });
    expect(await failed.getAttribute('data-outcome')).toBe('failed');
    expect(await failed.getByTestId('fax-outcome').textContent()).toBe('Fax failed');
    expect(await failed.getByTestId('fax-problem').textContent()).toBe('the fax failed: no page arrived');
    expect(await failed.getByTestId('fax-error').textContent()).toBe(
      'The provider said: The sending machine stopped answering (no_answer)',
    );
    expect(await failed.getByTestId('fax-pages').count()).toBe(0);
    expect(await failed.getByTestId('fax-no-text').textContent()).toBe(
      'No text could be read from this fax.',
    );
    expect(await failed.getByTestId('fax-page-count').textContent()).toBe('Pagesnone');
    // The clinic's earlier, partial fax is in the same timeline, above.
    expect(
      await page.locator(`[data-testid="timeline-run"][data-interaction="${ids.partial}"]`).count(),
    ).toBe(1);
    await failed.scrollIntoViewIfNeeded();
    await saveScreenshot(page, 'console-fax-failed');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('finds a fax received through the whole pipeline by a word printed on it, and opens it', async () => {
    const fax = ctx.services.fax;
    const tiff = tiffOf([
      faxPage(['PURCHASE ORDER 5521', 'Harbor Supply Co.', 'Quantity: 12 pallets of zinc anodes']),
      faxPage(['PAGE 2', 'Deliver to dock 7 before noon']),
    ]);
    const taken = await fax.receive({
      provider: 'hylafax',
      faxId: 'e2e-order-5521',
      eventId: 'e2e-order-5521:received',
      outcome: 'received',
      from: '+16175550123',
      to: '+18005550111',
      stationId: 'HARBOR SUPPLY',
      pageCount: 2,
      error: null,
      document: { kind: 'bytes', content: tiff, fileName: 'fax000000042.tif', contentType: 'image/tiff' },
      details: {},
    });
    expect(taken.outcome).toBe('taken');

    // Converted, read and routed by the worker: the offer, and the fax as the pipeline logged it.
    await acceptNextOffer();
    const order = currentFax();
    await order.waitFor({ timeout: 15_000 });
    ids.order = (await page
      .locator('[data-testid="timeline-run"][data-current="true"]')
      .getAttribute('data-interaction'))!;
    expect(await order.getByTestId('fax-station').textContent()).toBe('StationHARBOR SUPPLY');
    const thumbs = order.getByTestId('fax-page-image');
    expect(await thumbs.count()).toBe(2);
    await order.getByTestId('fax-pages').scrollIntoViewIfNeeded();
    await expect
      .poll(() =>
        thumbs.evaluateAll((images) => images.map((img) => (img as HTMLImageElement).naturalWidth > 0)),
      )
      .toEqual([true, true]);
    await order.getByTestId('fax-text-toggle').click();
    expect((await order.getByTestId('fax-page-text').first().textContent())?.toLowerCase()).toContain(
      'zinc anodes',
    );
    expect(await order.getByTestId('fax-download-pdf').count()).toBe(1);
    await saveScreenshot(page, 'console-fax-pipeline');

    // From another conversation, the search finds it by a word on its first page and opens it.
    await page.getByTestId('work-item').filter({ hasText: '+14155550100' }).click();
    await expect
      .poll(() =>
        page.locator('[data-testid="timeline-run"][data-current="true"]').getAttribute('data-interaction'),
      )
      .toBe(ids.invoice);
    const search = page.getByTestId('fax-search');
    await page.keyboard.press('f');
    await expect.poll(() => search.evaluate((input) => input === document.activeElement)).toBe(true);
    await search.fill('zinc anodes');
    const result = page.locator(`[data-testid="fax-result"][data-interaction="${ids.order}"]`);
    await result.waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('fax-result').count()).toBe(1);
    expect((await result.locator('mark').allTextContents()).map((word) => word.toLowerCase())).toEqual([
      'zinc',
      'anodes',
    ]);
    // A page break in the snippet reads as one, not as a control character.
    expect(await result.getByTestId('fax-snippet').textContent()).not.toContain('\f');
    expect(await result.textContent()).toContain('station HARBOR SUPPLY');
    expect(await result.textContent()).toContain('2 pages');
    await saveScreenshot(page, 'console-fax-search');
    await result.click();
    await expect
      .poll(() =>
        page.locator('[data-testid="timeline-run"][data-current="true"]').getAttribute('data-interaction'),
      )
      .toBe(ids.order);
    expect(await search.inputValue()).toBe('');

    // A word printed on no fax finds none, and says so.
    await search.fill('xylophone');
    await page.getByTestId('fax-results').getByText('No fax has these words.').waitFor();
    await search.press('Escape');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('shows search results as text, the words marked, and opens one from the keyboard', async () => {
    // A snippet is the sender's text: whatever it holds is shown as text. The browser answers the search
    // with one that holds markup (OCR does not reliably print it), in the route's shape.
    const asked: URL[] = [];
    const { interaction: invoice } = await ctx.services.interactions.detail(ids.invoice);
    const { interaction: partial } = await ctx.services.interactions.detail(ids.partial);
    const searchRoute = '**/api/faxes/search?*';
    await page.route(searchRoute, async (route) => {
      asked.push(new URL(route.request().url()));
      await route.fulfill({
        json: {
          terms: ['invoice', '4471'],
          results: [
            {
              interactionId: ids.invoice,
              ticketNumber: invoice.ticketNumber,
              customerId: invoice.customerId,
              customerName: null,
              from: '+14155550100',
              stationId: 'ACME BILLING',
              receivedAt: invoice.createdAt,
              pageCount: 3,
              status: invoice.status,
              snippet:
                'INVOICE 4471 Acme Billing Ltd <img src=x onerror="window.__pwned=1"> Invoices due in 30 days',
            },
            {
              interactionId: ids.partial,
              ticketNumber: partial.ticketNumber,
              customerId: partial.customerId,
              customerName: 'Northside Clinic',
              from: '+13125550190',
              stationId: 'NORTHSIDE CLINIC',
              receivedAt: partial.createdAt,
              pageCount: 2,
              status: partial.status,
              snippet: '…referral for the invoice of claim 88-120…',
            },
          ],
        },
      });
    });

    const search = page.getByTestId('fax-search');
    await search.fill('invoice 4471');
    const results = page.getByTestId('fax-result');
    await expect.poll(() => results.count()).toBe(2);
    expect(asked.at(-1)?.searchParams.get('q')).toBe('invoice 4471');
    expect(asked.at(-1)?.searchParams.get('limit')).toBe('20');
    const first = results.first();
    expect(await first.locator('mark').allTextContents()).toEqual(['INVOICE', '4471', 'Invoices']);
    expect(await first.getByTestId('fax-snippet').textContent()).toContain('<img src=x onerror=');
    expect(await page.locator('[data-testid="fax-results"] img').count()).toBe(0);
    expect(await first.textContent()).toContain(`#${invoice.ticketNumber}`);
    expect(await first.textContent()).toContain('3 pages');
    expect(await first.textContent()).toContain('station ACME BILLING');
    expect(await results.nth(1).locator('.fax-result-sender').textContent()).toBe('Northside Clinic');
    await saveScreenshot(page, 'console-fax-search-marked');

    // Arrow down to the clinic's fax, Enter opens it; a click opens the other.
    await search.press('ArrowDown');
    expect(await results.nth(1).getAttribute('aria-selected')).toBe('true');
    await search.press('Enter');
    await expect
      .poll(() =>
        page.locator('[data-testid="timeline-run"][data-current="true"]').getAttribute('data-interaction'),
      )
      .toBe(ids.partial);
    expect(await search.inputValue()).toBe('');
    await search.fill('invoice');
    await results.first().click();
    await expect
      .poll(() =>
        page.locator('[data-testid="timeline-run"][data-current="true"]').getAttribute('data-interaction'),
      )
      .toBe(ids.invoice);
    await currentFax().waitFor();
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    await page.unroute(searchRoute);
    expect(pageErrors).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { detectFaxTools, processFaxDocument, type ProcessedFax } from '../../channels/fax/document.js';
import { renderReplyPdf, type FaxReply } from '../../channels/fax/render-pdf.js';
import {
  joinPdfs,
  makeFaxPdf,
  makeFaxTiff,
  makeTextPdf,
  readPdf,
  readPdfWords,
  readTiffInfo,
  type FaxTiffOptions,
} from '../support/fax-fixtures.js';

/*
 * The fax document pipeline and the reply renderer on real documents made by Debian's fax tools (see
 * tests/support/fax-fixtures.ts), read back by poppler and tesseract: no mocks. OCR costs about a second a
 * page, so each test OCRs as few pages as its point needs.
 */

const invoice = 'INVOICE 4471\nAmount due 310 dollars';
const referral = 'REFERRAL CARDIOLOGY\nPatient seen on Tuesday';
const authorization = 'PRIOR AUTHORIZATION 5582\nApproved for imaging';

/** Timeout for a test that runs OCR: a page takes about a second, more on a busy machine. */
const ocrTimeout = 60_000;

/** A phrase in OCR'd text, whatever the case and however tesseract spaced or broke its words. */
function expectPhrase(text: string | undefined, phrase: string): void {
  const words = phrase.split(/\s+/).map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  expect(text ?? '').toMatch(new RegExp(words.join('\\s*'), 'i'));
}

/** A letter page (8.5 x 11 in, or 1728 fax pixels x 11 in) previewed at 816 px across. */
function expectLetterPreviews(result: ProcessedFax, count: number): void {
  expect(result.pages.map((page) => page.number)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  for (const page of result.pages) {
    expect(page.png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(page.width).toBe(816);
    // 1728 px at 204 dpi is 8.47 in: a page is 1.30 times as tall as wide, at 98 lines per inch too.
    expect(page.height / page.width).toBeCloseTo(11 / (1728 / 204), 1);
  }
}

describe('processFaxDocument: fax TIFFs', () => {
  it.each<[string, FaxTiffOptions, string[]]>([
    ['Group 3 1D, fine', { compression: 'g3', resolution: 'fine' }, [invoice, referral]],
    [
      'Group 3 2D, standard, LSB-first (Class F)',
      { compression: 'g3-2d', resolution: 'standard', fillOrder: 'lsb2msb' },
      [invoice, referral],
    ],
    ['Group 4, fine', { compression: 'g4', resolution: 'fine' }, [invoice, referral]],
    ['Group 4, standard', { compression: 'g4', resolution: 'standard' }, [invoice, referral]],
  ])(
    'turns a %s TIFF into a PDF of every page, a preview of each, and its text',
    async (_name, options, printed) => {
      const tiff = await makeFaxTiff(printed, options);
      const info = await readTiffInfo(tiff);
      expect(info).toHaveLength(printed.length);
      expect(info[0]?.compression).toBe(options.compression === 'g4' ? 'CCITT Group 4' : 'CCITT Group 3');
      expect(info[0]?.yResolution).toBe(options.resolution === 'fine' ? 196 : 98);
      expect(info[0]?.fillOrder).toBe(options.fillOrder === 'lsb2msb' ? 'lsb-to-msb' : 'msb-to-lsb');

      const result = await processFaxDocument(tiff);

      expect(result.problems).toEqual([]);
      expect(result.format).toBe('tiff');
      expect(result.pageCount).toBe(printed.length);
      expect(result.pdf).not.toBeNull();
      expect((await readPdf(result.pdf ?? Buffer.alloc(0))).pageCount).toBe(printed.length);
      expectLetterPreviews(result, printed.length);
      expect(result.text?.engine).toBe('tesseract');
      expect(result.text?.pages).toHaveLength(printed.length);
      printed.forEach((page, i) =>
        page.split('\n').forEach((line) => expectPhrase(result.text?.pages[i], line)),
      );
      expect(result.text?.pages[0]).not.toMatch(/REFERRAL/i);
    },
    ocrTimeout,
  );

  it(
    'keeps every page but previews and reads only the first maxPages',
    async () => {
      const tiff = await makeFaxTiff([invoice, referral, authorization], { compression: 'g4' });

      const result = await processFaxDocument(tiff, { maxPages: 1 });

      expect(result.pageCount).toBe(3);
      expect((await readPdf(result.pdf ?? Buffer.alloc(0))).pageCount).toBe(3);
      expect(result.pages.map((page) => page.number)).toEqual([1]);
      expect(result.text?.pages).toHaveLength(1);
      expectPhrase(result.text?.pages[0], 'INVOICE 4471');
      expect(result.problems).toEqual(['the document has 3 pages: only the first 1 were previewed and read']);
    },
    ocrTimeout,
  );

  it('converts and previews without tesseract, and says no text was read', async () => {
    const tools = { ...(await detectFaxTools()), tesseract: false, tesseractLanguages: [] };
    const tiff = await makeFaxTiff([invoice, referral], { compression: 'g4' });

    const result = await processFaxDocument(tiff, { tools });

    expect(result.text).toBeNull();
    expect(result.problems).toEqual(['tesseract is not installed: no text was read']);
    expect(result.pageCount).toBe(2);
    expectLetterPreviews(result, 2);
  });

  it(
    'reads with the installed languages and says which requested ones are missing',
    async () => {
      const tiff = await makeFaxTiff([authorization], { compression: 'g4' });

      const result = await processFaxDocument(tiff, { ocrLanguages: 'eng+zzz' });

      expect(result.problems).toEqual(["tesseract has no data for 'zzz': not used"]);
      expectPhrase(result.text?.pages[0], 'PRIOR AUTHORIZATION 5582');
    },
    ocrTimeout,
  );

  it('stops a tool that outlasts its timeout and reports it', async () => {
    const tiff = await makeFaxTiff([invoice], { compression: 'g4' });

    const result = await processFaxDocument(tiff, { timeoutMs: 1 });

    expect(result.pdf).toBeNull();
    // Which tool the 1 ms timer stops first depends on the machine's load (a timer may fire late, after
    // tiff2pdf is done): some tool is stopped, said so, and nothing is made of a half-converted document.
    expect(result.problems.join('\n')).toMatch(
      /(tiff2pdf|tiffcp|pdfinfo) took longer than 1 ms and was stopped/,
    );
  });

  it('processes documents given at the same time, each in its turn', async () => {
    const [first, second] = await Promise.all([
      makeFaxTiff([invoice], { compression: 'g4' }).then((tiff) => processFaxDocument(tiff, { ocr: false })),
      makeTextPdf(['Prior authorization request']).then((pdf) => processFaxDocument(pdf, { ocr: false })),
    ]);

    expect([first?.format, first?.pageCount, first?.problems]).toEqual(['tiff', 1, []]);
    expect([second?.format, second?.pageCount, second?.problems]).toEqual(['pdf', 1, []]);
  });
});

describe('processFaxDocument: PDFs', () => {
  it(
    "OCRs an image-only PDF (a gateway's) and keeps its bytes as the PDF",
    async () => {
      const pdf = await makeFaxPdf([invoice, referral]);

      const result = await processFaxDocument(pdf);

      expect(result.problems).toEqual([]);
      expect(result.format).toBe('pdf');
      expect(result.pdf?.equals(pdf)).toBe(true);
      expect(result.pageCount).toBe(2);
      expectLetterPreviews(result, 2);
      expect(result.text?.engine).toBe('tesseract');
      expectPhrase(result.text?.pages[0], 'INVOICE 4471');
      expectPhrase(result.text?.pages[1], 'REFERRAL CARDIOLOGY');
    },
    ocrTimeout,
  );

  it('reads a text PDF with pdftotext, without OCR', async () => {
    const pdf = await makeTextPdf([
      'Referral for cardiology\nPatient: Zoë Ångström, born 1961',
      'Second page: lab results enclosed',
    ]);
    // Without tesseract nothing is missing: the text layer is enough.
    const tools = { ...(await detectFaxTools()), tesseract: false, tesseractLanguages: [] };

    const result = await processFaxDocument(pdf, { tools });

    expect(result.problems).toEqual([]);
    expect(result.text?.engine).toBe('pdftotext');
    expect(result.text?.pages[0]).toContain('Zoë Ångström');
    expect(result.text?.pages[1]).toContain('lab results enclosed');
    expect(result.pages.map((page) => [page.width, page.height])).toEqual([
      [816, 1056],
      [816, 1056],
    ]);
  });

  it(
    'OCRs only the pages without a text layer',
    async () => {
      const pdf = await joinPdfs(
        await makeTextPdf(['Cover sheet: 2 pages follow from the clinic of Dr Okafor']),
        await makeFaxPdf([authorization]),
      );

      const result = await processFaxDocument(pdf);

      expect(result.problems).toEqual([]);
      expect(result.text?.engine).toBe('mixed');
      expect(result.text?.pages[0]).toContain('Cover sheet: 2 pages follow');
      expectPhrase(result.text?.pages[1], 'PRIOR AUTHORIZATION 5582');
    },
    ocrTimeout,
  );
});

describe('processFaxDocument: what is not a readable fax', () => {
  const bytes = (text: string) => Buffer.from(text, 'latin1');

  it.each<[string, () => Promise<Buffer> | Buffer, ProcessedFax['format'], RegExp]>([
    ['an empty file', () => Buffer.alloc(0), 'unknown', /^the document is empty$/],
    [
      'a text file',
      () => bytes('Please call me back about my order.'),
      'unknown',
      /neither a TIFF nor a PDF/,
    ],
    ['a PNG', () => bytes('\x89PNG\r\n\x1a\n\0\0\0\rIHDR'), 'unknown', /neither a TIFF nor a PDF/],
    ['a TIFF header and nothing else', () => bytes('II*\0'), 'tiff', /cut off inside its header/],
    ['a TIFF header and garbage', () => bytes('MM\0*\0\0\0\x08garbage'), 'tiff', /no readable page/],
    ['a PDF header and garbage', () => bytes('%PDF-1.7\ngarbage'), 'pdf', /the PDF could not be read/],
    [
      'a truncated PDF',
      async () => (await makeFaxPdf([invoice])).subarray(0, 1500),
      'pdf',
      /could not be read/,
    ],
  ])('reports %s as a problem and does not throw', async (_name, make, format, problem) => {
    const result = await processFaxDocument(await make());

    expect(result).toMatchObject({ format, pdf: null, pageCount: 0, pages: [], text: null });
    expect(result.problems.join('\n')).toMatch(problem);
  });

  it('keeps the pages before the cut of a truncated TIFF and says the rest are missing', async () => {
    const tiff = await makeFaxTiff([invoice, referral, authorization], { compression: 'g4' });

    const result = await processFaxDocument(tiff.subarray(0, Math.floor(tiff.length * 0.6)), { ocr: false });

    expect(result.problems.join('\n')).toMatch(
      /the TIFF is cut off after page \d: any later pages are missing/,
    );
    expect(result.pageCount).toBeGreaterThan(0);
    expect(result.pageCount).toBeLessThan(3);
    expect((await readPdf(result.pdf ?? Buffer.alloc(0))).pageCount).toBe(result.pageCount);
  });
});

describe('renderReplyPdf', () => {
  const reply: FaxReply = {
    text: 'Dear Zoë Ångström,\n\nWe received your referral and booked the appointment.\nŁódź → Ελληνικά 中文',
    from: 'Acme Health Contact Center (+1 555 010 2000)',
    to: 'Zoë Ångström (+46 8 123 456)',
    date: new Date('2025-03-04T14:05:00Z'),
    reference: 'Ticket #123',
  };
  const paragraphs = Array.from(
    { length: 60 },
    (_, i) =>
      `Paragraph ${i + 1} says that the clinic has the referral and will call back within two business days.`,
  );

  it('writes the header block and the text on a US Letter page', async () => {
    const pdf = await readPdf(await renderReplyPdf(reply));

    expect(pdf.pageCount).toBe(1);
    expect(pdf.pageSize).toBe('612 x 792 pts (letter)');
    const text = pdf.pages[0]?.replace(/[ ]+/g, ' ') ?? '';
    expect(text).toContain('From: Acme Health Contact Center (+1 555 010 2000)');
    expect(text).toContain('To: Zoë Ångström (+46 8 123 456)');
    expect(text).toContain('Date: March 4, 2025 at 2:05 PM (UTC)');
    expect(text).toContain('Re: Ticket #123');
    expect(text).toContain('Page 1 of 1');
    expect(text).toContain('Dear Zoë Ångström,');
    expect(text).toContain('We received your referral and booked the appointment.');
    // DejaVu Sans has Polish, arrows and Greek, not Chinese.
    expect(text).toContain('Łódź → Ελληνικά ??');
  });

  it('writes in Helvetica without the DejaVu files, with ? for what WinAnsi lacks', async () => {
    const text = (await readPdf(await renderReplyPdf(reply, { fontFiles: null }))).pages[0] ?? '';

    expect(text).toContain('Zoë Ångström');
    expect(text).toContain('?ód? ? ???????? ??');
  });

  it('paginates a long text: full pages, every line once, in order, inside the margins, at 11 pt or more', async () => {
    const rendered = await renderReplyPdf({ ...reply, text: paragraphs.join('\n\n') });
    const pdf = await readPdf(rendered);
    const words = await readPdfWords(rendered);

    expect(pdf.pageCount).toBeGreaterThanOrEqual(3);
    pdf.pages.forEach((page, i) => expect(page).toContain(`Page ${i + 1} of ${pdf.pageCount}`));
    const body = pdf.pages.join('\n').replace(/\s+/g, ' ');
    let at = 0;
    for (const paragraph of paragraphs) {
      const found = body.indexOf(paragraph, at);
      expect(found, paragraph).toBeGreaterThanOrEqual(at);
      at = found + paragraph.length;
    }
    for (const word of words) {
      expect(word.xMin).toBeGreaterThanOrEqual(71);
      expect(word.xMax).toBeLessThanOrEqual(612 - 71);
      expect(word.yMax).toBeLessThanOrEqual(792 - 60);
      expect(word.yMax - word.yMin).toBeGreaterThanOrEqual(11);
    }
    // A page ends near the bottom margin unless it is the last: no page is cut short.
    for (let page = 1; page < pdf.pageCount; page++) {
      const lowest = Math.max(...words.filter((word) => word.page === page).map((word) => word.yMax));
      expect(lowest).toBeGreaterThan(792 - 72 - 2 * 16 - 4);
    }
  });

  it('gives a PDF the pipeline reads from its text layer', async () => {
    const result = await processFaxDocument(await renderReplyPdf(reply));

    expect(result.problems).toEqual([]);
    expect(result.text?.engine).toBe('pdftotext');
    expect(result.text?.pages[0]).toContain('Ticket #123');
  });
});

/*
 * Real fax documents for tests, made with Debian's tools: pages are typeset (pdf-lib) and scanned bitonal at a
 * fax resolution (poppler's pdftoppm), ImageMagick writes the scans as a TIFF, libtiff's tiffcp encodes it as a
 * fax machine sends it (CCITT Group 3 1D or 2D with byte-aligned EOLs, or Group 4), tiff2pdf wraps such a
 * TIFF in a PDF as fax-to-email gateways do, and pdf-lib writes PDFs with a text layer. Every TIFF made is
 * checked with tiffinfo.
 *
 * Documents are cached by their arguments for the test file's run (module scope): each caller gets its own
 * copy of the bytes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fontkit from '@pdf-lib/fontkit';
import { PDFDocument, StandardFonts } from 'pdf-lib';

const exec = promisify(execFile);

export type FaxCompression = 'g3' | 'g3-2d' | 'g4';

export interface FaxTiffOptions {
  /** 'g3': Group 3 1D (MH), 'g3-2d': Group 3 2D (MR), 'g4': Group 4 (MMR). Default 'g4'. */
  compression?: FaxCompression;
  /** 'fine': 204x196 dpi, 'standard': 204x98 dpi (pixels twice as tall as wide). Default 'fine'. */
  resolution?: 'fine' | 'standard';
  /** Bit order in each byte; fax modems and Class F files often use 'lsb2msb'. Default 'msb2lsb'. */
  fillOrder?: 'msb2lsb' | 'lsb2msb';
}

/** A fax page: 1728 pixels across (the width of a fax line), letter length. */
const pageWidth = 1728;
const fineHeight = 2156;
const standardHeight = 1078;
const font = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

const cache = new Map<string, Promise<Buffer>>();

function cached(key: unknown[], make: () => Promise<Buffer>): Promise<Buffer> {
  const id = JSON.stringify(key);
  let made = cache.get(id);
  if (!made) {
    made = make();
    cache.set(id, made);
    // A failure is not cached: the next call tries again and reports its own error.
    made.catch(() => cache.delete(id));
  }
  return made.then((content) => Buffer.from(content));
}

async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-fax-fixture-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A multi-page fax TIFF, one page per entry; each entry's lines are printed large enough for OCR. The pages
 * are typeset by pdf-lib and scanned by pdftoppm at the fax's resolution, bitonal, as a fax machine's scanner
 * would see them (at standard resolution a pixel is twice as tall as wide); ImageMagick writes the scans as a
 * TIFF, and tiffcp encodes it as the fax machine would.
 */
export function makeFaxTiff(pages: string[], options: FaxTiffOptions = {}): Promise<Buffer> {
  const compression = options.compression ?? 'g4';
  const resolution = options.resolution ?? 'fine';
  const fillOrder = options.fillOrder ?? 'msb2lsb';
  return cached(['tiff', pages, compression, resolution, fillOrder], () =>
    inTempDir(async (dir) => {
      await writeFile(join(dir, 'typeset.pdf'), await typeset(pages, faxFontSize));
      const height = resolution === 'fine' ? fineHeight : standardHeight;
      const scan = ['-mono', '-scale-to-x', String(pageWidth), '-scale-to-y', String(height)];
      await exec('pdftoppm', [...scan, join(dir, 'typeset.pdf'), join(dir, 'scan')]);
      // pdftoppm numbers its files with as many digits as the last page needs, so they sort as pages.
      const scans = (await readdir(dir)).filter((name) => name.startsWith('scan-')).sort();
      const density = resolution === 'fine' ? '204x196' : '204x98';
      const raw = join(dir, 'raw.tif');
      await exec(
        'convert',
        [...scans, '-units', 'PixelsPerInch', '-density', density, '-compress', 'Group4', raw],
        {
          cwd: dir,
        },
      );
      const out = join(dir, 'fax.tif');
      const scheme = { g3: 'g3:1d:fill', 'g3-2d': 'g3:2d:fill', g4: 'g4' }[compression];
      await exec('tiffcp', ['-c', scheme, '-f', fillOrder, raw, out]);
      const content = await readFile(out);
      await checkTiff(content, pages.length, compression === 'g4' ? 'CCITT Group 4' : 'CCITT Group 3');
      return content;
    }),
  );
}

/** Point size of a fax page's text: about 60 pixels high at 204 dpi, which tesseract reads at either resolution. */
const faxFontSize = 22;

/** A US Letter page per entry, its lines in DejaVu Sans (embedded, so that every machine draws the same). */
async function typeset(pages: string[], size: number): Promise<Uint8Array> {
  const document = await PDFDocument.create();
  document.registerFontkit(fontkit);
  const dejaVu = await document.embedFont(await readFile(font));
  for (const text of pages) {
    const page = document.addPage([612, 792]);
    for (const [i, line] of text.split('\n').entries()) {
      page.drawText(line, { x: 54, y: 792 - 90 - i * size * 1.5, size, font: dejaVu });
    }
  }
  document.setCreationDate(fixedDate);
  document.setModificationDate(fixedDate);
  return document.save();
}

const fixedDate = new Date('2025-01-01T00:00:00Z');

export interface TiffPageInfo {
  width: number;
  height: number;
  xResolution: number;
  yResolution: number;
  /** As tiffinfo names it: 'CCITT Group 3', 'CCITT Group 4', 'None'... */
  compression: string;
  fillOrder: string;
}

/** Each page of a TIFF, as tiffinfo reads it. */
export function readTiffInfo(content: Buffer): Promise<TiffPageInfo[]> {
  return inTempDir(async (dir) => {
    const file = join(dir, 'read.tif');
    await writeFile(file, content);
    const { stdout } = await exec('tiffinfo', [file]);
    return stdout
      .split(/^TIFF Directory at offset/m)
      .slice(1)
      .map((section) => {
        const size = /Image Width: (\d+) Image Length: (\d+)/.exec(section);
        const dpi = /Resolution: ([\d.]+), ([\d.]+)/.exec(section);
        return {
          width: Number(size?.[1]),
          height: Number(size?.[2]),
          xResolution: Number(dpi?.[1]),
          yResolution: Number(dpi?.[2]),
          compression: /Compression Scheme: (.+)/.exec(section)?.[1]?.trim() ?? '',
          fillOrder: /FillOrder: (.+)/.exec(section)?.[1]?.trim() ?? '',
        };
      });
  });
}

async function checkTiff(content: Buffer, pageCount: number, compression: string): Promise<void> {
  const pages = await readTiffInfo(content);
  const wrong = pages.filter((page) => page.compression !== compression || page.width !== pageWidth);
  if (pages.length !== pageCount || wrong.length > 0) {
    throw new Error(
      `the fax TIFF made is not ${pageCount} pages of ${compression}: ${JSON.stringify(pages)}`,
    );
  }
}

/** An image-only PDF, as fax-to-email gateways send: tiff2pdf of a Group 4 fax TIFF. */
export function makeFaxPdf(
  pages: string[],
  options: Pick<FaxTiffOptions, 'resolution'> = {},
): Promise<Buffer> {
  const resolution = options.resolution ?? 'fine';
  return cached(['fax-pdf', pages, resolution], async () => {
    const tiff = await makeFaxTiff(pages, { compression: 'g4', resolution });
    return inTempDir(async (dir) => {
      await writeFile(join(dir, 'fax.tif'), tiff);
      await exec('tiff2pdf', ['-o', join(dir, 'fax.pdf'), join(dir, 'fax.tif')]);
      return readFile(join(dir, 'fax.pdf'));
    });
  });
}

/** A US Letter PDF with a text layer, one page per entry, in 14 pt Helvetica (WinAnsi text only). */
export function makeTextPdf(pages: string[]): Promise<Buffer> {
  return cached(['text-pdf', pages], async () => {
    const document = await PDFDocument.create();
    const helvetica = await document.embedFont(StandardFonts.Helvetica);
    for (const text of pages) {
      const page = document.addPage([612, 792]);
      for (const [i, line] of text.split('\n').entries()) {
        page.drawText(line, { x: 72, y: 700 - i * 20, size: 14, font: helvetica });
      }
    }
    document.setCreationDate(fixedDate);
    document.setModificationDate(fixedDate);
    return Buffer.from(await document.save());
  });
}

/** The pages of several PDFs, in order, in one PDF. */
export async function joinPdfs(...pdfs: Buffer[]): Promise<Buffer> {
  const joined = await PDFDocument.create();
  for (const pdf of pdfs) {
    const source = await PDFDocument.load(pdf);
    for (const page of await joined.copyPages(source, source.getPageIndices())) joined.addPage(page);
  }
  return Buffer.from(await joined.save());
}

/** What poppler reads of a PDF: its page count and page size (points), and each page's text. */
export function readPdf(pdf: Buffer): Promise<{ pageCount: number; pageSize: string; pages: string[] }> {
  return inTempDir(async (dir) => {
    const file = join(dir, 'read.pdf');
    await writeFile(file, pdf);
    const { stdout: info } = await exec('pdfinfo', [file]);
    const { stdout: text } = await exec('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-']);
    const pageCount = Number(/^Pages:\s+(\d+)/m.exec(info)?.[1]);
    return {
      pageCount,
      pageSize: /^Page size:\s+(.+)$/m.exec(info)?.[1]?.trim() ?? '',
      pages: text.split('\f').slice(0, pageCount),
    };
  });
}

/** Every word's box on every page (pdftotext -bbox), in points from the top left. */
export function readPdfWords(
  pdf: Buffer,
): Promise<{ page: number; word: string; xMin: number; xMax: number; yMin: number; yMax: number }[]> {
  return inTempDir(async (dir) => {
    const file = join(dir, 'read.pdf');
    await writeFile(file, pdf);
    const { stdout } = await exec('pdftotext', ['-bbox', '-enc', 'UTF-8', file, '-']);
    return stdout.split('<page ').flatMap((page, index) =>
      [
        ...page.matchAll(
          /<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g,
        ),
      ].map((match) => ({
        page: index,
        word: match[5] ?? '',
        xMin: Number(match[1]),
        yMin: Number(match[2]),
        xMax: Number(match[3]),
        yMax: Number(match[4]),
      })),
    );
  });
}

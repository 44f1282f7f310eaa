/*
 * The fax document pipeline: what an inbound fax's document becomes before a person sees it — a PDF to keep
 * and send on, a preview image of each page, and each page's text. It runs Debian's tools as child processes
 * (libtiff-tools: tiff2pdf, tiffcp; poppler-utils: pdfinfo, pdftoppm, pdftotext; tesseract-ocr) on files in a
 * temporary directory that is always removed.
 *
 * Contract: processFaxDocument never throws for what a sender or provider can put in the document (corrupt,
 * truncated, empty, not a fax, a missing tool, a tool that hangs): it does what it can and says in `problems`
 * what it could not. The caller keeps the original bytes whatever comes back.
 *
 * Rasterizing and OCR take a core each on a 2-core machine, so a process works on one document at a time
 * (later calls wait their turn), reads at most `maxPages` pages, and kills any tool run that outlasts its
 * timeout.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';

export interface FaxTools {
  tiff2pdf: boolean;
  pdftoppm: boolean;
  pdfinfo: boolean;
  pdftotext: boolean;
  tesseract: boolean;
  /** What `tesseract --list-langs` lists ('eng', 'osd', ...); empty without tesseract. */
  tesseractLanguages: string[];
}

export interface ProcessedFax {
  format: 'tiff' | 'pdf' | 'unknown';
  /** The document as a PDF: converted from TIFF, or the original when it is a PDF; null when it could not be made. */
  pdf: Buffer | null;
  /** Pages in the document (0 when unreadable). A TIFF's pages that could not be converted are not counted. */
  pageCount: number;
  /** Preview images of the first `maxPages` pages, in order; a page that could not be rendered is left out. */
  pages: FaxPagePreview[];
  /**
   * Each page's text (index = page - 1; '' for a page without text) for the first `maxPages` pages, and how it
   * was read; null when no text could be read (no tesseract, or it failed).
   */
  text: { pages: string[]; engine: 'tesseract' | 'pdftotext' | 'mixed' } | null;
  /** What could not be done, in words a person understands. */
  problems: string[];
}

export interface FaxPagePreview {
  /** 1-based page number in the PDF. */
  number: number;
  png: Buffer;
  width: number;
  height: number;
}

export interface ProcessFaxOptions {
  /** Which tools are installed; detectFaxTools() when not given. */
  tools?: FaxTools;
  /** Tesseract languages, '+'-separated ('eng', 'eng+spa'); default 'eng'. */
  ocrLanguages?: string;
  /** Width of the preview images in pixels; default 816 (8.5 in at 96 dpi). */
  previewWidth?: number;
  /** Pages previewed and read; later pages stay in the PDF. Default 100. */
  maxPages?: number;
  /** Limit on each tool run; default 60 s. */
  timeoutMs?: number;
  /** Read text from pages without a text layer with tesseract; default true. */
  ocr?: boolean;
}

const defaults = { ocrLanguages: 'eng', previewWidth: 816, maxPages: 100, timeoutMs: 60_000 };

/** Resolution at which a page is rasterized for tesseract, which reads best at about 300 dpi. */
const ocrDpi = 300;
/** Longest side, in pixels, of a page rasterized for OCR: a 200-inch page at 300 dpi would need gigabytes. */
const maxOcrPixels = 6600;
/**
 * A page whose text layer has fewer letters and digits than this is treated as having none and is OCR'd: a
 * scanned page may carry a stray mark or a page number as text. A gateway that stamps a longer header as text
 * over an image page will have only that header read.
 */
const minTextLayerCharacters = 20;

// ---------------------------------------------------------------------------------------------------------
// Tools

let detectedTools: Promise<FaxTools> | undefined;

/** Which of the pipeline's programs are on PATH, asked once per process. */
export function detectFaxTools(): Promise<FaxTools> {
  detectedTools ??= detect();
  return detectedTools;
}

async function detect(): Promise<FaxTools> {
  const [tiff2pdf, pdftoppm, pdfinfo, pdftotext, languages] = await Promise.all([
    isInstalled('tiff2pdf', []),
    isInstalled('pdftoppm', ['-v']),
    isInstalled('pdfinfo', ['-v']),
    isInstalled('pdftotext', ['-v']),
    tesseractLanguages(),
  ]);
  return {
    tiff2pdf,
    pdftoppm,
    pdfinfo,
    pdftotext,
    tesseract: languages !== null,
    tesseractLanguages: languages ?? [],
  };
}

/** A program is installed when it starts; its exit status does not matter (tiff2pdf without a file exits 1). */
async function isInstalled(program: string, args: string[]): Promise<boolean> {
  const result = await runRaw(program, args, 10_000);
  return !(result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT');
}

/** The languages tesseract has data for, or null when tesseract does not run. */
async function tesseractLanguages(): Promise<string[] | null> {
  const result = await runRaw('tesseract', ['--list-langs'], 10_000);
  if (result.error) return null;
  // Tesseract 4 and later list on stdout, 3 on stderr, after a heading line "List of available languages...".
  return `${result.stdout.toString()}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[A-Za-z0-9_-]+$/.test(line));
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

interface RawResult {
  stdout: Buffer;
  stderr: string;
  error: (Error & { code?: unknown; killed?: boolean; signal?: unknown }) | null;
}

function runRaw(program: string, args: string[], timeoutMs: number, cwd?: string): Promise<RawResult> {
  return new Promise((resolve) => {
    execFile(
      program,
      args,
      {
        cwd,
        encoding: 'buffer',
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        // Tesseract's OpenMP threads would take both cores from the rest of the server for little gain on
        // one page at a time.
        env: { ...process.env, OMP_THREAD_LIMIT: '1' },
      },
      (error, stdout, stderr) => {
        resolve({ stdout, stderr: stderr.toString(), error });
      },
    );
  });
}

/** A tool run that failed, with a message for `problems`. */
class ToolFailure extends Error {
  override name = 'ToolFailure';
}

/** Runs a tool; resolves with its stdout, or rejects with a ToolFailure that says why in a person's words. */
async function run(program: string, args: string[], timeoutMs: number, cwd: string): Promise<Buffer> {
  const { stdout, stderr, error } = await runRaw(program, args, timeoutMs, cwd);
  if (!error) return stdout;
  if (error.killed || error.signal === 'SIGKILL') {
    throw new ToolFailure(`${program} took longer than ${formatSeconds(timeoutMs)} and was stopped`);
  }
  if (error.code === 'ENOENT') throw new ToolFailure(`${program} is not installed`);
  // The temporary directory's path means nothing to a person.
  const reason = (lastLine(stderr) || error.message).replaceAll(`${cwd}/`, '');
  throw new ToolFailure(`${program} failed: ${reason}`);
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------------
// The pipeline

/** One document at a time per process: the tail of the queue of calls. */
let queueTail: Promise<unknown> = Promise.resolve();

/** Turns a fax document into a PDF, page previews and text. Never throws; see the module comment. */
export function processFaxDocument(content: Buffer, options: ProcessFaxOptions = {}): Promise<ProcessedFax> {
  const turn = queueTail.then(() => processSafely(content, options));
  queueTail = turn.catch(() => undefined);
  return turn;
}

interface Job {
  dir: string;
  tools: FaxTools;
  timeoutMs: number;
  problems: string[];
}

async function processSafely(content: Buffer, options: ProcessFaxOptions): Promise<ProcessedFax> {
  const format = sniffFormat(content);
  const result: ProcessedFax = { format, pdf: null, pageCount: 0, pages: [], text: null, problems: [] };
  if (content.length === 0) {
    result.problems.push('the document is empty');
    return result;
  }
  if (format === 'unknown') {
    result.problems.push(`the document is neither a TIFF nor a PDF (it begins ${describeStart(content)})`);
    return result;
  }
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-fax-'));
    const job: Job = {
      dir,
      tools: options.tools ?? (await detectFaxTools()),
      timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
      problems: result.problems,
    };
    await processIn(job, content, format, options, result);
  } catch (error) {
    // Only a bug or the machine (no space for the temporary directory) lands here.
    result.problems.push(`the document could not be processed: ${reasonOf(error)}`);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
  return result;
}

async function processIn(
  job: Job,
  content: Buffer,
  format: 'tiff' | 'pdf',
  options: ProcessFaxOptions,
  result: ProcessedFax,
): Promise<void> {
  const pdfPath = join(job.dir, 'document.pdf');
  const maxPages = Math.max(1, Math.floor(options.maxPages ?? defaults.maxPages));
  if (format === 'tiff') {
    const pdf = await convertTiff(job, content, pdfPath);
    if (!pdf) return;
    result.pdf = pdf;
  } else {
    await writeFile(pdfPath, content);
  }

  let outline: PdfOutline;
  try {
    outline = await inspectPdf(job, pdfPath, maxPages);
  } catch (error) {
    const reason = reasonOf(error);
    job.problems.push(
      /password/i.test(reason)
        ? 'the PDF is protected by a password and could not be read'
        : `the PDF could not be read: ${reason}`,
    );
    return;
  }
  // A PDF keeps its original bytes; one that poppler cannot open is not offered as "the document as a PDF".
  if (format === 'pdf') result.pdf = content;
  result.pageCount = outline.pageCount;
  if (outline.pageCount === 0) {
    job.problems.push('the PDF has no pages');
    return;
  }
  if (outline.sizes.length < outline.pageCount) {
    job.problems.push(
      `the document has ${outline.pageCount} pages: only the first ${outline.sizes.length} were previewed and read`,
    );
  }

  result.pages = await renderPreviews(
    job,
    pdfPath,
    outline.sizes.length,
    options.previewWidth ?? defaults.previewWidth,
  );
  result.text = await readText(job, pdfPath, outline.sizes, {
    // A PDF made here from a TIFF has no text layer.
    hasTextLayer: format === 'pdf',
    ocr: options.ocr ?? true,
    languages: options.ocrLanguages ?? defaults.ocrLanguages,
  });
}

/** TIFF by its byte-order mark and magic number, PDF by its header (which readers accept up to 1 KiB in). */
function sniffFormat(content: Buffer): ProcessedFax['format'] {
  const head = content.subarray(0, 4).toString('latin1');
  if (head === 'II*\0' || head === 'MM\0*') return 'tiff';
  if (content.subarray(0, 1024).includes('%PDF-', 0, 'latin1')) return 'pdf';
  return 'unknown';
}

function describeStart(content: Buffer): string {
  const start = content.subarray(0, 8);
  const printable = /^[\x20-\x7e]+$/.test(start.toString('latin1'));
  return printable ? `"${start.toString('latin1')}"` : `with bytes ${start.toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------------------
// TIFF to PDF

/**
 * The TIFF as a PDF with one page per page of the TIFF, or null. tiff2pdf does the whole file first; when it
 * fails or loses pages, each page is copied out on its own (tiffcp, uncompressed) and converted on its own,
 * and the pages that convert are joined. tiffcp comes in the same package as tiff2pdf.
 */
async function convertTiff(job: Job, content: Buffer, pdfPath: string): Promise<Buffer | null> {
  const layout = readTiffLayout(content);
  if (layout.problem) job.problems.push(layout.problem);
  if (layout.pages.length === 0) {
    job.problems.push('the TIFF has no readable page');
    return null;
  }
  if (!job.tools.tiff2pdf) {
    job.problems.push('tiff2pdf is not installed: the TIFF was not converted to PDF');
    return null;
  }
  const tiffPath = join(job.dir, 'document.tif');
  await writeFile(tiffPath, content);

  // A page cut short is converted on its own: tiff2pdf may give up on the whole file for it.
  if (layout.pages.every((page) => !page.isCut)) {
    try {
      await run('tiff2pdf', ['-o', pdfPath, tiffPath], job.timeoutMs, job.dir);
      const { pageCount } = await inspectPdf(job, pdfPath, 1);
      if (pageCount === layout.pages.length) return await readFile(pdfPath);
      job.problems.push(
        `tiff2pdf kept ${pageCount} of the TIFF's ${layout.pages.length} pages: the pages were converted one by one`,
      );
    } catch (error) {
      job.problems.push(`${reasonOf(error)}: the pages were converted one by one`);
    }
  }
  return convertTiffPageByPage(job, tiffPath, layout.pages, pdfPath);
}

async function convertTiffPageByPage(
  job: Job,
  tiffPath: string,
  pages: TiffPage[],
  pdfPath: string,
): Promise<Buffer | null> {
  const joined = await PDFDocument.create();
  for (const [position, page] of pages.entries()) {
    const number = position + 1;
    const pagePath = join(job.dir, `page-${number}.tif`);
    const pagePdfPath = join(job.dir, `page-${number}.pdf`);
    try {
      await run('tiffcp', ['-c', 'none', `${tiffPath},${page.directory}`, pagePath], job.timeoutMs, job.dir);
      await run('tiff2pdf', ['-z', '-o', pagePdfPath, pagePath], job.timeoutMs, job.dir);
      const single = await PDFDocument.load(await readFile(pagePdfPath));
      const [copied] = await joined.copyPages(single, [0]);
      if (!copied) throw new ToolFailure('tiff2pdf made an empty PDF');
      joined.addPage(copied);
    } catch (error) {
      job.problems.push(`page ${number} of the TIFF could not be converted: ${reasonOf(error)}`);
    }
  }
  if (joined.getPageCount() === 0) {
    job.problems.push('no page of the TIFF could be converted to PDF');
    return null;
  }
  if (joined.getPageCount() < pages.length) {
    job.problems.push(`the PDF has ${joined.getPageCount()} of the TIFF's ${pages.length} pages`);
  }
  const pdf = Buffer.from(await joined.save({ useObjectStreams: false }));
  await writeFile(pdfPath, pdf);
  return pdf;
}

interface TiffPage {
  /** Index of the page's directory (IFD) in the file, as tiffcp's `file.tif,N` counts them. */
  directory: number;
  /** Its strips or tiles reach past the end of the file: a fax cut off during reception or download. */
  isCut: boolean;
}

/**
 * The pages of a TIFF from its directory chain, read here because libtiff's tools stop at the first damaged
 * directory without saying how many pages there should be. Reduced-resolution images (thumbnails) are not
 * pages. Classic TIFF only: BigTIFF has another magic number and is not sniffed as TIFF.
 */
function readTiffLayout(content: Buffer): { pages: TiffPage[]; problem: string | null } {
  const isLittleEndian = content[0] === 0x49;
  const u16 = (at: number) => (isLittleEndian ? content.readUInt16LE(at) : content.readUInt16BE(at));
  const u32 = (at: number) => (isLittleEndian ? content.readUInt32LE(at) : content.readUInt32BE(at));
  const pages: TiffPage[] = [];
  if (content.length < 8) return { pages, problem: 'the TIFF is cut off inside its header' };

  const seen = new Set<number>();
  let offset = u32(4);
  for (let directory = 0; offset !== 0; directory++) {
    if (seen.has(offset) || directory >= 10_000) {
      return { pages, problem: `the TIFF's page list loops after page ${pages.length}` };
    }
    seen.add(offset);
    if (offset + 2 > content.length || offset + 2 + u16(offset) * 12 + 4 > content.length) {
      return { pages, problem: cutProblem(pages.length) };
    }
    const entryCount = u16(offset);
    const values = (tag: number): number[] => {
      for (let i = 0; i < entryCount; i++) {
        const entry = offset + 2 + i * 12;
        if (u16(entry) !== tag) continue;
        const type = u16(entry + 2);
        const count = u32(entry + 4);
        const size = type === 3 ? 2 : type === 4 ? 4 : 0;
        if (size === 0 || count > 1_000_000) return [];
        const start = count * size <= 4 ? entry + 8 : u32(entry + 8);
        if (start + count * size > content.length) return [Number.POSITIVE_INFINITY];
        return Array.from({ length: count }, (_, k) =>
          size === 2 ? u16(start + k * 2) : u32(start + k * 4),
        );
      }
      return [];
    };
    const isReduced = ((values(254)[0] ?? 0) & 1) === 1;
    const offsets = [...values(273), ...values(324)];
    const counts = [...values(279), ...values(325)];
    const dataEnd = Math.max(0, ...offsets.map((start, i) => start + (counts[i] ?? 0)));
    if (!isReduced) pages.push({ directory, isCut: dataEnd > content.length });
    offset = u32(offset + 2 + entryCount * 12);
  }
  const cut = pages.findIndex((page) => page.isCut);
  return {
    pages,
    problem: cut >= 0 ? `page ${cut + 1} of the TIFF is cut off: its image is incomplete` : null,
  };
}

function cutProblem(pagesRead: number): string {
  return pagesRead === 0
    ? 'the TIFF is cut off before its first page'
    : `the TIFF is cut off after page ${pagesRead}: any later pages are missing`;
}

// ---------------------------------------------------------------------------------------------------------
// PDF: pages, previews, text

interface PageSize {
  /** In points. */
  width: number;
  height: number;
}

/** What poppler (or pdf-lib, without pdfinfo) reads of a PDF: its page count and its first pages' sizes. */
interface PdfOutline {
  pageCount: number;
  /** Sizes of the first `min(pageCount, firstPages)` pages. */
  sizes: PageSize[];
}

/** The PDF's outline, or a ToolFailure that says why it cannot be read. */
async function inspectPdf(job: Job, pdfPath: string, firstPages: number): Promise<PdfOutline> {
  if (!job.tools.pdfinfo) return inspectWithPdfLib(pdfPath, firstPages);
  // pdfinfo stops at the last page when -l is past it.
  const args = ['-f', '1', '-l', String(firstPages), pdfPath];
  const info = (await run('pdfinfo', args, job.timeoutMs, job.dir)).toString('latin1');
  const pages = /^Pages:\s+(\d+)/m.exec(info);
  if (!pages) throw new ToolFailure('pdfinfo did not say how many pages it has');
  const pageCount = Number(pages[1]);
  const sizes = new Map<number, PageSize>();
  for (const match of info.matchAll(/^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+)/gm)) {
    sizes.set(Number(match[1]), { width: Number(match[2]), height: Number(match[3]) });
  }
  const known = Math.min(pageCount, firstPages);
  return { pageCount, sizes: Array.from({ length: known }, (_, i) => sizes.get(i + 1) ?? letterSize) };
}

async function inspectWithPdfLib(pdfPath: string, firstPages: number): Promise<PdfOutline> {
  try {
    const document = await PDFDocument.load(await readFile(pdfPath), { ignoreEncryption: true });
    const pages = document.getPages().slice(0, firstPages);
    return { pageCount: document.getPageCount(), sizes: pages.map((page) => page.getSize()) };
  } catch (error) {
    throw new ToolFailure(`pdf-lib could not read it (${reasonOf(error)})`);
  }
}

const letterSize: PageSize = { width: 612, height: 792 };

async function renderPreviews(
  job: Job,
  pdfPath: string,
  pageCount: number,
  previewWidth: number,
): Promise<FaxPagePreview[]> {
  if (!job.tools.pdftoppm) {
    job.problems.push('pdftoppm is not installed: no page was previewed');
    return [];
  }
  const previews: FaxPagePreview[] = [];
  // One run per page, so that one page that cannot be rendered (or times out) costs only that page.
  for (let number = 1; number <= pageCount; number++) {
    const prefix = join(job.dir, `preview-${number}`);
    try {
      const page = String(number);
      // -scale-to-y -1 keeps the page's aspect ratio: a 204x98 dpi fax page is not squashed.
      const args = ['-png', '-f', page, '-l', page, '-singlefile', '-scale-to-x', String(previewWidth)];
      await run('pdftoppm', [...args, '-scale-to-y', '-1', pdfPath, prefix], job.timeoutMs, job.dir);
      const png = await readFile(`${prefix}.png`);
      const size = pngSize(png);
      if (!size) throw new ToolFailure('pdftoppm made no PNG');
      previews.push({ number, png, ...size });
    } catch (error) {
      job.problems.push(`page ${number} could not be previewed: ${reasonOf(error)}`);
    }
  }
  return previews;
}

/** Width and height from a PNG's IHDR chunk, which the format requires first. */
function pngSize(png: Buffer): { width: number; height: number } | null {
  const signature = '89504e470d0a1a0a';
  if (png.length < 24 || png.subarray(0, 8).toString('hex') !== signature) return null;
  if (png.subarray(12, 16).toString('latin1') !== 'IHDR') return null;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

interface TextPlan {
  hasTextLayer: boolean;
  ocr: boolean;
  languages: string;
}

/**
 * Each page's text: the text layer where the page has one (pdftotext), tesseract on a 300 dpi grey raster
 * where it does not. Null when no page could be read by either.
 */
async function readText(
  job: Job,
  pdfPath: string,
  pageSizes: PageSize[],
  plan: TextPlan,
): Promise<ProcessedFax['text']> {
  const pageCount = pageSizes.length;
  const texts: (string | null)[] = Array.from({ length: pageCount }, () => null);
  const engines: ('pdftotext' | 'tesseract' | null)[] = Array.from({ length: pageCount }, () => null);

  if (plan.hasTextLayer) {
    const layer = await readTextLayer(job, pdfPath, pageCount);
    layer?.forEach((text, i) => {
      texts[i] = text;
      engines[i] = 'pdftotext';
    });
  }
  const unread = texts.flatMap((text, i) =>
    countCharacters(text ?? '') < minTextLayerCharacters ? [i] : [],
  );

  if (unread.length > 0 && plan.ocr) {
    if (!job.tools.tesseract) {
      job.problems.push(`tesseract is not installed: ${describePages(unread, pageCount)}`);
    } else if (!job.tools.pdftoppm) {
      job.problems.push(
        `pdftoppm is not installed, so nothing could be OCR'd: ${describePages(unread, pageCount)}`,
      );
    } else {
      const languages = chooseLanguages(job, plan.languages);
      for (const i of unread) {
        if (languages === null) break;
        try {
          const text = await recognizePage(job, pdfPath, i + 1, pageSizes[i] ?? letterSize, languages);
          // Keep what the text layer had when tesseract finds less.
          if (countCharacters(text) >= countCharacters(texts[i] ?? '')) {
            texts[i] = text;
            engines[i] = 'tesseract';
          }
        } catch (error) {
          job.problems.push(`page ${i + 1} could not be read: ${reasonOf(error)}`);
        }
      }
    }
  }

  if (texts.every((text) => text === null)) return null;
  const used = new Set(engines.filter((engine, i) => engine !== null && (texts[i] ?? '').trim() !== ''));
  const engine = used.size > 1 ? 'mixed' : ([...used][0] ?? engines.find((e) => e !== null) ?? 'pdftotext');
  return { pages: texts.map((text) => (text ?? '').trim()), engine };
}

/** The text layer of the first `pageCount` pages (pdftotext ends each page with a form feed), or null. */
async function readTextLayer(job: Job, pdfPath: string, pageCount: number): Promise<string[] | null> {
  if (!job.tools.pdftotext) {
    job.problems.push("pdftotext is not installed: the PDF's text layer was not read");
    return null;
  }
  try {
    const args = ['-f', '1', '-l', String(pageCount), '-layout', '-enc', 'UTF-8', pdfPath, '-'];
    const output = (await run('pdftotext', args, job.timeoutMs, job.dir)).toString('utf8');
    const pages = output.split('\f');
    return Array.from({ length: pageCount }, (_, i) => pages[i] ?? '');
  } catch (error) {
    job.problems.push(`the PDF's text layer could not be read: ${reasonOf(error)}`);
    return null;
  }
}

async function recognizePage(
  job: Job,
  pdfPath: string,
  number: number,
  size: PageSize,
  languages: string,
): Promise<string> {
  const longestInches = Math.max(size.width, size.height) / 72;
  const dpi = Math.max(1, Math.min(ocrDpi, Math.floor(maxOcrPixels / longestInches)));
  const prefix = join(job.dir, `ocr-${number}`);
  const page = String(number);
  const rasterize = ['-r', String(dpi), '-gray', '-f', page, '-l', page, '-singlefile', pdfPath, prefix];
  await run('pdftoppm', rasterize, job.timeoutMs, job.dir);
  const recognize = [`${prefix}.pgm`, 'stdout', '--dpi', String(dpi), '-l', languages];
  const text = (await run('tesseract', recognize, job.timeoutMs, job.dir)).toString('utf8');
  await rm(`${prefix}.pgm`, { force: true });
  return text;
}

/**
 * The installed part of the requested languages ('eng+deu'), or 'eng' when none is installed, or null when
 * tesseract has no language at all; says in `problems` what was not used.
 */
function chooseLanguages(job: Job, requested: string): string | null {
  const installed = new Set(job.tools.tesseractLanguages);
  const wanted = requested.split('+').filter(Boolean);
  const usable = wanted.filter((language) => installed.has(language));
  const missing = wanted.filter((language) => !installed.has(language));
  if (usable.length > 0) {
    if (missing.length > 0) job.problems.push(`tesseract has no data for ${quoteAll(missing)}: not used`);
    return usable.join('+');
  }
  if (installed.has('eng')) {
    job.problems.push(`tesseract has no data for ${quoteAll(missing)}: the text was read as English`);
    return 'eng';
  }
  job.problems.push(`tesseract has no data for ${quoteAll(missing)} nor English: no text was read`);
  return null;
}

function quoteAll(names: string[]): string {
  return names.map((name) => `'${name}'`).join(', ') || 'the requested language';
}

function describePages(indexes: number[], pageCount: number): string {
  if (indexes.length === pageCount) return 'no text was read';
  const numbers = indexes.map((i) => i + 1);
  return numbers.length === 1
    ? `page ${numbers[0]} has no text layer and was not read`
    : `pages ${numbers.join(', ')} have no text layer and were not read`;
}

function countCharacters(text: string): number {
  return (text.match(/[\p{L}\p{N}]/gu) ?? []).length;
}

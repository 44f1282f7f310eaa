/*
 * An agent's text reply as a fax-ready PDF: US Letter, a header block on the first page (From, To, Date, Re,
 * page X of N), a running header on the others, the text wrapped to the margins and paginated. Sizes are
 * chosen to survive a fax machine: 12 pt text (nothing under 11 pt), black on white, one-inch margins clear of
 * the sending machine's own header line and a printer's unprintable edge.
 *
 * Fonts: DejaVu Sans from Debian's fonts-dejavu-core when it is installed, which covers Latin, Greek and
 * Cyrillic; otherwise Helvetica, which pdf-lib can only write in WinAnsi (Latin-1 and a few more). In both,
 * a character the font lacks is written as '?' rather than dropped or drawn as an empty box, so that a person
 * sees something is missing.
 */
import { readFile } from 'node:fs/promises';
import fontkit from '@pdf-lib/fontkit';
import { PDFDocument, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';

export interface FaxReply {
  text: string;
  /** Who sends: the contact center's name and fax number. */
  from: string;
  /** Who receives: the contact's name and fax number. */
  to: string;
  date: Date;
  /** What the reply is about, e.g. 'Ticket #123'. */
  reference: string;
}

export interface RenderReplyOptions {
  /** IANA time zone the date is written in; default 'UTC'. */
  timeZone?: string;
  /** TrueType files for the text; default DejaVu Sans from fonts-dejavu-core. null: Helvetica. */
  fontFiles?: FontFiles | null;
}

export interface FontFiles {
  regular: string;
  bold: string;
}

const page = { width: 612, height: 792 };
const margin = 72;
const bodySize = 12;
const lineHeight = 16;
const headerSize = 12;
const titleSize = 20;
const titleGap = 12;
/** Space above and below the rule under the header. */
const ruleGap = 8;
const replacement = '?';

const dejaVu: FontFiles = {
  regular: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  bold: '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
};

interface Fonts {
  regular: PDFFont;
  bold: PDFFont;
  /** Code points both fonts can draw. */
  characters: Set<number>;
}

/** Renders the reply; the same reply gives the same pages and text (the font subset's name is random). */
export async function renderReplyPdf(reply: FaxReply, options: RenderReplyOptions = {}): Promise<Buffer> {
  const document = await PDFDocument.create();
  const fonts = await embedFonts(document, options.fontFiles === undefined ? dejaVu : options.fontFiles);
  const clean = (text: string) => cleanText(text, fonts.characters);
  const cleanLine = (text: string) => clean(text).replace(/\n+/g, ' ');

  const header: [string, string][] = [
    ['From', cleanLine(reply.from)],
    ['To', cleanLine(reply.to)],
    ['Date', formatDate(reply.date, options.timeZone ?? 'UTC')],
    ['Re', cleanLine(reply.reference)],
  ];
  const textWidth = page.width - 2 * margin;
  const labelWidth =
    Math.max(...header.map(([label]) => fonts.bold.widthOfTextAtSize(`${label}:`, headerSize))) + 12;
  const headerLines = header.map(([label, value]) => ({
    label,
    lines: wrap(value, fonts.regular, headerSize, textWidth - labelWidth),
  }));

  // Where the body starts (the drawing below goes down by the same steps): under the title, the header
  // block, the page line and the rule on the first page; under the running header and the rule on the others.
  const headerLineCount = headerLines.flatMap((h) => h.lines).length;
  const firstPageTop =
    page.height - margin - titleSize - titleGap - (headerLineCount + 1) * lineHeight - 2 * ruleGap;
  const otherPageTop = page.height - margin - lineHeight - 2 * ruleGap;
  const bottom = margin;
  const linesOn = (top: number) => Math.max(1, Math.floor((top - bottom) / lineHeight));

  const body = wrapParagraphs(clean(reply.text).trimEnd(), fonts.regular, bodySize, textWidth);
  const chunks: string[][] = [];
  let rest = body;
  do {
    const capacity = linesOn(chunks.length === 0 ? firstPageTop : otherPageTop);
    chunks.push(rest.slice(0, capacity));
    rest = rest.slice(capacity);
    // A page does not start with the blank line between two paragraphs.
    while (rest[0] === '') rest = rest.slice(1);
  } while (rest.length > 0);

  for (const [index, lines] of chunks.entries()) {
    const current = document.addPage([page.width, page.height]);
    const pageLine = `Page ${index + 1} of ${chunks.length}`;
    let y = page.height - margin;
    if (index === 0) {
      y -= titleSize;
      current.drawText('Fax', { x: margin, y, size: titleSize, font: fonts.bold });
      y -= titleGap;
      for (const { label, lines: valueLines } of headerLines) {
        for (const [i, line] of valueLines.entries()) {
          y -= lineHeight;
          if (i === 0) current.drawText(`${label}:`, { x: margin, y, size: headerSize, font: fonts.bold });
          current.drawText(line, { x: margin + labelWidth, y, size: headerSize, font: fonts.regular });
        }
      }
      y -= lineHeight;
      current.drawText(pageLine, { x: margin, y, size: headerSize, font: fonts.regular });
    } else {
      y -= lineHeight;
      const running = truncate(
        `${cleanLine(reply.reference)} · ${cleanLine(reply.from)}`,
        fonts,
        textWidth - 120,
      );
      current.drawText(running, { x: margin, y, size: headerSize, font: fonts.regular });
      const pageLineWidth = fonts.regular.widthOfTextAtSize(pageLine, headerSize);
      current.drawText(pageLine, {
        x: page.width - margin - pageLineWidth,
        y,
        size: headerSize,
        font: fonts.regular,
      });
    }
    y -= ruleGap;
    drawRule(current, y);
    y -= ruleGap;
    for (const line of lines) {
      y -= lineHeight;
      if (line) current.drawText(line, { x: margin, y, size: bodySize, font: fonts.regular });
    }
  }

  // Fixed metadata keep the output stable; no object streams (PDF 1.5), which older fax gateways cannot read.
  document.setTitle(`Fax: ${cleanLine(reply.reference)}`);
  document.setCreator('Switchboard');
  document.setProducer('Switchboard');
  document.setCreationDate(reply.date);
  document.setModificationDate(reply.date);
  return Buffer.from(await document.save({ useObjectStreams: false }));
}

async function embedFonts(document: PDFDocument, files: FontFiles | null): Promise<Fonts> {
  const bytes = files ? await loadFontFiles(files) : null;
  let regular: PDFFont;
  let bold: PDFFont;
  if (bytes) {
    document.registerFontkit(fontkit);
    regular = await document.embedFont(bytes.regular, { subset: true });
    bold = await document.embedFont(bytes.bold, { subset: true });
  } else {
    regular = await document.embedFont(StandardFonts.Helvetica);
    bold = await document.embedFont(StandardFonts.HelveticaBold);
  }
  const boldSet = new Set(bold.getCharacterSet());
  const characters = new Set(regular.getCharacterSet().filter((code) => boldSet.has(code)));
  return { regular, bold, characters };
}

const loadedFonts = new Map<string, Promise<{ regular: Buffer; bold: Buffer } | null>>();

/** Both font files, read once per process; null when either cannot be read (Helvetica is used). */
function loadFontFiles(files: FontFiles): Promise<{ regular: Buffer; bold: Buffer } | null> {
  const key = `${files.regular}\n${files.bold}`;
  let loaded = loadedFonts.get(key);
  if (!loaded) {
    loaded = Promise.all([readFile(files.regular), readFile(files.bold)]).then(
      ([regular, bold]) => ({ regular, bold }),
      () => null,
    );
    loadedFonts.set(key, loaded);
  }
  return loaded;
}

/**
 * The text as the fonts can draw it: NFC (so 'ë' is one character the font has), line breaks as '\n', tabs
 * as spaces, other control characters dropped, and characters the fonts lack as '?'.
 */
function cleanText(text: string, characters: Set<number>): string {
  let clean = '';
  for (const char of text.normalize('NFC').replace(/\r\n?/g, '\n').replace(/\t/g, '    ')) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\n') clean += char;
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) continue;
    else clean += characters.has(code) ? char : replacement;
  }
  return clean;
}

/** Each paragraph wrapped to the width; an empty line between paragraphs stays. */
function wrapParagraphs(text: string, font: PDFFont, size: number, width: number): string[] {
  return text.split('\n').flatMap((paragraph) => wrap(paragraph, font, size, width));
}

/** One paragraph as lines no wider than `width`: breaks at spaces, and inside a word longer than a line. */
function wrap(paragraph: string, font: PDFFont, size: number, width: number): string[] {
  const fits = (text: string) => font.widthOfTextAtSize(text, size) <= width;
  const lines: string[] = [];
  let line = '';
  for (const word of paragraph.trimEnd().split(/ +/)) {
    const candidate = line ? `${line} ${word}` : word;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    line = '';
    for (const char of word) {
      if (line && !fits(line + char)) {
        lines.push(line);
        line = '';
      }
      line += char;
    }
  }
  lines.push(line);
  return lines;
}

function truncate(text: string, fonts: Fonts, width: number): string {
  if (fonts.regular.widthOfTextAtSize(text, headerSize) <= width) return text;
  let cut = text;
  while (cut && fonts.regular.widthOfTextAtSize(`${cut}…`, headerSize) > width) cut = cut.slice(0, -1);
  return fonts.characters.has(0x2026) ? `${cut}…` : `${cut}...`;
}

function drawRule(target: PDFPage, y: number): void {
  target.drawLine({
    start: { x: margin, y },
    end: { x: page.width - margin, y },
    thickness: 1,
    color: rgb(0, 0, 0),
  });
}

function formatDate(date: Date, timeZone: string): string {
  const formatted = new Intl.DateTimeFormat('en-US', {
    dateStyle: 'long',
    timeStyle: 'short',
    timeZone,
  }).format(date);
  // ICU puts narrow no-break spaces before AM/PM, which WinAnsi (Helvetica) cannot write.
  return `${formatted.replace(/[\u00a0\u202f]/g, ' ')} (${timeZone})`;
}

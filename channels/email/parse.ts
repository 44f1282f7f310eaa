/*
 * Raw RFC 5322 bytes (as IMAP returns them) in, one ParsedEmail out. No I/O; never throws: a message
 * mailparser cannot read (or takes too long on) comes back with `problems: ['unparseable: <reason>']` and
 * what a plain read of its header section gives, so it can be stored raw and shown to a person.
 *
 * mailparser does the MIME work and the decoding (iconv-lite, and encoding-japanese for ISO-2022-JP). Two
 * things are done around it:
 *
 * - Mail labelled GB2312 or GBK often holds GB18030 characters (a superset), which would decode to U+FFFD:
 *   before parsing, every GB-family label in a Content-Type charset, an RFC 2231 parameter or an RFC 2047
 *   encoded word is relabelled GB18030. The labels are rewritten wherever they stand (an HTML meta tag, text
 *   about charsets) because finding only the MIME ones would take a second MIME parser; the caller's buffer
 *   and the stored raw message are untouched.
 * - What mailparser passes over quietly is checked on a light outline of the MIME structure: a declared
 *   charset nothing can decode (decoded as UTF-8 by mailparser), a multipart that is never closed, header
 *   lines that are not header fields.
 *
 * Header fields for loop safety, threading and the envelope (Message-ID, References, Return-Path,
 * Delivered-To, Date...) are read from the raw header section, the same way on both paths.
 */
import iconv from 'iconv-lite';
import {
  simpleParser,
  type AddressObject,
  type Attachment,
  type ParsedMail,
  type SimpleParserOptions,
} from 'mailparser';
import {
  automaticReason,
  headerValue,
  messageIds,
  parseBounce,
  readHeaderSection,
  type EmailHeaders,
  type HeaderSection,
} from './auto-reply.js';
import { sanitizeEmailHtml } from './sanitize.js';
import type { EmailAddress, OmittedAttachment, ParsedAttachment, ParsedEmail, ParseLimits } from './types.js';

export interface ParseOptions {
  /** How long mailparser may take before the message is given up as unparseable (ms). */
  timeoutMs?: number;
}

const defaultTimeoutMs = 20_000;
/** Longest header section read by the plain header reader (bytes). */
const maxHeaderSectionBytes = 1024 * 1024;
/** HTML longer than this is not turned into text (mailparser's maxHtmlLengthToParse, characters). */
const maxHtmlToTextLength = 5 * 1024 * 1024;
/** Limits on the MIME outline walk, so that a crafted message cannot make it expensive. */
const maxOutlineDepth = 50;
const maxOutlineParts = 2000;

// ignoreEmbedded is read by mailsplit, which mailparser hands its options to: every message/rfc822 part
// then stays an attachment (a forwarded message, the original returned in a bounce) instead of being
// flattened into the text. textToHtml is kept on so that a text part beside an HTML part (multipart/mixed)
// shows in the HTML too; links in text are not looked for (skipTextLinks), the HTML is ours to sanitize.
export const parserOptions: SimpleParserOptions & { ignoreEmbedded: boolean } = {
  keepCidLinks: true,
  skipTextLinks: true,
  keepDeliveryStatus: true,
  maxHtmlLengthToParse: maxHtmlToTextLength,
  // Available everywhere, unlike the default MD5 on a FIPS host.
  checksumAlgo: 'sha256',
  ignoreEmbedded: true,
};

/** Parses one message; see the contract at the top of this file. */
export async function parseEmail(
  raw: Buffer,
  limits: ParseLimits,
  options: ParseOptions = {},
): Promise<ParsedEmail> {
  let section: HeaderSection = { headers: new Map(), malformedLines: 0 };
  try {
    section = readHeaderSection(headerSectionText(raw));
    if (section.headers.size === 0) return unparseable(section.headers, 'no header fields');
    const mail = await withTimeout(
      simpleParser(decodableAsGb18030(raw), parserOptions),
      options.timeoutMs ?? defaultTimeoutMs,
    );
    return fromParsedMail(mail, section, raw, limits);
  } catch (error) {
    return unparseable(section.headers, reasonOf(error));
  }
}

function fromParsedMail(
  mail: ParsedMail,
  section: HeaderSection,
  raw: Buffer,
  limits: ParseLimits,
): ParsedEmail {
  const { headers } = section;
  const from = addressList(mail.from)[0] ?? null;
  const returnPath = returnPathOf(headers);
  const text = (mail.text ?? '').replace(/\s+$/, '');
  const subject = mail.subject ?? '';
  const rawHtml = typeof mail.html === 'string' ? mail.html : null;
  const { attachments, omittedAttachments } = keptAttachments(mail.attachments, rawHtml, limits);

  const outline = mimeOutline(raw.toString('latin1'));
  const problems = [
    ...(section.malformedLines > 0
      ? [`malformed header section: ${section.malformedLines} line(s) are not header fields`]
      : []),
    ...outline.unclosedBoundaries.map(
      (boundary) => `malformed: multipart boundary "${boundary}" is never closed (truncated message?)`,
    ),
    ...(from ? [] : ['no sender address']),
    ...unique(
      outline.charsets.filter((name) => !isDecodableCharset(name)).map((name) => name.toLowerCase()),
    ).map((name) => `unknown charset ${name}`),
  ];

  return {
    ...threadingFields(headers),
    subject,
    from,
    replyTo: addressList(mail.replyTo),
    to: addressList(mail.to),
    cc: addressList(mail.cc),
    deliveredTo: deliveredToOf(headers),
    returnPath,
    date: dateOf(headers),
    text,
    html: rawHtml === null ? null : sanitizeEmailHtml(rawHtml),
    attachments,
    omittedAttachments,
    automatic: automaticReason(headers, from, returnPath),
    bounce: parseBounce({
      headers,
      from,
      subject,
      text,
      parts: mail.attachments.map((part) => ({
        contentType: part.contentType.toLowerCase(),
        content: part.content,
      })),
    }),
    problems,
  };
}

/** What the plain header reader gives, for a message mailparser could not read. */
function unparseable(headers: EmailHeaders, reason: string): ParsedEmail {
  let from: EmailAddress | null = null;
  let result: ParsedEmail = {
    messageId: null,
    inReplyTo: [],
    references: [],
    subject: '',
    from,
    replyTo: [],
    to: [],
    cc: [],
    deliveredTo: [],
    returnPath: null,
    date: null,
    text: '',
    html: null,
    attachments: [],
    omittedAttachments: [],
    automatic: null,
    bounce: null,
    problems: [`unparseable: ${reason}`],
  };
  try {
    from = plainAddress(headerValue(headers, 'from') ?? '');
    const returnPath = returnPathOf(headers);
    result = {
      ...result,
      ...threadingFields(headers),
      subject: decodeWords(headerValue(headers, 'subject') ?? ''),
      from,
      deliveredTo: deliveredToOf(headers),
      returnPath,
      date: dateOf(headers),
      automatic: automaticReason(headers, from, returnPath),
    };
  } catch {
    // The plain read is best effort too: what was read before it failed is kept.
  }
  return result;
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim().slice(0, 200) || 'unknown error';
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`parsing took longer than ${ms} ms`)), ms);
  });
  // mailparser cannot be stopped from outside: on a timeout its result is ignored when it comes.
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

// ---- header fields --------------------------------------------------------------------------------------

/** The header section's text: UTF-8 when it is valid UTF-8 (RFC 6532), else one character per byte. */
function headerSectionText(raw: Buffer): string {
  const head = raw.subarray(0, maxHeaderSectionBytes);
  const ends = [head.indexOf('\r\n\r\n'), head.indexOf('\n\n')].filter((index) => index >= 0);
  const section = ends.length > 0 ? head.subarray(0, Math.min(...ends)) : head;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(section);
  } catch {
    return section.toString('latin1');
  }
}

function threadingFields(headers: EmailHeaders): Pick<ParsedEmail, 'messageId' | 'inReplyTo' | 'references'> {
  const all = (name: string) => messageIds((headers.get(name) ?? []).join(' '));
  return {
    messageId: messageIds(headerValue(headers, 'message-id') ?? '')[0] ?? null,
    inReplyTo: all('in-reply-to'),
    references: all('references'),
  };
}

function deliveredToOf(headers: EmailHeaders): string[] {
  const values = [...(headers.get('delivered-to') ?? []), ...(headers.get('x-original-to') ?? [])];
  return unique(
    values.map((value) => value.trim().replace(/^<|>$/g, '').trim().toLowerCase()).filter(Boolean),
  );
}

/** Return-Path without its angle brackets; '' for the null path `<>`, null when there is none. */
function returnPathOf(headers: EmailHeaders): string | null {
  const value = headerValue(headers, 'return-path');
  if (value === null) return null;
  const bracketed = /<([^>]*)>/.exec(value);
  return (bracketed ? (bracketed[1] ?? '') : value).trim();
}

function dateOf(headers: EmailHeaders): Date | null {
  const value = headerValue(headers, 'date');
  if (value === null) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

type MailparserAddress = {
  address?: string | undefined;
  name: string;
  group?: MailparserAddress[] | undefined;
};

/** Addresses in the order written, group members in place of their group, without those with no address. */
function addressList(value: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  const objects = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const flatten = (entries: MailparserAddress[]): MailparserAddress[] =>
    entries.flatMap((entry) => (entry.group ? flatten(entry.group) : [entry]));
  return flatten(objects.flatMap((object) => object.value))
    .map((entry) => ({ address: (entry.address ?? '').trim(), name: entry.name.trim() }))
    .filter((entry) => entry.address.includes('@'))
    .map((entry) => (entry.name ? entry : { address: entry.address }));
}

/** `Name <address>` or a bare address, read without an address parser (the unparseable path). */
function plainAddress(value: string): EmailAddress | null {
  const bracketed = /^(.*)<([^<>]+@[^<>]+)>/.exec(value);
  if (bracketed) {
    const name = decodeWords((bracketed[1] ?? '').trim().replace(/^"(.*)"$/, '$1'));
    const address = (bracketed[2] ?? '').trim();
    return name ? { address, name } : { address };
  }
  const bare = /[^\s<>"(),;:]+@[^\s<>"(),;:]+/.exec(value);
  return bare ? { address: bare[0] } : null;
}

/** RFC 2047 encoded words, decoded with iconv-lite alone; one it cannot decode is left as written. */
function decodeWords(value: string): string {
  const word = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bq])\?([^?\s]*)\?=/gi;
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(word, (written, charset: string, encoding: string, data: string) => {
      const label = forDecoding(charset);
      if (!iconv.encodingExists(label)) return written;
      const bytes =
        encoding.toLowerCase() === 'b'
          ? Buffer.from(data, 'base64')
          : Buffer.from(
              data
                .replace(/_/g, ' ')
                .replace(/=([0-9a-f]{2})/gi, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              'latin1',
            );
      return iconv.decode(bytes, label);
    });
}

// ---- attachments ----------------------------------------------------------------------------------------

const extensions: Record<string, string> = {
  'message/rfc822': 'eml',
  'message/delivery-status': 'txt',
  'text/rfc822-headers': 'txt',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/calendar': 'ics',
  'text/csv': 'csv',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'application/pdf': 'pdf',
  'application/zip': 'zip',
};

/**
 * Every attachment part as a ParsedAttachment, in message order, until a limit leaves one out. The file
 * name is the decoded one as written (storing makes it safe, see attachments.service.ts safeFileName), or
 * `attachment-<n>.<extension of its type>`. An attachment is inline when its disposition is not
 * `attachment` and the HTML names its Content-ID as `cid:`.
 */
function keptAttachments(
  parts: readonly Attachment[],
  html: string | null,
  limits: ParseLimits,
): { attachments: ParsedAttachment[]; omittedAttachments: OmittedAttachment[] } {
  const referenced = new Set(
    [...(html ?? '').matchAll(/\bcid:([^'"\s>)]+)/gi)].map((match) => (match[1] ?? '').toLowerCase()),
  );
  const attachments: ParsedAttachment[] = [];
  const omittedAttachments: OmittedAttachment[] = [];
  let keptBytes = 0;
  for (const [index, part] of parts.entries()) {
    const contentType = part.contentType.toLowerCase();
    const fileName = part.filename?.trim() || `attachment-${index + 1}.${extensions[contentType] ?? 'bin'}`;
    const sizeBytes = part.content.length;
    if (sizeBytes > limits.maxAttachmentBytes) {
      omittedAttachments.push({
        fileName,
        contentType,
        sizeBytes,
        reason: `larger than the ${limits.maxAttachmentBytes}-byte limit for one attachment`,
      });
      continue;
    }
    if (keptBytes + sizeBytes > limits.maxTotalAttachmentBytes) {
      omittedAttachments.push({
        fileName,
        contentType,
        sizeBytes,
        reason: `over the ${limits.maxTotalAttachmentBytes}-byte limit for all attachments together`,
      });
      continue;
    }
    keptBytes += sizeBytes;
    const contentId = part.cid?.trim() || undefined;
    attachments.push({
      fileName,
      contentType,
      sizeBytes,
      content: part.content,
      ...(contentId && { contentId }),
      isInline:
        contentId !== undefined &&
        part.contentDisposition !== 'attachment' &&
        referenced.has(contentId.toLowerCase()),
    });
  }
  return { attachments, omittedAttachments };
}

// ---- charsets -------------------------------------------------------------------------------------------

// GB2312, GBK and their aliases, as libmime and iconv-lite name them.
const gbLabels =
  'gb2312|gb_2312(?:-80)?|gb231280|csgb2312|csiso58gb231280|iso-ir-58|euc-cn|x-euc-cn|x-gbk|gbk|cp936|ms936|windows-936|chinese';
const gbLabelInHeader = new RegExp(
  `(charset\\s*=\\s*"?|=\\?|\\*=\\s*"?)(?:${gbLabels})(?=["'?;*\\s]|$)`,
  'gim',
);
const gbLabel = new RegExp(`^(?:${gbLabels})$`, 'i');

/** The message with its GB2312 and GBK labels read as GB18030 (see the top of this file). */
function decodableAsGb18030(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  gbLabelInHeader.lastIndex = 0;
  if (!gbLabelInHeader.test(text)) return raw;
  return Buffer.from(text.replace(gbLabelInHeader, '$1gb18030'), 'latin1');
}

function forDecoding(charset: string): string {
  return gbLabel.test(charset.trim()) ? 'gb18030' : charset.trim();
}

// Names libmime resolves that iconv-lite does not know by themselves.
const libmimeAliases: Record<string, string> = {
  koi: 'koi8-r',
  koi8: 'koi8-r',
  visual: 'iso-8859-8',
  'iso-8859-6-e': 'iso-8859-6',
  'iso-8859-6-i': 'iso-8859-6',
  csiso88596e: 'iso-8859-6',
  csiso88596i: 'iso-8859-6',
  csiso88598e: 'iso-8859-8',
  csisolatin9: 'iso-8859-15',
  sun_eu_greek: 'iso-8859-7',
  'dos-874': 'windows-874',
  'x-mac-ce': 'maccenteuro',
  cseucpkdfmtjapanese: 'euc-jp',
};

/**
 * Whether mailparser can decode text in this charset: what libmime decodes (iconv-lite, or
 * encoding-japanese for the JIS family), less what it refuses and reads as UTF-8 (UTF-7, which can smuggle
 * markup, and the transfer encodings base64 and hex).
 */
function isDecodableCharset(name: string): boolean {
  const label = name.trim().toLowerCase();
  const compact = label.replace(/[^a-z0-9]/g, '');
  if (/^(?:(?:cs)?unicode11)?utf7(?:imap)?$|^base64$|^hex$/.test(compact)) return false;
  if (/^(?:us-?ascii|ascii|utf-?8|7bit|8bit)$/.test(label)) return true;
  if (/^jis|^iso-?2022-?jp|^eucjp|^euc-jp/.test(label)) return true;
  const candidates = [label, label.replace(/^x-/, ''), libmimeAliases[label]];
  return candidates.some(
    (candidate) => candidate !== undefined && candidate !== '' && iconv.encodingExists(candidate),
  );
}

// ---- MIME outline ---------------------------------------------------------------------------------------

interface Outline {
  /** Charsets declared by text parts and by encoded words in the header sections walked. */
  charsets: string[];
  /** Multipart boundaries with no closing delimiter. */
  unclosedBoundaries: string[];
}

/**
 * A light walk of the MIME tree over the raw message (one character per byte): each part's header section,
 * multiparts split on their boundaries, message/rfc822 parts not entered (they stay attachments). Only what
 * mailparser does not report is collected.
 */
function mimeOutline(text: string): Outline {
  const outline: Outline = { charsets: [], unclosedBoundaries: [] };
  let parts = 0;
  const walk = (start: number, end: number, depth: number): void => {
    if (depth > maxOutlineDepth || ++parts > maxOutlineParts) return;
    const body = bodyStart(text, start, end);
    const section = text.slice(start, body);
    const headers = readHeaderSection(section).headers;
    for (const match of section.matchAll(/=\?([^?\s*]+)(?:\*[^?\s]*)?\?[bq]\?[^?\s]*\?=/gi)) {
      if (match[1]) outline.charsets.push(match[1]);
    }
    const contentType = headerValue(headers, 'content-type') ?? '';
    const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
    const charset = parameter(contentType, 'charset');
    if (charset && (type === '' || type.startsWith('text/'))) outline.charsets.push(charset);
    const boundary = parameter(contentType, 'boundary');
    if (!type.startsWith('multipart/') || !boundary) return;

    const delimiters = delimiterLines(text, `--${boundary}`, body, end);
    const closing = delimiters.find((delimiter) => delimiter.isClosing);
    if (!closing) outline.unclosedBoundaries.push(boundary);
    const open = delimiters.filter((delimiter) => !delimiter.isClosing);
    for (const [index, delimiter] of open.entries()) {
      const next = open[index + 1]?.start ?? closing?.start ?? end;
      walk(delimiter.end, Math.min(next, closing?.start ?? end), depth + 1);
    }
  };
  walk(0, text.length, 0);
  return outline;
}

/** Where the body starts: after the first empty line, or at `end` when there is none. */
function bodyStart(text: string, start: number, end: number): number {
  if (text.startsWith('\r\n', start)) return start + 2;
  if (text.startsWith('\n', start)) return start + 1;
  const found = /\r?\n\r?\n/g;
  found.lastIndex = start;
  const match = found.exec(text);
  return match && match.index < end ? match.index + match[0].length : end;
}

interface Delimiter {
  /** The start of the line break before the delimiter (it belongs to the delimiter). */
  start: number;
  /** Just after the delimiter line. */
  end: number;
  isClosing: boolean;
}

/** The delimiter lines of one multipart in [from, to), up to and including its closing delimiter. */
function delimiterLines(text: string, dashBoundary: string, from: number, to: number): Delimiter[] {
  const delimiters: Delimiter[] = [];
  let at = from;
  while (at < to) {
    const index =
      at === from && text.startsWith(dashBoundary, at) ? at : text.indexOf(`\n${dashBoundary}`, at);
    if (index < 0 || index >= to) break;
    const lineStart = text[index] === '\n' ? index + 1 : index;
    const after = lineStart + dashBoundary.length;
    const isClosing = text.startsWith('--', after);
    const rest = text.slice(
      isClosing ? after + 2 : after,
      text.indexOf('\n', after) < 0 ? to : text.indexOf('\n', after),
    );
    at = after;
    // A longer boundary that starts with this one is not this one's delimiter.
    if (rest.trim() !== '') continue;
    const lineEnd = text.indexOf('\n', after);
    const start = index > 0 && text[index - 1] === '\r' && text[index] === '\n' ? index - 1 : index;
    delimiters.push({ start, end: lineEnd < 0 ? to : lineEnd + 1, isClosing });
    if (isClosing) break;
  }
  return delimiters;
}

function parameter(value: string, name: string): string | null {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^\\s;()"]+))`, 'i').exec(value);
  const found = match?.[1] ?? match?.[2];
  return found === undefined || found === '' ? null : found;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

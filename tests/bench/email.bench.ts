import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import iconv from 'iconv-lite';
import { sql } from 'kysely';
import { simpleParser } from 'mailparser';
import { defaultPollerOptions } from '../../channels/email/imap-poller.js';
// The options the poller parses with, so that the baseline parses exactly as much.
import { parserOptions } from '../../channels/email/parse.js';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { dovecotPassword, startDovecot, type Dovecot } from '../support/dovecot.js';
import { imapClient, mailboxFixture } from '../support/email-fixtures.js';
import { startSmtpCapture } from '../support/smtp-capture.js';
import { benchServices, fmt, printTable, say, type SummaryLine } from './bench-kit.js';

/*
 * npm run bench:email — messages per second that Switchboard reads from a real Dovecot IMAP server into
 * its log, beside a bare imapflow fetch plus mailparser parse of the same messages in the same run, and the
 * ratio. Target: Switchboard >= 0.5 x bare.
 *
 * Corpus (BENCH_EMAIL_MESSAGES, default 1500), appended to one fresh Dovecot user's INBOX before anything
 * is measured: a support inbox's mix from 300 senders; 2-20 KB plain text and multipart/alternative (text
 * and HTML, quoted-printable), a tenth with a 50-200 KB PDF-like attachment (base64), some in ISO-8859-1,
 * GB2312 and ISO-2022-JP (a sender keeps to one charset), and replies: a sender's next message answers their
 * previous one 60% of the time (In-Reply-To and References, quoting it), about half the corpus at 1500. Every
 * Message-ID is unique. BENCH_SECONDS (default 10) scales the default size loosely.
 *
 * Bare: one imapflow connection reads the folder by UID in the poller's batches of 50 (fetchAll with
 * source and internal date) and parses each batch's messages with mailparser's simpleParser, with the
 * options channels/email/parse.ts gives it: the reading and parsing the poller does, and nothing else.
 * Timed from connect to the last parse. It runs twice, before and after Switchboard (after a warm-up on a
 * slice), and the baseline is the mean of the two rates.
 *
 * Switchboard: the app (buildApp, job worker in process, routing on ingest with the repository's
 * routing-rules/ folder, as production runs) on a fresh schema, with a mailboxes file for the same user.
 * Timed from the moment buildApp returns (its poller is connecting) until the mailbox cursor stands at the
 * highest UID (read every 25 ms); then the logged messages are counted: they must be exactly the corpus.
 * Switchboard also flags each batch (\Seen, $Switchboard) after logging it, which the bare read does not.
 * Acknowledgments are off for the main figure; a second run (BENCH_EMAIL_ACK=0 skips it) turns them on
 * against a capturing SMTP server (the mailbox's default limit of 3 per sender per hour), sent by the job
 * worker in the same process. Postgres runs durable, as in the other benches (BENCH_DURABLE=0 turns it off).
 *
 * CPU per message is this Node process's (user + system) over the phase: for Switchboard that includes the
 * routing and job work it triggered during the phase, not Postgres's or Dovecot's.
 */

export const emailTarget = 0.5;
const batchSize = defaultPollerOptions.batchSize;
const senderCount = 300;

export interface PhaseResult {
  name: string;
  messages: number;
  seconds: number;
  perSecond: number;
  cpuMsPerMessage: number;
}

export interface SwitchboardPhase extends PhaseResult {
  logged: number;
  interactions: number;
  /** Milliseconds after the last message was logged until every new interaction had left status 'new'. */
  routingSettledMs: number;
  /** Warnings and errors the app logged during the phase, by message. */
  problems: Map<string, number>;
  acknowledgments?: number;
}

export interface EmailBenchResult {
  messages: number;
  replies: number;
  bytes: number;
  kinds: Record<string, number>;
  bare: PhaseResult[];
  bareMean: PhaseResult;
  switchboard: SwitchboardPhase;
  switchboardAck: SwitchboardPhase | undefined;
  ratio: number;
}

// ---- corpus ---------------------------------------------------------------------------------------------

/** mulberry32: the same corpus on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  return { next, int, pick };
}
type Random = ReturnType<typeof prng>;

const words = (
  'order delivery parcel tracking number invoice refund payment card account password login subscription ' +
  'renewal cancel upgrade plan warranty repair replacement shipping address customer service support ticket ' +
  'please could you help me with my the a an and but because since yesterday today last week again still ' +
  'not working broken missing damaged charged twice wrong size colour item box label courier driver ' +
  'received sent email phone number update change confirm check status thanks regards hello hi urgent'
).split(' ');
const firstNames =
  'Anna Ben Carla David Emma Farid Grace Hugo Ines Jonas Kira Liam Maya Noah Olga Pavel Quinn Rosa Sami Tara'.split(
    ' ',
  );
const lastNames =
  'Smith Garcia Müller Rossi Dubois Novak Kowalski Silva Jensen Okafor Tanaka Chen Haddad Petrov Walsh'.split(
    ' ',
  );
const domains = [
  'mail.example',
  'post.example',
  'inbox.example',
  'customer.example',
  'corp.example',
  'isp.example',
];
const latinSentences = [
  "Bonjour, je n'ai pas reçu ma commande passée la semaine dernière.",
  'Pourriez-vous vérifier où en est la livraison ? Le numéro de suivi ne fonctionne pas.',
  'Grüße aus München: die Rechnung enthält einen Fehler, bitte korrigieren Sie den Betrag.',
  'Der Artikel ist beschädigt angekommen; ich möchte eine Rückerstattung.',
  'Hola, el pedido llegó incompleto: faltan dos artículos. ¿Pueden enviarlos?',
  'Merci beaucoup pour votre aide, à bientôt.',
];
const chineseSentences = [
  '您好，我的订单还没有收到。',
  '请帮我查询一下物流信息，谢谢！',
  '我上周购买的商品有质量问题，希望可以退货退款。',
  '发票上的金额不正确，请重新开具。',
  '我的账户无法登录，提示密码错误。',
  '非常感谢你们的帮助，期待尽快回复。',
];
const japaneseSentences = [
  'お世話になっております。',
  '先週注文した商品がまだ届いておりません。',
  '配送状況を確認していただけますでしょうか。',
  '請求書の金額に誤りがあるようです。',
  '商品が破損した状態で届きましたので、交換をお願いいたします。',
  'よろしくお願いいたします。',
];

function sentence(r: Random): string {
  const n = r.int(8, 20);
  const list = Array.from({ length: n }, () => r.pick(words));
  const text = list.join(' ');
  return `${text[0]!.toUpperCase()}${text.slice(1)}${r.pick(['.', '.', '.', '?', '!'])}`;
}

/** Paragraphs of about `bytes` bytes, lines of at most ~76 characters. */
function paragraphs(r: Random, bytes: number, sentences: (r: Random) => string = sentence): string[] {
  const result: string[] = [];
  let size = 0;
  while (size < bytes) {
    const p = Array.from({ length: r.int(2, 6) }, () => sentences(r)).join(' ');
    result.push(p);
    size += Buffer.byteLength(p) + 2;
  }
  return result;
}

function wrap(text: string, width = 76): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\r\n');
}

/** Quoted-printable (RFC 2045) of bytes whose line breaks are CRLF; soft breaks at 76. */
function quotedPrintable(bytes: Buffer): string {
  const out: string[] = [];
  const text = bytes.toString('latin1');
  for (const line of text.split('\r\n')) {
    let encoded = '';
    let width = 0;
    for (let i = 0; i < line.length; i++) {
      const code = line.charCodeAt(i);
      const isLast = i === line.length - 1;
      const literal = (code >= 33 && code <= 126 && code !== 61) || ((code === 32 || code === 9) && !isLast);
      const piece = literal ? line[i]! : `=${code.toString(16).toUpperCase().padStart(2, '0')}`;
      if (width + piece.length > 75) {
        encoded += '=\r\n';
        width = 0;
      }
      encoded += piece;
      width += piece.length;
    }
    out.push(encoded);
  }
  return out.join('\r\n');
}

const base64Lines = (bytes: Buffer) => (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

/** ISO-2022-JP from JIS X 0208 text: EUC-JP's two-byte characters with the high bits cleared, escaped. */
function iso2022jp(text: string): Buffer {
  const out: number[] = [];
  for (const line of text.split('\r\n')) {
    const euc = iconv.encode(line, 'euc-jp');
    let isKanji = false;
    for (let i = 0; i < euc.length; i++) {
      const byte = euc[i]!;
      if (byte < 0x80) {
        if (isKanji) out.push(0x1b, 0x28, 0x42);
        isKanji = false;
        out.push(byte);
      } else {
        if (!isKanji) out.push(0x1b, 0x24, 0x42);
        isKanji = true;
        out.push(byte & 0x7f, euc[++i]! & 0x7f);
      }
    }
    if (isKanji) out.push(0x1b, 0x28, 0x42);
    out.push(0x0d, 0x0a);
  }
  return Buffer.from(out);
}

const encodedWord = (text: string, charset: string, bytes: Buffer = Buffer.from(text, 'utf8')) =>
  /^[\x20-\x7e]*$/.test(text) ? text : `=?${charset}?B?${bytes.toString('base64')}?=`;

const rfc2822Date = (date: Date) => date.toUTCString().replace('GMT', '+0000');

type Kind = 'plain' | 'alternative' | 'attachment' | 'iso-8859-1' | 'gb2312' | 'iso-2022-jp';
const kindWeights: [Kind, number][] = [
  ['plain', 30],
  ['alternative', 40],
  ['attachment', 10],
  ['iso-8859-1', 8],
  ['gb2312', 6],
  ['iso-2022-jp', 6],
];

const isUtf8Kind = (kind: Kind) => kind === 'plain' || kind === 'alternative' || kind === 'attachment';

interface Sender {
  name: string;
  address: string;
  /** Set for a sender who writes in another charset than UTF-8. */
  charsetKind?: Kind;
  /** The sender's last message and the References of its thread. */
  thread?: { subject: string; ids: string[]; quoted: string };
}

interface Part {
  headers: string[];
  body: string | Buffer;
}

function partBytes(part: Part): Buffer {
  return Buffer.concat([Buffer.from(`${part.headers.join('\r\n')}\r\n\r\n`), Buffer.from(part.body)]);
}

function multipart(subtype: string, parts: Part[], r: Random): Part {
  const boundary = `----=_Part_${r.int(1e8, 9e8)}_${r.int(1e6, 9e6)}`;
  const chunks: Buffer[] = [Buffer.from('This is a multi-part message in MIME format.\r\n')];
  for (const part of parts) chunks.push(Buffer.from(`\r\n--${boundary}\r\n`), partBytes(part));
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return {
    headers: [`Content-Type: multipart/${subtype};\r\n boundary="${boundary}"`],
    body: Buffer.concat(chunks),
  };
}

function html(paras: string[], quoted: string, r: Random, charset = 'utf-8'): string {
  const body = paras
    .map((p, i) =>
      i === 1
        ? `<p style="margin:0 0 12px 0">${p} <a href="https://shop.example/orders/${r.int(10000, 99999)}" target="_blank">my order</a></p>`
        : `<p style="margin:0 0 12px 0">${p.replace(/(\w+)/, '<b>$1</b>')}</p>`,
    )
    .join('\r\n');
  const table =
    r.next() < 0.3
      ? `<table border="0" cellpadding="4" style="border-collapse:collapse">\r\n${Array.from(
          { length: r.int(2, 6) },
          (_, i) =>
            `<tr><td style="border:1px solid #ccc">Item ${i + 1}</td><td>${r.int(1, 9)} x ${r.int(5, 300)}.00 EUR</td></tr>`,
        ).join('\r\n')}\r\n</table>\r\n`
      : '';
  const quote = quoted
    ? `<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">${quoted
        .split('\r\n')
        .map((l) => l.replace(/^> ?/, ''))
        .join('<br>\r\n')}</blockquote>\r\n`
    : '';
  return (
    `<html><head><meta http-equiv="Content-Type" content="text/html; charset=${charset}">` +
    '<style>p{font-family:Arial,sans-serif}</style></head>\r\n' +
    `<body><div dir="ltr" style="font-family:Arial,sans-serif;font-size:14px">\r\n${body}\r\n${table}` +
    '<img src="https://cdn.mail.example/signature.png" width="120" height="40" alt="logo">\r\n' +
    `</div>\r\n${quote}</body></html>`
  );
}

function textPart(text: string, encoding: 'qp' | '8bit' | 'base64', charset = 'utf-8', bytes?: Buffer): Part {
  const raw = bytes ?? Buffer.from(text, 'utf8');
  return {
    headers: [
      `Content-Type: text/plain; charset=${charset}; format=flowed`,
      `Content-Transfer-Encoding: ${encoding === 'qp' ? 'quoted-printable' : encoding}`,
    ],
    body: encoding === 'qp' ? quotedPrintable(raw) : encoding === 'base64' ? base64Lines(raw) : raw,
  };
}

function htmlPart(markup: string, charset = 'utf-8', bytes?: Buffer): Part {
  const raw = bytes ?? Buffer.from(markup, 'utf8');
  return {
    headers: [`Content-Type: text/html; charset=${charset}`, 'Content-Transfer-Encoding: quoted-printable'],
    body: quotedPrintable(raw),
  };
}

export interface Corpus {
  messages: Buffer[];
  replies: number;
  bytes: number;
  kinds: Record<string, number>;
}

export function buildCorpus(count: number, mailbox: string, seed = 20261125): Corpus {
  const r = prng(seed);
  const totalWeight = kindWeights.reduce((sum, [, w]) => sum + w, 0);
  const utf8Kinds = kindWeights.filter(([kind]) => isUtf8Kind(kind));
  const utf8Weight = utf8Kinds.reduce((sum, [, w]) => sum + w, 0);
  const runId = randomBytes(4).toString('hex');
  const senders: Sender[] = Array.from({ length: senderCount }, (_, i) => {
    const first = firstNames[i % firstNames.length]!;
    const last = lastNames[Math.floor(i / firstNames.length) % lastNames.length]!;
    const local = `${first}.${last}`.toLowerCase().replace('ü', 'ue');
    const roll = r.next() * totalWeight;
    let acc = 0;
    const kind = kindWeights.find(([, w]) => (acc += w) > roll)?.[0] ?? 'plain';
    return {
      name: `${first} ${last}`,
      address: `${local}.${i}@${domains[i % domains.length]}`,
      ...(!isUtf8Kind(kind) && { charsetKind: kind }),
    };
  });
  const kinds: Record<string, number> = {};
  const messages: Buffer[] = [];
  let replies = 0;
  const started = Date.now() - count * 60_000;

  for (let i = 0; i < count; i++) {
    const sender = r.pick(senders);
    // A sender keeps to one charset (a reply's subject is the one they wrote before); UTF-8 writers mix.
    let roll = r.next() * utf8Weight;
    const kind = sender.charsetKind ?? utf8Kinds.find(([, w]) => (roll -= w) < 0)?.[0] ?? 'plain';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    const thread = sender.thread && r.next() < 0.6 ? sender.thread : undefined;
    if (thread) replies += 1;
    const messageId = `<${runId}.${i}.${r.int(1e9, 9e9)}@${sender.address.split('@')[1]}>`;
    const size = Math.round(2048 + 18432 * r.next() ** 2);
    const quoted = thread ? thread.quoted : '';

    let subject: string;
    let content: Part;
    let subjectHeader: string;
    switch (kind) {
      case 'plain':
      case 'alternative':
      case 'attachment': {
        subject = thread
          ? `Re: ${thread.subject}`
          : `${r.pick(['Question about', 'Problem with', 'Help with', 'Urgent:'])} ${r.pick(words)} ${r.pick(words)} #${r.int(1000, 99999)}`;
        if (!thread && r.next() < 0.1) subject += ' – merci, José';
        subjectHeader = encodedWord(subject, 'UTF-8');
        const paras = paragraphs(r, size);
        const text = `${paras.map((p) => wrap(p)).join('\r\n\r\n')}\r\n\r\n-- \r\n${sender.name}${quoted ? `\r\n\r\nOn ${rfc2822Date(new Date(started))}, support wrote:\r\n${quoted}` : ''}\r\n`;
        if (kind === 'plain') content = textPart(text, r.next() < 0.5 ? '8bit' : 'qp');
        else {
          const alternative = multipart(
            'alternative',
            [textPart(text, 'qp'), htmlPart(html(paras, quoted, r))],
            r,
          );
          if (kind === 'alternative') content = alternative;
          else {
            const pdf = Buffer.concat([
              Buffer.from(
                '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n',
                'latin1',
              ),
              randomBytes(r.int(50, 200) * 1024),
              Buffer.from('\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n'),
            ]);
            const fileName = `${r.pick(['invoice', 'receipt', 'photo-scan', 'contract'])}-${r.int(1000, 9999)}.pdf`;
            content = multipart(
              'mixed',
              [
                alternative,
                {
                  headers: [
                    `Content-Type: application/pdf; name="${fileName}"`,
                    `Content-Disposition: attachment; filename="${fileName}"`,
                    'Content-Transfer-Encoding: base64',
                  ],
                  body: base64Lines(pdf),
                },
              ],
              r,
            );
          }
        }
        break;
      }
      case 'iso-8859-1': {
        subject = thread ? `Re: ${thread.subject}` : `Réclamation commande n° ${r.int(1000, 99999)}`;
        subjectHeader = /^[\x20-\x7e]*$/.test(subject)
          ? subject
          : `=?ISO-8859-1?Q?${quotedPrintable(iconv.encode(subject, 'latin1')).replace(/ /g, '_').replace(/\?/g, '=3F').replace(/=\r\n/g, '')}?=`;
        const paras = paragraphs(r, size, (rr) => rr.pick(latinSentences));
        const text = `${paras.map((p) => wrap(p)).join('\r\n\r\n')}\r\n${quoted ? `\r\n${quoted}\r\n` : ''}`;
        content = textPart(text, 'qp', 'ISO-8859-1', iconv.encode(text, 'latin1'));
        break;
      }
      case 'gb2312': {
        subject = thread ? `Re: ${thread.subject}` : `订单问题 ${r.int(1000, 99999)}`;
        subjectHeader = encodedWord(subject, 'GB2312', iconv.encode(subject, 'gb2312'));
        const paras = paragraphs(r, Math.round(size / 2), (rr) => rr.pick(chineseSentences));
        const text = `${paras.join('\r\n\r\n')}\r\n${quoted ? `\r\n${quoted}\r\n` : ''}`;
        const markup = html(paras, '', r, 'gb2312');
        content =
          r.next() < 0.5
            ? textPart(text, 'base64', 'GB2312', iconv.encode(text, 'gb2312'))
            : multipart(
                'alternative',
                [
                  textPart(text, 'base64', 'GB2312', iconv.encode(text, 'gb2312')),
                  htmlPart(markup, 'GB2312', iconv.encode(markup, 'gb2312')),
                ],
                r,
              );
        break;
      }
      case 'iso-2022-jp': {
        subject = thread ? `Re: ${thread.subject}` : `ご注文について ${r.int(1000, 99999)}`;
        subjectHeader = encodedWord(subject, 'ISO-2022-JP', iso2022jp(subject).subarray(0, -2));
        const paras = paragraphs(r, Math.round(size / 2), (rr) => rr.pick(japaneseSentences));
        // Short lines: every line of ISO-2022-JP text ends back in ASCII.
        const lines = paras.flatMap((p) => [...(p.match(/.{1,30}/gu) ?? []), '']);
        const text = `${lines.join('\r\n')}${quoted ? `\r\n${quoted.replace(/[^\x20-\x7e\r\n]/g, '?')}` : ''}`;
        content = {
          headers: ['Content-Type: text/plain; charset=ISO-2022-JP', 'Content-Transfer-Encoding: 7bit'],
          body: iso2022jp(text),
        };
        break;
      }
    }

    const date = new Date(started + i * 60_000 + r.int(0, 59_000));
    const domain = sender.address.split('@')[1]!;
    const from = `${encodedWord(sender.name, 'UTF-8')} <${sender.address}>`;
    const headers = [
      `Return-Path: <${sender.address}>`,
      `Delivered-To: ${mailbox}`,
      `Received: from mx.${domain} (mx.${domain} [198.51.100.${r.int(1, 254)}])\r\n\tby mx.support.example with ESMTPS id ${randomBytes(6).toString('hex')}\r\n\tfor <${mailbox}>; ${rfc2822Date(date)}`,
      `Received: from [192.168.${r.int(0, 255)}.${r.int(1, 254)}] by smtp.${domain} with ESMTPSA;\r\n\t${rfc2822Date(date)}`,
      `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=${domain}; s=s1;\r\n\th=from:to:subject:date:message-id; bh=${randomBytes(32).toString('base64')};\r\n\tb=${(
        randomBytes(192)
          .toString('base64')
          .match(/.{1,70}/g) ?? []
      ).join('\r\n\t ')}`,
      `From: ${from}`,
      `To: Example Support <${mailbox}>`,
      `Subject: ${subjectHeader}`,
      `Date: ${rfc2822Date(date)}`,
      `Message-ID: ${messageId}`,
      ...(thread
        ? [`In-Reply-To: ${thread.ids.at(-1)!}`, `References: ${thread.ids.slice(-10).join('\r\n ')}`]
        : []),
      `X-Mailer: ${r.pick(['Apple Mail (2.3774)', 'Microsoft Outlook 16.0', 'Thunderbird 128.3', 'Mutt/2.2'])}`,
      'MIME-Version: 1.0',
      ...content.headers,
    ];
    messages.push(Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`), Buffer.from(content.body)]));
    // The next message of this sender may answer this one, quoting its first lines.
    const excerpt = paragraphs(r, 600)
      .slice(0, 2)
      .map((p) => wrap(p, 72).replace(/^/gm, '> '))
      .join('\r\n>\r\n');
    sender.thread = {
      subject: subject.replace(/^(Re: )+/, ''),
      ids: [...(thread?.ids ?? []), messageId],
      quoted: excerpt,
    };
  }
  return { messages, replies, bytes: messages.reduce((sum, m) => sum + m.length, 0), kinds };
}

// ---- phases ---------------------------------------------------------------------------------------------

function phase(name: string, messages: number, started: number, cpu: NodeJS.CpuUsage): PhaseResult {
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    name,
    messages,
    seconds,
    perSecond: messages / seconds,
    cpuMsPerMessage: (used.user + used.system) / 1000 / Math.max(1, messages),
  };
}

/** The bare read: fetch by UID in the poller's batches, parse each batch with mailparser. */
async function bareRead(
  name: string,
  server: { host: string; port: number },
  user: string,
  limit = Infinity,
): Promise<PhaseResult> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const imap = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user, pass: dovecotPassword },
    logger: false,
  });
  await imap.connect();
  let parsed = 0;
  let textChars = 0;
  try {
    await imap.mailboxOpen('INBOX');
    const found = await imap.search({ uid: '1:*' }, { uid: true });
    const uids = (found || []).sort((a, b) => a - b).slice(0, limit);
    for (let at = 0; at < uids.length; at += batchSize) {
      const batch = uids.slice(at, at + batchSize);
      const fetched = await imap.fetchAll(
        batch.join(','),
        { uid: true, source: true, internalDate: true },
        { uid: true },
      );
      const sources = fetched.flatMap((m) => (m.source ? [m.source] : []));
      const mails = await Promise.all(sources.map((source) => simpleParser(source, parserOptions)));
      for (const mail of mails) {
        parsed += 1;
        textChars += (mail.text ?? '').length;
      }
    }
  } finally {
    await imap.logout().catch(() => imap.close());
  }
  const result = phase(name, parsed, started, cpu);
  if (textChars === 0) throw new Error('the bare read parsed no text');
  return result;
}

/** A pino destination that counts the app's warnings and errors by message instead of printing them. */
function problemCounter() {
  const problems = new Map<string, number>();
  return {
    problems,
    stream: {
      write(line: string) {
        let message = line.trim().slice(0, 200);
        try {
          const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } | string };
          const err = typeof entry.err === 'string' ? entry.err : entry.err?.message;
          message = `${entry.msg ?? ''}${err ? `: ${err.slice(0, 160)}` : ''}`;
        } catch {
          // Not JSON: counted as written.
        }
        problems.set(message, (problems.get(message) ?? 0) + 1);
      },
    },
  };
}

/**
 * BENCH_EMAIL_PROFILE=<folder>: a CPU profile of each Switchboard phase (the bare phases and setup left
 * out), written as <folder>/<phase>.cpuprofile for Chrome's DevTools.
 */
async function startProfiler(name: string): Promise<{ stop(): Promise<void> } | undefined> {
  const folder = process.env.BENCH_EMAIL_PROFILE;
  if (!folder) return undefined;
  const { Session } = await import('node:inspector/promises');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(folder, { recursive: true });
      const file = `${folder}/${name.replace(/[^\w-]+/g, '-')}.cpuprofile`;
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      say(`${name}: CPU profile written to ${file}`);
    },
  };
}

async function switchboardRead(options: {
  name: string;
  baseConfig: Config;
  tag: string;
  mailboxesFile: string;
  secrets: Record<string, string>;
  mailboxId: string;
  expected: number;
  highestUid: number;
  acknowledgments?: () => number;
}): Promise<SwitchboardPhase> {
  const { baseConfig, tag } = options;
  const config: Config = {
    ...baseConfig,
    databaseSchema: `${baseConfig.databaseSchema}_${tag}`,
    redisPrefix: `${baseConfig.redisPrefix}${tag}:`,
    routeOnIngest: true,
    routingRulesDir: 'routing-rules',
    email: {
      mailboxesFile: options.mailboxesFile,
      secrets: options.secrets,
      tokenSecret: 'bench-email-token-secret',
      isPolling: true,
    },
  };
  const handle = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
  try {
    await migrateToLatest(handle.db, handle.pool, config.databaseSchema);
    // SWITCHBOARD_PG_STATS=1: the local Postgres loads pg_stat_statements; the phase's top statements print.
    const hasStatementStats =
      process.env.SWITCHBOARD_PG_STATS === '1' &&
      (await sql`create extension if not exists pg_stat_statements with schema public`
        .execute(handle.db)
        .then(() => sql`select public.pg_stat_statements_reset()`.execute(handle.db))
        .then(
          () => true,
          () => false,
        ));
    const { problems, stream } = problemCounter();
    const cpuBeforeBuild = process.cpuUsage();
    const { app, services } = await buildApp({
      config,
      isWorker: true,
      logger: { level: 'warn', stream },
    });
    // The poller started inside buildApp and is connecting: the clock starts now.
    const profiler = await startProfiler(options.name);
    const cpu = process.cpuUsage();
    const started = performance.now();
    const buildCpuMs = (cpu.user + cpu.system - cpuBeforeBuild.user - cpuBeforeBuild.system) / 1000;
    const atStart = await services.repositories.email.cursorOf(options.mailboxId);
    if (atStart) say(`${options.name}: the cursor already stood at UID ${atStart.lastUid} when timing began`);
    let lastUid = 0;
    let progressAt = performance.now();
    let reported = 0;
    while (lastUid < options.highestUid) {
      await sleep(25);
      const cursor = await services.repositories.email.cursorOf(options.mailboxId);
      if (cursor && cursor.lastUid > lastUid) {
        lastUid = cursor.lastUid;
        progressAt = performance.now();
        if (lastUid - reported >= 500) {
          reported = lastUid - (lastUid % 500);
          say(`${options.name}: cursor at UID ${lastUid}/${options.highestUid}`);
        }
      }
      if (performance.now() - progressAt > 60_000) {
        say(`${options.name}: NO PROGRESS for 60 s, the cursor stays at UID ${lastUid}; giving up`);
        break;
      }
    }
    const result = phase(options.name, options.expected, started, cpu);
    await profiler?.stop();
    if (hasStatementStats) {
      const { rows } = await sql<{ calls: string; ms: string; q: string }>`
        select calls, round(total_exec_time::numeric, 1) as ms,
          left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 100) as q
        from public.pg_stat_statements where toplevel order by calls desc limit 25`.execute(handle.db);
      for (const r of rows)
        say(`${options.name}: pg ${r.ms.padStart(8)} ms ${r.calls.padStart(6)} calls  ${r.q}`);
    }
    const acknowledgmentsAtEnd = options.acknowledgments?.();

    const countOf = async (query: Promise<{ n: string | number | bigint }>) => Number((await query).n);
    const logged = await countOf(
      services.db
        .selectFrom('interaction_events')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('channel', '=', 'email')
        .where('type', '=', 'message.received')
        .executeTakeFirstOrThrow(),
    );
    const interactions = await countOf(
      services.db
        .selectFrom('interactions')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('channel', '=', 'email')
        .executeTakeFirstOrThrow(),
    );
    // Routing runs after each ingest commits, outside the timed path: how far behind was it?
    const settleStarted = performance.now();
    let routingSettledMs = NaN;
    while (performance.now() - settleStarted < 30_000) {
      const waiting = await countOf(
        services.db
          .selectFrom('interactions')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('channel', '=', 'email')
          .where('status', '=', 'new')
          .executeTakeFirstOrThrow(),
      );
      if (waiting === 0) {
        routingSettledMs = performance.now() - settleStarted;
        break;
      }
      await sleep(25);
    }
    say(
      `${options.name}: ${result.messages} messages in ${fmt(result.seconds, 2)} s; buildApp took ` +
        `${fmt(buildCpuMs, 0)} ms of CPU before the clock started`,
    );
    if (acknowledgmentsAtEnd !== undefined) {
      await sleep(2000);
      say(
        `${options.name}: ${acknowledgmentsAtEnd} acknowledgments captured when the last message was ` +
          `logged, ${options.acknowledgments!()} two seconds later`,
      );
    }
    await app.close();
    await sql`drop schema ${sql.id(config.databaseSchema)} cascade`.execute(handle.db);
    return {
      ...result,
      logged,
      interactions,
      routingSettledMs,
      problems,
      ...(options.acknowledgments && { acknowledgments: options.acknowledgments() }),
    };
  } finally {
    await handle.close();
  }
}

function reportSwitchboard(r: SwitchboardPhase, expected: number, replies: number): void {
  if (r.logged === expected) say(`${r.name}: logged ${r.logged} of ${expected} messages`);
  else
    say(
      `${r.name}: !!! LOGGED ${r.logged} MESSAGES, EXPECTED ${expected} ` +
        `(${r.logged < expected ? 'LOST' : 'DOUBLED'} ${Math.abs(r.logged - expected)}): A BUG !!!`,
    );
  say(
    `${r.name}: ${r.interactions} email interactions (${expected - r.interactions} messages threaded into ` +
      `earlier ones; the corpus has ${replies} replies)`,
  );
  say(
    `${r.name}: routing (on, repository rules) ` +
      (Number.isFinite(r.routingSettledMs)
        ? `had every new interaction out of 'new' ${fmt(r.routingSettledMs, 0)} ms after the last message was logged`
        : "still had interactions in 'new' 30 s after the last message was logged"),
  );
  if (r.problems.size === 0) say(`${r.name}: the app logged no warnings or errors`);
  for (const [message, count] of [...r.problems].sort((a, b) => b[1] - a[1]).slice(0, 8))
    say(`${r.name}: app warned or failed ${count}x: ${message}`);
}

export async function runEmailBench(seconds: number): Promise<EmailBenchResult> {
  // A phase takes a few seconds at 1500 messages; BENCH_SECONDS scales the corpus loosely from its 10.
  const count = Number(process.env.BENCH_EMAIL_MESSAGES ?? Math.max(200, Math.round((1500 * seconds) / 10)));
  const { config, stop } = await benchServices();
  const dataDir = `.data/bench-dovecot-${process.pid}`;
  let dovecot: Dovecot | undefined;
  const cleanups: (() => void)[] = [];
  try {
    dovecot = await startDovecot({ dataDir, log: say });
    const server = { host: dovecot.host, port: dovecot.port };
    const fixture = mailboxFixture({
      imap: server,
      id: 'bench',
      acknowledgment: { enabled: false },
      afterIngest: { action: 'flag' },
    });
    cleanups.push(() => rmSync(dirname(fixture.file), { recursive: true, force: true }));

    say(`building a corpus of ${count} messages`);
    const corpus = buildCorpus(count, fixture.address);
    say(
      `corpus: ${fmt(corpus.bytes / 1048576, 1)} MB, ${corpus.replies} replies, ` +
        Object.entries(corpus.kinds)
          .map(([k, n]) => `${k} ${n}`)
          .join(', '),
    );
    const appender = await imapClient({ ...server, user: fixture.imapUser });
    let highestUid = 0;
    try {
      for (const [i, raw] of corpus.messages.entries()) {
        highestUid = Math.max(highestUid, (await appender.append(raw)) ?? 0);
        if ((i + 1) % 500 === 0 || i + 1 === count) say(`appended ${i + 1}/${count}`);
      }
    } finally {
      await appender.close();
    }

    say(`warm-up: bare read of ${Math.min(count, 300)} messages`);
    await bareRead('warm-up', server, fixture.imapUser, 300);
    say('bare read, run 1');
    const bare1 = await bareRead('bare fetch + parse, run 1', server, fixture.imapUser);

    say('Switchboard, acknowledgments off');
    const switchboard = await switchboardRead({
      name: 'Switchboard, acks off',
      baseConfig: config,
      tag: 'a',
      mailboxesFile: fixture.file,
      secrets: fixture.secrets,
      mailboxId: fixture.id,
      expected: count,
      highestUid,
    });

    say('bare read, run 2');
    const bare2 = await bareRead('bare fetch + parse, run 2', server, fixture.imapUser);

    let switchboardAck: SwitchboardPhase | undefined;
    if (process.env.BENCH_EMAIL_ACK !== '0') {
      const smtp = await startSmtpCapture();
      try {
        const spec = JSON.parse(readFileSync(fixture.file, 'utf8')) as {
          mailboxes: Record<string, unknown>[];
        };
        const withAcks = `${dirname(fixture.file)}/mailboxes-acks.yaml`;
        writeFileSync(
          withAcks,
          JSON.stringify({
            mailboxes: spec.mailboxes.map((m) => ({
              ...m,
              smtp: { host: smtp.host, port: smtp.port, tls: false },
              acknowledgment: { enabled: true },
            })),
          }),
        );
        say('Switchboard, acknowledgments on (capturing SMTP server)');
        switchboardAck = await switchboardRead({
          name: 'Switchboard, acks on',
          baseConfig: config,
          tag: 'b',
          mailboxesFile: withAcks,
          secrets: fixture.secrets,
          mailboxId: fixture.id,
          expected: count,
          highestUid,
          acknowledgments: () => smtp.messages.length,
        });
      } finally {
        await smtp.stop();
      }
    }

    const bareMean: PhaseResult = {
      name: 'bare fetch + parse, mean of runs 1 and 2',
      messages: count,
      seconds: (bare1.seconds + bare2.seconds) / 2,
      perSecond: (bare1.perSecond + bare2.perSecond) / 2,
      cpuMsPerMessage: (bare1.cpuMsPerMessage + bare2.cpuMsPerMessage) / 2,
    };
    for (const b of [bare1, bare2])
      if (b.messages !== count) say(`!!! ${b.name} parsed ${b.messages} messages, expected ${count} !!!`);
    reportSwitchboard(switchboard, count, corpus.replies);
    if (switchboardAck) reportSwitchboard(switchboardAck, count, corpus.replies);
    say(
      'Switchboard flags each batch (\\Seen $Switchboard) after logging it; the bare read does not. Routing ' +
        'on ingest is on, as in production, with the repository rules; its work overlaps the timed read.',
    );
    return {
      messages: count,
      replies: corpus.replies,
      bytes: corpus.bytes,
      kinds: corpus.kinds,
      bare: [bare1, bare2],
      bareMean,
      switchboard,
      switchboardAck,
      ratio: switchboard.perSecond / bareMean.perSecond,
    };
  } finally {
    await dovecot?.stop();
    for (const cleanup of cleanups) cleanup();
    rmSync(dataDir, { recursive: true, force: true });
    await stop();
  }
}

export function emailRows(r: EmailBenchResult) {
  const row = (x: PhaseResult, ratio: string, target = '', verdict = '') => ({
    benchmark: x.name,
    messages: x.messages,
    seconds: fmt(x.seconds, 2),
    'msgs/s': fmt(x.perSecond, 0),
    'node cpu ms/msg': fmt(x.cpuMsPerMessage, 2),
    'ratio to bare': ratio,
    target,
    verdict,
  });
  const ratioOf = (x: PhaseResult) => x.perSecond / r.bareMean.perSecond;
  return [
    ...r.bare.map((b) => row(b, fmt(ratioOf(b), 2))),
    row(r.bareMean, '1.00'),
    row(
      r.switchboard,
      fmt(r.ratio, 2),
      `>= ${emailTarget}`,
      r.switchboard.logged !== r.messages ? 'LOST/DOUBLED' : r.ratio >= emailTarget ? 'met' : 'MISSED',
    ),
    ...(r.switchboardAck ? [row(r.switchboardAck, fmt(ratioOf(r.switchboardAck), 2))] : []),
  ];
}

/** The summary's line (npm run bench): mail logged per second against bare fetch-and-parse. */
export function emailSummary(r: EmailBenchResult): SummaryLine[] {
  return [
    {
      benchmark: 'email',
      figure: `mail fetched, parsed and logged per second (${r.messages} messages)`,
      value: `${fmt(r.switchboard.perSecond, 0)}/s`,
      baseline: `${fmt(r.bareMean.perSecond, 0)}/s bare IMAP fetch and parse`,
      ratio: fmt(r.ratio, 2),
      target: `>= ${emailTarget} x bare`,
      verdict:
        r.switchboard.logged !== r.messages ? 'LOST/DOUBLED' : r.ratio >= emailTarget ? 'met' : 'MISSED',
    },
  ];
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  runEmailBench(seconds)
    .then((r) => {
      printTable(emailRows(r));
      const isWrong = [r.switchboard, r.switchboardAck].some((s) => s && s.logged !== r.messages);
      if (isWrong || r.bare.some((b) => b.messages !== r.messages)) process.exitCode = 1;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

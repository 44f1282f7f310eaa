import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { parseEmail } from '../../channels/email/parse.js';
import type { ParseLimits } from '../../channels/email/types.js';

/*
 * Raw messages in, ParsedEmail out. The charset corpus encodes real text in each charset mail still comes
 * in (iconv-lite does the encoding; ISO-2022-JP bytes are written out, iconv-lite has no encoder for it)
 * and checks the exact subject, sender name and body after decoding. The rest covers structure: HTML,
 * inline images, limits, forwarded messages, threading headers, and messages that are broken.
 */

const limits: ParseLimits = { maxAttachmentBytes: 1024 * 1024, maxTotalAttachmentBytes: 5 * 1024 * 1024 };

const crlf = (lines: string[]) => lines.join('\r\n');

/** A message from header lines and a body, every string written one byte per character. */
function message(headers: string[], body: Buffer | string = ''): Buffer {
  const content = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  return Buffer.concat([Buffer.from(crlf([...headers, '', '']), 'latin1'), content]);
}

const b64 = (bytes: Buffer) => bytes.toString('base64');
const encodedWord = (charset: string, bytes: Buffer) => `=?${charset}?B?${b64(bytes)}?=`;

/** Quoted-printable: every byte outside printable ASCII (and `=`) escaped, soft breaks every 70 characters. */
function quotedPrintable(bytes: Buffer): string {
  let line = '';
  const lines: string[] = [];
  for (const byte of bytes) {
    const char =
      byte >= 0x21 && byte <= 0x7e && byte !== 0x3d
        ? String.fromCharCode(byte)
        : byte === 0x20
          ? ' '
          : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line.length + char.length > 70) {
      lines.push(`${line}=`);
      line = '';
    }
    line += char;
  }
  return crlf([...lines, line]);
}

interface CharsetCase {
  label: string;
  /** The codec that makes the bytes, when it is not the label itself. */
  codec?: string;
  subject: string;
  body: string;
  transfer: 'base64' | 'quoted-printable' | '8bit';
}

const corpus: CharsetCase[] = [
  { label: 'GB2312', subject: '简体中文测试', body: '你好，世界！这是一封测试邮件。', transfer: 'base64' },
  // 镕 and 喆 are in GBK but not in GB2312.
  { label: 'GBK', subject: '朱镕基与张喆', body: '镕、喆：GB2312 以外的汉字。', transfer: 'base64' },
  // GB2312-labelled mail written by a GBK or GB18030 encoder: 𠮷 is a four-byte GB18030 sequence.
  {
    label: 'gb2312',
    codec: 'gb18030',
    subject: '镕喆 𠮷野家',
    body: '标签是 GB2312，内容是 GB18030：𠮷、镕、喆。',
    transfer: 'base64',
  },
  { label: 'GB18030', subject: '𠮷野家 € 中文', body: '四字节字符 𠮷 和 ㊣ 都能解码。', transfer: 'base64' },
  { label: 'Big5', subject: '繁體中文測試', body: '臺灣的朋友，您好！這是繁體中文。', transfer: 'base64' },
  {
    label: 'Shift_JIS',
    subject: '会議のお知らせ',
    body: 'こんにちは、日本語のテストです。ｶﾀｶﾅ',
    transfer: 'base64',
  },
  { label: 'EUC-JP', subject: '会議のお知らせ', body: 'こんにちは、日本語のテストです。', transfer: '8bit' },
  { label: 'EUC-KR', subject: '회의 안내', body: '안녕하세요, 한국어 테스트입니다.', transfer: 'base64' },
  {
    label: 'ISO-8859-1',
    subject: 'Café à Zürich',
    body: 'Crème brûlée, façade, naïve.',
    transfer: 'quoted-printable',
  },
  {
    label: 'ISO-8859-2',
    subject: 'Zażółć gęślą jaźń',
    body: 'Příliš žluťoučký kůň.',
    transfer: 'quoted-printable',
  },
  {
    label: 'ISO-8859-15',
    subject: 'Prix : 10 €',
    body: "L'œuvre coûte 10 € (Š, Ž, Ÿ).",
    transfer: 'quoted-printable',
  },
  { label: 'windows-1250', subject: 'Łódź i Kraków', body: 'Šťastný nový rok, Łódź.', transfer: '8bit' },
  {
    label: 'windows-1251',
    subject: 'Привет, мир',
    body: 'Съешь же ещё этих мягких французских булок.',
    transfer: 'base64',
  },
  {
    label: 'windows-1252',
    subject: '“Smart” quotes – €',
    body: '‘Single’, “double”, ellipsis… and 5 € — fin.',
    transfer: 'quoted-printable',
  },
  { label: 'windows-1253', subject: 'Καλημέρα', body: 'Γειά σου κόσμε.', transfer: '8bit' },
  { label: 'windows-1254', subject: 'İstanbul', body: 'Çok güzel, ğ ş ı.', transfer: '8bit' },
  { label: 'windows-1255', subject: 'שלום', body: 'שלום עולם.', transfer: 'base64' },
  { label: 'windows-1256', subject: 'مرحبا', body: 'مرحبا بالعالم.', transfer: 'base64' },
  { label: 'windows-1257', subject: 'Ąžuolas', body: 'Labas rytas, ąčęėįšųūž.', transfer: '8bit' },
  {
    label: 'KOI8-R',
    subject: 'Привет из КОИ-8',
    body: 'Съешь же ещё этих мягких французских булок.',
    transfer: '8bit',
  },
  { label: 'UTF-8', subject: 'Ünïcödé ✓ 日本 😀', body: 'Grüße aus Köln ✓ 😀', transfer: 'quoted-printable' },
];

function charsetMessage(test: CharsetCase): Buffer {
  const codec = test.codec ?? test.label;
  const body = iconv.encode(test.body, codec);
  const content =
    test.transfer === 'base64'
      ? b64(body)
      : test.transfer === 'quoted-printable'
        ? quotedPrintable(body)
        : body;
  return message(
    [
      `From: ${encodedWord(test.label, iconv.encode('Ann Example', codec))} <ann@example.com>`,
      'To: support@switchboard.example',
      `Subject: ${encodedWord(test.label, iconv.encode(test.subject, codec))}`,
      'Message-ID: <charset@example.com>',
      'MIME-Version: 1.0',
      `Content-Type: text/plain; charset="${test.label}"`,
      `Content-Transfer-Encoding: ${test.transfer}`,
    ],
    content,
  );
}

describe('parseEmail: charsets', () => {
  it.each(corpus.map((test) => [`${test.label} (${test.transfer})`, test] as const))(
    'decodes %s in the subject, the sender name and the body',
    async (_name, test) => {
      const parsed = await parseEmail(charsetMessage(test), limits);
      expect(parsed.subject).toBe(test.subject);
      expect(parsed.from).toEqual({ address: 'ann@example.com', name: 'Ann Example' });
      expect(parsed.text).toBe(test.body);
      expect(parsed.text).not.toContain('\ufffd');
      expect(parsed.problems).toEqual([]);
    },
  );

  it('decodes ISO-2022-JP: an RFC 2047 subject and a 7bit body', async () => {
    // こんにちは、日本語のテストです and 件名：会議のお知らせ, as a Japanese mail client writes them.
    const body = '\x1b$B$3$s$K$A$O!"F|K\\8l$N%F%9%H$G$9\x1b(B';
    const raw = message(
      [
        'From: =?ISO-2022-JP?B?GyRCN29MPiEnMnE1RCROJCpDTiRpJDsbKEI=?= <taro@example.jp>',
        'Subject: =?ISO-2022-JP?B?GyRCN29MPiEnMnE1RCROJCpDTiRpJDsbKEI=?=',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=ISO-2022-JP',
        'Content-Transfer-Encoding: 7bit',
      ],
      `${body}\r\n`,
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.subject).toBe('件名：会議のお知らせ');
    expect(parsed.from).toEqual({ address: 'taro@example.jp', name: '件名：会議のお知らせ' });
    expect(parsed.text).toBe('こんにちは、日本語のテストです');
    expect(parsed.problems).toEqual([]);
  });

  it('decodes UTF-8 encoded words in Q and B form, and words split in the middle of a character', async () => {
    const name = Buffer.from('Jürgen Müller', 'utf8');
    const subject = Buffer.from('Straße 😀 日本', 'utf8');
    // The split falls inside ß (2 bytes) and inside 😀 (4 bytes): the words are joined before decoding.
    const cut1 = subject.indexOf(0xc3) + 1;
    const cut2 = subject.indexOf(0xf0) + 2;
    const raw = message(
      [
        'From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>',
        'Reply-To: =?UTF-8?B?' + b64(name) + '?= <reply@example.de>',
        `Subject: ${encodedWord('UTF-8', subject.subarray(0, cut1))}`,
        ` ${encodedWord('UTF-8', subject.subarray(cut1, cut2))}`,
        `\t${encodedWord('utf-8', subject.subarray(cut2))}`,
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
      ],
      quotedPrintable(Buffer.from('Q-encoded body: Grüße, 😀\r\nSecond line.', 'utf8')),
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.from).toEqual({ address: 'jm@example.de', name: 'Jürgen Müller' });
    expect(parsed.replyTo).toEqual([{ address: 'reply@example.de', name: 'Jürgen Müller' }]);
    expect(parsed.subject).toBe('Straße 😀 日本');
    expect(parsed.text).toBe('Q-encoded body: Grüße, 😀\nSecond line.');
  });

  it('decodes a Q-encoded subject in ISO-8859-1 mixed with plain words', async () => {
    const raw = message(
      ['From: a@example.com', 'Subject: Re: =?iso-8859-1?q?Caf=E9_cr=E8me?= ok', 'Content-Type: text/plain'],
      'x',
    );
    expect((await parseEmail(raw, limits)).subject).toBe('Re: Café crème ok');
  });

  it('reports a charset nothing can decode, and keeps the text it could read', async () => {
    const raw = message(
      [
        'From: a@example.com',
        'Subject: =?x-klingon?Q?tlhIngan_Hol?=',
        'Content-Type: text/plain; charset="x-klingon"',
        'Content-Transfer-Encoding: 8bit',
      ],
      'Qapla\x27!',
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.text).toBe("Qapla'!");
    expect(parsed.problems).toEqual(['unknown charset x-klingon']);
  });

  it('reports UTF-7, which mailparser refuses to decode (it can smuggle markup)', async () => {
    const raw = message(['From: a@example.com', 'Content-Type: text/plain; charset=utf-7'], 'Hi +ADw-b+AD4-');
    const parsed = await parseEmail(raw, limits);
    expect(parsed.text).toBe('Hi +ADw-b+AD4-');
    expect(parsed.problems).toEqual(['unknown charset utf-7']);
  });

  it('does not report the charset of a part it does not decode (an attached message)', async () => {
    const raw = message(
      [
        'From: a@example.com',
        'Content-Type: multipart/mixed; boundary="b1"',
        // A header section that is all valid, in a message whose returned headers name another charset.
      ],
      crlf([
        '--b1',
        'Content-Type: text/plain; charset=us-ascii',
        '',
        'See attached.',
        '--b1',
        'Content-Type: message/rfc822',
        '',
        'Subject: inner',
        'Content-Type: text/plain; charset=x-unknown-inner',
        '',
        'inner',
        '--b1--',
        '',
      ]),
    );
    expect((await parseEmail(raw, limits)).problems).toEqual([]);
  });
});

describe('parseEmail: structure', () => {
  const pixel = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==',
    'base64',
  );

  const htmlMessage = message(
    [
      'From: "Bob Sender" <bob@example.com>',
      'To: support@switchboard.example, "Second" <second@switchboard.example>',
      'Cc: Undisclosed: carol@example.com, dave@example.com;',
      'Subject: Formatted',
      'Date: Tue, 04 Jun 2024 09:30:00 +0200',
      'MIME-Version: 1.0',
      'Content-Type: multipart/related; boundary="rel"',
    ],
    crlf([
      '--rel',
      'Content-Type: multipart/alternative; boundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Hello in plain text.',
      '--alt',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>',
      '<p>Hello <b>bold</b> <i>and</i> <a href="https://example.com/x" onclick="steal()">a link</a></p>',
      '<img src="x" onerror="alert(1)"><img src="https://tracker.example/open.gif" width="1" height="1">',
      '<img src="cid:Logo@Example.COM" alt="logo"><ul><li>one</li></ul>',
      '</body></html>',
      '--alt--',
      '',
      '--rel',
      'Content-Type: image/png',
      'Content-ID: <logo@example.com>',
      'Content-Disposition: inline',
      'Content-Transfer-Encoding: base64',
      '',
      b64(pixel),
      '--rel',
      'Content-Type: application/pdf; name="=?utf-8?Q?Rechnung_M=C3=A4rz.pdf?="',
      "Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf",
      'Content-Transfer-Encoding: base64',
      '',
      b64(Buffer.from('%PDF-1.4 fake')),
      '--rel--',
      '',
    ]),
  );

  it('takes the text part as text and sanitizes the HTML', async () => {
    const parsed = await parseEmail(htmlMessage, limits);
    expect(parsed.text).toBe('Hello in plain text.');
    const html = parsed.html ?? '';
    expect(html).not.toMatch(/<script|alert\(1\)|onerror|onclick|<style/i);
    expect(html).toContain('<b>bold</b>');
    expect(html).toContain('<li>one</li>');
    expect(html).toContain('href="https://example.com/x"');
    expect(html).toContain('data-remote-src="https://tracker.example/open.gif"');
    expect(html).not.toMatch(/\ssrc="https:\/\/tracker/);
    expect(html).toContain('src="cid:Logo@Example.COM"');
    expect(parsed.problems).toEqual([]);
  });

  it('reads the addresses, groups included, and the date', async () => {
    const parsed = await parseEmail(htmlMessage, limits);
    expect(parsed.from).toEqual({ address: 'bob@example.com', name: 'Bob Sender' });
    expect(parsed.to).toEqual([
      { address: 'support@switchboard.example' },
      { address: 'second@switchboard.example', name: 'Second' },
    ]);
    expect(parsed.cc).toEqual([{ address: 'carol@example.com' }, { address: 'dave@example.com' }]);
    expect(parsed.date?.toISOString()).toBe('2024-06-04T07:30:00.000Z');
  });

  it('keeps an inline image with its Content-ID, and an attachment with its decoded name', async () => {
    const parsed = await parseEmail(htmlMessage, limits);
    expect(parsed.attachments).toHaveLength(2);
    const [logo, invoice] = parsed.attachments;
    expect(logo).toMatchObject({
      contentType: 'image/png',
      contentId: 'logo@example.com',
      isInline: true,
      sizeBytes: pixel.length,
      fileName: 'attachment-1.png',
    });
    expect(logo?.content.equals(pixel)).toBe(true);
    expect(invoice).toMatchObject({
      contentType: 'application/pdf',
      fileName: 'Rechnung März.pdf',
      isInline: false,
    });
    expect(invoice?.contentId).toBeUndefined();
    expect(invoice?.content.toString()).toBe('%PDF-1.4 fake');
  });

  it('turns HTML into text when there is no text part', async () => {
    const raw = message(
      ['From: a@example.com', 'Content-Type: text/html; charset=utf-8'],
      '<p>First paragraph</p><p>Second <b>one</b></p>',
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.text).toBe('First paragraph\n\nSecond one');
    expect(parsed.html).toBe('<p>First paragraph</p><p>Second <b>one</b></p>');
  });

  it('leaves html null for a text-only message', async () => {
    const parsed = await parseEmail(message(['From: a@example.com'], 'plain'), limits);
    expect(parsed).toMatchObject({ text: 'plain', html: null, attachments: [], omittedAttachments: [] });
  });

  function withAttachments(sizes: number[]): Buffer {
    return message(
      ['From: a@example.com', 'Subject: files', 'Content-Type: multipart/mixed; boundary="m"'],
      crlf([
        '--m',
        'Content-Type: text/plain',
        '',
        'files attached',
        ...sizes.flatMap((size, index) => [
          '--m',
          `Content-Type: application/octet-stream; name="file${index + 1}.dat"`,
          'Content-Disposition: attachment',
          'Content-Transfer-Encoding: base64',
          '',
          b64(Buffer.alloc(size, index + 1)),
        ]),
        '--m--',
        '',
      ]),
    );
  }

  it('leaves out an attachment over the size limit, with the reason, and keeps the others', async () => {
    const parsed = await parseEmail(withAttachments([100, 5000, 200]), {
      maxAttachmentBytes: 1000,
      maxTotalAttachmentBytes: 10_000,
    });
    expect(parsed.attachments.map((a) => [a.fileName, a.sizeBytes])).toEqual([
      ['file1.dat', 100],
      ['file3.dat', 200],
    ]);
    expect(parsed.omittedAttachments).toEqual([
      {
        fileName: 'file2.dat',
        contentType: 'application/octet-stream',
        sizeBytes: 5000,
        reason: 'larger than the 1000-byte limit for one attachment',
      },
    ]);
  });

  it('leaves out attachments past the total limit', async () => {
    const parsed = await parseEmail(withAttachments([400, 400, 400, 100]), {
      maxAttachmentBytes: 1000,
      maxTotalAttachmentBytes: 900,
    });
    expect(parsed.attachments.map((a) => a.fileName)).toEqual(['file1.dat', 'file2.dat', 'file4.dat']);
    expect(parsed.omittedAttachments).toMatchObject([
      {
        fileName: 'file3.dat',
        sizeBytes: 400,
        reason: 'over the 900-byte limit for all attachments together',
      },
    ]);
  });

  it.each([
    ['an attachment', 'Content-Disposition: attachment; filename="original.eml"', 'original.eml'],
    ['inline', 'Content-Disposition: inline', 'attachment-1.eml'],
    ['without a disposition', 'X-Note: none', 'attachment-1.eml'],
  ])('keeps a forwarded message/rfc822 part (%s) as an attachment', async (_name, disposition, fileName) => {
    const inner = crlf([
      'From: Original <orig@example.net>',
      'Subject: the original',
      'Message-ID: <orig-1@example.net>',
      '',
      'Original body.',
    ]);
    const raw = message(
      ['From: fwd@example.com', 'Subject: Fwd: the original', 'Content-Type: multipart/mixed; boundary="f"'],
      crlf([
        '--f',
        'Content-Type: text/plain',
        '',
        'See below.',
        '--f',
        'Content-Type: message/rfc822',
        disposition,
        '',
        inner,
        '--f--',
        '',
      ]),
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.text).toBe('See below.');
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]).toMatchObject({ contentType: 'message/rfc822', fileName, isInline: false });
    expect(parsed.attachments[0]?.content.toString()).toBe(inner);
    expect(parsed.messageId).toBeNull();
  });

  it('normalizes Message-ID, In-Reply-To and References', async () => {
    const raw = message([
      'From: a@example.com',
      'Message-ID:   abc.123@example.com  ',
      'In-Reply-To: <parent@example.com> (Bob\'s message of "Mon, 3 Jun 2024")',
      'References: <root@example.com> parent-no-brackets@example.com',
      '\t<mid@example.com>  <root@example.com>',
      'References: <parent@example.com>',
    ]);
    const parsed = await parseEmail(raw, limits);
    expect(parsed.messageId).toBe('<abc.123@example.com>');
    expect(parsed.inReplyTo).toEqual(['<parent@example.com>']);
    expect(parsed.references).toEqual(['<root@example.com>', '<mid@example.com>', '<parent@example.com>']);
  });

  it('reads References without any brackets word by word', async () => {
    const raw = message([
      'From: a@example.com',
      'References: one@example.com two@example.com one@example.com',
    ]);
    expect((await parseEmail(raw, limits)).references).toEqual(['<one@example.com>', '<two@example.com>']);
  });

  it('reads the envelope fields: Delivered-To, X-Original-To and Return-Path', async () => {
    const raw = message([
      'Return-Path: <Bounces+X@Mailer.example.com>',
      'Delivered-To: Support@Switchboard.example',
      'X-Original-To: <Sales@switchboard.example>',
      'Delivered-To: support@switchboard.example',
      'From: a@example.com',
    ]);
    const parsed = await parseEmail(raw, limits);
    expect(parsed.deliveredTo).toEqual(['support@switchboard.example', 'sales@switchboard.example']);
    expect(parsed.returnPath).toBe('Bounces+X@Mailer.example.com');
    const nullPath = await parseEmail(message(['Return-Path: <>', 'From: a@example.com']), limits);
    expect(nullPath.returnPath).toBe('');
    expect((await parseEmail(message(['From: a@example.com']), limits)).returnPath).toBeNull();
  });

  it('gives no date for a Date header that is not a date', async () => {
    const parsed = await parseEmail(message(['From: a@example.com', 'Date: sometime last week']), limits);
    expect(parsed.date).toBeNull();
  });
});

describe('parseEmail: broken messages', () => {
  it.each([
    ['an empty buffer', Buffer.alloc(0)],
    ['a PDF', Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n', 'latin1')],
    ['text without a header', Buffer.from('Hello, this is not a message at all.\r\n\r\nReally.')],
    ['NUL bytes', Buffer.from([0, 1, 2, 3, 0, 0, 255, 254])],
  ])('flags %s as unparseable and does not throw', async (_name, raw) => {
    const parsed = await parseEmail(raw, limits);
    expect(parsed.problems).toEqual(['unparseable: no header fields']);
    expect(parsed).toMatchObject({ subject: '', from: null, messageId: null, text: '', attachments: [] });
  });

  it('reads subject, sender and Message-ID by itself when mailparser gives up', async () => {
    // mailsplit refuses a header section over 1 MiB.
    const raw = message(
      [
        'From: =?utf-8?B?' + b64(Buffer.from('Zoë', 'utf8')) + '?= <zoe@example.com>',
        'Subject: =?gb2312?B?' + b64(iconv.encode('镕 𠮷', 'gb18030')) + '?=',
        'Message-ID: <huge@example.com>',
        'References: <a@example.com>',
        `X-Filler: ${'x'.repeat(1100 * 1024)}`,
      ],
      'body',
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]).toMatch(/^unparseable: .*header size/i);
    expect(parsed).toMatchObject({
      subject: '镕 𠮷',
      from: { address: 'zoe@example.com', name: 'Zoë' },
      messageId: '<huge@example.com>',
      references: ['<a@example.com>'],
      text: '',
      html: null,
    });
  });

  it('gives up on a message that takes longer than the timeout', async () => {
    const raw = message(
      ['From: slow@example.com', 'Subject: slow', 'Content-Type: text/plain'],
      'line of text\r\n'.repeat(300_000),
    );
    const parsed = await parseEmail(raw, limits, { timeoutMs: 1 });
    expect(parsed.problems).toEqual(['unparseable: parsing took longer than 1 ms']);
    expect(parsed).toMatchObject({ subject: 'slow', from: { address: 'slow@example.com' } });
  });

  it('reads a multipart with no closing boundary as far as it goes, and says so', async () => {
    const raw = message(
      ['From: a@example.com', 'Subject: cut', 'Content-Type: multipart/mixed; boundary="cut-here"'],
      crlf([
        '--cut-here',
        'Content-Type: text/plain',
        '',
        'The first part arrived.',
        '--cut-here',
        'Content-Type: application/pdf; name="half.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        b64(Buffer.from('%PDF-1.4 half')),
      ]),
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.text).toBe('The first part arrived.');
    expect(parsed.attachments.map((a) => a.fileName)).toEqual(['half.pdf']);
    expect(parsed.problems).toEqual([
      'malformed: multipart boundary "cut-here" is never closed (truncated message?)',
    ]);
  });

  it('does not mistake a longer boundary for the closing one', async () => {
    const raw = message(
      ['From: a@example.com', 'Content-Type: multipart/mixed; boundary="b"'],
      crlf(['--b', 'Content-Type: text/plain', '', 'text', '--bb--', '']),
    );
    expect((await parseEmail(raw, limits)).problems).toEqual([
      'malformed: multipart boundary "b" is never closed (truncated message?)',
    ]);
  });

  it('flags a header section with lines that are not header fields', async () => {
    const raw = message(
      ['From: a@example.com', '\x01\x02 garbage without a colon', '::::', 'Subject: still read'],
      'body',
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.subject).toBe('still read');
    expect(parsed.text).toBe('body');
    expect(parsed.problems).toEqual(['malformed header section: 2 line(s) are not header fields']);
  });

  it.each([
    ['no From header', ['Subject: hi']],
    ['a From without an address', ['From: Just A Name', 'Subject: hi']],
    ['an empty group as From', ['From: undisclosed-recipients:;', 'Subject: hi']],
  ])('reports %s as no sender address', async (_name, headers) => {
    const parsed = await parseEmail(message(headers, 'body'), limits);
    expect(parsed.from).toBeNull();
    expect(parsed.problems).toEqual(['no sender address']);
    expect(parsed.text).toBe('body');
  });
});

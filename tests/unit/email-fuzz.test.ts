import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { automaticReason, readHeaderSection } from '../../channels/email/auto-reply.js';
import { parseEmail } from '../../channels/email/parse.js';
import { sanitizeEmailHtml } from '../../channels/email/sanitize.js';
import type { ParsedEmail } from '../../channels/email/types.js';

/*
 * Bad input at the email door, generated: whatever bytes arrive, parsing resolves (never throws) with a
 * well-typed result, so that the message can be stored raw and, where something could not be read, flagged
 * for a person. Sanitized HTML never keeps a script, an event handler or a javascript: URL.
 */

const limits = { maxAttachmentBytes: 64 * 1024, maxTotalAttachmentBytes: 256 * 1024 };

function expectWellFormed(parsed: ParsedEmail) {
  expect(typeof parsed.subject).toBe('string');
  expect(typeof parsed.text).toBe('string');
  expect(parsed.html === null || typeof parsed.html === 'string').toBe(true);
  for (const list of [parsed.to, parsed.cc, parsed.replyTo, parsed.attachments, parsed.problems])
    expect(Array.isArray(list)).toBe(true);
  for (const id of [...parsed.inReplyTo, ...parsed.references]) expect(id).toMatch(/^<.*>$/);
  if (parsed.messageId !== null) expect(parsed.messageId).toMatch(/^<.*>$/);
  for (const a of parsed.attachments) expect(a.content.length).toBeLessThanOrEqual(limits.maxAttachmentBytes);
}

const valid = [
  'From: "Ann Example" <ann@example.org>',
  'To: support@example.com',
  'Subject: =?UTF-8?B?w4ljb2xlIOKCrA==?= order',
  'Message-ID: <fuzz-1@example.org>',
  'References: <a@example.org> <b@example.org>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: multipart/alternative; boundary="b2"',
  '',
  '--b2',
  'Content-Type: text/plain; charset=iso-8859-1',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Caf=E9 au lait, s=27il vous pla=EEt.',
  '--b2',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p onclick="x()">Hello <img src="cid:logo@x"><script>alert(1)</script></p>',
  '--b2--',
  '--b1',
  'Content-Type: application/pdf; name="a.pdf"',
  'Content-Disposition: attachment; filename="a.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  'JVBERi0xLjQKJcOkw7zDtsOfCg==',
  '--b1--',
  '',
].join('\r\n');

describe('parseEmail under generated input', () => {
  it('resolves with a well-formed result for any bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        expectWellFormed(await parseEmail(Buffer.from(bytes), limits));
      }),
      { numRuns: 150 },
    );
  });

  it('resolves for any truncation or byte damage of a real multipart message', async () => {
    const base = Buffer.from(valid, 'utf8');
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: base.length }),
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 20,
        }),
        async (cut, flips) => {
          const damaged = Buffer.from(base.subarray(0, cut));
          for (const [at, value] of flips) if (at < damaged.length) damaged[at] = value;
          expectWellFormed(await parseEmail(damaged, limits));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('resolves for any header values, and reads the subject it was given', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 200 }),
        async (name, subject) => {
          const clean = (s: string) => s.replace(/[\r\n]/g, ' ');
          const raw = Buffer.from(
            [
              `From: ${clean(name)} <someone@example.org>`,
              `Subject: =?UTF-8?B?${Buffer.from(clean(subject), 'utf8').toString('base64')}?=`,
              '',
              'body',
              '',
            ].join('\r\n'),
            'utf8',
          );
          const parsed = await parseEmail(raw, limits);
          expectWellFormed(parsed);
          // Control characters and lone surrogates are not text a mail client would send.
          // eslint-disable-next-line no-control-regex -- exactly those characters are what is excluded
          if (clean(subject).trim() && !/[\u0000-\u001f\ufffd\ud800-\udfff]/.test(subject))
            expect(parsed.subject.trim()).toBe(clean(subject).trim());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('sanitizeEmailHtml under generated input', () => {
  const dangerous = fc.constantFrom(
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<svg onload=alert(1)>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<form action="https://evil.example"><input name=a></form>',
    '<a href="JaVaScRiPt:alert(1)">y</a>',
  );
  it('never keeps a script, an event handler or a javascript: URL, whatever surrounds it', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 100 }),
        dangerous,
        fc.string({ maxLength: 100 }),
        (before, bad, after) => {
          const out = sanitizeEmailHtml(`${before}${bad}${after}`).toLowerCase();
          expect(out).not.toMatch(/<script|<iframe|<svg|<form|\son\w+\s*=|javascript:/);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('automaticReason under generated headers', () => {
  it('never throws, and a message with none of the automatic headers is a person’s', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (value) => {
        const clean = value.replace(/[\r\n:]/g, ' ');
        const section = readHeaderSection(`X-Custom: ${clean}\r\nSubject: ${clean}\r\n\r\n`);
        expect(
          automaticReason(section.headers, { address: 'person@example.org' }, 'person@example.org'),
        ).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});

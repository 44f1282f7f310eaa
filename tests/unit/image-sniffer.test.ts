import { describe, expect, it } from 'vitest';
import { safeFileName, servingHeadersOf } from '../../src/interactions/attachments.service.js';
import { sniffImageType } from '../../src/interactions/image-sniffer.js';

/*
 * An upload's type is what its first bytes say, never its name or declared type: the four raster formats
 * are recognised from real headers, and pages, SVGs, truncated or look-alike headers are not images.
 */

const bytes = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const ihdr = bytes([0, 0, 0, 13], 'IHDR', [0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);

describe('sniffImageType', () => {
  it.each([
    ['PNG', bytes(pngSignature, ihdr), 'image/png'],
    ['JPEG (JFIF)', bytes([0xff, 0xd8, 0xff, 0xe0, 0, 16], 'JFIF'), 'image/jpeg'],
    ['JPEG (Exif)', bytes([0xff, 0xd8, 0xff, 0xe1, 0, 16], 'Exif'), 'image/jpeg'],
    ['GIF87a', bytes('GIF87a', [1, 0, 1, 0]), 'image/gif'],
    ['GIF89a', bytes('GIF89a', [1, 0, 1, 0]), 'image/gif'],
    ['WebP (lossy)', bytes('RIFF', [36, 0, 0, 0], 'WEBPVP8 '), 'image/webp'],
    ['WebP (lossless)', bytes('RIFF', [36, 0, 0, 0], 'WEBPVP8L'), 'image/webp'],
    ['WebP (extended)', bytes('RIFF', [36, 0, 0, 0], 'WEBPVP8X'), 'image/webp'],
  ])('recognises %s', (_name, content, type) => {
    expect(sniffImageType(content)).toBe(type);
  });

  it.each([
    ['an empty file', bytes()],
    ['an HTML page', bytes('<!doctype html><script>alert(1)</script>')],
    ['an SVG', bytes('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
    ['an SVG with an XML declaration', bytes('<?xml version="1.0"?><svg/>')],
    ['a PDF', bytes('%PDF-1.7\n')],
    ['a PNG signature alone', bytes(pngSignature)],
    ['a PNG signature whose first chunk is not IHDR', bytes(pngSignature, [0, 0, 0, 13], 'tEXt', [0, 0])],
    ['two bytes of JPEG', bytes([0xff, 0xd8])],
    ['GIF without its version', bytes('GIF8')],
    ['a RIFF that is not WebP (WAV)', bytes('RIFF', [36, 0, 0, 0], 'WAVEfmt ')],
    ['text that mentions a signature later', bytes('hello GIF89a')],
  ])('refuses %s', (_name, content) => {
    expect(sniffImageType(content)).toBeNull();
  });
});

describe('safe file names and serving headers', () => {
  it.each([
    ['../../etc/passwd', 'application/octet-stream', 'passwd'],
    ['C:\\Users\\ada\\scan.pdf', 'application/pdf', 'scan.pdf'],
    ['evil".html', 'text/html', 'evil.html'],
    ['line\r\nbreak.txt', 'text/plain', 'linebreak.txt'],
    ['..', 'text/plain', 'attachment'],
    ['page.html', 'image/png', 'page.png'],
    ['photo', 'image/jpeg', 'photo.jpg'],
    ['', 'image/gif', 'image.gif'],
    [`${'x'.repeat(300)}.webp`, 'image/webp', `${'x'.repeat(90)}.webp`],
  ])('%j (%s) is stored and served as %j', (name, type, expected) => {
    expect(safeFileName(name, type)).toBe(expected);
  });

  it('shows the four image types inline, and downloads anything else (SVG included)', () => {
    expect(servingHeadersOf({ fileName: 'a.png', contentType: 'image/png' })).toMatchObject({
      'content-type': 'image/png',
      'x-content-type-options': 'nosniff',
      'content-disposition': `inline; filename="a.png"; filename*=UTF-8''a.png`,
    });
    expect(servingHeadersOf({ fileName: 'logo.svg', contentType: 'image/svg+xml' })).toMatchObject({
      'content-type': 'image/svg+xml',
      'content-disposition': `attachment; filename="logo.svg"; filename*=UTF-8''logo.svg`,
    });
    // A stored type that is not a plain MIME type is not repeated to the browser.
    expect(servingHeadersOf({ fileName: 'x', contentType: 'text/html; charset=utf-8' })).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="x"; filename*=UTF-8''x`,
    });
    expect(servingHeadersOf({ fileName: "naïve (1)'s.pdf", contentType: 'application/pdf' })).toMatchObject({
      'content-disposition': `attachment; filename="na_ve (1)'s.pdf"; filename*=UTF-8''na%C3%AFve%20%281%29%27s.pdf`,
    });
  });
});

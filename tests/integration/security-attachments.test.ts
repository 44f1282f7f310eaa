import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBody } from '../support/fax-signing.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Attachments as GET /api/attachments/:id serves them (src/interactions/attachments.service.ts
 * servingHeadersOf), for files a customer sent (kept by a channel) and files an agent uploaded for a reply:
 * every answer has `X-Content-Type-Options: nosniff` and a sandboxing Content-Security-Policy; only the
 * raster image types browsers show safely (PNG, JPEG, GIF, WebP) are inline, everything else, HTML, SVG,
 * XHTML, scripts, XML, an unreadable type, is `Content-Disposition: attachment`; a file that claims to be
 * a PNG but holds a page is served as a PNG (never sniffed into a page); a hostile file name never breaks
 * out of the header. tests/integration/webchat-attachments.test.ts has the one HTML case with a path in its
 * name; this is the table.
 */

let ctx: TestContext;
let cookie: string;
let interactionId: string;

const page = Buffer.from('<html><body><script>window.__xss = 1</script></body></html>');
const svg = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><script>window.__xss=1</script></svg>',
);
// A 1×1 PNG.
const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

interface Case {
  name: string;
  fileName: string;
  contentType: string;
  content: Buffer;
  disposition: 'inline' | 'attachment';
  /** The type served. */
  servedType: string;
  /** The type served for an upload, when it differs (the upload keeps the MIME type busboy reads). */
  uploadedType?: string;
}

const cases: Case[] = [
  {
    name: 'HTML',
    fileName: 'invoice.html',
    contentType: 'text/html',
    content: page,
    disposition: 'attachment',
    servedType: 'text/html',
  },
  {
    name: 'SVG with script and onload',
    fileName: 'logo.svg',
    contentType: 'image/svg+xml',
    content: svg,
    disposition: 'attachment',
    servedType: 'image/svg+xml',
  },
  {
    name: 'XHTML',
    fileName: 'page.xhtml',
    contentType: 'application/xhtml+xml',
    content: page,
    disposition: 'attachment',
    servedType: 'application/xhtml+xml',
  },
  {
    name: 'JavaScript',
    fileName: 'app.js',
    contentType: 'text/javascript',
    content: Buffer.from('window.__xss=1'),
    disposition: 'attachment',
    servedType: 'text/javascript',
  },
  {
    name: 'XML',
    fileName: 'data.xml',
    contentType: 'text/xml',
    content: svg,
    disposition: 'attachment',
    servedType: 'text/xml',
  },
  {
    name: 'an unreadable type',
    fileName: 'x.bin',
    contentType: 'text/html; charset="x"<',
    content: page,
    disposition: 'attachment',
    servedType: 'application/octet-stream',
    uploadedType: 'text/html',
  },
  {
    name: 'a page that claims to be a PNG',
    fileName: 'photo.png',
    contentType: 'image/png',
    content: page,
    disposition: 'inline',
    servedType: 'image/png',
  },
  {
    name: 'a real PNG',
    fileName: 'photo.png',
    contentType: 'image/png',
    content: png,
    disposition: 'inline',
    servedType: 'image/png',
  },
  {
    name: 'a hostile file name',
    fileName: '<img src=x onerror=alert(1)>"\r\nX-Injected: 1.html',
    contentType: 'text/html',
    content: page,
    disposition: 'attachment',
    servedType: 'text/html',
  },
];

beforeAll(async () => {
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  // A supervisor may attach files to any open interaction (an agent only to their own).
  cookie = (await ctx.loginAs('supervisor')).cookie;
  interactionId = (
    await ctx.services.ingest({
      channel: 'email',
      externalId: `<${randomUUID()}@attachments.security>`,
      identities: [{ kind: 'email', value: 'mallory@attachments.security' }],
      text: 'files',
    })
  ).interactionId;
});
afterAll(() => ctx?.close());

/** A file a customer sent, kept by its channel (as email and chat keep theirs). */
async function customerFile(file: Case): Promise<string> {
  const id = randomUUID();
  await ctx.services.db
    .insertInto('attachment_contents')
    .values({ storage_key: id, content: file.content })
    .execute();
  await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@attachments.security>`,
    identities: [{ kind: 'email', value: 'mallory@attachments.security' }],
    text: 'see attached',
    attachments: [
      {
        id,
        storageKey: id,
        fileName: file.fileName,
        contentType: file.contentType,
        sizeBytes: file.content.length,
      },
    ],
  });
  return id;
}

/** A file an agent uploads for a reply. */
async function uploadedFile(file: Case): Promise<string> {
  const { body, contentType } = multipartBody({}, [
    { fieldName: 'file', fileName: file.fileName, contentType: file.contentType, content: file.content },
  ]);
  const response = await ctx.app.inject({
    method: 'POST',
    url: `/api/interactions/${interactionId}/attachments`,
    headers: { cookie, 'content-type': contentType },
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string }>().id;
}

describe.each([
  { source: 'sent by a customer', store: customerFile, isUpload: false },
  { source: 'uploaded by an agent', store: uploadedFile, isUpload: true },
])('an attachment $source', ({ store, isUpload }) => {
  it.each(cases)('$name', async (file) => {
    const id = await store(file);
    const response = await ctx.app.inject({
      method: 'GET',
      url: `/api/attachments/${id}`,
      headers: { cookie },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/(^|;\s*)sandbox(\s*;|$)/);
    expect(response.headers['content-type']).toBe((isUpload && file.uploadedType) || file.servedType);
    const disposition = String(response.headers['content-disposition']);
    expect(disposition.split(';')[0]).toBe(file.disposition);
    // The name stays inside its quotes: no quote, CR or LF from the file name, and no extra header.
    expect(disposition).toMatch(/^(inline|attachment); filename="[^"\r\n]*"; filename\*=UTF-8''[\w%.!~-]*$/);
    expect(response.headers['x-injected']).toBeUndefined();
    expect(response.rawPayload.equals(file.content)).toBe(true);
  });
});

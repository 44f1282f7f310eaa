import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ChatClientToServerEvents,
  ChatMessagePush,
  ChatServerToClientEvents,
  ChatSessionPush,
} from '../../channels/webchat/index.js';
import { writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { recorder } from '../support/wait-for.js';

/*
 * Images from web chat visitors, on a real Postgres and Redis with real socket.io-client visitors and real
 * HTTP uploads (fetch, multipart): an image is logged as the visitor's message with its attachment, shown
 * in the visitor's other tabs and after a reload, and served to agents and to its own visitor with safe
 * headers.
 *
 * What must never happen: an image over the limit, or a file that is not an image whatever its name and
 * declared type (a page renamed .png, an SVG), stored or logged; a visitor reading another conversation's
 * attachment; an attachment served to someone with no session or token; an attachment other than a plain
 * image served inline.
 */

const widgetOrigin = 'https://shop.example';
const maxBytes = 5 * 1024 * 1024;

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let url: string;
const sockets: { disconnect(): unknown }[] = [];

type Visitor = ClientSocket<ChatServerToClientEvents, ChatClientToServerEvents>;

beforeAll(async () => {
  rules = writeRulesFolder();
  ctx = await createTestContext({
    config: {
      routingRulesDir: rules.dir,
      routeOnIngest: false,
      webchat: {
        widgets: { shop: { allowedOrigins: [widgetOrigin], isIdentityRequired: false } },
        tokenSecret: undefined,
        maxMessageChars: 4000,
        rateLimitMessages: 50,
        rateLimitWindowMs: 10_000,
      },
      webchatImages: { maxBytes, types: ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] },
    },
  });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await ctx?.close();
  rules?.remove();
});

// --- files ---------------------------------------------------------------------------------------------

/** A real 1×1 PNG, padded inside an ancillary chunk to `size` bytes when asked. */
function png(size = 0): Buffer {
  const tiny = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
    'base64',
  );
  if (size <= tiny.length) return tiny;
  // Signature and IHDR stay first; the padding goes after them (a real decoder would skip it as an
  // unknown chunk with a bad CRC; the server never decodes).
  return Buffer.concat([tiny.subarray(0, 33), Buffer.alloc(size - tiny.length, 7), tiny.subarray(33)]);
}

const htmlAsPng = Buffer.from('<!doctype html><script>alert(document.cookie)</script>');
const svg = Buffer.from(
  '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
);

// --- helpers --------------------------------------------------------------------------------------------

/** A visitor's socket, open, with its session push (started: the pre-chat form sent). */
async function openVisitor(auth: Record<string, string> = { widgetId: 'shop' }) {
  const socket: Visitor = connectClient(`${url}/chat`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: { origin: widgetOrigin },
  });
  sockets.push(socket);
  const events = recorder(socket);
  const session = await events.next<ChatSessionPush>('chat:session');
  await socket.emitWithAck('chat:start', { name: 'Ada' });
  return { socket, events, session };
}

interface Upload {
  token?: string;
  content: Buffer;
  fileName?: string;
  type?: string;
  clientId?: string;
  origin?: string;
}

function upload({ token, content, fileName = 'photo.png', type = 'image/png', clientId, origin }: Upload) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(content)], { type }), fileName);
  const query = new URLSearchParams({
    widgetId: 'shop',
    clientId: clientId ?? randomBytes(6).toString('hex'),
  });
  return fetch(`${url}/chat/attachments?${query}`, {
    method: 'POST',
    headers: { origin: origin ?? widgetOrigin, ...(token && { authorization: `Bearer ${token}` }) },
    body: form,
  });
}

function readAsVisitor(id: string, token: string | undefined) {
  return fetch(`${url}/chat/attachments/${id}?widgetId=shop`, {
    headers: { origin: widgetOrigin, ...(token && { authorization: `Bearer ${token}` }) },
  });
}

interface Uploaded {
  id: string;
  interactionId: string;
  isDuplicate: boolean;
  attachments: { id: string; fileName: string; contentType: string; sizeBytes: number; url: string }[];
}

const countRows = async (table: 'attachments' | 'attachment_contents') =>
  Number(
    (
      await ctx.services.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

async function messagesOf(interactionId: string) {
  const { events } = await ctx.services.interactions.detail(interactionId);
  return events.filter((e) => e.type === 'message.received');
}

// --- tests ----------------------------------------------------------------------------------------------

describe('a visitor sends an image', () => {
  it('is logged as their message with its attachment, shown in their other tabs and after a reload', async () => {
    const { socket, session } = await openVisitor();
    const text = await socket.emitWithAck('message:send', { clientId: 'text-1', text: 'Here is the damage' });
    expect(text).toMatchObject({ ok: true });
    const otherTab = await openVisitor({ widgetId: 'shop', token: session.token });
    expect(session.imageLimits).toEqual({
      maxBytes,
      types: ['image/png', 'image/jpeg', 'image/gif', 'image/webp'],
    });

    const content = png();
    const response = await upload({
      token: session.token,
      content,
      fileName: '../../dent 1.html',
      clientId: 'img-1',
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Uploaded;
    expect(body).toMatchObject({
      isDuplicate: false,
      interactionId: (text as { interactionId: string }).interactionId,
    });
    const [attachment] = body.attachments;
    expect(attachment).toMatchObject({
      contentType: 'image/png',
      sizeBytes: content.length,
      fileName: 'dent 1.png',
    });
    expect(attachment!.url).toBe(`/chat/attachments/${attachment!.id}`);

    // In the log: the text, then the image, as the visitor's messages on one interaction.
    const messages = await messagesOf(body.interactionId);
    expect(messages.map((m) => m.payload.text ?? null)).toEqual(['Here is the damage', null]);
    expect(messages[1]!.payload.attachments).toEqual([
      { id: attachment!.id, fileName: 'dent 1.png', contentType: 'image/png', sizeBytes: content.length },
    ]);
    const row = await ctx.services.db
      .selectFrom('attachments')
      .selectAll()
      .where('storage_key', '=', attachment!.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      interaction_id: body.interactionId,
      event_id: body.id,
      content_type: 'image/png',
    });

    // The visitor's other tab shows it; a reload lists it with the conversation.
    const pushed = await otherTab.events.next<ChatMessagePush>('message', (m) => m.clientId === 'img-1');
    expect(pushed).toMatchObject({ from: 'visitor', attachments: [{ id: attachment!.id }] });
    const reloaded = await openVisitor({ widgetId: 'shop', token: session.token });
    expect(reloaded.session.messages.find((m) => m.clientId === 'img-1')).toMatchObject({
      id: body.id,
      attachments: [attachment],
    });

    // The visitor reads it back with their token: the very bytes, with safe headers, readable cross-origin.
    const read = await readAsVisitor(attachment!.id, session.token);
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer()).equals(content)).toBe(true);
    expect(read.headers.get('content-type')).toBe('image/png');
    expect(read.headers.get('x-content-type-options')).toBe('nosniff');
    expect(read.headers.get('content-disposition')).toBe(
      `inline; filename="dent 1.png"; filename*=UTF-8''dent%201.png`,
    );
    expect(read.headers.get('access-control-allow-origin')).toBe(widgetOrigin);

    // A resend of the same upload (a lost answer) is a duplicate: the first image, nothing new stored.
    const before = await countRows('attachment_contents');
    const again = await upload({ token: session.token, content, clientId: 'img-1' });
    expect(again.status).toBe(201);
    expect(await again.json()).toMatchObject({ id: body.id, isDuplicate: true, attachments: [attachment] });
    expect(await countRows('attachment_contents')).toBe(before);
  });

  it('is served to an agent with a session, and to nobody without one (401)', async () => {
    const { session } = await openVisitor();
    const content = png();
    const { attachments } = (await (await upload({ token: session.token, content })).json()) as Uploaded;
    const id = attachments[0]!.id;
    const { cookie } = await ctx.loginAs('agent');

    const read = await ctx.app.inject({ method: 'GET', url: `/api/attachments/${id}`, headers: { cookie } });
    expect(read.statusCode).toBe(200);
    expect(read.rawPayload.equals(content)).toBe(true);
    expect(read.headers).toMatchObject({
      'content-type': 'image/png',
      'x-content-type-options': 'nosniff',
      'content-disposition': `inline; filename="photo.png"; filename*=UTF-8''photo.png`,
      'content-security-policy': "default-src 'none'; sandbox",
    });

    for (const method of ['GET', 'HEAD'] as const) {
      const anonymous = await ctx.app.inject({ method, url: `/api/attachments/${id}` });
      expect(anonymous.statusCode).toBe(401);
    }
    const unknown = await ctx.app.inject({
      method: 'GET',
      url: `/api/attachments/${randomUUID()}`,
      headers: { cookie },
    });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('refusals', () => {
  it('refuses an image over the limit (413), stores nothing, and keeps the rest of the chat', async () => {
    const { socket, session } = await openVisitor();
    const sent = await socket.emitWithAck('message:send', { clientId: 'before', text: 'photo coming' });
    const rows = [await countRows('attachments'), await countRows('attachment_contents')];

    for (const size of [maxBytes + 1, maxBytes * 3]) {
      const response = await upload({ token: session.token, content: png(size) });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({
        error: { code: 'PAYLOAD_TOO_LARGE', message: 'An image is at most 5 MB.' },
      });
      // The widget can read the refusal from the shop's page.
      expect(response.headers.get('access-control-allow-origin')).toBe(widgetOrigin);
    }
    expect([await countRows('attachments'), await countRows('attachment_contents')]).toEqual(rows);

    // What the visitor wrote is logged; the conversation goes on, and an image at the limit passes.
    const messages = await messagesOf((sent as { interactionId: string }).interactionId);
    expect(messages.map((m) => m.payload.text)).toEqual(['photo coming']);
    expect(
      await socket.emitWithAck('message:send', { clientId: 'after', text: 'smaller one' }),
    ).toMatchObject({
      ok: true,
    });
    expect((await upload({ token: session.token, content: png(maxBytes) })).status).toBe(201);
  });

  it.each([
    ['a page renamed .png', htmlAsPng, 'invoice.png', 'image/png'],
    ['an SVG', svg, 'logo.svg', 'image/svg+xml'],
    ['an SVG declared as PNG', svg, 'logo.png', 'image/png'],
    ['an empty file', Buffer.alloc(0), 'empty.png', 'image/png'],
  ])(
    'refuses %s (415) by its content, whatever its name and declared type',
    async (_what, content, fileName, type) => {
      const { session } = await openVisitor();
      const rows = [await countRows('attachments'), await countRows('attachment_contents')];
      const response = await upload({ token: session.token, content, fileName, type });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({
        error: {
          code: 'ATTACHMENT_TYPE_NOT_ALLOWED',
          message: 'Only PNG, JPEG, GIF or WebP images can be sent.',
        },
      });
      expect([await countRows('attachments'), await countRows('attachment_contents')]).toEqual(rows);
    },
  );

  it('refuses an upload with no known conversation (401) or from a site the widget does not allow (403)', async () => {
    const { session } = await openVisitor();
    expect((await upload({ content: png() })).status).toBe(401);
    expect(
      (await upload({ token: `${session.conversationId}.${'A'.repeat(43)}`, content: png() })).status,
    ).toBe(401);
    const foreign = await upload({ token: session.token, content: png(), origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers the browser preflight for the widget’s sites only', async () => {
    const preflight = (origin: string) =>
      fetch(`${url}/chat/attachments`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
      });
    const allowed = await preflight(widgetOrigin);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(widgetOrigin);
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization');
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('who may read an attachment', () => {
  it('is its own visitor only: another visitor gets 404, no token 401', async () => {
    const owner = await openVisitor();
    const { attachments } = (await (
      await upload({ token: owner.session.token, content: png() })
    ).json()) as Uploaded;
    const id = attachments[0]!.id;
    const stranger = await openVisitor();

    expect((await readAsVisitor(id, stranger.session.token)).status).toBe(404);
    expect((await readAsVisitor(id, undefined)).status).toBe(401);
    expect((await readAsVisitor(id, owner.session.token)).status).toBe(200);
  });

  it('serves anything but a plain image as a download under a safe name', async () => {
    // An email attachment whose bytes the core keeps: a page, with a hostile name.
    const id = randomUUID();
    const content = Buffer.from('<script>alert(1)</script>');
    await ctx.services.db.insertInto('attachment_contents').values({ storage_key: id, content }).execute();
    await ctx.services.ingest({
      channel: 'email',
      externalId: `<${randomUUID()}@attachments.test>`,
      identities: [{ kind: 'email', value: 'mallory@attachments.test' }],
      text: 'see attached',
      attachments: [
        {
          id,
          storageKey: id,
          fileName: '../../etc/"évil"\r\n.html',
          contentType: 'text/html',
          sizeBytes: content.length,
        },
      ],
    });
    const { cookie } = await ctx.loginAs('agent');
    const read = await ctx.app.inject({ method: 'GET', url: `/api/attachments/${id}`, headers: { cookie } });
    expect(read.statusCode).toBe(200);
    expect(read.headers).toMatchObject({
      'content-type': 'text/html',
      'x-content-type-options': 'nosniff',
      'content-disposition': `attachment; filename="_vil.html"; filename*=UTF-8''%C3%A9vil.html`,
    });
  });
});

import { createHash, randomUUID } from 'node:crypto';
import type {
  AttachmentWithContent,
  AttachmentsRepository,
} from '../db/repositories/attachments.repository.js';
import { AppError } from '../errors.js';
import { imageTypes, isImageType } from './image-sniffer.js';
import type { InboundAttachment } from './inbound-contact.js';

/*
 * Attachments whose bytes the core keeps (in Postgres): an adapter keeps the bytes, hands ingest the
 * attachment it gets back (its `id` goes into the message.received payload), and discards the bytes if the
 * contact was not logged. Reading one back is by that id; who may read it is the caller's to decide (the
 * /api route: any agent; a channel: its own customer).
 */

export type { AttachmentWithContent } from '../db/repositories/attachments.repository.js';

/** An attachment whose bytes the core keeps: `id` and `storageKey` are the same key. */
export type KeptAttachment = InboundAttachment & { id: string };

/** What a file kept under a new key is: its safe name, type, size and digest. */
function describe(
  content: Buffer,
  file: { fileName: string; contentType: string },
): KeptAttachment & { sha256: string } {
  const storageKey = randomUUID();
  return {
    id: storageKey,
    storageKey,
    fileName: safeFileName(file.fileName, file.contentType),
    contentType: file.contentType,
    sizeBytes: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
  };
}

export function createAttachmentsService(deps: { attachments: AttachmentsRepository }) {
  return {
    /** Stores the bytes under a new key. The file name is made safe here; the type is the caller's word. */
    async keep(content: Buffer, file: { fileName: string; contentType: string }): Promise<KeptAttachment> {
      const kept = describe(content, file);
      await deps.attachments.saveContent(kept.storageKey, content);
      return kept;
    },

    /** Stores many files in one statement (a batch of emails); the same as keep() for each, in order. */
    async keepMany(
      files: readonly { content: Buffer; fileName: string; contentType: string }[],
    ): Promise<KeptAttachment[]> {
      const kept = files.map((file) => describe(file.content, file));
      await deps.attachments.saveContents(
        kept.map((k, i) => ({ storageKey: k.storageKey, content: files[i]!.content })),
      );
      return kept;
    },

    /** keepMany's undo: drops those of the kept bytes that no logged attachment names. */
    async discardMany(attachments: readonly KeptAttachment[]): Promise<void> {
      await deps.attachments.deleteUnreferencedContents(attachments.map((a) => a.storageKey));
    },

    /** Drops kept bytes that no logged attachment names (the contact was refused, or was a duplicate). */
    async discard(attachment: KeptAttachment): Promise<void> {
      await deps.attachments.deleteUnreferencedContent(attachment.storageKey);
    },

    /** Keeps a file an agent attaches to a reply not yet sent (see outbound.service.ts reply). */
    async keepDraft(
      interactionId: string,
      content: Buffer,
      file: { fileName: string; contentType: string },
    ): Promise<KeptAttachment> {
      const kept = describe(content, file);
      await deps.attachments.saveContent(kept.storageKey, content);
      await deps.attachments.addDraft({ interactionId, ...kept });
      return kept;
    },

    async open(id: string): Promise<AttachmentWithContent> {
      const attachment = await deps.attachments.findWithContent(id);
      if (!attachment) throw new AppError('ATTACHMENT_NOT_FOUND');
      return attachment;
    },
  };
}

export type AttachmentsService = ReturnType<typeof createAttachmentsService>;

const mimeType = /^[a-z0-9][\w.+-]{0,126}\/[a-z0-9][\w.+-]{0,126}$/i;

/**
 * A file name safe to store and to put in a Content-Disposition header: no folders, control characters,
 * quotes or backslashes, at most 100 characters, and for an image the extension of its real type (a
 * `page.html` that is a PNG is served as `page.png`).
 */
export function safeFileName(name: string, contentType: string): string {
  const base = (name.split(/[/\\]/).pop() ?? '')
    // eslint-disable-next-line no-control-regex -- control characters are what is removed
    .replace(/[\u0000-\u001f\u007f"\\]/g, '')
    .replace(/^[.\s]+|[.\s]+$/g, '');
  const type = contentType.toLowerCase();
  if (!isImageType(type)) return [...(base || 'attachment')].slice(0, 100).join('');
  const extension = imageTypes[type];
  const stem = base.replace(/\.[^.]{1,10}$/, '') || 'image';
  return `${[...stem].slice(0, 90).join('')}.${extension}`;
}

/**
 * The headers an attachment is served with: its stored type (application/octet-stream when that is not a
 * plain MIME type), never sniffed by the browser; inline only for the image types browsers show safely
 * (PNG, JPEG, GIF, WebP: never SVG), a download otherwise; and a sandbox, so that even a file a browser
 * would render as a page runs nothing.
 */
export function servingHeadersOf(attachment: { fileName: string; contentType: string }) {
  const type = attachment.contentType.toLowerCase();
  const isInline = isImageType(type);
  const fileName = safeFileName(attachment.fileName, type);
  // The plain-ASCII name for old clients, and the exact one (RFC 5987) for the rest.
  const asciiName = fileName.replace(/[^\x20-\x7e]/g, '_');
  const encodedName = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  const disposition = isInline ? 'inline' : 'attachment';
  return {
    'content-type': mimeType.test(type) ? type : 'application/octet-stream',
    'x-content-type-options': 'nosniff',
    'content-disposition': `${disposition}; filename="${asciiName}"; filename*=UTF-8''${encodedName}`,
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, max-age=3600',
    // Not for other sites' <img> tags (a CORS fetch, as the widget's, is not concerned).
    'cross-origin-resource-policy': 'same-origin',
  };
}

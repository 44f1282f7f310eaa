/*
 * The attachments of a customer's message, as its log event lists them (`payload.attachments`). One the
 * server keeps (it has an `id`) is fetched from `GET /api/attachments/:id` with the session cookie: a PNG,
 * JPEG, GIF or WebP as a thumbnail that opens the full image in a new tab, anything else as a download
 * link. One without an id (stored elsewhere) is only named. File names are rendered as text.
 */

interface ListedAttachment {
  id?: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
}

const inlineTypes = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** The attachments a payload lists, ignoring anything malformed. */
function attachmentsOf(value: unknown): ListedAttachment[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    if (typeof item !== 'object' || item === null) return [];
    const a = item as Record<string, unknown>;
    if (typeof a.fileName !== 'string' || typeof a.contentType !== 'string') return [];
    return [
      {
        ...(typeof a.id === 'string' && { id: a.id }),
        fileName: a.fileName,
        contentType: a.contentType,
        sizeBytes: typeof a.sizeBytes === 'number' ? a.sizeBytes : 0,
      },
    ];
  });
}

export const hasAttachments = (payload: Record<string, unknown>) =>
  attachmentsOf(payload.attachments).length > 0;

function size(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

export function AttachmentView({ attachments }: { attachments: unknown }) {
  const listed = attachmentsOf(attachments);
  if (listed.length === 0) return null;
  return (
    <ul
      class="attachments"
      data-testid="attachments"
      style={{ listStyle: 'none', margin: '4px 0', padding: 0 }}
    >
      {listed.map((attachment, i) => {
        const label = `${attachment.fileName} (${size(attachment.sizeBytes)})`;
        if (!attachment.id)
          return (
            <li key={i} class="attachment muted">
              {label}
            </li>
          );
        const href = `/api/attachments/${encodeURIComponent(attachment.id)}`;
        const isImage = inlineTypes.has(attachment.contentType);
        return (
          <li key={attachment.id} class="attachment" data-testid="attachment">
            {isImage ? (
              <a href={href} target="_blank" rel="noopener noreferrer" title={`Open ${label}`}>
                <img
                  src={href}
                  alt={attachment.fileName}
                  loading="lazy"
                  data-testid="attachment-image"
                  style={{
                    display: 'block',
                    maxWidth: '240px',
                    maxHeight: '180px',
                    borderRadius: '4px',
                    border: '1px solid var(--line)',
                  }}
                />
              </a>
            ) : (
              <a href={href} download={attachment.fileName} data-testid="attachment-download">
                {label}
              </a>
            )}
          </li>
        );
      })}
    </ul>
  );
}

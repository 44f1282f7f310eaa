import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LoggedEvent } from '../api.js';
import { clock } from '../format.js';
import { fileSize, filesOf, type ListedFile } from './email-message.js';

/*
 * A fax as agents read it: who sent it (number, the machine's station id), to which of our numbers, how many
 * pages, through which provider, and whether all of it arrived (a partial or failed fax, and the problems a
 * person should know, in a warning); the pages as a strip of thumbnails that open a viewer (Escape closes,
 * arrows turn the pages); the text read from each page behind a "Text" toggle; the PDF and the original file
 * (TIFF or PDF) as downloads. The payload is the fax channel's `message.received`: `details.fax` as below,
 * `text` with the pages separated by form feeds, `attachments` naming the files, all fetched from
 * `GET /api/attachments/:id` with the session cookie. Everything the sender chose (numbers, station id, the
 * text read from the pages, file names) is rendered as JSX text.
 */

export type FaxOutcome = 'received' | 'partial' | 'failed';

export interface FaxPage {
  number: number;
  /** The PNG preview's attachment id. */
  imageId: string;
  width: number | null;
  height: number | null;
}

/** `details.fax` of a fax's message.received, read defensively (an older event may have less). */
export interface FaxDetails {
  provider: string | null;
  outcome: FaxOutcome;
  from: string | null;
  to: string | null;
  stationId: string | null;
  pageCount: number | null;
  /** Attachment id of the PDF. */
  documentId: string | null;
  /** Attachment id of the file as the provider gave it (TIFF or PDF). */
  originalId: string | null;
  pages: FaxPage[];
  textEngine: 'tesseract' | 'pdftotext' | 'mixed' | null;
  problems: string[];
  error: { code: string | null; message: string | null } | null;
}

const str = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);
const num = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

const outcomes: readonly FaxOutcome[] = ['received', 'partial', 'failed'];
const engines = ['tesseract', 'pdftotext', 'mixed'] as const;

/**
 * The fax facts of a message, or what can be made of its attachments when it has none: the PNG files as
 * its pages (a fax logged before the channel wrote `details.fax`).
 */
export function faxDetailsOf(payload: Record<string, unknown>): FaxDetails {
  const fax = record(record(payload.details).fax);
  const files = filesOf(payload.attachments);
  const listedPages = Array.isArray(fax.pages)
    ? fax.pages.flatMap((item: unknown, i): FaxPage[] => {
        const page = record(item);
        const imageId = str(page.imageId);
        return imageId
          ? [{ number: num(page.number) ?? i + 1, imageId, width: num(page.width), height: num(page.height) }]
          : [];
      })
    : [];
  const pages =
    listedPages.length > 0 || Object.keys(fax).length > 0
      ? listedPages
      : files
          .filter((file) => file.id && file.contentType === 'image/png')
          .map((file, i) => ({ number: i + 1, imageId: file.id!, width: null, height: null }));
  const error = record(fax.error);
  const outcome = outcomes.find((o) => o === fax.outcome) ?? 'received';
  return {
    provider: str(fax.provider),
    outcome,
    from: str(fax.from),
    to: str(fax.to),
    stationId: str(fax.stationId),
    pageCount: typeof fax.pageCount === 'number' ? fax.pageCount : null,
    documentId: str(fax.documentId),
    originalId: str(fax.originalId),
    pages,
    textEngine: engines.find((e) => e === fax.textEngine) ?? null,
    problems: Array.isArray(fax.problems)
      ? fax.problems.filter((p): p is string => typeof p === 'string' && p !== '')
      : [],
    error:
      str(error.code) || str(error.message) ? { code: str(error.code), message: str(error.message) } : null,
  };
}

/** The text of each page: the fax's text split at its form feeds. */
export const pageTexts = (text: string | null): string[] => (text ? text.split('\f') : []);

const providerNames: Record<string, string> = {
  signalwire: 'SignalWire',
  telnyx: 'Telnyx',
  phaxio: 'Phaxio',
  hylafax: 'HylaFAX',
  email: 'fax-to-email gateway',
};

const outcomeLabels: Record<FaxOutcome, string> = {
  received: 'Received',
  partial: 'Partial fax',
  failed: 'Fax failed',
};

const textLabels = {
  tesseract: 'Text (OCR)',
  mixed: 'Text (PDF and OCR)',
  pdftotext: 'Text (from the PDF)',
} as const;

const attachmentUrl = (id: string) => `/api/attachments/${encodeURIComponent(id)}`;

/** Letter at fax resolution: the shape a page without its size is drawn in until it loads. */
const defaultPageSize = { width: 1728, height: 2200 };

/** What a file is, by its type, for its download link: "PDF", "TIFF". */
function kindOf(file: ListedFile): string {
  const subtype = file.contentType.split('/')[1]?.split(';')[0] ?? '';
  return subtype.replace(/^x-/, '').toUpperCase() || 'file';
}

// --- the message ------------------------------------------------------------------------------------

/** A customer's fax in the timeline (a `message.received` event of the fax channel). */
export function FaxMessage({ event }: { event: LoggedEvent }) {
  const { payload } = event;
  const fax = faxDetailsOf(payload);
  const texts = pageTexts(str(payload.text));
  const total = Math.max(fax.pageCount ?? 0, fax.pages.length);
  const needsAttention =
    fax.outcome !== 'received' || fax.problems.length > 0 || record(payload.hints).needsAttention === true;
  // The channel usually words the provider's reason into a problem already: not said twice.
  const error =
    fax.error && !fax.problems.some((problem) => fax.error?.message && problem.includes(fax.error.message))
      ? fax.error
      : null;
  const [viewing, setViewing] = useState<number | null>(null);
  const thumbs = useRef<(HTMLButtonElement | null)[]>([]);

  const closeViewer = () => {
    const index = viewing;
    setViewing(null);
    // Back to the page it was on, so that the keyboard continues from there.
    if (index !== null) thumbs.current[index]?.focus();
  };

  return (
    <li
      class={`entry message inbound fax${needsAttention ? ' needs-attention' : ''}`}
      data-type={event.type}
      data-testid="fax-message"
      data-outcome={fax.outcome}
    >
      <header>
        <span class="who">Fax from {fax.from ?? fax.stationId ?? 'an unknown number'}</span> · fax ·{' '}
        <time dateTime={event.occurredAt}>{clock(event.occurredAt)}</time>
      </header>
      {needsAttention && (
        <div class="badge badge-attention" role="note" data-testid="fax-needs-attention">
          <strong data-testid="fax-outcome">
            {fax.outcome === 'received' ? 'Needs attention' : outcomeLabels[fax.outcome]}
          </strong>
          {fax.problems.length > 0 || error ? (
            <ul>
              {fax.problems.map((problem, i) => (
                <li key={i} data-testid="fax-problem">
                  {problem}
                </li>
              ))}
              {error && (
                <li data-testid="fax-error">
                  The provider said: {error.message ?? 'no reason given'}
                  {error.code ? ` (${error.code})` : ''}
                </li>
              )}
            </ul>
          ) : (
            ' something went wrong reading this fax: check the original.'
          )}
        </div>
      )}
      <dl class="fax-facts" data-testid="fax-facts">
        <Fact label="From" testId="fax-from">
          {fax.from ?? <span class="muted">number withheld</span>}
        </Fact>
        {fax.stationId && (
          <Fact label="Station" testId="fax-station">
            {fax.stationId}
          </Fact>
        )}
        {fax.to && (
          <Fact label="To" testId="fax-to">
            {fax.to}
          </Fact>
        )}
        <Fact label="Pages" testId="fax-page-count">
          {total > 0 ? total : <span class="muted">none</span>}
        </Fact>
        {fax.provider && (
          <Fact label="Via" testId="fax-provider">
            {providerNames[fax.provider] ?? fax.provider}
          </Fact>
        )}
      </dl>
      {fax.pages.length > 0 && (
        <ol class="fax-pages" aria-label="Pages" data-testid="fax-pages">
          {fax.pages.map((page, i) => (
            <li key={page.imageId}>
              <button
                type="button"
                class="fax-thumb"
                data-testid="fax-page"
                ref={(element) => {
                  thumbs.current[i] = element;
                }}
                onClick={() => setViewing(i)}
              >
                <img
                  src={attachmentUrl(page.imageId)}
                  alt={`Fax page ${page.number} of ${total}`}
                  width={page.width ?? defaultPageSize.width}
                  height={page.height ?? defaultPageSize.height}
                  loading="lazy"
                  decoding="async"
                  data-testid="fax-page-image"
                />
                <span class="fax-page-number" aria-hidden="true">
                  {page.number}
                </span>
              </button>
            </li>
          ))}
        </ol>
      )}
      <FaxText texts={texts} pages={fax.pages} engine={fax.textEngine} />
      <FaxFiles fax={fax} files={filesOf(payload.attachments)} />
      {viewing !== null && fax.pages[viewing] && (
        <FaxViewer
          pages={fax.pages}
          total={total}
          texts={texts}
          textLabel={fax.textEngine ? textLabels[fax.textEngine] : 'Text'}
          index={viewing}
          onIndex={setViewing}
          onClose={closeViewer}
        />
      )}
    </li>
  );
}

function Fact(props: { label: string; testId: string; children: ComponentChildren }) {
  return (
    <div data-testid={props.testId}>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

/** The text read from the pages, page by page, behind a toggle (it is a machine's reading of the images). */
function FaxText(props: { texts: string[]; pages: FaxPage[]; engine: FaxDetails['textEngine'] }) {
  const label = props.engine ? textLabels[props.engine] : 'Text';
  if (props.texts.every((text) => !text.trim()))
    return (
      <p class="fax-no-text muted" data-testid="fax-no-text">
        No text could be read from this fax.
      </p>
    );
  return (
    <details class="fax-text" data-testid="fax-text">
      <summary data-testid="fax-text-toggle">
        {label}{' '}
        <span class="muted">
          · {props.texts.length} {props.texts.length === 1 ? 'page' : 'pages'}
        </span>
      </summary>
      {props.texts.map((text, i) => (
        <section key={i} class="fax-page-text" data-testid="fax-page-text">
          {props.texts.length > 1 && <h4>Page {props.pages[i]?.number ?? i + 1}</h4>}
          {text.trim() ? <p class="body">{text.trim()}</p> : <p class="body muted">(no text on this page)</p>}
        </section>
      ))}
    </details>
  );
}

/** The PDF and the original as downloads, and any other file the fax came with. */
function FaxFiles({ fax, files }: { fax: FaxDetails; files: ListedFile[] }) {
  const pageIds = new Set(fax.pages.map((page) => page.imageId));
  const document =
    files.find((file) => file.id === fax.documentId) ??
    (fax.documentId ? null : (files.find((file) => file.contentType === 'application/pdf') ?? null));
  const original = fax.originalId ? (files.find((file) => file.id === fax.originalId) ?? null) : null;
  const others = files.filter(
    (file) => file !== document && file !== original && !pageIds.has(file.id ?? ''),
  );
  if (!document && !original && others.length === 0) return null;
  return (
    <p class="fax-files">
      {document?.id && (
        <span>
          <a href={attachmentUrl(document.id)} download={document.fileName} data-testid="fax-download-pdf">
            Download PDF
          </a>{' '}
          <span class="muted">{fileSize(document.sizeBytes)}</span>
        </span>
      )}
      {original?.id && original !== document && (
        <span>
          <a
            href={attachmentUrl(original.id)}
            download={original.fileName}
            data-testid="fax-download-original"
          >
            Original ({kindOf(original)})
          </a>{' '}
          <span class="muted">{fileSize(original.sizeBytes)}</span>
        </span>
      )}
      {others.map((file, i) => (
        <span key={file.id ?? i} data-testid="fax-file">
          {file.id ? (
            <a href={attachmentUrl(file.id)} download={file.fileName}>
              {file.fileName}
            </a>
          ) : (
            file.fileName
          )}{' '}
          <span class="muted">{fileSize(file.sizeBytes)}</span>
        </span>
      ))}
    </p>
  );
}

// --- the viewer -------------------------------------------------------------------------------------

/**
 * One page large, in a modal dialog (the browser's own: focus stays inside, the rest of the console is
 * inert): previous and next, ← and → (Home and End for the first and last), Escape or Close to leave; the
 * page's text beside it.
 */
function FaxViewer(props: {
  pages: FaxPage[];
  total: number;
  texts: string[];
  textLabel: string;
  index: number;
  onIndex: (index: number) => void;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const { pages, index } = props;
  const page = pages[index]!;
  const text = props.texts[index]?.trim() ?? '';
  const title = `Fax page ${page.number} of ${props.total}`;
  const go = (to: number) => props.onIndex(Math.min(Math.max(to, 0), pages.length - 1));

  // Closed here first, so that the console can put the focus back on the page's thumbnail (the browser
  // would put it back on the one that opened the viewer).
  const isClosing = useRef(false);
  const close = () => {
    isClosing.current = true;
    dialog.current?.close();
    props.onClose();
  };

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => {
      isClosing.current = true;
      element?.close();
    };
  }, []);

  // The page shown now, read by the key listener: effects run after paint, so a listener that closed over
  // `index` could, between a render and its effect, answer a key press for the page before (two steps back
  // on a busy machine).
  const shown = useRef(index);
  shown.current = index;

  // On the window, not the dialog: a button that just became disabled (the last page's Next) drops the focus
  // to the page's body, whose keys the dialog would not see.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const index = shown.current;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const to =
        event.key === 'ArrowRight' || event.key === 'PageDown'
          ? index + 1
          : event.key === 'ArrowLeft' || event.key === 'PageUp'
            ? index - 1
            : event.key === 'Home'
              ? 0
              : event.key === 'End'
                ? pages.length - 1
                : null;
      if (to === null) return;
      event.preventDefault();
      go(to);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [pages.length, props.onIndex]);

  return (
    <dialog
      ref={dialog}
      class="fax-viewer"
      aria-label={title}
      data-testid="fax-viewer"
      // Escape: the browser cancels the dialog; the console decides what closes.
      onCancel={(e) => {
        e.preventDefault();
        close();
      }}
      // Closed by the browser without a cancel (a second Escape without a click in between, in Chrome).
      onClose={() => {
        if (!isClosing.current) props.onClose();
      }}
    >
      <div class="fax-viewer-bar">
        <strong data-testid="fax-viewer-title" aria-live="polite">
          {title}
        </strong>
        <button
          type="button"
          data-testid="fax-viewer-previous"
          disabled={index === 0}
          onClick={() => go(index - 1)}
        >
          ← Previous
        </button>
        <button
          type="button"
          data-testid="fax-viewer-next"
          disabled={index === pages.length - 1}
          onClick={() => go(index + 1)}
        >
          Next →
        </button>
        <a href={attachmentUrl(page.imageId)} target="_blank" rel="noopener noreferrer">
          Open in a new tab
        </a>
        <button type="button" class="fax-viewer-close" data-testid="fax-viewer-close" onClick={close}>
          Close <kbd>Esc</kbd>
        </button>
      </div>
      <div class="fax-viewer-body">
        <img
          key={page.imageId}
          src={attachmentUrl(page.imageId)}
          alt={title}
          width={page.width ?? defaultPageSize.width}
          height={page.height ?? defaultPageSize.height}
          data-testid="fax-viewer-image"
        />
        {text && (
          <section class="fax-viewer-text" aria-label={`${props.textLabel}, page ${page.number}`}>
            <h3>{props.textLabel}</h3>
            <p class="body" data-testid="fax-viewer-text">
              {text}
            </p>
          </section>
        )}
      </div>
    </dialog>
  );
}

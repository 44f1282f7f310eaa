import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Interaction, LoggedEvent } from '../api.js';
import { clock } from '../format.js';

/*
 * An email as agents read it: who wrote to whom (From, To, Cc, date, subject), the body, the files, and
 * what a person should know about it (problems found reading it, why it is automatic, files left out, why
 * it was put in this conversation). The payload is the email channel's `message.received` (src/events.ts):
 * `html` is sanitized by the server (channels/email/sanitize.ts: nothing that runs; remote images carry
 * their URL in `data-remote-src` instead of `src`; inline images point at /api/attachments/<id>).
 *
 * The HTML is shown in an iframe (`EmailFrame`) for defence in depth and for CSS isolation: the mail's
 * styles cannot reach the console and the console's cannot reach the mail. Everything else the customer
 * wrote (names, addresses, subject, text, file names) is rendered as JSX text, never as HTML.
 */

export interface EmailAddress {
  address: string;
  name?: string;
}

export interface ListedFile {
  id?: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
}

const str = (value: unknown): string | null => (typeof value === 'string' && value ? value : null);
const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v !== '') : [];

function addressOf(value: unknown): EmailAddress | null {
  const a = record(value);
  const address = str(a.address);
  if (!address) return null;
  const name = str(a.name);
  return name ? { address, name } : { address };
}

export const addressesOf = (value: unknown): EmailAddress[] =>
  Array.isArray(value) ? value.map(addressOf).filter((a): a is EmailAddress => a !== null) : [];

export const formatAddress = (a: EmailAddress) => (a.name ? `${a.name} <${a.address}>` : a.address);

/** The files a payload lists, ignoring anything malformed. */
export function filesOf(value: unknown): ListedFile[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    const a = record(item);
    const fileName = str(a.fileName);
    const contentType = str(a.contentType);
    if (!fileName || !contentType) return [];
    return [
      {
        ...(str(a.id) && { id: str(a.id)! }),
        fileName,
        contentType,
        sizeBytes: typeof a.sizeBytes === 'number' ? a.sizeBytes : 0,
      },
    ];
  });
}

export function fileSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

const attachmentUrl = (id: string) => `/api/attachments/${encodeURIComponent(id)}`;

/** The raw message the email channel keeps with every email it reads. */
const isOriginalMessage = (file: ListedFile) =>
  file.contentType === 'message/rfc822' && file.fileName === 'original-message.eml';

/**
 * `Re: <subject> [#ticket]`, the subject an email reply carries: the same rule as the sender's
 * `replySubject` (channels/email/smtp-sender.ts), repeated here because the console cannot import
 * server code. No stacked `Re:`, the ticket token once.
 */
export function replySubject(original: string, ticket: number): string {
  let subject = original.replace(/[\r\n]+/g, ' ').trim();
  subject = subject.replace(/^((re|aw|sv|antw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+/i, '').trim();
  const token = `[#${ticket}]`;
  if (!subject.includes(token)) subject = subject ? `${subject} ${token}` : token;
  return `Re: ${subject}`;
}

/**
 * The addresses on a customer's email, besides the customer and our own mailbox, that a "reply all" would
 * copy: its To and Cc without the sender, the Reply-To, and the mailbox it came in on (with or without a
 * `+token`).
 */
export function othersOnEmail(payload: Record<string, unknown>): string[] {
  const details = record(payload.details);
  const mailbox = str(record(payload.hints).receivedOn)?.toLowerCase() ?? '';
  const [mailboxUser = '', mailboxDomain = ''] = mailbox.split('@');
  const isOurs = (address: string) => {
    const [user = '', domain = ''] = address.split('@');
    return domain === mailboxDomain && (user === mailboxUser || user.startsWith(`${mailboxUser}+`));
  };
  const customer = new Set(
    [addressOf(details.from), ...addressesOf(details.replyTo)]
      .filter((a): a is EmailAddress => a !== null)
      .map((a) => a.address.toLowerCase()),
  );
  const others = [...addressesOf(details.to), ...addressesOf(details.cc)]
    .map((a) => a.address.toLowerCase())
    .filter((address) => !customer.has(address) && !isOurs(address));
  return [...new Set(others)];
}

// --- quoted history ---------------------------------------------------------------------------------

/** "On Tue, 3 Mar 2026, Ada <ada@example.com> wrote:" and its translations, as mail clients write it. */
const attribution =
  /(?:wrote|writes|schrieb|a écrit|escribió|ha scritto|scrisse|schreef|skrev|kirjoitti|napisał|escreveu)\s*:\s*$/i;
const outlookSeparator =
  /^-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original)\s*-{2,}$/i;

/**
 * The text split at its quoted history: the trailing block of `>` lines (with the attribution line before
 * it), or everything from an Outlook "-----Original Message-----" line. `quoted` is null when there is
 * none, or when nothing would be left to read above it.
 */
export function splitQuotedText(text: string): { main: string; quoted: string | null } {
  const lines = text.split(/\r?\n/);
  let start = -1;
  const separator = lines.findIndex((line) => outlookSeparator.test(line.trim()));
  if (separator > 0) start = separator;
  else {
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]!.trim();
      if (line.startsWith('>')) start = i;
      else if (line !== '') break;
    }
    if (start > 0) {
      let before = start - 1;
      while (before >= 0 && lines[before]!.trim() === '') before--;
      if (before >= 0 && attribution.test(lines[before]!.trim())) start = before;
    }
  }
  if (start < 0) return { main: text, quoted: null };
  const main = lines.slice(0, start).join('\n').replace(/\s+$/, '');
  if (!main.trim()) return { main: text, quoted: null };
  return { main, quoted: lines.slice(start).join('\n') };
}

const isBlankNode = (node: Node): boolean =>
  node.nodeType === Node.COMMENT_NODE ||
  (node.nodeType === Node.TEXT_NODE && !node.textContent?.trim()) ||
  (node instanceof Element &&
    !node.textContent?.trim() &&
    node.tagName !== 'IMG' &&
    !node.querySelector('img, hr, table'));

/**
 * The nodes of a trailing quote in an email's body: the last outermost `<blockquote>` with nothing but
 * blank space after it, and the attribution ("… wrote:") just before it. Null when there is none, or when
 * nothing would be left to read without it.
 */
function trailingQuote(body: HTMLElement): Node[] | null {
  const quote = [...body.querySelectorAll('blockquote')]
    .filter((q) => !q.parentElement?.closest('blockquote'))
    .at(-1);
  if (!quote) return null;
  for (let node: Node = quote; node !== body; node = node.parentNode!) {
    for (let next = node.nextSibling; next; next = next.nextSibling) if (!isBlankNode(next)) return null;
  }
  const nodes: Node[] = [quote];
  let previous = quote.previousSibling;
  while (previous && isBlankNode(previous)) previous = previous.previousSibling;
  const said = previous?.textContent?.trim() ?? '';
  if (previous && said.length < 300 && attribution.test(said)) nodes.unshift(previous);
  const quotedLength = nodes.reduce((n, node) => n + (node.textContent?.trim().length ?? 0), 0);
  const hasImageOutside = [...body.querySelectorAll('img')].some(
    (img) => !nodes.some((n) => n.contains(img)),
  );
  if ((body.textContent?.trim().length ?? 0) <= quotedLength && !hasImageOutside) return null;
  return nodes;
}

interface PreparedHtml {
  /** The body's markup to show. */
  body: string;
  hasRemoteImages: boolean;
  hasQuote: boolean;
}

/**
 * The sanitized HTML made ready for the frame: remote images given their `src` back when the agent asked,
 * the trailing quote left out unless asked. DOMParser's document is inert: nothing in it loads or runs.
 */
function prepareHtml(html: string, options: { showRemote: boolean; showQuote: boolean }): PreparedHtml {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const remote = [...doc.querySelectorAll('img[data-remote-src]')];
  if (options.showRemote)
    for (const img of remote) {
      const url = img.getAttribute('data-remote-src') ?? '';
      if (/^https?:\/\//i.test(url)) img.setAttribute('src', url);
    }
  const quote = trailingQuote(doc.body);
  if (quote && !options.showQuote) for (const node of quote) node.parentNode?.removeChild(node);
  return { body: doc.body.innerHTML, hasRemoteImages: remote.length > 0, hasQuote: quote !== null };
}

// --- the frame --------------------------------------------------------------------------------------

const frameStyle = `
html { color-scheme: light; }
body { margin: 0; padding: 2px 2px 6px; font: 14px/1.45 system-ui, sans-serif; color: #1d2330;
  overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; }
img:not([src]) { display: inline-block; min-width: 18px; min-height: 18px; outline: 1px dashed #b5bccb;
  color: #6b7385; font-size: 12px; }
blockquote { margin: 0.5em 0; padding-left: 0.8em; border-left: 3px solid #dde1e7; color: #4b5366; }
pre { white-space: pre-wrap; }
table { max-width: 100%; }
a { color: #2457d6; }
`;

/**
 * The frame's whole document. Its own Content-Security-Policy is a second lock on what the sanitizer
 * already did: nothing loads but our own files (inline images) and `data:` images, and remote images only
 * once the agent asked for them; no scripts, fonts, frames or connections at all. Links open in a new tab
 * without a referrer.
 */
function frameDocument(body: string, allowRemoteImages: boolean): string {
  const images = `'self' data:${allowRemoteImages ? ' https: http:' : ''}`;
  const policy = `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; font-src data:`;
  return (
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${policy}">` +
    '<meta name="referrer" content="no-referrer"><base target="_blank">' +
    `<style>${frameStyle}</style></head><body>${body}</body></html>`
  );
}

/** Taller mail scrolls inside its frame instead of pushing the conversation away. */
const maxFrameHeight = 1200;

/**
 * Sanitized email HTML in an iframe sized to its content.
 *
 * The sandbox: `allow-same-origin`, never `allow-scripts` (with both, a document could lift its own
 * sandbox). Without allow-scripts nothing in the mail runs, whatever the sanitizer missed. Same origin is
 * what lets the console (its own script, outside the frame) read the frame's height, so a mail shows whole
 * like the messages around it instead of a box with a second scrollbar; it is also what lets inline images
 * load at all: /api/attachments/<id> needs the session cookie and is served `Cross-Origin-Resource-Policy:
 * same-origin`, both of which an opaque-origin (`sandbox=""`) frame would fail. `allow-popups` with
 * `allow-popups-to-escape-sandbox` lets the mail's links (target=_blank, noopener, set by the sanitizer and
 * the <base> above) open in a normal new tab when clicked; there is no allow-top-navigation, so the mail can
 * never navigate the console, and no allow-forms.
 */
export function EmailFrame(props: { html: string; title: string }) {
  const frame = useRef<HTMLIFrameElement>(null);
  const [height, setHeight] = useState(80);

  const measure = () => {
    const doc = frame.current?.contentDocument;
    if (!doc?.body) return;
    const root = doc.documentElement;
    const content = Math.max(root.getBoundingClientRect().height, doc.body.scrollHeight);
    // A mail wider than the column scrolls sideways: leave room for that scrollbar.
    const scrollbar = root.scrollWidth > root.clientWidth ? 18 : 0;
    setHeight(Math.min(Math.ceil(content) + scrollbar, maxFrameHeight));
  };

  // A change of width (window, side column) reflows the mail.
  useEffect(() => {
    const element = frame.current;
    if (!element || typeof ResizeObserver === 'undefined') return;
    let lastWidth = element.clientWidth;
    const observer = new ResizeObserver(() => {
      if (element.clientWidth === lastWidth) return;
      lastWidth = element.clientWidth;
      measure();
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  return (
    <iframe
      ref={frame}
      class="email-frame"
      data-testid="email-body"
      title={props.title}
      sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"
      referrerpolicy="no-referrer"
      srcdoc={props.html}
      style={{ height: `${height}px` }}
      onLoad={measure}
    />
  );
}

// --- pieces -----------------------------------------------------------------------------------------

/** An email's body: its HTML in the frame, else its text; the quoted history behind a toggle. */
function EmailBody(props: { html: string | null; text: string | null; title: string }) {
  const [showRemote, setShowRemote] = useState(false);
  const [showQuote, setShowQuote] = useState(false);
  const prepared = useMemo(
    () => (props.html ? prepareHtml(props.html, { showRemote, showQuote }) : null),
    [props.html, showRemote, showQuote],
  );
  const split = useMemo(() => splitQuotedText(props.text ?? ''), [props.text]);

  const quoteToggle = (hasQuote: boolean) =>
    hasQuote && (
      <button
        type="button"
        class="link email-quote-toggle"
        data-testid="email-quoted-toggle"
        aria-expanded={showQuote}
        onClick={() => setShowQuote((shown) => !shown)}
      >
        {showQuote ? 'Hide quoted text' : 'Show quoted text'}
      </button>
    );

  if (prepared) {
    const frameHtml = frameDocument(prepared.body, showRemote);
    return (
      <div class="email-body">
        {prepared.hasRemoteImages && (
          <p class="email-remote-images">
            {showRemote ? (
              <span class="muted" data-testid="email-remote-shown">
                Remote images shown for this message.
              </span>
            ) : (
              <>
                <span class="muted">
                  Remote images are hidden: loading them tells the sender you read it.{' '}
                </span>
                <button type="button" data-testid="email-remote-images" onClick={() => setShowRemote(true)}>
                  Show remote images
                </button>
              </>
            )}
          </p>
        )}
        <EmailFrame html={frameHtml} title={props.title} />
        {quoteToggle(prepared.hasQuote)}
      </div>
    );
  }
  if (!props.text) return <p class="body muted">(no text)</p>;
  return (
    <div class="email-body">
      <p class="body" data-testid="email-text">
        {split.quoted === null ? props.text : split.main}
      </p>
      {split.quoted !== null && showQuote && (
        <p class="body email-quoted" data-testid="email-quoted">
          {split.quoted}
        </p>
      )}
      {quoteToggle(split.quoted !== null)}
    </div>
  );
}

/** Files of an email, in or out: name, size, a download link; the raw message apart, as the original. */
export function EmailAttachments(props: { files: unknown; omitted?: unknown }) {
  const files = filesOf(props.files);
  const original = files.find(isOriginalMessage);
  const listed = files.filter((f) => f !== original);
  const omitted = (Array.isArray(props.omitted) ? props.omitted : []).flatMap((item: unknown) =>
    filesOf([item]).map((file) => ({ ...file, reason: str(record(item).reason) ?? 'left out' })),
  );
  if (listed.length === 0 && !original && omitted.length === 0) return null;
  return (
    <div class="email-files">
      {(listed.length > 0 || omitted.length > 0) && (
        <ul class="email-attachments" data-testid="email-attachments" aria-label="Attachments">
          {listed.map((file, i) => (
            <li key={file.id ?? i} data-testid="email-attachment">
              {file.id ? (
                <a href={attachmentUrl(file.id)} download={file.fileName} title={`Download ${file.fileName}`}>
                  {file.fileName}
                </a>
              ) : (
                <span>{file.fileName}</span>
              )}{' '}
              <span class="muted">{fileSize(file.sizeBytes)}</span>
            </li>
          ))}
          {omitted.map((file, i) => (
            <li key={`omitted-${i}`} class="email-omitted" data-testid="email-omitted">
              <span>{file.fileName}</span> <span class="muted">{fileSize(file.sizeBytes)}</span>{' '}
              <span class="email-omitted-reason">not imported: {file.reason}</span>
            </li>
          ))}
        </ul>
      )}
      {original?.id && (
        <p class="email-original">
          <a href={attachmentUrl(original.id)} download={original.fileName} data-testid="email-original">
            Original message (.eml)
          </a>{' '}
          <span class="muted">{fileSize(original.sizeBytes)}</span>
        </p>
      )}
    </div>
  );
}

function HeaderLine(props: { label: string; testId: string; children: ComponentChildren }) {
  return (
    <div class="email-header-line" data-testid={props.testId}>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

/** Why the email was put in this conversation (or in no earlier one), in the channel's own words. */
function ThreadingReason({ payload }: { payload: Record<string, unknown> }) {
  const threading = record(payload.threading);
  const reason = str(threading.reason);
  const refused = strings(record(payload.details).threadingRefused);
  if (!reason && refused.length === 0) return null;
  const outcome = str(threading.outcome);
  return (
    <p class="email-threading muted" data-testid="email-threading">
      {reason &&
        (outcome === 'linked'
          ? `Started a new conversation linked to an earlier, closed one because: ${reason}`
          : outcome === 'not-found'
            ? `Started a new conversation: the earlier one was not found (${reason})`
            : `Added to this conversation because: ${reason}`)}
      {refused.length > 0 && (
        <>
          {reason && <br />}
          Not added to an earlier conversation: {refused.join('; ')}
        </>
      )}
    </p>
  );
}

// --- the message ------------------------------------------------------------------------------------

/** A customer's email in the timeline (a `message.received` event of the email channel). */
export function EmailMessage({ event }: { event: LoggedEvent }) {
  const { payload } = event;
  const details = record(payload.details);
  const hints = record(payload.hints);
  const from = addressOf(details.from);
  const to = addressesOf(details.to);
  const cc = addressesOf(details.cc);
  const replyTo = addressesOf(details.replyTo);
  const subject = str(payload.subject);
  const date = str(details.date) ?? event.occurredAt;
  const problems = strings(details.problems);
  const needsAttention = problems.length > 0 || hints.needsAttention === true;
  const automatic = str(details.automatic) ?? (hints.automatic === true ? 'sent by a machine' : null);

  return (
    <li
      class={`entry message inbound email${needsAttention ? ' needs-attention' : ''}`}
      data-type={event.type}
      data-testid="email-message"
    >
      <header>
        <span class="who">{from?.name ?? from?.address ?? 'Unknown sender'}</span> · email ·{' '}
        <time dateTime={event.occurredAt}>{clock(event.occurredAt)}</time>
      </header>
      {(needsAttention || automatic) && (
        <div class="email-badges">
          {needsAttention && (
            <div class="badge badge-attention" role="note" data-testid="email-needs-attention">
              <strong>Needs attention</strong>
              {problems.length > 0 ? (
                <ul>
                  {problems.map((problem, i) => (
                    <li key={i}>{problem}</li>
                  ))}
                </ul>
              ) : (
                ' the channel could not read this message well: check the original.'
              )}
            </div>
          )}
          {automatic && (
            <div class="badge badge-automatic" data-testid="email-automatic">
              <strong>Automatic</strong> {automatic}
            </div>
          )}
        </div>
      )}
      <dl class="email-headers" data-testid="email-headers">
        <HeaderLine label="From" testId="email-from">
          {from ? formatAddress(from) : <span class="muted">(no sender address)</span>}
        </HeaderLine>
        {replyTo.length > 0 && (
          <HeaderLine label="Reply-To" testId="email-reply-to">
            {replyTo.map(formatAddress).join(', ')}
          </HeaderLine>
        )}
        <HeaderLine label="To" testId="email-to">
          {to.length > 0 ? to.map(formatAddress).join(', ') : <span class="muted">(none)</span>}
        </HeaderLine>
        {cc.length > 0 && (
          <HeaderLine label="Cc" testId="email-cc">
            {cc.map(formatAddress).join(', ')}
          </HeaderLine>
        )}
        <HeaderLine label="Date" testId="email-date">
          <time dateTime={date}>{new Date(date).toLocaleString()}</time>
        </HeaderLine>
        <HeaderLine label="Subject" testId="email-subject">
          {subject ?? <span class="muted">(no subject)</span>}
        </HeaderLine>
      </dl>
      <EmailBody
        html={str(payload.html)}
        text={str(payload.text)}
        title={`Email from ${from ? formatAddress(from) : 'an unknown sender'}`}
      />
      <EmailAttachments files={payload.attachments} omitted={details.omittedAttachments} />
      <ThreadingReason payload={payload} />
    </li>
  );
}

/** `interaction.created` of a conversation that continues an older, closed one. */
export function LinkedNotice(props: {
  event: LoggedEvent;
  linkedId: string;
  interactions?: ReadonlyMap<string, Interaction>;
}) {
  const linked = props.interactions?.get(props.linkedId);
  const show = () =>
    document
      .querySelector(`[data-testid="timeline-run"][data-interaction="${CSS.escape(props.linkedId)}"]`)
      ?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  return (
    <li class="entry status thread-notice" data-type={props.event.type} data-testid="interaction-linked">
      Continues{' '}
      {linked ? (
        <button type="button" class="link" onClick={show}>
          #{linked.ticketNumber}
          {linked.subject ? ` ${linked.subject}` : ''}
        </button>
      ) : (
        'an earlier conversation'
      )}
      , closed before this message came ·{' '}
      <time dateTime={props.event.occurredAt}>{clock(props.event.occurredAt)}</time>
    </li>
  );
}

/** `interaction.reopened`: the customer wrote again on a closed conversation. */
export function ReopenedNotice({ event }: { event: LoggedEvent }) {
  const reason = str(event.payload.reason);
  return (
    <li class="entry status thread-notice reopened" data-type={event.type} data-testid="interaction-reopened">
      <strong>Reopened</strong>: the customer wrote again after it was closed
      {reason ? ` (${reason})` : ''} · <time dateTime={event.occurredAt}>{clock(event.occurredAt)}</time>
    </li>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type CannedReply, type RenderedReply, type ReplyExtras, type Upload } from '../api.js';
import { loadDraft, saveDraft, type ComposerMode } from '../drafts.js';
import { isTyping } from '../format.js';
import { fileSize } from './email-message.js';

/**
 * One composer for every channel: a reply leaves on the interaction's channel, a note stays internal. The
 * draft is saved on every keystroke (drafts.ts). Ctrl+Enter sends; r (outside a text field) focuses it.
 * Standard answers: Ctrl+K (Cmd+K), the button, or "/" in an empty composer opens the picker; the chosen
 * answer is rendered by the server for this interaction and inserted at the cursor, and placeholders it
 * could not fill are selected for the agent to complete. An email reply also shows the subject it will
 * carry, takes Cc addresses, and takes files, each uploaded as soon as it is picked (see EmailExtras). A chat
 * or a fax whose customer has an email address may be answered on its channel or by email (`via: 'email'`),
 * the agent's pick; a fax reply leaves as a PDF of the text, sent by fax.
 */
export function Composer(props: {
  interactionId: string;
  channel: string;
  isShortcutFree: boolean;
  /** Resolves true once sent; the draft is kept otherwise. `extras` only for an email reply. */
  onSend: (mode: ComposerMode, text: string, extras: ReplyExtras) => Promise<boolean>;
  /** An email interaction: the subject a reply carries, and the others on the customer's last email. */
  email?: { subject: string; othersOnLastEmail: string[] };
  /**
   * A chat or fax that may be answered by email at this address instead of on its channel (email picked by
   * default for a chat visitor's left message).
   */
  byEmail?: { address: string; isDefault: boolean };
  /** Where a reply on the interaction's own channel goes, when the console knows it (a fax number). */
  replyAddress?: string;
  /** Typing a reply started (true) or stopped (false: idle 3 s, sent, or a note): a chat visitor sees it. */
  onTyping?: (isTyping: boolean) => void;
  /** False where the channel takes no written reply (a call): notes only. */
  canReply?: boolean;
}) {
  const canReply = props.canReply ?? true;
  const [mode, setMode] = useState<ComposerMode>(canReply ? 'reply' : 'note');
  const [text, setText] = useState(() => loadDraft(props.interactionId, canReply ? 'reply' : 'note'));
  const [isSending, setSending] = useState(false);
  const [isPicking, setPicking] = useState(false);
  const [unresolved, setUnresolved] = useState<string[]>([]);
  const field = useRef<HTMLTextAreaElement>(null);
  const typing = useTypingSignal(props.onTyping);
  const [cc, setCc] = useState('');
  const [isByEmail, setByEmail] = useState(props.byEmail?.isDefault ?? false);
  useEffect(
    () => setByEmail(props.byEmail?.isDefault ?? false),
    [props.interactionId, props.byEmail?.isDefault],
  );
  const sendsByEmail = Boolean(props.byEmail) && isByEmail && mode === 'reply';
  const files = useUploads(props.interactionId);
  const isEmailReply = Boolean(props.email) && mode === 'reply';
  const copies = parseCc(cc);
  /** Why an email reply cannot go yet (files still uploading, a file that failed, a bad Cc). */
  const holdBack = !isEmailReply
    ? null
    : copies.invalid.length > 0
      ? `Not an email address: ${copies.invalid.join(', ')}`
      : copies.addresses.length > maxCopies
        ? `At most ${maxCopies} Cc addresses.`
        : files.list.some((f) => f.state === 'uploading')
          ? 'Waiting for the files to upload…'
          : files.list.some((f) => f.state === 'failed')
            ? 'Remove the files that could not be uploaded, or pick them again.'
            : null;

  useEffect(() => setText(loadDraft(props.interactionId, mode)), [props.interactionId, mode]);
  // A note is never typed "at" the customer.
  useEffect(() => {
    if (mode === 'note') typing.stop();
  }, [mode, typing]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      // Ctrl+K / Cmd+K: standard answers, from anywhere in the conversation (also while typing).
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') {
        event.preventDefault();
        setPicking(true);
        return;
      }
      if (!props.isShortcutFree || isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'r' || event.key === 'n') {
        event.preventDefault();
        setMode(event.key === 'r' && canReply ? 'reply' : 'note');
        field.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.isShortcutFree, canReply]);

  const update = (value: string) => {
    setText(value);
    saveDraft(props.interactionId, mode, value);
  };

  const send = async () => {
    const body = text.trim();
    if (!body || isSending || holdBack) return;
    setSending(true);
    typing.stop();
    const extras: ReplyExtras = isEmailReply
      ? {
          cc: copies.addresses,
          attachmentIds: files.list.flatMap((f) => (f.uploaded ? [f.uploaded.id] : [])),
        }
      : sendsByEmail
        ? { via: 'email' }
        : {};
    try {
      if (await props.onSend(mode, body, extras)) {
        update('');
        setUnresolved([]);
        if (isEmailReply) {
          setCc('');
          files.clear();
        }
      }
    } finally {
      setSending(false);
    }
  };

  /** Puts the rendered answer at the cursor (replacing a selection); selects its first unfilled placeholder. */
  const insert = (rendered: RenderedReply) => {
    setPicking(false);
    const area = field.current;
    const start = area?.selectionStart ?? text.length;
    const end = area?.selectionEnd ?? text.length;
    const next = text.slice(0, start) + rendered.text + text.slice(end);
    update(next);
    setUnresolved(rendered.unresolved);
    const first = rendered.unresolved
      .map((placeholder) => ({ placeholder, at: next.indexOf(placeholder, start) }))
      .filter((p) => p.at >= 0)
      .sort((a, b) => a.at - b.at)[0];
    // After Preact has written the new value into the textarea.
    window.setTimeout(() => {
      const target = field.current;
      if (!target) return;
      target.focus();
      if (first) target.setSelectionRange(first.at, first.at + first.placeholder.length);
      else target.setSelectionRange(start + rendered.text.length, start + rendered.text.length);
    });
  };

  const closePicker = () => {
    setPicking(false);
    window.setTimeout(() => field.current?.focus());
  };

  const stillUnfilled = unresolved.filter((placeholder) => text.includes(placeholder));

  return (
    <form
      class={`composer composer-${mode}`}
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <div class="composer-modes" role="tablist">
        {canReply && (
          <button type="button" role="tab" aria-selected={mode === 'reply'} onClick={() => setMode('reply')}>
            Reply ({props.channel})
          </button>
        )}
        <button type="button" role="tab" aria-selected={mode === 'note'} onClick={() => setMode('note')}>
          Internal note
        </button>
        <button
          type="button"
          class="canned-open"
          data-testid="canned-picker-open"
          aria-expanded={isPicking}
          onClick={() => (isPicking ? closePicker() : setPicking(true))}
        >
          Standard answers <kbd>Ctrl+K</kbd>
        </button>
      </div>
      {props.byEmail && mode === 'reply' && (
        <div class="composer-via" role="radiogroup" aria-label="Send the reply by" data-testid="composer-via">
          <label>
            <input
              type="radio"
              name={`via-${props.interactionId}`}
              data-testid="composer-by-channel"
              checked={!isByEmail}
              onChange={() => setByEmail(false)}
            />{' '}
            Answer by {props.channel}
            {props.replyAddress ? ` to ${props.replyAddress}` : ''}
          </label>
          <label>
            <input
              type="radio"
              name={`via-${props.interactionId}`}
              data-testid="composer-by-email"
              checked={isByEmail}
              onChange={() => setByEmail(true)}
            />{' '}
            Answer by email to {props.byEmail.address}
            {props.byEmail.isDefault ? ' (they left a message)' : ''}
          </label>
        </div>
      )}
      {props.channel === 'fax' && mode === 'reply' && !sendsByEmail && (
        <p class="composer-hold muted" data-testid="composer-fax-hint">
          Sent by fax{props.replyAddress && !props.byEmail ? ` to ${props.replyAddress}` : ''} as a PDF of
          this text.
        </p>
      )}
      {isEmailReply && props.email && (
        <EmailExtras
          subject={props.email.subject}
          othersOnLastEmail={props.email.othersOnLastEmail}
          cc={cc}
          onCc={setCc}
          uploads={files}
        />
      )}
      {isPicking && (
        <CannedReplyPicker
          interactionId={props.interactionId}
          channel={props.channel}
          onPick={insert}
          onClose={closePicker}
        />
      )}
      <textarea
        ref={field}
        aria-label={mode === 'reply' ? 'Reply' : 'Internal note'}
        placeholder={
          mode === 'reply'
            ? `Reply by ${sendsByEmail ? 'email' : props.channel}… ("/" for standard answers)`
            : 'Note for colleagues (never sent)…'
        }
        rows={4}
        maxLength={20_000}
        value={text}
        onInput={(e) => {
          update(e.currentTarget.value);
          if (mode === 'reply') typing.keystroke();
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void send();
          } else if (e.key === '/' && text === '' && !e.ctrlKey && !e.metaKey && !e.altKey) {
            e.preventDefault();
            setPicking(true);
          }
        }}
      />
      {stillUnfilled.length > 0 && (
        <p class="canned-unresolved" data-testid="canned-unresolved" role="status">
          Fill in before sending: {stillUnfilled.join(', ')}
        </p>
      )}
      {holdBack && text.trim() && copies.invalid.length === 0 && (
        <p class="composer-hold muted" data-testid="composer-hold" role="status">
          {holdBack}
        </p>
      )}
      <button type="submit" class="primary" disabled={isSending || !text.trim() || Boolean(holdBack)}>
        {mode === 'reply' ? 'Send' : 'Add note'} <kbd>Ctrl+Enter</kbd>
      </button>
    </form>
  );
}

// --- email: subject, Cc, files ------------------------------------------------------------------------

/** The server takes at most 20 Cc addresses and 10 files on a reply, 25 MB a file. */
const maxCopies = 20;
const maxFiles = 10;
const maxFileBytes = 25 * 1024 * 1024;

/**
 * Cc as typed: addresses separated by commas, semicolons or spaces; `Name <address>` is read as the
 * address. The check is light (something@something.something): the server has the final word.
 */
export function parseCc(typed: string): { addresses: string[]; invalid: string[] } {
  const addresses: string[] = [];
  const invalid: string[] = [];
  for (const piece of typed.split(/[,;\n]+/)) {
    const item = piece.trim();
    if (!item) continue;
    const address = (/<([^<>]*)>\s*$/.exec(item)?.[1] ?? item).trim();
    for (const word of address.split(/\s+/)) {
      if (/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:".]{2,}$/.test(word)) {
        if (!addresses.some((a) => a.toLowerCase() === word.toLowerCase())) addresses.push(word);
      } else invalid.push(word);
    }
  }
  return { addresses, invalid };
}

interface PickedFile {
  key: number;
  fileName: string;
  sizeBytes: number;
  state: 'uploading' | 'done' | 'failed';
  /** 0 to 1 while uploading. */
  progress: number;
  uploaded?: { id: string };
  error?: string;
}

/**
 * Files picked for the next email reply, each uploaded at once; removable (an upload under way is
 * stopped). A file the server refused keeps its message until removed. Leaving the interaction stops
 * what is still uploading.
 */
function useUploads(interactionId: string) {
  const [list, setList] = useState<PickedFile[]>([]);
  const nextKey = useRef(0);
  const live = useRef(new Map<number, Upload>());
  const change = (key: number, patch: Partial<PickedFile>) =>
    setList((current) => current.map((f) => (f.key === key ? { ...f, ...patch } : f)));

  useEffect(() => {
    const uploads = live.current;
    return () => {
      for (const upload of uploads.values()) upload.abort();
      uploads.clear();
    };
  }, [interactionId]);

  return {
    list,
    add(picked: File[]) {
      const room = Math.max(0, maxFiles - list.length);
      const added: PickedFile[] = picked.map((file, i) => {
        const key = (nextKey.current += 1);
        const base = { key, fileName: file.name, sizeBytes: file.size, progress: 0 };
        if (i >= room) return { ...base, state: 'failed', error: `At most ${maxFiles} files on one reply.` };
        if (file.size > maxFileBytes)
          return { ...base, state: 'failed', error: `Larger than ${fileSize(maxFileBytes)}.` };
        const upload = api.uploadAttachment(interactionId, file, (progress) => change(key, { progress }));
        live.current.set(key, upload);
        upload.done.then(
          (uploaded) => change(key, { state: 'done', progress: 1, uploaded: { id: uploaded.id } }),
          (err: unknown) => {
            if ((err as { code?: string }).code === 'ABORTED') return;
            change(key, { state: 'failed', error: err instanceof Error ? err.message : String(err) });
          },
        );
        void upload.done.finally(() => live.current.delete(key)).catch(() => undefined);
        return { ...base, state: 'uploading' };
      });
      setList((current) => [...current, ...added]);
    },
    remove(key: number) {
      live.current.get(key)?.abort();
      live.current.delete(key);
      setList((current) => current.filter((f) => f.key !== key));
    },
    /** After the reply went out with them. */
    clear() {
      setList([]);
    },
  };
}

function EmailExtras(props: {
  subject: string;
  othersOnLastEmail: string[];
  cc: string;
  onCc: (cc: string) => void;
  uploads: ReturnType<typeof useUploads>;
}) {
  const picker = useRef<HTMLInputElement>(null);
  const { addresses, invalid } = parseCc(props.cc);
  const missing = props.othersOnLastEmail.filter(
    (other) => !addresses.some((a) => a.toLowerCase() === other.toLowerCase()),
  );
  return (
    <div class="email-extras" data-testid="composer-email">
      <p class="email-extras-line">
        <span class="label">Subject</span>{' '}
        <output data-testid="composer-subject" aria-label="Subject of the reply">
          {props.subject}
        </output>
      </p>
      <label class="email-extras-line">
        <span class="label">Cc</span>
        <input
          type="text"
          inputMode="email"
          autoComplete="off"
          spellcheck={false}
          placeholder="other addresses, separated by commas"
          data-testid="composer-cc"
          aria-invalid={invalid.length > 0}
          value={props.cc}
          onInput={(e) => props.onCc(e.currentTarget.value)}
        />
      </label>
      {invalid.length > 0 && (
        <p class="error email-cc-error" data-testid="composer-cc-error" role="alert">
          Not an email address: {invalid.join(', ')}
        </p>
      )}
      {missing.length > 0 && (
        <p class="email-cc-suggest muted" data-testid="composer-cc-suggest">
          Also on the customer’s last email: {missing.join(', ')}{' '}
          <button
            type="button"
            class="link"
            onClick={() => props.onCc([...addresses, ...missing].join(', '))}
          >
            Add to Cc
          </button>
        </p>
      )}
      <div class="email-extras-line">
        <button type="button" data-testid="composer-attach" onClick={() => picker.current?.click()}>
          Attach files
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          data-testid="composer-file-input"
          onChange={(e) => {
            const input = e.currentTarget;
            props.uploads.add([...(input.files ?? [])]);
            // The same file may be picked again after a removal.
            input.value = '';
          }}
        />
        <span class="muted">up to {fileSize(maxFileBytes)} each</span>
      </div>
      {props.uploads.list.length > 0 && (
        <ul class="composer-files" aria-label="Files to send">
          {props.uploads.list.map((file) => (
            <li
              key={file.key}
              class={`composer-file ${file.state}`}
              data-testid="composer-file"
              data-state={file.state}
            >
              <span class="file-name">{file.fileName}</span>{' '}
              <span class="muted">{fileSize(file.sizeBytes)}</span>{' '}
              {file.state === 'uploading' && (
                <progress max={1} value={file.progress} aria-label={`Uploading ${file.fileName}`} />
              )}
              {file.state === 'done' && <span class="muted">attached</span>}
              {file.state === 'failed' && (
                <span class="error" data-testid="composer-file-error">
                  {file.error}
                </span>
              )}{' '}
              <button
                type="button"
                class="link"
                data-testid="composer-file-remove"
                aria-label={`Remove ${file.fileName}`}
                onClick={() => props.uploads.remove(file.key)}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/**
 * The agent's typing indicator: "started" on the first keystroke, "stopped" after 3 s without one, on
 * `stop()` and when the composer goes away; one message per change, not per key.
 */
function useTypingSignal(onTyping: ((isTyping: boolean) => void) | undefined) {
  const send = useRef(onTyping);
  send.current = onTyping;
  const isOn = useRef(false);
  const timer = useRef<number | undefined>(undefined);
  const [signal] = useState(() => {
    const stop = () => {
      window.clearTimeout(timer.current);
      if (!isOn.current) return;
      isOn.current = false;
      send.current?.(false);
    };
    return {
      stop,
      keystroke: () => {
        if (!send.current) return;
        if (!isOn.current) {
          isOn.current = true;
          send.current(true);
        }
        window.clearTimeout(timer.current);
        timer.current = window.setTimeout(stop, 3000);
      },
    };
  });
  useEffect(() => signal.stop, [signal]);
  return signal;
}

/**
 * Search the standard answers for this channel as the agent types (best match first); arrows move,
 * Enter inserts, Escape closes.
 */
function CannedReplyPicker(props: {
  interactionId: string;
  channel: string;
  onPick: (rendered: RenderedReply) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState('');
  const [replies, setReplies] = useState<CannedReply[]>([]);
  const [active, setActive] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const [isLoading, setLoading] = useState(true);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => input.current?.focus(), []);

  useEffect(() => {
    let isCurrent = true;
    setLoading(true);
    // A short pause: one request per burst of typing, not per key.
    const timer = window.setTimeout(() => {
      api.cannedReplies(query, props.channel).then(
        ({ replies: found }) => {
          if (!isCurrent) return;
          setReplies(found);
          setActive(0);
          setProblem(null);
          setLoading(false);
        },
        (err: unknown) => {
          if (!isCurrent) return;
          setProblem(err instanceof Error ? err.message : String(err));
          setLoading(false);
        },
      );
    }, 120);
    return () => {
      isCurrent = false;
      window.clearTimeout(timer);
    };
  }, [query, props.channel]);

  const pick = async (reply: CannedReply | undefined) => {
    if (!reply) return;
    try {
      props.onPick(await api.renderCannedReply(props.interactionId, reply.id));
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <div class="canned-picker" data-testid="canned-picker">
      <input
        ref={input}
        type="search"
        aria-label="Search standard answers"
        placeholder="Search standard answers: title, /shortcut, keyword…"
        data-testid="canned-search"
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            const step = e.key === 'ArrowDown' ? 1 : -1;
            setActive((i) => Math.min(Math.max(i + step, 0), Math.max(replies.length - 1, 0)));
          } else if (e.key === 'Enter') {
            e.preventDefault();
            void pick(replies[active]);
          } else if (e.key === 'Escape') {
            e.preventDefault();
            props.onClose();
          }
        }}
      />
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <ul class="canned-results" role="listbox" aria-label="Standard answers">
        {replies.map((reply, i) => (
          <li
            key={reply.id}
            role="option"
            aria-selected={i === active}
            class={i === active ? 'active' : ''}
            data-testid="canned-result"
            onMouseEnter={() => setActive(i)}
            onMouseDown={(e) => {
              // Keep the search field focused; pick on click.
              e.preventDefault();
              void pick(reply);
            }}
          >
            <span>
              <strong>{reply.title}</strong>
              {reply.shortcut && <span class="muted"> /{reply.shortcut}</span>}
            </span>
            <span class="canned-snippet">{reply.body}</span>
          </li>
        ))}
      </ul>
      {!isLoading && !problem && replies.length === 0 && (
        <p class="muted">{query ? 'No standard answer matches.' : 'No standard answers yet.'}</p>
      )}
    </div>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type CannedReply, type RenderedReply } from '../api.js';
import { loadDraft, saveDraft, type ComposerMode } from '../drafts.js';
import { isTyping } from '../format.js';

/**
 * One composer for every channel: a reply leaves on the interaction's channel, a note stays internal. The
 * draft is saved on every keystroke (drafts.ts). Ctrl+Enter sends; r (outside a text field) focuses it.
 * Standard answers: Ctrl+K (Cmd+K), the button, or "/" in an empty composer opens the picker; the chosen
 * answer is rendered by the server for this interaction and inserted at the cursor, and placeholders it
 * could not fill are selected for the agent to complete.
 */
export function Composer(props: {
  interactionId: string;
  channel: string;
  isShortcutFree: boolean;
  /** Resolves true once sent; the draft is kept otherwise. */
  onSend: (mode: ComposerMode, text: string) => Promise<boolean>;
  /** Typing a reply started (true) or stopped (false: idle 3 s, sent, or a note): a chat visitor sees it. */
  onTyping?: (isTyping: boolean) => void;
}) {
  const [mode, setMode] = useState<ComposerMode>('reply');
  const [text, setText] = useState(() => loadDraft(props.interactionId, 'reply'));
  const [isSending, setSending] = useState(false);
  const [isPicking, setPicking] = useState(false);
  const [unresolved, setUnresolved] = useState<string[]>([]);
  const field = useRef<HTMLTextAreaElement>(null);
  const typing = useTypingSignal(props.onTyping);

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
        setMode(event.key === 'r' ? 'reply' : 'note');
        field.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.isShortcutFree]);

  const update = (value: string) => {
    setText(value);
    saveDraft(props.interactionId, mode, value);
  };

  const send = async () => {
    const body = text.trim();
    if (!body || isSending) return;
    setSending(true);
    typing.stop();
    try {
      if (await props.onSend(mode, body)) {
        update('');
        setUnresolved([]);
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
        <button type="button" role="tab" aria-selected={mode === 'reply'} onClick={() => setMode('reply')}>
          Reply ({props.channel})
        </button>
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
            ? `Reply by ${props.channel}… ("/" for standard answers)`
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
      <button type="submit" class="primary" disabled={isSending || !text.trim()}>
        {mode === 'reply' ? 'Send' : 'Add note'} <kbd>Ctrl+Enter</kbd>
      </button>
    </form>
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

import { useEffect, useRef, useState } from 'preact/hooks';
import { loadDraft, saveDraft, type ComposerMode } from '../drafts.js';
import { isTyping } from '../format.js';

/**
 * One composer for every channel: a reply leaves on the interaction's channel, a note stays internal. The
 * draft is saved on every keystroke (drafts.ts). Ctrl+Enter sends; r (outside a text field) focuses it.
 */
export function Composer(props: {
  interactionId: string;
  channel: string;
  isShortcutFree: boolean;
  /** Resolves true once sent; the draft is kept otherwise. */
  onSend: (mode: ComposerMode, text: string) => Promise<boolean>;
}) {
  const [mode, setMode] = useState<ComposerMode>('reply');
  const [text, setText] = useState(() => loadDraft(props.interactionId, 'reply'));
  const [isSending, setSending] = useState(false);
  const field = useRef<HTMLTextAreaElement>(null);

  useEffect(() => setText(loadDraft(props.interactionId, mode)), [props.interactionId, mode]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
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
    try {
      if (await props.onSend(mode, body)) update('');
    } finally {
      setSending(false);
    }
  };

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
      </div>
      <textarea
        ref={field}
        aria-label={mode === 'reply' ? 'Reply' : 'Internal note'}
        placeholder={mode === 'reply' ? `Reply by ${props.channel}…` : 'Note for colleagues (never sent)…'}
        rows={4}
        maxLength={20_000}
        value={text}
        onInput={(e) => update(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void send();
          }
        }}
      />
      <button type="submit" class="primary" disabled={isSending || !text.trim()}>
        {mode === 'reply' ? 'Send' : 'Add note'} <kbd>Ctrl+Enter</kbd>
      </button>
    </form>
  );
}

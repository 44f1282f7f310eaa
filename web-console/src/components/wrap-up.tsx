import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, type Disposition } from '../api.js';
import { isTyping } from '../format.js';

/*
 * Close with a disposition code: the codes are the interaction's, from the routing rules (its queue's list,
 * else the default one). With codes configured one is required; the server refuses a missing or unknown
 * code (400) and its message is shown here, and the list is read again (an admin may have changed it).
 * Without codes the conversation closes as it is. c (outside a text field) goes to the disposition.
 */
export function WrapUp(props: { interactionId: string; onClosed: () => void }) {
  const [dispositions, setDispositions] = useState<Disposition[] | null>(null);
  const [isRequired, setRequired] = useState(false);
  const [code, setCode] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [isClosing, setClosing] = useState(false);
  const field = useRef<HTMLSelectElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  const load = useCallback(async () => {
    try {
      const choice = await api.dispositions(props.interactionId);
      setDispositions(choice.dispositions);
      setRequired(choice.isRequired);
      setCode((current) => (choice.dispositions.some((d) => d.code === current) ? current : ''));
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    }
  }, [props.interactionId]);

  useEffect(() => void load(), [load]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'c') {
        event.preventDefault();
        (field.current ?? button.current)?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const close = async () => {
    if (isClosing) return;
    setClosing(true);
    setProblem(null);
    try {
      await api.close(props.interactionId, code || null);
      props.onClosed();
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
      if (err instanceof ApiError && /DISPOSITION/.test(err.code)) await load();
    } finally {
      setClosing(false);
    }
  };

  return (
    <div class="wrap-up" data-testid="wrap-up">
      {dispositions && dispositions.length > 0 && (
        <label>
          Disposition{isRequired && <span class="muted"> (required)</span>}
          <select
            ref={field}
            data-testid="disposition"
            value={code}
            onChange={(e) => setCode(e.currentTarget.value)}
          >
            <option value="">Choose…</option>
            {dispositions.map((d) => (
              <option key={d.code} value={d.code}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
      )}
      <button
        ref={button}
        type="button"
        data-testid="close-interaction"
        disabled={isClosing}
        onClick={() => void close()}
      >
        Close <kbd>c</kbd>
      </button>
      {problem && (
        <p class="error" role="alert" data-testid="wrap-up-error">
          {problem}
        </p>
      )}
    </div>
  );
}

import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type CannedReply, type CannedReplyFields, type ChannelName } from '../api.js';

const channels: ChannelName[] = ['voice', 'email', 'chat', 'fax'];
// The server's catalogue (src/answers/placeholders.ts); it refuses any other name with the list it knows.
const placeholders = ['customer.name', 'customer.firstName', 'agent.name', 'agent.firstName', 'ticket'];

const empty: CannedReplyFields = {
  title: '',
  body: '',
  shortcut: null,
  keywords: [],
  channels: [],
  isVisitorSuggestible: false,
};

interface Draft {
  title: string;
  body: string;
  shortcut: string;
  keywords: string;
  channels: ChannelName[];
  isVisitorSuggestible: boolean;
}

const toDraft = (reply: CannedReplyFields): Draft => ({
  title: reply.title,
  body: reply.body,
  shortcut: reply.shortcut ?? '',
  keywords: reply.keywords.join(', '),
  channels: reply.channels,
  isVisitorSuggestible: reply.isVisitorSuggestible,
});

const toFields = (draft: Draft): CannedReplyFields => ({
  title: draft.title,
  body: draft.body,
  shortcut: draft.shortcut.trim() || null,
  keywords: draft.keywords
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean),
  channels: draft.channels,
  isVisitorSuggestible: draft.isVisitorSuggestible,
});

/**
 * Supervisors' screen for the standard answers library: search, create, change, delete (each audited on the
 * server). Shown to supervisors and admins only; the API refuses agents anyway.
 */
export function CannedRepliesAdmin(props: { onClose: () => void }) {
  const [query, setQuery] = useState('');
  const [replies, setReplies] = useState<CannedReply[]>([]);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(toDraft(empty));
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [isConfirmingDelete, setConfirmingDelete] = useState(false);
  const [isSaving, setSaving] = useState(false);

  const report = (err: unknown) => setProblem(err instanceof Error ? err.message : String(err));

  const reload = useCallback(async () => {
    try {
      setReplies((await api.cannedReplies(query, undefined, 100)).replies);
    } catch (err) {
      report(err);
    }
  }, [query]);

  useEffect(() => {
    const timer = window.setTimeout(() => void reload(), 150);
    return () => window.clearTimeout(timer);
  }, [reload]);

  const select = (reply: CannedReply | null) => {
    setSelectedId(reply?.id ?? null);
    setDraft(toDraft(reply ?? empty));
    setProblem(null);
    setNotice(null);
    setConfirmingDelete(false);
  };

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  const save = async () => {
    setSaving(true);
    setProblem(null);
    try {
      const fields = toFields(draft);
      const original = replies.find((r) => r.id === selectedId);
      // A change sends only what changed: the audit log says what the supervisor changed.
      const changed = original
        ? Object.fromEntries(
            Object.entries(fields).filter(
              ([key, value]) =>
                JSON.stringify(value) !== JSON.stringify(original[key as keyof CannedReplyFields]),
            ),
          )
        : fields;
      if (selectedId && Object.keys(changed).length === 0) {
        setNotice('Nothing changed.');
        return;
      }
      const { reply } = selectedId
        ? await api.updateCannedReply(selectedId, changed)
        : await api.createCannedReply(fields);
      setSelectedId(reply.id);
      setDraft(toDraft(reply));
      setNotice(`Saved “${reply.title}”.`);
      await reload();
    } catch (err) {
      report(err);
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    if (!selectedId) return;
    try {
      await api.deleteCannedReply(selectedId);
      select(null);
      setNotice('Deleted.');
      await reload();
    } catch (err) {
      report(err);
    }
  };

  return (
    <section class="answers-admin" aria-label="Standard answers" data-testid="answers-admin">
      <div class="answers-list">
        <header>
          <h2>Standard answers</h2>
          <button type="button" data-testid="answer-new" onClick={() => select(null)}>
            New
          </button>
          <button type="button" onClick={props.onClose}>
            Back to work
          </button>
        </header>
        <input
          type="search"
          aria-label="Search standard answers"
          placeholder="Search…"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <ul>
          {replies.map((reply) => (
            <li key={reply.id}>
              <button
                type="button"
                class={`answer-row${reply.id === selectedId ? ' open' : ''}`}
                data-testid="answer-row"
                onClick={() => select(reply)}
              >
                <strong>{reply.title}</strong>
                <span class="muted">
                  {reply.shortcut ? `/${reply.shortcut} · ` : ''}
                  {reply.channels.length ? reply.channels.join(', ') : 'all channels'}
                  {reply.isVisitorSuggestible ? ' · offered to chat visitors' : ''}
                </span>
              </button>
            </li>
          ))}
        </ul>
      </div>
      <form
        class="answer-form"
        data-testid="answer-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <h3>{selectedId ? 'Edit standard answer' : 'New standard answer'}</h3>
        <label>
          Title
          <input
            data-testid="answer-title"
            required
            maxLength={200}
            value={draft.title}
            onInput={(e) => set('title', e.currentTarget.value)}
          />
        </label>
        <label>
          Text
          <textarea
            data-testid="answer-body"
            required
            rows={6}
            maxLength={20_000}
            value={draft.body}
            onInput={(e) => set('body', e.currentTarget.value)}
          />
        </label>
        <p class="muted">Placeholders: {placeholders.map((p) => `{{${p}}}`).join(' ')}</p>
        <label>
          Shortcut (optional)
          <input
            data-testid="answer-shortcut"
            placeholder="refund"
            maxLength={41}
            value={draft.shortcut}
            onInput={(e) => set('shortcut', e.currentTarget.value)}
          />
        </label>
        <label>
          Keywords and tags, comma-separated (optional)
          <input
            data-testid="answer-keywords"
            placeholder="refund, money back"
            value={draft.keywords}
            onInput={(e) => set('keywords', e.currentTarget.value)}
          />
        </label>
        <fieldset>
          <legend>Channels (none ticked: every channel)</legend>
          {channels.map((channel) => (
            <label key={channel} class="inline">
              <input
                type="checkbox"
                checked={draft.channels.includes(channel)}
                onChange={(e) =>
                  set(
                    'channels',
                    e.currentTarget.checked
                      ? [...draft.channels, channel]
                      : draft.channels.filter((c) => c !== channel),
                  )
                }
              />
              {channel}
            </label>
          ))}
        </fieldset>
        <label class="inline">
          <input
            type="checkbox"
            data-testid="answer-visitor"
            checked={draft.isVisitorSuggestible}
            onChange={(e) => set('isVisitorSuggestible', e.currentTarget.checked)}
          />
          Offer to web chat visitors whose first message matches a keyword
        </label>
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        {notice && (
          <p class="muted" role="status" data-testid="answer-notice">
            {notice}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="primary" data-testid="answer-save" disabled={isSaving}>
            Save
          </button>
          {selectedId &&
            (isConfirmingDelete ? (
              <>
                <button
                  type="button"
                  class="danger"
                  data-testid="answer-delete-confirm"
                  onClick={() => void remove()}
                >
                  Really delete
                </button>
                <button type="button" onClick={() => setConfirmingDelete(false)}>
                  Keep it
                </button>
              </>
            ) : (
              <button type="button" data-testid="answer-delete" onClick={() => setConfirmingDelete(true)}>
                Delete
              </button>
            ))}
        </div>
      </form>
    </section>
  );
}

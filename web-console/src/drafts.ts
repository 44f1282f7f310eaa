/*
 * Composer drafts survive a reload, a dropped connection or switching conversations: kept in localStorage,
 * one per interaction and mode, removed once sent.
 */
export type ComposerMode = 'reply' | 'note';

const key = (interactionId: string, mode: ComposerMode) => `switchboard:draft:${interactionId}:${mode}`;

export function loadDraft(interactionId: string, mode: ComposerMode): string {
  try {
    return localStorage.getItem(key(interactionId, mode)) ?? '';
  } catch {
    return '';
  }
}

export function saveDraft(interactionId: string, mode: ComposerMode, text: string): void {
  try {
    if (text) localStorage.setItem(key(interactionId, mode), text);
    else localStorage.removeItem(key(interactionId, mode));
  } catch {
    // Storage full or disabled: the draft lives only in memory.
  }
}

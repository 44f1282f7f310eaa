/*
 * The transcript a web chat visitor gets by email when their chat closes (when they gave an address and an
 * email mailbox is configured): every message of the conversation, visitor's and agents', with the time
 * (UTC), and the names of files sent; automatic messages and internal notes are left out.
 */
import type { LoggedEvent } from '../../src/db/repositories/interactions.repository.js';

export function chatTranscript(
  events: readonly LoggedEvent[],
  visitorName: string | undefined,
): string | null {
  const lines: string[] = [];
  for (const event of events) {
    const payload = event.payload as {
      text?: string;
      agentName?: string;
      automatic?: string;
      via?: string;
      attachments?: { fileName?: string }[];
    };
    let who: string;
    if (event.type === 'message.received') who = visitorName || 'You';
    else if (event.type === 'message.sent' && !payload.automatic) who = payload.agentName || 'Agent';
    else continue;
    const at = event.occurredAt.slice(11, 16);
    const files = (payload.attachments ?? []).map((a) => `[${a.fileName ?? 'file'}]`).join(' ');
    const text = [payload.text?.trim(), files].filter(Boolean).join(' ');
    if (!text) continue;
    lines.push(`[${at} UTC] ${who}: ${text.replace(/\n/g, '\n    ')}`);
  }
  if (lines.length === 0) return null;
  const day = events[0]?.occurredAt.slice(0, 10) ?? '';
  return `Here is the transcript of your chat with us on ${day}.\n\n${lines.join('\n')}\n\nTo add anything, reply to this email.\n`;
}

import type { ThreadClues } from '../../src/interactions/email-threading.service.js';
import type { ParsedEmail } from './types.js';

/*
 * The threading clues a parsed message carries (see src/interactions/email-threading.service.ts for how they
 * are weighed): referenced Message-IDs (In-Reply-To, then References from the newest), reply tokens in
 * plus-addressed recipients of this mailbox (support+<token>@example.com), and [#1234] subject tokens.
 */
export function threadCluesOf(parsed: ParsedEmail, mailboxAddress: string): ThreadClues {
  const referenced: string[] = [];
  for (const id of [...parsed.inReplyTo, ...[...parsed.references].reverse()])
    if (!referenced.includes(id)) referenced.push(id);

  const [local, domain] = splitAddress(mailboxAddress);
  const replyTokens: string[] = [];
  const recipients = [...parsed.to, ...parsed.cc].map((a) => a.address).concat(parsed.deliveredTo);
  for (const recipient of recipients) {
    const [rLocal, rDomain] = splitAddress(recipient);
    if (rDomain !== domain) continue;
    const plus = rLocal.indexOf('+');
    if (plus <= 0 || rLocal.slice(0, plus) !== local) continue;
    const token = rLocal.slice(plus + 1);
    if (token && !replyTokens.includes(token)) replyTokens.push(token);
  }

  const ticketNumbers: number[] = [];
  for (const m of parsed.subject.matchAll(/\[#(\d{1,12})\]/g)) {
    const n = Number(m[1]);
    if (!ticketNumbers.includes(n)) ticketNumbers.push(n);
  }
  return {
    referencedMessageIds: referenced,
    replyTokens,
    ticketNumbers,
    sender: parsed.from?.address ? parsed.from.address.trim().toLowerCase() : null,
  };
}

/** `Local@Domain` -> ['local', 'domain'], lower-cased. */
export function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf('@');
  if (at < 0) return [address.toLowerCase(), ''];
  return [address.slice(0, at).toLowerCase(), address.slice(at + 1).toLowerCase()];
}

/** The mailbox's plus-address carrying a reply token: support+t12-abc@example.com. */
export function replyAddressOf(mailboxAddress: string, token: string): string {
  const [local, domain] = splitAddress(mailboxAddress);
  return `${local}+${token}@${domain}`;
}

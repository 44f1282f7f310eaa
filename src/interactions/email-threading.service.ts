import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EmailRepository } from '../db/repositories/email.repository.js';

/*
 * Email threading: which interaction a new email continues. The clues, strongest first:
 *   1. a Message-ID in In-Reply-To or References that we sent (a reply, an acknowledgment) or that is
 *      already in a thread (a reply-all to the customer's own message);
 *   2. a reply token in a plus-addressed recipient (support+<token>@...), which our Reply-To carries;
 *   3. a ticket token in the subject ([#1234]).
 * Every clue is scoped: the interaction is taken only when the sender is its customer (an email identity)
 * or a participant of its thread (From, To or Cc of one of its messages). A clue that points elsewhere is
 * reported, not followed, so a stranger who guesses a ticket number reaches no one's conversation.
 * Whether the interaction is then joined, reopened or linked is ingest's decision (see InboundContact.thread).
 */

export interface ThreadClues {
  /** In-Reply-To first, then References from the newest; as written, between angle brackets. */
  referencedMessageIds: string[];
  /** Tokens found in plus-addressed recipients, unverified. */
  replyTokens: string[];
  /** Ticket numbers from subject tokens. */
  ticketNumbers: number[];
  /** The sender's address, lower-cased; null when the message had none. */
  sender: string | null;
}

export interface ThreadDecision {
  /** The interaction to continue, with the reason in words; null: a new interaction. */
  match: { interactionId: string; reason: string } | null;
  /** Clues that pointed at an interaction the sender does not belong to. */
  refused: string[];
}

/** A reply token: the ticket number and a MAC over it, so that a token cannot be made up. */
export function createReplyTokens(secret: string) {
  const macOf = (ticket: number) =>
    createHmac('sha256', secret)
      .update(`reply-token:${ticket}`)
      .digest('base64url')
      .slice(0, 12)
      .toLowerCase();
  return {
    tokenFor(ticketNumber: number): string {
      return `t${ticketNumber}-${macOf(ticketNumber)}`;
    },
    /** The ticket number of a genuine token, else null. */
    ticketOf(token: string): number | null {
      const m = /^t(\d{1,15})-([a-z0-9_-]{12})$/i.exec(token);
      if (!m) return null;
      const ticket = Number(m[1]);
      const expected = Buffer.from(macOf(ticket));
      const given = Buffer.from(m[2]!.toLowerCase());
      return given.length === expected.length && timingSafeEqual(given, expected) ? ticket : null;
    },
  };
}
export type ReplyTokens = ReturnType<typeof createReplyTokens>;

export function createEmailThreading(deps: {
  email: Pick<
    EmailRepository,
    'interactionsByMessageIds' | 'emailInteractionByTicket' | 'emailInteractionsById' | 'isOfThread'
  >;
  tokens: ReplyTokens;
}) {
  return {
    async resolve(clues: ThreadClues): Promise<ThreadDecision> {
      const refused: string[] = [];
      const sender = clues.sender;
      const accept = async (interactionId: string, clue: string) => {
        if (sender) {
          const belongs = await deps.email.isOfThread(interactionId, sender);
          if (belongs)
            return {
              interactionId,
              reason: `${clue}; the sender is the ${belongs === 'customer' ? "thread's customer" : 'a participant of the thread'}`,
            };
        }
        refused.push(
          `${clue}, but the sender ${sender ?? '(none)'} is neither its customer nor a participant`,
        );
        return null;
      };

      // 1. Message-IDs, ours first: In-Reply-To, then References from the newest.
      const ids = clues.referencedMessageIds.slice(0, 100);
      if (ids.length > 0) {
        const found = await deps.email.interactionsByMessageIds(ids);
        const tried = new Set<string>();
        for (const isOurs of [true, false]) {
          for (const id of ids) {
            for (const row of found.filter((f) => f.messageId === id && f.isOurs === isOurs)) {
              if (tried.has(row.interactionId)) continue;
              tried.add(row.interactionId);
              const header =
                id === clues.referencedMessageIds[0] ? 'In-Reply-To or References' : 'References';
              const clue = isOurs
                ? `${header} names our message ${id}`
                : `${header} names ${id}, a message of this thread`;
              const match = await accept(row.interactionId, clue);
              if (match) return { match, refused };
            }
          }
        }
      }

      // 2. A reply token in a plus-addressed recipient.
      for (const token of clues.replyTokens.slice(0, 10)) {
        const ticket = deps.tokens.ticketOf(token);
        if (ticket === null) {
          refused.push(`reply token '${token.slice(0, 40)}' is not genuine`);
          continue;
        }
        const interactionId = await deps.email.emailInteractionByTicket(ticket);
        if (!interactionId) continue;
        const match = await accept(interactionId, `the reply address carries ticket ${ticket}'s reply token`);
        if (match) return { match, refused };
      }

      // 3. A ticket token in the subject.
      for (const ticket of clues.ticketNumbers.slice(0, 5)) {
        const interactionId = await deps.email.emailInteractionByTicket(ticket);
        if (!interactionId) continue;
        const match = await accept(interactionId, `the subject carries [#${ticket}]`);
        if (match) return { match, refused };
      }
      return { match: null, refused };
    },
  };
}

export type EmailThreading = ReturnType<typeof createEmailThreading>;

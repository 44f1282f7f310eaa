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
    'interactionsByMessageIds' | 'emailInteractionsByTickets' | 'threadMembership'
  >;
  tokens: ReplyTokens;
}) {
  /**
   * Every message's clues at once, in three queries whatever their number: the interactions their
   * Message-IDs name, those their ticket numbers name, and whether each sender belongs to each candidate.
   */
  async function resolveMany(all: readonly ThreadClues[]): Promise<ThreadDecision[]> {
    const refusedOf = all.map(() => [] as string[]);
    const ticketsOf = all.map((clues, i) => {
      const fromTokens: number[] = [];
      for (const token of clues.replyTokens.slice(0, 10)) {
        const ticket = deps.tokens.ticketOf(token);
        if (ticket === null) refusedOf[i]!.push(`reply token '${token.slice(0, 40)}' is not genuine`);
        else if (!fromTokens.includes(ticket)) fromTokens.push(ticket);
      }
      return { fromTokens, fromSubject: clues.ticketNumbers.slice(0, 5) };
    });
    const referenced = [...new Set(all.flatMap((c) => c.referencedMessageIds.slice(0, 100)))];
    const tickets = [...new Set(ticketsOf.flatMap((t) => [...t.fromTokens, ...t.fromSubject]))];
    const [byMessageId, byTicket] = await Promise.all([
      deps.email.interactionsByMessageIds(referenced),
      deps.email.emailInteractionsByTickets(tickets),
    ]);

    // Each message's candidates, strongest first: ours, then the thread's own Message-IDs (In-Reply-To,
    // then References from the newest), then reply tokens, then subject tokens.
    const candidatesOf = all.map((clues, i) => {
      const list: { interactionId: string; clue: string }[] = [];
      const seen = new Set<string>();
      const add = (interactionId: string, clue: string) => {
        if (seen.has(interactionId)) return;
        seen.add(interactionId);
        list.push({ interactionId, clue });
      };
      const ids = clues.referencedMessageIds.slice(0, 100);
      for (const isOurs of [true, false])
        for (const id of ids)
          for (const row of byMessageId.filter((f) => f.messageId === id && f.isOurs === isOurs)) {
            const header = id === ids[0] ? 'In-Reply-To or References' : 'References';
            add(
              row.interactionId,
              isOurs
                ? `${header} names our message ${id}`
                : `${header} names ${id}, a message of this thread`,
            );
          }
      for (const ticket of ticketsOf[i]!.fromTokens) {
        const id = byTicket.get(ticket);
        if (id) add(id, `the reply address carries ticket ${ticket}'s reply token`);
      }
      for (const ticket of ticketsOf[i]!.fromSubject) {
        const id = byTicket.get(ticket);
        if (id) add(id, `the subject carries [#${ticket}]`);
      }
      return list;
    });

    const pairs = all.flatMap((clues, i) =>
      clues.sender
        ? candidatesOf[i]!.map((c) => ({ interactionId: c.interactionId, address: clues.sender! }))
        : [],
    );
    const membership = await deps.email.threadMembership(pairs);
    return all.map((clues, i) => {
      const refused = refusedOf[i]!;
      for (const candidate of candidatesOf[i]!) {
        const belongs = clues.sender
          ? membership.get(`${candidate.interactionId} ${clues.sender}`)
          : undefined;
        if (belongs) {
          const who = belongs === 'customer' ? "the thread's customer" : 'a participant of the thread';
          return {
            match: {
              interactionId: candidate.interactionId,
              reason: `${candidate.clue}; the sender is ${who}`,
            },
            refused,
          };
        }
        refused.push(
          `${candidate.clue}, but the sender ${clues.sender ?? '(none)'} is neither its customer nor a participant`,
        );
      }
      return { match: null, refused };
    });
  }

  return { resolveMany };
}

export type EmailThreading = ReturnType<typeof createEmailThreading>;

/*
 * Standard answers (canned replies): a shared library supervisors maintain and every agent searches from the
 * composer, rendered for an interaction on the server; and, on web chat, the ones flagged for visitors
 * offered before the visitor waits for a person, with the visitor's answer logged (and a "that answered
 * me" ending the contact as self-served).
 */
import type { Agent } from '../db/repositories/agents.repository.js';
import type {
  CannedRepliesRepository,
  CannedReply,
  CannedReplyFields,
  WriteOutcome,
} from '../db/repositories/canned-replies.repository.js';
import type { CustomersRepository } from '../db/repositories/customers.repository.js';
import type { InteractionsRepository, LoggedEvent } from '../db/repositories/interactions.repository.js';
import { AppError } from '../errors.js';
import type { InteractionEventPayloads } from '../events.js';
import type { Channel } from '../interactions/inbound-contact.js';
import type { RoutingService } from '../routing/routing.service.js';
import {
  placeholderCatalogue,
  placeholderValues,
  renderPlaceholders,
  unknownPlaceholders,
} from './placeholders.js';
import { matchReplies } from './suggestion-matcher.js';

export type CannedReplyInput = Omit<
  CannedReplyFields,
  'shortcut' | 'keywords' | 'channels' | 'isVisitorSuggestible'
> &
  Partial<Pick<CannedReplyFields, 'shortcut' | 'keywords' | 'channels' | 'isVisitorSuggestible'>>;

export interface RenderedReply {
  reply: { id: string; title: string };
  text: string;
  /** Placeholders left in `text` as written, for the agent to fill in: `{{customer.name}}`. */
  unresolved: string[];
}

export interface VisitorSuggestion {
  id: string;
  title: string;
  text: string;
}

/** Statuses in which nobody has taken the contact yet: a self-served answer may still end it. */
const waitingStatuses = new Set(['new', 'queued', 'offered']);

/** The reason an interaction closed as self-served carries (reports can count these apart). */
export const selfServedReason = (title: string) =>
  `self-served: the standard answer "${title}" answered them`;

/**
 * The suggestions offered on an interaction that the visitor has not answered yet (from its log, oldest
 * first), or null. Web chat shows them again to a visitor who reloads.
 */
export function pendingSuggestionsIn(
  events: readonly Pick<LoggedEvent, 'id' | 'type' | 'payload'>[],
): { eventId: string; suggestions: VisitorSuggestion[] } | null {
  let pending: { eventId: string; suggestions: VisitorSuggestion[] } | null = null;
  for (const event of events) {
    if (event.type === 'cannedReply.suggested') {
      const payload = event.payload as InteractionEventPayloads['cannedReply.suggested'];
      pending = {
        eventId: event.id,
        suggestions: payload.replies.map((r) => ({ id: r.replyId, title: r.title, text: r.text })),
      };
    } else if (event.type === 'cannedReply.accepted' || event.type === 'cannedReply.declined') {
      pending = null;
    }
  }
  return pending;
}

function normalized<T extends Partial<CannedReplyFields>>(fields: T): T {
  const words = (list: string[]) => [
    ...new Set(list.map((k) => k.trim().toLowerCase().replace(/\s+/g, ' ')).filter(Boolean)),
  ];
  return {
    ...fields,
    ...(fields.title !== undefined && { title: fields.title.trim() }),
    ...(fields.body !== undefined && { body: fields.body.trim() }),
    ...(fields.shortcut !== undefined && {
      shortcut:
        fields.shortcut === null ? null : fields.shortcut.trim().replace(/^\//, '').toLowerCase() || null,
    }),
    ...(fields.keywords !== undefined && { keywords: words(fields.keywords) }),
    ...(fields.channels !== undefined && { channels: [...new Set(fields.channels)] }),
  };
}

function checkPlaceholders(body: string | undefined) {
  if (body === undefined) return;
  const unknown = unknownPlaceholders(body);
  if (unknown.length > 0)
    throw new AppError(
      'UNKNOWN_PLACEHOLDER',
      `Unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `{{${n}}}`).join(', ')}; ` +
        `known: ${Object.keys(placeholderCatalogue)
          .map((n) => `{{${n}}}`)
          .join(', ')}.`,
      { unknown, known: Object.keys(placeholderCatalogue) },
    );
}

function saved(outcome: WriteOutcome): CannedReply {
  switch (outcome.status) {
    case 'saved':
      return outcome.reply;
    case 'not_found':
      throw new AppError('CANNED_REPLY_NOT_FOUND');
    case 'shortcut_taken':
      throw new AppError('CANNED_REPLY_SHORTCUT_TAKEN');
  }
}

export function createCannedRepliesService(deps: {
  replies: CannedRepliesRepository;
  interactions: Pick<InteractionsRepository, 'findById' | 'eventsOf' | 'appendEvent'>;
  customers: Pick<CustomersRepository, 'findById'>;
  endContact: RoutingService['endContact'];
  /** How long this process reuses the visitor-suggestible set (writes here clear it at once). */
  suggestibleCacheMs?: number;
}) {
  const cacheMs = deps.suggestibleCacheMs ?? 10_000;
  const suggestibleCache = new Map<
    Channel,
    { at: number; replies: Awaited<ReturnType<CannedRepliesRepository['suggestible']>> }
  >();

  async function suggestible(channel: Channel) {
    const cached = suggestibleCache.get(channel);
    if (cached && Date.now() - cached.at < cacheMs) return cached.replies;
    const replies = await deps.replies.suggestible(channel);
    suggestibleCache.set(channel, { at: Date.now(), replies });
    return replies;
  }

  async function get(id: string): Promise<CannedReply> {
    const reply = await deps.replies.findById(id);
    if (!reply) throw new AppError('CANNED_REPLY_NOT_FOUND');
    return reply;
  }

  async function interactionOf(id: string) {
    const interaction = await deps.interactions.findById(id);
    if (!interaction) throw new AppError('INTERACTION_NOT_FOUND');
    return interaction;
  }

  async function appendEvent<T extends keyof InteractionEventPayloads>(
    interaction: { id: string; channel: Channel },
    type: T,
    actorType: 'customer' | 'system',
    payload: InteractionEventPayloads[T],
  ) {
    return deps.interactions.appendEvent({
      interactionId: interaction.id,
      type,
      actorType,
      actorId: null,
      channel: interaction.channel,
      payload,
    });
  }

  return {
    get,

    /** Search as the agent types: see the repository for the ranking. */
    async search(query: { q?: string; channel?: Channel; limit?: number }): Promise<CannedReply[]> {
      const phrase = (query.q ?? '').trim().toLowerCase().replace(/^\//, '').replace(/\s+/g, ' ');
      const terms = [...new Set(phrase.split(' ').filter(Boolean))].slice(0, 8);
      return deps.replies.search({ terms, phrase, channel: query.channel, limit: query.limit ?? 20 });
    },

    async create(input: CannedReplyInput, actor: Agent): Promise<CannedReply> {
      const fields = normalized({
        shortcut: null,
        keywords: [],
        channels: [],
        isVisitorSuggestible: false,
        ...input,
      });
      checkPlaceholders(fields.body);
      const reply = saved(await deps.replies.create(fields, actor.id));
      suggestibleCache.clear();
      return reply;
    },

    async update(id: string, patch: Partial<CannedReplyFields>, actor: Agent): Promise<CannedReply> {
      const fields = normalized(patch);
      checkPlaceholders(fields.body);
      const reply = saved(await deps.replies.update(id, fields, actor.id));
      suggestibleCache.clear();
      return reply;
    },

    async remove(id: string, actor: Agent): Promise<void> {
      if (!(await deps.replies.delete(id, actor.id))) throw new AppError('CANNED_REPLY_NOT_FOUND');
      suggestibleCache.clear();
    },

    /** The reply's text for this interaction and agent; placeholders without a value stay as written. */
    async renderFor(interactionId: string, replyId: string, agent: Agent): Promise<RenderedReply> {
      const [interaction, reply] = await Promise.all([interactionOf(interactionId), get(replyId)]);
      if (reply.channels.length > 0 && !reply.channels.includes(interaction.channel))
        throw new AppError(
          'CANNED_REPLY_WRONG_CHANNEL',
          `That standard answer is for ${reply.channels.join(', ')}, not ${interaction.channel}.`,
        );
      const customer = await deps.customers.findById(interaction.customerId);
      const rendered = renderPlaceholders(
        reply.body,
        placeholderValues({
          customerName: customer?.displayName,
          agentName: agent.displayName,
          ticketNumber: interaction.ticketNumber,
        }),
      );
      return { reply: { id: reply.id, title: reply.title }, ...rendered };
    },

    /**
     * The visitor-suggestible replies whose keywords match a visitor's first message (at most three), rendered
     * for them, and logged as `cannedReply.suggested`. Only while nobody has taken the contact, and only
     * replies that render completely (no agent is known yet, so `{{agent.name}}` keeps a reply back). The
     * contact goes on being routed meanwhile.
     */
    async suggestForVisitor(
      interactionId: string,
      text: string,
      channel: Channel,
    ): Promise<VisitorSuggestion[]> {
      const matches = matchReplies(text, await suggestible(channel), 3);
      if (matches.length === 0) return [];
      const interaction = await deps.interactions.findById(interactionId);
      if (!interaction || !waitingStatuses.has(interaction.status)) return [];
      const customer = await deps.customers.findById(interaction.customerId);
      const values = placeholderValues({
        customerName: customer?.displayName,
        agentName: null,
        ticketNumber: interaction.ticketNumber,
      });
      const suggestions: VisitorSuggestion[] = [];
      const matched = new Set<string>();
      for (const match of matches) {
        const rendered = renderPlaceholders(match.reply.body, values);
        if (rendered.unresolved.length > 0) continue;
        suggestions.push({ id: match.reply.id, title: match.reply.title, text: rendered.text });
        for (const keyword of match.matched) matched.add(keyword);
      }
      if (suggestions.length === 0) return [];
      await appendEvent(interaction, 'cannedReply.suggested', 'system', {
        replies: suggestions.map((s) => ({ replyId: s.id, title: s.title, text: s.text })),
        matched: [...matched],
      });
      return suggestions;
    },

    /**
     * The visitor's answer to the suggestions: `replyId` answered them, or null (they still want a person).
     * Logged once (a second answer, from another tab, is not recorded). An answer that helped ends a contact
     * nobody has taken yet as self-served (its offer withdrawn); one an agent already holds stays open.
     */
    async recordVisitorAnswer(
      interactionId: string,
      replyId: string | null,
    ): Promise<{ isRecorded: boolean; isClosed: boolean }> {
      const interaction = await interactionOf(interactionId);
      const events = await deps.interactions.eventsOf(interactionId);
      const pending = pendingSuggestionsIn(events);
      if (!pending) {
        if (!events.some((e) => e.type === 'cannedReply.suggested'))
          throw new AppError('CANNED_REPLY_NOT_SUGGESTED');
        return { isRecorded: false, isClosed: interaction.status === 'closed' };
      }
      if (replyId === null) {
        await appendEvent(interaction, 'cannedReply.declined', 'customer', {
          replyIds: pending.suggestions.map((s) => s.id),
          suggestedEventId: pending.eventId,
        });
        return { isRecorded: true, isClosed: false };
      }
      const suggestion = pending.suggestions.find((s) => s.id === replyId);
      if (!suggestion) throw new AppError('CANNED_REPLY_NOT_SUGGESTED');
      await appendEvent(interaction, 'cannedReply.accepted', 'customer', {
        replyId,
        title: suggestion.title,
        suggestedEventId: pending.eventId,
      });
      if (!waitingStatuses.has(interaction.status))
        return { isRecorded: true, isClosed: interaction.status === 'closed' };
      try {
        await deps.endContact(interactionId, {
          actor: { type: 'customer', id: null },
          reason: selfServedReason(suggestion.title),
        });
      } catch (error) {
        // Closed meanwhile (the visitor ended the chat from another tab): nothing left to end.
        if (!(error instanceof AppError && error.code === 'INTERACTION_CLOSED')) throw error;
      }
      return { isRecorded: true, isClosed: true };
    },
  };
}

export type CannedRepliesService = ReturnType<typeof createCannedRepliesService>;

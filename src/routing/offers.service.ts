/*
 * An offer's life after the claim: the agent accepts or rejects it, or it times out (a BullMQ job delayed to
 * its expiry, keyed by the offer id). Each answer is one atomic settlement (RoutingRepository.settle): only a
 * live offer settles, so a second answer, an accept racing a timeout, or a retried timeout job changes
 * nothing. A reject or a timeout puts the contact back in its queue and dispatches again: the agent who
 * declined is not offered it again. Timeouts count as misses; `options.missesBeforeAway` in a row set the
 * agent away.
 */
import type { RoutingRepository, SettleResult } from '../db/repositories/routing.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import { requireRules, type Dispatcher, type RulesSource } from './dispatch.service.js';

export type ExpireOutcome = 'expired' | 'already-settled' | 'not-found';

export function createOffersService(deps: {
  routing: RoutingRepository;
  rules: RulesSource;
  events: DomainEvents;
  dispatcher: Dispatcher;
  /** An agent was set away for missed offers: their other live offers must go elsewhere (routing.service). */
  onSetAway?: (agentId: string, reason: string) => Promise<unknown>;
}) {
  function refuse(result: Exclude<SettleResult, { status: 'settled' }>): never {
    switch (result.status) {
      case 'not_found':
        throw new AppError('OFFER_NOT_FOUND');
      case 'not_yours':
        throw new AppError('OFFER_NOT_YOURS');
      case 'already_settled':
        throw new AppError('OFFER_NOT_LIVE', `That offer is already ${result.offerStatus}.`);
    }
  }

  function publishStateChange(settled: Extract<SettleResult, { status: 'settled' }>, reason: string) {
    if (!settled.isSetAway) return;
    deps.events.publish('agent.stateChanged', {
      agentId: settled.agentId,
      from: settled.stateBefore,
      to: 'away',
      reason,
    });
  }

  /** Settles one offer as expired, without dispatching. */
  async function expireOne(offerId: string): Promise<ExpireOutcome> {
    const { missesBeforeAway } = requireRules(deps.rules).options;
    const awayReason = `missed ${missesBeforeAway} offers in a row`;
    const result = await deps.routing.settle({ outcome: 'expired', offerId, missesBeforeAway, awayReason });
    if (result.status === 'not_found') return 'not-found';
    if (result.status !== 'settled') return 'already-settled';
    deps.events.publish('offer.expired', {
      offerId,
      interactionId: result.interactionId,
      agentId: result.agentId,
    });
    publishStateChange(result, awayReason);
    if (result.isSetAway) await deps.onSetAway?.(result.agentId, awayReason);
    return 'expired';
  }

  return {
    async accept(offerId: string, agentId: string): Promise<{ interactionId: string }> {
      const result = await deps.routing.settle({ outcome: 'accepted', offerId, agentId });
      if (result.status !== 'settled') refuse(result);
      deps.events.publish('offer.accepted', {
        offerId,
        interactionId: result.interactionId,
        agentId,
        channel: result.channel,
      });
      // The settle function moved an available agent on to the contact: their console shows it.
      if (result.stateBefore === 'available')
        deps.events.publish('agent.stateChanged', {
          agentId,
          from: 'available',
          to: 'on_contact',
          reason: null,
        });
      return { interactionId: result.interactionId };
    },

    /** Declines the offer; the contact is re-offered to someone else at once. */
    async reject(offerId: string, agentId: string, reason: string | null = null): Promise<void> {
      const result = await deps.routing.settle({ outcome: 'rejected', offerId, agentId, reason });
      if (result.status !== 'settled') refuse(result);
      deps.events.publish('offer.rejected', { offerId, interactionId: result.interactionId, agentId });
      await deps.dispatcher.dispatch();
    },

    /**
     * Expires every live offer due now (the expiry job's handler), then dispatches once for all of them.
     * `graceMs`: only those due more than that long ago (the sweep, for offers whose job was lost).
     */
    async expireDue(graceMs = 0, limit = 500): Promise<number> {
      let expired = 0;
      for (const offerId of await deps.routing.overdueOfferIds(graceMs, limit)) {
        if ((await expireOne(offerId)) === 'expired') expired += 1;
      }
      if (expired > 0) await deps.dispatcher.dispatch();
      return expired;
    },

    /** Expires live offers whose timeout job never ran (the sweep; see expireDue). */
    async expireOverdue(graceMs: number, limit = 100): Promise<number> {
      return this.expireDue(graceMs, limit);
    },

    /** One offer's timeout (jobs queued by earlier versions). Retry-safe: an offer no longer live is left alone. */
    async expire(offerId: string): Promise<ExpireOutcome> {
      const outcome = await expireOne(offerId);
      if (outcome === 'expired') await deps.dispatcher.dispatch();
      return outcome;
    },
  };
}

export type OffersService = ReturnType<typeof createOffersService>;

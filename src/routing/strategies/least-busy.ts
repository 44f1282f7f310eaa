/*
 * least-busy: the eligible agent with the lowest load/capacity on the contact's channel, then the longest idle,
 * then agentId. Only the contact's channel counts (capacity is per channel). Ratios are compared exactly by
 * cross-multiplication, so 1/3 and 2/6 tie. On an exclusive channel (voice) every eligible agent is at 0, so
 * the pick is the longest idle.
 */
import type { Candidate, Channel, Strategy } from '../routing.types.js';
import {
  bestBy,
  capacityOn,
  compareLongestIdle,
  eligibleCandidates,
  idleFor,
  loadOn,
  plural,
} from './eligibility.js';

/** Negative when `a` is less busy than `b` on `channel`. Eligible candidates have capacity > 0. */
function compareBusyness(a: Candidate, b: Candidate, channel: Channel): number {
  return loadOn(a, channel) * capacityOn(b, channel) - loadOn(b, channel) * capacityOn(a, channel);
}

export const leastBusy: Strategy = (candidates, contact, snapshot) => {
  const { channel } = contact;
  const eligible = eligibleCandidates(candidates, contact);
  const best = bestBy(eligible, (a, b) => compareBusyness(a, b, channel) || compareLongestIdle(a, b));
  if (best === undefined) return null;

  const tied = eligible.filter((c) => c !== best && compareBusyness(c, best, channel) === 0).length;
  const load = `${loadOn(best, channel)}/${capacityOn(best, channel)} ${channel}`;
  const tieBreak =
    tied > 0
      ? `; tied with ${plural(tied, 'other agent')}, ${idleFor(best, snapshot.nowMs)}, the longest of them`
      : '';
  return {
    kind: 'pick',
    agentId: best.agentId,
    strategy: 'least-busy',
    reason: `${best.agentId} is the least busy of ${plural(eligible.length, 'eligible agent')} at ${load}${tieBreak}.`,
  };
};

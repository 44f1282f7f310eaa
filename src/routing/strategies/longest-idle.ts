/*
 * longest-idle: the eligible agent who finished their last work (or became available) longest ago, then agentId.
 */
import type { Strategy } from '../routing.types.js';
import { bestBy, compareLongestIdle, eligibleCandidates, idleFor, plural } from './eligibility.js';

export const longestIdle: Strategy = (candidates, contact, snapshot) => {
  const eligible = eligibleCandidates(candidates, contact);
  const best = bestBy(eligible, compareLongestIdle);
  if (best === undefined) return null;
  return {
    kind: 'pick',
    agentId: best.agentId,
    strategy: 'longest-idle',
    reason: `${best.agentId} has been ${idleFor(best, snapshot.nowMs)}, the longest of ${plural(eligible.length, 'eligible agent')}.`,
  };
};

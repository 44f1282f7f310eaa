/*
 * The strategy registry: the names the rule files use, each mapped to its pure function. The rule loader
 * validates a queue's `strategy` (and secondary strategy) with `isStrategyName` and resolves it here once, so
 * nothing is looked up by string on the routing path.
 */
import type { Strategy, StrategyName } from '../routing.types.js';
import { accountOwner } from './account-owner.js';
import { leastBusy } from './least-busy.js';
import { longestIdle } from './longest-idle.js';
import { roundRobin } from './round-robin.js';
import { skills } from './skills.js';

export const strategies: Readonly<Record<StrategyName, Strategy>> = {
  skills,
  'round-robin': roundRobin,
  'least-busy': leastBusy,
  'longest-idle': longestIdle,
  'account-owner': accountOwner,
};

export const strategyNames = Object.keys(strategies) as readonly StrategyName[];

export function isStrategyName(name: string): name is StrategyName {
  return Object.hasOwn(strategies, name);
}

export { accountOwner, leastBusy, longestIdle, roundRobin, skills };
export { applyRotation } from './round-robin.js';
export { eligibleCandidates, exclusiveChannels, ineligibilityOf, isEligible } from './eligibility.js';

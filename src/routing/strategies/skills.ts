/*
 * skills: among eligible agents (who all hold every required skill at its minimum level), the best proficiency,
 * then the longest idle, then agentId.
 *
 * Proficiency is the SUM of the agent's levels over the contact's required skills. Every candidate is scored on
 * the same skills, so the sum ranks like the mean: an agent good at everything the contact needs beats one who
 * is expert at one skill and barely qualified in the rest (MAX would prefer the latter). Skills the contact does
 * not need do not count. With no required skills every score is 0 and the pick is simply the longest idle.
 */
import type { Candidate, RoutableContact, Strategy } from '../routing.types.js';
import { bestBy, compareLongestIdle, eligibleCandidates, idleFor, plural } from './eligibility.js';

export function proficiencyOf(candidate: Candidate, contact: RoutableContact): number {
  return contact.requiredSkills.reduce((sum, { skill }) => sum + (candidate.skills[skill] ?? 0), 0);
}

export const skills: Strategy = (candidates, contact, snapshot) => {
  const eligible = eligibleCandidates(candidates, contact);
  const scored = eligible.map((candidate) => ({ candidate, score: proficiencyOf(candidate, contact) }));
  const best = bestBy(scored, (a, b) => b.score - a.score || compareLongestIdle(a.candidate, b.candidate));
  if (best === undefined) return null;

  const { candidate, score } = best;
  const idle = idleFor(candidate, snapshot.nowMs);
  const among = `of ${plural(eligible.length, 'eligible agent')}`;
  let reason: string;
  if (contact.requiredSkills.length === 0) {
    reason = `No skills required; ${candidate.agentId} has been ${idle}, the longest ${among}.`;
  } else {
    const levels = contact.requiredSkills
      .map(({ skill, minLevel }) => `${skill} ${candidate.skills[skill] ?? 0} (min ${minLevel})`)
      .join(', ');
    const tied = scored.filter((s) => s.score === score).length - 1;
    const tieBreak =
      tied > 0 ? `; tied with ${plural(tied, 'other agent')}, ${idle}, the longest of them` : '';
    reason = `${candidate.agentId} has ${levels}: proficiency ${score}, the best ${among}${tieBreak}.`;
  }
  return { kind: 'pick', agentId: candidate.agentId, strategy: 'skills', reason };
};

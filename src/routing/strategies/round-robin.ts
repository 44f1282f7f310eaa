/*
 * round-robin: a stable rotation per queue. The rotation order is the eligible agents sorted by agentId; the
 * next agent is the first one after the queue's `lastAgentId` in that order, wrapping to the start.
 *
 * Why a cursor on the agentId and not an index or a stored member list:
 *   - Restarts: the whole state is one agent id per queue (`RotationState`), plain data the caller stores after
 *     the claim and passes back in the snapshot. Re-running from the stored value continues the same sequence.
 *   - Leave: nobody's position depends on anyone else, so when an agent leaves (logs off, goes away, fills up)
 *     the others keep their turns; if the departed agent was the last one picked, the cursor still points
 *     between their neighbours.
 *   - Join: a newcomer slots into the order by id and gets their turn when the cursor passes it, at most one
 *     turn per round, like everyone else, without a catch-up burst.
 *   - Busy agents are skipped for that contact (they are not eligible) and keep their place for the next round.
 * Over any stretch in which the same agents stay eligible, each is picked equally often, within one.
 * The pick returns the new `rotation`; the caller stores it only if the offer is actually claimed.
 */
import type { RoutingDecision, RoutingSnapshot, Strategy } from '../routing.types.js';
import { compareAgentIds, eligibleCandidates, plural } from './eligibility.js';

export const roundRobin: Strategy = (candidates, contact, snapshot) => {
  const eligible = eligibleCandidates(candidates, contact).sort((a, b) =>
    compareAgentIds(a.agentId, b.agentId),
  );
  const first = eligible[0];
  if (first === undefined) return null;

  const lastAgentId = snapshot.rotations[contact.queueId]?.lastAgentId ?? null;
  const after =
    lastAgentId === null ? undefined : eligible.find((c) => compareAgentIds(c.agentId, lastAgentId) > 0);
  const next = after ?? first;

  const rotation = `the rotation of ${plural(eligible.length, 'eligible agent')} in queue ${contact.queueId}`;
  let reason: string;
  if (lastAgentId === null) {
    reason = `${next.agentId} is first in ${rotation}; nobody has been picked there yet.`;
  } else if (after === undefined) {
    reason = `${next.agentId} starts the next round of ${rotation}, after ${lastAgentId}.`;
  } else {
    reason = `${next.agentId} is next in ${rotation}, after ${lastAgentId}.`;
  }
  return {
    kind: 'pick',
    agentId: next.agentId,
    strategy: 'round-robin',
    reason,
    rotation: { queueId: contact.queueId, state: { lastAgentId: next.agentId } },
  };
};

/** The snapshot with a pick's rotation stored, as the caller does once the offer is claimed. */
export function applyRotation(snapshot: RoutingSnapshot, decision: RoutingDecision | null): RoutingSnapshot {
  if (decision?.kind !== 'pick' || decision.rotation === undefined) return snapshot;
  const { queueId, state } = decision.rotation;
  return { ...snapshot, rotations: { ...snapshot.rotations, [queueId]: state } };
}

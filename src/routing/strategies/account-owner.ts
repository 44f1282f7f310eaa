/*
 * account-owner: keep the customer with the people who know them.
 *
 * Preferred agents, in order: the customer's account owner, then the agent who served the customer most
 * recently within `recentAgentWindowMs` (the newest such entry that is not the owner, who was already
 * considered). The first preferred agent who is eligible now is picked.
 *
 * When none is eligible, the result is data, not a hidden timer:
 *   - `{ kind: 'wait-for', agentId, untilMs }` when a preferred agent is merely busy (at capacity, on a call, in
 *     wrap-up) and the snapshot's clock is before `untilMs = enqueuedAtMs + preferredAgentWaitMs` (the queue's
 *     timeout). The caller keeps the contact queued and re-runs the strategy when that agent frees up, and at
 *     `untilMs` at the latest.
 *   - otherwise the strategy calls `options.fallback` (the queue's secondary strategy) itself and returns its
 *     decision, the reason prefixed with why nobody preferred was taken. So an owner who is away, offline, not
 *     in this queue, lacks a required skill or takes no contacts on this channel is not waited for at all: they
 *     cannot become eligible by finishing work.
 * The fallback's pick keeps the fallback's strategy name (and round-robin's rotation), so distribution reports
 * count it where it belongs. The fallback is called without a fallback of its own, so configuring account-owner
 * as its own secondary ends in longest-idle instead of recursing.
 */
import type { AgentId, Candidate, RoutableContact, RoutingSnapshot, Strategy } from '../routing.types.js';
import { formatDuration, ineligibilityOf } from './eligibility.js';
import { longestIdle } from './longest-idle.js';

/** Used when the queue sets no window: a month of continuity. */
export const DEFAULT_RECENT_AGENT_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;
/** Used when the queue sets no timeout: never hold a contact for a busy preferred agent. */
export const DEFAULT_PREFERRED_AGENT_WAIT_MS = 0;
/** Used when the queue names no secondary strategy. */
export const DEFAULT_FALLBACK: Strategy = longestIdle;

interface Preferred {
  agentId: AgentId;
  /** Who they are to the customer, as a supervisor reads it: "account owner a1". */
  label: string;
}

function preferredAgents(contact: RoutableContact, snapshot: RoutingSnapshot, windowMs: number): Preferred[] {
  const preferred: Preferred[] = [];
  const owner = contact.accountOwnerId;
  if (owner !== null) preferred.push({ agentId: owner, label: `account owner ${owner}` });

  const since = snapshot.nowMs - windowMs;
  let recent: (typeof contact.recentAgents)[number] | undefined;
  for (const entry of contact.recentAgents) {
    if (entry.agentId === owner || entry.servedAtMs < since) continue;
    if (recent === undefined || entry.servedAtMs > recent.servedAtMs) recent = entry;
  }
  if (recent !== undefined) {
    const ago = formatDuration(snapshot.nowMs - recent.servedAtMs);
    preferred.push({
      agentId: recent.agentId,
      label: `${recent.agentId}, who served the customer ${ago} ago,`,
    });
  }
  return preferred;
}

/** Would be eligible once they finish their current work: present, working or wrapping up, skilled, staffed. */
function mayFreeUp(candidate: Candidate, contact: RoutableContact): boolean {
  if (candidate.state === 'away' || candidate.state === 'offline') return false;
  return ineligibilityOf({ ...candidate, state: 'available', load: {} }, contact) === null;
}

export const accountOwner: Strategy = (candidates, contact, snapshot, options) => {
  const windowMs = options.recentAgentWindowMs ?? DEFAULT_RECENT_AGENT_WINDOW_MS;
  const waitMs = options.preferredAgentWaitMs ?? DEFAULT_PREFERRED_AGENT_WAIT_MS;
  const fallback = options.fallback ?? DEFAULT_FALLBACK;

  const preferred = preferredAgents(contact, snapshot, windowMs);
  const passedOver: string[] = [];
  let waitable: Preferred | undefined;
  for (const agent of preferred) {
    const candidate = candidates.find((c) => c.agentId === agent.agentId);
    if (candidate === undefined) {
      passedOver.push(`${agent.label} is not a candidate in queue ${contact.queueId}`);
      continue;
    }
    const why = ineligibilityOf(candidate, contact);
    if (why === null) {
      const others = passedOver.length > 0 ? ` (${passedOver.join('; ')})` : '';
      return {
        kind: 'pick',
        agentId: agent.agentId,
        strategy: 'account-owner',
        reason: `Preferred agent: ${agent.label} is available${others}.`,
      };
    }
    passedOver.push(`${agent.label} ${why}`);
    if (waitable === undefined && mayFreeUp(candidate, contact)) waitable = agent;
  }

  const untilMs = contact.enqueuedAtMs + waitMs;
  if (waitable !== undefined && snapshot.nowMs < untilMs) {
    return {
      kind: 'wait-for',
      agentId: waitable.agentId,
      untilMs,
      strategy: 'account-owner',
      reason:
        `Waiting up to ${formatDuration(untilMs - snapshot.nowMs)} more for ${waitable.agentId}: ` +
        `${passedOver.join('; ')}.`,
    };
  }

  const decision = fallback(candidates, contact, snapshot, { ...options, fallback: undefined });
  if (decision === null) return null;
  const why =
    preferred.length === 0
      ? `The customer has no account owner and nobody served them in the last ${formatDuration(windowMs)}`
      : waitable !== undefined && waitMs > 0
        ? `No preferred agent freed up within the queue's ${formatDuration(waitMs)} (${passedOver.join('; ')})`
        : `No preferred agent can take it now (${passedOver.join('; ')})`;
  return { ...decision, reason: `${why}; fell back to ${decision.strategy}: ${decision.reason}` };
};

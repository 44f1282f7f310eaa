/*
 * The one eligibility rule every strategy applies before it ranks anyone, plus the shared orderings.
 *
 * A candidate is eligible for a contact when all of these hold:
 *   1. State: `available` or `on_contact`. `wrap_up`, `away` and `offline` take nothing. The state says whether
 *      the agent is working; how much more they can take is decided by load alone (rules 2-4), so an agent
 *      `on_contact` with two chats open may take a third chat.
 *   2. Exclusive channels (voice): an agent with any load on an exclusive channel is on a call and takes
 *      nothing else, on any channel.
 *   3. A contact on an exclusive channel needs capacity >= 1 on it (a capacity above 1 counts as 1). Open chats,
 *      emails or faxes do not block a call: they can wait while the agent talks, a caller cannot. Whether an
 *      agent takes calls at all is their voice capacity: 0 means never, open chats or not.
 *   4. A contact on a stacking channel (chat, email, fax) needs load < capacity on that channel. Channels are
 *      counted separately: three chats do not use up email capacity.
 *   5. Every required skill at its minimum level or above, or, when escalation added other queues' agents
 *      (`alternativeSkills`), every skill of one of those sets.
 * A strategy only ever chooses among the candidates it was given, so nobody outside them can be picked.
 */
import type {
  AgentId,
  AgentState,
  Candidate,
  Channel,
  RoutableContact,
  SkillRequirement,
} from '../routing.types.js';

/** Channels on which an agent handles one contact at a time and nothing else meanwhile. Data, not a switch. */
export const exclusiveChannels: ReadonlySet<Channel> = new Set<Channel>(['voice']);
const exclusiveChannelList: readonly Channel[] = [...exclusiveChannels];

/** Why a state takes nothing, or null for the working states. */
const stateBlocks: Readonly<Record<AgentState, string | null>> = {
  available: null,
  on_contact: null,
  wrap_up: 'is in wrap-up',
  away: 'is away',
  offline: 'is offline',
};

export function loadOn(candidate: Candidate, channel: Channel): number {
  return candidate.load[channel] ?? 0;
}

/** Capacity as routing applies it: exclusive channels count at most 1. */
export function capacityOn(candidate: Candidate, channel: Channel): number {
  const capacity = candidate.capacity[channel] ?? 0;
  return exclusiveChannels.has(channel) ? Math.min(capacity, 1) : capacity;
}

function exclusiveChannelInUse(candidate: Candidate): Channel | undefined {
  return exclusiveChannelList.find((channel) => loadOn(candidate, channel) > 0);
}

function hasSkills(candidate: Candidate, required: readonly SkillRequirement[]): boolean {
  for (const { skill, minLevel } of required) {
    const level = candidate.skills[skill];
    if (level === undefined || level < minLevel) return false;
  }
  return true;
}

/** The first requirement of `required` the candidate misses, as the end of a sentence, or null. */
function missingSkill(candidate: Candidate, required: readonly SkillRequirement[]): string | null {
  for (const { skill, minLevel } of required) {
    const level = candidate.skills[skill];
    if (level === undefined) return `lacks skill ${skill}`;
    if (level < minLevel) return `has ${skill} at level ${level}, below the required ${minLevel}`;
  }
  return null;
}

/**
 * Why a candidate may not take the contact, as the end of a sentence ("is away"), or null when they may.
 * Strategies use it to filter; the caller can use it to explain every candidate that was passed over.
 */
export function ineligibilityOf(candidate: Candidate, contact: RoutableContact): string | null {
  // Lasting reasons first, so the explanation names what finishing work would not change.
  const blockedByState = stateBlocks[candidate.state];
  if (blockedByState !== null) return blockedByState;
  const skillGap = missingSkill(candidate, contact.requiredSkills);
  if (skillGap !== null && !contact.alternativeSkills?.some((set) => missingSkill(candidate, set) === null))
    return skillGap;
  const capacity = capacityOn(candidate, contact.channel);
  if (capacity <= 0) return `takes no ${contact.channel} contacts`;
  const busyOn = exclusiveChannelInUse(candidate);
  if (busyOn !== undefined) return `is busy on ${busyOn}, which takes nothing else meanwhile`;
  const load = loadOn(candidate, contact.channel);
  if (load >= capacity) return `is at ${contact.channel} capacity (${load}/${capacity})`;
  return null;
}

/**
 * ineligibilityOf(...) === null, without building the reason: strategies ask this of every candidate for
 * every contact (500 agents: most are ineligible for a skilled queue, and their reasons cost more than the
 * pick).
 */
export function isEligible(candidate: Candidate, contact: RoutableContact): boolean {
  if (stateBlocks[candidate.state] !== null) return false;
  if (
    !hasSkills(candidate, contact.requiredSkills) &&
    !contact.alternativeSkills?.some((set) => hasSkills(candidate, set))
  )
    return false;
  const capacity = capacityOn(candidate, contact.channel);
  if (capacity <= 0 || exclusiveChannelInUse(candidate) !== undefined) return false;
  return loadOn(candidate, contact.channel) < capacity;
}

export function eligibleCandidates(candidates: readonly Candidate[], contact: RoutableContact): Candidate[] {
  return candidates.filter((candidate) => isEligible(candidate, contact));
}

/** Code-unit order, independent of locale, so ties break the same way on every machine. */
export function compareAgentIds(a: AgentId, b: AgentId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Longest idle first (smallest idleSinceMs), then agentId. */
export function compareLongestIdle(a: Candidate, b: Candidate): number {
  return a.idleSinceMs - b.idleSinceMs || compareAgentIds(a.agentId, b.agentId);
}

/** The first candidate in `compare` order, or undefined when there is none. Does not sort in place. */
export function bestBy<T>(items: readonly T[], compare: (a: T, b: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (best === undefined || compare(item, best) < 0) best = item;
  }
  return best;
}

/** "3d 04h", "2h 05m", "4m 09s", "12s": for reasons a supervisor reads. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (days > 0) return `${days}d ${pad(hours)}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  if (minutes > 0) return `${minutes}m ${pad(seconds)}s`;
  return `${seconds}s`;
}

/** "idle 4m 09s" relative to the snapshot's clock. */
export function idleFor(candidate: Candidate, nowMs: number): string {
  return `idle ${formatDuration(nowMs - candidate.idleSinceMs)}`;
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/*
 * From the log to the arrivals file: recorded interactions and agent state changes become arrival and agent
 * lines (arrivals.schema.ts). Pure; the export command reads the rows (SimulationRepository) and writes.
 *
 * What each field is made of:
 *   at              when the interaction was queued (routing began; the wait starts here)
 *   facts           the first customer message's text and hints (ivrChoice, receivedOn, locale), the subject,
 *                   and the customer's account id and tier: what the rule matcher read
 *   offers          every settled offer: accepted / rejected / expired, seconds from offer to answer
 *   handleSeconds   closed_at - assigned_at, for an interaction that was assigned and closed
 *   patienceSeconds closed_at - at, when the customer left before anyone was assigned: never assigned, and
 *                   closed by the customer (the interaction.closed event's actor; routing.service endContact)
 *                   or with closed_reason 'abandoned'
 *   actual          the queue of the first routing.queued, the wait to assignment, the agent who accepted
 *                   (else the assignee), whether the customer abandoned
 * Agent lines carry presence only: `on_contact` and `wrap_up` are written as `available` (the simulation makes
 * its own), and a change that leaves presence as it was is left out. Skills and capacity are the agents' current
 * ones (the log has no history of them), on each agent's first line.
 */
import type {
  RecordedAgent,
  RecordedInteraction,
  RecordedStateChange,
} from '../../db/repositories/simulation.repository.js';
import type { AgentLine, ArrivalLine, Presence } from './arrivals.schema.js';

/** Seconds between two instants, to the millisecond, never negative. */
const secondsBetween = (from: Date, to: Date) =>
  Math.max(0, Math.round(to.getTime() - from.getTime()) / 1000);

const asText = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;

export function toArrivalLine(recorded: RecordedInteraction): ArrivalLine {
  const at = recorded.enqueuedAt;
  const facts: NonNullable<ArrivalLine['facts']> = {};
  const ivrChoice = recorded.hints.ivrChoice;
  if (typeof ivrChoice === 'number' && Number.isInteger(ivrChoice)) facts.ivrChoice = ivrChoice;
  else if (asText(ivrChoice) !== undefined) facts.ivrChoice = asText(ivrChoice)!;
  const receivedOn = asText(recorded.hints.receivedOn);
  if (receivedOn !== undefined) facts.receivedOn = receivedOn;
  const locale = asText(recorded.hints.locale);
  if (locale !== undefined) facts.locale = locale;
  if (recorded.customerTier !== null) facts.customerTier = recorded.customerTier;
  if (recorded.accountId !== null) facts.accountId = recorded.accountId;
  if (recorded.subject !== null) facts.subject = recorded.subject;
  if (recorded.text !== null) facts.text = recorded.text;

  const offers: NonNullable<ArrivalLine['offers']> = [];
  for (const offer of recorded.offers) {
    if (offer.settledAt === null) continue;
    if (offer.status === 'accepted' || offer.status === 'rejected' || offer.status === 'expired') {
      offers.push({
        agentId: offer.agentId,
        outcome: offer.status,
        afterSeconds: secondsBetween(offer.offeredAt, offer.settledAt),
      });
    }
  }
  const { assignedAt, closedAt } = recorded;
  const isAbandoned =
    assignedAt === null &&
    closedAt !== null &&
    (recorded.closedBy === 'customer' || recorded.closedReason === 'abandoned');
  const acceptedBy = recorded.offers.find((o) => o.status === 'accepted')?.agentId;

  return {
    type: 'arrival',
    at: at.toISOString(),
    interactionId: recorded.interactionId,
    channel: recorded.channel,
    facts,
    customerId: recorded.customerId,
    ...(recorded.accountOwnerId !== null && { accountOwnerId: recorded.accountOwnerId }),
    ...(recorded.recentAgents.length > 0 && {
      recentAgents: recorded.recentAgents.map((r) => ({ agentId: r.agentId, at: r.servedAt.toISOString() })),
    }),
    ...(assignedAt !== null && closedAt !== null && { handleSeconds: secondsBetween(assignedAt, closedAt) }),
    ...(isAbandoned && closedAt !== null && { patienceSeconds: secondsBetween(at, closedAt) }),
    ...(offers.length > 0 && { offers }),
    ...(recorded.queue !== null && {
      actual: {
        queue: recorded.queue,
        waitSeconds: assignedAt === null ? null : secondsBetween(at, assignedAt),
        agentId: assignedAt === null ? null : (acceptedBy ?? recorded.assigneeId),
        abandoned: isAbandoned,
      },
    }),
  };
}

const presenceOf = (state: string): Presence | null =>
  state === 'available' || state === 'on_contact' || state === 'wrap_up'
    ? 'available'
    : state === 'away' || state === 'offline'
      ? state
      : null;

/**
 * Turns state changes into agent lines, in the order given: drops changes that keep presence as it was, and
 * puts the agent's skills and capacity on their first line.
 */
export class AgentLineWriter {
  readonly #profiles: ReadonlyMap<string, RecordedAgent>;
  readonly #presence = new Map<string, Presence>();

  constructor(profiles: readonly RecordedAgent[]) {
    this.#profiles = new Map(profiles.map((p) => [p.agentId, p]));
  }

  /** The line for this change, or null when it changes nothing the simulator reads. `at` overrides the time. */
  line(change: RecordedStateChange, at: Date = change.at): AgentLine | null {
    const presence = presenceOf(change.state);
    if (presence === null) return null;
    const previous = this.#presence.get(change.agentId);
    if (previous === presence) return null;
    this.#presence.set(change.agentId, presence);
    const profile = previous === undefined ? this.#profiles.get(change.agentId) : undefined;
    return {
      type: 'agent',
      at: at.toISOString(),
      agentId: change.agentId,
      state: presence,
      ...(profile && { skills: profile.skills, capacity: profile.capacity }),
    };
  }
}

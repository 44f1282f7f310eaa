/*
 * An agent hands their interaction to a colleague or a queue. For the console's picker, `targets` lists every
 * colleague with their state and load on the interaction's channel, and why they cannot take it now. A
 * transfer to an agent is refused, with the agent's name and the reason, unless the agent is working
 * (available or on a contact), meets the requirements of the interaction's queue (skills, a capacity above
 * zero on its channel) and has room on that channel; routing's move then checks capacity again under the
 * agents' locks, so a colleague who filled up meanwhile is still refused. A transfer to a queue goes straight
 * to routing. A supervisor's assign does not pass here: it overrides state and skills.
 */
import type { RosterEntry } from '../db/repositories/agent-states.repository.js';
import type { Interaction } from '../db/repositories/interactions.repository.js';
import { AppError, type ErrorCode } from '../errors.js';
import { requireRules, toCandidate, type RulesSource } from '../routing/dispatch.service.js';
import type { ActingAgent, RoutingService } from '../routing/routing.service.js';
import type { Candidate, RoutableContact } from '../routing/routing.types.js';
import type { RuleSet } from '../routing/rules/rules.schema.js';
import { ineligibilityOf } from '../routing/strategies/index.js';
import { capacityOn } from '../routing/strategies/eligibility.js';
import type { Channel } from './inbound-contact.js';

export type TransferRefusalCode = Extract<
  ErrorCode,
  'AGENT_NOT_WORKING' | 'AGENT_NOT_ELIGIBLE' | 'AGENT_AT_CAPACITY'
>;

/** Why a colleague cannot take the interaction now: `reason` ends a sentence that starts with their name. */
export interface TransferRefusal {
  code: TransferRefusalCode;
  reason: string;
}

export interface TransferTarget {
  agentId: string;
  displayName: string;
  state: RosterEntry['state'];
  awayReason: string | null;
  /** Open contacts on the interaction's channel, and how many the agent may hold there. */
  load: number;
  capacity: number;
  refusal: TransferRefusal | null;
}

const notWorking: Partial<Record<RosterEntry['state'], string>> = {
  away: 'is away',
  offline: 'is offline',
  wrap_up: 'is in wrap-up',
};

/**
 * Whether a colleague can take the interaction now, and if not, the lasting reason first: not working, then
 * not eligible (skills, no capacity on the channel), then full for now (at capacity, or on a call).
 */
export function transferRefusalOf(
  candidate: Candidate,
  awayReason: string | null,
  contact: RoutableContact,
): TransferRefusal | null {
  const stateText = notWorking[candidate.state];
  if (stateText !== undefined)
    return {
      code: 'AGENT_NOT_WORKING',
      reason: candidate.state === 'away' && awayReason ? `${stateText} (${awayReason})` : stateText,
    };
  const lasting = ineligibilityOf({ ...candidate, load: {} }, contact);
  if (lasting !== null) return { code: 'AGENT_NOT_ELIGIBLE', reason: lasting };
  const now = ineligibilityOf(candidate, contact);
  if (now !== null) return { code: 'AGENT_AT_CAPACITY', reason: now };
  return null;
}

/** The interaction as the eligibility rule sees it: its channel and its queue's skill requirements. */
function toContact(interaction: Interaction, rules: RuleSet): RoutableContact {
  const queue = interaction.queue === null ? undefined : rules.queues.get(interaction.queue);
  return {
    interactionId: interaction.id,
    queueId: interaction.queue ?? '',
    channel: interaction.channel,
    requiredSkills: queue?.requiredSkills ?? [],
    customerId: interaction.customerId,
    accountOwnerId: null,
    recentAgents: [],
    priority: interaction.priority,
    enqueuedAtMs: 0,
  };
}

const isSupervising = (actor: ActingAgent) => actor.role === 'supervisor' || actor.role === 'admin';

export function createTransferService(deps: {
  interactions: { findById(id: string): Promise<Interaction | undefined> };
  /** Enabled agents, or just one (agent-states repository). */
  roster: (agentId?: string) => Promise<RosterEntry[]>;
  rules: RulesSource;
  move: RoutingService['move'];
}) {
  async function interactionOf(id: string): Promise<Interaction> {
    const interaction = await deps.interactions.findById(id);
    if (!interaction) throw new AppError('INTERACTION_NOT_FOUND');
    return interaction;
  }

  function describe(agent: RosterEntry, interaction: Interaction, rules: RuleSet): TransferTarget {
    const candidate = toCandidate(agent, rules);
    return {
      agentId: agent.agentId,
      displayName: agent.displayName,
      state: agent.state,
      awayReason: agent.awayReason,
      load: agent.loads[interaction.channel] ?? 0,
      capacity: capacityOn(candidate, interaction.channel),
      refusal: transferRefusalOf(candidate, agent.awayReason, toContact(interaction, rules)),
    };
  }

  return {
    /**
     * Every colleague but the one asking and the one holding the interaction: those who can take it first
     * (available before on a contact, then the least loaded), then the others with their reason, by name.
     */
    async targets(
      interactionId: string,
      actorId: string,
    ): Promise<{ channel: Channel; queue: string | null; agents: TransferTarget[] }> {
      const rules = requireRules(deps.rules);
      const interaction = await interactionOf(interactionId);
      const agents = (await deps.roster())
        .filter((a) => a.agentId !== actorId && a.agentId !== interaction.assigneeId)
        .map((a) => describe(a, interaction, rules));
      const rank = (t: TransferTarget) => (t.refusal ? 2 : t.state === 'available' ? 0 : 1);
      agents.sort(
        (a, b) =>
          rank(a) - rank(b) ||
          (a.refusal ? 0 : a.load - b.load) ||
          a.displayName.localeCompare(b.displayName),
      );
      return { channel: interaction.channel, queue: interaction.queue, agents };
    },

    async transfer(
      interactionId: string,
      actor: ActingAgent,
      target: { agentId: string } | { queue: string },
      note: string | null,
    ): Promise<void> {
      if ('agentId' in target) {
        const rules = requireRules(deps.rules);
        const interaction = await interactionOf(interactionId);
        // The same refusals as routing's move, first: they say more than any refusal of the target.
        if (interaction.status === 'closed') throw new AppError('INTERACTION_CLOSED');
        if (!isSupervising(actor) && interaction.assigneeId !== actor.agentId)
          throw new AppError('NOT_ASSIGNEE');
        if (interaction.assigneeId === target.agentId)
          throw new AppError('VALIDATION_FAILED', 'That agent already holds this contact.');
        const [agent] = await deps.roster(target.agentId);
        if (!agent) throw new AppError('AGENT_NOT_FOUND');
        const { refusal } = describe(agent, interaction, rules);
        if (refusal)
          throw new AppError(
            refusal.code,
            `${agent.displayName} ${refusal.reason}: choose someone else, or a queue.`,
          );
      }
      await deps.move(interactionId, 'transfer', actor, target, note);
    },
  };
}

export type TransferService = ReturnType<typeof createTransferService>;

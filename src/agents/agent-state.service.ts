/*
 * Agent working state: offline, available, away (with a reason), on_contact, wrap_up. An agent who becomes
 * able to take work is handed to `onAbleToWork` (routing offers them the best waiting contacts), one who goes
 * away or offline to `onUnableToWork` (routing withdraws their live offers); agents/ does not import routing,
 * app.ts passes the callbacks.
 */
import type {
  AgentState,
  AgentStatesRepository,
  AgentStatus,
} from '../db/repositories/agent-states.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents } from '../events.js';

export type { AgentState, AgentStatus };

const workingStates: ReadonlySet<AgentState> = new Set<AgentState>(['available', 'on_contact']);

export function createAgentStateService(deps: {
  agentStates: AgentStatesRepository;
  events: DomainEvents;
  onAbleToWork: (agentId: string) => Promise<unknown>;
  /** The agent went away or offline: routing withdraws their live offers so the contacts go elsewhere. */
  onUnableToWork: (agentId: string) => Promise<unknown>;
}) {
  return {
    async setState(agentId: string, to: AgentState, awayReason: string | null = null): Promise<AgentStatus> {
      if (to === 'away' && !awayReason?.trim())
        throw new AppError('INVALID_AGENT_STATE', 'Away needs a reason.');
      const change = await deps.agentStates.setState(agentId, to, to === 'away' ? awayReason!.trim() : null);
      if (change.from !== change.to) {
        deps.events.publish('agent.stateChanged', {
          agentId,
          from: change.from,
          to: change.to,
          reason: change.status.awayReason,
        });
      }
      if (workingStates.has(to) && !workingStates.has(change.from)) await deps.onAbleToWork(agentId);
      if ((to === 'away' || to === 'offline') && change.from !== to) await deps.onUnableToWork(agentId);
      return (await deps.agentStates.find(agentId)) ?? change.status;
    },

    async status(agentId: string): Promise<AgentStatus | undefined> {
      return deps.agentStates.find(agentId);
    },
  };
}

export type AgentStateService = ReturnType<typeof createAgentStateService>;

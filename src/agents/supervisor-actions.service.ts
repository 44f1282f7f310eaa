/*
 * What a supervisor does to an agent by hand, audited: setting their working state (away for a meeting,
 * offline for an agent who left without logging out, available again). The change goes through the agent
 * state service, so it is published and routed exactly like the agent's own (their console hears it, offers
 * are withdrawn or dispatched); the audit log records who did it, from what to what, and why.
 */
import type { AgentsRepository } from '../db/repositories/agents.repository.js';
import type { AuditRepository } from '../db/repositories/audit.repository.js';
import { AppError } from '../errors.js';
import type { AgentState, AgentStateService, AgentStatus } from './agent-state.service.js';

export function createSupervisorActions(deps: {
  agentStates: Pick<AgentStateService, 'setState' | 'status'>;
  agents: Pick<AgentsRepository, 'findById'>;
  audit: Pick<AuditRepository, 'record'>;
}) {
  return {
    async setAgentState(
      supervisorId: string,
      agentId: string,
      to: AgentState,
      reason: string | null,
    ): Promise<AgentStatus> {
      if (!(await deps.agents.findById(agentId))) throw new AppError('AGENT_NOT_FOUND');
      const from = (await deps.agentStates.status(agentId))?.state ?? 'offline';
      const status = await deps.agentStates.setState(agentId, to, reason);
      await deps.audit.record({
        actorId: supervisorId,
        action: 'agent.state-set',
        subjectType: 'agent',
        subjectId: agentId,
        details: { from, to: status.state, reason },
      });
      return status;
    },
  };
}

export type SupervisorActions = ReturnType<typeof createSupervisorActions>;

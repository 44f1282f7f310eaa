import type { Agent, AgentsRepository, NewAgent, Role } from '../db/repositories/agents.repository.js';
import type { AuditRepository } from '../db/repositories/audit.repository.js';
import { AppError } from '../errors.js';
import { hashPassword } from './password.js';
import type { SessionStore } from './session.store.js';

export interface AgentInput {
  email: string;
  displayName: string;
  role: Role;
  password: string;
  skills?: Record<string, number>;
  capacity?: NewAgent['capacity'];
}

export function createAgentsService(deps: {
  agents: AgentsRepository;
  audit: AuditRepository;
  sessions: SessionStore;
}) {
  return {
    list: () => deps.agents.list(),

    async get(id: string): Promise<Agent> {
      const agent = await deps.agents.findById(id);
      if (!agent) throw new AppError('AGENT_NOT_FOUND');
      return agent;
    },

    async create(input: AgentInput, actorId: string | null): Promise<Agent> {
      const email = input.email.trim().toLowerCase();
      if (await deps.agents.findCredentials(email)) throw new AppError('AGENT_EMAIL_TAKEN');
      const agent = await deps.agents.create({
        email,
        displayName: input.displayName.trim(),
        role: input.role,
        passwordHash: await hashPassword(input.password),
        skills: input.skills ?? {},
        capacity: input.capacity ?? {},
      });
      await deps.audit.record({
        actorId,
        action: 'agent.created',
        subjectType: 'agent',
        subjectId: agent.id,
        details: { email, role: agent.role },
      });
      return agent;
    },

    async update(
      id: string,
      patch: Partial<Omit<AgentInput, 'email'>> & { isDisabled?: boolean },
      actorId: string | null,
    ): Promise<Agent> {
      const { password, ...rest } = patch;
      const agent = await deps.agents.update(id, {
        ...rest,
        ...(password !== undefined && { passwordHash: await hashPassword(password) }),
      });
      if (!agent) throw new AppError('AGENT_NOT_FOUND');
      // A disabled agent, or one whose password changed, is logged out everywhere.
      if (patch.isDisabled === true || password !== undefined) await deps.sessions.revokeAll(id);
      await deps.audit.record({
        actorId,
        action: 'agent.updated',
        subjectType: 'agent',
        subjectId: id,
        details: { ...rest, ...(password !== undefined && { passwordChanged: true }) },
      });
      return agent;
    },
  };
}

export type AgentsService = ReturnType<typeof createAgentsService>;

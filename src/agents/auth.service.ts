import type { Agent, AgentsRepository } from '../db/repositories/agents.repository.js';
import { AppError } from '../errors.js';
import { decoyHash, verifyPassword } from './password.js';
import type { SessionStore } from './session.store.js';

export function createAuthService(deps: { agents: AgentsRepository; sessions: SessionStore }) {
  return {
    /** Returns a new session token; the same error for an unknown email, a wrong password or a disabled agent. */
    async login(email: string, password: string): Promise<{ token: string; agent: Agent }> {
      const credentials = await deps.agents.findCredentials(email);
      const isMatch = await verifyPassword(password, credentials?.passwordHash ?? (await decoyHash));
      if (!credentials || !isMatch || credentials.isDisabled) throw new AppError('INVALID_CREDENTIALS');
      const agent = await deps.agents.findById(credentials.id);
      if (!agent) throw new AppError('INVALID_CREDENTIALS');
      return { token: await deps.sessions.create(agent.id), agent };
    },

    /** The agent behind a session token, read fresh so a role change or a disable takes effect at once. */
    async authenticate(token: string | undefined): Promise<Agent | undefined> {
      if (!token) return undefined;
      const session = await deps.sessions.find(token);
      if (!session) return undefined;
      const agent = await deps.agents.findById(session.agentId);
      return agent && !agent.isDisabled ? agent : undefined;
    },

    logout: (token: string) => deps.sessions.destroy(token),
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

import type { Agent, AgentsRepository } from '../db/repositories/agents.repository.js';
import { AppError } from '../errors.js';
import { decoyHash, verifyPassword } from './password.js';
import type { LoginGuard } from './login-guard.js';
import type { SessionStore } from './session.store.js';

export function createAuthService(deps: {
  agents: AgentsRepository;
  sessions: SessionStore;
  /** Failed-login limits (login-guard.ts); without one, logins are not limited (unit tests). */
  guard?: LoginGuard;
}) {
  return {
    /**
     * Returns a new session token; the same error for an unknown email, a wrong password or a disabled agent.
     * `ip` is the client's address: a throttled address or a locked account is refused before the password
     * is even checked (LOGIN_THROTTLED, LOGIN_LOCKED), and every failure is counted.
     */
    async login(email: string, password: string, ip = 'unknown'): Promise<{ token: string; agent: Agent }> {
      await deps.guard?.check(email, ip);
      const credentials = await deps.agents.findCredentials(email);
      const isMatch = await verifyPassword(password, credentials?.passwordHash ?? (await decoyHash));
      const agent =
        credentials && isMatch && !credentials.isDisabled
          ? await deps.agents.findById(credentials.id)
          : undefined;
      if (!agent) {
        await deps.guard?.recordFailure(email, ip);
        throw new AppError('INVALID_CREDENTIALS');
      }
      await deps.guard?.recordSuccess(email);
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

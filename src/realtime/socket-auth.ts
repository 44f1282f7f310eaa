/*
 * Sockets authenticate with the HTTP API's session: the httpOnly cookie `sb_session`, sent by the browser
 * with the socket.io handshake. The handshake is refused (the client's `connect_error`, with `data.code`
 * from src/errors.ts) for a foreign Origin, a missing or dead session, a disabled agent, or a role the
 * namespace does not admit. The session is read again on every socket event, so a logout, a revocation, a
 * disable or a role change takes effect at the socket's next request at the latest.
 */
import type { Socket } from 'socket.io';
import type { AuthService } from '../agents/auth.service.js';
import type { Agent, Role } from '../db/repositories/agents.repository.js';
import { isAllowedOrigin, sessionCookie } from '../api/auth.guard.js';
import { AppError, errorCatalogue, isAppError, type ErrorCode } from '../errors.js';
import type { SocketError } from './agent-events.js';

export type CookieParser = (header: string) => Record<string, string | undefined>;

export function sessionTokenOf(socket: Socket, parseCookie: CookieParser): string | undefined {
  const header = socket.handshake.headers.cookie;
  return header ? parseCookie(header)[sessionCookie] : undefined;
}

/** What a client is told: the message below 500, the catalogue's generic one above (as over HTTP). */
export function toSocketError(error: unknown): SocketError {
  if (isAppError(error))
    return {
      code: error.code,
      message: error.status < 500 ? error.message : errorCatalogue[error.code].message,
    };
  return { code: 'INTERNAL', message: errorCatalogue.INTERNAL.message };
}

/** An Error as socket.io middleware passes it to the client's `connect_error`: message and `data`. */
export function handshakeError(code: ErrorCode, message?: string): Error & { data: SocketError } {
  const data = toSocketError(new AppError(code, message));
  return Object.assign(new Error(data.message), { data });
}

/**
 * The namespace middleware: admits a socket whose session is live and whose agent has one of `roles`, and
 * records who it is in `socket.data`.
 */
export function sessionHandshake(deps: {
  auth: Pick<AuthService, 'authenticate'>;
  parseCookie: CookieParser;
  publicBaseUrl: string;
  roles: readonly Role[];
  onError: (error: unknown) => void;
}) {
  const allowedOrigin = new URL(deps.publicBaseUrl).origin;
  return (socket: Socket, next: (error?: Error) => void): void => {
    const { origin, host } = socket.handshake.headers;
    if (!isAllowedOrigin(origin, host, allowedOrigin))
      return next(handshakeError('FORBIDDEN', 'Cross-origin connection refused.'));
    deps.auth.authenticate(sessionTokenOf(socket, deps.parseCookie)).then(
      (agent: Agent | undefined) => {
        if (!agent) return next(handshakeError('NOT_AUTHENTICATED'));
        if (!deps.roles.includes(agent.role)) return next(handshakeError('FORBIDDEN'));
        socket.data = { agentId: agent.id, role: agent.role };
        next();
      },
      (error: unknown) => {
        deps.onError(error);
        next(handshakeError('SERVICE_UNAVAILABLE'));
      },
    );
  };
}

import { io, type Socket } from 'socket.io-client';
import type {
  AgentClientToServerEvents,
  AgentServerToClientEvents,
} from '../../src/realtime/agent-events.js';
import type { SupervisorServerEvents } from '../../src/realtime/supervisor-events.js';

/*
 * The agent socket (namespace /agent), typed by the server's own browser contract. socket.io reconnects by
 * itself after a drop (with backoff); the console shows the connection state and re-reads what it shows
 * when the socket comes back, since pushes sent while it was away are lost.
 */
export type AgentSocket = Socket<AgentServerToClientEvents, AgentClientToServerEvents>;
export type ConnectionState = 'connecting' | 'online' | 'reconnecting';

export function connectAgentSocket(): AgentSocket {
  return io('/agent', { withCredentials: true, transports: ['websocket', 'polling'] });
}

export type SupervisorSocket = Socket<SupervisorServerEvents>;

/**
 * The supervisor dashboard's socket (namespace /supervisor): the server pushes `board.snapshot` at most once
 * a second and the latest at once to a new socket, so a reconnect needs no re-read. Supervisors and admins
 * only: the handshake refuses others with `FORBIDDEN`.
 */
export function connectSupervisorSocket(): SupervisorSocket {
  return io('/supervisor', { withCredentials: true, transports: ['websocket', 'polling'] });
}

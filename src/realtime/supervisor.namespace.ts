/*
 * The supervisor dashboard's socket, namespace `/supervisor` (contract: supervisor-events.ts). Supervisors and
 * admins only, with the console's session cookie and Origin rule (socket-auth.ts); anyone else is refused at
 * the handshake (`connect_error` with `data.code` FORBIDDEN or NOT_AUTHENTICATED). Each socket joins the
 * `supervisors` room, gets the latest board at once (from Redis, whichever process computed it), then every
 * `board.snapshot` the computing process pushes to the room through the cluster adapter.
 *
 * The namespace tells the live board how many supervisor sockets this process holds (the cluster computes
 * only while some process has one), and re-checks each socket's session and role every few seconds: a
 * logout, an expiry or a demotion ends the socket.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Namespace, Server } from 'socket.io';
import type { AuthService } from '../agents/auth.service.js';
import { roles } from '../api/auth.guard.js';
import { AppError } from '../errors.js';
import type { LiveBoardService } from '../reports/live-board.service.js';
import { sessionHandshake, sessionTokenOf, toSocketError, type CookieParser } from './socket-auth.js';
import type { SupervisorBoard, SupervisorServerEvents } from './supervisor-events.js';

export const boardRoom = 'supervisors';

interface SupervisorSocketData {
  agentId: string;
  role: string;
}

type SupervisorNamespace = Namespace<
  Record<string, never>,
  SupervisorServerEvents,
  Record<string, never>,
  SupervisorSocketData
>;

export interface SupervisorNamespaceDeps {
  auth: Pick<AuthService, 'authenticate'>;
  parseCookie: CookieParser;
  publicBaseUrl: string;
  board: Pick<LiveBoardService, 'latest' | 'setLocalWatchers'>;
  /** How often sessions and roles are checked again. */
  recheckMs?: number;
  log: FastifyBaseLogger;
}

export function registerSupervisorNamespace(io: Server, deps: SupervisorNamespaceDeps) {
  const nsp = io.of('/supervisor') as unknown as SupervisorNamespace;
  const log = deps.log.child({ namespace: '/supervisor' });
  const countWatchers = () => deps.board.setLocalWatchers(nsp.sockets.size);

  nsp.use(
    sessionHandshake({
      auth: deps.auth,
      parseCookie: deps.parseCookie,
      publicBaseUrl: deps.publicBaseUrl,
      roles: roles.supervisor,
      onError: (err) => log.warn({ err }, 'socket handshake failed'),
    }),
  );

  nsp.on('connection', (socket) => {
    void socket.join(boardRoom);
    countWatchers();
    socket.on('disconnect', countWatchers);
    // A board pushed while the stored one is read is newer: the stored one is then not sent.
    let isPushed = false;
    const watch = () => (isPushed = true);
    socket.onAnyOutgoing(watch);
    deps.board.latest().then(
      (board) => {
        socket.offAnyOutgoing(watch);
        if (board && !isPushed) socket.emit('board.snapshot', board);
      },
      (err: unknown) => {
        socket.offAnyOutgoing(watch);
        log.warn({ err }, 'reading the latest board failed');
      },
    );
  });

  async function recheck(): Promise<void> {
    await Promise.all(
      [...nsp.sockets.values()].map(async (socket) => {
        const agent = await deps.auth.authenticate(sessionTokenOf(socket, deps.parseCookie));
        const refusal = !agent
          ? new AppError('NOT_AUTHENTICATED', 'Your session ended; log in again.')
          : !(roles.supervisor as readonly string[]).includes(agent.role)
            ? new AppError('FORBIDDEN')
            : null;
        if (refusal === null) return;
        socket.emit('session:ended', toSocketError(refusal));
        socket.disconnect(true);
      }),
    );
  }
  const rechecks = setInterval(
    () => void recheck().catch((err: unknown) => log.warn({ err }, 'supervisor session check failed')),
    deps.recheckMs ?? 5000,
  );
  rechecks.unref();

  return {
    /** Sends a board to every supervisor socket of the cluster. */
    publish(board: SupervisorBoard): void {
      nsp.to(boardRoom).emit('board.snapshot', board);
    },
    stop(): void {
      clearInterval(rechecks);
    },
  };
}

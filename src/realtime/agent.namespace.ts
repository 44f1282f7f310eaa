/*
 * The agent console's socket, namespace `/agent`. Each socket joins `agent:<agentId>` (supervisors and
 * admins also `supervisors`); domain events are pushed to those rooms through the cluster adapter, so the
 * process where a change happened reaches the agent's socket wherever it is held. Requests from the
 * console are handed to the services after one gate per event: a known name, a live session, an admitted
 * role, a valid payload. Every request is answered by its acknowledgement; nothing a client sends throws.
 *
 * This process's sockets are the presence service's heartbeat source: every `heartbeatMs` they are
 * refreshed in Redis, and their sessions are checked, so a revoked or expired session loses its sockets
 * within a beat even if it never sends anything.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Namespace, Server, Socket } from 'socket.io';
import type { AgentState, AgentStateService } from '../agents/agent-state.service.js';
import type { AuthService } from '../agents/auth.service.js';
import type { SessionStore } from '../agents/session.store.js';
import { roles } from '../api/auth.guard.js';
import type { Agent, AgentId, Role } from '../db/repositories/agents.repository.js';
import { AppError, isAppError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { OffersService } from '../routing/offers.service.js';
import {
  agentRequestValidators,
  agentRoom,
  interactionRoom,
  supervisorsRoom,
  type AckResult,
  type AgentClientToServerEvents,
  type AgentRequest,
  type AgentRequestName,
  type AgentRequestResults,
  type AgentServerToClientEvents,
  type AgentSocketData,
  type OfferEndedPush,
  type OfferPush,
  type SocketError,
} from './agent-events.js';
import type { PresenceService } from './presence.service.js';
import { sessionHandshake, sessionTokenOf, toSocketError, type CookieParser } from './socket-auth.js';

// socket.io types the server with one map; each namespace carries its own, so the namespace is typed here.
type AgentNamespace = Namespace<
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  Record<string, never>,
  AgentSocketData
>;
type AgentSocket = Socket<
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  Record<string, never>,
  AgentSocketData
>;

interface RequestHandler<E extends AgentRequestName> {
  roles: readonly Role[];
  run(agent: Agent, request: AgentRequest<E>, socket: AgentSocket): Promise<AgentRequestResults[E]>;
}

const isSupervising = (role: Role) => role === 'supervisor' || role === 'admin';

export interface AgentNamespaceDeps {
  auth: Pick<AuthService, 'authenticate'>;
  sessions: Pick<SessionStore, 'find'>;
  parseCookie: CookieParser;
  publicBaseUrl: string;
  presence: PresenceService;
  agentStates: Pick<AgentStateService, 'setState' | 'status'>;
  offers: Pick<OffersService, 'accept' | 'reject'>;
  /** The agent's live offers, re-sent on connect so that a reloaded console shows them again. */
  liveOffersOf: (agentId: AgentId) => Promise<OfferPush[]>;
  /** The interactions the agent works now: a socket that connects follows them (their events, typing). */
  openWorkOf: (agentId: AgentId) => Promise<string[]>;
  events: DomainEvents;
  log: FastifyBaseLogger;
}

export function registerAgentNamespace(io: Server, deps: AgentNamespaceDeps) {
  const nsp = io.of('/agent') as unknown as AgentNamespace;
  const log = deps.log.child({ namespace: '/agent' });
  const pending = new Set<Promise<void>>();
  /** Runs background work (presence, snapshots) so that it is logged, never unhandled, and awaited on close. */
  const track = (work: Promise<unknown>): Promise<void> => {
    const settled = work.then(
      () => undefined,
      (err: unknown) => log.warn({ err }, 'agent socket background work failed'),
    );
    pending.add(settled);
    void settled.finally(() => pending.delete(settled));
    return settled;
  };

  const requests: { [E in AgentRequestName]: RequestHandler<E> } = {
    'state:set': {
      roles: roles.anyAgent,
      async run(agent, { state, reason }) {
        const status = await deps.agentStates.setState(agent.id, state, reason ?? null);
        return { state: status.state, awayReason: status.awayReason };
      },
    },
    'offer:accept': {
      roles: roles.anyAgent,
      run: (agent, { offerId }) => deps.offers.accept(offerId, agent.id),
    },
    'offer:reject': {
      roles: roles.anyAgent,
      async run(agent, { offerId, reason }) {
        await deps.offers.reject(offerId, agent.id, reason ?? null);
        return {};
      },
    },
    typing: {
      roles: roles.anyAgent,
      // Only a socket that follows the interaction (its agent accepted or was assigned it) may type on it.
      async run(agent, { interactionId, isTyping }, socket) {
        if (!socket.rooms.has(interactionRoom(interactionId))) throw new AppError('NOT_ASSIGNEE');
        deps.events.publish('typing.changed', { interactionId, from: 'agent', agentId: agent.id, isTyping });
        return {};
      },
    },
  };
  const isRequestName = (name: string): name is AgentRequestName => Object.hasOwn(requests, name);

  function endSession(socket: AgentSocket, error: SocketError) {
    socket.emit('session:ended', error);
    socket.disconnect(true);
  }

  /** The gate every request passes; refusals are thrown as AppErrors and become error acks. */
  async function serve(socket: AgentSocket, name: string, args: unknown[]): Promise<object> {
    if (!isRequestName(name)) throw new AppError('NOT_FOUND', `No socket event '${name}'.`);
    const agent = await deps.auth.authenticate(sessionTokenOf(socket, deps.parseCookie));
    if (!agent || agent.id !== socket.data.agentId) throw new AppError('NOT_AUTHENTICATED');
    if (agent.role !== socket.data.role) {
      socket.data.role = agent.role;
      if (isSupervising(agent.role)) await socket.join(supervisorsRoom);
      else await socket.leave(supervisorsRoom);
    }
    const handler = requests[name] as RequestHandler<typeof name>;
    if (!handler.roles.includes(agent.role)) throw new AppError('FORBIDDEN');
    // socket.io passes the acknowledgement last; a request sent without one is still served.
    const request = typeof args.at(-1) === 'function' ? args.slice(0, -1)[0] : args[0];
    const validator = agentRequestValidators[name];
    if (!validator.Check(request)) {
      const [first] = validator.Errors(request);
      const where = first ? `${first.instancePath || 'payload'} ${first.message}` : 'invalid payload';
      throw new AppError('VALIDATION_FAILED', `Invalid '${name}' request: ${where}.`);
    }
    return handler.run(agent, request, socket);
  }

  async function answer(socket: AgentSocket, name: string, args: unknown[]): Promise<void> {
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (result: AckResult<object>) => void) : () => undefined;
    try {
      ack({ ok: true, ...(await serve(socket, name, args)) });
    } catch (error) {
      if (!isAppError(error) || error.status >= 500)
        log.error({ err: error, event: name, agentId: socket.data.agentId }, 'socket request failed');
      const refusal = toSocketError(error);
      ack({ ok: false, error: refusal });
      if (refusal.code === 'NOT_AUTHENTICATED') endSession(socket, refusal);
    }
  }

  /**
   * The agent's state and live offers, for a console that just connected. A push that reaches the socket
   * while they are read is newer than what was read: a state change wins over the snapshot's state, and an
   * offer that ended meanwhile is not re-sent.
   */
  async function sendSnapshot(socket: AgentSocket, agentId: AgentId): Promise<void> {
    let isStateNewer = false;
    const ended = new Set<string>();
    const watch = (name: string, payload: unknown) => {
      if (name === 'state') isStateNewer = true;
      if (name === 'offer:ended') ended.add((payload as OfferEndedPush).offerId);
    };
    socket.onAnyOutgoing(watch);
    try {
      const [status, offers] = await Promise.all([
        deps.agentStates.status(agentId),
        deps.liveOffersOf(agentId),
      ]);
      if (!isStateNewer)
        socket.emit('state', {
          agentId,
          state: status?.state ?? 'offline',
          from: null,
          awayReason: status?.awayReason ?? null,
        });
      for (const offer of offers) if (!ended.has(offer.offerId)) socket.emit('offer', offer);
    } finally {
      socket.offAnyOutgoing(watch);
    }
  }

  nsp.use(
    sessionHandshake({
      auth: deps.auth,
      parseCookie: deps.parseCookie,
      publicBaseUrl: deps.publicBaseUrl,
      roles: roles.anyAgent,
      onError: (err) => log.warn({ err }, 'socket handshake failed'),
    }),
  );

  nsp.on('connection', (socket) => {
    const { agentId, role } = socket.data;
    // Rooms and listeners first, synchronously: an event pushed or a request sent right after the
    // handshake must find them.
    void socket.join(agentRoom(agentId));
    if (isSupervising(role)) void socket.join(supervisorsRoom);
    socket.onAny((name: string, ...args: unknown[]) => void answer(socket, name, args));
    // A disconnect waits for the registration, so that a socket that left at once is not registered after.
    const registered = track(deps.presence.connected(agentId, socket.id));
    socket.on(
      'disconnect',
      () => void track(registered.then(() => deps.presence.disconnected(agentId, socket.id))),
    );
    void track(sendSnapshot(socket, agentId));
    void track(
      deps
        .openWorkOf(agentId)
        .then((ids) => (ids.length ? socket.join(ids.map(interactionRoom)) : undefined)),
    );
  });

  let isBeating = false;
  async function beat(): Promise<void> {
    // A beat slower than the interval (Redis slow or away) is not stacked with the next one.
    if (isBeating) return;
    isBeating = true;
    try {
      await beatOnce();
    } finally {
      isBeating = false;
    }
  }
  async function beatOnce(): Promise<void> {
    const socketsByAgent = new Map<AgentId, string[]>();
    const sockets = [...nsp.sockets.values()];
    for (const socket of sockets) {
      const ids = socketsByAgent.get(socket.data.agentId) ?? [];
      ids.push(socket.id);
      socketsByAgent.set(socket.data.agentId, ids);
    }
    await deps.presence.beat(socketsByAgent);
    await Promise.all(
      sockets.map(async (socket) => {
        const token = sessionTokenOf(socket, deps.parseCookie);
        if (!token || !(await deps.sessions.find(token)))
          endSession(
            socket,
            toSocketError(new AppError('NOT_AUTHENTICATED', 'Your session ended; log in again.')),
          );
      }),
    );
  }
  const heartbeat = setInterval(() => void track(beat()), deps.presence.heartbeatMs);
  heartbeat.unref();

  const toAgent = (agentId: AgentId) => nsp.to(agentRoom(agentId));
  /**
   * The agent now works the interaction (accepted, or assigned, transferred or pulled by hand): their
   * sockets, on every process, follow it from here. A socket that connects later does not (see README).
   */
  const follow = (agentId: AgentId, interactionId: string) =>
    nsp.in(agentRoom(agentId)).socketsJoin(interactionRoom(interactionId));
  const toInteraction = (
    interactionId: string,
    type: string,
    eventId: string | null,
    payload: Record<string, unknown>,
  ) =>
    nsp
      .to(interactionRoom(interactionId))
      .emit('interaction:event', { interactionId, type, eventId, payload });
  const unsubscribe = [
    deps.events.subscribe(
      'offer.created',
      ({ offerId, interactionId, agentId, channel, expiresAt, reason }) =>
        toAgent(agentId).emit('offer', {
          offerId,
          interactionId,
          channel,
          // One format for browsers, whether the offer comes from the event (Postgres text) or a snapshot.
          expiresAt: new Date(expiresAt).toISOString(),
          reason,
        }),
    ),
    deps.events.subscribe('offer.accepted', ({ offerId, interactionId, agentId }) => {
      toAgent(agentId).emit('offer:ended', { offerId, interactionId, outcome: 'accepted' });
      follow(agentId, interactionId);
    }),
    deps.events.subscribe('offer.rejected', ({ offerId, interactionId, agentId }) =>
      toAgent(agentId).emit('offer:ended', { offerId, interactionId, outcome: 'rejected' }),
    ),
    deps.events.subscribe('offer.expired', ({ offerId, interactionId, agentId }) =>
      toAgent(agentId).emit('offer:ended', { offerId, interactionId, outcome: 'expired' }),
    ),
    deps.events.subscribe('offer.cancelled', ({ offerId, interactionId, agentId }) =>
      toAgent(agentId).emit('offer:ended', { offerId, interactionId, outcome: 'cancelled' }),
    ),
    deps.events.subscribe('agent.stateChanged', ({ agentId, from, to, reason }) =>
      toAgent(agentId).emit('state', {
        agentId,
        state: to as AgentState,
        from: from as AgentState,
        awayReason: reason,
      }),
    ),
    deps.events.subscribe('note.added', ({ interactionId, eventId, agentId }) =>
      toInteraction(interactionId, 'note.added', eventId, { agentId }),
    ),
    deps.events.subscribe('interaction.assigned', ({ interactionId, agentId, kind, byAgentId }) => {
      follow(agentId, interactionId);
      // The new holder's sockets are told through their own room too: the join above goes through the
      // adapter (Redis) and may land after this emit.
      nsp.to([interactionRoom(interactionId), agentRoom(agentId)]).emit('interaction:event', {
        interactionId,
        type: 'interaction.assigned',
        eventId: null,
        payload: { agentId, kind, byAgentId },
      });
      // Whoever held it before stops following it (no more of its events, no typing on it).
      nsp
        .in(interactionRoom(interactionId))
        .except(agentRoom(agentId))
        .socketsLeave(interactionRoom(interactionId));
    }),
    deps.events.subscribe('interaction.closed', ({ interactionId, reason, wasWaiting }) =>
      toInteraction(interactionId, 'interaction.closed', null, { reason, wasWaiting }),
    ),
    deps.events.subscribe('message.sent', ({ interactionId, eventId, agentId, channel }) =>
      toInteraction(interactionId, 'message.sent', eventId, { agentId, channel }),
    ),
    deps.events.subscribe('message.delivered', ({ interactionId, eventId }) =>
      toInteraction(interactionId, 'message.delivered', eventId, {}),
    ),
    deps.events.subscribe('message.failed', ({ interactionId, eventId, reason }) =>
      toInteraction(interactionId, 'message.failed', eventId, { reason }),
    ),
    // The customer wrote again on an interaction someone may be working (a new one has no followers yet).
    deps.events.subscribe('contact.ingested', ({ interactionId, eventId, channel, isNewInteraction }) => {
      if (!isNewInteraction) toInteraction(interactionId, 'message.received', eventId, { channel });
    }),
    // Its SLA clocks changed, or one reached its warning or breach: consoles showing it read them again.
    deps.events.subscribe('sla.changed', ({ interactionId, settled }) =>
      toInteraction(interactionId, 'sla.changed', null, settled ? { ...settled } : {}),
    ),
    deps.events.subscribe('call.updated', ({ interactionId, eventId, type, state }) =>
      toInteraction(interactionId, type, eventId, { state }),
    ),
    deps.events.subscribe('typing.changed', ({ interactionId, from, agentId, isTyping }) => {
      if (from === 'customer')
        toInteraction(interactionId, 'typing.changed', null, { from, agentId, isTyping });
    }),
  ];

  return {
    /** Stops pushing and beating; the sockets themselves are closed with the server. */
    stop() {
      for (const off of unsubscribe) off();
      clearInterval(heartbeat);
    },
    /** Resolves when the presence work of closed sockets is done (await after closing the sockets). */
    async settled(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}

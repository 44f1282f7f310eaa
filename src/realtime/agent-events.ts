/*
 * The browser contract of the agent console's socket (socket.io namespace `/agent`): what the server pushes,
 * and what the console asks. Every request carries an acknowledgement, answered `{ ok: true, ... }` or
 * `{ ok: false, error: { code, message } }` with a code from src/errors.ts. Requests are validated against the
 * schemas below before any service sees them. This map is separate from the domain event catalogue
 * (src/events.ts): it names what a browser may see, and nothing more.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { AgentState } from '../agents/agent-state.service.js';
import type { AgentId, Role } from '../db/repositories/agents.repository.js';
import type { ErrorCode } from '../errors.js';
import type { Channel } from '../interactions/inbound-contact.js';

export interface SocketError {
  code: ErrorCode;
  message: string;
}

export type AckResult<T extends object> = ({ ok: true } & T) | { ok: false; error: SocketError };

// --- server -> client -----------------------------------------------------------------------------------

/** A contact offered to this agent: accept or reject it before `expiresAt`. */
export interface OfferPush {
  offerId: string;
  interactionId: string;
  channel: Channel;
  expiresAt: string;
  /** Why the router picked this agent ("why was this routed to me"). */
  reason: string;
}

export type OfferOutcome = 'accepted' | 'rejected' | 'expired' | 'cancelled';

/** An offer of this agent's is no longer live; the console takes its card down. */
export interface OfferEndedPush {
  offerId: string;
  interactionId: string;
  outcome: OfferOutcome;
}

/** This agent's working state: sent on connect (`from` null) and on every change, whoever made it. */
export interface StatePush {
  agentId: AgentId;
  state: AgentState;
  from: AgentState | null;
  awayReason: string | null;
}

/** Something happened on an interaction this socket follows (room `interaction:<id>`). */
export interface InteractionEventPush {
  interactionId: string;
  /** A name from the domain event catalogue, e.g. `note.added`. */
  type: string;
  eventId: string | null;
  payload: Record<string, unknown>;
}

export interface AgentServerToClientEvents {
  offer: (offer: OfferPush) => void;
  'offer:ended': (ended: OfferEndedPush) => void;
  state: (state: StatePush) => void;
  'interaction:event': (event: InteractionEventPush) => void;
  /** The session was logged out, revoked or expired; the server disconnects the socket right after. */
  'session:ended': (reason: SocketError) => void;
}

// --- client -> server -----------------------------------------------------------------------------------

const Uuid = Type.String({ format: 'uuid' });

export const agentRequestSchemas = {
  /** The states an agent chooses; on_contact and wrap_up follow from their work. Away needs a reason. */
  'state:set': Type.Object(
    {
      state: Type.Union([Type.Literal('available'), Type.Literal('away'), Type.Literal('offline')]),
      reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  'offer:accept': Type.Object({ offerId: Uuid }, { additionalProperties: false }),
  'offer:reject': Type.Object(
    { offerId: Uuid, reason: Type.Optional(Type.String({ maxLength: 500 })) },
    { additionalProperties: false },
  ),
  /** The agent's typing indicator on an interaction this socket follows (a chat visitor sees it). */
  typing: Type.Object({ interactionId: Uuid, isTyping: Type.Boolean() }, { additionalProperties: false }),
} satisfies Record<string, TSchema>;

type Schemas = typeof agentRequestSchemas;

/** What each request's `ok: true` acknowledgement carries besides `ok`. */
export interface AgentRequestResults {
  'state:set': { state: AgentState; awayReason: string | null };
  'offer:accept': { interactionId: string };
  'offer:reject': Record<string, never>;
  typing: Record<string, never>;
}

export type AgentRequestName = keyof Schemas & keyof AgentRequestResults;
export type AgentRequest<E extends AgentRequestName> = Static<Schemas[E]>;

export type AgentClientToServerEvents = {
  [E in AgentRequestName]: (
    request: AgentRequest<E>,
    ack: (result: AckResult<AgentRequestResults[E]>) => void,
  ) => void;
};

/** Compiled once: socket input is checked on every event. */
export const agentRequestValidators = {
  'state:set': Compile(agentRequestSchemas['state:set']),
  'offer:accept': Compile(agentRequestSchemas['offer:accept']),
  'offer:reject': Compile(agentRequestSchemas['offer:reject']),
  typing: Compile(agentRequestSchemas.typing),
};

/** What the handshake established; socket.io ships it to other processes on fetchSockets(). */
export interface AgentSocketData {
  agentId: AgentId;
  role: Role;
}

export const agentRoom = (agentId: AgentId) => `agent:${agentId}`;
export const interactionRoom = (interactionId: string) => `interaction:${interactionId}`;
export const supervisorsRoom = 'supervisors';

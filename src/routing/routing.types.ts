import type { SkillRequirement, StrategyName } from './rules/rules.schema.js';
/*
 * The domain types routing strategies share. A strategy is a pure function over plain data: the caller (the
 * offer service, later) loads candidates, the contact and the snapshot, calls the queue's strategy, claims the
 * pick atomically, and only then stores any rotation state the pick carries. Nothing here reads a clock, a
 * database or a setting: time is `RoutingSnapshot.nowMs`, configuration is `StrategyOptions`.
 */
import type { Channel } from '../interactions/inbound-contact.js';

export type { Channel };

export type AgentId = string;
export type QueueId = string;
export type InteractionId = string;
export type CustomerId = string;

/** Proficiency in a skill: 1 (basic) to 5 (expert). The rule loader and the agent admin validate the range. */
export type SkillLevel = 1 | 2 | 3 | 4 | 5;

/**
 * An agent's working state. `available` and `on_contact` may receive offers (capacity decides); `wrap_up`,
 * `away` and `offline` never do.
 */
export type AgentState = 'offline' | 'available' | 'away' | 'on_contact' | 'wrap_up';

/** One agent as the strategies see them at the moment of the decision. */
export interface Candidate {
  agentId: AgentId;
  state: AgentState;
  skills: Readonly<Record<string, SkillLevel>>;
  /** Open contacts per channel. A missing channel counts as 0. */
  load: Readonly<Partial<Record<Channel, number>>>;
  /** Concurrent contacts allowed per channel (defaults already merged with the agent's override). Missing: 0. */
  capacity: Readonly<Partial<Record<Channel, number>>>;
  /** Epoch ms since the agent last finished work or became available; smaller means idle for longer. */
  idleSinceMs: number;
}

// One definition of the names the rule files and the strategies share.
export type { SkillRequirement, StrategyName } from './rules/rules.schema.js';

export interface RecentAgent {
  agentId: AgentId;
  servedAtMs: number;
}

/** The waiting contact being routed. */
export interface RoutableContact {
  interactionId: InteractionId;
  /** The queue the contact waits in; round-robin keeps one rotation per queue. */
  queueId: QueueId;
  channel: Channel;
  /** The queue's requirements, possibly relaxed by escalation. Every strategy enforces them. */
  requiredSkills: readonly SkillRequirement[];
  /**
   * Escalation's add-queue steps: other queues' requirements (each relaxed like the contact's own). An agent
   * who meets any one of these sets may take the contact too. Absent or empty: only `requiredSkills` count.
   */
  alternativeSkills?: readonly (readonly SkillRequirement[])[];
  customerId: CustomerId;
  accountOwnerId: AgentId | null;
  /** Agents who served this customer, newest first. */
  recentAgents: readonly RecentAgent[];
  priority: number;
  enqueuedAtMs: number;
}

/**
 * Round-robin's memory for one queue: the agent picked last. The rotation order is the candidates sorted by
 * agentId, so this one id is the whole cursor: it stays meaningful when that agent or any other leaves or joins,
 * and it is plain data the caller persists (one value per queue) to continue the rotation after a restart.
 */
export interface RotationState {
  lastAgentId: AgentId | null;
}

export interface RoutingSnapshot {
  nowMs: number;
  /** Rotation state per queue, as last stored by the caller. A queue with no entry starts at the beginning. */
  rotations: Readonly<Partial<Record<QueueId, RotationState>>>;
}

/** An agent was chosen. The caller offers the contact to `agentId`. */
export interface AgentPick {
  kind: 'pick';
  agentId: AgentId;
  /** The strategy that chose: after an account-owner fallback, the secondary strategy's name. */
  strategy: StrategyName;
  /** One or two sentences a supervisor can read: why this agent. */
  reason: string;
  /** New rotation state to store for `queueId` once the offer is claimed (round-robin only). */
  rotation?: { queueId: QueueId; state: RotationState };
}

/**
 * Nobody should be picked yet: the preferred agent is busy but may free up. The caller keeps the contact
 * queued, re-runs the strategy when `agentId` frees up, and in any case at `untilMs`, when the strategy falls
 * back to the queue's secondary strategy.
 */
export interface WaitFor {
  kind: 'wait-for';
  agentId: AgentId;
  untilMs: number;
  strategy: StrategyName;
  reason: string;
}

export type RoutingDecision = AgentPick | WaitFor;

/** Per-queue configuration, built once from the rule files. Strategies ignore what they do not use. */
export interface StrategyOptions {
  /** account-owner: how far back a serving agent still counts as "recent". */
  recentAgentWindowMs?: number;
  /** account-owner: how long after `enqueuedAtMs` a contact waits for a busy preferred agent. */
  preferredAgentWaitMs?: number;
  /** account-owner: the queue's secondary strategy. */
  fallback?: Strategy;
}

/**
 * One signature for every strategy. `null`: no eligible agent now; the contact stays queued. A strategy never
 * returns an agent that is not in `candidates` or not eligible (see strategies/eligibility.ts).
 */
export type Strategy = (
  candidates: readonly Candidate[],
  contact: RoutableContact,
  snapshot: RoutingSnapshot,
  options: StrategyOptions,
) => RoutingDecision | null;

/*
 * The IVR's step log, off the caller's path: a turn's steps are added to a Redis stream in the same
 * transaction that stores the turn's answer (call-state.ts commit), and a reader in every process moves them
 * to the interaction log in batches. A caller's turn so waits on Redis only, and Postgres takes one insert
 * for many turns. The steps keep the time of their turn (`occurred_at`), so the log reads in order however
 * late they land.
 *
 * Delivery: a stream consumer group. An entry is acknowledged and deleted after its insert committed; an
 * entry left pending by a reader that died is claimed by another after `reclaimAfterMs` and inserted again,
 * skipping turns already logged (by their `<CallSid>:<turn>` key).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { VoiceRepository } from '../../src/db/repositories/voice.repository.js';
import type { InteractionEventPayloads } from '../../src/events.js';

export interface LoggedTurn {
  interactionId: string;
  /** `<CallSid>:<turn number>` */
  turn: string;
  /** ISO time of the turn. */
  at: string;
  steps: InteractionEventPayloads['ivr.step'][];
}

const group = 'switchboard';
const batchSize = 500;
/** How long a reader lets turns gather after a small batch: the log lags the call by about this much. */
const gatherMs = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const stepStreamKey = (prefix: string) => `${prefix}voice:steps`;

type StreamEntries = [id: string, fields: string[]][];

export function startStepLog(deps: {
  redis: Redis;
  prefix: string;
  voice: Pick<VoiceRepository, 'logTurns'>;
  log: FastifyBaseLogger;
  reclaimAfterMs?: number;
}): { stop: () => Promise<void> } {
  const key = stepStreamKey(deps.prefix);
  const consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const reclaimAfterMs = deps.reclaimAfterMs ?? 15_000;
  // Blocking reads hold their connection: one of its own.
  const reader = deps.redis.duplicate();
  reader.on('error', (err) => deps.log.warn({ err: err.message }, 'step log reader: redis error'));
  let isRunning = true;

  const parse = (entries: StreamEntries): LoggedTurn[] =>
    entries.flatMap(([, fields]) => {
      const data = fields[fields.indexOf('d') + 1];
      try {
        return data ? [JSON.parse(data) as LoggedTurn] : [];
      } catch {
        return [];
      }
    });

  async function store(entries: StreamEntries, isRecovery: boolean): Promise<void> {
    if (entries.length === 0) return;
    await deps.voice.logTurns(parse(entries), isRecovery);
    const ids = entries.map(([id]) => id);
    await deps.redis
      .multi()
      .xack(key, group, ...ids)
      .xdel(key, ...ids)
      .exec();
  }

  async function ensureGroup(): Promise<void> {
    try {
      await deps.redis.xgroup('CREATE', key, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  const reading = (async () => {
    let lastReclaim = Date.now();
    let hasGroup = false;
    while (isRunning) {
      try {
        if (!hasGroup) {
          await ensureGroup();
          hasGroup = true;
        }
        const result = (await reader.xreadgroup(
          'GROUP',
          group,
          consumer,
          'COUNT',
          batchSize,
          'BLOCK',
          500,
          'STREAMS',
          key,
          '>',
        )) as [string, StreamEntries][] | null;
        const entries = result?.[0]?.[1] ?? [];
        await store(entries, false);
        // A small batch: let a few more turns gather before the next insert (fewer, larger statements,
        // fewer wakeups beside the callers' turns); a full one means a backlog, read on at once.
        if (entries.length > 0 && entries.length < batchSize) await sleep(gatherMs);
        if (Date.now() - lastReclaim > reclaimAfterMs / 3) {
          lastReclaim = Date.now();
          const claimed = (await deps.redis.xautoclaim(
            key,
            group,
            consumer,
            reclaimAfterMs,
            '0',
            'COUNT',
            batchSize,
          )) as [string, StreamEntries];
          await store(
            claimed[1].filter((entry) => Array.isArray(entry[1])),
            true,
          );
        }
      } catch (error) {
        if (!isRunning) break;
        // The stream or its group vanished (Redis restarted empty): make them again.
        if (String((error as Error).message).includes('NOGROUP')) hasGroup = false;
        deps.log.error({ err: error }, 'moving IVR steps to the log failed; retrying');
        await sleep(1000);
      }
    }
  })();

  return {
    async stop() {
      isRunning = false;
      reader.disconnect();
      await reading;
    },
  };
}

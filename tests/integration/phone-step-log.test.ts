import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStepLog, stepStreamKey, type LoggedTurn } from '../../channels/phone/step-log.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * The IVR step log (channels/phone/step-log.ts) on a real Redis and Postgres: steps queued in the stream
 * reach the interaction log; steps a reader took and never confirmed (it died) are taken over by another
 * reader and logged once, even when the dead reader had inserted them already.
 *
 * What must never happen: a turn's steps lost, or logged twice.
 */

let ctx: TestContext;
let redis: Redis;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  ctx = await createTestContext();
  redis = new Redis(ctx.config.redisUrl!);
});

afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
});

async function newCallInteraction(): Promise<string> {
  const result = await ctx.services.ingest({
    channel: 'voice',
    externalId: `CA${randomBytes(16).toString('hex')}`,
    identities: [{ kind: 'phone', value: '+14155550100' }],
    isRoutingDeferred: true,
  });
  return result.interactionId;
}

const turnOf = (interactionId: string, turn: string, steps: string[]): LoggedTurn => ({
  interactionId,
  turn,
  at: new Date().toISOString(),
  steps: steps.map((step) => ({ flow: 'main', step, kind: 'say', outcome: 'said', language: 'en-US' })),
});

async function stepsOf(interactionId: string): Promise<string[]> {
  const { rows } = await ctx.services.pool.query<{ step: string; turn: string }>(
    `select payload->>'step' as step, payload->>'turn' as turn from interaction_events
      where interaction_id = $1 and type = 'ivr.step' order by occurred_at, id`,
    [interactionId],
  );
  return rows.map((r) => `${r.turn}/${r.step}`);
}

describe('IVR step log', () => {
  it('moves queued turns to the log in order', async () => {
    const prefix = `steplog_${randomBytes(3).toString('hex')}:`;
    const interactionId = await newCallInteraction();
    const reader = startStepLog({ redis, prefix, voice: ctx.services.repositories.voice, log });
    try {
      for (const [turn, steps] of [
        ['CA1:0', ['greeting', 'menu']],
        ['CA1:1', ['menu', 'hours', 'again']],
      ] as const)
        await redis.xadd(
          stepStreamKey(prefix),
          '*',
          'd',
          JSON.stringify(turnOf(interactionId, turn, [...steps])),
        );
      const logged = await waitFor(async () => {
        const steps = await stepsOf(interactionId);
        return steps.length === 5 ? steps : undefined;
      });
      expect(logged).toEqual(['CA1:0/greeting', 'CA1:0/menu', 'CA1:1/menu', 'CA1:1/hours', 'CA1:1/again']);
      expect(await redis.xlen(stepStreamKey(prefix))).toBe(0);
    } finally {
      await reader.stop();
    }
  });

  it("takes over a dead reader's turns and logs each once", async () => {
    const prefix = `steplog_${randomBytes(3).toString('hex')}:`;
    const key = stepStreamKey(prefix);
    const interactionId = await newCallInteraction();
    await redis.xgroup('CREATE', key, 'switchboard', '0', 'MKSTREAM');
    const first = turnOf(interactionId, 'CA2:0', ['greeting']);
    const second = turnOf(interactionId, 'CA2:1', ['menu']);
    await redis.xadd(key, '*', 'd', JSON.stringify(first));
    await redis.xadd(key, '*', 'd', JSON.stringify(second));
    // A reader takes both and dies: having logged the first turn, but confirmed neither.
    const taken = await redis.xreadgroup(
      'GROUP',
      'switchboard',
      'dead-reader',
      'COUNT',
      10,
      'STREAMS',
      key,
      '>',
    );
    expect((taken as [string, unknown[]][])[0]?.[1]).toHaveLength(2);
    await ctx.services.repositories.voice.logTurns([first]);

    const reader = startStepLog({
      redis,
      prefix,
      voice: ctx.services.repositories.voice,
      log,
      reclaimAfterMs: 300,
    });
    try {
      const logged = await waitFor(async () => {
        const steps = await stepsOf(interactionId);
        return steps.length >= 2 ? steps : undefined;
      });
      await new Promise((resolve) => setTimeout(resolve, 400)); // A second take-over would show by now.
      expect(await stepsOf(interactionId)).toEqual(logged);
      expect(logged).toEqual(['CA2:0/greeting', 'CA2:1/menu']);
      const pending = (await redis.xpending(key, 'switchboard')) as [number, ...unknown[]];
      expect(pending[0]).toBe(0);
    } finally {
      await reader.stop();
    }
  });
});

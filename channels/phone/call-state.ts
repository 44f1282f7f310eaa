/*
 * A call's IVR memory between webhooks, and the exactly-once handling of each IVR turn, in Redis (any process
 * may take any webhook of a call).
 *
 * Every TwiML document the IVR returns posts the caller's answer to a URL carrying the next turn number
 * (`seq`). A turn is handled once: `begin` atomically returns the answer already given for (call, seq) when
 * there is one (Twilio retried), or takes a short lock on it; `commit` stores the new memory and the answer
 * together and releases the lock. A duplicate that arrives while the first is being handled waits for the
 * stored answer. Entries expire a day after the call's last turn.
 */
import type { Redis } from 'ioredis';
import type { CallMemory } from './ivr-runner.js';

export interface StoredCall {
  interactionId: string;
  /** The next turn number the IVR expects. */
  seq: number;
  memory: CallMemory;
}

const dayS = 86_400;
const lockMs = 15_000;

// KEYS: answer, lock, call. ARGV: lock ms. -> {'cached', answer} | {'busy'} | {'go', call or false}
const beginScript = `
local answer = redis.call('GET', KEYS[1])
if answer then return {'cached', answer} end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return {'busy'} end
return {'go', redis.call('GET', KEYS[3])}
`;

export type TurnStart =
  { status: 'cached'; twiml: string } | { status: 'busy' } | { status: 'go'; call: StoredCall | undefined };

export function createCallState(redis: Redis, prefix: string) {
  const callKey = (callSid: string) => `${prefix}voice:call:${callSid}`;
  const answerKey = (callSid: string, seq: number) => `${prefix}voice:answer:${callSid}:${seq}`;
  const lockKey = (callSid: string, seq: number) => `${prefix}voice:lock:${callSid}:${seq}`;

  return {
    async begin(callSid: string, seq: number): Promise<TurnStart> {
      const result = (await redis.eval(
        beginScript,
        3,
        answerKey(callSid, seq),
        lockKey(callSid, seq),
        callKey(callSid),
        lockMs,
      )) as [string, string | null | undefined];
      if (result[0] === 'cached') return { status: 'cached', twiml: result[1] as string };
      if (result[0] === 'busy') return { status: 'busy' };
      return { status: 'go', call: result[1] ? (JSON.parse(result[1]) as StoredCall) : undefined };
    },

    /** Stores the call's memory and the turn's answer; a retry of `seq` gets `twiml` from now on. */
    async commit(callSid: string, seq: number, call: StoredCall | null, twiml: string): Promise<void> {
      const multi = redis.multi().set(answerKey(callSid, seq), twiml, 'EX', dayS);
      if (call) multi.set(callKey(callSid), JSON.stringify(call), 'EX', dayS);
      await multi.del(lockKey(callSid, seq)).exec();
    },

    /** Gives up a turn that failed, so that Twilio's retry handles it afresh. */
    async release(callSid: string, seq: number): Promise<void> {
      await redis.del(lockKey(callSid, seq));
    },

    /** The answer of a turn another request is handling, once it is stored (undefined after `waitMs`). */
    async awaitAnswer(callSid: string, seq: number, waitMs = 5000): Promise<string | undefined> {
      const until = Date.now() + waitMs;
      while (Date.now() < until) {
        const answer = await redis.get(answerKey(callSid, seq));
        if (answer !== null) return answer;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return undefined;
    },

    async get(callSid: string): Promise<StoredCall | undefined> {
      const raw = await redis.get(callKey(callSid));
      return raw ? (JSON.parse(raw) as StoredCall) : undefined;
    },

    async forget(callSid: string): Promise<void> {
      await redis.del(callKey(callSid));
    },
  };
}

export type CallState = ReturnType<typeof createCallState>;

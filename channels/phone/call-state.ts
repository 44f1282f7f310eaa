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
import { stepStreamKey, type LoggedTurn } from './step-log.js';

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

// KEYS: answer, call, lock, step stream. ARGV: answer, call JSON or '', seconds to keep, steps JSON or ''.
// One command instead of a MULTI of four: a turn's commit is on the caller's path.
const commitScript = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('XADD', KEYS[4], '*', 'd', ARGV[4]) end
redis.call('DEL', KEYS[3])
return 1
`;

// KEYS: answer, call, lock, step stream. ARGV as commitScript's. A turn worked out without the lock (from
// this process's memory of the call): stored unless the turn was answered, or is being answered, already.
// -> {'stored'} | {'cached', answer} | {'busy'}
const commitFirstScript = `
local answer = redis.call('GET', KEYS[1])
if answer then return {'cached', answer} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'busy'} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('XADD', KEYS[4], '*', 'd', ARGV[4]) end
return {'stored'}
`;

/** Calls whose memory a process keeps (the newest), for their next turn here. */
const rememberedCalls = 20_000;

export type TurnStart =
  { status: 'cached'; twiml: string } | { status: 'busy' } | { status: 'go'; call: StoredCall | undefined };

export function createCallState(redis: Redis, prefix: string) {
  const callKey = (callSid: string) => `${prefix}voice:call:${callSid}`;
  const answerKey = (callSid: string, seq: number) => `${prefix}voice:answer:${callSid}:${seq}`;
  const lockKey = (callSid: string, seq: number) => `${prefix}voice:lock:${callSid}:${seq}`;
  // ioredis sends a script's digest (EVALSHA), and its text only when Redis does not know it yet.
  if (!('switchboardVoiceBegin' in redis)) {
    redis.defineCommand('switchboardVoiceBegin', { numberOfKeys: 3, lua: beginScript });
    redis.defineCommand('switchboardVoiceCommit', { numberOfKeys: 4, lua: commitScript });
    redis.defineCommand('switchboardVoiceCommitFirst', { numberOfKeys: 4, lua: commitFirstScript });
  }
  const scripts = redis as unknown as {
    switchboardVoiceBegin: (...args: (string | number)[]) => Promise<unknown>;
    switchboardVoiceCommit: (...args: (string | number)[]) => Promise<unknown>;
    switchboardVoiceCommitFirst: (...args: (string | number)[]) => Promise<unknown>;
  };
  // This process's memory of the calls it served last (a Map keeps insertion order: the oldest goes first).
  const remembered = new Map<string, StoredCall>();
  const remember = (callSid: string, call: StoredCall) => {
    remembered.delete(callSid);
    remembered.set(callSid, call);
    if (remembered.size > rememberedCalls) remembered.delete(remembered.keys().next().value as string);
  };
  const commitArgs = (
    callSid: string,
    seq: number,
    call: StoredCall | null,
    twiml: string,
    logged: LoggedTurn | null,
  ) => [
    answerKey(callSid, seq),
    callKey(callSid),
    lockKey(callSid, seq),
    stepStreamKey(prefix),
    twiml,
    call ? JSON.stringify(call) : '',
    dayS,
    logged && logged.steps.length > 0 ? JSON.stringify(logged) : '',
  ];

  return {
    async begin(callSid: string, seq: number): Promise<TurnStart> {
      const result = (await scripts.switchboardVoiceBegin(
        answerKey(callSid, seq),
        lockKey(callSid, seq),
        callKey(callSid),
        lockMs,
      )) as [string, string | null | undefined];
      if (result[0] === 'cached') return { status: 'cached', twiml: result[1] as string };
      if (result[0] === 'busy') return { status: 'busy' };
      return { status: 'go', call: result[1] ? (JSON.parse(result[1]) as StoredCall) : undefined };
    },

    /**
     * Stores the call's memory and the turn's answer, and queues the turn's steps for the log (step-log.ts),
     * together; a retry of `seq` gets `twiml` from now on.
     */
    async commit(
      callSid: string,
      seq: number,
      call: StoredCall | null,
      twiml: string,
      logged: LoggedTurn | null,
    ): Promise<void> {
      await scripts.switchboardVoiceCommit(...commitArgs(callSid, seq, call, twiml, logged));
      if (call) remember(callSid, call);
    },

    /**
     * The call's memory as this process stored it, if turn `seq` is the one it expects next: the turn can be
     * worked out without reading Redis first, and stored with commitFirst. Another process that served a
     * later turn makes this one stale, which the turn number shows.
     */
    recall(callSid: string, seq: number): StoredCall | undefined {
      const call = remembered.get(callSid);
      return call?.seq === seq ? call : undefined;
    },

    /**
     * Stores a turn worked out from recall() (no lock taken: it must have had no effect beyond its answer),
     * unless the turn was answered already ('cached': that answer stands) or is being answered ('busy').
     */
    async commitFirst(
      callSid: string,
      seq: number,
      call: StoredCall,
      twiml: string,
      logged: LoggedTurn | null,
    ): Promise<{ status: 'stored' } | { status: 'cached'; twiml: string } | { status: 'busy' }> {
      const result = (await scripts.switchboardVoiceCommitFirst(
        ...commitArgs(callSid, seq, call, twiml, logged),
      )) as [string, string | undefined];
      if (result[0] === 'cached') return { status: 'cached', twiml: result[1] as string };
      if (result[0] === 'busy') return { status: 'busy' };
      remember(callSid, call);
      return { status: 'stored' };
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
      remembered.delete(callSid);
      await redis.del(callKey(callSid));
    },
  };
}

export type CallState = ReturnType<typeof createCallState>;

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/*
 * A lease in Redis: at most one holder across all processes at a time, for work that must have exactly one
 * doer (one IMAP poller per mailbox). The holder renews it well before it lapses; a holder that dies stops
 * renewing and another process takes it over once it lapses. Renewal and release check the owner, so a
 * holder that stalled past its lease can never extend or drop the next holder's.
 */

const renewScript = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const releaseScript = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1]) else return 0 end`;

export interface Lease {
  readonly key: string;
  /** Takes the lease if nobody holds it, or renews it if this holder does. */
  acquire(): Promise<boolean>;
  /** Extends the lease if this holder still holds it. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

export function createLease(redis: Redis, key: string, ttlMs: number): Lease {
  const owner = randomUUID();
  const renew = async () => (await redis.eval(renewScript, 1, key, owner, String(ttlMs))) === 1;
  return {
    key,
    async acquire() {
      if ((await redis.set(key, owner, 'PX', ttlMs, 'NX')) === 'OK') return true;
      return renew();
    },
    renew,
    async release() {
      await redis.eval(releaseScript, 1, key, owner);
    },
  };
}

/*
 * Failed logins, counted in Redis so that the limits hold across every process of the cluster:
 *
 * - per account (the email as typed, trimmed and lower-cased, whether or not such an agent exists): after
 *   `maxFailures` failures within `windowSeconds`, the account is locked for `lockoutSeconds`; while locked,
 *   even the right password is refused (LOGIN_LOCKED). An unknown email locks the same way, so the answer
 *   never tells whether an account exists. A successful login clears the account's count.
 * - per client address: after `maxFailuresPerIp` failures within `windowSeconds`, that address gets
 *   LOGIN_THROTTLED until the window ends, whatever account it tries. Success does not clear it (one known
 *   account must not unlock guessing at others).
 *
 * Only failures count: a correct password outside a lockout costs nothing. Both refusals carry
 * `details.retryAfterSeconds` (the route sends it as Retry-After). Counters are fixed windows (INCR, then
 * EXPIRE on the first failure), which is enough to stop password guessing; keys hold a hash of the email,
 * never the email itself.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';

export interface LoginLimits {
  /** Failed logins for one account within the window before it is locked (LOGIN_MAX_FAILURES). */
  maxFailures: number;
  /** Failed logins from one address within the window before it is throttled (LOGIN_MAX_FAILURES_PER_IP). */
  maxFailuresPerIp: number;
  /** The window failures are counted in (LOGIN_FAILURE_WINDOW_MINUTES). */
  windowSeconds: number;
  /** How long a locked account stays locked (LOGIN_LOCKOUT_MINUTES). */
  lockoutSeconds: number;
}

/** What the caller is told when a failure locks an account (for the audit log). */
export interface LockoutNotice {
  email: string;
  ip: string;
  failures: number;
  lockoutSeconds: number;
}

const accountKeyOf = (email: string) =>
  createHash('sha256').update(email.trim().toLowerCase()).digest('base64url');

export function createLoginGuard(deps: {
  redis: Redis;
  prefix: string;
  limits: LoginLimits;
  onLocked: (notice: LockoutNotice) => Promise<void>;
}) {
  const { redis, limits } = deps;
  const failuresKey = (email: string) => `${deps.prefix}login:failures:${accountKeyOf(email)}`;
  const lockKey = (email: string) => `${deps.prefix}login:locked:${accountKeyOf(email)}`;
  const ipKey = (ip: string) => `${deps.prefix}login:ip-failures:${ip}`;
  /** Seconds left on a key's TTL; a key without one (which this code never writes) counts as a full period. */
  const secondsLeft = (ttl: number, fallback: number) => (ttl > 0 ? ttl : fallback);

  return {
    /** Refuses (throws) a login attempt from a throttled address or for a locked account. */
    async check(email: string, ip: string): Promise<void> {
      const [ipCount, ipTtl, lockTtl] = (
        (await redis.multi().get(ipKey(ip)).ttl(ipKey(ip)).ttl(lockKey(email)).exec()) ?? []
      ).map(([, value]) => Number(value ?? 0));
      if ((ipCount ?? 0) >= limits.maxFailuresPerIp)
        throw new AppError('LOGIN_THROTTLED', undefined, {
          retryAfterSeconds: secondsLeft(ipTtl ?? 0, limits.windowSeconds),
        });
      // TTL is -2 for a key that does not exist: no lock.
      if (lockTtl !== undefined && lockTtl !== -2)
        throw new AppError('LOGIN_LOCKED', undefined, {
          retryAfterSeconds: secondsLeft(lockTtl, limits.lockoutSeconds),
        });
    },

    /** Counts a failed login; the failure that reaches the limit locks the account (and reports it). */
    async recordFailure(email: string, ip: string): Promise<void> {
      const results = (await redis
        .multi()
        .incr(failuresKey(email))
        .expire(failuresKey(email), limits.windowSeconds, 'NX')
        .incr(ipKey(ip))
        .expire(ipKey(ip), limits.windowSeconds, 'NX')
        .exec()) as [Error | null, unknown][];
      const failures = Number(results[0]?.[1] ?? 0);
      if (failures < limits.maxFailures) return;
      // Only the failure that sets the lock reports it: later failures during the lockout do not extend it.
      const isNewLock = await redis.set(lockKey(email), '1', 'EX', limits.lockoutSeconds, 'NX');
      await redis.del(failuresKey(email));
      if (isNewLock)
        await deps.onLocked({
          email: email.trim().toLowerCase(),
          ip,
          failures,
          lockoutSeconds: limits.lockoutSeconds,
        });
    },

    /** A successful login starts the account's count afresh. */
    async recordSuccess(email: string): Promise<void> {
      await redis.del(failuresKey(email));
    },
  };
}

export type LoginGuard = ReturnType<typeof createLoginGuard>;

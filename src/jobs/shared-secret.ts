import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A signing key shared by every process of the cluster: the configured one, else one random key kept in
 * Redis under `key` (the first process to start writes it), so that what one process signs, another verifies.
 */
export async function sharedSecretOf(
  configured: string | undefined,
  redis: Redis,
  key: string,
): Promise<string> {
  if (configured) return configured;
  await redis.set(key, randomBytes(32).toString('base64url'), 'NX');
  const secret = await redis.get(key);
  if (!secret) throw new Error(`the shared key ${key} could not be read from Redis`);
  return secret;
}

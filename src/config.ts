import { isSupportedCountry, type CountryCode } from 'libphonenumber-js';

/*
 * Settings, read from the environment once (in main.ts or the test setup) and passed down explicitly:
 * nothing below this file reads process.env.
 */
export interface Config {
  /** Unset: start a local Postgres from Debian's packages (see runtime/local-services.ts). */
  databaseUrl: string | undefined;
  /** Unset: start a local Redis. */
  redisUrl: string | undefined;
  /** Postgres schema that holds every table (tests use one per test file). */
  databaseSchema: string;
  /** Prefix of every Redis key, BullMQ queue and session (tests use one per test file). */
  redisPrefix: string;
  host: string;
  port: number;
  publicBaseUrl: string;
  /** Region for phone numbers written without a country code (ISO 3166-1 alpha-2). */
  defaultPhoneRegion: CountryCode;
  sessionTtlSeconds: number;
  /** Cookies marked Secure: on whenever the public URL is https. */
  isSecureCookie: boolean;
  logLevel: string;
  dataDir: string;
  /** How often the duplicate sweep looks for customers that ingest flagged. */
  duplicateSweepMs: number;
  /** How often the overdue-offer sweep runs; an offer is overdue this long after its expiry. */
  offerSweepMs: number;
  /** Ingest calls (batches) in flight to Postgres at once per process; contacts beyond wait and batch up. */
  ingestMaxInFlight: number;
  /** The folder of routing rule files (YAML), loaded at start-up. */
  routingRulesDir: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`PORT must be 0-65535, got ${env.PORT}`);
  const region = (env.DEFAULT_PHONE_REGION ?? 'US').toUpperCase();
  if (!isSupportedCountry(region))
    throw new ConfigError(`DEFAULT_PHONE_REGION '${region}' is not a known region`);
  const schema = env.DATABASE_SCHEMA ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new ConfigError(`DATABASE_SCHEMA '${schema}' is not a plain identifier`);
  const host = env.HOST ?? '127.0.0.1';
  const publicBaseUrl = (
    env.PUBLIC_BASE_URL ?? `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`
  ).replace(/\/$/, '');
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    databaseSchema: schema,
    redisPrefix: env.REDIS_PREFIX ?? 'sb:',
    host,
    port,
    publicBaseUrl,
    defaultPhoneRegion: region,
    sessionTtlSeconds: Number(env.SESSION_TTL_SECONDS ?? 12 * 3600),
    isSecureCookie: publicBaseUrl.startsWith('https:'),
    logLevel: env.LOG_LEVEL ?? 'info',
    dataDir: env.DATA_DIR ?? '.data',
    duplicateSweepMs: Number(env.DUPLICATE_SWEEP_MS ?? 2000),
    ingestMaxInFlight: Number(env.INGEST_MAX_IN_FLIGHT ?? 4),
    offerSweepMs: Number(env.OFFER_SWEEP_MS ?? 5000),
    routingRulesDir: env.ROUTING_RULES_DIR ?? 'routing-rules',
  };
}

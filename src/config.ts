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
  /** An agent whose console sockets are all gone this long is set offline (presence). */
  presenceGraceMs: number;
  /** How often a process refreshes its sockets' presence; an entry three beats old counts as gone. */
  presenceHeartbeatMs: number;
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
  /** How often escalation steps that fell due are applied (and so their timing's resolution). */
  escalationSweepMs: number;
  /** Route each new interaction in-process right after ingest (off only in the ingest benchmark). */
  routeOnIngest: boolean;
  /** Watch the rules folder and reload on change (a refused change leaves the rules in force). */
  watchRoutingRules: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function positiveMs(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0)
    throw new ConfigError(`${name} must be a whole number of milliseconds above 0, got ${env[name]}`);
  return value;
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
    presenceGraceMs: positiveMs(env, 'PRESENCE_GRACE_MS', 30_000),
    presenceHeartbeatMs: positiveMs(env, 'PRESENCE_HEARTBEAT_MS', 10_000),
    isSecureCookie: publicBaseUrl.startsWith('https:'),
    logLevel: env.LOG_LEVEL ?? 'info',
    dataDir: env.DATA_DIR ?? '.data',
    duplicateSweepMs: Number(env.DUPLICATE_SWEEP_MS ?? 2000),
    ingestMaxInFlight: Number(env.INGEST_MAX_IN_FLIGHT ?? 4),
    offerSweepMs: Number(env.OFFER_SWEEP_MS ?? 5000),
    routingRulesDir: env.ROUTING_RULES_DIR ?? 'routing-rules',
    escalationSweepMs: Number(env.ESCALATION_SWEEP_MS ?? 1000),
    routeOnIngest: env.ROUTE_ON_INGEST !== '0',
    watchRoutingRules: env.WATCH_ROUTING_RULES !== '0',
  };
}

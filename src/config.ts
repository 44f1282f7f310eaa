import { isSupportedCountry, type CountryCode } from 'libphonenumber-js';
import type { LoginLimits } from './agents/login-guard.js';
import { imageTypes, isImageType, type ImageType } from './interactions/image-sniffer.js';

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
  /**
   * Which proxies' X-Forwarded-For to believe for the client's address (the per-address login limit and the
   * logs): false (none: the connection's peer is the client), a hop count, or addresses and CIDR ranges.
   */
  trustProxy: boolean | number | string[];
  /** Region for phone numbers written without a country code (ISO 3166-1 alpha-2). */
  defaultPhoneRegion: CountryCode;
  sessionTtlSeconds: number;
  /**
   * Failed logins (src/agents/login-guard.ts): LOGIN_MAX_FAILURES (5) for one account within
   * LOGIN_FAILURE_WINDOW_MINUTES (15) lock it for LOGIN_LOCKOUT_MINUTES (15); LOGIN_MAX_FAILURES_PER_IP (20)
   * from one address within the window throttle that address until the window ends.
   */
  login: LoginLimits;
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
  /** SLA_SWEEP_MS: how often SLA clocks follow the log and warnings and breaches are settled (5 s). */
  slaSweepMs: number;
  /**
   * Supervisors' alert email: SUPERVISOR_ALERT_EMAIL (comma list; none: no email) gets an alert (an SLA
   * breach, a queue under its service-level target, a wait past its threshold) at most once per
   * ALERT_EMAIL_EVERY_MINUTES (15) per alert kind and queue. Sent through the email channel's first mailbox.
   */
  alertEmail: { to: string[]; everyMinutes: number };
  /** REPORTS_TIME_ZONE: the IANA zone whose calendar day is "today" on the supervisors' live board (UTC). */
  reportsTimeZone: string;
  /** Web chat (channels/webchat/): the widgets by id, their limits, and the conversation token key. */
  webchat: WebchatConfig;
  /**
   * Images web chat visitors may send (beside `webchat` rather than in it, so that settings that spell out
   * `webchat`, as tests do, keep these defaults).
   */
  webchatImages: WebchatImageLimits;
  /** Email (channels/email/): the mailboxes file, and what it may read from the environment. */
  email: EmailConfig;
  /** Phone (channels/phone/): Twilio voice. */
  phone: PhoneConfig;
  /** Fax (channels/fax/): the providers' webhook secrets, the provider replies are sent through, OCR. */
  fax: FaxConfig;
}

/**
 * The fax channel. A provider's webhooks answer 503 until its secret is set; replies by fax need
 * FAX_SEND_PROVIDER, that provider's API credentials and FAX_NUMBER.
 */
export interface FaxConfig {
  signalwire: {
    /** SIGNALWIRE_SIGNING_KEY: checks X-SignalWire-Signature (Twilio's algorithm). */
    signingKey: string | undefined;
    /** SIGNALWIRE_SPACE_URL (https://example.signalwire.com), SIGNALWIRE_PROJECT_ID, SIGNALWIRE_API_TOKEN. */
    spaceUrl: string | undefined;
    projectId: string | undefined;
    apiToken: string | undefined;
  };
  telnyx: {
    /** TELNYX_PUBLIC_KEY: the account's Ed25519 public key (base64), checks telnyx-signature-ed25519. */
    publicKey: string | undefined;
    /** TELNYX_API_KEY, TELNYX_FAX_CONNECTION_ID, TELNYX_API_BASE_URL (a stand-in's, in tests). */
    apiKey: string | undefined;
    connectionId: string | undefined;
    apiBaseUrl: string | undefined;
    /** How old a signed event may be (TELNYX_TOLERANCE_SECONDS, default 300). */
    toleranceSeconds: number;
  };
  phaxio: {
    /** PHAXIO_CALLBACK_TOKEN: checks X-Phaxio-Signature. PHAXIO_API_KEY / _SECRET / _BASE_URL send. */
    callbackToken: string | undefined;
    apiKey: string | undefined;
    apiSecret: string | undefined;
    apiBaseUrl: string | undefined;
  };
  /** HYLAFAX_TOKEN: the bearer token the faxrcvd hook sends. */
  hylafax: { token: string | undefined };
  /** FAX_SEND_PROVIDER: signalwire, telnyx or phaxio; unset, replies by fax are refused. */
  sendProvider: 'signalwire' | 'telnyx' | 'phaxio' | undefined;
  /** FAX_NUMBER: our fax number (E.164), replies come from it. FAX_HEADER_NAME: the sender on the cover. */
  number: string | undefined;
  headerName: string;
  /** FAX_OCR_LANGUAGES: tesseract's languages, e.g. `eng+deu` (default eng). */
  ocrLanguages: string;
  /** FAX_MAX_DOCUMENT_MB: the largest document taken (default 50). */
  maxDocumentBytes: number;
  /** FAX_MEDIA_ATTEMPTS / FAX_MEDIA_RETRY_MS: downloading a document, before the fax is flagged. */
  mediaAttempts: number;
  mediaRetryMs: number;
  /** Signs the links providers fetch reply PDFs by (FAX_MEDIA_SECRET; unset: a key shared in Redis). */
  mediaSecret: string | undefined;
}

export interface PhoneConfig {
  /** TWILIO_ACCOUNT_SID: the account the REST calls (redirecting a call, calling back) act for. */
  accountSid: string;
  /**
   * TWILIO_AUTH_TOKEN: checks every webhook's X-Twilio-Signature and authenticates REST calls. Unset: the
   * phone channel is off (its webhooks answer 503).
   */
  authToken: string | undefined;
  /** TWILIO_API_KEY / TWILIO_API_SECRET: sign the console softphone's access tokens. */
  apiKeySid: string | undefined;
  apiKeySecret: string | undefined;
  /** TWILIO_TWIML_APP_SID: the TwiML app the softphone's outgoing calls use. */
  twimlAppSid: string | undefined;
  /**
   * TWILIO_API_BASE_URL: where REST calls go instead of https://api.twilio.com (the caller simulator's
   * stand-in, in development and tests).
   */
  apiBaseUrl: string | undefined;
  /** TWILIO_CALLER_ID: the number calls we place come from (default: the number the customer called). */
  callerId: string | undefined;
  /** TWILIO_RECORD_CALLS=1: agent calls are recorded and the recordings attached. */
  isRecording: boolean;
}

export interface EmailConfig {
  /** EMAIL_MAILBOXES_FILE, default `mailboxes.yaml`; no file, no email channel. */
  mailboxesFile: string;
  /** The environment the mailboxes file's `passwordEnv` names are read from. */
  secrets: Readonly<Record<string, string | undefined>>;
  /** Signs reply tokens (EMAIL_TOKEN_SECRET); unset: one random key kept in Redis, shared by every process. */
  tokenSecret: string | undefined;
  /** Whether this process takes part in reading mailboxes (EMAIL_POLL=0: it only sends). */
  isPolling: boolean;
}

export interface WebchatImageLimits {
  /** The largest image accepted, in bytes (WEBCHAT_MAX_IMAGE_BYTES, default 5 MiB). */
  maxBytes: number;
  /** The types accepted, as sniffed from the bytes (WEBCHAT_IMAGE_TYPES, a comma list; default all four). */
  types: ImageType[];
}

export interface WebchatWidget {
  /** Origins whose pages may open the chat socket; '*' admits any (a socket without Origin is not a browser). */
  allowedOrigins: string[];
  /** Identity validation: the host site sends `userHash` = HMAC-SHA256(secret, userId), hex. */
  identitySecret?: string;
  /** Refuse visitors without a valid `userId` + `userHash`. */
  isIdentityRequired: boolean;
}

export interface WebchatConfig {
  widgets: Record<string, WebchatWidget>;
  /** Signs visitors' conversation tokens; unset: one random key is kept in Redis, shared by every process. */
  tokenSecret: string | undefined;
  maxMessageChars: number;
  /** At most `rateLimitMessages` messages per conversation in any `rateLimitWindowMs` (fixed window, Redis). */
  rateLimitMessages: number;
  rateLimitWindowMs: number;
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

/*
 * WEBCHAT_WIDGETS: JSON `{ "<widgetId>": { "allowedOrigins": [...], "identitySecret"?: "...",
 * "isIdentityRequired"?: true } }`. Without it, one widget `default` from WEBCHAT_ALLOWED_ORIGINS (comma
 * list; default the public origin), WEBCHAT_WIDGET_SECRET and WEBCHAT_REQUIRE_IDENTITY=1.
 */
function webchatWidgets(env: NodeJS.ProcessEnv, publicBaseUrl: string): Record<string, WebchatWidget> {
  if (!env.WEBCHAT_WIDGETS) {
    const origins = env.WEBCHAT_ALLOWED_ORIGINS?.split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    return {
      default: {
        allowedOrigins: origins?.length ? origins : [new URL(publicBaseUrl).origin],
        ...(env.WEBCHAT_WIDGET_SECRET && { identitySecret: env.WEBCHAT_WIDGET_SECRET }),
        isIdentityRequired: env.WEBCHAT_REQUIRE_IDENTITY === '1',
      },
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(env.WEBCHAT_WIDGETS);
  } catch {
    throw new ConfigError('WEBCHAT_WIDGETS is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError('WEBCHAT_WIDGETS must be an object of widgets by id');
  const widgets: Record<string, WebchatWidget> = {};
  for (const [id, value] of Object.entries(parsed as Record<string, unknown>)) {
    const widget = value as Partial<WebchatWidget> | null;
    if (!/^[\w-]{1,64}$/.test(id) || !widget || !Array.isArray(widget.allowedOrigins))
      throw new ConfigError(`WEBCHAT_WIDGETS.${id}: an id of letters, digits, - or _ with allowedOrigins`);
    if (widget.identitySecret !== undefined && typeof widget.identitySecret !== 'string')
      throw new ConfigError(`WEBCHAT_WIDGETS.${id}.identitySecret must be a string`);
    widgets[id] = {
      allowedOrigins: widget.allowedOrigins.map(String),
      ...(widget.identitySecret && { identitySecret: widget.identitySecret }),
      isIdentityRequired: widget.isIdentityRequired === true,
    };
  }
  return widgets;
}

/**
 * TRUST_PROXY: unset or `0` trusts no proxy; `true` trusts every hop (only when nothing but the proxy can
 * reach the port); a whole number trusts that many hops; otherwise a comma list of addresses or CIDR ranges
 * (`127.0.0.1,10.0.0.0/8`). Trusting a header nobody strips lets a client pick its own address, and so
 * dodge the per-address login limit: hence off unless said.
 */
function trustProxyOf(value: string | undefined): boolean | number | string[] {
  const text = value?.trim() ?? '';
  if (text === '' || text === '0' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) return Number(text);
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const isAddress = (entry: string) => /^[\d.:a-f]+(\/\d{1,3})?$/i.test(entry) && /[.:]/.test(entry);
  const bad = entries.filter((entry) => !isAddress(entry));
  if (bad.length > 0)
    throw new ConfigError(
      `TRUST_PROXY must be true, a hop count, or addresses and CIDR ranges, got ${bad.join(', ')}`,
    );
  return entries;
}

function positiveCount(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0)
    throw new ConfigError(`${name} must be a whole number above 0, got ${env[name]}`);
  return value;
}

function webchatImageTypes(env: NodeJS.ProcessEnv): ImageType[] {
  const listed = env.WEBCHAT_IMAGE_TYPES?.split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
  if (!listed?.length) return Object.keys(imageTypes) as ImageType[];
  const unknown = listed.filter((t) => !isImageType(t));
  if (unknown.length)
    throw new ConfigError(
      `WEBCHAT_IMAGE_TYPES: ${unknown.join(', ')} not among ${Object.keys(imageTypes).join(', ')}`,
    );
  return [...new Set(listed)] as ImageType[];
}

function alertEmailTo(env: NodeJS.ProcessEnv): string[] {
  const to = (env.SUPERVISOR_ALERT_EMAIL ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const bad = to.filter((address) => !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address));
  if (bad.length)
    throw new ConfigError(`SUPERVISOR_ALERT_EMAIL: '${bad.join("', '")}' is not an email address`);
  return to;
}

function reportsTimeZone(env: NodeJS.ProcessEnv): string {
  const timeZone = env.REPORTS_TIME_ZONE || 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new ConfigError(`REPORTS_TIME_ZONE '${timeZone}' is not a known IANA time zone`);
  }
  return timeZone;
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
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    defaultPhoneRegion: region,
    sessionTtlSeconds: Number(env.SESSION_TTL_SECONDS ?? 12 * 3600),
    login: {
      maxFailures: positiveCount(env, 'LOGIN_MAX_FAILURES', 5),
      maxFailuresPerIp: positiveCount(env, 'LOGIN_MAX_FAILURES_PER_IP', 20),
      windowSeconds: positiveCount(env, 'LOGIN_FAILURE_WINDOW_MINUTES', 15) * 60,
      lockoutSeconds: positiveCount(env, 'LOGIN_LOCKOUT_MINUTES', 15) * 60,
    },
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
    reportsTimeZone: reportsTimeZone(env),
    slaSweepMs: positiveMs(env, 'SLA_SWEEP_MS', 5000),
    alertEmail: {
      to: alertEmailTo(env),
      everyMinutes: positiveCount(env, 'ALERT_EMAIL_EVERY_MINUTES', 15),
    },
    webchat: {
      widgets: webchatWidgets(env, publicBaseUrl),
      tokenSecret: env.WEBCHAT_TOKEN_SECRET || undefined,
      maxMessageChars: positiveCount(env, 'WEBCHAT_MAX_MESSAGE_CHARS', 4000),
      rateLimitMessages: positiveCount(env, 'WEBCHAT_RATE_LIMIT_MESSAGES', 10),
      rateLimitWindowMs: positiveMs(env, 'WEBCHAT_RATE_LIMIT_WINDOW_MS', 10_000),
    },
    email: {
      mailboxesFile: env.EMAIL_MAILBOXES_FILE ?? 'mailboxes.yaml',
      secrets: { ...env },
      tokenSecret: env.EMAIL_TOKEN_SECRET || undefined,
      isPolling: env.EMAIL_POLL !== '0',
    },
    phone: {
      accountSid: env.TWILIO_ACCOUNT_SID || 'AC00000000000000000000000000000000',
      authToken: env.TWILIO_AUTH_TOKEN || undefined,
      apiKeySid: env.TWILIO_API_KEY || undefined,
      apiKeySecret: env.TWILIO_API_SECRET || undefined,
      twimlAppSid: env.TWILIO_TWIML_APP_SID || undefined,
      apiBaseUrl: env.TWILIO_API_BASE_URL?.replace(/\/$/, '') || undefined,
      callerId: env.TWILIO_CALLER_ID || undefined,
      isRecording: env.TWILIO_RECORD_CALLS === '1',
    },
    fax: {
      signalwire: {
        signingKey: env.SIGNALWIRE_SIGNING_KEY || undefined,
        spaceUrl: env.SIGNALWIRE_SPACE_URL?.replace(/\/$/, '') || undefined,
        projectId: env.SIGNALWIRE_PROJECT_ID || undefined,
        apiToken: env.SIGNALWIRE_API_TOKEN || undefined,
      },
      telnyx: {
        publicKey: env.TELNYX_PUBLIC_KEY || undefined,
        apiKey: env.TELNYX_API_KEY || undefined,
        connectionId: env.TELNYX_FAX_CONNECTION_ID || undefined,
        apiBaseUrl: env.TELNYX_API_BASE_URL?.replace(/\/$/, '') || undefined,
        toleranceSeconds: positiveCount(env, 'TELNYX_TOLERANCE_SECONDS', 300),
      },
      phaxio: {
        callbackToken: env.PHAXIO_CALLBACK_TOKEN || undefined,
        apiKey: env.PHAXIO_API_KEY || undefined,
        apiSecret: env.PHAXIO_API_SECRET || undefined,
        apiBaseUrl: env.PHAXIO_API_BASE_URL?.replace(/\/$/, '') || undefined,
      },
      hylafax: { token: env.HYLAFAX_TOKEN || undefined },
      sendProvider: faxSendProvider(env.FAX_SEND_PROVIDER),
      number: env.FAX_NUMBER || undefined,
      headerName: env.FAX_HEADER_NAME || 'Switchboard',
      ocrLanguages: env.FAX_OCR_LANGUAGES || 'eng',
      maxDocumentBytes: positiveCount(env, 'FAX_MAX_DOCUMENT_MB', 50) * 1024 * 1024,
      mediaAttempts: positiveCount(env, 'FAX_MEDIA_ATTEMPTS', 6),
      mediaRetryMs: positiveMs(env, 'FAX_MEDIA_RETRY_MS', 2000),
      mediaSecret: env.FAX_MEDIA_SECRET || undefined,
    },
    webchatImages: {
      maxBytes: positiveCount(env, 'WEBCHAT_MAX_IMAGE_BYTES', 5 * 1024 * 1024),
      types: webchatImageTypes(env),
    },
  };
}

function faxSendProvider(value: string | undefined): FaxConfig['sendProvider'] {
  if (!value) return undefined;
  if (value === 'signalwire' || value === 'telnyx' || value === 'phaxio') return value;
  throw new Error(`FAX_SEND_PROVIDER must be signalwire, telnyx or phaxio, not '${value}'`);
}

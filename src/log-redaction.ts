/*
 * What the logs must never hold, applied to every logger buildApp is given (production's and tests'):
 * credentials in headers (the session cookie, bearer tokens, webhook signatures), which plugins log at trace
 * level (@fastify/multipart logs the request headers it hands to busboy), and credentials in URLs, which
 * Fastify logs with every request: capability links (a path that is itself the secret, like the signed fax
 * media links providers fetch), and query parameters that carry a token or an identity hash (the chat
 * widget's `userHash`). The core knows its own headers; each channel names its provider's signature headers
 * and capability paths (`LogSecrets`), and app.ts hands them over. tests/integration/security-logging.test.ts
 * drives every path that handles a secret and fails on any line that holds one.
 */
import type { FastifyRequest, FastifyServerOptions } from 'fastify';

const censor = '[redacted]';

/** What a channel adds: its providers' signature headers, and paths whose next segment is a secret. */
export interface LogSecrets {
  headers?: readonly string[];
  capabilityPaths?: readonly string[];
}

const coreHeaders = ['authorization', 'cookie', 'set-cookie'];
const headerPaths = (headers: readonly string[]) =>
  headers.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `*.*.headers["${h}"]`]);

const secretParams = /^(token|usertoken|userhash|signature|sig|secret|password|key|apikey|api_key)$/i;

/** A request URL without the credentials it may carry: capability segments and secret query parameters. */
export function redactUrl(url: string, capabilityPaths: readonly string[] = []): string {
  const [path = '', query] = url.split(/\?(.*)/s, 2);
  const prefix = capabilityPaths.find((p) => path.startsWith(p) && path.length > p.length);
  const safePath = prefix ? `${prefix}${censor}${path.slice(prefix.length).replace(/^[^/]+/, '')}` : path;
  if (query === undefined) return safePath;
  const safeQuery = query
    .split('&')
    .map((pair) => {
      const [name = ''] = pair.split('=', 1);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // A malformed name is kept as it came.
      }
      return secretParams.test(decoded) ? `${name}=${censor}` : pair;
    })
    .join('&');
  return `${safePath}?${safeQuery}`;
}

/** The logger options buildApp passes to Fastify: the caller's, with redaction and a URL-safe `req`. */
export function withLogRedaction(
  logger: FastifyServerOptions['logger'],
  secrets: readonly LogSecrets[] = [],
): FastifyServerOptions['logger'] {
  if (!logger) return false;
  const options = logger === true ? {} : logger;
  const headers = [...coreHeaders, ...secrets.flatMap((s) => s.headers ?? [])];
  const capabilityPaths = secrets.flatMap((s) => s.capabilityPaths ?? []);
  return {
    ...options,
    redact: { paths: [...headerPaths(headers), 'password', '*.password'], censor },
    serializers: {
      ...options.serializers,
      // Fastify's own request serializer, with the URL made safe.
      req: (request: FastifyRequest) => {
        const version = request.headers['accept-version'];
        return {
          method: request.method,
          url: redactUrl(request.url, capabilityPaths),
          version: typeof version === 'string' ? version : undefined,
          host: request.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
        };
      },
    },
  };
}

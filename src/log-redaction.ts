/*
 * What the logs must never hold, applied to every logger buildApp is given (production's and tests'):
 * credentials in headers (the session cookie, bearer tokens, webhook signatures), which plugins log at trace
 * level (@fastify/multipart logs the request headers it hands to busboy), and credentials in URLs, which
 * Fastify logs with every request: the signed fax media links providers fetch, and query parameters that
 * carry a token or an identity hash (the chat widget's `userHash`). tests/integration/security-logging.test.ts
 * drives every path that handles a secret and fails on any line that holds one.
 */
import type { FastifyRequest, FastifyServerOptions } from 'fastify';

const censor = '[redacted]';

const secretHeaders = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-twilio-signature',
  'x-signalwire-signature',
  'x-phaxio-signature',
  'telnyx-signature-ed25519',
];
const redactPaths = [
  ...secretHeaders.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `*.*.headers["${h}"]`]),
  'password',
  '*.password',
];

const secretParams = /^(token|usertoken|userhash|signature|sig|secret|password|key|apikey|api_key)$/i;

/** A request URL without the credentials it may carry (exported for tests). */
export function redactUrl(url: string): string {
  const [path = '', query] = url.split(/\?(.*)/s, 2);
  const safePath = path.replace(/^(\/webhooks\/fax\/media\/)[^/]+/, `$1${censor}`);
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
export function withLogRedaction(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  const options = logger === true ? {} : logger;
  return {
    ...options,
    redact: { paths: redactPaths, censor },
    serializers: {
      ...options.serializers,
      // Fastify's own request serializer, with the URL made safe.
      req: (request: FastifyRequest) => {
        const version = request.headers['accept-version'];
        return {
          method: request.method,
          url: redactUrl(request.url),
          version: typeof version === 'string' ? version : undefined,
          host: request.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
        };
      },
    },
  };
}

/*
 * The twilio REST client the phone channel uses (redirecting a waiting call to an agent, placing callbacks,
 * hanging up). With `apiBaseUrl` set, every request that would go to https://api.twilio.com goes there
 * instead: the caller simulator's stand-in in development and tests. Nothing else about the client changes.
 */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

const twilioApi = 'https://api.twilio.com';

export type TwilioClient = ReturnType<typeof twilio>;

class RedirectingRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string) {
    super({ timeout: 10_000 });
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    return super.request<TData>({ ...opts, uri: rewriteApiUrl(opts.uri, this.baseUrl) });
  }
}

/** `url` with api.twilio.com replaced by `baseUrl` (a recording's media URL, a REST resource). */
export function rewriteApiUrl(url: string, baseUrl: string | undefined): string {
  return baseUrl && url.startsWith(twilioApi) ? `${baseUrl}${url.slice(twilioApi.length)}` : url;
}

export function createTwilioClient(options: {
  accountSid: string;
  authToken: string;
  apiBaseUrl?: string | undefined;
}): TwilioClient {
  return twilio(options.accountSid, options.authToken, {
    ...(options.apiBaseUrl && { httpClient: new RedirectingRequestClient(options.apiBaseUrl) }),
  });
}

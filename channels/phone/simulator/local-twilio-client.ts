import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioResponse from 'twilio/lib/http/response.js';

/*
 * A twilio-node client whose requests go to another base URL (the Twilio API double) instead of
 * https://api.twilio.com: a RequestClient that rewrites the origin of every URI it is asked to fetch.
 * Only a test aid; production code builds its client in channels/phone/twilio-client.ts.
 */

const twilioApiOrigin = 'https://api.twilio.com';

/** A RequestClient that sends https://api.twilio.com/... to `apiBaseUrl` and everything else unchanged. */
export class RedirectingRequestClient extends twilio.RequestClient {
  constructor(private readonly apiBaseUrl: string) {
    super();
  }

  override request<TData>(
    options: RequestClient.RequestOptions<TData>,
  ): Promise<TwilioResponse.default<TData>> {
    const uri = options.uri.startsWith(twilioApiOrigin)
      ? this.apiBaseUrl.replace(/\/$/, '') + options.uri.slice(twilioApiOrigin.length)
      : options.uri;
    return super.request<TData>({ ...options, uri });
  }
}

export interface LocalTwilioClientOptions {
  accountSid: string;
  authToken: string;
  /** e.g. the double's `url`, http://127.0.0.1:3999. */
  apiBaseUrl: string;
}

export function createLocalTwilioClient(options: LocalTwilioClientOptions): twilio.Twilio {
  return twilio(options.accountSid, options.authToken, {
    httpClient: new RedirectingRequestClient(options.apiBaseUrl),
  });
}

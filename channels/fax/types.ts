/*
 * The fax channel's own words, shared by its provider adapters (providers/), the document pipeline
 * (document.ts) and the receiving logic (faxes.ts). Nothing outside channels/fax/ sees these: the core gets an
 * InboundContact.
 */

/** Where a fax came in: an API provider's webhook, the HylaFAX hook, or a fax-to-email gateway's mail. */
export const faxProviders = ['signalwire', 'telnyx', 'phaxio', 'hylafax', 'email'] as const;
export type FaxProvider = (typeof faxProviders)[number];

/** What the provider says of an inbound fax: every page, some pages, or none. */
export type FaxOutcome = 'received' | 'partial' | 'failed';

/** The document of a fax: a link to fetch it (it may expire in minutes), or the bytes themselves. */
export type FaxDocumentSource =
  { kind: 'url'; url: string } | { kind: 'bytes'; content: Buffer; fileName: string; contentType: string };

/**
 * One provider report about one inbound fax, in the channel's words. A provider may report the same fax more
 * than once (a retry, a repeated event, a later event with more pages): `faxId` names the fax, `eventId`
 * names this report, and `occurredAt` orders the reports.
 */
export interface FaxReceipt {
  provider: FaxProvider;
  /** The provider's id of the fax: FaxSid, Telnyx fax_id, Phaxio fax id, HylaFAX commid. */
  faxId: string;
  /** The provider's id of this report (Telnyx data.id); a provider without one: faxId plus outcome. */
  eventId: string;
  /** When the provider says the report was made; undefined when it does not say. */
  occurredAt?: Date;
  outcome: FaxOutcome;
  /** The sender's number as the provider wrote it (caller id), or null when withheld. */
  from: string | null;
  /** Our number the fax was sent to. */
  to: string | null;
  /** The sending machine's station id (TSI / CSID), as it sent it; often a number, sometimes a name. */
  stationId: string | null;
  /** Pages the provider says it received; null when it does not say. */
  pageCount: number | null;
  /** Why the fax failed or is partial, as the provider said it. */
  error: { code: string | null; message: string | null } | null;
  /** null: no document (a failed fax). */
  document: FaxDocumentSource | null;
  /** The provider's own fields, for the log (JSON only, small). */
  details: Record<string, unknown>;
}

/**
 * The most pages a page count can say; a larger one is read as no count (it would not fit the column, and
 * no fax has that many pages).
 */
export const maxFaxPages = 100_000;

/** A provider's payload that cannot be read as a fax report: answered 400 and logged. */
export class FaxPayloadError extends Error {
  override name = 'FaxPayloadError';
}

/** A provider report about a fax we sent (a reply): the provider's id and how it ended. */
export interface FaxSendStatus {
  provider: FaxProvider;
  providerFaxId: string;
  /** 'sending': still in progress (queued, media processed, sending); the others are final. */
  status: 'sending' | 'delivered' | 'failed';
  pageCount: number | null;
  error: { code: string | null; message: string | null } | null;
}

/** One outbound fax: a reply, rendered as a PDF, for an API provider to send. */
export interface FaxSendRequest {
  /** E.164 numbers. */
  to: string;
  from: string;
  document: { content: Buffer; fileName: string };
  /**
   * Where the provider fetches the document, for providers that take a URL (SignalWire, Telnyx): a signed,
   * expiring link to this server. Providers that take an upload (Phaxio) ignore it.
   */
  mediaUrl: string;
  /** Where the provider reports the send's outcome. */
  statusCallbackUrl: string;
  /** Our id for the send (the message.sent event id), where the provider keeps one (tags, metadata). */
  reference: string;
}

export interface FaxSender {
  readonly provider: 'signalwire' | 'telnyx' | 'phaxio';
  /** Hands the fax to the provider; resolves with the provider's id for it, or throws FaxSendError. */
  send(request: FaxSendRequest): Promise<{ providerFaxId: string }>;
}

/** The provider refused or could not be reached. `isPermanent`: retrying the same request cannot help (4xx). */
export class FaxSendError extends Error {
  override name = 'FaxSendError';
  constructor(
    message: string,
    readonly isPermanent: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

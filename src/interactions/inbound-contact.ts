/*
 * The one contract between channel adapters and the core. An adapter verifies and parses its provider's
 * request, then hands ingest() an InboundContact. Nothing here names a provider: `externalId` is whatever
 * the provider uses to recognise its own retries (a call id, a Message-ID, a chat message id, a fax id).
 */

export const channels = ['voice', 'email', 'chat', 'fax'] as const;
export type Channel = (typeof channels)[number];

export const identityKinds = ['phone', 'email', 'chat_visitor', 'fax'] as const;
export type IdentityKind = (typeof identityKinds)[number];

export interface RawIdentity {
  kind: IdentityKind;
  /** As the provider wrote it; ingest normalizes (E.164, lower-cased email...). */
  value: string;
}

export interface InboundAttachment {
  /** The id clients fetch the bytes by (`GET /api/attachments/:id`), for bytes the core keeps. */
  id?: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  /** Where the adapter stored the bytes (attachment storage key). */
  storageKey: string;
  sha256?: string;
}

export interface InboundContact {
  channel: Channel;
  /** Unique per channel; ingest is idempotent on (channel, externalId). */
  externalId: string;
  direction?: 'inbound' | 'outbound';
  /** Sender first: the first known identity decides the customer. */
  identities: RawIdentity[];
  displayName?: string;
  /** Contacts with the same (channel, threadKey) and customer join one open interaction (chat session, email thread). */
  threadKey?: string;
  subject?: string;
  text?: string;
  /** Already sanitized by the adapter. */
  html?: string;
  attachments?: InboundAttachment[];
  /** Channel hints for routing: IVR choices, receiving mailbox or number, subject token... */
  hints?: Record<string, string | number | boolean>;
  /** When the customer sent it; defaults to now. */
  occurredAt?: Date;
  /**
   * Channel facts kept in the message's event as `details` (email: Message-ID, From, To, Cc, Date, what
   * could not be read); JSON only, at most 64 KB.
   */
  details?: Record<string, unknown>;
  /**
   * The interaction a channel's own threading found for this contact (email: our Message-ID in the reply,
   * a reply token, a ticket number), checked by the channel to belong to this sender (its customer or a
   * participant). An open one is joined; a closed one is reopened when it closed at most
   * `reopenWithinSeconds` ago, else a new interaction is opened and linked to it. `reason` is recorded in the
   * message's event.
   */
  thread?: { interactionId: string; reason: string; reopenWithinSeconds: number };
  /**
   * The channel serves the contact itself first (a call in the IVR) and routes it when the customer asks for
   * a person: a new interaction is not routed on ingest.
   */
  isRoutingDeferred?: boolean;
}

export interface IngestResult {
  isDuplicate: boolean;
  interactionId: string;
  customerId: string;
  eventId: string;
  isNewInteraction: boolean;
  isNewCustomer: boolean;
  newIdentityIds: string[];
  /** Customers that own other identities this contact carried: a strong duplicate signal. */
  otherCustomerIds: string[];
  /** The contact's `thread` interaction was closed and is open again (routed like a new one). */
  isReopened: boolean;
  /** What became of the contact's `thread`: joined, reopened, linked (a new one, linked), not-found. */
  threadOutcome: 'joined' | 'reopened' | 'linked' | 'not-found' | null;
}

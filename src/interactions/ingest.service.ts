import type { CountryCode } from 'libphonenumber-js';
import { normalizeIdentity, type NormalizedIdentity } from '../customers/identity-normalizer.js';
import type { InteractionsRepository, IngestRecord } from '../db/repositories/interactions.repository.js';
import { toStorable } from '../db/storable-text.js';
import { AppError } from '../errors.js';
import { mayContainPhone } from '../customers/duplicate-detector.service.js';
import type { DomainEvents, InteractionEventPayloads } from '../events.js';
import { channels, type InboundContact, type IngestResult } from './inbound-contact.js';

export interface IngestDependencies {
  interactions: InteractionsRepository;
  events: DomainEvents;
  defaultPhoneRegion: CountryCode;
}

const maxExternalIdLength = 500;
const maxTextLength = 1_000_000;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/*
 * ingest(): the single door into the unified log. Idempotent on (channel, externalId): a provider's retry, or
 * the same contact reaching two processes at once, returns the first result with isDuplicate set and changes
 * nothing. Normalization happens here, once, so every adapter gets the same identities. Duplicate detection
 * is not done here: the ingest function flags the customer and the duplicate sweep job checks it.
 */
export function createIngestService(deps: IngestDependencies) {
  return {
    async ingest(contact: InboundContact): Promise<IngestResult> {
      // NUL and unpaired surrogates become U+FFFD: Postgres cannot hold them, and the rest must be kept.
      const record = toRecord(toStorable(contact), deps.defaultPhoneRegion);
      const result = await deps.interactions.ingest(record);
      if (result.isDuplicate) return result;
      deps.events.publish('contact.ingested', {
        interactionId: result.interactionId,
        customerId: result.customerId,
        eventId: result.eventId,
        channel: contact.channel,
        isNewInteraction: result.isNewInteraction,
        isReopened: result.isReopened,
        isNewCustomer: result.isNewCustomer,
        isRoutingDeferred: contact.isRoutingDeferred === true,
      });
      return result;
    },
  };
}

export type IngestService = ReturnType<typeof createIngestService>;

function toRecord(contact: InboundContact, region: CountryCode): IngestRecord {
  if (!channels.includes(contact.channel))
    throw new AppError('INVALID_CONTACT', `unknown channel '${String(contact.channel)}'`);
  const externalId = contact.externalId?.trim();
  if (!externalId || externalId.length > maxExternalIdLength) {
    throw new AppError('INVALID_CONTACT', `externalId must be 1-${maxExternalIdLength} characters`);
  }
  if ((contact.text?.length ?? 0) > maxTextLength || (contact.html?.length ?? 0) > maxTextLength) {
    throw new AppError('INVALID_CONTACT', 'text too long');
  }
  if (contact.details && JSON.stringify(contact.details).length > 65_536)
    throw new AppError('INVALID_CONTACT', 'details too large');
  if (contact.thread && !uuidPattern.test(contact.thread.interactionId))
    throw new AppError('INVALID_CONTACT', 'thread.interactionId must be an interaction id');
  // An identity that cannot be normalized is kept raw in the event (nothing the customer sent is lost), but
  // it does not resolve a customer.
  const identities: NormalizedIdentity[] = [];
  const unusable: { kind: string; value: string }[] = [];
  for (const raw of contact.identities) {
    try {
      const n = normalizeIdentity(raw, region);
      if (!identities.some((i) => i.kind === n.kind && i.value === n.value)) identities.push(n);
    } catch {
      unusable.push({ kind: raw.kind, value: raw.value });
    }
  }
  const payload: InteractionEventPayloads['message.received'] = {
    ...(contact.text !== undefined && { text: contact.text }),
    ...(contact.html !== undefined && { html: contact.html }),
    ...(contact.subject !== undefined && { subject: contact.subject }),
    ...(contact.attachments?.length && {
      attachments: contact.attachments.map((a) => ({
        ...(a.id !== undefined && { id: a.id }),
        fileName: a.fileName,
        contentType: a.contentType,
        sizeBytes: a.sizeBytes,
      })),
    }),
    ...(contact.hints && { hints: contact.hints }),
    ...(contact.details && { details: contact.details }),
    identities: identities.map((i) => ({ kind: i.kind, value: i.value })),
  };
  return {
    channel: contact.channel,
    externalId,
    direction: contact.direction ?? 'inbound',
    occurredAt: contact.occurredAt ? contact.occurredAt.toISOString() : null,
    displayName: contact.displayName?.trim().slice(0, 200) || null,
    threadKey: contact.threadKey?.trim().slice(0, 500) || null,
    subject: contact.subject?.slice(0, 998) ?? null,
    identities,
    attachments: (contact.attachments ?? []).map((a) => ({ ...a, sha256: a.sha256 ?? null })),
    mayRevealDuplicate: mayContainPhone(contact.text),
    eventPayload: unusable.length ? { ...payload, unusableIdentities: unusable } : payload,
    ...(contact.thread && {
      joinInteractionId: contact.thread.interactionId,
      joinReason: contact.thread.reason.slice(0, 500),
      reopenWithinSeconds: Math.max(0, contact.thread.reopenWithinSeconds),
    }),
  };
}

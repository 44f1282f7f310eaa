/*
 * Replies by fax: the channel's sender for the core's delivery job. The agent's text is rendered as a PDF
 * (render-pdf.ts), kept, and handed to the configured API provider (FAX_SEND_PROVIDER), which fetches it from
 * a signed, expiring link to this server (SignalWire, Telnyx) or takes it as an upload (Phaxio). The
 * provider's id is recorded, so a retried job does not send the fax twice; the provider's later word (its
 * status callback) settles the send, and a failure is logged on the message (message.failed).
 *
 * A job that dies between the provider taking the fax and the id being recorded sends it again on retry:
 * none of the three APIs takes an idempotency key for faxes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { normalizeIdentity } from '../../src/customers/identity-normalizer.js';
import type { FaxRepository } from '../../src/db/repositories/fax.repository.js';
import type { AttachmentsService } from '../../src/interactions/attachments.service.js';
import {
  PermanentDeliveryError,
  type ChannelSender,
  type OutboundMessage,
} from '../../src/interactions/outbound-message.js';
import { renderReplyPdf } from './render-pdf.js';
import { FaxSendError, type FaxSender, type FaxSendStatus } from './types.js';

/** How long a provider may take to fetch a reply's PDF after we hand it the link. */
const mediaLinkSeconds = 24 * 3600;

export interface FaxSending {
  sender: ChannelSender;
  /** The provider's status report for a fax we sent. */
  settle(status: FaxSendStatus): Promise<void>;
  /** The PDF a signed media link names, or undefined when the link is not valid (forged, expired). */
  documentFor(token: string): Promise<Buffer | undefined>;
  /** A fresh signed link to a reply's PDF (what providers that fetch are given). */
  mediaUrl(messageEventId: string): string;
}

export function createFaxSending(deps: {
  provider: FaxSender | undefined;
  /** Our fax number (E.164) and the name on the cover header. */
  number: string | undefined;
  headerName: string;
  publicBaseUrl: string;
  mediaSecret: string;
  faxes: FaxRepository;
  attachments: Pick<AttachmentsService, 'keep'>;
  reportFailure: (messageEventId: string, reason: string) => Promise<void>;
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
}): FaxSending {
  const sign = (payload: string) =>
    createHmac('sha256', deps.mediaSecret).update(payload).digest('base64url');

  function mediaUrl(messageEventId: string): string {
    const expires = Math.floor(Date.now() / 1000) + mediaLinkSeconds;
    const payload = `${messageEventId}.${expires}`;
    return `${deps.publicBaseUrl}/webhooks/fax/media/${payload}.${sign(payload)}.pdf`;
  }

  function statusCallbackUrl(provider: FaxSender['provider']): string {
    return `${deps.publicBaseUrl}/webhooks/fax/${provider === 'signalwire' ? 'signalwire/status' : provider}`;
  }

  /** The first of the customer's numbers that is a dialable E.164 number (fax identities first). */
  function recipientOf(message: OutboundMessage): string | undefined {
    const ordered = [
      ...message.to.filter((i) => i.kind === 'fax'),
      ...message.to.filter((i) => i.kind === 'phone'),
    ];
    for (const identity of ordered) {
      try {
        return normalizeIdentity({ kind: 'phone', value: identity.value }, 'US').value;
      } catch {
        // Not a number we can dial; try the next.
      }
    }
    return undefined;
  }

  const sender: ChannelSender = {
    isImmediate: false,
    async send(message) {
      const provider = deps.provider;
      if (!provider || !deps.number)
        throw new PermanentDeliveryError(
          'replies by fax are off: set FAX_SEND_PROVIDER, its API credentials and FAX_NUMBER',
        );
      const to = recipientOf(message);
      if (!to) throw new PermanentDeliveryError('the customer has no fax number to send to');
      const known = await deps.faxes.sendOf(message.eventId);
      if (known?.providerFaxId)
        return { providerId: known.providerFaxId, sent: { provider: known.provider, to: known.toNumber } };

      let send = known;
      let document: Buffer | undefined;
      if (!send) {
        const rendered = await renderReplyPdf({
          text: message.text,
          from: `${deps.headerName} (${deps.number})`,
          to,
          date: new Date(),
          reference: `Ticket #${message.ticketNumber}${message.subject ? `: ${message.subject}` : ''}`,
        });
        document = rendered;
        const kept = await deps.attachments.keep(rendered, {
          fileName: `reply-${message.ticketNumber}.pdf`,
          contentType: 'application/pdf',
        });
        send = await deps.faxes.recordSend({
          messageEventId: message.eventId,
          interactionId: message.interactionId,
          provider: provider.provider,
          toNumber: to,
          fromNumber: deps.number,
          documentKey: kept.storageKey,
        });
      }
      document ??= await deps.faxes.contentOf(send.documentKey);
      if (!document) throw new PermanentDeliveryError('the rendered fax document is missing');
      try {
        const { providerFaxId } = await provider.send({
          to: send.toNumber,
          from: send.fromNumber,
          document: { content: document, fileName: `reply-${message.ticketNumber}.pdf` },
          mediaUrl: mediaUrl(message.eventId),
          statusCallbackUrl: statusCallbackUrl(provider.provider),
          reference: message.eventId,
        });
        await deps.faxes.markSubmitted(message.eventId, providerFaxId);
        deps.log.info(
          { messageEventId: message.eventId, provider: provider.provider, providerFaxId },
          'fax reply handed to the provider',
        );
        return { providerId: providerFaxId, sent: { provider: provider.provider, to: send.toNumber } };
      } catch (err) {
        if (err instanceof FaxSendError && err.isPermanent) throw new PermanentDeliveryError(err.message);
        throw err;
      }
    },
  };

  return {
    sender,
    mediaUrl,

    async settle(status) {
      const settled = await deps.faxes.settleSend({
        provider: status.provider,
        providerFaxId: status.providerFaxId,
        status: status.status,
        pageCount: status.pageCount,
        errorMessage: status.error?.message ?? status.error?.code ?? null,
      });
      if (!settled) return;
      deps.log.info(
        { messageEventId: settled.messageEventId, provider: status.provider, status: status.status },
        'fax reply settled by the provider',
      );
      if (status.status === 'failed') {
        const why = [status.error?.message, status.error?.code && `code ${status.error.code}`]
          .filter(Boolean)
          .join(', ');
        await deps.reportFailure(
          settled.messageEventId,
          `the fax could not be delivered${why ? `: ${why}` : ''}`,
        );
      }
    },

    async documentFor(token) {
      const match = /^(\d{1,20})\.(\d{1,12})\.([\w-]{43})\.pdf$/.exec(token);
      if (!match) return undefined;
      const [, eventId, expires, signature] = match;
      const expected = Buffer.from(sign(`${eventId}.${expires}`));
      const given = Buffer.from(signature!);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      if (Number(expires) * 1000 < Date.now()) return undefined;
      const send = await deps.faxes.sendOf(eventId!);
      return send && deps.faxes.contentOf(send.documentKey);
    },
  };
}

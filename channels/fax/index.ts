/*
 * The fax channel, attached to the app: the providers' webhooks (fax.routes.ts) feeding the receiving logic
 * (faxes.ts: keep, convert, read, ingest), replies by fax through the configured API provider (sending.ts),
 * fax-to-email lines (email.ts, called by the email channel), and the console's fax search. Each provider's
 * webhook is on when its secret is set; the rest of the channel is always on (a fax-to-email line needs no
 * provider).
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/config.js';
import type { FaxRepository } from '../../src/db/repositories/fax.repository.js';
import type { AttachmentsService } from '../../src/interactions/attachments.service.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { OutboundRegistry } from '../../src/interactions/outbound-message.js';
import type { JobQueue } from '../../src/jobs/job-registry.js';
import { sharedSecretOf } from '../../src/jobs/shared-secret.js';
import { faxAgentRoutes } from './agent.routes.js';
import { receiptsFromMail, type FaxMail } from './email.js';
import { detectFaxTools } from './document.js';
import { faxWebhookRoutes } from './fax.routes.js';
import { telnyxPublicKey } from './providers/telnyx.js';
import { createFaxReceiving, type FaxReceiving } from './faxes.js';
import {
  createPhaxioFaxSender,
  createSignalWireFaxSender,
  createTelnyxFaxSender,
} from './providers/senders.js';
import { createFaxSending, type FaxSending } from './sending.js';
import type { FaxSender } from './types.js';
import type { LogSecrets } from '../../src/log-redaction.js';

/**
 * What the logs must not show of this channel's requests (src/log-redaction.ts): the providers' signature
 * headers (SignalWire may send Twilio's), and the signed media links a provider fetches a reply's PDF by.
 */
export const faxLogSecrets: LogSecrets = {
  headers: ['x-signalwire-signature', 'x-twilio-signature', 'x-phaxio-signature', 'telnyx-signature-ed25519'],
  capabilityPaths: ['/webhooks/fax/media/'],
};

export interface FaxChannel {
  receiving: FaxReceiving;
  sending: FaxSending;
  receive: FaxReceiving['receive'];
  /** A fax-to-email line's message (from the email channel): each document it carries, as a fax. */
  receiveMail(mail: FaxMail): Promise<void>;
}

export async function attachFax(
  app: FastifyInstance,
  deps: {
    config: Pick<Config, 'fax' | 'publicBaseUrl' | 'redisPrefix'>;
    redis: Redis;
    faxes: FaxRepository;
    ingest: (contact: InboundContact) => Promise<IngestResult>;
    attachments: Pick<AttachmentsService, 'keep' | 'keepMany' | 'discard' | 'discardMany'>;
    jobs: JobQueue;
    outboundRegistry: OutboundRegistry;
    reportFailure: (messageEventId: string, reason: string) => Promise<void>;
  },
): Promise<FaxChannel> {
  const { config } = deps;
  const fax = config.fax;
  const log = app.log.child({ channel: 'fax' });
  // A key that is not an Ed25519 public key would refuse every Telnyx event: refuse to start instead.
  if (fax.telnyx.publicKey) {
    try {
      telnyxPublicKey(fax.telnyx.publicKey);
    } catch (err) {
      throw new Error(`TELNYX_PUBLIC_KEY is not a base64 Ed25519 public key: ${(err as Error).message}`);
    }
  }

  const mediaAuth: { origin: string; authorization: string }[] = [];
  if (fax.signalwire.spaceUrl && fax.signalwire.projectId && fax.signalwire.apiToken)
    mediaAuth.push({
      origin: new URL(fax.signalwire.spaceUrl).origin,
      authorization: basic(fax.signalwire.projectId, fax.signalwire.apiToken),
    });
  const receiving = createFaxReceiving({
    config: {
      ocrLanguages: fax.ocrLanguages,
      maxDocumentBytes: fax.maxDocumentBytes,
      mediaAttempts: fax.mediaAttempts,
      mediaRetryMs: fax.mediaRetryMs,
      mediaAuth,
    },
    faxes: deps.faxes,
    attachments: deps.attachments,
    ingest: deps.ingest,
    jobs: deps.jobs,
    log,
  });
  const sending = createFaxSending({
    provider: senderOf(fax),
    number: fax.number,
    headerName: fax.headerName,
    publicBaseUrl: config.publicBaseUrl,
    mediaSecret: await sharedSecretOf(fax.mediaSecret, deps.redis, `${config.redisPrefix}fax:media-secret`),
    faxes: deps.faxes,
    attachments: deps.attachments,
    reportFailure: deps.reportFailure,
    log,
  });
  deps.outboundRegistry.register('fax', sending.sender);
  await faxWebhookRoutes(app, { config: fax, publicBaseUrl: config.publicBaseUrl, receiving, sending });
  faxAgentRoutes(app, { faxes: deps.faxes });

  // Say once, at start, what this process can do with a document, so a missing tool is not a surprise.
  const tools = await detectFaxTools();
  const on = (['signalwire', 'telnyx', 'phaxio', 'hylafax'] as const).filter((p) =>
    p === 'signalwire'
      ? fax.signalwire.signingKey
      : p === 'telnyx'
        ? fax.telnyx.publicKey
        : p === 'phaxio'
          ? fax.phaxio.callbackToken
          : fax.hylafax.token,
  );
  log.info(
    {
      webhooks: on,
      sendProvider: fax.sendProvider ?? null,
      tiffToPdf: tools.tiff2pdf,
      previews: tools.pdftoppm,
      ocr: tools.tesseract ? tools.tesseractLanguages : false,
    },
    on.length ? 'fax channel on' : 'fax channel: no provider webhook is configured',
  );
  if (!tools.tesseract) log.warn('tesseract is not installed: faxes are logged without their text');
  if (!tools.tiff2pdf || !tools.pdftoppm)
    log.warn(
      'libtiff-tools or poppler-utils are missing: fax documents are kept but not converted or previewed',
    );

  return {
    receiving,
    sending,
    receive: (receipt) => receiving.receive(receipt),
    async receiveMail(mail) {
      for (const receipt of receiptsFromMail(mail)) await receiving.receive(receipt);
    },
  };
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The API provider replies are sent through, when it and its credentials are configured. */
function senderOf(fax: Config['fax']): FaxSender | undefined {
  switch (fax.sendProvider) {
    case 'signalwire': {
      const { spaceUrl, projectId, apiToken } = fax.signalwire;
      return spaceUrl && projectId && apiToken
        ? createSignalWireFaxSender({ spaceUrl, projectId, apiToken })
        : undefined;
    }
    case 'telnyx': {
      const { apiKey, connectionId, apiBaseUrl } = fax.telnyx;
      return apiKey && connectionId
        ? createTelnyxFaxSender({ apiKey, connectionId, ...(apiBaseUrl && { apiBaseUrl }) })
        : undefined;
    }
    case 'phaxio': {
      const { apiKey, apiSecret, apiBaseUrl } = fax.phaxio;
      return apiKey && apiSecret
        ? createPhaxioFaxSender({ apiKey, apiSecret, ...(apiBaseUrl && { apiBaseUrl }) })
        : undefined;
    }
    default:
      return undefined;
  }
}

/*
 * The email channel, attached to the app: the mailboxes file (mailboxes.ts), one IMAP reader per mailbox
 * (imap-poller.ts; every process runs one per mailbox and exactly one holds each mailbox's lease), the
 * ingest of what they read (mail-ingest.ts), acknowledgments (acknowledgment.ts), and the SMTP sender for
 * replies (smtp-sender.ts), registered as the email ChannelSender. app.ts calls attachEmail after the
 * outbound service exists; closing the app stops the readers and the SMTP pools.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/config.js';
import type { EmailRepository } from '../../src/db/repositories/email.repository.js';
import { sharedSecretOf } from '../../src/jobs/shared-secret.js';
import type { AttachmentsService } from '../../src/interactions/attachments.service.js';
import { createEmailThreading, createReplyTokens } from '../../src/interactions/email-threading.service.js';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { InteractionsService } from '../../src/interactions/interactions.service.js';
import type { OutboundRegistry } from '../../src/interactions/outbound-message.js';
import type { OutboundService } from '../../src/interactions/outbound.service.js';
import { createAcknowledger } from './acknowledgment.js';
import { startMailboxPoller, type MailboxPoller, type PollerOptions } from './imap-poller.js';
import { createMailIngest, type FaxLineMail, type MailIngest } from './mail-ingest.js';
import { loadMailboxes, type Mailbox } from './mailboxes.js';
import { createEmailSender, type SendNotice } from './smtp-sender.js';
import type { ParsedEmail } from './types.js';
import { emailStatusRoutes } from './status.routes.js';

export type { Mailbox } from './mailboxes.js';

export interface EmailChannel {
  mailboxes: Mailbox[];
  pollers: MailboxPoller[];
  /** The ingest of each mailbox by id (the benchmark and tests feed it directly). */
  ingestOf: (mailboxId: string) => MailIngest | undefined;
  tokens: ReturnType<typeof createReplyTokens>;
  /** Sends a plain notice to staff (supervisors' alerts) from the first mailbox with SMTP. */
  sendNotice: SendNotice;
}

export async function attachEmail(
  app: FastifyInstance,
  deps: {
    config: Pick<Config, 'email' | 'redisPrefix'>;
    redis: Redis;
    ingest: (contact: InboundContact) => Promise<IngestResult>;
    email: EmailRepository;
    attachments: Pick<AttachmentsService, 'keepMany' | 'discardMany' | 'open'>;
    outboundRegistry: OutboundRegistry;
    outbound: Pick<OutboundService, 'sendAutomatic'>;
    interactions: Pick<InteractionsService, 'get'>;
    pollerOptions?: Partial<PollerOptions>;
    /** Where a fax line's messages go (the fax channel), for mailboxes flagged `faxLine`. */
    faxLine?: (mail: FaxLineMail) => Promise<void>;
  },
): Promise<EmailChannel | undefined> {
  const { config } = deps;
  const mailboxes = await loadMailboxes(config.email.mailboxesFile, config.email.secrets);
  if (!mailboxes || mailboxes.length === 0) {
    app.log.info({ file: config.email.mailboxesFile }, 'no mailboxes file: the email channel is off');
    return undefined;
  }
  const tokens = createReplyTokens(
    await sharedSecretOf(config.email.tokenSecret, deps.redis, `${config.redisPrefix}email:token-secret`),
  );
  const threading = createEmailThreading({ email: deps.email, tokens });
  const sender = createEmailSender({ mailboxes, email: deps.email, tokens, attachments: deps.attachments });
  deps.outboundRegistry.register('email', sender);

  const log = app.log.child({ channel: 'email' });
  const ingests = new Map<string, MailIngest>();
  for (const mailbox of mailboxes) {
    ingests.set(
      mailbox.id,
      createMailIngest({
        mailbox,
        ingest: deps.ingest,
        threading,
        email: deps.email,
        attachments: deps.attachments,
        acknowledger: createAcknowledger({
          mailbox,
          redis: deps.redis,
          prefix: config.redisPrefix,
          sendAutomatic: (...args) => deps.outbound.sendAutomatic(...args),
          ticketOf: async (id) => (await deps.interactions.get(id)).ticketNumber,
          log,
        }),
        attachmentUrl: (id) => `/api/attachments/${id}`,
        ...(deps.faxLine && { faxLine: deps.faxLine }),
        log,
      }),
    );
  }
  const pollers = config.email.isPolling
    ? mailboxes.map((mailbox) =>
        startMailboxPoller({
          mailbox,
          redis: deps.redis,
          prefix: config.redisPrefix,
          cursors: deps.email,
          prepare: (messages) => ingests.get(mailbox.id)!.prepare(messages),
          handle: async (messages, prepared) => {
            await ingests.get(mailbox.id)!.handle(messages, prepared as ParsedEmail[] | undefined);
          },
          log,
          ...(deps.pollerOptions && { options: deps.pollerOptions }),
        }),
      )
    : [];
  emailStatusRoutes(app, { mailboxes, redis: deps.redis, prefix: config.redisPrefix, email: deps.email });
  app.addHook('preClose', async () => {
    await Promise.all(pollers.map((p) => p.stop()));
    sender.close();
  });
  log.info({ mailboxes: mailboxes.map((m) => m.id), isPolling: config.email.isPolling }, 'email channel on');
  return {
    mailboxes,
    pollers,
    ingestOf: (id) => ingests.get(id),
    tokens,
    sendNotice: (notice) => sender.sendNotice(notice),
  };
}

/*
 * The email channel's sender: an agent's reply (or an acknowledgment) goes out by SMTP through the mailbox
 * the interaction came in on. The core calls send() from the retried `messages.deliver` job; this file
 * decides what goes out:
 *   - To: the Reply-To, else the From, of the newest message received; Cc: what the agent added;
 *   - Message-ID `<sb.<event id>.t<ticket>@<mailbox domain>>`: the same on every retry, so a retried job
 *     sends the same message, and recorded (ours) before sending, so that a reply arriving at once threads;
 *   - In-Reply-To the newest message received, References the thread (oldest first, trimmed as RFC 5322
 *     suggests: the first and the newest), Reply-To the mailbox's plus-address with the ticket's reply
 *     token, and the subject with its [#ticket] token;
 *   - the reply's text with the quoted message it answers, as text and as HTML; the agent's attachments;
 *   - acknowledgments carry Auto-Submitted: auto-replied (RFC 3834), transcripts auto-generated, both
 *     X-Auto-Response-Suppress: All;
 *   - a message of another channel's interaction sent by email (a web chat answered by email, its transcript)
 *     leaves from the first mailbox, to the customer's email address.
 * A 5xx answer from the server is permanent (the agent is told at once); anything else is thrown and
 * retried by the job, whose last attempt reports the failure.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { EmailRepository } from '../../src/db/repositories/email.repository.js';
import type { ReplyTokens } from '../../src/interactions/email-threading.service.js';
import {
  PermanentDeliveryError,
  type ChannelSender,
  type OutboundMessage,
} from '../../src/interactions/outbound-message.js';
import type { Mailbox } from './mailboxes.js';
import { replyAddressOf, splitAddress } from './thread-clues.js';

export interface EmailSenderDeps {
  mailboxes: Mailbox[];
  email: Pick<EmailRepository, 'lastReceived' | 'threadOf' | 'recordMessages'>;
  tokens: ReplyTokens;
  attachments: { open(id: string): Promise<{ fileName: string; contentType: string; content: Buffer }> };
  /** Tests may hand in their own transports. */
  transportFor?: (mailbox: Mailbox) => Transporter;
}

interface AddressDetail {
  address: string;
  name?: string;
}

/** A plain notice to staff (a supervisors' alert), from the first mailbox that can send. */
export type SendNotice = (notice: { to: string[]; subject: string; text: string }) => Promise<void>;

export function createEmailSender(
  deps: EmailSenderDeps,
): ChannelSender & { close(): void; sendNotice: SendNotice } {
  const byId = new Map(deps.mailboxes.map((m) => [m.id, m]));
  const transports = new Map<string, Transporter>();
  const transportOf = (mailbox: Mailbox): Transporter => {
    let transport = transports.get(mailbox.id);
    if (!transport) {
      const smtp = mailbox.smtp!;
      transport =
        deps.transportFor?.(mailbox) ??
        nodemailer.createTransport({
          host: smtp.host,
          port: smtp.port,
          secure: smtp.tls,
          ...(smtp.auth && { auth: smtp.auth }),
          tls: { rejectUnauthorized: !smtp.allowUnverifiedCertificate },
          pool: true,
          maxConnections: 2,
          connectionTimeout: 15_000,
          greetingTimeout: 10_000,
          socketTimeout: 60_000,
        });
      transports.set(mailbox.id, transport);
    }
    return transport;
  };

  return {
    isImmediate: false,

    async sendNotice({ to, subject, text }) {
      const mailbox = deps.mailboxes.find((m) => m.smtp);
      if (!mailbox) throw new Error('no mailbox has SMTP settings to send a notice from');
      await transportOf(mailbox).sendMail({
        from: { name: mailbox.name, address: mailbox.address },
        to,
        subject,
        text,
        headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
      });
    },

    async send(message: OutboundMessage) {
      const last = await deps.email.lastReceived(message.interactionId);
      const details = (last?.payload.details ?? {}) as {
        mailbox?: string;
        messageId?: string | null;
        from?: AddressDetail;
        replyTo?: AddressDetail[];
        date?: string;
      };
      const mailbox = (details.mailbox && byId.get(details.mailbox)) || deps.mailboxes[0];
      if (!mailbox) throw new PermanentDeliveryError('no mailbox is configured to send email from');
      if (!mailbox.smtp) throw new PermanentDeliveryError(`mailbox '${mailbox.id}' has no SMTP settings`);

      const to =
        details.replyTo?.[0] ??
        details.from ??
        (message.to[0] ? { address: message.to[0].value } : undefined);
      if (!to?.address) throw new PermanentDeliveryError('the customer has no email address to answer');

      const ticket = message.ticketNumber;
      const [, domain] = splitAddress(mailbox.address);
      const messageId = `<sb.${message.eventId}.t${ticket}@${domain}>`;
      const thread = await deps.email.threadOf(message.interactionId);
      const inReplyTo = details.messageId ?? undefined;
      const references = trimReferences(
        [...thread.map((m) => m.messageId), ...(inReplyTo ? [inReplyTo] : [])].filter(
          (id) => id !== messageId,
        ),
      );
      const subject =
        message.ownSubject ??
        replySubject(
          message.subject ||
            (last?.payload.subject as string | undefined) ||
            `Your message to ${mailbox.name}`,
          ticket,
        );
      const quoted =
        !message.automatic && last
          ? {
              text: typeof last.payload.text === 'string' ? last.payload.text : '',
              who: details.from?.name || details.from?.address || 'you',
              at: details.date ? new Date(details.date) : last.occurredAt,
            }
          : null;
      const cc = (message.cc ?? []).filter((a) => a.toLowerCase() !== to.address.toLowerCase());
      const attachments = await Promise.all(
        (message.attachments ?? []).map(async (a) => {
          const file = await deps.attachments.open(a.id);
          return { filename: file.fileName, content: file.content, contentType: file.contentType };
        }),
      );

      // Ours before it leaves: a reply that arrives at once finds its thread.
      await deps.email.recordMessages([
        {
          messageId,
          interactionId: message.interactionId,
          eventId: message.eventId,
          direction: 'outbound',
          isOurs: true,
          participants: [to.address, ...cc].map((a) => a.toLowerCase()),
        },
      ]);

      const fromName = message.agent?.displayName
        ? `${message.agent.displayName} (${mailbox.name})`
        : mailbox.name;
      const body = composeBody(message.text, message.html, quoted);
      try {
        const info = (await transportOf(mailbox).sendMail({
          from: { name: fromName, address: mailbox.address },
          to: to.name ? { name: to.name, address: to.address } : to.address,
          ...(cc.length > 0 && { cc }),
          replyTo: {
            name: mailbox.name,
            address: replyAddressOf(mailbox.address, deps.tokens.tokenFor(ticket)),
          },
          subject,
          messageId,
          ...(inReplyTo && { inReplyTo }),
          ...(references.length > 0 && { references }),
          text: body.text,
          html: body.html,
          attachments,
          headers: message.automatic
            ? {
                'Auto-Submitted': message.automatic === 'acknowledgment' ? 'auto-replied' : 'auto-generated',
                'X-Auto-Response-Suppress': 'All',
              }
            : {},
        })) as { accepted?: unknown[]; rejected?: unknown[]; response?: string };
        return {
          providerId: messageId,
          sent: {
            messageId,
            from: mailbox.address,
            to: to.address,
            ...(cc.length > 0 && { cc }),
            subject,
            ...(inReplyTo && { inReplyTo }),
            attachments: attachments.length,
            ...(info.rejected?.length && { rejected: info.rejected.map(String) }),
            ...(info.response && { response: info.response.slice(0, 200) }),
          },
        };
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        const response = (err as { response?: string }).response;
        if (code !== undefined && code >= 500)
          throw new PermanentDeliveryError(`the mail server refused it: ${response ?? code}`);
        throw err;
      }
    },

    close() {
      for (const t of transports.values()) t.close();
      transports.clear();
    },
  };
}

/** `Re: <subject> [#ticket]`, without stacking `Re:` or repeating the token. */
export function replySubject(original: string, ticket: number): string {
  let subject = original.replace(/[\r\n]+/g, ' ').trim();
  subject = subject.replace(/^((re|aw|sv|antw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+/i, '').trim();
  const token = `[#${ticket}]`;
  if (!subject.includes(token)) subject = subject ? `${subject} ${token}` : token;
  return `Re: ${subject}`;
}

/** At most 20 References: the first (the thread's root) and the newest (RFC 5322 3.6.4 allows trimming). */
function trimReferences(ids: string[]): string[] {
  const unique = [...new Set(ids)];
  return unique.length <= 20 ? unique : [unique[0]!, ...unique.slice(-19)];
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function composeBody(
  text: string,
  html: string | undefined,
  quoted: { text: string; who: string; at: Date } | null,
): { text: string; html: string } {
  const ownHtml = html ?? `<div>${escapeHtml(text).replace(/\n/g, '<br>')}</div>`;
  if (!quoted || !quoted.text.trim()) return { text, html: ownHtml };
  const lines = quoted.text.replace(/\r\n/g, '\n').split('\n').slice(0, 300);
  const intro = `On ${quoted.at.toUTCString()}, ${quoted.who} wrote:`;
  return {
    text: `${text}\n\n${intro}\n${lines.map((l) => (l ? `> ${l}` : '>')).join('\n')}\n`,
    html:
      `${ownHtml}<br><div>${escapeHtml(intro)}</div>` +
      `<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">` +
      `${escapeHtml(lines.join('\n')).replace(/\n/g, '<br>')}</blockquote>`,
  };
}

/*
 * Email test fixtures: a mailboxes file for a test's own IMAP user (Dovecot from the global setup, or a
 * test's own) and SMTP capture, a raw-message builder, and an IMAP client that appends mail the way any
 * other mail client would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { dovecotPassword } from './dovecot.js';

export interface MailboxFixture {
  id: string;
  address: string;
  imapUser: string;
  file: string;
  secrets: Record<string, string>;
}

export function mailboxFixture(options: {
  imap: { host: string; port: number };
  smtp?: { host: string; port: number };
  id?: string;
  acknowledgment?: Record<string, unknown>;
  afterIngest?: Record<string, unknown>;
  folder?: string;
  pollSeconds?: number;
  reopenWithinDays?: number;
  maxAttachmentMegabytes?: number;
  /** A fax-to-email line: its documents become faxes. */
  faxLine?: { number?: string };
}): MailboxFixture {
  const id = options.id ?? 'support';
  const imapUser = `mb-${randomBytes(5).toString('hex')}`;
  const address = `${imapUser}@support.example`;
  const dir = mkdtempSync(join(tmpdir(), 'sb-mailboxes-'));
  const file = join(dir, 'mailboxes.yaml');
  const spec = {
    mailboxes: [
      {
        id,
        address,
        name: 'Example Support',
        imap: {
          host: options.imap.host,
          port: options.imap.port,
          tls: false,
          user: imapUser,
          passwordEnv: 'TEST_IMAP_PASSWORD',
          ...(options.folder && { folder: options.folder }),
          ...(options.afterIngest && { afterIngest: options.afterIngest }),
          pollSeconds: options.pollSeconds ?? 30,
        },
        ...(options.smtp && { smtp: { host: options.smtp.host, port: options.smtp.port, tls: false } }),
        ...(options.acknowledgment && { acknowledgment: options.acknowledgment }),
        ...(options.reopenWithinDays !== undefined && { reopenWithinDays: options.reopenWithinDays }),
        ...(options.maxAttachmentMegabytes !== undefined && {
          maxAttachmentMegabytes: options.maxAttachmentMegabytes,
        }),
        ...(options.faxLine && { faxLine: options.faxLine }),
      },
    ],
  };
  writeFileSync(file, JSON.stringify(spec, null, 2)); // JSON is YAML
  return { id, address, imapUser, file, secrets: { TEST_IMAP_PASSWORD: dovecotPassword } };
}

let sequence = 0;
export const uniqueMessageId = (tag = 'm') =>
  `<${tag}.${Date.now()}.${(sequence += 1)}.${randomBytes(3).toString('hex')}@customer.example>`;

/** A plain RFC 5322 message (CRLF line ends); headers given are added as written. */
export function buildMail(options: {
  from: string;
  to: string;
  subject: string;
  text?: string;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string[];
  cc?: string;
  headers?: Record<string, string>;
  date?: Date;
}): Buffer {
  const lines = [
    `From: ${options.from}`,
    `To: ${options.to}`,
    ...(options.cc ? [`Cc: ${options.cc}`] : []),
    `Subject: ${options.subject}`,
    `Date: ${(options.date ?? new Date()).toUTCString().replace('GMT', '+0000')}`,
    ...(options.messageId === null ? [] : [`Message-ID: ${options.messageId ?? uniqueMessageId()}`]),
    ...(options.inReplyTo ? [`In-Reply-To: ${options.inReplyTo}`] : []),
    ...(options.references?.length ? [`References: ${options.references.join(' ')}`] : []),
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    options.text ?? 'Hello, I need help with my order.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** Another mail client: appends to a user's folder on the IMAP server. */
export async function imapClient(options: { host: string; port: number; user: string }) {
  const client = new ImapFlow({
    host: options.host,
    port: options.port,
    secure: false,
    auth: { user: options.user, pass: dovecotPassword },
    logger: false,
  });
  await client.connect();
  return {
    client,
    async append(raw: Buffer, folder = 'INBOX') {
      const result = await client.append(folder, raw);
      return result ? result.uid : undefined;
    },
    async flagsOf(uid: number, folder = 'INBOX') {
      const lock = await client.getMailboxLock(folder);
      try {
        const message = await client.fetchOne(String(uid), { flags: true }, { uid: true });
        return message ? [...(message.flags ?? [])] : [];
      } finally {
        lock.release();
      }
    },
    close: () => client.logout().catch(() => client.close()),
  };
}

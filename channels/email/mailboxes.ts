/*
 * The mailboxes file (EMAIL_MAILBOXES_FILE, default `mailboxes.yaml`): which IMAP folders Switchboard reads
 * and how it answers from each. Secrets are never in the file: `passwordEnv` names the environment variable
 * that holds one. A missing file means no email channel; an invalid one is refused at start-up with the
 * file, line and reason (a mail setup that silently reads nothing would lose mail).
 *
 *   mailboxes:
 *     - id: support                  # stable: the IMAP cursor and the poller's lease are keyed by it
 *       address: support@example.com # replies come from here; support+<token>@example.com threads replies
 *       name: Example Support        # the From display name
 *       queueHint: support           # routing rules see it as hints.mailbox and as the receiving address
 *       imap: { host, port, tls, user, passwordEnv, folder, afterIngest, pollSeconds }
 *       smtp: { host, port, tls, user, passwordEnv }
 *       acknowledgment: { enabled, subject, text, maxPerSenderPerHour }
 *       reopenWithinDays: 7          # a reply to a closed interaction reopens it this long after its close
 *       maxAttachmentMegabytes: 25   # larger attachments stay in the raw message only
 */
import { readFile } from 'node:fs/promises';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

const Host = Type.String({ minLength: 1, maxLength: 253 });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const EnvName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' });
const Address = Type.String({ pattern: '^[^@\\s+]+@[^@\\s]+\\.[^@\\s]+$', maxLength: 254 });

const ImapSpec = Type.Object(
  {
    host: Host,
    port: Type.Optional(Port),
    /** Implicit TLS (port 993). false: plain, upgraded with STARTTLS when the server offers it. */
    tls: Type.Optional(Type.Boolean()),
    /** Accept a certificate that does not verify (a test server); off by default. */
    allowUnverifiedCertificate: Type.Optional(Type.Boolean()),
    user: Type.String({ minLength: 1 }),
    passwordEnv: EnvName,
    folder: Type.Optional(Type.String({ minLength: 1 })),
    /** What happens to a message once it is in the log: flagged (\Seen and $Switchboard) or moved. Never deleted. */
    afterIngest: Type.Optional(
      Type.Union([
        Type.Object({ action: Type.Literal('flag') }, { additionalProperties: false }),
        Type.Object(
          { action: Type.Literal('move'), folder: Type.String({ minLength: 1 }) },
          { additionalProperties: false },
        ),
      ]),
    ),
    /** The fallback poll, for servers without IDLE and for notifications lost on the way. */
    pollSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  { additionalProperties: false },
);

const SmtpSpec = Type.Object(
  {
    host: Host,
    port: Type.Optional(Port),
    tls: Type.Optional(Type.Boolean()),
    allowUnverifiedCertificate: Type.Optional(Type.Boolean()),
    user: Type.Optional(Type.String({ minLength: 1 })),
    passwordEnv: Type.Optional(EnvName),
  },
  { additionalProperties: false },
);

const AcknowledgmentSpec = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    /** Placeholders: {{ticket}} (the number), {{subject}} (the customer's), {{name}} (theirs, or "there"). */
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 20_000 })),
    maxPerSenderPerHour: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);

const MailboxSpec = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$' }),
    address: Address,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    queueHint: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    imap: ImapSpec,
    smtp: Type.Optional(SmtpSpec),
    acknowledgment: Type.Optional(AcknowledgmentSpec),
    reopenWithinDays: Type.Optional(Type.Number({ minimum: 0, maximum: 365 })),
    maxAttachmentMegabytes: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100 })),
    /**
     * A fax-to-email gateway's mailbox: each message's PDF and TIFF attachments become fax contacts (the
     * sender's number read from the subject, the sender's name or the text). `number`: the fax line's.
     */
    faxLine: Type.Optional(
      Type.Object(
        { number: Type.Optional(Type.String({ pattern: '^\\+?[0-9 ().-]{5,30}$' })) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const MailboxesFileSpec = Type.Object(
  { mailboxes: Type.Array(MailboxSpec) },
  { additionalProperties: false },
);
type MailboxesFile = Static<typeof MailboxesFileSpec>;
const validateFile = Compile(MailboxesFileSpec);

/** A mailbox with every default applied and its secrets read. */
export interface Mailbox {
  id: string;
  address: string;
  name: string;
  queueHint: string;
  imap: {
    host: string;
    port: number;
    tls: boolean;
    allowUnverifiedCertificate: boolean;
    user: string;
    password: string;
    folder: string;
    afterIngest: { action: 'flag' } | { action: 'move'; folder: string };
    pollSeconds: number;
  };
  /** Unset: replies from this mailbox cannot be sent (the agent is told). */
  smtp: {
    host: string;
    port: number;
    tls: boolean;
    allowUnverifiedCertificate: boolean;
    auth?: { user: string; pass: string };
  } | null;
  acknowledgment: { enabled: boolean; subject: string; text: string; maxPerSenderPerHour: number };
  reopenWithinSeconds: number;
  maxAttachmentBytes: number;
  /** A fax-to-email line (its number, when given), or null for a support mailbox. */
  faxLine: { number: string | null } | null;
}

export const defaultAcknowledgment = {
  subject: 'We received your message [#{{ticket}}]',
  text:
    'Hello {{name}},\n\nThank you for writing to us. We received your message "{{subject}}" and gave it the ' +
    'number {{ticket}}. One of us will answer you soon; to add anything, reply to this message.\n',
};

export class MailboxesFileError extends Error {
  override name = 'MailboxesFileError';
}

/** Reads and checks the file; undefined when it does not exist (or no path is set). */
export async function loadMailboxes(
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Mailbox[] | undefined> {
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseMailboxes(text, path, env);
}

export function parseMailboxes(
  text: string,
  fileName: string,
  env: Readonly<Record<string, string | undefined>>,
): Mailbox[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [syntaxError] = doc.errors;
  if (syntaxError) {
    const { line } = lines.linePos(syntaxError.pos[0]);
    throw new MailboxesFileError(`${fileName}:${line}: YAML syntax: ${syntaxError.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS() ?? { mailboxes: [] };
  const lineOf = (path: string) => {
    let node: unknown = doc.contents;
    for (const segment of path.split('/').filter(Boolean)) {
      if (isMap(node)) node = node.get(segment, true);
      else if (isSeq(node)) node = node.get(Number(segment), true);
      else break;
    }
    const offset = (node as Node | undefined)?.range?.[0];
    return offset === undefined ? 1 : lines.linePos(offset).line;
  };
  if (!validateFile.Check(value)) {
    const problems = [...validateFile.Errors(value)]
      .filter((e) => !e.schemaPath.includes('/anyOf/') || e.keyword !== 'const')
      .slice(0, 5)
      .map((e) => `${fileName}:${lineOf(e.instancePath)}: ${e.instancePath || '/'} ${e.message}`);
    throw new MailboxesFileError(`mailboxes file refused:\n  ${problems.join('\n  ')}`);
  }
  const file: MailboxesFile = value;
  const ids = new Set<string>();
  return file.mailboxes.map((spec, i) => {
    const where = `${fileName}:${lineOf(`/mailboxes/${i}`)}: mailbox '${spec.id}'`;
    if (ids.has(spec.id)) throw new MailboxesFileError(`${where}: the id is used twice`);
    ids.add(spec.id);
    const secret = (name: string) => {
      const v = env[name];
      if (!v) throw new MailboxesFileError(`${where}: the environment variable ${name} is not set`);
      return v;
    };
    const imapTls = spec.imap.tls ?? true;
    const smtpTls = spec.smtp?.tls ?? spec.smtp?.port === 465;
    return {
      id: spec.id,
      address: spec.address.toLowerCase(),
      name: spec.name ?? spec.address,
      queueHint: spec.queueHint ?? spec.id,
      imap: {
        host: spec.imap.host,
        port: spec.imap.port ?? (imapTls ? 993 : 143),
        tls: imapTls,
        allowUnverifiedCertificate: spec.imap.allowUnverifiedCertificate ?? false,
        user: spec.imap.user,
        password: secret(spec.imap.passwordEnv),
        folder: spec.imap.folder ?? 'INBOX',
        afterIngest: spec.imap.afterIngest ?? { action: 'flag' },
        pollSeconds: spec.imap.pollSeconds ?? 60,
      },
      smtp: spec.smtp
        ? {
            host: spec.smtp.host,
            port: spec.smtp.port ?? (smtpTls ? 465 : 587),
            tls: smtpTls,
            allowUnverifiedCertificate: spec.smtp.allowUnverifiedCertificate ?? false,
            ...(spec.smtp.user && {
              auth: { user: spec.smtp.user, pass: secret(spec.smtp.passwordEnv ?? '') },
            }),
          }
        : null,
      acknowledgment: {
        enabled: spec.acknowledgment?.enabled ?? true,
        subject: spec.acknowledgment?.subject ?? defaultAcknowledgment.subject,
        text: spec.acknowledgment?.text ?? defaultAcknowledgment.text,
        maxPerSenderPerHour: spec.acknowledgment?.maxPerSenderPerHour ?? 3,
      },
      reopenWithinSeconds: Math.round((spec.reopenWithinDays ?? 7) * 86_400),
      maxAttachmentBytes: Math.round((spec.maxAttachmentMegabytes ?? 25) * 1024 * 1024),
      faxLine: spec.faxLine ? { number: spec.faxLine.number ?? null } : null,
    };
  });
}

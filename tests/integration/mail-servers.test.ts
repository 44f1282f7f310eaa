import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow, type ExistsEvent } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { dovecotPassword, startDovecot } from '../support/dovecot.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { waitFor } from '../support/wait-for.js';

/*
 * The mail servers the email channel's tests run against: the run's Dovecot (global setup) with real IMAP
 * clients, and an SMTP capture with nodemailer.
 */

const uniqueUser = () => `mail-servers-${randomBytes(5).toString('hex')}@test.switchboard`;

function imapClient(user: string, server = { host: inject('imapHost'), port: inject('imapPort') }) {
  return new ImapFlow({
    ...server,
    secure: false,
    auth: { user, pass: dovecotPassword },
    logger: false,
    // imapflow enters IDLE after this much quiet (15 s by default).
    autoIdleDelay: 100,
  });
}

function message(subject: string): string {
  return [
    'From: Customer <customer@example.com>',
    'To: support@test.switchboard',
    `Subject: ${subject}`,
    `Message-ID: <${randomBytes(6).toString('hex')}@example.com>`,
    '',
    'Hello there.',
    '',
  ].join('\r\n');
}

describe('Dovecot', () => {
  it('stores an appended message and fetches it back', async () => {
    const client = imapClient(uniqueUser());
    await client.connect();
    try {
      const appended = await client.append('INBOX', message('first contact'));
      const lock = await client.getMailboxLock('INBOX');
      try {
        const fetched = await client.fetchOne(
          '*',
          { uid: true, envelope: true, source: true },
          { uid: false },
        );
        expect(fetched).not.toBe(false);
        if (!fetched) return;
        expect(appended && appended.uid).toBe(fetched.uid);
        expect(fetched.envelope?.subject).toBe('first contact');
        expect(fetched.envelope?.from?.[0]?.address).toBe('customer@example.com');
        expect(fetched.source?.toString()).toContain('Hello there.');
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  });

  it('keeps users apart', async () => {
    const [alice, bob] = [imapClient(uniqueUser()), imapClient(uniqueUser())];
    await Promise.all([alice.connect(), bob.connect()]);
    try {
      await alice.append('INBOX', message('for alice'));
      expect(await bob.status('INBOX', { messages: true })).toMatchObject({ messages: 0 });
    } finally {
      await Promise.all([alice.logout(), bob.logout()]);
    }
  });

  it('tells an idling client of mail another client appends', async () => {
    const user = uniqueUser();
    const [watcher, writer] = [imapClient(user), imapClient(user)];
    await Promise.all([watcher.connect(), writer.connect()]);
    try {
      await watcher.mailboxOpen('INBOX');
      const seen = new Promise<ExistsEvent>((resolve) => watcher.once('exists', resolve));
      // The mail must arrive while the watcher is in IDLE, which imapflow enters once the connection is quiet.
      await waitFor(() => watcher.idling || undefined);
      const startedAt = Date.now();
      await writer.append('INBOX', message('while idling'));
      const event = await seen;
      expect(event).toMatchObject({ path: 'INBOX', count: 1, prevCount: 0 });
      // inotify, not the 1 s fallback poll, nor the 10 s keep-alive.
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      await Promise.all([watcher.logout(), writer.logout()]);
    }
  });

  it('keeps mail and UIDs across a restart (own instance: the shared one serves other files)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-dovecot-'));
    const dovecot = await startDovecot({ dataDir, log: () => {} });
    try {
      const user = uniqueUser();
      const before = imapClient(user, dovecot);
      await before.connect();
      const appended = await before.append('INBOX', message('before restart'));
      await before.logout();

      await dovecot.restart();

      const after = imapClient(user, dovecot);
      await after.connect();
      try {
        expect(appended && appended.uid).toBe(1);
        expect(await after.status('INBOX', { messages: true, uidNext: true })).toMatchObject({
          messages: 1,
          uidNext: 2,
        });
      } finally {
        await after.logout();
      }
    } finally {
      await dovecot.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('SMTP capture', () => {
  let smtp: SmtpCapture;
  beforeAll(async () => {
    smtp = await startSmtpCapture();
  });
  afterAll(() => smtp.stop());

  const transport = () =>
    nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: false,
      auth: { user: 'switchboard', pass: 'anything' },
    });

  it('captures a sent message with its envelope', async () => {
    smtp.clear();
    await transport().sendMail({
      from: 'support@test.switchboard',
      to: ['customer@example.com', 'cc@example.com'],
      subject: 'Your ticket',
      text: 'We are on it.',
    });
    const [captured] = await smtp.waitForMessages(1);
    expect(captured?.envelope).toEqual({
      from: 'support@test.switchboard',
      to: ['customer@example.com', 'cc@example.com'],
    });
    expect(captured?.raw.toString()).toContain('Subject: Your ticket');
    expect(captured?.receivedAt).toBeInstanceOf(Date);
  });

  it('fails the next send with a transient or permanent error when told to', async () => {
    smtp.clear();
    smtp.failNext(1, { code: 451, message: 'Try again later' });
    const mail = { from: 'support@test.switchboard', to: 'customer@example.com', text: 'Retry me.' };
    await expect(transport().sendMail(mail)).rejects.toMatchObject({ responseCode: 451 });
    expect(smtp.messages).toHaveLength(0);

    smtp.failNext(1, { code: 550, message: 'No such user', stage: 'rcpt' });
    await expect(transport().sendMail(mail)).rejects.toMatchObject({ responseCode: 550 });

    await transport().sendMail(mail);
    expect(await smtp.waitForMessages(1)).toHaveLength(1);
  });
});

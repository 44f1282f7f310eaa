import { describe, expect, it } from 'vitest';
import {
  automaticReason,
  parseBounce,
  readHeaderSection,
  type BounceInput,
} from '../../channels/email/auto-reply.js';
import { parseEmail } from '../../channels/email/parse.js';
import type { EmailAddress } from '../../channels/email/types.js';

/*
 * Loop safety: which messages must never get an automatic answer (RFC 3834 and vendor headers), and
 * bounces read back to the message of ours they report on.
 */

const limits = { maxAttachmentBytes: 1024 * 1024, maxTotalAttachmentBytes: 5 * 1024 * 1024 };
const person: EmailAddress = { address: 'ann@example.com', name: 'Ann' };

const headersOf = (...lines: string[]) => readHeaderSection(lines.join('\r\n')).headers;

describe('automaticReason', () => {
  it.each([
    ['a person writing', [], person, 'bounces@example.com', null],
    ['Auto-Submitted: no', ['Auto-Submitted: no'], person, null, null],
    ['Auto-Submitted: No (with a comment)', ['Auto-Submitted: No; reason=test'], person, null, null],
    [
      'Auto-Submitted: auto-replied',
      ['Auto-Submitted: auto-replied'],
      person,
      null,
      'Auto-Submitted: auto-replied',
    ],
    [
      'Auto-Submitted: Auto-Generated',
      ['Auto-Submitted: Auto-Generated'],
      person,
      null,
      'Auto-Submitted: auto-generated',
    ],
    [
      'Auto-Submitted with parameters',
      ['Auto-Submitted: auto-notified; owner-email="me@example.com"'],
      person,
      null,
      'Auto-Submitted: auto-notified',
    ],
    ['Precedence: bulk', ['Precedence: bulk'], person, null, 'Precedence: bulk'],
    ['Precedence: list', ['Precedence: List'], person, null, 'Precedence: list'],
    ['Precedence: junk', ['Precedence: junk'], person, null, 'Precedence: junk'],
    ['Precedence: auto_reply', ['Precedence: auto_reply'], person, null, 'Precedence: auto_reply'],
    ['Precedence: first-class', ['Precedence: first-class'], person, null, null],
    ['X-Autoreply: yes', ['X-Autoreply: yes'], person, null, 'X-Autoreply present'],
    ['X-Autoreply: no', ['X-Autoreply: no'], person, null, null],
    ['X-Autorespond', ['X-Autorespond: vacation'], person, null, 'X-Autorespond present'],
    [
      'X-Auto-Response-Suppress: All',
      ['X-Auto-Response-Suppress: All'],
      person,
      null,
      'X-Auto-Response-Suppress: All',
    ],
    [
      'X-Auto-Response-Suppress: OOF, AutoReply',
      ['X-Auto-Response-Suppress: OOF, AutoReply'],
      person,
      null,
      'X-Auto-Response-Suppress: OOF, AutoReply',
    ],
    ['X-Auto-Response-Suppress: None', ['X-Auto-Response-Suppress: None'], person, null, null],
    ['List-Id', ['List-Id: Announcements <announce.example.com>'], person, null, 'mailing list (List-Id)'],
    [
      'List-Unsubscribe',
      ['List-Unsubscribe: <https://example.com/u>'],
      person,
      null,
      'mailing list or bulk sender (List-Unsubscribe)',
    ],
    [
      'X-Failed-Recipients',
      ['X-Failed-Recipients: a@example.com'],
      person,
      null,
      'delivery failure report (X-Failed-Recipients)',
    ],
    ['a null Return-Path', [], person, '', 'null Return-Path (<>)'],
    [
      'From MAILER-DAEMON',
      [],
      { address: 'MAILER-DAEMON@mx.example.com' },
      'x@example.com',
      'sent by mailer-daemon',
    ],
    ['From postmaster', [], { address: 'postmaster@example.com' }, null, 'sent by postmaster'],
    ['From noreply', [], { address: 'noreply@shop.example' }, null, 'sent from a no-reply address (noreply)'],
    [
      'From no-reply',
      [],
      { address: 'No-Reply@shop.example' },
      null,
      'sent from a no-reply address (no-reply)',
    ],
    [
      'From donotreply',
      [],
      { address: 'donotreply@bank.example' },
      null,
      'sent from a no-reply address (donotreply)',
    ],
    [
      'From no-reply-aws',
      [],
      { address: 'no-reply-aws@amazon.example' },
      null,
      'sent from a no-reply address (no-reply-aws)',
    ],
    ['From noreplyhelp (not a no-reply)', [], { address: 'noreplyhelp@example.com' }, null, null],
    [
      'multipart/report',
      ['Content-Type: multipart/report; report-type=disposition-notification; boundary=x'],
      person,
      null,
      'report (multipart/report)',
    ],
  ] as const)('%s', (_name, lines, from, returnPath, reason) => {
    expect(automaticReason(headersOf(...lines), from, returnPath)).toBe(reason);
  });

  it('is set on a parsed message', async () => {
    const raw = Buffer.from(
      'From: a@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\naway',
    );
    expect((await parseEmail(raw, limits)).automatic).toBe('Auto-Submitted: auto-replied');
  });
});

const postfixBounce = [
  'Return-Path: <>',
  'Delivered-To: support@switchboard.example',
  'Received: by mail.example.net (Postfix) id 9F0E1D2C3B; Mon,  3 Jun 2024 10:00:02 +0000 (UTC)',
  'Date: Mon,  3 Jun 2024 10:00:02 +0000 (UTC)',
  'From: MAILER-DAEMON@mail.example.net (Mail Delivery System)',
  'Subject: Undelivered Mail Returned to Sender',
  'To: support@switchboard.example',
  'Auto-Submitted: auto-replied',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status;',
  '\tboundary="8A1B2C3D4E.1717408802/mail.example.net"',
  'Content-Transfer-Encoding: 8bit',
  'Message-Id: <20240603100002.9F0E1D2C3B@mail.example.net>',
  '',
  'This is a MIME-encapsulated message.',
  '',
  '--8A1B2C3D4E.1717408802/mail.example.net',
  'Content-Description: Notification',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'This is the mail system at host mail.example.net.',
  '',
  "I'm sorry to have to inform you that your message could not",
  "be delivered to one or more recipients. It's attached below.",
  '',
  '<nobody@customer.example>: host mx.customer.example[203.0.113.5] said: 550',
  '    5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown',
  '    in virtual mailbox table (in reply to RCPT TO command)',
  '',
  '--8A1B2C3D4E.1717408802/mail.example.net',
  'Content-Description: Delivery report',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mail.example.net',
  'X-Postfix-Queue-ID: 8A1B2C3D4E',
  'X-Postfix-Sender: rfc822; support@switchboard.example',
  'Arrival-Date: Mon,  3 Jun 2024 10:00:01 +0000 (UTC)',
  '',
  'Final-Recipient: rfc822; nobody@customer.example',
  'Original-Recipient: rfc822;Nobody@Customer.example',
  'Action: failed',
  'Status: 5.1.1',
  'Remote-MTA: dns; mx.customer.example',
  'Diagnostic-Code: smtp; 550 5.1.1 <nobody@customer.example>: Recipient address',
  '    rejected: User unknown in virtual mailbox table',
  '',
  '--8A1B2C3D4E.1717408802/mail.example.net',
  'Content-Description: Undelivered Message',
  'Content-Type: message/rfc822',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Return-Path: <support@switchboard.example>',
  'From: Support <support@switchboard.example>',
  'To: nobody@customer.example',
  'Subject: Re: Your ticket',
  'Message-ID: <reply-42@switchboard.example>',
  'Date: Mon, 3 Jun 2024 10:00:00 +0000',
  '',
  'Hello, about your ticket...',
  '',
  '--8A1B2C3D4E.1717408802/mail.example.net--',
  '',
].join('\r\n');

describe('parseBounce', () => {
  it('reads a standard RFC 3464 report (Postfix)', async () => {
    const parsed = await parseEmail(Buffer.from(postfixBounce), limits);
    expect(parsed.bounce).toEqual({
      originalMessageId: '<reply-42@switchboard.example>',
      recipients: ['Nobody@Customer.example'],
      action: 'failed',
      status: '5.1.1',
      diagnostic:
        '550 5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown in virtual mailbox table',
    });
    expect(parsed.automatic).toBe('Auto-Submitted: auto-replied');
    expect(parsed.returnPath).toBe('');
    expect(parsed.text).toMatch(/^This is the mail system/);
    expect(parsed.attachments.map((a) => a.contentType)).toEqual([
      'message/delivery-status',
      'message/rfc822',
    ]);
    expect(parsed.problems).toEqual([]);
  });

  it('falls back to Original-Envelope-Id when only the returned headers are missing', async () => {
    const raw = postfixBounce
      .replace(
        'Reporting-MTA: dns; mail.example.net',
        'Original-Envelope-Id: env-7@switchboard.example\r\nReporting-MTA: dns; mail.example.net',
      )
      .replace('Message-ID: <reply-42@switchboard.example>\r\n', '');
    const parsed = await parseEmail(Buffer.from(raw), limits);
    expect(parsed.bounce?.originalMessageId).toBe('<env-7@switchboard.example>');
  });

  it('reads the returned headers of a text/rfc822-headers part', () => {
    const input: BounceInput = {
      headers: headersOf('Content-Type: multipart/report; report-type="delivery-status"; boundary=x'),
      from: { address: 'postmaster@example.org' },
      subject: 'Delivery Status Notification (Delay)',
      text: 'Delayed.',
      parts: [
        {
          contentType: 'message/delivery-status',
          content: Buffer.from(
            'Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; slow@example.org\nAction: delayed\nStatus: 4.4.7\n',
          ),
        },
        {
          contentType: 'text/rfc822-headers',
          content: Buffer.from('From: us@example.com\nMessage-ID: <ours-1@example.com>\n'),
        },
      ],
    };
    expect(parseBounce(input)).toEqual({
      originalMessageId: '<ours-1@example.com>',
      recipients: ['slow@example.org'],
      action: 'delayed',
      status: '4.4.7',
      diagnostic: null,
    });
  });

  it('reads a free-text bounce (Exim) for the returned Message-ID and the status', async () => {
    const raw = [
      'Return-path: <>',
      'From: Mail Delivery System <Mailer-Daemon@mx.example.org>',
      'To: support@switchboard.example',
      'Subject: Mail delivery failed: returning message to sender',
      'X-Failed-Recipients: gone@customer.example',
      'Auto-Submitted: auto-replied',
      '',
      'This message was created automatically by mail delivery software.',
      '',
      'A message that you sent could not be delivered to one or more of its',
      'recipients. This is a permanent error. The following address(es) failed:',
      '',
      '  gone@customer.example',
      '    host mx.customer.example [198.51.100.7]',
      '    SMTP error from remote mail server after RCPT TO:<gone@customer.example>:',
      '    550 5.1.1 User unknown',
      '',
      '------ This is a copy of the message, including all the headers. ------',
      '',
      'Return-path: <support@switchboard.example>',
      'Message-ID: <reply-7@switchboard.example>',
      'From: support@switchboard.example',
      'Subject: Re: order',
      '',
      'Thanks',
      '',
    ].join('\r\n');
    const parsed = await parseEmail(Buffer.from(raw), limits);
    expect(parsed.bounce).toEqual({
      originalMessageId: '<reply-7@switchboard.example>',
      recipients: ['gone@customer.example'],
      action: 'failed',
      status: '5.1.1',
      diagnostic: '550 5.1.1 User unknown',
    });
  });

  it('reads a free-text bounce from a mailer daemon without X-Failed-Recipients', () => {
    const input: BounceInput = {
      headers: headersOf('Subject: Delivery Status Notification (Failure)'),
      from: { address: 'mailer-daemon@googlemail.example' },
      subject: 'Delivery Status Notification (Failure)',
      text: [
        "Address not found. Your message wasn't delivered to nobody@example.com.",
        '',
        '----- Original message -----',
        '',
        '> Message-ID: <abc-1@switchboard.example>',
        '> Subject: hello',
      ].join('\n'),
      parts: [],
    };
    expect(parseBounce(input)).toEqual({
      originalMessageId: '<abc-1@switchboard.example>',
      recipients: [],
      action: 'failed',
      status: null,
      diagnostic: null,
    });
  });

  it.each([
    ['a person', person, 'Undelivered Mail Returned to Sender'],
    ['a mailer daemon with another subject', { address: 'MAILER-DAEMON@example.com' }, 'Weekly queue report'],
  ])('is null for a message from %s', (_name, from, subject) => {
    const input: BounceInput = {
      headers: headersOf(`Subject: ${subject}`),
      from,
      subject,
      text: 'Hi',
      parts: [],
    };
    expect(parseBounce(input)).toBeNull();
  });

  it('is null on a parsed message from a person', async () => {
    const raw = Buffer.from(
      'From: ann@example.com\r\nSubject: Hi\r\nMessage-ID: <x@example.com>\r\n\r\nHello',
    );
    const parsed = await parseEmail(raw, limits);
    expect(parsed.bounce).toBeNull();
    expect(parsed.automatic).toBeNull();
  });
});

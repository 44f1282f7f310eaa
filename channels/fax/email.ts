/*
 * Fax-to-email lines: a gateway (a provider's, or HylaFAX's own mail delivery) mails each received fax to a
 * mailbox flagged `faxLine` in mailboxes.yaml. The email channel hands such a message here; each PDF or TIFF
 * it carries becomes one fax report (provider `email`), keyed by the message's id and the document's place in
 * it, so a message read twice changes nothing.
 *
 * Gateways name the sender in different places: the subject ("Fax from +1 415 555 0100"), the sender's
 * display name, or a line of the text ("Caller ID: 4155550100", "Remote ID: ..."). The first phone-like
 * number found, in that order, is the sender; a "Remote/Station/CSID/TSI" line is the station id.
 */
import type { FaxReceipt } from './types.js';

/** The email channel's FaxLineMail, in this channel's words (the same shape). */
export interface FaxMail {
  mailboxId: string;
  faxNumber: string | null;
  externalId: string;
  subject: string;
  from: { name: string | null; address: string | null };
  text: string;
  date: Date | null;
  documents: { content: Buffer; fileName: string; contentType: string }[];
}

const phoneLike = /\+?\d[\d\s().-]{5,22}\d/;
const stationLine = /^\s*(?:remote(?:\s+(?:station\s+)?id)?|station(?:\s+id)?|csid|tsi)\s*[:=]\s*(.+?)\s*$/im;
const callerLine = /^\s*(?:caller(?:\s*id)?|from|sender|fax\s+from|calling\s+number)\s*[:=]\s*(.+?)\s*$/im;

function numberIn(text: string | null | undefined): string | null {
  if (!text) return null;
  const match = phoneLike.exec(text);
  if (!match) return null;
  return match[0].replace(/\D/g, '').length >= 7 ? match[0].trim() : null;
}

export function receiptsFromMail(mail: FaxMail): FaxReceipt[] {
  const from =
    numberIn(callerLine.exec(mail.text)?.[1]) ??
    numberIn(mail.subject) ??
    numberIn(mail.from.name) ??
    numberIn(mail.text.slice(0, 2000));
  const stationId = stationLine.exec(mail.text)?.[1]?.slice(0, 100) ?? null;
  return mail.documents.map((document, index) => {
    const id = `${mail.externalId}#${index + 1}`;
    return {
      provider: 'email',
      faxId: id,
      eventId: id,
      ...(mail.date && { occurredAt: mail.date }),
      outcome: 'received',
      from,
      to: mail.faxNumber,
      stationId,
      pageCount: null,
      error: null,
      document: { kind: 'bytes', ...document },
      details: {
        mailbox: mail.mailboxId,
        messageId: mail.externalId,
        subject: mail.subject.slice(0, 300),
        gateway: mail.from.address,
        document: index + 1,
        documents: mail.documents.length,
      },
    };
  });
}

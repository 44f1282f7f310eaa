/*
 * The email channel's own shapes: what parsing a message yields (parse.ts), and what a mailbox is
 * (mailboxes.ts). Message-IDs are kept as written between angle brackets, trimmed: `<abc@example.com>`.
 * Addresses are kept as written; code that compares them lower-cases them.
 */

export interface EmailAddress {
  address: string;
  name?: string;
}

export interface ParsedAttachment {
  fileName: string;
  contentType: string;
  sizeBytes: number;
  content: Buffer;
  /** The Content-ID without angle brackets, for an inline part an HTML body names as `cid:<contentId>`. */
  contentId?: string;
  isInline: boolean;
}

/** An attachment left out for a limit; the raw message still has it. */
export interface OmittedAttachment {
  fileName: string;
  contentType: string;
  sizeBytes: number;
  reason: string;
}

/** RFC 3464 delivery status notification (a bounce): which message it reports on, and what happened. */
export interface BounceReport {
  /** The Message-ID of the message that was not delivered, from the returned headers or the report. */
  originalMessageId: string | null;
  recipients: string[];
  /** e.g. `failed`, `delayed` (Action), and the status code `5.1.1`. */
  action: string | null;
  status: string | null;
  diagnostic: string | null;
}

export interface ParsedEmail {
  messageId: string | null;
  inReplyTo: string[];
  references: string[];
  /** Decoded (RFC 2047), whatever the charset; '' when there is none. */
  subject: string;
  from: EmailAddress | null;
  replyTo: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  /** Envelope recipients the receiving server recorded (Delivered-To, X-Original-To), lower-cased. */
  deliveredTo: string[];
  /** Return-Path as written, without angle brackets; '' for a null Return-Path (`<>`); null when absent. */
  returnPath: string | null;
  date: Date | null;
  /** The plain text: the text part, else the HTML turned to text. */
  text: string;
  /** Sanitized HTML, or null. Inline images keep `src="cid:<contentId>"`; see rewriteInlineImages. */
  html: string | null;
  attachments: ParsedAttachment[];
  omittedAttachments: OmittedAttachment[];
  /** Why this message is automatic (RFC 3834 and the common vendor headers), or null for a person's mail. */
  automatic: string | null;
  /** Set when the message is a delivery status notification. */
  bounce: BounceReport | null;
  /**
   * What a person should look at: the message could not be parsed (it is then stored raw with what could be
   * read), had no sender address, or was in a charset that could not be decoded. Empty for a clean message.
   */
  problems: string[];
}

export interface ParseLimits {
  /** Largest single attachment kept (bytes); larger ones are listed in omittedAttachments. */
  maxAttachmentBytes: number;
  /** Largest total of kept attachments (bytes). */
  maxTotalAttachmentBytes: number;
}

/*
 * HylaFAX / HylaFAX+ on our own modems or a T.38 gateway: our faxrcvd (channels/fax/hylafax/faxrcvd), run by
 * faxgetty for every received fax, posts it as multipart/form-data to /webhooks/fax/hylafax with
 * `Authorization: Bearer <token>`. Pure: the route parses the body, verifies, parses and hands on.
 *
 * Fields (what faxrcvd is given, `qfile devID commID error-msg callID-1 callID-2 ...`, and what faxinfo
 * prints of the TIFF): commid (the communication id, c<commid> in the spool's log/), device (devID), sender
 * (faxinfo's Sender: the remote TSI, when faxinfo is installed), pages (faxinfo's Pages), callid (CallID1:
 * the caller's number), callid2 (CallID2: the caller's name), error (error-msg: empty unless the receive
 * went wrong), to (our number, when the script is told it), and the TIFF as the file part `file` (absent
 * when nothing was received).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { FaxPayloadError, type FaxOutcome, type FaxReceipt, maxFaxPages } from '../types.js';

export interface HylafaxFile {
  fileName: string;
  contentType: string;
  content: Buffer;
}

/** True when `authorization` is `Bearer <token>`; compared in constant time. An empty token never matches. */
export function verifyHylafax(input: { token: string; authorization: string | undefined }): boolean {
  if (!input.token || !input.authorization) return false;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(input.authorization);
  if (!match) return false;
  // Digests have one length, so the comparison neither fails early nor tells the token's length.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1] ?? ''), digest(input.token));
}

/**
 * The script's post as a receipt: no `error` and a file is `received`; an `error` with a file that holds
 * pages (or with no page count, when faxinfo is not installed) is `partial`; anything else is `failed`.
 * eventId is `${commid}:${outcome}`. Throws FaxPayloadError without a commid.
 */
export function parseHylafaxFax(fields: Record<string, string>, file: HylafaxFile | null): FaxReceipt {
  const faxId = text(fields.commid);
  if (faxId === null) throw new FaxPayloadError('hylafax: the post has no commid');
  const pageCount = count(fields.pages);
  const errorMessage = text(fields.error);
  const hasPages = file !== null && file.content.length > 0 && pageCount !== 0;
  const outcome: FaxOutcome = !hasPages ? 'failed' : errorMessage === null ? 'received' : 'partial';
  return {
    provider: 'hylafax',
    faxId,
    eventId: `${faxId}:${outcome}`,
    outcome,
    from: phoneNumber(fields.callid),
    to: text(fields.to),
    stationId: text(fields.sender),
    pageCount,
    error: errorMessage === null ? null : { code: null, message: errorMessage },
    document:
      outcome === 'failed' || !file
        ? null
        : {
            kind: 'bytes',
            content: file.content,
            fileName: file.fileName || `hylafax-${faxId}.tif`,
            contentType: file.contentType || 'image/tiff',
          },
    details: {
      commid: faxId,
      device: text(fields.device),
      callid: text(fields.callid),
      callid2: text(fields.callid2),
      sender: text(fields.sender),
      pages: pageCount,
    },
  };
}

function text(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

function count(value: string | undefined): number | null {
  const n = Number(text(value) ?? Number.NaN);
  return Number.isInteger(n) && n >= 0 && n <= maxFaxPages ? n : null;
}

/**
 * CallID1 when it is a number: modems put letters there when the number is withheld (`P`, `O`, `PRIVATE`,
 * `OUT OF AREA`), and some setups a name.
 */
function phoneNumber(value: string | undefined): string | null {
  const callid = text(value);
  if (callid === null || !/^\+?[\d\s().-]+$/.test(callid)) return null;
  return callid.replace(/\D/g, '').length >= 3 ? callid : null;
}

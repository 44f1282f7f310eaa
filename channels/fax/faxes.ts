/*
 * Receiving faxes, whatever the provider. A provider adapter (providers/) verifies and parses a webhook into
 * a FaxReceipt and hands it to receive(), which answers fast: it keeps the document's bytes when they came
 * with the report (so nothing the sender sent is lost once the provider has our 200), takes the report
 * (repeats and older reports change nothing), and enqueues `fax.process` for the fax's best report.
 *
 * process() is that job, retry-safe: it downloads a document the provider only linked (links expire in
 * minutes: the job runs at once and retries with backoff; the last attempt logs the fax flagged, without
 * the document, rather than drop it), converts it (document.ts), keeps the PDF and page previews, and
 * ingests one contact. A better report of a fax already logged (failed, then received) is logged as a
 * second message on the same interaction (same thread key).
 */
import type { FaxRepository, FaxRecord } from '../../src/db/repositories/fax.repository.js';
import { toStorable } from '../../src/db/storable-text.js';
import type { AttachmentsService, KeptAttachment } from '../../src/interactions/attachments.service.js';
import type { InboundContact, IngestResult, RawIdentity } from '../../src/interactions/inbound-contact.js';
import type { JobAttempt, JobQueue } from '../../src/jobs/job-registry.js';
import { processFaxDocument, type ProcessedFax } from './document.js';
import type { FaxOutcome, FaxReceipt } from './types.js';

const rankOf: Record<FaxOutcome, number> = { failed: 1, partial: 2, received: 3 };

export interface FaxReceivingConfig {
  ocrLanguages: string;
  maxDocumentBytes: number;
  mediaAttempts: number;
  mediaRetryMs: number;
  /** Credentials for a provider's media links, by the link's origin (SignalWire's files need the project's). */
  mediaAuth: { origin: string; authorization: string }[];
}

export interface FaxReceiving {
  receive(receipt: FaxReceipt): Promise<{ outcome: 'repeat' | 'superseded' | 'taken'; faxId: string | null }>;
  process(job: { faxId: string; rank: number }, attempt: JobAttempt): Promise<void>;
}

export function createFaxReceiving(deps: {
  config: FaxReceivingConfig;
  faxes: FaxRepository;
  attachments: Pick<AttachmentsService, 'keep' | 'keepMany' | 'discard' | 'discardMany'>;
  ingest: (contact: InboundContact) => Promise<IngestResult>;
  jobs: Pick<JobQueue, 'enqueue'>;
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
  /** The document pipeline; document.ts unless a test says otherwise. */
  processDocument?: (content: Buffer) => Promise<ProcessedFax>;
}): FaxReceiving {
  const { config, log } = deps;
  const processDocument =
    deps.processDocument ??
    ((content: Buffer) => processFaxDocument(content, { ocrLanguages: config.ocrLanguages }));

  async function download(url: string): Promise<{ content: Buffer; contentType: string; fileName: string }> {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw new Error(`not an http(s) link: ${parsed.protocol}`);
    const auth = config.mediaAuth.find((a) => a.origin === parsed.origin);
    const response = await fetch(url, {
      signal: AbortSignal.timeout(30_000),
      ...(auth && { headers: { authorization: auth.authorization } }),
    });
    if (!response.ok) throw new Error(`the provider's link answered ${response.status}`);
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > config.maxDocumentBytes) throw new TooLarge(declared, config.maxDocumentBytes);
    const content = Buffer.from(await response.arrayBuffer());
    if (content.length > config.maxDocumentBytes) throw new TooLarge(content.length, config.maxDocumentBytes);
    const contentType = (response.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!;
    return { content, contentType, fileName: fileNameOf(parsed, content) };
  }

  /** The fax's original bytes: kept already, or downloaded now (and kept). undefined: no document. */
  async function originalOf(
    fax: FaxRecord,
    attempt: JobAttempt,
    problems: string[],
  ): Promise<{ content: Buffer; original: NonNullable<FaxRecord['original']> } | undefined> {
    if (fax.original) {
      const content = await deps.faxes.contentOf(fax.original.key);
      if (content) return { content, original: fax.original };
      problems.push('the received document was lost before it could be read');
      return undefined;
    }
    if (!fax.mediaUrl) return undefined;
    let fetched: Awaited<ReturnType<typeof download>>;
    try {
      fetched = await download(fax.mediaUrl);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (!(err instanceof TooLarge) && !attempt.isLastAttempt) {
        log.warn(
          { faxId: fax.id, attempt: attempt.attempt, err: why },
          'fax document download failed; retrying',
        );
        throw err;
      }
      log.warn({ faxId: fax.id, attempt: attempt.attempt, err: why }, 'fax document could not be downloaded');
      problems.push(
        err instanceof TooLarge
          ? `the document was not taken: ${why}`
          : `the document could not be downloaded after ${attempt.attempt} attempts (${why}); ask the sender to fax it again`,
      );
      return undefined;
    }
    const kept = await deps.attachments.keep(fetched.content, {
      fileName: fetched.fileName,
      contentType: fetched.contentType,
    });
    const original = await deps.faxes.setOriginal(fax.id, fax.rank, {
      key: kept.storageKey,
      fileName: kept.fileName,
      contentType: kept.contentType,
    });
    if (original?.key !== kept.storageKey) {
      // Another attempt recorded its copy first (or a better report came): use that one.
      await deps.attachments.discard(kept);
      const content = original && (await deps.faxes.contentOf(original.key));
      return original && content ? { content, original } : undefined;
    }
    return { content: fetched.content, original };
  }

  return {
    async receive(reported) {
      // Text Postgres cannot hold (NUL, unpaired surrogates) must not cost the fax.
      const receipt = toStorable(reported);
      let kept: KeptAttachment | undefined;
      if (receipt.document?.kind === 'bytes') {
        kept = await deps.attachments.keep(receipt.document.content, {
          fileName: receipt.document.fileName,
          contentType: receipt.document.contentType,
        });
      }
      const rank = rankOf[receipt.outcome];
      const outcome = await deps.faxes.takeReport({
        provider: receipt.provider,
        providerFaxId: receipt.faxId,
        eventId: receipt.eventId,
        rank,
        outcome: receipt.outcome,
        fromNumber: receipt.from,
        toNumber: receipt.to,
        stationId: receipt.stationId,
        pageCount: receipt.pageCount,
        error: receipt.error,
        mediaUrl: receipt.document?.kind === 'url' ? receipt.document.url : null,
        original: kept
          ? { key: kept.storageKey, fileName: kept.fileName, contentType: kept.contentType }
          : null,
        reportedAt: receipt.occurredAt ?? null,
        details: receipt.details,
      });
      if (outcome.kind !== 'taken') {
        if (kept) await deps.attachments.discard(kept);
        log.info(
          {
            provider: receipt.provider,
            faxId: receipt.faxId,
            eventId: receipt.eventId,
            outcome: outcome.kind,
          },
          outcome.kind === 'repeat'
            ? 'fax report seen before'
            : 'fax report older or no better than the one kept',
        );
        return { outcome: outcome.kind, faxId: outcome.kind === 'superseded' ? outcome.faxId : null };
      }
      await deps.jobs.enqueue(
        'fax.process',
        { faxId: outcome.faxId, rank: outcome.rank },
        {
          jobId: `fax-${outcome.faxId}-${outcome.rank}`,
          attempts: config.mediaAttempts,
          backoffMs: config.mediaRetryMs,
        },
      );
      return { outcome: 'taken', faxId: outcome.faxId };
    },

    async process(job, attempt) {
      const fax = await deps.faxes.get(job.faxId);
      // Logged already, or a better report took the fax's place (its own job logs it).
      if (!fax || fax.loggedRank >= job.rank || fax.rank !== job.rank) return;
      const problems: string[] = [];
      const document = await originalOf(fax, attempt, problems);
      const processed = document ? await processDocument(document.content) : undefined;
      if (processed) problems.push(...processed.problems);

      // The PDF (when the original is not one) and the page previews, kept in one statement.
      const files: { content: Buffer; fileName: string; contentType: string }[] = [];
      const isConverted = processed?.pdf && processed.format !== 'pdf';
      if (isConverted)
        files.push({ content: processed.pdf!, fileName: 'fax.pdf', contentType: 'application/pdf' });
      for (const page of processed?.pages ?? [])
        files.push({ content: page.png, fileName: `fax-page-${page.number}.png`, contentType: 'image/png' });
      const kept = files.length ? await deps.attachments.keepMany(files) : [];
      const pdf = isConverted ? kept[0] : undefined;
      const pages = kept.slice(isConverted ? 1 : 0);

      const original: KeptAttachment | undefined = document && {
        id: document.original.key,
        storageKey: document.original.key,
        fileName: document.original.fileName,
        contentType: document.original.contentType,
        sizeBytes: document.content.length,
      };
      const text = processed?.text?.pages.some((p) => p.trim()) ? processed.text.pages.join('\f') : undefined;
      if (fax.outcome === 'partial')
        problems.unshift(
          `the fax is partial: ${describePages(processed?.pageCount ?? fax.pageCount)} arrived${reasonOf(fax)}`,
        );
      if (fax.outcome === 'failed') problems.unshift(`the fax failed${reasonOf(fax)}`);
      const pageCount = processed?.pageCount ?? fax.pageCount;

      try {
        const result = await deps.ingest(
          toContact(fax, {
            text,
            problems,
            pageCount,
            attachments: [...(original ? [original] : []), ...kept],
            fax: {
              documentId: pdf?.id ?? (processed?.format === 'pdf' ? (original?.id ?? null) : null),
              originalId: original?.id ?? null,
              pages: pages.map((kept, i) => ({
                number: processed!.pages[i]!.number,
                imageId: kept.id,
                width: processed!.pages[i]!.width,
                height: processed!.pages[i]!.height,
              })),
              textEngine: processed?.text?.engine ?? null,
            },
          }),
        );
        if (result.isDuplicate) await deps.attachments.discardMany(kept);
        await deps.faxes.markLogged(fax.id, fax.rank, result.interactionId, text ?? null);
        log.info(
          {
            faxId: fax.id,
            provider: fax.provider,
            interactionId: result.interactionId,
            pages: pageCount,
            outcome: fax.outcome,
            problems: problems.length,
          },
          'fax logged',
        );
      } catch (err) {
        await deps.attachments.discardMany(kept);
        throw err;
      }
    },
  };
}

class TooLarge extends Error {
  constructor(size: number, limit: number) {
    super(`it is ${Math.ceil(size / 1048576)} MB, over the limit of ${Math.floor(limit / 1048576)} MB`);
  }
}

function describePages(count: number | null): string {
  if (count === null) return 'some pages';
  return count === 1 ? '1 page' : `${count} pages`;
}

function reasonOf(fax: FaxRecord): string {
  const why = [fax.error?.message, fax.error?.code && `code ${fax.error.code}`].filter(Boolean).join(', ');
  return why ? ` (${why})` : '';
}

/** A number-like station id (TSI) is a number the customer may be known by; a name is not. */
function asNumber(value: string | null): string | null {
  if (!value) return null;
  const digits = value.replace(/\D/g, '');
  return digits.length >= 7 && /^[+\d\s().\-/]+$/.test(value.trim()) ? value.trim() : null;
}

function toContact(
  fax: FaxRecord,
  content: {
    text: string | undefined;
    problems: string[];
    pageCount: number | null;
    attachments: KeptAttachment[];
    fax: {
      documentId: string | null;
      originalId: string | null;
      pages: { number: number; imageId: string; width: number; height: number }[];
      textEngine: string | null;
    };
  },
): InboundContact {
  const identities: RawIdentity[] = [];
  const fromNumber = asNumber(fax.fromNumber);
  if (fromNumber) identities.push({ kind: 'fax', value: fromNumber });
  const station = fax.stationId?.trim() || null;
  const stationNumber = asNumber(station);
  if (stationNumber) identities.push({ kind: 'fax', value: stationNumber });
  const stationName = station && !stationNumber ? station : null;
  const sender = stationName ?? fromNumber ?? fax.fromNumber ?? 'an unknown sender';
  const pages = content.pageCount === null ? '' : `, ${describePages(content.pageCount)}`;
  const state = fax.outcome === 'received' ? '' : fax.outcome === 'partial' ? ' (partial)' : ' (failed)';
  const needsAttention = fax.outcome !== 'received' || content.problems.length > 0;
  return {
    channel: 'fax',
    externalId: `${fax.provider}:${fax.providerFaxId}:${fax.outcome}`,
    threadKey: `${fax.provider}:${fax.providerFaxId}`,
    identities,
    ...(stationName && { displayName: stationName.slice(0, 200) }),
    subject: `Fax from ${sender}${pages}${state}`,
    ...(content.text !== undefined && { text: content.text }),
    attachments: content.attachments,
    hints: {
      ...(fax.toNumber && { receivedOn: fax.toNumber }),
      faxOutcome: fax.outcome,
      ...(content.pageCount !== null && { faxPages: content.pageCount }),
      ...(needsAttention && { needsAttention: true }),
    },
    details: {
      fax: {
        provider: fax.provider,
        faxId: fax.providerFaxId,
        outcome: fax.outcome,
        from: fax.fromNumber,
        to: fax.toNumber,
        stationId: fax.stationId,
        pageCount: content.pageCount,
        ...content.fax,
        problems: content.problems,
        error: fax.error,
      },
      provider: fax.details,
    },
    ...(fax.reportedAt && { occurredAt: fax.reportedAt }),
  };
}

/** A name for a downloaded document: the link's last segment when it has a known extension, else by type. */
function fileNameOf(url: URL, content: Buffer): string {
  const last = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  if (/\.(pdf|tiff?)$/i.test(last)) return last;
  if (content.subarray(0, 5).toString('latin1') === '%PDF-') return 'fax.pdf';
  const magic = content.subarray(0, 4).toString('hex');
  if (magic === '49492a00' || magic === '4d4d002a') return 'fax.tif';
  return 'fax-document';
}

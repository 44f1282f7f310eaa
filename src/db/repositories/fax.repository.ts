import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, FaxesTable, FaxSendsTable } from '../tables.js';

/*
 * What the fax channel keeps beside the log: every inbound fax by the provider's id with the best report
 * so far (faxes), every report taken (fax_reports: a repeat is recognised by the provider's id for it), the
 * document's text for search, and the replies sent by fax (fax_sends).
 */

export interface FaxRecord {
  id: string;
  provider: string;
  providerFaxId: string;
  rank: number;
  outcome: FaxesTable['outcome'];
  fromNumber: string | null;
  toNumber: string | null;
  stationId: string | null;
  pageCount: number | null;
  error: { code: string | null; message: string | null } | null;
  mediaUrl: string | null;
  original: { key: string; fileName: string; contentType: string } | null;
  reportedAt: Date | null;
  details: Record<string, unknown>;
  loggedRank: number;
  interactionId: string | null;
}

/** One report, as the channel takes it: the fax's facts at the report's rank, and the report's own id. */
export type FaxReportInput = Omit<FaxRecord, 'id' | 'loggedRank' | 'interactionId'> & { eventId: string };

export type ReportOutcome =
  /** The provider's id for this report was seen before: nothing changed. */
  | { kind: 'repeat' }
  /** A report no better than the one kept (a later repeat, an older event arriving late): recorded only. */
  | { kind: 'superseded'; faxId: string }
  /** The fax is new, or this report is better than the one kept: it is the fax's report now. */
  | { kind: 'taken'; faxId: string; rank: number };

export interface FaxSearchHit {
  interactionId: string;
  ticketNumber: number;
  customerId: string;
  customerName: string | null;
  fromNumber: string | null;
  stationId: string | null;
  receivedAt: Date;
  pageCount: number | null;
  status: string;
  snippet: string;
}

export interface FaxSend {
  messageEventId: string;
  interactionId: string;
  provider: string;
  toNumber: string;
  fromNumber: string;
  documentKey: string;
  providerFaxId: string | null;
  status: FaxSendsTable['status'];
}

function toRecord(r: Selectable<FaxesTable>): FaxRecord {
  return {
    id: r.id,
    provider: r.provider,
    providerFaxId: r.provider_fax_id,
    rank: r.rank,
    outcome: r.outcome,
    fromNumber: r.from_number,
    toNumber: r.to_number,
    stationId: r.station_id,
    pageCount: r.page_count,
    error:
      r.error_code !== null || r.error_message !== null
        ? { code: r.error_code, message: r.error_message }
        : null,
    mediaUrl: r.media_url,
    original:
      r.original_key && r.original_name && r.original_type
        ? { key: r.original_key, fileName: r.original_name, contentType: r.original_type }
        : null,
    reportedAt: r.reported_at,
    details: r.details,
    loggedRank: r.logged_rank,
    interactionId: r.interaction_id,
  };
}

export function createFaxRepository(db: Kysely<Database>) {
  return {
    /**
     * Takes one provider report, atomically: a report seen before (same provider and report id) changes
     * nothing; a new fax is inserted; a known fax takes the report only when it ranks higher than the one
     * kept (received over partial over failed), so a repeat or an older event arriving late never undoes
     * a better one. Concurrent reports of one fax are serialized by the row.
     */
    async takeReport(report: FaxReportInput): Promise<ReportOutcome> {
      return db.transaction().execute(async (trx) => {
        const fresh = await trx
          .insertInto('fax_reports')
          .values({ provider: report.provider, event_id: report.eventId, fax_id: null })
          .onConflict((oc) => oc.doNothing())
          .returning('event_id')
          .executeTakeFirst();
        if (!fresh) return { kind: 'repeat' } as const;
        const values = {
          rank: report.rank,
          outcome: report.outcome,
          from_number: report.fromNumber,
          to_number: report.toNumber,
          station_id: report.stationId,
          page_count: report.pageCount,
          error_code: report.error?.code ?? null,
          error_message: report.error?.message ?? null,
          media_url: report.mediaUrl,
          original_key: report.original?.key ?? null,
          original_name: report.original?.fileName ?? null,
          original_type: report.original?.contentType ?? null,
          reported_at: report.reportedAt,
          details: JSON.stringify(report.details),
        };
        const taken = await trx
          .insertInto('faxes')
          .values({ provider: report.provider, provider_fax_id: report.providerFaxId, ...values })
          .onConflict((oc) =>
            oc
              .columns(['provider', 'provider_fax_id'])
              .doUpdateSet({ ...values, updated_at: sql`now()` })
              .where('faxes.rank', '<', report.rank),
          )
          .returning(['id', 'rank'])
          .executeTakeFirst();
        const faxId =
          taken?.id ??
          (
            await trx
              .selectFrom('faxes')
              .select('id')
              .where('provider', '=', report.provider)
              .where('provider_fax_id', '=', report.providerFaxId)
              .executeTakeFirstOrThrow()
          ).id;
        await trx
          .updateTable('fax_reports')
          .set({ fax_id: faxId })
          .where('provider', '=', report.provider)
          .where('event_id', '=', report.eventId)
          .execute();
        return taken
          ? ({ kind: 'taken', faxId, rank: taken.rank } as const)
          : ({ kind: 'superseded', faxId } as const);
      });
    },

    async get(faxId: string): Promise<FaxRecord | undefined> {
      const row = await db.selectFrom('faxes').selectAll().where('id', '=', faxId).executeTakeFirst();
      return row && toRecord(row);
    },

    /**
     * Records the downloaded document's bytes as the fax's original, unless another attempt recorded one
     * first (or a better report replaced the fax's facts); returns the original in force.
     */
    async setOriginal(
      faxId: string,
      rank: number,
      original: { key: string; fileName: string; contentType: string },
    ): Promise<{ key: string; fileName: string; contentType: string } | null> {
      await db
        .updateTable('faxes')
        .set({
          original_key: original.key,
          original_name: original.fileName,
          original_type: original.contentType,
          updated_at: sql`now()`,
        })
        .where('id', '=', faxId)
        .where('rank', '=', rank)
        .where('original_key', 'is', null)
        .execute();
      return (await this.get(faxId))?.original ?? null;
    },

    /** The report of this rank is in the log, on this interaction, with this text (searchable from now). */
    async markLogged(faxId: string, rank: number, interactionId: string, text: string | null): Promise<void> {
      await db
        .updateTable('faxes')
        .set({
          logged_rank: sql`greatest(logged_rank, ${rank})`,
          interaction_id: interactionId,
          text,
          updated_at: sql`now()`,
        })
        .where('id', '=', faxId)
        .where('logged_rank', '<', rank)
        .execute();
    },

    /** Faxes whose text, sender number or station id holds every word of `query` (web-search syntax). */
    async search(query: string, limit: number): Promise<FaxSearchHit[]> {
      const q = sql`websearch_to_tsquery('simple', ${query})`;
      const rows = await db
        .selectFrom('faxes as f')
        .innerJoin('interactions as i', 'i.id', 'f.interaction_id')
        .innerJoin('customers as c', 'c.id', 'i.customer_id')
        .select([
          'f.interaction_id',
          'i.ticket_number',
          'i.customer_id',
          'c.display_name',
          'f.from_number',
          'f.station_id',
          'f.created_at',
          'f.page_count',
          'i.status',
          sql<string>`ts_headline('simple', replace(coalesce(f.text, ''), chr(12), ' · '), ${q},
            'StartSel="", StopSel="", MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "')`.as(
            'snippet',
          ),
        ])
        .where(sql<boolean>`f.search @@ ${q}`)
        .orderBy(sql`ts_rank(f.search, ${q})`, 'desc')
        .orderBy('f.created_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        interactionId: row.interaction_id!,
        ticketNumber: Number(row.ticket_number),
        customerId: row.customer_id,
        customerName: row.display_name,
        fromNumber: row.from_number,
        stationId: row.station_id,
        receivedAt: row.created_at,
        pageCount: row.page_count,
        status: row.status,
        snippet: row.snippet,
      }));
    },

    /** A reply about to be sent by fax, with its rendered document; the one recorded first wins. */
    async recordSend(send: Omit<FaxSend, 'providerFaxId' | 'status'>): Promise<FaxSend> {
      await db
        .insertInto('fax_sends')
        .values({
          message_event_id: send.messageEventId,
          interaction_id: send.interactionId,
          provider: send.provider,
          to_number: send.toNumber,
          from_number: send.fromNumber,
          document_key: send.documentKey,
          status: 'rendered',
        })
        .onConflict((oc) => oc.column('message_event_id').doNothing())
        .execute();
      return (await this.sendOf(send.messageEventId))!;
    },

    async sendOf(messageEventId: string): Promise<FaxSend | undefined> {
      const row = await db
        .selectFrom('fax_sends')
        .selectAll()
        .where('message_event_id', '=', messageEventId)
        .executeTakeFirst();
      return (
        row && {
          messageEventId: row.message_event_id,
          interactionId: row.interaction_id,
          provider: row.provider,
          toNumber: row.to_number,
          fromNumber: row.from_number,
          documentKey: row.document_key,
          providerFaxId: row.provider_fax_id,
          status: row.status,
        }
      );
    },

    async markSubmitted(messageEventId: string, providerFaxId: string): Promise<void> {
      await db
        .updateTable('fax_sends')
        .set({ provider_fax_id: providerFaxId, status: 'sending', updated_at: sql`now()` })
        .where('message_event_id', '=', messageEventId)
        .where('provider_fax_id', 'is', null)
        .execute();
    },

    /**
     * The provider's word on a fax we sent. A final status is taken once (a repeat, or a late 'sending',
     * changes nothing); returns the send when this call changed it to a final status.
     */
    async settleSend(request: {
      provider: string;
      providerFaxId: string;
      status: 'sending' | 'delivered' | 'failed';
      pageCount: number | null;
      errorMessage: string | null;
    }): Promise<FaxSend | undefined> {
      if (request.status === 'sending') return undefined;
      const row = await db
        .updateTable('fax_sends')
        .set({
          status: request.status,
          page_count: request.pageCount,
          error_message: request.errorMessage,
          updated_at: sql`now()`,
        })
        .where('provider', '=', request.provider)
        .where('provider_fax_id', '=', request.providerFaxId)
        .where('status', 'in', ['rendered', 'sending'])
        .returning('message_event_id')
        .executeTakeFirst();
      return row && this.sendOf(row.message_event_id);
    },

    /** A kept file's bytes by its storage key (the fax's original before it is in the log). */
    async contentOf(storageKey: string): Promise<Buffer | undefined> {
      const row = await db
        .selectFrom('attachment_contents')
        .select('content')
        .where('storage_key', '=', storageKey)
        .executeTakeFirst();
      return row?.content;
    },
  };
}

export type FaxRepository = ReturnType<typeof createFaxRepository>;

import { sql, type Kysely } from 'kysely';

// Frozen in time: the fax channel's tables as on 2026-11-27. Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- Every inbound fax a provider told us of, by the provider's id. A provider may report one fax several
    -- times (retries, repeated or out-of-order events): the row keeps the best report so far (rank: 1
    -- failed, 2 partial, 3 received) and logged_rank says which report is in the log, so a repeat changes
    -- nothing and a better report is logged once more on the same interaction.
    create table faxes (
      id uuid primary key default gen_random_uuid(),
      provider text not null,
      provider_fax_id text not null,
      rank smallint not null check (rank between 1 and 3),
      outcome text not null check (outcome in ('received', 'partial', 'failed')),
      from_number text,
      to_number text,
      station_id text,
      page_count integer,
      error_code text,
      error_message text,
      -- Where the provider keeps the document (it may expire in minutes), until it is downloaded.
      media_url text,
      -- The original document's bytes, kept as soon as they are here (attachment_contents.storage_key).
      original_key text,
      original_name text,
      original_type text,
      reported_at timestamptz,
      details jsonb not null default '{}',
      logged_rank smallint not null default 0,
      interaction_id uuid references interactions(id) on delete set null,
      -- The document's text (OCR or its text layer), pages separated by a form feed.
      text text,
      search tsvector generated always as (
        to_tsvector('simple', coalesce(text, '') || ' ' || coalesce(station_id, '') || ' ' ||
          coalesce(from_number, ''))
      ) stored,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (provider, provider_fax_id)
    );
    create index faxes_search_idx on faxes using gin (search);
    create index faxes_interaction_idx on faxes (interaction_id);

    -- Every provider report taken, by the provider's id for it: a report seen before is answered and
    -- changes nothing.
    create table fax_reports (
      provider text not null,
      event_id text not null,
      fax_id uuid references faxes(id) on delete cascade,
      created_at timestamptz not null default now(),
      primary key (provider, event_id)
    );

    -- Replies sent by fax, by their message.sent event: the rendered PDF, the provider's id once it took
    -- the fax (a retried delivery job does not send it twice), and how the provider says it ended.
    create table fax_sends (
      message_event_id bigint primary key,
      interaction_id uuid not null references interactions(id) on delete cascade,
      provider text not null,
      to_number text not null,
      from_number text not null,
      document_key text not null,
      provider_fax_id text,
      status text not null check (status in ('rendered', 'sending', 'delivered', 'failed')),
      page_count integer,
      error_message text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index fax_sends_provider_idx on fax_sends (provider, provider_fax_id)
      where provider_fax_id is not null;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table if exists fax_sends;
    drop table if exists fax_reports;
    drop table if exists faxes;
  `.execute(db);
}

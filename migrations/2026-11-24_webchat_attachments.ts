import { sql, type Kysely } from 'kysely';

// Frozen in time: where the bytes of attachments the core keeps itself live, as on 2026-11-24 (web chat
// images first). Imports nothing from src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- The bytes of an attachment, by the storage key its attachments row names. In Postgres rather than on
    -- a disk: every process of the cluster reads what another stored, with no shared volume, and a web
    -- chat image is at most a few megabytes. A key here without an attachments row is an upload that was
    -- refused or deduplicated after it was stored, and is deleted by the code that stored it.
    create table attachment_contents (
      storage_key text primary key,
      content bytea not null,
      created_at timestamptz not null default now()
    );
    -- Attachments are served by their storage key (the id their message.received payload carries).
    create index attachments_storage_key_idx on attachments (storage_key);
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop index if exists attachments_storage_key_idx;
    drop table if exists attachment_contents;
  `.execute(db);
}

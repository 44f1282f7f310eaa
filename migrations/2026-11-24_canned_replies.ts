import { sql, type Kysely } from 'kysely';

// Frozen in time: the standard answers (canned replies) table as it was on 2026-11-24. Imports nothing from
// src/.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema version
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- The text a search matches: title, shortcut, keywords and body, lower-cased. A function so that the
    -- generated column below may call array_to_string (stable in general, immutable for text[]).
    create function switchboard_canned_reply_search_text(title text, shortcut text, keywords text[], body text)
      returns text language sql immutable parallel safe as $fn$
        select lower(title || ' ' || coalesce(shortcut, '') || ' ' || array_to_string(keywords, ' ') || ' ' || body)
      $fn$;

    -- Standard answers: a shared library of canned replies, written by supervisors, read by every agent.
    -- Placeholders ({{customer.name}}...) stay in the body; the server renders them for an interaction.
    create table canned_replies (
      id uuid primary key default uuid_v7(),
      title text not null check (char_length(title) between 1 and 200),
      body text not null check (char_length(body) between 1 and 20000),
      -- Typed after a slash in the console's picker ("/refund"); lower case, unique when set.
      shortcut text unique check (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
      -- Tags and the words a web chat visitor's first message is matched on; lower case.
      keywords text[] not null default '{}',
      -- The channels it fits; empty: every channel.
      channels text[] not null default '{}'
        check (channels <@ array['voice', 'email', 'chat', 'fax']::text[]),
      -- May be offered to a web chat visitor before they wait for a person.
      is_visitor_suggestible boolean not null default false,
      created_by uuid references agents(id) on delete set null,
      updated_by uuid references agents(id) on delete set null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      search_text text generated always as
        (switchboard_canned_reply_search_text(title, shortcut, keywords, body)) stored
    );
    create index canned_replies_suggestible_idx on canned_replies (id) where is_visitor_suggestible;

    -- Searching as an agent types is a substring match (LIKE '%term%'), which a trigram index serves.
    -- pg_trgm ships with Debian's postgresql package; where it is missing or may not be created, the
    -- search still works (a scan of a table of a few hundred rows), only without the index. The extension
    -- goes to public (on every connection's search_path) under a lock: schemas migrating at once (tests)
    -- must not race to create it.
    do $do$
    begin
      if exists (select 1 from pg_available_extensions where name = 'pg_trgm') then
        perform pg_advisory_xact_lock(hashtext('switchboard:create-extension:pg_trgm'));
        create extension if not exists pg_trgm with schema public;
      end if;
    exception when insufficient_privilege or feature_not_supported then
      raise notice 'pg_trgm not created (%): canned reply search runs without its index', sqlerrm;
    end
    $do$;
    do $do$
    begin
      if exists (select 1 from pg_opclass where opcname = 'gin_trgm_ops' and pg_opclass_is_visible(oid)) then
        execute 'create index canned_replies_search_idx on canned_replies using gin (search_text gin_trgm_ops)';
      end if;
    end
    $do$;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  // pg_trgm stays: other schemas of the database may use it.
  await sql`
    drop table if exists canned_replies;
    drop function if exists switchboard_canned_reply_search_text(text, text, text[], text);
  `.execute(db);
}

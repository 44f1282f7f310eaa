import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './tables.js';

// bigint (int8) as string: ids and counts can exceed 2^53; repositories convert where a number is meant.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export interface DatabaseHandle {
  db: Kysely<Database>;
  /** The raw pool, for prepared statements on the hot path (see interactions.repository.ts). */
  pool: pg.Pool;
  schema: string;
  close(): Promise<void>;
}

export function openDatabase(url: string, schema: string, options: { max?: number } = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 20,
    // Every connection resolves unqualified names in our schema first (tests isolate by schema). No JIT:
    // these are short OLTP statements, and a plan whose estimate crosses jit_above_cost (any plan under
    // enable_seqscan = off without an index path) would spend 100-300 ms compiling for a 1 ms query.
    options: `-c search_path=${schema},public -c jit=off`,
    connectionTimeoutMillis: 5_000,
  });
  // A client that loses its server (Postgres restart) must not crash the process. The pool's 'error' covers
  // idle clients only: a checked-out one (a query or transaction under way) emits 'error' on itself, with
  // no listener. Its query fails with the same error either way, and the pool drops it when it comes back.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    schema,
    close: () => db.destroy(),
  };
}

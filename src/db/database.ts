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
  // An idle client that loses its server (Postgres restart) must not crash the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    schema,
    close: () => db.destroy(),
  };
}

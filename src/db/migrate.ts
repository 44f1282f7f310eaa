import { Migrator, sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { migrations } from '../../migrations/index.js';
import type { Database } from './tables.js';

export interface MigrationOutcome {
  applied: string[];
}

/*
 * Brings the schema up to date. Safe when several processes start at once: a Postgres advisory lock (per
 * schema) serialises them; the first applies the migrations and the others find nothing left to do.
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  pool: pg.Pool,
  schema: string,
): Promise<MigrationOutcome> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock(hashtextextended($1, 0))', [`switchboard-migrate:${schema}`]);
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
      const migrator = new Migrator({
        db,
        migrationTableSchema: schema,
        provider: { getMigrations: async () => migrations },
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
      return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
    } finally {
      await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [
        `switchboard-migrate:${schema}`,
      ]);
    }
  } finally {
    client.release();
  }
}

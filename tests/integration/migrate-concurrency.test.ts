import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { inject, it, expect } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/*
 * Several processes starting at once all migrate the same fresh schema: every one succeeds, and each
 * migration is applied exactly once (the advisory lock serialises them; later ones find nothing to do).
 */
it('four concurrent migrateToLatest runs on one fresh schema apply each migration exactly once', async () => {
  const schema = `t_mig_${randomBytes(5).toString('hex')}`;
  const handles = Array.from({ length: 4 }, () => openDatabase(inject('databaseUrl'), schema, { max: 2 }));
  try {
    const outcomes = await Promise.all(handles.map((h) => migrateToLatest(h.db, h.pool, schema)));

    const names = Object.keys(migrations);
    expect(names.length).toBeGreaterThan(0);
    // Together the runs applied every migration once; a run that found the work done applied nothing.
    expect(outcomes.flatMap((o) => o.applied).sort()).toEqual([...names].sort());
    for (const outcome of outcomes) expect([0, names.length]).toContain(outcome.applied.length);

    const db = handles[0]!.db;
    const { rows } = await sql<{ name: string }>`
      select name from ${sql.table(`${schema}.kysely_migration`)} order by name`.execute(db);
    expect(rows.map((r) => r.name)).toEqual([...names].sort());

    // The schema really is usable, and a fifth run later is a no-op.
    await sql`select 1 from ${sql.table(`${schema}.customers`)} limit 1`.execute(db);
    expect(await migrateToLatest(db, handles[0]!.pool, schema)).toEqual({ applied: [] });
  } finally {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(handles[0]!.db);
    await Promise.all(handles.map((h) => h.close()));
  }
});

import { readdirSync, readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Channel, InboundContact } from '../../src/interactions/inbound-contact.js';
import {
  benchServices,
  fmt,
  type LoopResult,
  printTable,
  say,
  type SummaryLine,
  timedLoop,
} from './bench-kit.js';

/*
 * npm run bench:ingest — contacts ingested per second with 8 concurrent producers, p50/p99 latency, beside
 * a bare loop of single-row INSERTs on the same database in the same run, and the ratio.
 * Target: ingest >= 0.4 x the bare insert rate. The baseline is one loop (one producer) of INSERTs into a
 * table with only a primary key: the cheapest durable write there is. The same INSERTs from 8 producers are
 * printed too, for context (they mostly measure how well Postgres groups commits).
 * Postgres runs durable (fsync, synchronous_commit), as production does; BENCH_DURABLE=0 turns that off.
 *
 * The mix: 70% of contacts come from returning customers (5,000 made before the run), 30% from new ones; channels spread over voice, email, chat and fax; a third of emails and every chat carry a thread
 * key. Duplicate detection jobs are enqueued (as in production) but processed by no worker here: this
 * measures the ingest path, not the background work.
 */

export const ingestTarget = 0.4;
const producers = 8;

/** A loop's result and, when the database server runs on this machine, its CPU time per operation. */
export type MeasuredLoop = LoopResult & { dbCpuUsPerOp: number };

export interface IngestBenchResult {
  bare: MeasuredLoop;
  bareParallel: MeasuredLoop;
  ingest: MeasuredLoop;
  ratio: number;
}

/*
 * A diagnostic beside the throughputs: CPU time of the whole Postgres server (postmaster, backends, WAL
 * writer, checkpointer...) per operation, read from /proc. On these noisy machines throughput moves with the
 * neighbours; CPU per operation moves much less and shows where a change helped. NaN when the server is not
 * a process of this machine.
 */
function serverCpuUs(postmasterPid: string | undefined): number {
  if (!postmasterPid) return NaN;
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[1] is the parent pid; fields[11..14] are utime, stime, cutime, cstime in clock ticks.
      if (entry !== postmasterPid && fields[1] !== postmasterPid) continue;
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

async function measured(
  postmasterPid: string | undefined,
  loop: () => Promise<LoopResult>,
): Promise<MeasuredLoop> {
  const before = serverCpuUs(postmasterPid);
  const result = await loop();
  return { ...result, dbCpuUsPerOp: (serverCpuUs(postmasterPid) - before) / Math.max(1, result.operations) };
}

function postmasterOf(backendPid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${backendPid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  } catch {
    return undefined;
  }
}

export async function runIngestBench(seconds: number): Promise<IngestBenchResult> {
  const { config, stop } = await benchServices();
  try {
    const handle = openDatabase(config.databaseUrl!, config.databaseSchema, { max: producers + 2 });
    await migrateToLatest(handle.db, handle.pool, config.databaseSchema);
    await sql`create table bench_bare (id bigint generated always as identity primary key, external_id text not null, payload jsonb not null, created_at timestamptz not null default now())`.execute(
      handle.db,
    );

    // Routing on ingest is off: this measures the ingest path, as duplicate detection is left to no worker.
    const { services, app } = await buildApp({
      config: { ...config, routeOnIngest: false },
      isWorker: false,
    });
    const channels: Channel[] = ['voice', 'email', 'chat', 'fax'];
    const knownPool = 5000;
    const phone = (n: number) => `+1415${String(2000000 + n).padStart(7, '0')}`;
    let sequence = 0;
    const contact = (producer: number, i: number): InboundContact => {
      const n = sequence++;
      const channel = channels[n % 4]!;
      const isReturning = n % 10 < 7;
      const who = isReturning ? n % knownPool : knownPool + n;
      const identity =
        channel === 'email'
          ? { kind: 'email' as const, value: `customer${who}@example.com` }
          : channel === 'chat'
            ? { kind: 'chat_visitor' as const, value: `visitor-${who}` }
            : { kind: channel === 'fax' ? ('fax' as const) : ('phone' as const), value: phone(who) };
      return {
        channel,
        externalId: `bench-${producer}-${i}-${n}`,
        identities: [identity],
        displayName: `Customer ${who}`,
        ...(channel === 'chat' && { threadKey: `session-${who}` }),
        ...(channel === 'email' && n % 3 === 0 && { threadKey: `thread-${who}`, subject: 'Re: my order' }),
        text: `Message ${n} about order ${who}`,
      };
    };

    say(`creating ${knownPool} returning customers, each with a phone, fax, email and chat identity`);
    await sql`
      with made as (
        insert into customers (display_name) select 'Customer ' || g from generate_series(0, ${knownPool - 1}) g
        returning id, (regexp_match(display_name, '[0-9]+$'))[1]::int as who
      )
      insert into identities (customer_id, kind, value, raw_value)
      select id, kind, value, value from made, lateral (values
        ('phone', '+1415' || lpad((2000000 + who)::text, 7, '0')),
        ('fax', '+1415' || lpad((2000000 + who)::text, 7, '0')),
        ('email', 'customer' || who || '@example.com'),
        ('chat_visitor', 'visitor-' || who)) v(kind, value)`.execute(handle.db);
    await sql`analyze`.execute(handle.db);

    say(`warming up (${producers} producers)`);
    await timedLoop('warm-up bare', producers, 1, (p, i) =>
      handle.pool.query({
        name: 'bench_bare',
        text: 'insert into bench_bare (external_id, payload) values ($1, $2)',
        values: [`w-${p}-${i}`, '{}'],
      }),
    );
    await timedLoop('warm-up ingest', producers, 1, (p, i) => services.ingest(contact(p, i + 1_000_000)));

    const bareInsert = (tag: string) => (p: number, i: number) =>
      handle.pool.query({
        name: 'bench_bare',
        text: 'insert into bench_bare (external_id, payload) values ($1, $2)',
        values: [`${tag}-${p}-${i}`, JSON.stringify({ text: `Message ${i}` })],
      });
    const { rows } = await handle.pool.query<{ pid: number }>('select pg_backend_pid() as pid');
    const postmaster = postmasterOf(rows[0]!.pid);
    say(`bare loop of single-row INSERTs (one producer) for ${seconds}s`);
    const bare = await measured(postmaster, () =>
      timedLoop('bare insert loop', 1, seconds, bareInsert('b1')),
    );
    say(`bare single-row INSERTs, ${producers} producers, for ${seconds}s (for context)`);
    const bareParallel = await measured(postmaster, () =>
      timedLoop('bare insert x8', producers, seconds, bareInsert('b8')),
    );
    say(`ingest(): ${producers} producers for ${seconds}s`);
    const ingest = await measured(postmaster, () =>
      timedLoop('ingest', producers, seconds, (p, i) => services.ingest(contact(p, i))),
    );

    await app.close();
    await sql`drop schema ${sql.id(config.databaseSchema)} cascade`.execute(handle.db);
    await handle.close();
    return { bare, bareParallel, ingest, ratio: ingest.perSecond / bare.perSecond };
  } finally {
    await stop();
  }
}

export function ingestRows(r: IngestBenchResult) {
  const row = (benchmark: string, x: MeasuredLoop, ratio: string, target = '', verdict = '') => ({
    benchmark,
    'ops/s': fmt(x.perSecond, 0),
    'p50 ms': fmt(x.p50Ms, 2),
    'p99 ms': fmt(x.p99Ms, 2),
    'node cpu us/op': fmt(x.nodeCpuUsPerOp, 0),
    'db cpu us/op': fmt(x.dbCpuUsPerOp, 0),
    'ratio to bare loop': ratio,
    target,
    verdict,
  });
  return [
    row('bare loop of single-row INSERTs (baseline)', r.bare, '1.00'),
    row(
      `bare single-row INSERTs, ${producers} producers`,
      r.bareParallel,
      fmt(r.bareParallel.perSecond / r.bare.perSecond, 2),
    ),
    row(
      `ingest(), ${producers} producers`,
      r.ingest,
      fmt(r.ratio, 2),
      `>= ${ingestTarget}`,
      r.ratio >= ingestTarget ? 'met' : 'MISSED',
    ),
  ];
}

/** The summary's line (npm run bench): ingest's throughput against the bare INSERT loop. */
export function ingestSummary(r: IngestBenchResult): SummaryLine[] {
  return [
    {
      benchmark: 'ingest',
      figure: `contacts logged per second, ${producers} producers`,
      value: `${fmt(r.ingest.perSecond, 0)}/s`,
      baseline: `${fmt(r.bare.perSecond, 0)}/s single-row INSERTs`,
      ratio: fmt(r.ratio, 2),
      target: `>= ${ingestTarget} x bare`,
      verdict: r.ingest.errors > 0 ? 'ERRORS' : r.ratio >= ingestTarget ? 'met' : 'MISSED',
    },
  ];
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  runIngestBench(seconds)
    .then((r) => {
      printTable(ingestRows(r));
      if (r.ingest.errors || r.bare.errors || r.bareParallel.errors) process.exitCode = 1;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

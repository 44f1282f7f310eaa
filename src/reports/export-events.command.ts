/*
 * `switchboard export-events`: the raw interaction event log, one event a line in the shape of a PBX queue
 * log (see event-log.ts), for a time window, to a file or stdout. Progress goes to stderr.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import type { Config } from '../config.js';
import { openDatabase } from '../db/database.js';
import { createEventLogRepository } from '../db/repositories/event-log.repository.js';
import { eventLogLines } from './export-events.js';

export const exportEventsHelp = `Usage: switchboard export-events [--from <ISO>] [--to <ISO>] [--out <file>]

Writes the interaction event log, one event a line, in the shape of a PBX queue log:
  <epoch seconds>|<interaction id>|<queue or NONE>|<agent id or NONE>|<EVENT>|<data>...
with the queue-log verbs ENTERQUEUE, CONNECT, RINGNOANSWER, ABANDON, COMPLETEAGENT, COMPLETECALLER and
TRANSFER, and every other event as its type in capitals (MESSAGE_RECEIVED, IVR_STEP...). No customer content
is written. Uses DATABASE_URL (and DATABASE_SCHEMA), or the local Postgres like the other commands.

Options:
  --from <ISO>   first instant, inclusive (e.g. 2026-11-16T00:00:00Z)
  --to <ISO>     last instant, exclusive
  --out <file>   write here (default: stdout)
  --quiet        no progress on stderr
  -h, --help     this help
`;

export class ExportEventsError extends Error {
  override name = 'ExportEventsError';
}

function instant(flag: string, text: string | undefined): Date | null {
  if (text === undefined) return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new ExportEventsError(`export-events: ${flag} '${text}' is not an ISO date-time`);
  return new Date(ms);
}

export async function runExportEvents(
  args: readonly string[],
  io: { stdout: Writable; stderr: Writable },
  connect: () => Promise<Config>,
): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        out: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new ExportEventsError(`export-events: ${(error as Error).message} (see --help)`);
  }
  if (values.help) {
    io.stdout.write(exportEventsHelp);
    return 0;
  }
  const window = { from: instant('--from', values.from), to: instant('--to', values.to) };
  if (window.from && window.to && window.from >= window.to)
    throw new ExportEventsError('export-events: --from must be before --to');
  const say = (text: string) => {
    if (!values.quiet) io.stderr.write(`export-events: ${text}\n`);
  };

  const config = await connect();
  const database = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
  const out = values.out ? createWriteStream(values.out) : io.stdout;
  try {
    const repository = createEventLogRepository(database.db);
    const total = await repository.count(window);
    say(`${total.toLocaleString('en-US')} events in the window`);
    const started = Date.now();
    let lastSaid = 0;
    let written = 0;
    for await (const chunk of eventLogLines(repository, window, {
      onPage: (n) => {
        written = n;
        if (Date.now() - lastSaid < 1000) return;
        lastSaid = Date.now();
        say(`${n.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} events written`);
      },
    })) {
      if (!out.write(chunk)) await once(out, 'drain');
    }
    if (values.out) {
      out.end();
      await once(out, 'finish');
    }
    say(
      `wrote ${written.toLocaleString('en-US')} events to ${values.out ?? 'stdout'} in ` +
        `${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    return 0;
  } finally {
    await database.close();
  }
}

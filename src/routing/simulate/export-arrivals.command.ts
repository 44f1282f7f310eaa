/*
 * `switchboard export-arrivals`: writes the arrivals file for `simulate` from the log (routed inbound
 * interactions, their offers and outcome, agent state history) for a time window, in time order: at one
 * instant, agent lines before arrivals. Reads in pages (SimulationRepository); progress goes to stderr, so the
 * file may go to stdout. With --from, each agent's state at that moment opens the file.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import type { Config } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import {
  createSimulationRepository,
  type ExportCursor,
  type ExportWindow,
  type RecordedInteraction,
  type RecordedStateChange,
  type SimulationRepository,
} from '../../db/repositories/simulation.repository.js';
import { AgentLineWriter, toArrivalLine } from './arrivals.export.js';
import type { ArrivalsLine } from './arrivals.schema.js';
import { SimulateError, type CommandIo } from './simulate.command.js';

export const exportArrivalsHelp = `Usage: switchboard export-arrivals [--from <ISO>] [--to <ISO>] [--out <file>]

Writes the arrivals file that 'switchboard simulate' replays, from the interaction log: every routed inbound
interaction queued in the window (its routing facts, real offers and answers, handle time, patience when the
customer left, and what really happened), and the agents' availability (state history). Uses DATABASE_URL
(and DATABASE_SCHEMA), or the local Postgres like the other commands.

Options:
  --from <ISO>            first instant, inclusive (e.g. 2026-11-16T00:00:00Z); each agent's state then opens the file
  --to <ISO>              last instant, exclusive
  --out <file>            write here (default: stdout)
  --page-size <n>         rows read per query (default 1000)
  --quiet                 no progress on stderr
  -h, --help              this help

The file holds customers' message text and subjects (keyword rules need them): treat it as customer data.
`;

interface ExportArgs {
  window: ExportWindow;
  out: string | null;
  pageSize: number;
  isQuiet: boolean;
}

function parseInstant(flag: string, text: string | undefined): Date | null {
  if (text === undefined) return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new SimulateError(`export-arrivals: ${flag} '${text}' is not an ISO date-time`);
  return new Date(ms);
}

function parseExportArgs(args: readonly string[]): ExportArgs | 'help' {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        out: { type: 'string' },
        'page-size': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new SimulateError(`export-arrivals: ${(error as Error).message} (see --help)`);
  }
  if (values.help) return 'help';
  const window = { from: parseInstant('--from', values.from), to: parseInstant('--to', values.to) };
  if (window.from && window.to && window.from >= window.to)
    throw new SimulateError('export-arrivals: --from must be before --to');
  const pageSize = Number(values['page-size'] ?? 1000);
  if (!Number.isInteger(pageSize) || pageSize < 1)
    throw new SimulateError(`export-arrivals: --page-size needs a whole number >= 1`);
  return { window, out: values.out ?? null, pageSize, isQuiet: values.quiet ?? false };
}

/** Rows of one stream, page by page, by its keyset cursor. */
async function* paged<T extends { position: ExportCursor }>(
  read: (cursor: ExportCursor | null) => Promise<T[]>,
  pageSize: number,
): AsyncGenerator<T> {
  let cursor: ExportCursor | null = null;
  for (;;) {
    const page = await read(cursor);
    yield* page;
    if (page.length < pageSize) return;
    cursor = page[page.length - 1]!.position;
  }
}

export interface ExportCounts {
  arrivals: number;
  agentLines: number;
}

/**
 * Writes the window's lines to `write`, agents' and arrivals' streams merged by time (agent lines first at
 * equal times, so an agent who became available at the instant a contact arrived can take it).
 */
export async function exportArrivals(
  repository: SimulationRepository,
  window: ExportWindow,
  write: (line: ArrivalsLine) => Promise<void>,
  options: {
    pageSize?: number;
    /** `done` counts rows read (some agent rows change nothing and write no line), of `total`. */
    onProgress?: (progress: ExportCounts & { done: number; total: number }) => void;
  } = {},
): Promise<ExportCounts> {
  const pageSize = options.pageSize ?? 1000;
  const [arrivalTotal, changeTotal, profiles, initial] = await Promise.all([
    repository.countArrivals(window),
    repository.countStateChanges(window),
    repository.agents(),
    window.from ? repository.statesBefore(window.from) : Promise.resolve([]),
  ]);
  const total = arrivalTotal + changeTotal + initial.length;
  const agentWriter = new AgentLineWriter(profiles);
  const counts: ExportCounts = { arrivals: 0, agentLines: 0 };
  let done = 0;

  const writeAgent = async (change: RecordedStateChange, at?: Date) => {
    done += 1;
    const line = agentWriter.line(change, at);
    if (line) {
      counts.agentLines += 1;
      await write(line);
    }
  };
  for (const change of initial) await writeAgent(change, window.from!);

  const arrivals = paged<RecordedInteraction>(
    (cursor) => repository.arrivalsAfter(window, cursor, pageSize),
    pageSize,
  );
  const changes = paged<RecordedStateChange>(
    (cursor) => repository.stateChangesAfter(window, cursor, pageSize),
    pageSize,
  );
  let arrival = await arrivals.next();
  let change = await changes.next();
  const reportEvery = Math.max(1, Math.min(10_000, pageSize));
  while (!arrival.done || !change.done) {
    const isAgentFirst =
      !change.done && (arrival.done || change.value.at.getTime() <= arrival.value.enqueuedAt.getTime());
    if (isAgentFirst) {
      await writeAgent(change.value as RecordedStateChange);
      change = await changes.next();
    } else {
      done += 1;
      counts.arrivals += 1;
      await write(toArrivalLine(arrival.value as RecordedInteraction));
      arrival = await arrivals.next();
    }
    if (done % reportEvery === 0) options.onProgress?.({ ...counts, done, total });
  }
  // Rows added while the export ran may take `done` past the count taken at the start.
  options.onProgress?.({ ...counts, done, total: Math.max(total, done) });
  return counts;
}

async function writeText(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * Runs the command; returns the exit code. `connect` is called once the arguments are known to be good (it may
 * start local services) and gives the database to read.
 */
export async function runExportArrivals(
  args: readonly string[],
  io: CommandIo,
  connect: () => Promise<Config>,
): Promise<number> {
  const parsed = parseExportArgs(args);
  if (parsed === 'help') {
    io.stdout.write(exportArrivalsHelp);
    return 0;
  }
  const config = await connect();
  const database = openDatabase(config.databaseUrl!, config.databaseSchema, { max: 2 });
  const file = parsed.out ? createWriteStream(parsed.out) : null;
  const say = (text: string) => {
    if (!parsed.isQuiet) io.stderr.write(`export-arrivals: ${text}\n`);
  };
  try {
    const repository = createSimulationRepository(database.db);
    const stream = file ?? (io.stdout instanceof Writable ? io.stdout : null);
    const write = stream
      ? (line: ArrivalsLine) => writeText(stream, `${JSON.stringify(line)}\n`)
      : async (line: ArrivalsLine) => {
          io.stdout.write(`${JSON.stringify(line)}\n`);
        };
    const started = Date.now();
    const counts = await exportArrivals(repository, parsed.window, write, {
      pageSize: parsed.pageSize,
      onProgress: ({ arrivals, agentLines, done, total }) => {
        const percent = total === 0 ? 100 : Math.min(100, Math.floor((100 * done) / total));
        say(
          `${arrivals.toLocaleString('en-US')} arrivals, ${agentLines.toLocaleString('en-US')} agent lines (${percent}%)`,
        );
      },
    });
    if (file) {
      file.end();
      await once(file, 'finish');
    }
    const where = parsed.out ?? 'stdout';
    say(
      `wrote ${counts.arrivals.toLocaleString('en-US')} arrivals and ${counts.agentLines.toLocaleString('en-US')} ` +
        `agent lines to ${where} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    return 0;
  } catch (error) {
    if ((error as { code?: string }).code === '42P01')
      throw new SimulateError(
        `export-arrivals: the database schema is behind (${(error as Error).message}): run switchboard migrate`,
      );
    throw error;
  } finally {
    if (file && !file.closed) file.destroy();
    await database.close();
  }
}

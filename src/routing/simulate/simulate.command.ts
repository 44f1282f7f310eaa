/*
 * `switchboard simulate`: loads a rule folder, reads an arrivals file line by line (a bad line is reported with
 * its number and reason, and skipped; `--strict` stops at it instead), replays it with the simulation core and
 * prints the report. Progress goes to stderr, the report to stdout, so `--json > report.json` stays clean.
 * Needs no database.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError } from '../../config.js';
import { channels, type Channel } from '../../interactions/inbound-contact.js';
import { RulesStore } from '../rules/rules.loader.js';
import type { RuleSet } from '../rules/rules.schema.js';
import { ArrivalsReader, type LineProblem, type SimulationEvent } from './arrivals.schema.js';
import { formatReport } from './report.text.js';
import { simulate, simulationDefaults } from './simulation.engine.js';

/** A usage or input problem: main.ts prints the message alone and exits 1. */
export class SimulateError extends ConfigError {
  override name = 'SimulateError';
}

export interface CommandOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CommandIo {
  stdout: CommandOutput;
  stderr: CommandOutput;
  /** For `--arrivals -`. */
  stdin?: Readable;
}

export const simulateHelp = `Usage: switchboard simulate --arrivals <file.ndjson> [--rules <dir>] [options]

Replays recorded arrivals and agent availability against a routing rule folder, on a simulated clock, and
prints per queue: contacts, wait p50/p90, service level, abandonment; per agent: contacts handled, occupancy,
peak load; and the difference from what really happened. Needs no database.

Options:
  --arrivals <file>        the arrivals file (newline-delimited JSON; '-' reads stdin)
  --rules <dir>            the rule folder (default: ROUTING_RULES_DIR or routing-rules)
  --answer-seconds <n>     an offer with no recorded answer is accepted after n seconds (default ${simulationDefaults.answerSeconds})
  --handle-seconds <list>  default handle times, e.g. voice=300,chat=600 (default ${Object.entries(
    simulationDefaults.handleSeconds,
  )
    .map(([c, s]) => `${c}=${s}`)
    .join(',')})
  --json                   print the report as JSON
  --strict                 stop at the first bad line (default: report it and skip it)
  --progress-every <n>     progress on stderr every n lines and events (default ${simulationDefaults.progressEvery})
  --quiet                  no progress
  -h, --help               this help

The arrivals file: one JSON object per line, in any order (sorted by "at"; ties keep file order).
  {"type":"agent","at":"2026-11-17T14:00:00Z","agentId":"ana","state":"available",
   "skills":{"billing":3},"capacity":{"chat":2}}
      state: available | away | offline (on_contact and wrap_up read as available). skills and capacity
      are optional; given, they replace the agent's from then on (capacity overrides the rule defaults).
  {"type":"arrival","at":"2026-11-17T14:03:00Z","interactionId":"i-1","channel":"voice",
   "facts":{"ivrChoice":1,"receivedOn":"+18005550100","customerTier":"gold","accountId":"acme",
            "subject":"...","text":"...","locale":"en-US"},
   "customerId":"c-1","accountOwnerId":"ana","recentAgents":[{"agentId":"ana","at":"..."}],
   "handleSeconds":240,"patienceSeconds":95,
   "offers":[{"agentId":"ana","outcome":"rejected","afterSeconds":4}],
   "actual":{"queue":"billing","waitSeconds":12.5,"agentId":"ben","abandoned":false}}
      Only type, at, interactionId and channel are required. handleSeconds: default per channel.
      patienceSeconds: the customer leaves after that long unless answered (record it for contacts that
      really abandoned). offers: real answers, used when the simulation offers to the same agent; other
      offers are accepted after --answer-seconds. actual: what really happened, for the comparison.
`;

interface SimulateArgs {
  arrivals: string;
  rules: string;
  answerSeconds: number;
  handleSeconds: Partial<Record<Channel, number>>;
  isJson: boolean;
  isStrict: boolean;
  progressEvery: number;
  isQuiet: boolean;
}

function parseSimulateArgs(args: readonly string[], defaultRulesDir: string): SimulateArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        arrivals: { type: 'string' },
        rules: { type: 'string' },
        'answer-seconds': { type: 'string' },
        'handle-seconds': { type: 'string' },
        json: { type: 'boolean' },
        strict: { type: 'boolean' },
        'progress-every': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new SimulateError(`simulate: ${(error as Error).message} (see switchboard simulate --help)`);
  }
  if (parsed.help) return 'help';
  if (!parsed.arrivals) throw new SimulateError('simulate: --arrivals <file> is required (see --help)');
  return {
    arrivals: parsed.arrivals,
    rules: parsed.rules ?? defaultRulesDir,
    answerSeconds: nonNegative(
      '--answer-seconds',
      parsed['answer-seconds'],
      simulationDefaults.answerSeconds,
    ),
    handleSeconds: parseHandleSeconds(parsed['handle-seconds']),
    isJson: parsed.json ?? false,
    isStrict: parsed.strict ?? false,
    progressEvery: Math.max(
      1,
      Math.floor(nonNegative('--progress-every', parsed['progress-every'], simulationDefaults.progressEvery)),
    ),
    isQuiet: parsed.quiet ?? false,
  };
}

function nonNegative(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0)
    throw new SimulateError(`simulate: ${flag} needs a number >= 0, got '${text}'`);
  return value;
}

/** `voice=300,chat=600` */
function parseHandleSeconds(text: string | undefined): Partial<Record<Channel, number>> {
  if (text === undefined) return {};
  const result: Partial<Record<Channel, number>> = {};
  for (const part of text.split(',')) {
    const [channel = '', seconds] = part.split('=').map((s) => s.trim());
    if (!(channels as readonly string[]).includes(channel))
      throw new SimulateError(
        `simulate: --handle-seconds: '${channel}' is not a channel (${channels.join(', ')})`,
      );
    result[channel as Channel] = nonNegative(`--handle-seconds ${channel}`, seconds ?? '', 0);
  }
  return result;
}

async function loadRules(dir: string): Promise<RuleSet> {
  const outcome = await new RulesStore(dir).load();
  if (outcome.status === 'refused') {
    const problems = outcome.problems.map((p) =>
      p.line > 0 ? `  ${p.file}:${p.line}:${p.column}  ${p.reason}` : `  ${p.file}  ${p.reason}`,
    );
    throw new SimulateError(`simulate: the rules in ${dir} are refused:\n${problems.join('\n')}`);
  }
  return outcome.rules;
}

/** Writes progress lines; on a terminal each replaces the last. */
function progressPrinter(stderr: CommandOutput, isQuiet: boolean) {
  let isOpen = false;
  return {
    update(text: string) {
      if (isQuiet) return;
      if (stderr.isTTY) {
        stderr.write(`\r\x1b[K${text}`);
        isOpen = true;
      } else stderr.write(`${text}\n`);
    },
    done(text: string) {
      if (isQuiet) return;
      stderr.write(stderr.isTTY ? `\r\x1b[K${text}\n` : `${text}\n`);
      isOpen = false;
    },
    interrupt(text: string) {
      if (isOpen) stderr.write('\n');
      isOpen = false;
      stderr.write(`${text}\n`);
    },
  };
}

const count = (n: number) => n.toLocaleString('en-US');
const shownProblems = 20;

/** Runs the command; returns the exit code. */
export async function runSimulate(
  args: readonly string[],
  io: CommandIo,
  options: { defaultRulesDir: string },
): Promise<number> {
  const parsed = parseSimulateArgs(args, options.defaultRulesDir);
  if (parsed === 'help') {
    io.stdout.write(simulateHelp);
    return 0;
  }
  const started = Date.now();
  const progress = progressPrinter(io.stderr, parsed.isQuiet);
  const rules = await loadRules(parsed.rules);

  const fromStdin = parsed.arrivals === '-';
  let size = 0;
  if (!fromStdin) {
    try {
      size = (await stat(parsed.arrivals)).size;
    } catch (error) {
      throw new SimulateError(`simulate: cannot read ${parsed.arrivals}: ${(error as Error).message}`);
    }
  }
  const source = fromStdin ? (io.stdin ?? process.stdin) : createReadStream(parsed.arrivals);
  const name = fromStdin ? 'stdin' : parsed.arrivals;
  const reader = new ArrivalsReader();
  const events: SimulationEvent[] = [];
  const problems: LineProblem[] = [];
  let lineNumber = 0;
  const lines = createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    lineNumber += 1;
    const outcome = reader.read(text, lineNumber);
    if (outcome.status === 'event') events.push(outcome.event);
    else if (outcome.status === 'refused') {
      if (parsed.isStrict) {
        lines.close();
        source.destroy();
        throw new SimulateError(`simulate: ${name}:${outcome.problem.line}: ${outcome.problem.reason}`);
      }
      problems.push(outcome.problem);
      if (problems.length <= shownProblems)
        progress.interrupt(`simulate: ${name}:${outcome.problem.line}: skipped: ${outcome.problem.reason}`);
    }
    if (lineNumber % parsed.progressEvery === 0) {
      const bytes = 'bytesRead' in source ? (source as { bytesRead: number }).bytesRead : 0;
      const percent = size > 0 ? ` (${Math.min(100, Math.floor((100 * bytes) / size))}% of ${name})` : '';
      progress.update(`simulate: read ${count(lineNumber)} lines${percent}`);
    }
  }
  if (problems.length > shownProblems)
    progress.interrupt(`simulate: ... and ${count(problems.length - shownProblems)} more bad lines skipped`);
  progress.done(
    `simulate: read ${count(lineNumber)} lines (100% of ${name}): ${count(events.length)} events` +
      (problems.length > 0 ? `, ${count(problems.length)} bad lines skipped` : ''),
  );

  const report = simulate(rules, events, {
    answerSeconds: parsed.answerSeconds,
    handleSeconds: parsed.handleSeconds,
    progressEvery: parsed.progressEvery,
    onProgress: ({ done, total }) => {
      const percent = total === 0 ? 100 : Math.floor((100 * done) / total);
      const text = `simulate: simulated ${count(done)} of ${count(total)} events (${percent}%)`;
      if (done === total) progress.done(`${text} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      else progress.update(text);
    },
  });

  if (parsed.isJson) {
    io.stdout.write(`${JSON.stringify({ ...report, skippedLines: problems }, null, 2)}\n`);
  } else {
    io.stdout.write(formatReport(report));
    if (problems.length > 0)
      io.stdout.write(`\n${count(problems.length)} bad lines of ${name} were skipped (see stderr).\n`);
  }
  return 0;
}

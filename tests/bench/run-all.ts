import { printSummary, printTable, say, type SummaryLine } from './bench-kit.js';
import { chatRows, chatSummary, runChatBench } from './chat.bench.js';
import { emailRows, emailSummary, runEmailBench } from './email.bench.js';
import { faxRows, faxSummary, runFaxBench } from './fax.bench.js';
import { ingestRows, ingestSummary, runIngestBench } from './ingest.bench.js';
import { liveBoardSummary, printLiveBoardBench, runLiveBoardBench } from './live-board.bench.js';
import { reportsRows, reportsSummary, runReportsBench } from './reports.bench.js';
import { routingRows, routingSummary, runRoutingBench } from './routing.bench.js';
import { printSoak, runSoakBench, soakSummary } from './soak.bench.js';
import { runVoiceBench, voiceRows, voiceSummary, voiceSummaryLines } from './voice.bench.js';

/*
 * npm run bench: every benchmark, one after the other (never two at once: each needs the machine), each
 * one's own table as it ends, then one summary table: each headline figure, the bare baseline measured in
 * the same run, the ratio, the target and the verdict. Last comes the soak (BENCH_SOAK_MINUTES, 10; 0 leaves
 * it out). BENCH_SECONDS sets each measured phase of the first six (default 10). About 35 minutes in all.
 * Exits 1 when a benchmark saw errors or lost work (its figures do not count); a missed target is a
 * verdict, not an error.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const soakMinutes = Number(process.env.BENCH_SOAK_MINUTES ?? 10);
const summary: SummaryLine[] = [];
const started = Date.now();

async function bench<R>(
  name: string,
  run: () => Promise<R>,
  print: (r: R) => void,
  lines: (r: R) => SummaryLine[],
): Promise<void> {
  say(`${name} benchmark (${Math.round((Date.now() - started) / 60_000)} min in)`);
  try {
    const result = await run();
    process.stdout.write('\n');
    print(result);
    process.stdout.write('\n');
    summary.push(...lines(result));
  } catch (error) {
    // One benchmark that cannot run does not hide the others' figures; it is in the summary as such.
    say(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    summary.push({
      benchmark: name,
      figure: 'did not run to its end',
      value: '',
      baseline: '',
      ratio: '',
      target: '',
      verdict: 'ERRORS',
    });
  }
}

await bench(
  'ingest',
  () => runIngestBench(seconds),
  (r) => printTable(ingestRows(r)),
  ingestSummary,
);
await bench(
  'routing',
  () => runRoutingBench(seconds),
  (r) => printTable(routingRows(r)),
  routingSummary,
);
await bench(
  'chat',
  () => runChatBench(seconds),
  (r) => printTable(chatRows(r)),
  chatSummary,
);
await bench(
  'email',
  () => runEmailBench(seconds),
  (r) => printTable(emailRows(r)),
  emailSummary,
);
await bench(
  'voice',
  () => runVoiceBench(seconds),
  (r) => {
    printTable(voiceRows(r));
    for (const line of voiceSummary(r)) say(line);
  },
  voiceSummaryLines,
);
await bench(
  'fax',
  () => runFaxBench(seconds),
  (r) => printTable(faxRows(r)),
  faxSummary,
);
await bench('reports', runReportsBench, (r) => printTable(reportsRows(r)), reportsSummary);
await bench('live board', runLiveBoardBench, printLiveBoardBench, liveBoardSummary);
if (soakMinutes > 0) await bench('soak', runSoakBench, printSoak, soakSummary);

say(
  `summary (${Math.round((Date.now() - started) / 60_000)} min; ratios against bare baselines of this run)`,
);
printSummary(summary);
const wrong = summary.filter((l) => ['ERRORS', 'LOST/DOUBLED'].includes(l.verdict));
if (wrong.length > 0) {
  say(`!!! ${wrong.length} figures do not count (errors or lost work): see their benchmarks above`);
  process.exitCode = 1;
}

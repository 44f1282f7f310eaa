import { printTable, say } from './bench-kit.js';
import { chatRows, runChatBench } from './chat.bench.js';
import { emailRows, runEmailBench } from './email.bench.js';
import { ingestRows, runIngestBench } from './ingest.bench.js';
import { routingRows, runRoutingBench } from './routing.bench.js';
import { runVoiceBench, voiceRows } from './voice.bench.js';

// npm run bench — every benchmark, one summary table. BENCH_SECONDS sets each measured phase (default 10).
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
say('ingest benchmark');
const ingest = await runIngestBench(seconds);
say('routing benchmark');
const routing = await runRoutingBench(seconds);
say('chat benchmark');
const chat = await runChatBench(seconds);
say('email benchmark');
const email = await runEmailBench(seconds);
say('voice benchmark');
const voice = await runVoiceBench(seconds);
process.stdout.write('\n');
printTable(ingestRows(ingest));
process.stdout.write('\n');
printTable(routingRows(routing));
process.stdout.write('\n');
printTable(chatRows(chat));
process.stdout.write('\n');
printTable(emailRows(email));
process.stdout.write('\n');
printTable(voiceRows(voice));

/*
 * The server process of `npm run bench:voice`: the whole app as production runs it (buildApp, the job worker
 * in process, logger at warn), with the phone channel on, plus, on a port of its own, the bench's baseline: a
 * bare Fastify instance with @fastify/formbody and one POST route that answers a fixed small TwiML document
 * (no signature check, no application work). Both live in this one process, apart from the load generator,
 * so that the generator does not share their event loop.
 *
 * Run: node --import tsx tests/bench/voice-server.ts (started by voice.bench.ts through startWorkerProcess)
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, ROUTING_RULES_DIR, WATCH_ROUTING_RULES (read
 * by loadConfig). The phone channel's settings come with the start command, so that the bench does not have
 * to change its own environment.
 * Protocol, one command per stdin line and one answer per stdout line:
 *   `start <json { authToken, publicBaseUrl }>` -> `ready <json { port, barePort, pid }>` once both listen
 *   `phase-start`                               -> `phase-started`: zeroes the counters of `phase-end`
 *   `phase-end`  -> `phase <json { cpuMs, loopDelayP99Ms, loopDelayMaxMs }>`: this process's CPU time (user +
 *                   system) since `phase-start`, and its event loop's delay (sampled every 10 ms)
 *   `profile-start`                             -> `profiling` (a CPU profile of this process, via inspector)
 *   `profile-stop <file>`                       -> `profiled <file>` once written (.cpuprofile, for DevTools)
 *   `exit` or stdin EOF -> closes and exits 0
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import formBody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { runWorker, writeLine } from '../support/worker-process.js';

/** What the bare route answers: about the size of one IVR menu turn's document, with its Gather. */
const bareTwiml =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf speech" ' +
  'action="https://switchboard.bench.example/webhooks/twilio/voice/ivr?seq=2" method="POST" timeout="5" ' +
  'actionOnEmptyResult="true" numDigits="1" language="en-US" speechTimeout="auto">' +
  '<Say language="en-US" voice="Polly.Joanna-Neural">For billing, press 1. For claims, press 2. For our ' +
  'opening hours, press 4. For anything else, press 0.</Say></Gather></Response>';

const loopDelayResolutionMs = 10;

async function main(): Promise<void> {
  let app: FastifyInstance | undefined;
  let bare: FastifyInstance | undefined;
  let profiler: Session | undefined;
  const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
  loopDelay.enable();
  let cpuAtStart = process.cpuUsage();
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      const [command = '', ...rest] = line.trim().split(' ');
      const argument = rest.join(' ');
      if (command === 'exit') break;
      if (command === 'start') {
        const phone = JSON.parse(argument) as { authToken: string; publicBaseUrl: string };
        const base = loadConfig(process.env);
        const config = {
          ...base,
          publicBaseUrl: phone.publicBaseUrl,
          phone: { ...base.phone, authToken: phone.authToken },
        };
        ({ app } = await buildApp({ config, logger: { level: 'warn' }, isWorker: true }));
        await app.listen({ host: '127.0.0.1', port: 0 });
        const { port } = app.server.address() as AddressInfo;

        bare = Fastify({ logger: false });
        await bare.register(formBody);
        bare.post('/twiml', async (_request, reply) => reply.type('text/xml; charset=utf-8').send(bareTwiml));
        await bare.listen({ host: '127.0.0.1', port: 0 });
        const barePort = (bare.server.address() as AddressInfo).port;
        await writeLine(`ready ${JSON.stringify({ port, barePort, pid: process.pid })}`);
      } else if (command === 'phase-start') {
        loopDelay.reset();
        cpuAtStart = process.cpuUsage();
        await writeLine('phase-started');
      } else if (command === 'phase-end') {
        const cpu = process.cpuUsage(cpuAtStart);
        await writeLine(
          `phase ${JSON.stringify({
            cpuMs: (cpu.user + cpu.system) / 1000,
            // The histogram holds whole intervals between samples: the delay is what exceeds the 10 ms.
            loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - loopDelayResolutionMs),
            loopDelayMaxMs: Math.max(0, loopDelay.max / 1e6 - loopDelayResolutionMs),
          })}`,
        );
      } else if (command === 'profile-start') {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
        await profiler.post('Profiler.start');
        await writeLine('profiling');
      } else if (command === 'profile-stop') {
        if (!profiler) throw new Error('profile-stop without profile-start');
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        profiler = undefined;
        mkdirSync(dirname(argument), { recursive: true });
        writeFileSync(argument, JSON.stringify(profile));
        await writeLine(`profiled ${argument}`);
      } else {
        throw new Error(`unknown command '${command}'`);
      }
    }
  } finally {
    loopDelay.disable();
    profiler?.disconnect();
    await bare?.close();
    await app?.close();
  }
}

runWorker('voice-server', main);

/*
 * A separate server process for tests/integration/routing-concurrency.test.ts: it builds the real app on the
 * test's schema, key prefix and rule folder, then, on command, routes as hard as it can: dispatch passes
 * (several at once), answers to any live offer (accept, reject, or a timeout by hand), and agents going away
 * and coming back (which dispatches for them), all racing the other processes doing the same.
 *
 * Run: node --import tsx tests/support/routing-worker.ts
 * Env: DATABASE_URL, REDIS_URL, DATABASE_SCHEMA, REDIS_PREFIX, ROUTING_RULES_DIR (read by loadConfig).
 * Protocol, one command per stdin line and one answer per stdout line:
 *   (start)                -> `ready` once the app is built and its Postgres pool is warm
 *   `go <json RoundSpec>`  -> `result <json RoutingWorkerSummary>`: starts at `startAt` (wall clock), so that
 *                             several workers given the same instant start together, routes its own contacts
 *                             one by one all at once, then runs rounds until nothing is left to offer or answer
 *   `exit` or stdin EOF    -> closes the app and exits 0
 */
import { createInterface } from 'node:readline';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { isAppError } from '../../src/errors.js';
import { runWorker, wallClock, writeLine } from './worker-process.js';

export interface RoundSpec {
  startAt: number;
  seed: number;
  agentIds: string[];
  /** Contacts this worker first routes one by one, all at once (as if each had just arrived here). */
  contactIds: string[];
}

export interface RoutingWorkerSummary {
  pid: number;
  offersCreated: number;
  accepted: number;
  rejected: number;
  expired: number;
  /** Answers refused because the offer was settled by someone else first (OFFER_NOT_LIVE). */
  lostAnswers: number;
  /** Claims refused because another process took the contact or filled the agent first. */
  lostRaces: number;
  stateToggles: number;
  rounds: number;
  /** Anything else that threw: a correct engine never throws on a race. */
  errors: string[];
  startedAt: number;
  finishedAt: number;
}

const poolWarmth = 20;
const maxRounds = 500;
const parallelDispatches = 3;

/** mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
function randomFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  const { app, services } = await buildApp({ config: loadConfig(process.env), isWorker: false });
  try {
    await app.ready();
    await Promise.all(Array.from({ length: poolWarmth }, () => services.pool.query('select 1')));
    await writeLine('ready');

    for await (const line of createInterface({ input: process.stdin })) {
      const space = line.indexOf(' ');
      const command = space < 0 ? line.trim() : line.slice(0, space);
      if (command === 'exit') break;
      if (command !== 'go') throw new Error(`unknown command '${command}'`);
      const spec = JSON.parse(line.slice(space + 1)) as RoundSpec;
      const random = randomFrom(spec.seed);
      const summary: RoutingWorkerSummary = {
        pid: process.pid,
        offersCreated: 0,
        accepted: 0,
        rejected: 0,
        expired: 0,
        lostAnswers: 0,
        lostRaces: 0,
        stateToggles: 0,
        rounds: 0,
        errors: [],
        startedAt: 0,
        finishedAt: 0,
      };
      const guard = async (work: () => Promise<void>) => {
        try {
          await work();
        } catch (error) {
          if (isAppError(error) && error.code === 'OFFER_NOT_LIVE') summary.lostAnswers += 1;
          else summary.errors.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
        }
      };
      const dispatch = () =>
        guard(async () => {
          const outcome = await services.routing.dispatcher.dispatch();
          summary.offersCreated += outcome.offers.length;
          summary.lostRaces += outcome.lostRaces;
        });

      await new Promise((resolve) => setTimeout(resolve, Math.max(0, spec.startAt - wallClock())));
      summary.startedAt = wallClock();
      // The arrival burst: every contact routed on its own, concurrently, while the other processes do the
      // same with theirs: many claims on the same few best agents at the same instant.
      await Promise.all(
        spec.contactIds.map((id) =>
          guard(async () => {
            const outcome = await services.routing.dispatcher.dispatch({ interactionIds: [id] });
            summary.offersCreated += outcome.offers.length;
            summary.lostRaces += outcome.lostRaces;
          }),
        ),
      );
      let quietRounds = 0;
      while (summary.rounds < maxRounds && quietRounds < 3) {
        summary.rounds += 1;
        const before = summary.offersCreated + summary.accepted + summary.rejected + summary.expired;
        await Promise.all(Array.from({ length: parallelDispatches }, dispatch));

        const { rows: live } = await services.pool.query<{ id: string; agent_id: string }>(
          `select id, agent_id from offers where status = 'offered'`,
        );
        const work: Promise<void>[] = [];
        for (const offer of live) {
          const roll = random();
          if (roll < 0.45) {
            work.push(
              guard(async () => {
                await services.routing.offers.accept(offer.id, offer.agent_id);
                summary.accepted += 1;
              }),
            );
          } else if (roll < 0.7) {
            work.push(
              guard(async () => {
                await services.routing.offers.reject(offer.id, offer.agent_id, 'busy');
                summary.rejected += 1;
              }),
            );
          } else if (roll < 0.85) {
            work.push(
              guard(async () => {
                if ((await services.routing.offers.expire(offer.id)) === 'expired') summary.expired += 1;
                else summary.lostAnswers += 1;
              }),
            );
          } // else: left for a later round or another process
        }
        // Agents go away and come back while the others route: coming back dispatches for them.
        if (summary.rounds <= 20 && random() < 0.5) {
          const agentId = spec.agentIds[Math.floor(random() * spec.agentIds.length)]!;
          work.push(
            guard(async () => {
              await services.agentStates.setState(agentId, 'away', 'coffee');
              await services.agentStates.setState(agentId, 'available');
              summary.stateToggles += 1;
            }),
          );
        }
        await Promise.all(work);
        const after = summary.offersCreated + summary.accepted + summary.rejected + summary.expired;
        quietRounds = after === before && live.length === 0 ? quietRounds + 1 : 0;
      }
      summary.finishedAt = wallClock();
      await writeLine(`result ${JSON.stringify(summary)}`);
    }
  } finally {
    await app.close();
  }
}

runWorker('routing-worker', main);

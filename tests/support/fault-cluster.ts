/*
 * Server processes and agent consoles for the fault suite (tests/faults/). A node is a whole server process
 * (tests/support/cluster-node.ts: HTTP, sockets on the Redis adapter, the job worker, mailbox readers) that
 * a test may kill with SIGKILL. A console is an agent's socket.io client with reconnection on, as the
 * browser console has it, pointed at a URL that may lead to any node (a fault proxy, tests/support/
 * fault-proxy.ts, plays the balancer); it answers offers as the test tells it to.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import type { Config } from '../../src/config.js';
import type {
  AckResult,
  AgentClientToServerEvents,
  AgentRequestResults,
  AgentServerToClientEvents,
  OfferPush,
  StatePush,
} from '../../src/realtime/index.js';
import type { ClusterNodeStart } from './cluster-node.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

export interface FaultNode {
  name: string;
  worker: WorkerProcess;
  port: number;
  pid: number;
  url: string;
  logFile: string;
  /** Ids of the offers this process created, complete even after a SIGKILL (written synchronously). */
  offerIds(): Set<string>;
  kill(): void;
}

const logDir = mkdtempSync(join(tmpdir(), 'sb-faults-'));

export async function startNode(
  name: string,
  config: Config,
  start: Omit<ClusterNodeStart, 'logFile' | 'offerLog'>,
): Promise<FaultNode> {
  const worker = startWorkerProcess(new URL('./cluster-node.ts', import.meta.url), config, 120_000);
  const logFile = join(logDir, `${name}-${process.pid}.log`);
  const offerLog = join(logDir, `${name}-${process.pid}.offers`);
  appendFileSync(offerLog, '');
  worker.send(`start ${JSON.stringify({ ...start, logFile, offerLog } satisfies ClusterNodeStart)}`);
  const { port, pid } = JSON.parse(await worker.expectLine('ready')) as { port: number; pid: number };
  return {
    name,
    worker,
    port,
    pid,
    url: `http://127.0.0.1:${port}`,
    logFile,
    offerIds: () => new Set(readFileSync(offerLog, 'utf8').split('\n').filter(Boolean)),
    kill: () => process.kill(pid, 'SIGKILL'),
  };
}

/** The node's warnings and errors (pino JSON lines), for a failure message. */
export function nodeLog(node: FaultNode): string {
  return existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8').slice(-4000) : '';
}

type Client = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;

export interface FaultConsole {
  agentId: string;
  socket: Client;
  /** Every offer pushed to this console, resent ones included. */
  offers: OfferPush[];
  states: StatePush[];
  /** How many times the socket connected (1 + reconnects). */
  connects(): number;
  /** Offers this console accepted (acknowledged ok). */
  accepted: Set<string>;
  /** Sets the agent's state over the socket; resolves with whether the server took it. */
  setState(state: 'available' | 'offline'): Promise<boolean>;
  /** From now on, offers for which `shouldAccept` is true are accepted (a pushed one, and the live ones). */
  acceptWhen(shouldAccept: (offer: OfferPush) => boolean): void;
  close(): void;
}

export function openConsole(url: string, agentId: string, cookie: string, origin: string): FaultConsole {
  const socket: Client = connectClient(`${url}/agent`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 2000,
    timeout: 20_000,
    extraHeaders: { origin, cookie },
  });
  const offers: OfferPush[] = [];
  const states: StatePush[] = [];
  const accepted = new Set<string>();
  const answering = new Set<string>();
  let connects = 0;
  let shouldAccept: (offer: OfferPush) => boolean = () => false;
  const answer = (offer: OfferPush) => {
    if (answering.has(offer.offerId) || !shouldAccept(offer)) return;
    answering.add(offer.offerId);
    socket
      .timeout(20_000)
      .emitWithAck('offer:accept', { offerId: offer.offerId })
      .then(
        (answer) => {
          const result = answer as AckResult<AgentRequestResults['offer:accept']>;
          if (result.ok) accepted.add(offer.offerId);
        },
        () => undefined, // no answer (the process died meanwhile): the offer expires and comes back
      )
      .finally(() => answering.delete(offer.offerId));
  };
  socket.on('connect', () => (connects += 1));
  socket.on('state', (state) => states.push(state));
  socket.on('offer', (offer) => {
    offers.push(offer);
    answer(offer);
  });
  return {
    agentId,
    socket,
    offers,
    states,
    connects: () => connects,
    accepted,
    async setState(state) {
      const answer = (await socket.timeout(20_000).emitWithAck('state:set', { state })) as AckResult<
        AgentRequestResults['state:set']
      >;
      return answer.ok;
    },
    acceptWhen(predicate) {
      shouldAccept = predicate;
      for (const offer of offers) answer(offer);
    },
    close: () => socket.disconnect(),
  };
}

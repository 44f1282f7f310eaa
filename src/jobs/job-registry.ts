import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';

/*
 * The job registry: every job name maps to exactly one handler, checked when the registry is built, so a
 * process refuses to start with a job nobody handles. Handlers are retry-safe: jobs carry the id of what
 * they work on and may run more than once. A handler throws PermanentJobError for failures that retrying
 * cannot fix.
 */

export interface JobPayloads {
  /** Delayed to the end of an agent's presence grace: offline if no console socket came back (realtime/). */
  'agents.presence-check': { agentId: string };
  /** Repeating: sets offline the agents whose sockets vanished with a killed process (no disconnect seen). */
  'agents.sweep-presence': Record<string, never>;
  /** Repeating: checks customers flagged by ingest for duplicates (see duplicate-detector.service.ts). */
  'customers.sweep-duplicates': Record<string, never>;
  /** Delayed to an offer's expiry, keyed by the offer id: expires it if still live (else does nothing). */
  'routing.expire-offer': { offerId: string };
  /**
   * Delayed to an instant that ends a 100 ms step of offer expiries, keyed by it (one job for all the offers
   * due by then, whichever process made them): expires every live offer due (see dispatch.service.ts).
   */
  'routing.expire-offers': { dueAtMs: number };
  /**
   * Repeating: what a lost job or a killed process left undone: live offers past their expiry, interactions
   * ingested but never queued, wrap-ups past their end (see routing.service.ts sweep).
   */
  'routing.sweep-overdue-offers': Record<string, never>;
  /** Delivers an agent's reply through its channel's sender, keyed by the message.sent event id. */
  'messages.deliver': { eventId: string };
  /** Routes a new interaction (enqueue by the rules, then dispatch it); retry-safe. */
  'routing.route': { interactionId: string };
  /** Dispatches one waiting contact again (an account-owner wait reached its deadline). */
  'routing.dispatch': { interactionId: string };
  /** Delayed to an agent's wrap-up end: returns them to work if still in that wrap-up. */
  'routing.end-wrap-up': { agentId: string };
  /** Repeating: applies escalation steps that fell due (see escalation.service.ts). */
  'routing.escalate': Record<string, never>;
  /** Downloads a call's recording (a voicemail, a recorded call) and logs it, keyed by the recording id. */
  'phone.fetch-recording': {
    callSid: string;
    recordingSid: string;
    recordingUrl: string;
    durationSeconds: number | null;
    /** A voicemail the customer left (their message), or a recording of a call with an agent. */
    kind: 'voicemail' | 'call';
  };
  /** At its time: a scheduled callback becomes a call contact, routed; the accepting agent calls. */
  'phone.scheduled-callback': {
    number: string;
    /** The contact center's number the call comes from. */
    from: string;
    at: string;
    byAgentId: string;
    interactionId: string | null;
    note: string | null;
  };
  /**
   * Logs one fax report (a fax row's best report, by its rank): downloads the document when the provider
   * only linked it, converts it, makes page previews, reads its text, and ingests the contact. Retry-safe:
   * a report already logged is not logged again; the last attempt logs the fax flagged, without a document
   * it could not get.
   */
  'fax.process': { faxId: string; rank: number };
  /** Repeating: rolls up the hours that are over for historical reports (see src/reports/rollups.ts). */
  'reports.rollup': Record<string, never>;
  /** Repeating: keeps SLA clocks in step with the log, and settles warnings and breaches (src/sla/). */
  'sla.sweep': Record<string, never>;
  /** Connects an agent to a call contact they took, when doing it right away failed (retry-safe). */
  'phone.connect-agent': { interactionId: string; agentId: string };
}

export type JobName = keyof JobPayloads;
/** How far along its retries a job is: a handler may give up in its own way on the last attempt. */
export interface JobAttempt {
  /** 1 on the first run. */
  attempt: number;
  isLastAttempt: boolean;
}
export type JobHandlers = {
  [N in JobName]: (data: JobPayloads[N], attempt: JobAttempt) => Promise<void>;
};

export class PermanentJobError extends UnrecoverableError {
  override name = 'PermanentJobError';
}

const queueName = 'switchboard';
/**
 * Jobs that keep a worker busy for seconds (converting and reading a fax: about a second of CPU a page) run
 * in a lane of their own, one at a time per process, so that a burst of them never holds the slots that
 * timers (offer expiries, wrap-up ends) need.
 */
const slowJobs: ReadonlySet<string> = new Set<JobName>(['fax.process']);
const slowQueueName = 'switchboard-slow';

export interface JobQueue {
  enqueue<N extends JobName>(
    name: N,
    data: JobPayloads[N],
    options?: {
      jobId?: string;
      delayMs?: number;
      /** Tries before the handler's last attempt, and the first retry's delay (doubling); else the defaults. */
      attempts?: number;
      backoffMs?: number;
    },
  ): Promise<void>;
  /** A repeating job, one schedule across all processes (re-scheduling replaces it). */
  schedule<N extends JobName>(name: N, everyMs: number): Promise<void>;
  close(): Promise<void>;
}

export function createJobQueue(connection: ConnectionOptions, prefix: string): JobQueue {
  const options = {
    connection,
    prefix: `${prefix}bull`,
    defaultJobOptions: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  };
  const queue = new Queue(queueName, options);
  const slowQueue = new Queue(slowQueueName, options);
  const queueOf = (name: JobName) => (slowJobs.has(name) ? slowQueue : queue);
  return {
    async enqueue(name, data, options = {}) {
      await queueOf(name).add(name, data, {
        ...(options.jobId && { jobId: options.jobId }),
        ...(options.delayMs && { delay: options.delayMs }),
        ...(options.attempts && { attempts: options.attempts }),
        ...(options.backoffMs && { backoff: { type: 'exponential', delay: options.backoffMs } }),
      });
    },
    async schedule(name, everyMs) {
      await queueOf(name).upsertJobScheduler(name, { every: everyMs }, { name, data: {} });
    },
    close: async () => {
      await Promise.all([queue.close(), slowQueue.close()]);
    },
  };
}

export function startJobWorker(
  connection: ConnectionOptions,
  prefix: string,
  handlers: JobHandlers,
  log: FastifyBaseLogger,
): { close(): Promise<void> } {
  const known = new Set(Object.keys(handlers));
  const work = async (job: Job) => {
    if (!known.has(job.name)) throw new PermanentJobError(`no handler for job '${job.name}'`);
    const handler = handlers[job.name as JobName] as (data: unknown, attempt: JobAttempt) => Promise<void>;
    const attempt = job.attemptsMade + 1;
    await handler(job.data, { attempt, isLastAttempt: attempt >= (job.opts.attempts ?? 1) });
  };
  const workers = [
    new Worker(queueName, work, { connection, prefix: `${prefix}bull`, concurrency: 8 }),
    new Worker(slowQueueName, work, { connection, prefix: `${prefix}bull`, concurrency: 1 }),
  ];
  for (const worker of workers) {
    worker.on('failed', (job, error) =>
      log.warn({ job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: error }, 'job failed'),
    );
    worker.on('error', (error) => log.error({ err: error }, 'job worker error'));
  }
  return {
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}

import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';

/*
 * The job registry: every job name maps to exactly one handler, checked when the registry is built, so a
 * process refuses to start with a job nobody handles. Handlers are retry-safe: jobs carry the id of what
 * they work on and may run more than once. A handler throws PermanentJobError for failures that retrying
 * cannot fix.
 */

export interface JobPayloads {
  /** Repeating: checks customers flagged by ingest for duplicates (see duplicate-detector.service.ts). */
  'customers.sweep-duplicates': Record<string, never>;
  /** Delayed to an offer's expiry, keyed by the offer id: expires it if still live (else does nothing). */
  'routing.expire-offer': { offerId: string };
  /** Repeating: expires live offers whose timeout job was lost (see offers.service.ts expireOverdue). */
  'routing.sweep-overdue-offers': Record<string, never>;
}

export type JobName = keyof JobPayloads;
export type JobHandlers = { [N in JobName]: (data: JobPayloads[N]) => Promise<void> };

export class PermanentJobError extends UnrecoverableError {
  override name = 'PermanentJobError';
}

const queueName = 'switchboard';

export interface JobQueue {
  enqueue<N extends JobName>(
    name: N,
    data: JobPayloads[N],
    options?: { jobId?: string; delayMs?: number },
  ): Promise<void>;
  /** A repeating job, one schedule across all processes (re-scheduling replaces it). */
  schedule<N extends JobName>(name: N, everyMs: number): Promise<void>;
  close(): Promise<void>;
}

export function createJobQueue(connection: ConnectionOptions, prefix: string): JobQueue {
  const queue = new Queue(queueName, {
    connection,
    prefix: `${prefix}bull`,
    defaultJobOptions: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  return {
    async enqueue(name, data, options = {}) {
      await queue.add(name, data, {
        ...(options.jobId && { jobId: options.jobId }),
        ...(options.delayMs && { delay: options.delayMs }),
      });
    },
    async schedule(name, everyMs) {
      await queue.upsertJobScheduler(name, { every: everyMs }, { name, data: {} });
    },
    close: () => queue.close(),
  };
}

export function startJobWorker(
  connection: ConnectionOptions,
  prefix: string,
  handlers: JobHandlers,
  log: FastifyBaseLogger,
) {
  const known = new Set(Object.keys(handlers));
  const worker = new Worker(
    queueName,
    async (job: Job) => {
      if (!known.has(job.name)) throw new PermanentJobError(`no handler for job '${job.name}'`);
      const handler = handlers[job.name as JobName] as (data: unknown) => Promise<void>;
      await handler(job.data);
    },
    { connection, prefix: `${prefix}bull`, concurrency: 8 },
  );
  worker.on('failed', (job, error) =>
    log.warn({ job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: error }, 'job failed'),
  );
  worker.on('error', (error) => log.error({ err: error }, 'job worker error'));
  return worker;
}

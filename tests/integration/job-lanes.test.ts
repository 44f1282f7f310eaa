import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createJobQueue,
  startJobWorker,
  type JobHandlers,
  type JobName,
} from '../../src/jobs/job-registry.js';

/*
 * A burst of slow jobs (faxes to convert and read, seconds each) must never hold the slots that timers need:
 * an offer expiry or a wrap-up end due now runs now, whatever is queued in the slow lane.
 */

describe('job lanes', () => {
  const connection = { url: inject('redisUrl'), maxRetriesPerRequest: null };
  const prefix = `t_${randomBytes(5).toString('hex')}:`;
  const jobs = createJobQueue(connection, prefix);
  const stops: (() => Promise<void>)[] = [];

  afterAll(async () => {
    for (const stop of stops) await stop();
    await jobs.close();
  });

  it('runs a timer job at once while slow jobs wait their turn, one at a time', async () => {
    let running = 0;
    let mostAtOnce = 0;
    let slowDone = 0;
    let timerRanAt: number | undefined;
    const noop = async () => {};
    const handlers = Object.fromEntries(
      (
        [
          'agents.presence-check',
          'agents.sweep-presence',
          'customers.sweep-duplicates',
          'routing.expire-offer',
          'routing.expire-offers',
          'routing.sweep-overdue-offers',
          'messages.deliver',
          'routing.route',
          'routing.dispatch',
          'routing.escalate',
          'phone.fetch-recording',
          'phone.scheduled-callback',
          'phone.connect-agent',
        ] satisfies JobName[]
      ).map((name) => [name, noop]),
    ) as unknown as JobHandlers;
    handlers['fax.process'] = async () => {
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      running -= 1;
      slowDone += 1;
    };
    handlers['routing.end-wrap-up'] = async () => {
      timerRanAt = Date.now();
    };
    const worker = startJobWorker(connection, prefix, handlers, pino({ level: 'silent' }));
    stops.push(() => worker.close());

    for (let i = 0; i < 10; i++) await jobs.enqueue('fax.process', { faxId: `fax-${i}`, rank: 3 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const dueAt = Date.now();
    await jobs.enqueue('routing.end-wrap-up', { agentId: 'agent-1' });
    while (timerRanAt === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    // Ten slow jobs of two seconds would hold all eight shared slots for 1.8 s more; a loaded machine
    // still runs a free slot's job well within one.
    expect(timerRanAt - dueAt).toBeLessThan(1000);
    while (slowDone < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mostAtOnce).toBe(1);
  }, 30_000);
});

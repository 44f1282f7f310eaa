import { describe, expect, it } from 'vitest';
import { groupCalls } from '../../src/db/group-calls.js';

/** A call whose batches finish when the test says so. */
function recorder() {
  const batches: { requests: number[]; finish: (error?: Error) => void }[] = [];
  const call = (requests: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({
        requests,
        finish: (error) => (error ? reject(error) : resolve(requests.map((n) => `r${n}`))),
      });
    });
  return { batches, call };
}

/** A few turns of the event loop: enough for a finished call to start the next. */
const turn = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

describe('groupCalls', () => {
  it('sends a lone request at once and groups those that arrive while calls are in flight', async () => {
    const { batches, call } = recorder();
    const grouped = groupCalls(call, { maxInFlight: 1, maxBatch: 10 });
    const first = grouped(1);
    await turn();
    expect(batches.map((b) => b.requests)).toEqual([[1]]);

    const waiting = [grouped(2), grouped(3), grouped(4)];
    await turn();
    expect(batches).toHaveLength(1); // One in flight at most: the others wait together.
    batches[0]!.finish();
    expect(await first).toBe('r1');
    await turn();
    expect(batches.map((b) => b.requests)).toEqual([[1], [2, 3, 4]]);
    batches[1]!.finish();
    expect(await Promise.all(waiting)).toEqual(['r2', 'r3', 'r4']);
  });

  it('never puts more than maxBatch in one call, and keeps maxInFlight calls going', async () => {
    const { batches, call } = recorder();
    const grouped = groupCalls(call, { maxInFlight: 2, maxBatch: 2 });
    const all = [1, 2, 3, 4, 5].map((n) => grouped(n));
    await turn();
    expect(batches.map((b) => b.requests)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    batches[0]!.finish();
    await turn();
    expect(batches.map((b) => b.requests)).toEqual([[1, 2], [3, 4], [5]]);
    batches[1]!.finish();
    batches[2]!.finish();
    expect(await Promise.all(all)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('retries a failed group request by request, so one bad request fails alone', async () => {
    const calls: number[][] = [];
    const grouped = groupCalls(
      async (requests: number[]) => {
        calls.push(requests);
        if (requests.includes(13)) throw new Error(`bad ${requests.join(',')}`);
        return requests.map((n) => n * 2);
      },
      { maxInFlight: 1, maxBatch: 10 },
    );
    const results = await Promise.allSettled([grouped(1), grouped(13), grouped(3)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      2,
      'bad 13',
      6,
    ]);
    expect(calls).toEqual([[1, 13, 3], [1], [13], [3]]);
  });
});

/*
 * Group calls: requests that arrive while a call is running go to Postgres together in the next one (one
 * round trip, one statement, one commit for all), as group commit does for WAL flushes.
 *
 * Requests that arrive while fewer than `maxInFlight` calls are running are sent at the end of the current
 * turn of the event loop (setImmediate): callers woken by one finished call each make their next request
 * within that turn, and these go as one batch instead of one call each. Beyond `maxInFlight` they wait, and
 * those that queued up go together when a call ends. An idle system adds no delay but that turn; a busy one
 * amortizes the round trip, the commit and each statement's fixed cost, which cost more than the work of one
 * request on the hot paths that use this (ingest, routing). A batch that fails is retried request by request,
 * so that one bad request cannot fail the others.
 *
 * `call` gets the requests in arrival order and returns one result per request, in the same order.
 */
export interface GroupOptions {
  maxInFlight: number;
  maxBatch: number;
}

interface Waiting<T, R> {
  request: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export function groupCalls<T, R>(
  call: (requests: T[]) => Promise<R[]>,
  options: GroupOptions,
): (request: T) => Promise<R> {
  const waiting: Waiting<T, R>[] = [];
  let inFlight = 0;
  let isPumpScheduled = false;

  const settleEach = (batch: Waiting<T, R>[]) =>
    Promise.all(batch.map((w) => call([w.request]).then((results) => w.resolve(results[0]!), w.reject)));

  async function send(batch: Waiting<T, R>[]): Promise<void> {
    let results: R[];
    try {
      results = await call(batch.map((w) => w.request));
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else await settleEach(batch);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }

  function pump(): void {
    isPumpScheduled = false;
    while (waiting.length > 0 && inFlight < options.maxInFlight) {
      const batch = waiting.splice(0, options.maxBatch);
      inFlight += 1;
      void send(batch)
        // Unreachable in practice (send settles every request itself); never leave a caller hanging.
        .catch((error: unknown) => batch.forEach((w) => w.reject(error)))
        .finally(() => {
          inFlight -= 1;
          schedulePump();
        });
    }
  }

  function schedulePump(): void {
    if (isPumpScheduled || waiting.length === 0) return;
    isPumpScheduled = true;
    setImmediate(pump);
  }

  return (request: T): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ request, resolve, reject });
      schedulePump();
    });
}

/*
 * Waiting in tests without fixed sleeps: poll a probe until it gives a value, and record a socket's pushes
 * to wait for the next one that matches.
 */

/** Polls `probe` every 20 ms until it returns something other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every event a socket received, in order, and a waiter for the next one that matches. */
export function recorder(socket: { onAny(listener: (name: string, payload: unknown) => void): unknown }) {
  const seen: { name: string; payload: unknown }[] = [];
  socket.onAny((name: string, payload: unknown) => seen.push({ name, payload }));
  return {
    all: (name: string) => seen.filter((e) => e.name === name).map((e) => e.payload),
    next: <T = Record<string, unknown>>(
      name: string,
      match: (payload: T) => boolean = () => true,
      timeoutMs?: number,
    ) =>
      waitFor(
        () => seen.find((e) => e.name === name && match(e.payload as T))?.payload as T | undefined,
        timeoutMs,
      ),
  };
}

import { ensureConsoleBuilt } from '../../web-console/build.js';

/** The e2e tests drive the built console: build it once per run when it is missing or stale. */
export default async function setup() {
  const started = Date.now();
  if (await ensureConsoleBuilt())
    process.stdout.write(`[e2e] built web-console/dist in ${Date.now() - started} ms\n`);
}

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';

/*
 * Builds the console into web-console/dist when the build is missing or older than any of its sources.
 * `npm start` runs this first (the `prestart` script), and so does the e2e test setup, so a fresh clone
 * serves a built console with nothing but `npm install && npm start`. `--force` always builds.
 */

const consoleDir = import.meta.dirname;
export const consoleDistDir = join(consoleDir, 'dist');
const sources = ['index.html', 'vite.config.ts', 'src', 'public'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), 0);
}

export function isConsoleBuildStale(): boolean {
  const built = join(consoleDistDir, 'index.html');
  if (!existsSync(built)) return true;
  const sourcesMtime = Math.max(...sources.map((name) => newestMtime(join(consoleDir, name))));
  return sourcesMtime > statSync(built).mtimeMs;
}

/** Returns whether it built. */
export async function ensureConsoleBuilt(options: { force?: boolean } = {}): Promise<boolean> {
  if (!options.force && !isConsoleBuildStale()) return false;
  await build({ configFile: join(consoleDir, 'vite.config.ts'), logLevel: 'warn' });
  return true;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const hasBuilt = await ensureConsoleBuilt({ force: process.argv.includes('--force') });
  console.log(
    hasBuilt
      ? `web-console: built into web-console/dist in ${Date.now() - started} ms`
      : 'web-console: web-console/dist is up to date',
  );
}

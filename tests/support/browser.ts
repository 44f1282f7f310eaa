import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/*
 * A real Chromium for the end-to-end tests: Debian's package (`apt-get install chromium`; CHROMIUM_PATH
 * names another build), driven by playwright-core, which ships no browser of its own. Headless, and without
 * the sandbox, which cannot start as root in CI containers. Screenshots go to test-results/screenshots/.
 */

export const screenshotsDir = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist`);
    return configured;
  }
  const found = candidates.find((path) => existsSync(path));
  if (!found)
    throw new Error(
      'No Chromium found: apt-get install -y chromium, or set CHROMIUM_PATH to a Chromium binary',
    );
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--mute-audio'],
  });
}

/** Saves a full-page PNG as test-results/screenshots/<name>.png and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotsDir, { recursive: true });
  const path = join(screenshotsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

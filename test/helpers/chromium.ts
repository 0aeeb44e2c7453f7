// Debian's Chromium for the web console's browser tests, driven by playwright-core (which
// downloads no browser). Missing Chromium skips the suite with one loud line, or fails it when
// KEYHOLD_REQUIRE_CHROMIUM=1 (as CI sets), so CI cannot pass by skipping.

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.KEYHOLD_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_INSTALL_HINT = 'apt-get install chromium';
export const REQUIRE_CHROMIUM_ENV = 'KEYHOLD_REQUIRE_CHROMIUM';

let announced = false;

/** `describe` options: `{}` with Chromium, `{ skip }` (said once, loudly) without; throws when required. */
export function chromiumSuite(): { skip?: string } {
  if (existsSync(CHROMIUM)) return {};
  if (process.env[REQUIRE_CHROMIUM_ENV] === '1') {
    throw new Error(
      `${REQUIRE_CHROMIUM_ENV}=1 but Chromium is not installed at ${CHROMIUM}: run '${CHROMIUM_INSTALL_HINT}'`,
    );
  }
  const line = `SKIPPED: Chromium is not installed (${CHROMIUM}), the web console browser tests did not run (${CHROMIUM_INSTALL_HINT})`;
  if (!announced) {
    announced = true;
    process.stderr.write(`\n*** ${line} ***\n\n`);
  }
  return { skip: line };
}

/**
 * Starts headless Chromium without network chatter of its own. Playwright gives every launch a
 * fresh temporary profile (it refuses a --user-data-dir argument), and each context is isolated.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

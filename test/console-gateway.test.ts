// The web console of a KES gateway (a `keystore:` config over KES's fs store, the local stand-in
// for a remote store) in Chromium: the overview shows the store's state, the key-store view its
// kind, path, state, cache settings and occupancy, and the node's recent errors about the store
// (a key file that is not a KES key); an identity the console does not know is refused.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiKey } from '../src/identity/index.ts';
import { chromiumSuite, launchChromium } from './helpers/chromium.ts';
import { apiKeyCert, startKesServer, tempDir } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

const VIEWPORT = { width: 1280, height: 800 };

describe(
  'web console of a KES gateway in Chromium',
  { ...chromiumSuite(), timeout: 90_000 },
  () => {
    const admin = ApiKey.generate('k1');
    const app = ApiKey.generate('k1');
    let server: KesServer;
    let store: string;
    let work = '';
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let base: string;
    let shots: string;

    before(async () => {
      work = tempDir();
      store = join(work, 'keys');
      mkdirSync(store);
      server = await startKesServer({
        dir: work,
        config: `address: 0.0.0.0:7373
admin:
  identity: ${apiKeyCert(admin).identity}
policy:
  app:
    allow:
    - /v1/key/generate/*
    identities:
    - ${apiKeyCert(app).identity}
cache:
  expiry:
    any: 5m
    unused: 30s
    offline: 0s
keystore:
  fs:
    path: ${store}
`,
      });
      base = `https://${server.endpoint}`;
      browser = await launchChromium();
      context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
      context.setDefaultTimeout(15_000);
      page = await context.newPage();
      shots = mkdtempSync(join(tmpdir(), 'keyhold-console-gateway-screenshots-'));
      process.stdout.write(`# console screenshots: ${shots}\n`);
    });
    after(async () => {
      await (browser as Browser | undefined)?.close();
      await (server as KesServer | undefined)?.stop();
      if (work !== '') rmSync(work, { recursive: true, force: true });
    });

    const go = (view: string) =>
      page.getByRole('navigation').getByRole('link', { name: view }).click();

    it('signs in as the admin; the overview shows the key store state', async () => {
      await page.goto(`${base}/console/`);
      await page.getByLabel('API key').fill(admin.toK1());
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await page
        .getByTestId('overview-keystore')
        .getByText(/fs: reachable, \d+ ms/)
        .waitFor();
    });

    it('shows the store, its cache and its recent errors', async () => {
      await go('Keys');
      for (const name of ['gw-a', 'gw-b']) {
        await page.getByLabel('New key').fill(name);
        await page.getByRole('button', { name: 'Create key' }).click();
        await page.locator(`tr[data-key="${name}"]`).waitFor();
      }
      await go('Key store');
      await page.getByTestId('keystore-kind').getByText('fs', { exact: true }).waitFor();
      await page.getByText(`fs ${store}`).waitFor();
      await page.getByTestId('keystore-state').getByText('reachable').waitFor();
      // Listing the keys read both through the cache.
      assert.equal(await page.getByTestId('cache-keys').textContent(), '2');
      await page.getByText('5 min', { exact: true }).waitFor();
      await page.getByText('30 s', { exact: true }).waitFor();
      await page.getByTestId('no-store-errors').waitFor();

      // A file in the store that is not a KES key: listing fails, and the node logs why.
      writeFileSync(join(store, 'gw-broken'), 'not a key', { mode: 0o600 });
      await go('Keys');
      await page.getByTestId('error').getByText('failed to read key').waitFor();
      await go('Key store');
      await page
        .getByText("key store: key 'gw-broken' is not a KES key value", { exact: false })
        .waitFor();
      await page.screenshot({ path: join(shots, 'keystore.png') });
      rmSync(join(store, 'gw-broken'));
      await go('Overview');
      await page
        .getByTestId('overview-keystore')
        .getByText(/reachable/)
        .waitFor();
      await page.screenshot({ path: join(shots, 'overview-gateway.png') });
    });

    it('an identity of the config file policies is refused by the console', async () => {
      // Config-file policies govern the KES API only; the console, like the KMS API, knows the
      // admin of a gateway and nobody else.
      const other = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
      try {
        const p = await other.newPage();
        await p.goto(`${base}/console/`);
        await p.getByLabel('API key').fill(app.toK1());
        await p.getByRole('button', { name: 'Sign in', exact: true }).click();
        await p
          .getByTestId('error')
          .getByText(/is not known to this server/)
          .waitFor();
        assert.equal(await p.getByRole('button', { name: 'Sign out' }).count(), 0);
      } finally {
        await other.close();
      }
    });
  },
);

// The web console in a real browser (Debian's Chromium driven by playwright-core) against a real
// `keyhold server` with two workers: sign in with the root API key, create an enclave, a key, a
// policy and a user, rotate the key, watch the audit tail update, sign out; a user without rights
// sees the refusal; a page on another origin cannot act through the signed-in browser (CSRF); a
// planted session id is not adopted (fixation); a stolen cookie is dead after sign-out.
// Screenshots of every view go to a directory under the OS temp dir (printed).

import assert from 'node:assert/strict';
import { createECDH, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parseApiKey } from '../src/identity/index.ts';
import { chromiumSuite, launchChromium } from './helpers/chromium.ts';
import { SESSION_COOKIE, consoleCall } from './helpers/console-client.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const VIEWPORT = { width: 1280, height: 800 };

describe('web console in Chromium', { ...chromiumSuite(), timeout: 120_000 }, () => {
  let server: ServerProcess;
  let browser: Browser;
  let root: BrowserContext;
  let page: Page;
  let base: string;
  let shots: string;
  let rootIdentity: string;
  /** The user made in the console: its API key (shown once) and identity. */
  let user = { apiKey: '', identity: '' };
  let rootCookie = '';
  /** Every request the root page sent, to check that the API key never left the page. */
  const sent: string[] = [];
  /** Every console API answer the root page got. */
  const answers: string[] = [];

  before(async () => {
    const { dir } = tempDir();
    server = await startServer({
      dir,
      args: ['--workers', '2', '--audit-log', join(dir, 'audit.log')],
    });
    base = `https://${server.endpoint}`;
    rootIdentity = parseApiKey(server.rootApiKey).identity.toH1();
    browser = await launchChromium();
    root = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
    root.setDefaultTimeout(15_000);
    page = await root.newPage();
    page.on('request', (r) => sent.push(`${r.url()} ${r.postData() ?? ''}`));
    page.on('response', (r) => {
      if (r.url().includes('/console/api/') && !r.url().includes('/stream')) {
        r.text().then(
          (text) => answers.push(text),
          () => undefined,
        );
      }
    });
    shots = mkdtempSync(join(tmpdir(), 'keyhold-console-screenshots-'));
    process.stdout.write(`# console screenshots: ${shots}\n`);
  });
  after(async () => {
    // Either may be missing when `before` failed part-way.
    await (browser as Browser | undefined)?.close();
    await (server as ServerProcess | undefined)?.stop();
  });

  const shot = (p: Page, name: string) => p.screenshot({ path: join(shots, `${name}.png`) });

  async function signInAs(p: Page, apiKey: string): Promise<void> {
    await p.goto(`${base}/console/`);
    await p.getByLabel('API key').fill(apiKey);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
    await p.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  /** Follows a link of the console's navigation, as a person would. */
  async function go(p: Page, view: string): Promise<void> {
    await p.getByRole('navigation').getByRole('link', { name: view }).click();
  }

  async function useEnclave(p: Page, enclave: string, view: string): Promise<void> {
    await p.getByLabel('Enclave', { exact: true }).fill(enclave);
    await p.getByLabel('Enclave', { exact: true }).press('Enter');
    await go(p, view);
  }

  it('signs in with the root API key; the key never leaves the page; the cookie is locked down', async () => {
    await page.goto(`${base}/console/`);
    await page.getByLabel('API key').waitFor();
    await shot(page, 'sign-in');
    await page.getByLabel('API key').fill(server.rootApiKey);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByTestId('version').waitFor();
    const seed = server.rootApiKey.slice(3);
    assert.ok(sent.length > 2);
    assert.ok(!sent.some((s) => s.includes(seed)), 'no request carried the API key');
    const cookie = (await root.cookies()).find((c) => c.name === SESSION_COOKIE);
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    rootCookie = cookie.value;
    // The page's script cannot read the session cookie.
    assert.equal(await page.evaluate('document.cookie'), '');
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    assert.equal(await page.getByText('Loading the Keyhold console').count(), 0);
  });

  it('creates an enclave, a key, and rotates it', async () => {
    await go(page, 'Enclaves');
    await page.getByLabel('New enclave').fill('tenant-a');
    await page.getByRole('button', { name: 'Create enclave' }).click();
    await page.getByRole('button', { name: 'tenant-a', exact: true }).waitFor();
    await shot(page, 'enclaves');
    await page.getByRole('button', { name: 'tenant-a', exact: true }).click();
    await page.getByRole('heading', { name: /Keys in tenant-a/ }).waitFor();
    for (const name of ['app-key', 'app-logs', 'billing']) {
      await page.getByLabel('New key').fill(name);
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.locator(`tr[data-key="${name}"]`).waitFor();
    }
    const row = page.locator('tr[data-key="app-key"]');
    assert.equal(await row.getByTestId('versions').textContent(), '1 (v1)');
    await row.getByRole('button', { name: 'Rotate app-key' }).click();
    await page.getByText('Key app-key rotated.').waitFor();
    await row.getByTestId('versions').getByText('2 (v2)').waitFor();
    // Incremental search asks the server for the prefix.
    await page.getByLabel('Search by prefix').fill('app');
    await page.locator('tr[data-key="billing"]').waitFor({ state: 'detached' });
    assert.equal(await page.locator('tr[data-key]').count(), 2);
    await row.getByRole('button', { name: 'app-key', exact: true }).click();
    await page.getByRole('table', { name: 'Versions of app-key' }).waitFor();
    await shot(page, 'keys');
  });

  it('imports a key: typed form, clear errors, the bytes sent once and never echoed', async () => {
    const key = randomBytes(32);
    const hmacKey = randomBytes(32);
    await page.getByLabel('Search by prefix').fill('');
    await page.getByRole('button', { name: 'Import a key…' }).click();
    const form = page.getByRole('form', { name: 'Import a key' });
    await form.getByLabel('Name').fill('imported-a');
    await form.getByLabel('Encoding').selectOption('hex');
    // Checked in the page first: a short key, then text that is not hex.
    await form.getByLabel('Key (32 bytes)').fill(key.subarray(0, 31).toString('hex'));
    await form.getByRole('button', { name: 'Import key' }).click();
    await form.getByTestId('error').getByText('Key: must be 32 bytes, got 31').waitFor();
    await form.getByLabel('Key (32 bytes)').fill(`zz${key.toString('hex').slice(2)}`);
    await form.getByRole('button', { name: 'Import key' }).click();
    await form.getByTestId('error').getByText('Key: hex needs pairs of 0-9 a-f').waitFor();
    await form.getByLabel('Key (32 bytes)').fill(key.toString('hex'));
    await form.getByLabel('HMAC key (optional, 32 bytes)').fill(hmacKey.toString('hex'));
    await form.getByRole('button', { name: 'Import key' }).click();
    await page.getByText('Key imported-a imported.').waitFor();
    const row = page.locator('tr[data-key="imported-a"]');
    await row.getByText('imported', { exact: true }).waitFor();
    // The server's own check: the name exists now (the core's answer, as on the KMS API).
    await page.getByRole('button', { name: 'Import a key…' }).click();
    await form.getByLabel('Name').fill('imported-a');
    await form.getByLabel('Key (32 bytes)').fill(randomBytes(32).toString('base64'));
    await form.getByRole('button', { name: 'Import key' }).click();
    await form.getByTestId('error').getByText('key already exists').waitFor();
    await shot(page, 'keys-import');
    await form.getByRole('button', { name: 'Cancel' }).click();

    // Those are the bytes the key has: its MAC (KMS API) is HMAC-SHA256 under the HMAC key.
    const client = clientFor(server.endpoint, server.rootApiKey);
    const mac = await client.mac('imported-a', Buffer.from('hello'), { enclave: 'tenant-a' });
    assert.deepEqual(Buffer.from(mac.mac), createHmac('sha256', hmacKey).update('hello').digest());
    // Sent once (as base64, in the one import request), and in no answer, log or audit record.
    const forms = [key.toString('base64'), key.toString('hex'), key.toString('base64url')];
    assert.equal(sent.filter((s) => s.includes(forms[0]!)).length, 1);
    assert.ok(!sent.some((s) => s.includes(forms[1]!)), 'the hex text stays in the page');
    const audit = readFileSync(join(server.dir, 'audit.log'), 'utf8');
    const imported = audit.split('\n').find((l) => l.includes('/console/api/keys/import'));
    assert.ok(imported, 'the import is in the audit log');
    assert.equal(
      (JSON.parse(imported) as { request: { identity: string } }).request.identity,
      rootIdentity,
    );
    for (const text of [...forms, hmacKey.toString('base64')]) {
      assert.ok(!audit.includes(text), 'the audit log has no key bytes');
      assert.ok(!server.output().includes(text), 'the server log has no key bytes');
      assert.ok(!answers.some((a) => a.includes(text)), 'no answer carries key bytes');
    }
  });

  it('edits a policy with server-side validation, creates a user with an API key shown once', async () => {
    await go(page, 'Policies');
    await page.getByLabel('Name').fill('app-use');
    await page.getByLabel('Allow').fill('KEY:GENERATE app-*\nKEY:FROB app-*');
    await page.getByText(/unknown command 'KEY:FROB'/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save policy' }).isDisabled(), true);
    await page.getByLabel('Allow').fill('KEY:GENERATE app-*\nKEY:DECRYPT app-*\nKEY:LIST *');
    await page.getByText('The rules are valid.').waitFor();
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy app-use saved.').waitFor();

    await go(page, 'Identities');
    await page.getByLabel('Policy (optional)').fill('app-use');
    // Tags are checked in the page, then set by the same IDENTITY:CREATE as the KMS API's.
    await page.getByLabel('Tags (optional)').fill('team=billing, owner');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await page.getByTestId('error').getByText("Tags: 'owner' is not name=value").waitFor();
    await page.getByLabel('Tags (optional)').fill('team=billing, env=prod');
    await page.getByRole('button', { name: 'Create API key' }).click();
    const apiKey = (await page.getByTestId('new-api-key').textContent()) ?? '';
    const identity = (await page.getByTestId('new-identity').textContent()) ?? '';
    assert.match(apiKey, /^k1:[A-Za-z0-9_-]{43}$/);
    assert.equal(parseApiKey(apiKey).identity.toH1(), identity, 'the page derived the identity');
    user = { apiKey, identity };
    assert.ok(!sent.some((s) => s.includes(apiKey.slice(3))), 'the new key was never sent');
    await page.locator(`code[title="${identity}"]`).waitFor();
    const userRow = page.locator('tr', { has: page.locator(`code[title="${identity}"]`) });
    await userRow.getByText('team=billing').waitFor();
    await userRow.getByText('env=prod').waitFor();
    const record = await clientFor(server.endpoint, server.rootApiKey).identityStatus(identity, {
      enclave: 'tenant-a',
    });
    assert.deepEqual(record.tags, { team: 'billing', env: 'prod' });
    await shot(page, 'identities');

    await go(page, 'Policies');
    await page.getByLabel('Identity', { exact: true }).fill(identity);
    await page.getByLabel('Key', { exact: true }).fill('app-key');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByText('✓ allowed KEY:GENERATE').waitFor();
    await page.getByText('✗ denied KEY:DELETE').waitFor();
    await page.getByRole('button', { name: 'app-use', exact: true }).click();
    await shot(page, 'policies');
  });

  it('shows the audit tail update live, with the acting identities', async () => {
    await go(page, 'Audit log');
    await page.getByTestId('audit-state').getByText('live').waitFor();
    // The user, through the KMS API: it may generate with app-key, not with billing.
    const client = clientFor(server.endpoint, user.apiKey);
    for (let i = 0; i < 20; i++) await client.generateKey('app-key', { enclave: 'tenant-a' });
    await assert.rejects(client.generateKey('billing', { enclave: 'tenant-a' }));
    await page.locator('table.audit tr', { hasText: '/v1/kms/tenant-a' }).first().waitFor();
    await page.locator(`table.audit code[title="${user.identity}"]`).first().waitFor();
    await page.locator('table.audit td.bad', { hasText: '403' }).first().waitFor();
    await page.getByLabel('Filter').fill('403');
    await shot(page, 'audit');
    // The server log tail is live too (root may read it, as /v1/debug/log).
    await go(page, 'Server log');
    await page.getByTestId('log-state').getByText('live').waitFor();
    await shot(page, 'server-log');
    // The console's own actions are audited under the root identity.
    const lines = readFileSync(join(server.dir, 'audit.log'), 'utf8').split('\n');
    const rotate = lines.find((l) => l.includes('/console/api/keys/rotate'));
    assert.ok(rotate, 'the rotation is in the audit log');
    assert.equal(
      (JSON.parse(rotate) as { request: { identity: string } }).request.identity,
      rootIdentity,
    );
  });

  it('a user without rights sees the refusal', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
    context.setDefaultTimeout(15_000);
    try {
      const p = await context.newPage();
      await signInAs(p, user.apiKey);
      await p.getByText('Node and cluster state need SysAdmin rights.').waitFor();
      await useEnclave(p, 'tenant-a', 'Keys');
      await p.locator('tr[data-key="app-key"]').waitFor();
      await p.getByLabel('New key').fill('not-mine');
      await p.getByRole('button', { name: 'Create key' }).click();
      await p.getByTestId('error').getByText('access denied: insufficient permissions').waitFor();
      await shot(p, 'refused');
      // Importing is KEY:IMPORT, which the user's policy does not grant.
      await p.getByRole('button', { name: 'Import a key…' }).click();
      const form = p.getByRole('form', { name: 'Import a key' });
      await form.getByLabel('Name').fill('app-imported');
      await form.getByLabel('Key (32 bytes)').fill(randomBytes(32).toString('base64'));
      await form.getByRole('button', { name: 'Import key' }).click();
      await form
        .getByTestId('error')
        .getByText('access denied: insufficient permissions')
        .waitFor();
      assert.equal(await p.locator('tr[data-key="app-imported"]').count(), 0);
      await go(p, 'Enclaves');
      await p.getByTestId('error').getByText('access denied: insufficient permissions').waitFor();
    } finally {
      await context.close();
    }
  });

  it('signs in with k2: (ECDSA) API keys; the key never leaves the page', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
    context.setDefaultTimeout(15_000);
    try {
      const p = await context.newPage();
      const requests: string[] = [];
      p.on('request', (r) => requests.push(`${r.url()} ${r.postData() ?? ''}`));
      // A k2: key of a length that names no curve: the page says so, nothing is sent.
      await p.goto(`${base}/console/`);
      await p.getByLabel('API key').fill(`k2:${randomBytes(40).toString('base64url')}`);
      await p.getByRole('button', { name: 'Sign in', exact: true }).click();
      await p
        .getByTestId('error')
        .getByText(/a k2: key holds a 32, 48 or 66-byte/)
        .waitFor();
      const root = clientFor(server.endpoint, server.rootApiKey, { enclave: 'tenant-a' });
      for (const [curve, width] of [
        ['prime256v1', 32],
        ['secp521r1', 66],
      ] as const) {
        const ecdh = createECDH(curve);
        ecdh.generateKeys();
        const raw = ecdh.getPrivateKey();
        const scalar = Buffer.concat([Buffer.alloc(width - raw.length), raw]);
        const apiKey = `k2:${scalar.toString('base64url')}`;
        const identity = parseApiKey(apiKey).identity.toH1();
        await root.createIdentity(identity, { privilege: 'Admin' });
        await signInAs(p, apiKey);
        await p.locator(`header code[title="${identity}"]`).waitFor();
        assert.ok(!requests.some((r) => r.includes(scalar.toString('base64url'))), curve);
        await p.getByRole('button', { name: 'Sign out' }).click();
        await p.getByLabel('API key').waitFor();
      }
    } finally {
      await context.close();
    }
  });

  it('a page on another origin cannot act through the signed-in browser (CSRF)', async () => {
    // Same site (127.0.0.1, another port), so even SameSite=Strict sends the cookie: the Origin
    // check and the CSRF token must stop it.
    const attacker = await evilServer(server.dir, base);
    try {
      const evil = await root.newPage();
      const port = (attacker.address() as AddressInfo).port;
      await evil.goto(`https://127.0.0.1:${port}/`);
      await evil.getByText('done').waitFor();
      await evil.close();
    } finally {
      attacker.close();
    }
    // Both attempts reached the server and were refused (the audit log has them).
    let refused = 0;
    for (let i = 0; i < 50 && refused < 2; i++) {
      refused = readFileSync(join(server.dir, 'audit.log'), 'utf8')
        .split('\n')
        .filter(
          (l) => l.includes('/console/api/enclaves/create') && l.includes('"code":403'),
        ).length;
      if (refused < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(refused, 2, 'the fetch and the form were both refused');
    const list = await consoleCall(server.endpoint, { path: 'enclaves', sid: rootCookie });
    const names = (list.json.items as { name: string }[]).map((e) => e.name);
    assert.ok(names.includes('tenant-a'));
    assert.ok(!names.includes('evil-fetch') && !names.includes('evil-form'), names.join());
  });

  it('a planted session id is not adopted at sign-in (fixation)', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
    context.setDefaultTimeout(15_000);
    try {
      // An id chosen by an attacker (who could plant cookies for this site) before sign-in.
      const planted = 'fixated-by-an-attacker-0123456789abcdefghijk';
      await context.addCookies([
        { name: SESSION_COOKIE, value: planted, url: base, secure: true, sameSite: 'Strict' },
      ]);
      const p = await context.newPage();
      await signInAs(p, server.rootApiKey);
      const now = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
      assert.ok(now);
      assert.notEqual(now.value, planted);
      const res = await consoleCall(server.endpoint, { path: 'enclaves', sid: planted });
      assert.equal(res.status, 401, 'the planted id is not a session');
      const real = await consoleCall(server.endpoint, { path: 'enclaves', sid: now.value });
      assert.equal(real.status, 200);
    } finally {
      await context.close();
    }
  });

  it('signs out; the stolen cookie no longer works', async () => {
    const before = await consoleCall(server.endpoint, { path: 'enclaves', sid: rootCookie });
    assert.equal(before.status, 200);
    // The overview last, when the server has sampled some traffic for its charts.
    await go(page, 'Overview');
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    await shot(page, 'overview');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    const stolen = await consoleCall(server.endpoint, { path: 'enclaves', sid: rootCookie });
    assert.equal(stolen.status, 401);
    // The page itself is back at sign-in after a reload.
    await page.reload();
    await page.getByLabel('API key').waitFor();
  });
});

/**
 * A page on another origin of the same site that tries to create enclaves through the console
 * API with the browser's cookies: a credentialed no-cors fetch and an auto-submitted form.
 */
async function evilServer(dir: string, target: string): Promise<Server> {
  const page = `<!doctype html><html><body><form id="f" method="POST" enctype="text/plain"
    action="${target}/console/api/enclaves/create" target="sink">
    <input name='{"name":"evil-form","x":"' value='"}'></form><iframe name="sink"></iframe>
    <p id="state">running</p><script>
    fetch(${JSON.stringify(`${target}/console/api/enclaves/create`)}, { method: 'POST', mode: 'no-cors',
      credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{"name":"evil-fetch"}' })
      .catch(() => {}).finally(() => { document.getElementById('f').submit();
        setTimeout(() => { document.getElementById('state').textContent = 'done'; }, 500); });
    </script></body></html>`;
  const server = createServer(
    {
      cert: readFileSync(join(dir, 'certs', 'server.crt')),
      key: readFileSync(join(dir, 'certs', 'server.key')),
    },
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(page);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

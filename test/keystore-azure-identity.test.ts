// The Azure Key Vault key store's managed identity on Azure Arc machines and in Cloud Shell,
// through @azure/identity's ManagedIdentityCredential exactly as a deployment runs it: real
// `keyhold server` processes with the variables those hosts set (Arc: IDENTITY_ENDPOINT and
// IMDS_ENDPOINT; Cloud Shell: MSI_ENDPOINT), against the local Key Vault whose identity
// endpoints speak the Arc agent's challenge (a 401 naming a one-time secret file, which the
// client must read and return) and Cloud Shell's form POST. The Arc client accepts secret files
// only in the platform's agent directory (`/var/opt/azcmagent/tokens/` on Linux), so that test
// needs to create it (root) and skips, saying so, where it cannot.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCertificate } from '../src/identity/index.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { FakeKeyVault } from './helpers/azure-server.ts';
import { apiKeyCert, startKesServer } from './kes-server-support.ts';

const ARC_DIR = '/var/opt/azcmagent/tokens/';

/** Creates the Arc agent's token directory; what to remove afterwards, or null if impossible. */
function arcDirectory(): { created: string | undefined } | null {
  if (existsSync(ARC_DIR)) return { created: undefined };
  try {
    return { created: mkdirSync(ARC_DIR, { recursive: true, mode: 0o700 }) };
  } catch {
    return null;
  }
}

describe('Azure Key Vault key store: Azure Arc and Cloud Shell managed identity', () => {
  let vault: FakeKeyVault;
  let dir: string;
  const arc = arcDirectory();
  const appKey = ApiKey.generate('kes');
  const app = apiKeyCert(appKey);
  const tls = createCertificate({
    keyType: 'p256',
    commonName: 'kes',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
  });
  const start = (env: Record<string, string>) =>
    startKesServer({
      config: `admin:\n  identity: disabled\ntls:\n  key: ./s.key\n  cert: ./s.cert\npolicy:\n  app:\n    allow: ["/v1/key/*"]\n    identities: ["${app.identity}"]\nkeystore:\n  azure:\n    keyvault:\n      endpoint: ${vault.endpoint}\n      managed_identity:\n        client_id: ""\n`,
      files: { 's.key': tls.key, 's.cert': tls.cert },
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), ...env },
    });

  before(async () => {
    vault = await FakeKeyVault.start({
      tenant: 'tenant-1',
      clients: {},
      managedIdentities: [''],
      ...(arc ? { arcTokenDir: ARC_DIR } : {}),
    });
    dir = mkdtempSync(join(tmpdir(), 'keyhold-azure-mi-'));
    writeFileSync(join(dir, 'ca.pem'), vault.ca);
  });
  after(async () => {
    await vault.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const file of vault.arcSecrets.keys()) rmSync(file, { force: true });
    if (arc?.created) rmSync(arc.created, { recursive: true, force: true });
  });

  it('Azure Arc: the agent’s challenge file is read and returned; tokens come from the agent', async (t) => {
    if (!arc) {
      t.skip(`cannot create ${ARC_DIR} (needs root): the Azure Arc flow is not tested here`);
      return;
    }
    const server = await start({
      IDENTITY_ENDPOINT: vault.arcEndpoint,
      IMDS_ENDPOINT: vault.imdsHost,
    });
    try {
      const client = new KesClient({
        endpoints: server.endpoint,
        apiKey: appKey,
        insecure: true,
      });
      await client.createKey('from-arc');
      assert.ok(vault.secrets.has('from-arc'));
      assert.ok(vault.issued.includes('arc'));
      assert.ok(!vault.issued.includes('imds'), 'Arc’s endpoint, not IMDS');
      // Each challenge secret was used once and removed.
      assert.equal(vault.arcSecrets.size, 0);
      const arcCalls = vault.requests.filter((r) => r.apiVersion === '2020-06-01');
      assert.ok(arcCalls.length >= 2, 'the challenge, then the answer to it');
    } finally {
      await server.stop();
    }
  });

  it('the identity endpoints refuse what Arc’s agent and Cloud Shell refuse', async () => {
    const resource = encodeURIComponent('https://vault.azure.net');
    const arcUrl = `${vault.arcEndpoint}?api-version=2020-06-01&resource=${resource}`;
    assert.equal((await fetch(arcUrl)).status, 400, 'no Metadata header');
    if (arc) {
      const challenge = await fetch(arcUrl, { headers: { Metadata: 'true' } });
      assert.equal(challenge.status, 401);
      const realm = /^Basic realm=(.+)$/.exec(challenge.headers.get('www-authenticate') ?? '');
      assert.ok(realm?.[1]?.startsWith(ARC_DIR) && realm[1].endsWith('.key'));
      const forged = await fetch(arcUrl, {
        headers: { Metadata: 'true', Authorization: 'Basic not-the-secret' },
      });
      assert.equal(forged.status, 401);
      // The secret of the named file opens it, once.
      const file = realm![1]!;
      const answer = { Metadata: 'true', Authorization: `Basic ${readFileSync(file, 'utf8')}` };
      assert.equal((await fetch(arcUrl, { headers: answer })).status, 200);
      assert.equal((await fetch(arcUrl, { headers: answer })).status, 401, 'used up');
      assert.equal(existsSync(file), false);
    }
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const shell = vault.cloudShellEndpoint;
    assert.equal((await fetch(shell, { headers: { Metadata: 'true' } })).status, 400, 'GET');
    assert.equal(
      (await fetch(shell, { method: 'POST', headers: form, body: `resource=${resource}` })).status,
      400,
      'no Metadata header',
    );
    assert.equal(
      (
        await fetch(shell, {
          method: 'POST',
          headers: { ...form, Metadata: 'true' },
          body: 'resource=https%3A%2F%2Fmanagement.azure.com',
        })
      ).status,
      400,
      'another resource',
    );
    const ok = await fetch(shell, {
      method: 'POST',
      headers: { ...form, Metadata: 'true' },
      body: `resource=${resource}`,
    });
    assert.equal(ok.status, 200);
  });

  it('Cloud Shell: the MSI endpoint’s form POST', async () => {
    const server = await start({ MSI_ENDPOINT: vault.cloudShellEndpoint });
    try {
      const client = new KesClient({
        endpoints: server.endpoint,
        apiKey: appKey,
        insecure: true,
      });
      await client.createKey('from-cloud-shell');
      assert.ok(vault.secrets.has('from-cloud-shell'));
      // The process has no other credential source: its token came from the MSI endpoint.
      assert.ok(vault.issued.includes('cloudshell'));
    } finally {
      await server.stop();
    }
  });
});

// Keyhold's Azure Key Vault key store against a local Key Vault with its token endpoints, over
// TLS: KES's layout (one secret per key, the stored value as its value), create-if-absent,
// oldest-version reads, paging, soft delete and purge (also while Azure is still deleting, and
// with purge protection), client credentials and managed identity, the 401 challenge after a
// token expires, refused credentials, and a gateway process over it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKesKeyValue } from '../src/crypto/index.ts';
import { createCertificate } from '../src/identity/index.ts';
import { AzureKeyStore } from '../src/keystore/azure/azure-keystore.ts';
import type { AzureStoreConfig } from '../src/config/keystore-config.ts';
import { KeyExistsError, KeyNotFoundError } from '../src/keystore/keystore.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { FakeKeyVault } from './helpers/azure-server.ts';
import { apiKeyCert, startKesServer } from './kes-server-support.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

describe('Azure Key Vault key store', () => {
  let vault: FakeKeyVault;
  const config = (overrides: Partial<AzureStoreConfig> = {}): AzureStoreConfig => ({
    kind: 'azure',
    endpoint: vault.endpoint,
    credentials: { tenantId: TENANT, clientId: 'kes', clientSecret: 'kes-secret' },
    ...overrides,
  });
  const open = (overrides: Partial<AzureStoreConfig> = {}, env: Record<string, string> = {}) =>
    AzureKeyStore.connect(config(overrides), {
      ca: vault.ca,
      env: { AZURE_AUTHORITY_HOST: vault.endpoint, ...env },
    });

  before(async () => {
    vault = await FakeKeyVault.start({
      tenant: TENANT,
      clients: { kes: 'kes-secret' },
      managedIdentity: 'mi-client',
    });
  });
  after(() => vault.stop());

  it('one secret per key holding the stored value; exists; oldest version wins', async () => {
    const store = await open();
    await store.create('key-a', 'VALUE-A');
    assert.equal(vault.secrets.get('key-a')!.versions[0]!.value, 'VALUE-A');
    assert.equal(await store.get('key-a'), 'VALUE-A');
    await assert.rejects(store.create('key-a', 'OTHER'), KeyExistsError);
    vault.addVersion('key-a', 'LATER');
    assert.equal(await store.get('key-a'), 'VALUE-A');
    await assert.rejects(store.get('missing'), KeyNotFoundError);
    await assert.rejects(store.create('has_underscore', 'x'), /not a valid Key Vault secret name/);
  });

  it('delete soft-deletes and purges (waiting while Azure deletes); re-create works', async () => {
    const store = await open();
    await store.create('key-d', 'D1');
    vault.beingDeleted = 2;
    await store.delete('key-d');
    assert.equal(vault.secrets.has('key-d'), false);
    await assert.rejects(store.delete('key-d'), KeyNotFoundError);
    await store.create('key-d', 'D2');
    assert.equal(await store.get('key-d'), 'D2');

    // Purge protection: deletion keeps the secret soft-deleted; the name cannot be reused.
    vault.purgeProtection = true;
    try {
      await store.delete('key-d');
      await assert.rejects(store.get('key-d'), KeyNotFoundError);
      await assert.rejects(store.create('key-d', 'D3'), /ObjectIsDeletedButRecoverable|Conflict/);
    } finally {
      vault.purgeProtection = false;
    }
  });

  it('lists every page', async () => {
    const store = await open();
    for (let i = 0; i < 60; i++) await store.create(`page-${i}`, 'v');
    assert.equal((await store.list('page-')).length, 60);
  });

  it('credentials: a new token after expiry (401 challenge); managed identity; refused secret', async () => {
    const store = await open();
    await store.status();
    vault.expireTokens();
    await store.status();
    const logins = vault.requests.filter((r) => r.path.endsWith('/oauth2/v2.0/token')).length;
    assert.ok(logins >= 2);

    const { credentials: _none, ...rest } = config();
    const mi = await AzureKeyStore.connect(
      { ...rest, managedIdentity: { clientId: 'mi-client' } },
      {
        ca: vault.ca,
        env: { IDENTITY_ENDPOINT: `${vault.endpoint}/metadata/identity/oauth2/token` },
      },
    );
    await mi.status();

    const wrong = await open({
      credentials: { tenantId: TENANT, clientId: 'kes', clientSecret: 'wrong' },
    });
    await assert.rejects(wrong.status(), /AADSTS7000215/);
  });
});

describe('KES gateway over Azure Key Vault', () => {
  let vault: FakeKeyVault;
  let dir: string;
  const appKey = ApiKey.generate('kes');
  const app = apiKeyCert(appKey);

  before(async () => {
    vault = await FakeKeyVault.start({ tenant: TENANT, clients: { kes: 'kes-secret' } });
    dir = mkdtempSync(join(tmpdir(), 'keyhold-azure-'));
    writeFileSync(join(dir, 'ca.pem'), vault.ca);
  });
  after(async () => {
    await vault.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates keys as secrets in KES’s format and serves data keys', async () => {
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'k',
      ips: ['127.0.0.1'],
      validFor: 3600_000,
    });
    const server = await startKesServer({
      config: `admin:\n  identity: disabled\ntls:\n  key: ./s.key\n  cert: ./s.cert\npolicy:\n  app:\n    allow: ["/v1/key/*"]\n    identities: ["${app.identity}"]\nkeystore:\n  azure:\n    keyvault:\n      endpoint: ${vault.endpoint}\n      credentials:\n        tenant_id: ${TENANT}\n        client_id: kes\n        client_secret: kes-secret\n`,
      files: { 's.key': tls.key, 's.cert': tls.cert },
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), AZURE_AUTHORITY_HOST: vault.endpoint },
    });
    try {
      const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
      await client.createKey('my-key');
      const parsed = parseKesKeyValue(vault.secrets.get('my-key')!.versions[0]!.value);
      assert.equal(parsed.createdBy, app.identity);
      const dek = await client.generateKey('my-key');
      assert.ok((await client.decrypt('my-key', dek.ciphertext)).equals(dek.plaintext));
      await assert.rejects(client.createKey('my-key'), /key already exists/);
      await client.deleteKey('my-key');
      assert.equal(vault.secrets.has('my-key'), false);
    } finally {
      await server.stop();
    }
  });
});

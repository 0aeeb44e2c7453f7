// Keyhold's Azure Key Vault key store (the official @azure/keyvault-secrets and @azure/identity)
// against a local Key Vault with its Entra ID authority and managed-identity endpoints, over
// TLS: KES's layout (one secret per key, the stored value as its value), create-if-absent,
// oldest-version reads, paging, soft delete and purge (also while Azure is still deleting, and
// with purge protection); Key Vault's challenge-based auth; every credential source that runs
// locally (client secret in the config, AZURE_* environment, workload identity, managed
// identity through IMDS and App Service), a revoked token replaced after the CAE challenge,
// short-lived tokens renewed, refused secrets and identities; and a gateway process over it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKesKeyValue } from '../src/crypto/index.ts';
import { createCertificate } from '../src/identity/index.ts';
import { AzureKeyStore } from '../src/keystore/azure/azure-keystore.ts';
import type { AzureStoreConfig } from '../src/config/keystore-config.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
} from '../src/keystore/keystore.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { FakeKeyVault } from './helpers/azure-server.ts';
import { httpsCall } from './helpers/https-call.ts';
import { ServerExit, apiKeyCert, kes, startKesServer } from './kes-server-support.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const AZURE_ENV = [
  'AZURE_AUTHORITY_HOST',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
];

/** Runs `fn` with exactly these AZURE_* / identity variables set (the SDKs read process.env). */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = AZURE_ENV.map((k) => [k, process.env[k]] as const);
  for (const k of AZURE_ENV) Reflect.deleteProperty(process.env, k);
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
  }
}

describe('Azure Key Vault key store', () => {
  let vault: FakeKeyVault;
  let dir: string;
  const config = (overrides: Partial<AzureStoreConfig> = {}): AzureStoreConfig => ({
    kind: 'azure',
    endpoint: vault.endpoint,
    credentials: { tenantId: TENANT, clientId: 'kes', clientSecret: 'kes-secret' },
    ...overrides,
  });
  const noCredentials = (): AzureStoreConfig => {
    const { credentials: _none, ...rest } = config();
    return rest;
  };
  /** A store whose SDK clients trust the vault's CA; the authority is the local server. */
  const open = (overrides: Partial<AzureStoreConfig> = {}) =>
    AzureKeyStore.connect(config(overrides), { ca: vault.ca });
  const authority = () => ({ AZURE_AUTHORITY_HOST: vault.endpoint });

  before(async () => {
    vault = await FakeKeyVault.start({
      tenant: TENANT,
      clients: { kes: 'kes-secret', 'env-app': 'env-secret' },
      managedIdentities: ['', 'mi-client'],
      identityHeader: 'site-secret',
      federated: { 'wi-app': 'federated-token' },
    });
    dir = mkdtempSync(join(tmpdir(), 'keyhold-azure-'));
  });
  after(async () => {
    await vault.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one secret per key holding the stored value; exists; oldest version wins', async () => {
    await withEnv(authority(), async () => {
      const store = await open();
      await store.create('key-a', 'VALUE-A');
      assert.equal(vault.secrets.get('key-a')!.versions[0]!.value, 'VALUE-A');
      assert.equal(await store.get('key-a'), 'VALUE-A');
      await assert.rejects(store.create('key-a', 'OTHER'), KeyExistsError);
      vault.addVersion('key-a', 'LATER');
      assert.equal(await store.get('key-a'), 'VALUE-A');
      await assert.rejects(store.get('missing'), KeyNotFoundError);
      await assert.rejects(
        store.create('has_underscore', 'x'),
        /not a valid Key Vault secret name/,
      );
      // A disabled first version is an error, never a silent fall-back to a later one.
      vault.secrets.get('key-a')!.versions[0]!.enabled = false;
      await assert.rejects(store.get('key-a'), /disabled/);
    });
  });

  it('challenge-based auth: the first request goes without a token; the SDK’s api-version', async () => {
    await withEnv(authority(), async () => {
      vault.requests.length = 0;
      const store = await open();
      await store.status();
      const calls = vault.requests.filter((r) => r.path === '/secrets');
      assert.equal(calls[0]!.auth, '');
      assert.match(calls.at(-1)!.auth, /^Bearer /);
      assert.equal(calls.at(-1)!.apiVersion, '2025-07-01');
      assert.ok(vault.requests.some((r) => r.path.endsWith('/openid-configuration')));
    });
  });

  it('a vault by IP asking for a token to another service gets none', async () => {
    await withEnv(authority(), async () => {
      vault.challengeResource = 'https://management.azure.com';
      const issued = vault.issued.length;
      try {
        const store = await open();
        await assert.rejects(store.status(), /management\.azure\.com.*not Key Vault/);
      } finally {
        vault.challengeResource = 'https://vault.azure.net';
      }
      assert.equal(vault.issued.length, issued);
    });
  });

  it('the stand-in refuses what Key Vault and Entra ID refuse', async () => {
    const call = (path: string, options: Parameters<typeof httpsCall>[2] = {}) =>
      httpsCall(`${vault.endpoint}${path}`, vault.ca, options);
    const form = (secret: string, scope = 'https://vault.azure.net/.default') => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'kes',
        client_secret: secret,
        scope,
      }).toString(),
    });
    const tokenPath = `/${TENANT}/oauth2/v2.0/token`;
    assert.equal((await call(tokenPath, form('wrong'))).status, 401);
    assert.equal(
      (await call(tokenPath, form('kes-secret', 'https://graph.microsoft.com/.default'))).status,
      400,
    );
    const token = (
      JSON.parse((await call(tokenPath, form('kes-secret'))).text) as { access_token: string }
    ).access_token;
    const bearer = { Authorization: `Bearer ${token}` };

    const anonymous = await call('/secrets?api-version=7.5');
    assert.equal(anonymous.status, 401);
    assert.match(
      String(anonymous.headers['www-authenticate']),
      /^Bearer authorization="https:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+", resource="https:\/\/vault\.azure\.net"$/,
    );
    assert.equal(
      (await call('/secrets?api-version=7.5', { headers: { Authorization: 'Bearer forged' } }))
        .status,
      401,
    );
    assert.equal((await call('/secrets', { headers: bearer })).status, 400);
    assert.equal((await call('/secrets?api-version=1999-01-01', { headers: bearer })).status, 400);
    assert.equal((await call('/secrets?api-version=7.5', { headers: bearer })).status, 200);
    const put = (body: string, type = 'application/json') =>
      call('/secrets/strict?api-version=7.5', {
        method: 'PUT',
        headers: { ...bearer, 'Content-Type': type },
        body,
      });
    assert.equal((await put('{"value":')).status, 400);
    assert.equal((await put('{"value":42}')).status, 400);
    assert.equal((await put('{"value":"v","surprise":1}')).status, 400);
    assert.equal((await put('{"value":"v"}', 'text/plain')).status, 415);
    assert.equal(vault.secrets.has('strict'), false);
    assert.equal((await put('{"value":"v","attributes":{"enabled":true}}')).status, 200);
    assert.equal(
      (await call('/secrets/bad_name?api-version=7.5', { headers: bearer })).status,
      400,
    );
  });

  it('delete soft-deletes and purges (waiting while Azure deletes); re-create works', async () => {
    await withEnv(authority(), async () => {
      const store = await open();
      await store.create('key-d', 'D1');
      vault.deletionDelay = 3;
      await store.delete('key-d');
      assert.equal(vault.secrets.has('key-d'), false);
      await assert.rejects(store.delete('key-d'), KeyNotFoundError);
      await store.create('key-d', 'D2');
      assert.equal(await store.get('key-d'), 'D2');

      // Re-creating a name whose deletion (by another node) is still running waits it out.
      await store.create('key-e', 'E1');
      vault.secrets.get('key-e')!.state = 'deleting';
      vault.secrets.get('key-e')!.deletingFor = 3;
      await store.create('key-e', 'E2');
      assert.equal(await store.get('key-e'), 'E2');

      // Purge protection: deletion keeps the secret soft-deleted; the name cannot be reused.
      vault.deletionDelay = 0;
      vault.purgeProtection = true;
      try {
        await store.delete('key-d');
        await assert.rejects(store.get('key-d'), KeyNotFoundError);
        await assert.rejects(store.create('key-d', 'D3'), /deleted but recoverable/);
      } finally {
        vault.purgeProtection = false;
      }
    });
  });

  it('lists every page', async () => {
    await withEnv(authority(), async () => {
      const store = await open();
      for (let i = 0; i < 60; i++) await store.create(`page-${i}`, 'v');
      assert.equal((await store.list('page-')).length, 60);
    });
  });

  it('client secret: a revoked token is replaced after the CAE challenge; short tokens renew; a wrong secret is refused', async () => {
    await withEnv(authority(), async () => {
      const store = await open();
      await store.status();
      const before = vault.issued.length;
      vault.revokeTokens();
      await store.status();
      assert.equal(vault.issued.length, before + 1);

      vault.tokenLifetime = 60; // inside the SDKs' refresh windows: every call renews
      try {
        const short = await open();
        await short.status();
        const first = vault.issued.length;
        await short.status();
        assert.ok(vault.issued.length > first);
      } finally {
        vault.tokenLifetime = 3600;
      }

      const wrong = await open({
        credentials: { tenantId: TENANT, clientId: 'kes', clientSecret: 'wrong' },
      });
      await assert.rejects(wrong.status(), /AADSTS7000215/);
    });
  });

  it('no credentials block: AZURE_* environment, then workload identity', async () => {
    /** The store's status probe with no credentials block, under the tenant and `env`. */
    const statusWith = (env: Record<string, string>) =>
      withEnv({ ...authority(), AZURE_TENANT_ID: TENANT, ...env }, async () => {
        const store = await AzureKeyStore.connect(noCredentials(), { ca: vault.ca });
        await store.status();
      });
    await statusWith({ AZURE_CLIENT_ID: 'env-app', AZURE_CLIENT_SECRET: 'env-secret' });
    assert.equal(vault.issued.at(-1), 'client_secret');
    const workload = {
      AZURE_CLIENT_ID: 'wi-app',
      AZURE_FEDERATED_TOKEN_FILE: join(dir, 'federated'),
    };
    writeFileSync(join(dir, 'federated'), 'federated-token');
    await statusWith(workload);
    assert.equal(vault.issued.at(-1), 'federated');
    writeFileSync(join(dir, 'federated'), 'someone-elses-token');
    await assert.rejects(statusWith(workload), /AADSTS700213/);
  });

  it('a vault that does not answer is unreachable (not a refusal)', async () => {
    await withEnv(authority(), async () => {
      const store = await AzureKeyStore.connect(
        { ...config(), endpoint: 'https://127.0.0.1:9' },
        { ca: vault.ca },
      );
      await assert.rejects(store.status(), StoreUnreachableError);
    });
  });

  it('managed identity through IMDS (user-assigned); an unassigned identity is refused', async () => {
    // (MSAL keeps the managed-identity source per process: App Service is tested with a
    // gateway process below.)
    await withEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: vault.imdsHost }, async () => {
      const unknown = await AzureKeyStore.connect(
        { ...noCredentials(), managedIdentity: { clientId: 'not-assigned' } },
        { ca: vault.ca },
      );
      await assert.rejects(unknown.status(), /Identity not found/);
      const store = await AzureKeyStore.connect(
        { ...noCredentials(), managedIdentity: { clientId: 'mi-client' } },
        { ca: vault.ca },
      );
      await store.status();
      assert.equal(vault.issued.at(-1), 'imds');
    });
  });
});

describe('KES gateway over Azure Key Vault', () => {
  let vault: FakeKeyVault;
  const clients: Record<string, string> = { kes: 'kes-secret' };
  let dir: string;
  const appKey = ApiKey.generate('kes');
  const app = apiKeyCert(appKey);
  const tls = createCertificate({
    keyType: 'p256',
    commonName: 'k',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
  });
  const config = (secret: string) =>
    `admin:\n  identity: disabled\ntls:\n  key: ./s.key\n  cert: ./s.cert\npolicy:\n  app:\n    allow: ["/v1/key/*", "/v1/status", "/v1/ready"]\n    identities: ["${app.identity}"]\nkeystore:\n  azure:\n    keyvault:\n      endpoint: ${vault.endpoint}\n      credentials:\n        tenant_id: ${TENANT}\n        client_id: kes\n        client_secret: ${secret}\n`;

  before(async () => {
    vault = await FakeKeyVault.start({
      tenant: TENANT,
      clients,
      managedIdentities: [''],
      identityHeader: 'site-secret',
    });
    dir = mkdtempSync(join(tmpdir(), 'keyhold-azure-'));
    writeFileSync(join(dir, 'ca.pem'), vault.ca);
  });
  after(async () => {
    await vault.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates keys as secrets in KES’s format and serves data keys', async () => {
    const server = await startKesServer({
      config: config('kes-secret'),
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

      // The secret is rotated away and the token revoked: the health check notices.
      clients.kes = 'rotated';
      vault.revokeTokens();
      const status = await kes(server.endpoint, app, 'GET', '/v1/status');
      assert.equal(status.json<Record<string, unknown>>().keystore_unavailable, true);
      assert.equal((await kes(server.endpoint, app, 'GET', '/v1/ready')).status, 502);
    } finally {
      clients.kes = 'kes-secret';
      await server.stop();
    }
  });

  it('managed identity through App Service’s endpoint (system-assigned)', async () => {
    const server = await startKesServer({
      config: `admin:\n  identity: disabled\ntls:\n  key: ./s.key\n  cert: ./s.cert\npolicy:\n  app:\n    allow: ["/v1/key/*"]\n    identities: ["${app.identity}"]\nkeystore:\n  azure:\n    keyvault:\n      endpoint: ${vault.endpoint}\n      managed_identity:\n        client_id: ""\n`,
      files: { 's.key': tls.key, 's.cert': tls.cert },
      env: {
        NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
        IDENTITY_ENDPOINT: vault.appServiceEndpoint,
        IDENTITY_HEADER: 'site-secret',
      },
    });
    try {
      const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
      await client.createKey('from-app-service');
      assert.equal(vault.issued.at(-1), 'appservice');
      assert.ok(vault.secrets.has('from-app-service'));
    } finally {
      await server.stop();
    }
  });

  it('a wrong client secret is refused at start', async () => {
    await assert.rejects(
      startKesServer({
        config: config('wrong'),
        files: { 's.key': tls.key, 's.cert': tls.cert },
        env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), AZURE_AUTHORITY_HOST: vault.endpoint },
        expectFailure: true,
      }),
      (error: unknown) => error instanceof ServerExit && /AADSTS7000215/.test(error.output),
    );
  });
});

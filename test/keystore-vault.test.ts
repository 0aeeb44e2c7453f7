// Keyhold's Vault key store against a protocol-faithful local Vault over TLS: the exact paths,
// bodies and stored layout of KES for KV v1 and v2, prefix and namespaces, AppRole and
// Kubernetes login, token renewal and re-login, Transit (with key rotation), mTLS and a custom
// CA, health, and the faults: sealed, throttled, unreachable, expired token, wrong credentials,
// racing creators.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCertificate } from '../src/identity/index.ts';
import type { VaultStoreConfig } from '../src/config/keystore-config.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
} from '../src/keystore/keystore.ts';
import { VaultKeyStore } from '../src/keystore/vault/vault-keystore.ts';
import { FakeVault } from './helpers/vault-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'keyhold-vault-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let vault: FakeVault;
let caFile: string;
/** The root namespace's AppRoles (tests revoke some by removing them). */
const rootRoles = [
  { roleId: 'kes-role', secretId: 's3cret', ttl: 0 },
  { roleId: 'short', secretId: 's', ttl: 2, renewable: true, maxTtl: 100 },
  { roleId: 'batch', secretId: 's', ttl: 2, renewable: false },
  { roleId: 'create-only', secretId: 's', ttl: 0, policy: 'create-only' as const },
  { roleId: 'revoked-later', secretId: 's', ttl: 0 },
];

before(async () => {
  vault = await FakeVault.start({
    requireRequestHeader: true,
    mounts: {
      '': { kv: 'kv2', secrets: 'kv1', transit: 'transit', 'auth/approle': 'approle' },
      ns1: { kv: 'kv2', 'auth/approle': 'approle', 'auth/kubernetes': 'kubernetes' },
    },
    roles: {
      '|approle': rootRoles,
      'ns1|approle': [{ roleId: 'ns-role', secretId: 'ns-secret', ttl: 0 }],
      'ns1|kubernetes': [{ role: 'kes', jwt: 'eyJhbGciOi.k8s.jwt', ttl: 0 }],
    },
  });
  caFile = join(dir, 'vault-ca.pem');
  writeFileSync(caFile, vault.ca);
});
after(() => vault.stop());

function config(overrides: Partial<VaultStoreConfig> = {}): VaultStoreConfig {
  return {
    kind: 'vault',
    endpoint: vault.endpoint,
    engine: 'kv',
    version: 'v2',
    namespace: '',
    prefix: '',
    approle: { engine: 'approle', namespace: '', id: 'kes-role', secret: 's3cret' },
    tls: { key: '', cert: '', ca: caFile },
    statusPing: 15_000,
    ...overrides,
  };
}

const open = (overrides: Partial<VaultStoreConfig> = {}) =>
  VaultKeyStore.connect(config(overrides), { env: {}, backoff: 20 });

describe('Vault key store', () => {
  it('KV v2: KES’s paths, bodies and stored layout; create-if-absent; version 1 wins', async () => {
    const store = await open({ prefix: 'tenant-1' });
    try {
      const from = vault.requests.length;
      await store.create('key-a', 'VALUE-A');
      const calls = vault.requests.slice(from);
      assert.deepEqual(
        calls.map((r) => `${r.method} ${r.path}`),
        ['GET /v1/kv/data/tenant-1/key-a', 'PUT /v1/kv/data/tenant-1/key-a'],
      );
      assert.deepEqual(JSON.parse(calls[1]!.body), {
        data: { 'key-a': 'VALUE-A' },
        options: { cas: 0 },
      });
      assert.equal(calls[1]!.headers['x-vault-request'], 'true');
      assert.deepEqual(vault.entry('', 'kv', 'tenant-1/key-a'), { 'key-a': 'VALUE-A' });

      assert.equal(await store.get('key-a'), 'VALUE-A');
      assert.match(vault.requests.at(-1)!.path, /\/v1\/kv\/data\/tenant-1\/key-a\?version=1$/);
      await assert.rejects(store.create('key-a', 'OTHER'), KeyExistsError);
      // Another writer adds version 2: the key stays what version 1 holds.
      vault.put('', 'kv', 'tenant-1/key-a', { 'key-a': 'OVERWRITTEN' });
      assert.equal(await store.get('key-a'), 'VALUE-A');
      await assert.rejects(store.get('missing'), KeyNotFoundError);

      await store.create('key-b', 'VALUE-B');
      assert.deepEqual((await store.list('')).sort(), ['key-a', 'key-b']);
      await store.delete('key-b');
      assert.match(vault.requests.at(-1)!.path, /^\/v1\/kv\/metadata\/tenant-1\/key-b$/);
      await assert.rejects(store.get('key-b'), KeyNotFoundError);
      // Vault answers 204 for a missing entry; KES's API says the key does not exist.
      await assert.rejects(store.delete('key-b'), KeyNotFoundError);
      // Someone soft-deletes version 1 (`vault kv delete`): neither readable nor re-creatable
      // until its metadata is destroyed, and both say why.
      await store.create('soft', 'S');
      vault.softDelete('', 'kv', 'tenant-1/soft');
      await assert.rejects(store.get('soft'), /version 1 of 'soft' is deleted or destroyed/);
      await assert.rejects(store.create('soft', 'S2'), /latest version deleted/);
      await store.delete('soft');
      await store.create('soft', 'S3');
      assert.equal(await store.get('soft'), 'S3');
      // An empty folder is an empty listing (KES answers 502 here).
      const empty = await open({ prefix: 'nobody-here' });
      assert.deepEqual(await empty.list(''), []);
      await empty.close();
    } finally {
      await store.close();
    }
  });

  it('KV v2: of two racing creators exactly one wins; the loser sees "exists" (cas: 0)', async () => {
    const a = await open({ prefix: 'race' });
    const b = await open({ prefix: 'race' });
    try {
      // Both pre-reads see nothing; the second PUT loses on check-and-set.
      for (let i = 0; i < 10; i++) {
        const results = await Promise.allSettled([
          a.create(`k${i}`, 'from-a'),
          b.create(`k${i}`, 'from-b'),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        assert.equal(won.length, 1);
        assert.ok(lost[0]!.reason instanceof KeyExistsError, String(lost[0]!.reason));
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('KV v1: `{"<name>": value}` at <engine>/<prefix>/<name>, 204 writes', async () => {
    const store = await open({ engine: 'secrets', version: 'v1', prefix: '/tenant-2/' });
    try {
      await store.create('k1', 'V1');
      const put = vault.requests.at(-1)!;
      assert.equal(`${put.method} ${put.path}`, 'PUT /v1/secrets/tenant-2/k1');
      assert.equal(put.body, '{"k1":"V1"}\n');
      assert.equal(await store.get('k1'), 'V1');
      await assert.rejects(store.create('k1', 'V2'), KeyExistsError);
      assert.deepEqual(await store.list(''), ['k1']);
      await store.delete('k1');
      assert.deepEqual(await store.list(''), []);
    } finally {
      await store.close();
    }
  });

  it('KV v1 with the create-only policy: a racing overwrite is refused and reported as "exists"', async () => {
    const store = await open({
      engine: 'secrets',
      version: 'v1',
      prefix: 'co',
      approle: { engine: 'approle', namespace: '', id: 'create-only', secret: 's' },
    });
    try {
      // Someone creates the entry between our check and our write: the policy refuses the
      // overwrite (403); the key store reads again and answers "exists".
      vault.fail(1, 404, [], /\/v1\/secrets\/co\/raced$/);
      vault.put('', 'secrets', 'co/raced', { raced: 'FIRST' });
      await assert.rejects(store.create('raced', 'SECOND'), KeyExistsError);
      assert.equal(await store.get('raced'), 'FIRST');
    } finally {
      await store.close();
    }
  });

  it('namespaces: header on KV and login calls, none on sys/health; Kubernetes login', async () => {
    const jwtFile = join(dir, 'token');
    writeFileSync(jwtFile, 'eyJhbGciOi.k8s.jwt\n');
    const { approle: _none, ...k8s } = config({ namespace: 'ns1' });
    const store = await VaultKeyStore.connect(
      { ...k8s, kubernetes: { engine: 'kubernetes', namespace: '', role: 'kes', jwt: jwtFile } },
      { env: {}, backoff: 20 },
    );
    try {
      await store.create('nk', 'NV');
      await store.status();
      const login = vault.requests.find((r) => r.path === '/v1/auth/kubernetes/login')!;
      assert.equal(login.headers['x-vault-namespace'], 'ns1');
      assert.deepEqual(JSON.parse(login.body), { jwt: 'eyJhbGciOi.k8s.jwt', role: 'kes' });
      assert.equal(login.headers['x-vault-token'], undefined);
      const health = vault.requests.filter((r) => r.path.startsWith('/v1/sys/health')).at(-1)!;
      assert.equal(health.headers['x-vault-namespace'], undefined);
      assert.equal(vault.entry('ns1', 'kv', 'nk')?.nk, 'NV');
      assert.equal(vault.entry('', 'kv', 'nk'), undefined);
    } finally {
      await store.close();
    }
    // VAULT_NAMESPACE applies when the config names none (as the Vault SDK does for KES).
    const fromEnv = await VaultKeyStore.connect(
      config({ approle: { engine: 'approle', namespace: '', id: 'ns-role', secret: 'ns-secret' } }),
      { env: { VAULT_NAMESPACE: 'ns1' }, backoff: 20 },
    );
    assert.equal(await fromEnv.get('nk'), 'NV');
    await fromEnv.close();
  });

  it('wrong AppRole credentials fail at connect with Vault’s message', async () => {
    await assert.rejects(
      open({ approle: { engine: 'approle', namespace: '', id: 'kes-role', secret: 'wrong' } }),
      /Code: 400\. Errors:\n\n\* invalid role or secret ID/,
    );
  });

  it('renews a short-lived token before it expires, and logs in again when it cannot', async () => {
    const renewable = await open({
      approle: { engine: 'approle', namespace: '', id: 'short', secret: 's' },
    });
    const batch = await open({
      approle: { engine: 'approle', namespace: '', id: 'batch', secret: 's' },
    });
    try {
      await renewable.create('r1', 'R1');
      await batch.create('b1', 'B1');
      const logins = () => vault.requests.filter((r) => r.path === '/v1/auth/approle/login').length;
      const before = logins();
      // Past two token lifetimes: both keep working without a single refused call.
      await new Promise((r) => setTimeout(r, 4500));
      assert.equal(await renewable.get('r1'), 'R1');
      assert.equal(await batch.get('b1'), 'B1');
      assert.ok(vault.requests.some((r) => r.path === '/v1/auth/token/renew-self'));
      assert.ok(logins() > before, 'the non-renewable token was replaced by a new login');
    } finally {
      await renewable.close();
      await batch.close();
    }
  });

  it('an expired token: the next call logs in again; revoked credentials fail the status probe', async () => {
    const store = await open({
      prefix: 'expiry',
      approle: { engine: 'approle', namespace: '', id: 'revoked-later', secret: 's' },
    });
    try {
      await store.create('e1', 'E1');
      vault.expireTokens();
      assert.equal(await store.get('e1'), 'E1');
      await store.status();
      // The AppRole goes away and the token expires: the probe, which uses the token, fails.
      rootRoles.splice(
        rootRoles.findIndex((r) => r.roleId === 'revoked-later'),
        1,
      );
      vault.expireTokens();
      await assert.rejects(store.status(), /invalid role or secret ID|invalid token/);
      await assert.rejects(store.get('e1'), /invalid role or secret ID|invalid token/);
    } finally {
      await store.close();
    }
  });

  it('Transit: values wrapped as vault:vN:…, read back after a key rotation (KES reads only v1)', async () => {
    const store = await open({ prefix: 'wrapped', transit: { engine: 'transit', key: 'kes' } });
    try {
      await store.create('t1', 'PLAIN-1');
      const stored = String(vault.entry('', 'kv', 'wrapped/t1')?.t1);
      assert.match(stored, /^vault:v1:/);
      assert.equal(await store.get('t1'), 'PLAIN-1');
      vault.rotateTransitKey('', 'transit', 'kes');
      await store.create('t2', 'PLAIN-2');
      assert.match(String(vault.entry('', 'kv', 'wrapped/t2')?.t2), /^vault:v2:/);
      assert.equal(await store.get('t2'), 'PLAIN-2');
      assert.equal(await store.get('t1'), 'PLAIN-1');
      // Without transit configured, a wrapped value is an error, not garbage.
      const plain = await open({ prefix: 'wrapped' });
      await assert.rejects(plain.get('t1'), /encrypted with a Vault transit key/);
      await plain.close();
    } finally {
      await store.close();
    }
  });

  it('mTLS with a custom CA; an unknown CA is refused', async () => {
    const client = createCertificate({ keyType: 'p256', commonName: 'kes', validFor: 3600_000 });
    const mtls = await FakeVault.start({
      mounts: { '': { kv: 'kv2', 'auth/approle': 'approle' } },
      roles: { '|approle': [{ roleId: 'r', secretId: 's', ttl: 0 }] },
      clientCa: client.cert,
    });
    const certFile = join(dir, 'client.cert');
    const keyFile = join(dir, 'client.key');
    const ca = join(dir, 'mtls-ca');
    writeFileSync(certFile, client.cert);
    writeFileSync(keyFile, client.key);
    writeFileSync(ca, mtls.ca);
    const approle = { engine: 'approle', namespace: '', id: 'r', secret: 's' };
    try {
      const store = await VaultKeyStore.connect(
        config({ endpoint: mtls.endpoint, approle, tls: { cert: certFile, key: keyFile, ca } }),
        { env: {}, backoff: 20 },
      );
      await store.create('m1', 'M1');
      assert.equal(await store.get('m1'), 'M1');
      await store.close();
      // Without the client certificate the handshake is refused.
      await assert.rejects(
        VaultKeyStore.connect(
          config({ endpoint: mtls.endpoint, approle, tls: { cert: '', key: '', ca } }),
          {
            env: {},
            backoff: 20,
          },
        ),
        StoreUnreachableError,
      );
      // A CA that did not sign Vault's certificate.
      await assert.rejects(
        VaultKeyStore.connect(
          config({
            endpoint: mtls.endpoint,
            approle,
            tls: { cert: certFile, key: keyFile, ca: caFile },
          }),
          {
            env: {},
            backoff: 20,
          },
        ),
        /self-signed|unable to verify|certificate/,
      );
    } finally {
      await mtls.stop();
    }
  });

  it('faults: throttling and 5xx are retried; sealed and unreachable are "unreachable"', async () => {
    const store = await open({ prefix: 'faults' });
    try {
      await store.create('f1', 'F1');
      vault.fail(2, 429, ['rate limit quota exceeded']);
      assert.equal(await store.get('f1'), 'F1');
      vault.fail(3, 503, ['busy']);
      await assert.rejects(store.get('f1'), /Code: 503/);
      vault.sealed = true;
      await assert.rejects(store.status(), StoreUnreachableError);
      await assert.rejects(store.get('f1'), /sealed/);
      vault.sealed = false;
      await store.status();
      assert.equal(await store.get('f1'), 'F1');

      await vault.stop();
      await assert.rejects(store.status(), StoreUnreachableError);
      await assert.rejects(store.get('f1'), StoreUnreachableError);
      await vault.listen();
      assert.equal(await store.get('f1'), 'F1');
    } finally {
      await store.close();
    }
  });
});

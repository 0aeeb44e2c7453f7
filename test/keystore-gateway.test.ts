// The KES gateway over a Vault key store: KES's cache semantics (coalesced misses, create does
// not cache, delete evicts, `any`/`unused`/`offline` tickers, offline decided by the store
// probe), then a real `keyhold server` process on a Vault config in the shape of KES's own test
// configs, with the faults: Vault unreachable or refusing credentials at start, going away and
// coming back during operation, slow, throttling, expired tokens, two gateways racing.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKesKeyValue } from '../src/crypto/index.ts';
import { createCertificate } from '../src/identity/index.ts';
import { Gateway } from '../src/server/gateway-owner.ts';
import type { CacheExpiry } from '../src/config/keystore-config.ts';
import { VaultKeyStore } from '../src/keystore/vault/vault-keystore.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { EventLog } from '../src/observe/event-log.ts';
import { FakeVault } from './helpers/vault-server.ts';
import { apiKeyCert, errorBody, kes, ServerExit, startKesServer } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'keyhold-gateway-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let vault: FakeVault;
let caFile: string;
/** The AppRoles Vault knows (a test revokes the gateway's by emptying the list). */
const roles = [{ roleId: 'kes-role', secretId: 'kes-secret', ttl: 0 }];
before(async () => {
  vault = await FakeVault.start({
    requireRequestHeader: true,
    mounts: { ns1: { kv: 'kv2', 'auth/approle': 'approle' } },
    roles: { 'ns1|approle': roles },
  });
  caFile = join(dir, 'vault-ca.pem');
  writeFileSync(caFile, vault.ca);
});
after(() => vault.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (polling every 50 ms, at most 10 s) until `done` holds: a state the probe reaches. */
async function poll(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(50);
  assert.ok(done(), `timed out waiting for ${what}`);
}
const gets = () => vault.requests.filter((r) => r.method === 'GET' && r.path.includes('/data/'));

describe('KES cache semantics (gateway over Vault)', () => {
  async function gateway(cache: CacheExpiry, prefix: string): Promise<Gateway> {
    const store = await VaultKeyStore.connect(
      {
        kind: 'vault',
        endpoint: vault.endpoint,
        engine: 'kv',
        version: 'v2',
        namespace: 'ns1',
        prefix,
        approle: { engine: 'approle', namespace: '', id: 'kes-role', secret: 'kes-secret' },
        tls: { key: '', cert: '', ca: caFile },
        statusPing: 60_000,
      },
      { env: {}, backoff: 10 },
    );
    return new Gateway({
      store,
      cache,
      enclave: 'default',
      rootIdentity: '',
      log: new EventLog(() => undefined),
      probeInterval: 100,
    });
  }
  const create = (g: Gateway, name: string) =>
    g.submit({
      op: 'key.create',
      enclave: 'default',
      name,
      type: 'AES256',
      key: Buffer.alloc(32, 1),
      hmacKey: Buffer.alloc(32, 2),
      imported: false,
      addVersion: false,
      at: Date.now(),
      by: '',
    });

  it('coalesces concurrent misses, does not cache on create, evicts on delete', async () => {
    const g = await gateway({ any: 0, unused: 0, offline: 0 }, 'c1');
    try {
      await create(g, 'k');
      assert.equal(g.cached('default', 'k'), undefined, 'create does not populate the cache');
      const before = gets().length;
      const rings = await Promise.all(Array.from({ length: 10 }, () => g.load('default', 'k')));
      assert.equal(gets().length - before, 1, 'ten concurrent misses, one read');
      assert.equal(rings[0]!.latest().type, 'AES256');
      await g.load('default', 'k');
      assert.equal(gets().length - before, 1, 'a hit does not read');
      await g.submit({ op: 'key.delete', enclave: 'default', name: 'k', version: 0, all: true });
      assert.equal(g.cached('default', 'k'), undefined);
    } finally {
      await g.close();
    }
  });

  it('`any` evicts everything; `unused` evicts only what was not used since the last tick', async () => {
    const any = await gateway({ any: 150, unused: 0, offline: 0 }, 'c2');
    const unused = await gateway({ any: 0, unused: 1000, offline: 0 }, 'c2');
    try {
      await create(any, 'a');
      await create(any, 'b');
      await any.load('default', 'a');
      await sleep(400);
      assert.equal(any.cached('default', 'a'), undefined, 'evicted by the any ticker');

      await unused.load('default', 'a');
      await unused.load('default', 'b');
      // Keep using `a` across several unused ticks (every 500 ms); leave `b` alone.
      for (let i = 0; i < 16; i++) {
        await sleep(100);
        assert.ok(unused.cached('default', 'a'), `a still cached (round ${i})`);
      }
      assert.equal(unused.cached('default', 'b'), undefined, 'b evicted as unused');
    } finally {
      await any.close();
      await unused.close();
    }
  });

  it('offline: the probe marks the store offline; with `offline` set cached keys keep serving', async () => {
    // Ticker phases start with the gateway: the store goes away long before the first `any`
    // tick (3 s) and the 100-ms probe marks it offline well before that tick; the checks wait
    // for a whole `any` interval after that, so a tick has surely run while offline.
    const keep = await gateway({ any: 3_000, unused: 0, offline: 10_000 }, 'c3');
    const drop = await gateway({ any: 3_000, unused: 0, offline: 0 }, 'c3');
    try {
      await create(keep, 'o');
      await keep.load('default', 'o');
      await drop.load('default', 'o');
      await vault.stop();
      try {
        await poll('both gateways offline', () => keep.cache.offline && drop.cache.offline);
        await sleep(3_100);
        assert.equal(keep.cache.offline, true);
        assert.ok(keep.cached('default', 'o'), 'kept while offline (offline caching on)');
        assert.equal(drop.cached('default', 'o'), undefined, 'evicted (offline caching off)');
        assert.deepEqual(await keep.health(), { latencyMs: 0, unreachable: true });
        await assert.rejects(drop.load('default', 'o'), /failed to read key/);
      } finally {
        await vault.listen();
      }
      await poll('the store back online', () => !keep.cache.offline);
      await drop.load('default', 'o');
    } finally {
      await keep.close();
      await drop.close();
    }
  });
});

describe('keyhold server as a KES gateway over Vault', () => {
  const appKey = ApiKey.generate('kes');
  const app = apiKeyCert(appKey);
  const tls = createCertificate({
    keyType: 'p256',
    commonName: 'kes',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
  });
  let server: KesServer;

  /** KES's `vault.yml` test config: KV v2, namespace ns1, prefix, AppRole from the environment. */
  const config = (endpoint: string) => `address: 0.0.0.0:7373
admin:
  identity: disabled
tls:
  key: ./server.key
  cert: ./server.cert
cache:
  expiry:
    any: 5m0s
    unused: 20s
    offline: 0s
policy:
  app:
    allow:
    - /v1/key/create/*
    - /v1/key/generate/*
    - /v1/key/decrypt/*
    - /v1/key/delete/*
    - /v1/key/list/*
    - /v1/status
    - /v1/ready
    identities:
    - ${app.identity}
keys:
  - name: minio-default-key
keystore:
  vault:
    endpoint: ${endpoint}
    engine: kv
    version: v2
    namespace: ns1
    prefix: tenant-1
    approle:
      id: \${VAULT_APPROLE_ID}
      secret: \${VAULT_APPROLE_SECRET}
      retry: 15s
    tls:
      ca: ${caFile}
    status:
      ping: 10s
keyhold:
  keystore_probe_interval: 500ms
`;
  const start = (env: Record<string, string> = {}, endpoint = vault.endpoint) =>
    startKesServer({
      config: config(endpoint),
      files: { 'server.key': tls.key, 'server.cert': tls.cert },
      env: { VAULT_APPROLE_ID: 'kes-role', VAULT_APPROLE_SECRET: 'kes-secret', ...env },
    });

  before(async () => {
    server = await start();
  });
  after(() => server.stop());

  it('creates the predefined key and serves keys in KES’s Vault layout', async () => {
    const entry = vault.entry('ns1', 'kv', 'tenant-1/minio-default-key');
    assert.ok(entry, 'the config’s predefined key was created at start');
    parseKesKeyValue(String(entry['minio-default-key']));

    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    await client.createKey('k1');
    const stored = vault.entry('ns1', 'kv', 'tenant-1/k1')!;
    assert.deepEqual(Object.keys(stored), ['k1']);
    assert.equal(parseKesKeyValue(String(stored.k1)).createdBy, app.identity);
    const dek = await client.generateKey('k1', Buffer.from('ctx'));
    assert.ok(
      (await client.decrypt('k1', dek.ciphertext, Buffer.from('ctx'))).equals(dek.plaintext),
    );
    const list = await kes(server.endpoint, app, 'GET', '/v1/key/list/', {
      headers: { Accept: 'application/json' },
    });
    assert.deepEqual(list.json<{ names: string[] }>().names, ['k1', 'minio-default-key']);
  });

  it('survives an expired token, throttling and a slow Vault', async () => {
    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    vault.expireTokens();
    await client.createKey('k2');
    vault.fail(2, 429, ['rate limit quota exceeded']);
    await client.generateKey('k2');
    vault.delay = 1500;
    try {
      await client.createKey('k3');
    } finally {
      vault.delay = 0;
    }
  });

  it('Vault going away: failed reads are KES’s 502, status and readiness say unreachable', async () => {
    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    await client.createKey('k4');
    await vault.stop();
    try {
      const read = await kes(server.endpoint, app, 'PUT', '/v1/key/generate/k4', { body: {} });
      assert.equal(read.status, 502);
      assert.equal(read.text, errorBody('failed to read key'));
      const created = await kes(server.endpoint, app, 'PUT', '/v1/key/create/k5');
      assert.equal(created.text, errorBody('failed to create key'));
      const status = await kes(server.endpoint, app, 'GET', '/v1/status');
      assert.equal(status.status, 200);
      const body = status.json<Record<string, unknown>>();
      assert.equal(body.keystore_unreachable, true);
      assert.equal(body.keystore_unavailable, true);
      const ready = await kes(server.endpoint, app, 'GET', '/v1/ready');
      assert.equal(ready.status, 504);
      assert.equal(ready.text, errorBody('key store is not reachable'));
    } finally {
      await vault.listen();
    }
    await client.generateKey('k4');
    // As in KES, only the store probe ends offline mode (every 10 s by default; 500 ms here):
    // readiness returns by then.
    let ready = 0;
    for (let i = 0; i < 60 && ready !== 200; i++) {
      ready = (await kes(server.endpoint, app, 'GET', '/v1/ready')).status;
      if (ready !== 200) await sleep(250);
    }
    assert.equal(ready, 200);
  });

  it('revoked credentials: status says unavailable, readiness fails; a new login recovers', async () => {
    const role = roles.pop()!;
    vault.expireTokens();
    try {
      const status = await kes(server.endpoint, app, 'GET', '/v1/status');
      assert.equal(status.json<Record<string, unknown>>().keystore_unavailable, true);
      const ready = await kes(server.endpoint, app, 'GET', '/v1/ready');
      // 502 "unavailable" until the probe marks the store offline, 504 after.
      assert.ok(
        ready.text === errorBody('key store is unavailable') ||
          ready.text === errorBody('key store is not reachable'),
        ready.text,
      );
      const read = await kes(server.endpoint, app, 'PUT', '/v1/key/generate/never-cached', {
        body: {},
      });
      assert.ok([404, 502].includes(read.status));
    } finally {
      roles.push(role);
    }
    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    await client.createKey('after-revocation');
  });

  it('two gateways on one Vault: exactly one of two concurrent creates wins', async () => {
    const second = await start();
    try {
      for (let i = 0; i < 3; i++) {
        const [a, b] = await Promise.all([
          kes(server.endpoint, app, 'PUT', `/v1/key/create/race-${i}`),
          kes(second.endpoint, app, 'PUT', `/v1/key/create/race-${i}`),
        ]);
        assert.deepEqual([a.status, b.status].sort(), [200, 400], `${a.text} ${b.text}`);
        assert.equal((a.status === 400 ? a : b).text, errorBody('key already exists'));
      }
    } finally {
      await second.stop();
    }
  });

  it('refuses to start when Vault refuses the credentials or cannot be reached', async () => {
    const wrong = await start({ VAULT_APPROLE_SECRET: 'wrong' }).then(
      () => assert.fail('started with wrong credentials'),
      (error: unknown) => error,
    );
    assert.ok(wrong instanceof ServerExit);
    assert.match(wrong.output, /cannot connect to the key store: .*invalid role or secret ID/s);
    const down = await start({}, 'https://127.0.0.1:1').then(
      () => assert.fail('started without Vault'),
      (error: unknown) => error,
    );
    assert.ok(down instanceof ServerExit);
    assert.match(
      down.output,
      /cannot connect to the key store: vault: PUT https:\/\/127\.0\.0\.1:1\//,
    );
  });
});

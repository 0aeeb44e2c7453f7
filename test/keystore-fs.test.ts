// KES gateway mode over KES's `fs` key store, end to end with real `keyhold server` processes:
// a directory written in every historical KES format opens; keys Keyhold creates are in KES's
// exact current format; KES's errors; the KMS API on the same keys; two gateways on one
// directory racing to create the same key (exactly one wins).

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeKesKeyValue, SecretKey } from '../src/crypto/index.ts';
import { ApiKey, KmsClient } from '../src/sdk/index.ts';
import { apiKeyCert, errorBody, kes, startKesServer, tempDir } from './kes-server-support.ts';
import type { ClientCert, KesServer } from './kes-server-support.ts';

const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64');

const adminKey = ApiKey.generate('k1');
const admin: ClientCert = apiKeyCert(adminKey);
const app = apiKeyCert();

/** A config as KES deployments write it: fs keystore, admin, one app policy, cache. */
function config(path: string): string {
  return `address: 0.0.0.0:7373
admin:
  identity: ${admin.identity}
policy:
  app:
    allow:
    - /v1/key/create/app-*
    - /v1/key/generate/app-*
    - /v1/key/decrypt/app-*
    - /v1/key/list/*
    identities:
    - ${app.identity}
cache:
  expiry:
    any: 5m
    unused: 30s
keystore:
  fs:
    path: ${path}
`;
}

describe('KES gateway mode: fs key store', () => {
  let work: string;
  let store: string;
  let server: KesServer;
  const keyBytes = {
    current: randomBytes(32),
    currentHmac: randomBytes(32),
    v022: randomBytes(32),
    chacha: randomBytes(32),
    bare: randomBytes(32),
  };

  before(async () => {
    work = tempDir();
    store = join(work, 'keys');
    mkdirSync(store);
    // Every era of KES's stored value, as KES wrote it into its fs store.
    writeFileSync(
      join(store, 'current'),
      encodeKesKeyValue({
        key: new SecretKey('AES256', keyBytes.current),
        hmacKey: keyBytes.currentHmac,
        createdAt: new Date('2024-05-01T10:00:00.123Z'),
        createdBy: app.identity,
      }),
      { mode: 0o600 },
    );
    writeFileSync(
      join(store, 'v022'),
      JSON.stringify({
        version: 'v1',
        bytes: b64(keyBytes.v022),
        algorithm: 'AES256-GCM_SHA256',
        created_at: '2022-01-01T00:00:00Z',
        created_by: app.identity,
      }),
    );
    writeFileSync(
      join(store, 'chacha'),
      `{"bytes":"${b64(keyBytes.chacha)}","algorithm":"XCHACHA20-POLY1305","created_at":"2023-03-01T12:00:00.5+01:00"}`,
    );
    writeFileSync(join(store, 'bare'), `{"bytes":"${b64(keyBytes.bare)}"}`);
    server = await startKesServer({ dir: work, config: config(store) });
  });
  after(() => server.stop());

  const call = (method: string, path: string, body?: object, cert = admin) =>
    kes(server.endpoint, cert, method, path, body === undefined ? {} : { body });

  it('opens keys in every historical KES format and decrypts what those keys sealed', async () => {
    for (const [name, type, bytes] of [
      ['current', 'AES256', keyBytes.current],
      ['v022', 'AES256', keyBytes.v022],
      ['chacha', 'ChaCha20', keyBytes.chacha],
      ['bare', 'AES256', keyBytes.bare],
    ] as const) {
      // A ciphertext made directly with the key bytes, as KES would have made it.
      const sealed = new SecretKey(type, bytes).seal(
        Buffer.from(`secret of ${name}`),
        Buffer.from('ctx'),
      );
      const res = await call('PUT', `/v1/key/decrypt/${name}`, {
        ciphertext: b64(sealed),
        context: b64('ctx'),
      });
      assert.equal(res.status, 200, `${name}: ${res.text}`);
      assert.equal(
        Buffer.from(res.json<{ plaintext: string }>().plaintext, 'base64').toString(),
        `secret of ${name}`,
      );
    }
    const described = await call('GET', '/v1/key/describe/chacha');
    assert.deepEqual(described.json(), {
      name: 'chacha',
      algorithm: 'ChaCha20',
      created_at: '2023-03-01T11:00:00.5Z',
    });
    // HMAC: the current format's own HMAC key; legacy values have none (KES: 409).
    const mac = await call('PUT', '/v1/key/hmac/current', { message: b64('m') });
    assert.equal(mac.status, 200, mac.text);
    assert.equal(
      mac.json<{ hmac: string }>().hmac,
      createHmac('sha256', keyBytes.currentHmac).update('m').digest('base64'),
    );
    const legacyMac = await call('PUT', '/v1/key/hmac/v022', { message: b64('m') });
    assert.equal(legacyMac.status, 409);
    assert.equal(legacyMac.text, errorBody('key does not support HMAC'));
  });

  it('creates keys in KES’s exact stored format, file per key, mode 0600', async () => {
    const before = Date.now();
    const res = await call('PUT', '/v1/key/create/app-new', undefined, app);
    assert.equal(res.status, 200, res.text);
    const file = join(store, 'app-new');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^[A-Za-z0-9+/]+=*$/, 'standard base64 with padding, no newline');
    const raw = Buffer.from(text, 'base64');
    // KeyVersion{SecretKey{Key, Type=AES256}, HMACKey{Key, Hash=SHA256}, CreatedAt, CreatedBy}
    assert.deepEqual([...raw.subarray(0, 4)], [0x0a, 0x24, 0x0a, 0x20]);
    assert.deepEqual([...raw.subarray(36, 42)], [0x10, 0x01, 0x12, 0x24, 0x0a, 0x20]);
    assert.deepEqual([...raw.subarray(74, 77)], [0x10, 0x01, 0x1a]);
    const tsLength = raw[77]!;
    const creator = raw.subarray(78 + tsLength);
    assert.deepEqual([...creator.subarray(0, 2)], [0x22, 0x40]);
    assert.equal(creator.subarray(2).toString(), app.identity);
    assert.equal(creator.length, 66, 'nothing after CreatedBy');
    const described = (await call('GET', '/v1/key/describe/app-new')).json<{
      created_at: string;
      created_by: string;
    }>();
    assert.equal(described.created_by, app.identity);
    assert.ok(Date.parse(described.created_at) >= before - 1000);

    // Round trip through the gateway: generate, then decrypt.
    const dek = await call('PUT', '/v1/key/generate/app-new', { context: b64('c') }, app);
    assert.equal(dek.status, 200, dek.text);
    const { plaintext, ciphertext } = dek.json<{ plaintext: string; ciphertext: string }>();
    const opened = await call(
      'PUT',
      '/v1/key/decrypt/app-new',
      { ciphertext, context: b64('c') },
      app,
    );
    assert.equal(opened.json<{ plaintext: string }>().plaintext, plaintext);
  });

  it('answers KES’s errors: exists, missing, policy, invalid names', async () => {
    const again = await call('PUT', '/v1/key/create/app-new', undefined, app);
    assert.equal(again.status, 400);
    assert.equal(again.text, errorBody('key already exists'));
    const missing = await call('PUT', '/v1/key/generate/app-missing', {}, app);
    assert.equal(missing.status, 404);
    assert.equal(missing.text, errorBody('key does not exist'));
    const denied = await call('PUT', '/v1/key/generate/current', {}, app);
    assert.equal(denied.status, 403);
    assert.equal(denied.text, errorBody('not authorized: insufficient permissions'));
    // KES's name grammar (no dots) keeps every name a plain file name in the store.
    const dotted = await call('PUT', '/v1/key/create/a.b');
    assert.equal(dotted.status, 400, dotted.text);
    assert.equal(
      dotted.text,
      errorBody("key name 'a.b' is empty, too long or contains invalid characters"),
    );
    assert.equal(existsSync(join(store, 'a.b')), false);
  });

  it('lists from the store with a prefix, and deletes', async () => {
    const list = await kes(server.endpoint, admin, 'GET', '/v1/key/list/', {
      headers: { Accept: 'application/json' },
    });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json<{ names: string[] }>().names, [
      'app-new',
      'bare',
      'chacha',
      'current',
      'v022',
    ]);
    // Legacy clients' NDJSON listing: each key read from the store and described.
    const ndjson = await kes(server.endpoint, admin, 'GET', '/v1/key/list/c*');
    assert.equal(ndjson.headers['content-type'], 'application/x-ndjson');
    const lines = ndjson.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; algorithm: string });
    assert.deepEqual(
      lines.map((l) => [l.name, l.algorithm]),
      [
        ['chacha', 'ChaCha20'],
        ['current', 'AES256'],
      ],
    );
    // A key KES (or anyone) writes into the store is visible at once in listings.
    writeFileSync(join(store, 'app-external'), readFileSync(join(store, 'current')));
    const prefixed = await kes(server.endpoint, app, 'GET', '/v1/key/list/app-', {
      headers: { Accept: 'application/json' },
    });
    assert.deepEqual(prefixed.json<{ names: string[] }>().names, ['app-external', 'app-new']);

    const deleted = await call('DELETE', '/v1/key/delete/app-external');
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(existsSync(join(store, 'app-external')), false);
    const gone = await call('DELETE', '/v1/key/delete/app-external');
    assert.equal(gone.status, 404);
    assert.equal(gone.text, errorBody('key does not exist'));
  });

  it('serves the KMS API on the same keys, and refuses what a gateway cannot do', async () => {
    const kms = new KmsClient({
      endpoints: server.endpoint,
      apiKey: adminKey.toText(),
      tls: { insecure: true },
    });
    try {
      await kms.createKey('kms-made');
      assert.ok(existsSync(join(store, 'kms-made')));
      const dek = await kms.generateKey('current', { associatedData: 'x' });
      const viaKes = await call('PUT', '/v1/key/decrypt/current', {
        ciphertext: b64(dek.ciphertext),
        context: b64('x'),
      });
      assert.equal(
        Buffer.from(viaKes.json<{ plaintext: string }>().plaintext, 'base64').equals(dek.plaintext),
        true,
      );
      const status = await kms.keyStatus('v022');
      assert.equal(status.version, 1);
      const page = await kms.listKeys({ prefix: 'c' });
      assert.deepEqual(
        page.items.map((k) => k.name),
        ['chacha', 'current'],
      );
      await assert.rejects(kms.addKeyVersion('current'), /one version/);
      await assert.rejects(kms.createEnclave('other'), /not available in KES gateway mode/);
    } finally {
      kms.close();
    }
  });

  it('status and readiness report the store', async () => {
    const status = await call('GET', '/v1/status');
    assert.equal(status.status, 200);
    const body = status.json<Record<string, unknown>>();
    assert.equal(typeof body.keystore_latency, 'number');
    assert.equal(body.keystore_unreachable, undefined);
    assert.equal((await call('GET', '/v1/ready')).status, 200);
  });

  it('two gateways on one store: exactly one of two concurrent creates wins', async () => {
    const second = await startKesServer({ config: config(store) });
    try {
      for (let round = 0; round < 5; round++) {
        const name = `app-race-${round}`;
        const [a, b] = await Promise.all([
          kes(server.endpoint, app, 'PUT', `/v1/key/create/${name}`),
          kes(second.endpoint, app, 'PUT', `/v1/key/create/${name}`),
        ]);
        assert.deepEqual([a.status, b.status].sort(), [200, 400], `${a.text} ${b.text}`);
        const loser = a.status === 400 ? a : b;
        assert.equal(loser.text, errorBody('key already exists'));
      }
      // No temporary files left behind.
      assert.deepEqual(
        readdirSync(store).filter((n) => n.startsWith('.')),
        [],
      );
    } finally {
      await second.stop();
    }
  });
});

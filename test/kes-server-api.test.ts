// The KES API of a real Keyhold server, route by route, as the admin: exact statuses, headers
// and bytes (docs/protocol/kes.md), MinIO's startup sequence, enclaves, and one key used through
// both the KES and the KMS API.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KmsClient } from '../src/sdk/index.ts';
import { apiKeyCert, errorBody, kes, startKesServer } from './kes-server-support.ts';
import type { ClientCert, KesResponse, KesServer } from './kes-server-support.ts';

let server: KesServer;
let admin: ClientCert;
let kms: KmsClient;

const call = (
  method: string,
  path: string,
  body?: string | object,
  headers?: Record<string, string>,
): Promise<KesResponse> =>
  kes(server.endpoint, admin, method, path, {
    ...(body === undefined ? {} : { body }),
    ...(headers ? { headers } : {}),
  });

/** Asserts an exact KES error response. */
function assertError(res: KesResponse, status: number, message: string): void {
  assert.equal(res.text, errorBody(message), `body of ${status}`);
  assert.equal(res.status, status);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['content-length'], String(res.body.length));
}

/** Asserts an "empty" KES success. */
function assertEmpty(res: KesResponse): void {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['content-length'], '0');
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.body.length, 0);
}

/** Listings answer NDJSON unless the client asks for the current era's JSON pages. */
const JSON_PAGES = { Accept: 'application/json' };
const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64');
const CONTEXT = b64('{"bucket":"bucket/object"}');

before(async () => {
  server = await startKesServer();
  admin = server.root!;
  kms = new KmsClient({
    endpoints: server.endpoint,
    apiKey: server.rootApiKey,
    tls: { insecure: true },
  });
});

after(async () => {
  kms.close();
  await server.stop();
});

describe('server routes', () => {
  it('GET /version needs no client certificate', async () => {
    const res = await kes(server.endpoint, null, 'GET', '/version');
    assert.equal(res.status, 200);
    const version = res.json<{ version: string }>();
    assert.equal(typeof version.version, 'string');
  });

  it('GET /v1/ready answers an empty 200', async () => {
    assertEmpty(await call('GET', '/v1/ready'));
  });

  it('GET /v1/status has the shape kms-go decodes', async () => {
    const res = await call('GET', '/v1/status');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.ok(res.text.endsWith('}\n'));
    const s = res.json<Record<string, unknown>>();
    for (const field of ['version', 'os', 'arch']) assert.equal(typeof s[field], 'string', field);
    for (const field of [
      'uptime',
      'num_cpu',
      'num_cpu_used',
      'mem_heap_used',
      'keystore_latency',
    ]) {
      assert.equal(typeof s[field], 'number', field);
    }
    assert.ok((s.keystore_latency as number) > 0);
    assert.equal(s.keystore_unreachable, undefined);
  });

  it('GET /v1/api lists the current routes as upstream does', async () => {
    const res = await call('GET', '/v1/api');
    assert.equal(res.status, 200);
    const routes =
      res.json<{ method: string; path: string; max_body: number; timeout: number }[]>();
    const table = new Map(routes.map((r) => [r.path, [r.method, r.max_body, r.timeout]]));
    assert.deepEqual(Object.fromEntries(table), {
      '/version': ['GET', 0, 10],
      '/v1/ready': ['GET', 0, 15],
      '/v1/status': ['GET', 0, 15],
      '/v1/metrics': ['GET', 0, 15],
      '/v1/api': ['GET', 0, 10],
      '/v1/key/create/': ['PUT', 0, 15],
      '/v1/key/import/': ['PUT', 1_000_000, 15],
      '/v1/key/describe/': ['GET', 0, 15],
      '/v1/key/list/': ['GET', 0, 15],
      '/v1/key/delete/': ['DELETE', 0, 15],
      '/v1/key/generate/': ['PUT', 1_000_000, 15],
      '/v1/key/encrypt/': ['PUT', 1_000_000, 15],
      '/v1/key/decrypt/': ['PUT', 1_000_000, 15],
      '/v1/key/hmac/': ['PUT', 1_000_000, 15],
      '/v1/policy/describe/': ['GET', 0, 15],
      '/v1/policy/read/': ['GET', 0, 15],
      '/v1/policy/list/': ['GET', 0, 15],
      '/v1/identity/describe/': ['GET', 0, 15],
      '/v1/identity/list/': ['GET', 0, 15],
      '/v1/identity/self/describe': ['GET', 0, 15],
      '/v1/log/error': ['GET', 0, 0],
      '/v1/log/audit': ['GET', 0, 0],
    });
    assert.equal(routes.length, table.size);
  });

  it('GET /v1/metrics: KES names, and only the request counters have several samples', async () => {
    await call('GET', '/v1/key/describe/metrics-probe'); // one 404 for the error counter
    const res = await call('GET', '/v1/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const samples = new Map<string, number>();
    let family = '';
    for (const line of res.text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) {
        family = type[1]!;
        samples.set(family, 0);
        continue;
      }
      if (line === '' || line.startsWith('#')) continue;
      const name = /^([a-z_]+)/.exec(line)![1]!;
      assert.ok(name.startsWith(family), `${name} outside ${family}`);
      if (!/_(bucket|sum)$/.test(name)) samples.set(family, samples.get(family)! + 1);
    }
    for (const name of [
      'kes_http_request_error',
      'kes_http_request_active',
      'kes_http_response_time',
      'kes_log_error_events',
      'kes_log_audit_events',
      'kes_system_up_time',
      'kes_system_num_cpu',
      'kes_system_num_cpu_used',
      'kes_system_num_threads',
      'kes_system_mem_heap_used',
      'kes_system_mem_heap_objects',
      'kes_system_mem_stack_used',
    ]) {
      assert.ok(samples.has(name), name);
    }
    for (const [name, n] of samples) {
      assert.ok(n >= 1, `${name} has no sample`);
      if (!name.startsWith('kes_http_request_') || name === 'kes_http_request_active') {
        assert.equal(n, 1, `${name} must have exactly one sample`);
      }
    }
  });

  it('answers unknown paths as Go ServeMux does', async () => {
    for (const path of [
      '/v1/nothing',
      '/v1/status/',
      '/v1/key/nothing/x',
      '/v1/enclave/create/x',
    ]) {
      const res = await call('GET', path);
      assert.equal(res.status, 404, path);
      assert.equal(res.text, '404 page not found\n');
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    }
  });

  it('refuses a request without a client certificate', async () => {
    const res = await kes(server.endpoint, null, 'GET', '/v1/status');
    assertError(res, 400, 'tls: client certificate is required');
  });

  it('refuses a chain with two non-CA certificates', async () => {
    const other = apiKeyCert();
    const res = await kes(
      server.endpoint,
      { cert: admin.cert + other.cert, key: admin.key },
      'GET',
      '/v1/status',
    );
    assertError(res, 400, 'tls: received more than one client certificate');
  });
});

describe('methods', () => {
  it('answers 405 with an Accept header and the upstream message', async () => {
    const res = await call('GET', '/v1/key/create/m');
    assertError(res, 405, "received method 'GET' expected 'PUT'");
    assert.equal(res.headers.accept, 'PUT');
    const del = await call('POST', '/v1/key/describe/m');
    assertError(del, 405, "received method 'POST' expected 'GET'");
    assert.equal(del.headers.accept, 'GET');
    assertError(
      await call('PUT', '/v1/key/delete/m'),
      405,
      "received method 'PUT' expected 'DELETE'",
    );
  });

  it('accepts PUT and POST wherever PUT is expected', async () => {
    assertEmpty(await call('PUT', '/v1/key/create/put-key'));
    assertEmpty(await call('POST', '/v1/key/create/post-key'));
    for (const method of ['PUT', 'POST']) {
      const gen = await call(method, '/v1/key/generate/put-key', { context: CONTEXT });
      assert.equal(gen.status, 200, `${method} generate`);
      const enc = await call(method, '/v1/key/encrypt/post-key', { plaintext: b64('x') });
      assert.equal(enc.status, 200, `${method} encrypt`);
      const mac = await call(method, '/v1/key/hmac/post-key', { message: b64('m') });
      assert.equal(mac.status, 200, `${method} hmac`);
    }
  });
});

describe('keys', () => {
  it('MinIO startup: generate → 404 key does not exist → create → generate', async () => {
    const missing = await call('POST', '/v1/key/generate/minio-default', { context: 'e30=' });
    assertError(missing, 404, 'key does not exist');
    assertEmpty(await call('POST', '/v1/key/create/minio-default'));
    assertError(await call('POST', '/v1/key/create/minio-default'), 400, 'key already exists');
    const res = await call('POST', '/v1/key/generate/minio-default', { context: 'e30=' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.ok(res.text.endsWith('}\n'));
    const { plaintext, ciphertext } = res.json<{ plaintext: string; ciphertext: string }>();
    assert.equal(Buffer.from(plaintext, 'base64').length, 32);
    assert.equal(Buffer.from(ciphertext, 'base64').length, 76);
    const dec = await call('POST', '/v1/key/decrypt/minio-default', {
      ciphertext,
      context: 'e30=',
    });
    assert.equal(dec.status, 200);
    assert.equal(dec.json<{ plaintext: string }>().plaintext, plaintext);
    assertError(
      await call('POST', '/v1/key/decrypt/minio-default', { ciphertext, context: CONTEXT }),
      400,
      'decryption failed: ciphertext is not authentic',
    );
  });

  it('generate without a body seals with an empty context', async () => {
    await call('PUT', '/v1/key/create/no-context');
    const res = await call('PUT', '/v1/key/generate/no-context');
    assert.equal(res.status, 200);
    const { plaintext, ciphertext } = res.json<{ plaintext: string; ciphertext: string }>();
    const dec = await call('PUT', '/v1/key/decrypt/no-context', { ciphertext });
    assert.equal(dec.json<{ plaintext: string }>().plaintext, plaintext);
  });

  it('encrypt and decrypt round-trip with a context', async () => {
    await call('PUT', '/v1/key/create/round-trip');
    const message = b64('hello <KES> & Keyhold');
    const enc = await call('PUT', '/v1/key/encrypt/round-trip', {
      plaintext: message,
      context: CONTEXT,
    });
    assert.equal(enc.status, 200);
    const { ciphertext } = enc.json<{ ciphertext: string }>();
    assert.equal(Buffer.from(ciphertext, 'base64').length, 21 + 44);
    const dec = await call('PUT', '/v1/key/decrypt/round-trip', { ciphertext, context: CONTEXT });
    assert.equal(dec.json<{ plaintext: string }>().plaintext, message);
    const tampered = Buffer.from(ciphertext, 'base64');
    tampered[0]! ^= 1;
    assertError(
      await call('PUT', '/v1/key/decrypt/round-trip', {
        ciphertext: b64(tampered),
        context: CONTEXT,
      }),
      400,
      'decryption failed: ciphertext is not authentic',
    );
    assertError(
      await call('PUT', '/v1/key/decrypt/round-trip', {
        ciphertext: b64('short'),
        context: CONTEXT,
      }),
      400,
      'decryption failed: ciphertext is not authentic',
    );
  });

  it('hmac: 32 bytes, deterministic per key and message', async () => {
    await call('PUT', '/v1/key/create/mac-key');
    const mac = async (message: string): Promise<string> =>
      (await call('PUT', '/v1/key/hmac/mac-key', { message: b64(message) })).json<{
        hmac: string;
      }>().hmac;
    const a = await mac('a');
    assert.equal(Buffer.from(a, 'base64').length, 32);
    assert.equal(await mac('a'), a);
    assert.notEqual(await mac('b'), a);
  });

  it('describe: name, algorithm, creation', async () => {
    await call('PUT', '/v1/key/create/described');
    const res = await call('GET', '/v1/key/describe/described');
    assert.equal(res.status, 200);
    const d = res.json<Record<string, string>>();
    assert.deepEqual(Object.keys(d), ['name', 'algorithm', 'created_at', 'created_by']);
    assert.equal(d.name, 'described');
    assert.equal(d.algorithm, 'AES256');
    assert.match(d.created_at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/);
    assert.equal(d.created_by, admin.identity);
    assertError(await call('GET', '/v1/key/describe/not-there'), 404, 'key does not exist');
  });

  it('import: current and legacy bodies, cipher names, sizes', async () => {
    const key = Buffer.alloc(32, 9);
    assertEmpty(await call('PUT', '/v1/key/import/imported', { key: b64(key), cipher: 'AES256' }));
    assertError(
      await call('PUT', '/v1/key/import/imported', { key: b64(key), cipher: 'AES256' }),
      400,
      'key already exists',
    );
    assertEmpty(
      await call('PUT', '/v1/key/import/imported-gcm', {
        key: b64(key),
        cipher: 'AES256-GCM_SHA256',
      }),
    );
    assertEmpty(
      await call('PUT', '/v1/key/import/imported-chacha', { key: b64(key), cipher: 'ChaCha20' }),
    );
    assert.equal(
      (await call('GET', '/v1/key/describe/imported-chacha')).json<{ algorithm: string }>()
        .algorithm,
      'ChaCha20',
    );
    assertEmpty(
      await call('POST', '/v1/key/import/legacy-body', { bytes: b64(key), algorithm: '' }),
    );
    assertError(
      await call('PUT', '/v1/key/import/x1', { key: b64(key), cipher: 'AES' }),
      406,
      "algorithm 'AES' is not supported",
    );
    assertError(
      await call('PUT', '/v1/key/import/x2', { key: b64(key) }),
      406,
      "algorithm '' is not supported",
    );
    assertError(
      await call('PUT', '/v1/key/import/x3', { key: b64(Buffer.alloc(16)), cipher: 'AES256' }),
      406,
      "invalid key size for 'AES256'",
    );
    assertError(
      await call('PUT', '/v1/key/import/x4', '{"key":'),
      400,
      'invalid import key request body',
    );
    // An imported key gets an HMAC key, as upstream.
    assert.equal((await call('PUT', '/v1/key/hmac/imported', { message: b64('m') })).status, 200);
    // Keyhold extension: `hmac_key` keeps a migrated key's HMAC key.
    const hmacKey = Buffer.alloc(32, 5);
    assertEmpty(
      await call('PUT', '/v1/key/import/with-hmac', {
        key: b64(key),
        cipher: 'AES256',
        hmac_key: b64(hmacKey),
      }),
    );
    const mac = await call('PUT', '/v1/key/hmac/with-hmac', { message: b64('m') });
    assert.equal(
      mac.json<{ hmac: string }>().hmac,
      createHmac('sha256', hmacKey).update('m').digest('base64'),
    );
    assertError(
      await call('PUT', '/v1/key/import/x5', {
        key: b64(key),
        cipher: 'AES256',
        hmac_key: b64('short'),
      }),
      406,
      'invalid HMAC key size: must be 32 bytes',
    );
  });

  it('list: prefixes, a trailing * stripped, /v1/key/list with and without slash', async () => {
    for (const name of ['list-a1', 'list-a2', 'list-b1'])
      await call('PUT', `/v1/key/create/${name}`);
    const names = async (path: string): Promise<string[]> => {
      const res = await call('GET', path, undefined, JSON_PAGES);
      assert.equal(res.status, 200, path);
      const body = res.json<{ names: string[]; continue_at?: string }>();
      assert.equal(body.continue_at, undefined);
      return body.names.filter((n) => n.startsWith('list-'));
    };
    assert.deepEqual(await names('/v1/key/list'), ['list-a1', 'list-a2', 'list-b1']);
    assert.deepEqual(await names('/v1/key/list/'), ['list-a1', 'list-a2', 'list-b1']);
    assert.deepEqual(await names('/v1/key/list/*'), ['list-a1', 'list-a2', 'list-b1']);
    assert.deepEqual(await names('/v1/key/list/list-a'), ['list-a1', 'list-a2']);
    assert.deepEqual(await names('/v1/key/list/list-a*'), ['list-a1', 'list-a2']);
    assert.deepEqual((await call('GET', '/v1/key/list/zzz', undefined, JSON_PAGES)).json(), {
      names: [],
    });
    assertError(
      await call('GET', '/v1/key/list/a*b', undefined, JSON_PAGES),
      400,
      "listing pattern 'a*b' is empty, too long or is invalid",
    );
  });

  it('list pages at 1024 names with continue_at', async () => {
    const names = Array.from({ length: 1030 }, (_, i) => `page-${String(i).padStart(4, '0')}`);
    // Created through the KMS API in batches (one request per 100 keys).
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((name) => kms.createKey(name)));
    }
    const res = await call('GET', '/v1/key/list/page-', undefined, JSON_PAGES);
    const body = res.json<{ names: string[]; continue_at: string }>();
    assert.equal(body.names.length, 1024);
    assert.equal(body.names[0], 'page-0000');
    assert.equal(body.continue_at, 'page-1024');
    const rest = (
      await call('GET', `/v1/key/list/${body.continue_at}`, undefined, JSON_PAGES)
    ).json<{
      names: string[];
    }>();
    assert.deepEqual(rest.names, ['page-1024']);
  });

  it('delete: empty 200, then 404', async () => {
    await call('PUT', '/v1/key/create/doomed');
    assertEmpty(await call('DELETE', '/v1/key/delete/doomed'));
    assertError(await call('DELETE', '/v1/key/delete/doomed'), 404, 'key does not exist');
    assertError(
      await call('POST', '/v1/key/generate/doomed', { context: 'e30=' }),
      404,
      'key does not exist',
    );
  });
});

describe('policies and identities as the admin', () => {
  it('the admin describes itself, and is listed', async () => {
    const self = await call('GET', '/v1/identity/self/describe');
    assert.equal(self.status, 200);
    const body = self.json<{ identity: string; admin: boolean; created_at: string }>();
    assert.equal(body.identity, admin.identity);
    assert.equal(body.admin, true);
    const list = await call('GET', '/v1/identity/list', undefined, JSON_PAGES);
    assert.deepEqual(list.json(), { identities: [admin.identity], continue_at: '' });
    const described = await call('GET', `/v1/identity/describe/${admin.identity}`);
    assert.equal(described.json<{ admin: boolean }>().admin, true);
  });

  it('unknown policies and identities are 404 with the upstream messages', async () => {
    assertError(await call('GET', '/v1/policy/describe/nope'), 404, 'policy does not exist');
    assertError(await call('GET', '/v1/policy/read/nope'), 404, 'policy does not exist');
    assertError(
      await call('GET', `/v1/identity/describe/${'a'.repeat(64)}`),
      404,
      'identity does not exist',
    );
    assert.deepEqual((await call('GET', '/v1/policy/list', undefined, JSON_PAGES)).json(), {
      names: [],
      continue_at: '',
    });
    assert.deepEqual((await call('GET', '/v1/policy/list/*', undefined, JSON_PAGES)).json(), {
      names: [],
      continue_at: '',
    });
  });

  it('policies created through the KMS API are visible, their rules as KES paths', async () => {
    await kms.createPolicy('from-kms', { allow: { 'KEY:GENERATE': ['app-*'] }, deny: {} });
    const read = await call('GET', '/v1/policy/read/from-kms');
    assert.equal(read.status, 200);
    const body = read.json<{ name: string; allow: Record<string, object>; created_by: string }>();
    assert.deepEqual(body.allow, { '/v1/key/generate/app-*': {} });
    assert.equal(body.created_by, admin.identity);
    assert.deepEqual((await call('GET', '/v1/policy/list/from', undefined, JSON_PAGES)).json(), {
      names: ['from-kms'],
      continue_at: '',
    });
    const described = await call('GET', '/v1/policy/describe/from-kms');
    assert.deepEqual(Object.keys(described.json<object>()), ['name', 'created_at', 'created_by']);
  });
});

describe('enclaves and the KMS API', () => {
  it('selects the enclave by ?enclave= or Kes-Enclave, else the default', async () => {
    await kms.createEnclave('tenant');
    assertEmpty(await call('PUT', '/v1/key/create/tenant-key?enclave=tenant'));
    assertError(await call('GET', '/v1/key/describe/tenant-key'), 404, 'key does not exist');
    assert.equal((await call('GET', '/v1/key/describe/tenant-key?enclave=tenant')).status, 200);
    assert.equal(
      (await call('GET', '/v1/key/describe/tenant-key', undefined, { 'Kes-Enclave': 'tenant' }))
        .status,
      200,
    );
    assertError(
      await call('GET', '/v1/key/list/?enclave=ghost', undefined, JSON_PAGES),
      404,
      'enclave does not exist',
    );
    assertError(
      await call('GET', '/v1/key/list/?enclave=bad.name', undefined, JSON_PAGES),
      400,
      "enclave name 'bad.name' is empty, too long or contains invalid characters",
    );
  });

  it('one key, both APIs: KES-created keys work through KMS and back', async () => {
    await call('PUT', '/v1/key/create/shared-key');
    const dek = await kms.generateKey('shared-key', { associatedData: Buffer.from('{}') });
    const dec = await call('PUT', '/v1/key/decrypt/shared-key', {
      ciphertext: b64(dek.ciphertext),
      context: 'e30=',
    });
    assert.equal(dec.json<{ plaintext: string }>().plaintext, b64(dek.plaintext));

    await kms.createKey('kms-made');
    const gen = (await call('PUT', '/v1/key/generate/kms-made', { context: 'e30=' })).json<{
      plaintext: string;
      ciphertext: string;
    }>();
    const back = await kms.decrypt('kms-made', Buffer.from(gen.ciphertext, 'base64'), {
      associatedData: Buffer.from('{}'),
    });
    assert.equal(b64(Buffer.from(back)), gen.plaintext);
  });

  it('a rotated key (KMS versions) still decrypts its old ciphertexts through KES', async () => {
    await kms.createKey('rotated');
    const old = (await call('PUT', '/v1/key/generate/rotated', { context: 'e30=' })).json<{
      plaintext: string;
      ciphertext: string;
    }>();
    await kms.addKeyVersion('rotated');
    const dec = await call('PUT', '/v1/key/decrypt/rotated', {
      ciphertext: old.ciphertext,
      context: 'e30=',
    });
    assert.equal(dec.json<{ plaintext: string }>().plaintext, old.plaintext);
  });
});

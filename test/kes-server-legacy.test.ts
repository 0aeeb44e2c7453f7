// The legacy KES era on a real server: POST-only clients, bulk decrypt, NDJSON listings, the
// `{"bytes","algorithm"}` import body, kes-go's `?enclave=`, and a MinIO static key imported
// over /v1/key/import/ decrypting every ciphertext format MinIO and old KES wrote.

import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { hchacha20 } from '../src/crypto/index.ts';
import { errorBody, kes, startKesServer } from './kes-server-support.ts';
import type { ClientCert, KesResponse, KesServer } from './kes-server-support.ts';

let server: KesServer;
let admin: ClientCert;

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
const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64');
const NDJSON = { Accept: 'application/x-ndjson' };

before(async () => {
  server = await startKesServer();
  admin = server.root!;
});

after(async () => {
  await server.stop();
});

describe('legacy requests', () => {
  it('POST-only clients: every mutating call works with POST', async () => {
    assert.equal((await call('POST', '/v1/key/create/legacy-key')).status, 200);
    const gen = await call('POST', '/v1/key/generate/legacy-key', { context: 'e30=' });
    assert.equal(gen.status, 200);
    const { ciphertext } = gen.json<{ ciphertext: string }>();
    assert.equal(
      (await call('POST', '/v1/key/decrypt/legacy-key', { ciphertext, context: 'e30=' })).status,
      200,
    );
    assert.equal(
      (await call('POST', '/v1/key/encrypt/legacy-key', { plaintext: b64('x') })).status,
      200,
    );
  });

  it('bulk decrypt: in order, at most 1000, the first failure fails the call', async () => {
    await call('POST', '/v1/key/create/bulk-key');
    const deks = await Promise.all(
      ['a', 'b', 'c'].map(async (bucket) => {
        const context = b64(`{"${bucket}":"${bucket}/o"}`);
        const r = (await call('POST', '/v1/key/generate/bulk-key', { context })).json<{
          plaintext: string;
          ciphertext: string;
        }>();
        return { ...r, context };
      }),
    );
    const res = await call(
      'POST',
      '/v1/key/bulk/decrypt/bulk-key',
      deks.map((d) => ({ ciphertext: d.ciphertext, context: d.context })),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.json(),
      deks.map((d) => ({ plaintext: d.plaintext })),
    );
    const tooMany = Array.from({ length: 1001 }, () => ({ ciphertext: deks[0]!.ciphertext }));
    const over = await call('POST', '/v1/key/bulk/decrypt/bulk-key', tooMany);
    assert.equal(over.text, errorBody('too many ciphertexts'));
    assert.equal(over.status, 400);
    const broken = await call('POST', '/v1/key/bulk/decrypt/bulk-key', [
      { ciphertext: deks[0]!.ciphertext, context: deks[0]!.context },
      { ciphertext: deks[1]!.ciphertext, context: deks[0]!.context },
    ]);
    assert.equal(broken.text, errorBody('decryption failed: ciphertext is not authentic'));
    assert.equal((await call('POST', '/v1/key/bulk/decrypt/bulk-key', [])).text, '[]\n');
    assert.equal((await call('PUT', '/v1/key/bulk/decrypt/bulk-key', [])).status, 405);
    assert.equal(
      (await call('POST', '/v1/key/bulk/decrypt/bulk-key', { ciphertext: 'x' })).text,
      errorBody('invalid request body'),
    );
  });

  it('NDJSON listings when the client asks for them, with legacy globs', async () => {
    for (const name of ['nd-key', 'nd-kez', 'nd-other'])
      await call('POST', `/v1/key/create/${name}`);
    const res = await call('GET', '/v1/key/list/nd-*', undefined, NDJSON);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; algorithm: string });
    assert.deepEqual(
      lines.map((l) => l.name),
      ['nd-key', 'nd-kez', 'nd-other'],
    );
    assert.equal(lines[0]!.algorithm, 'AES256');
    // `?` travels escaped (a bare one starts the query string).
    const glob = await call('GET', '/v1/key/list/nd-ke%3F', undefined, NDJSON);
    assert.deepEqual(
      glob.text
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { name: string }).name),
      ['nd-key', 'nd-kez'],
    );
    const none = await call('GET', '/v1/key/list/zz-*', undefined, NDJSON);
    assert.equal(none.text, '');
    const identities = await call('GET', '/v1/identity/list/*', undefined, NDJSON);
    const first = JSON.parse(identities.text.split('\n')[0]!) as {
      identity: string;
      admin: boolean;
    };
    assert.deepEqual([first.identity, first.admin], [admin.identity, true]);
    const policies = await call('GET', '/v1/policy/list/*', undefined, NDJSON);
    assert.equal(policies.headers['content-type'], 'application/x-ndjson');
    // A client asking for the current era's JSON cannot use a glob.
    assert.equal(
      (await call('GET', '/v1/key/list/nd-ke%3F', undefined, { Accept: 'application/json' })).text,
      errorBody("listing pattern 'nd-ke?' is empty, too long or is invalid"),
    );
  });

  it('a client that names no format (kes-go v0.1.0, the 2023 kes CLI) gets NDJSON', async () => {
    // Those clients send `GET /v1/key/list/*` with no Accept header and read NDJSON lines; kms-go
    // reads NDJSON too whenever the Content-Type is exactly application/x-ndjson.
    await call('POST', '/v1/key/create/era-key');
    const keys = await call('GET', '/v1/key/list/*');
    assert.equal(keys.status, 200);
    assert.equal(keys.headers['content-type'], 'application/x-ndjson');
    const names = keys.text
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { name: string }).name);
    assert.ok(names.includes('era-key'), names.join(','));
    assert.deepEqual(names, [...names].sort());
    const policies = await call('GET', '/v1/policy/list/*');
    assert.equal(policies.headers['content-type'], 'application/x-ndjson');
    const identities = await call('GET', '/v1/identity/list/*');
    assert.equal(identities.headers['content-type'], 'application/x-ndjson');
    const first = JSON.parse(identities.text.split('\n')[0]!) as { identity: string };
    assert.equal(first.identity, admin.identity);
    // A client that asks for JSON gets the current era's pages.
    const json = await call('GET', '/v1/key/list/*', undefined, { Accept: 'application/json' });
    assert.equal(json.headers['content-type'], 'application/json');
    assert.ok(json.json<{ names: string[] }>().names.includes('era-key'));
  });

  it('kes-go selects the enclave with ?enclave=', async () => {
    const missing = await call('POST', '/v1/key/create/k?enclave=nope');
    assert.equal(missing.text, errorBody('enclave does not exist'));
    assert.equal(missing.status, 404);
  });
});

type Aead = 'AES-256-GCM-HMAC-SHA-256' | 'ChaCha20Poly1305';

/** Seals as MinIO's builtin KMS and KES do (docs/protocol/kes.md). */
function seal(
  key: Buffer,
  aead: Aead,
  plaintext: Buffer,
  context: Buffer,
  iv = randomBytes(16),
  nonce = randomBytes(12),
) {
  const cipher =
    aead === 'AES-256-GCM-HMAC-SHA-256'
      ? createCipheriv('aes-256-gcm', createHmac('sha256', key).update(iv).digest(), nonce)
      : createCipheriv('chacha20-poly1305', hchacha20(key, iv), nonce, { authTagLength: 16 });
  cipher.setAAD(context);
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { iv, nonce, sealed };
}

/** A msgpack `str` (fixstr or str8). */
function mpStr(text: string): Buffer {
  const bytes = Buffer.from(text);
  return bytes.length < 32
    ? Buffer.concat([Buffer.from([0xa0 | bytes.length]), bytes])
    : Buffer.concat([Buffer.from([0xd9, bytes.length]), bytes]);
}

/** A msgpack `bin8`. */
function mpBin(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xc4, bytes.length]), bytes]);
}

describe('a MinIO static key imported over /v1/key/import/', () => {
  // MINIO_KMS_SECRET_KEY=minio-secret:<base64 of these bytes>
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const context = Buffer.from('{"bucket":"bucket/object"}');
  const dek = randomBytes(32);

  before(async () => {
    const res = await call('POST', '/v1/key/import/minio-secret', {
      key: b64(key),
      cipher: 'AES256',
    });
    assert.equal(res.status, 200, res.text);
  });

  const decrypt = async (ciphertext: Buffer, ctx: Buffer = context): Promise<KesResponse> =>
    call('POST', '/v1/key/decrypt/minio-secret', {
      ciphertext: b64(ciphertext),
      context: b64(ctx),
    });

  it('decrypts the published AES256 vector (docs/protocol/kms.md)', async () => {
    const ciphertext = Buffer.from(
      'b4bc742a467f610a69b447ec9f99cf567a11f1072a446ee9666a64ba3051d6488265b42bac803dcc21425864daa76e59' +
        '202122232425262728292a2b2c2d2e2f303132333435363738393a3b',
      'hex',
    );
    const res = await decrypt(ciphertext);
    assert.equal(res.status, 200, res.text);
    assert.equal(
      Buffer.from(res.json<{ plaintext: string }>().plaintext, 'base64').toString('hex'),
      Buffer.from(Array.from({ length: 32 }, (_, i) => 0x40 + i)).toString('hex'),
    );
  });

  it('decrypts current MinIO raw ciphertexts (AES)', async () => {
    const { iv, nonce, sealed } = seal(key, 'AES-256-GCM-HMAC-SHA-256', dek, context);
    const res = await decrypt(Buffer.concat([sealed, iv, nonce]));
    assert.equal(res.json<{ plaintext: string }>().plaintext, b64(dek));
  });

  for (const aead of ['AES-256-GCM-HMAC-SHA-256', 'ChaCha20Poly1305'] as const) {
    it(`decrypts MinIO 2020–2024 JSON ciphertexts (${aead}), also with an empty context`, async () => {
      for (const ctx of [context, Buffer.from('{}')]) {
        const { iv, nonce, sealed } = seal(key, aead, dek, ctx);
        const json = Buffer.from(
          JSON.stringify({ aead, iv: b64(iv), nonce: b64(nonce), bytes: b64(sealed) }),
        );
        const res = await decrypt(json, ctx);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json<{ plaintext: string }>().plaintext, b64(dek));
        // The wrong context fails as any forgery does.
        const wrong = await decrypt(json, Buffer.from('{"other":"x"}'));
        assert.equal(wrong.text, errorBody('decryption failed: ciphertext is not authentic'));
      }
    });
  }

  it('decrypts KES v0.20–2024 MessagePack ciphertexts of both algorithms', async () => {
    for (const [name, aead] of [
      ['AES256-GCM_SHA256', 'AES-256-GCM-HMAC-SHA-256'],
      ['XCHACHA20-POLY1305', 'ChaCha20Poly1305'],
    ] as const) {
      const { iv, nonce, sealed } = seal(key, aead, dek, context);
      const msgpack = Buffer.concat([
        Buffer.from([0x95]),
        mpStr(name),
        mpStr('66687aadf862bd776c8fc18b8e9f8e20'),
        mpBin(iv),
        mpBin(nonce),
        mpBin(sealed),
      ]);
      const res = await decrypt(msgpack);
      assert.equal(res.status, 200, `${name}: ${res.text}`);
      assert.equal(res.json<{ plaintext: string }>().plaintext, b64(dek));
    }
  });

  it('refuses malformed legacy ciphertexts as not authentic', async () => {
    const { iv, sealed } = seal(key, 'AES-256-GCM-HMAC-SHA-256', dek, context);
    for (const bad of [
      JSON.stringify({
        aead: 'AES-256-GCM',
        iv: b64(iv),
        nonce: b64(randomBytes(12)),
        bytes: b64(sealed),
      }),
      JSON.stringify({
        aead: 'ChaCha20Poly1305',
        iv: b64(iv.subarray(0, 8)),
        nonce: b64(randomBytes(12)),
        bytes: b64(sealed),
      }),
      '{"aead":',
    ]) {
      const res = await decrypt(Buffer.from(bad));
      assert.equal(res.text, errorBody('decryption failed: ciphertext is not authentic'), bad);
    }
  });
});

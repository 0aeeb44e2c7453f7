// SecretKey: the minkms/KES computed vectors, legacy JSON and MessagePack ciphertexts built from the
// spec, cross-checks against @noble/ciphers, property tests, and redaction of the key bytes. Every
// test runs twice: on the native addon (when it loaded) and on node:crypto, its fallback.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { aeadSeal } from './aead.ts';
import { NotAuthenticError } from './errors.ts';
import { hchacha20 } from './hchacha20.ts';
import { HmacSha256 } from './hmac-sha256.ts';
import { KEY_TYPES, type KeyType } from './key-type.ts';
import { dataKeyCrypto } from './native-crypto.ts';
import { SecretKey } from './secret-key.ts';

const NATIVE = dataKeyCrypto.native;

/** Registers `fn` on the native addon (when it loaded) and again on node:crypto (its fallback). */
function bothPaths(name: string, fn: () => void): void {
  if (NATIVE !== null) test(`${name} [native]`, fn);
  test(`${name} [node:crypto]`, () => {
    dataKeyCrypto.native = null;
    try {
      fn();
    } finally {
      dataKeyCrypto.native = NATIVE;
    }
  });
}

const range = (from: number, to: number): Buffer =>
  Buffer.from(Array.from({ length: to - from }, (_, i) => from + i));

// minkms.md §6.2 computed vectors.
const masterKey = range(0x00, 0x20);
const iv = range(0x20, 0x30);
const nonce = range(0x30, 0x3c);
const plaintext = range(0x40, 0x60);
const aad = Buffer.from('{"bucket":"bucket/object"}');
const vectors = {
  AES256: {
    subKey: '2d718436a7fa1a5153fb28eab9253a186fdac7860cb162005d12c8cbeac1b33c',
    sealed:
      'b4bc742a467f610a69b447ec9f99cf567a11f1072a446ee9666a64ba3051d6488265b42bac803dcc21425864daa76e59',
  },
  ChaCha20: {
    subKey: '621bfa259b56fe080a65d9762d6b455a245aa56338a6b8e6b0fdb31735a9827c',
    sealed:
      'eb00bd149395c6ec2b9bf828b3c3d0fecd42c53dfda108b8c320dc478b02b0dd61cbb528c543fb995100230df4d6e12c',
  },
} as const;

function legacyJson(aead: string, sealed: Buffer, id?: string): Buffer {
  const value = {
    aead,
    ...(id === undefined ? {} : { id }),
    iv: iv.toString('base64'),
    nonce: nonce.toString('base64'),
    bytes: sealed.toString('base64'),
  };
  return Buffer.from(JSON.stringify(value));
}

function legacyMsgpack(algorithm: string, sealed: Buffer): Buffer {
  const keyId = '66687aadf862bd776c8fc18b8e9f8e20';
  return Buffer.concat([
    Buffer.of(0x95, 0xa0 | algorithm.length),
    Buffer.from(algorithm),
    Buffer.of(0xd9, keyId.length),
    Buffer.from(keyId),
    Buffer.of(0xc4, 16),
    iv,
    Buffer.of(0xc4, 12),
    nonce,
    Buffer.of(0xc4, sealed.length),
    sealed,
  ]);
}

/** The sub-key and AEAD by an independent implementation (@noble/ciphers + createHmac). */
function nobleAead(
  type: KeyType,
  key: Uint8Array,
  ivBytes: Uint8Array,
  nonceBytes: Uint8Array,
  ad: Uint8Array,
) {
  if (type === 'AES256') {
    return gcm(createHmac('sha256', key).update(ivBytes).digest(), nonceBytes, ad);
  }
  return chacha20poly1305(hchacha20(key, ivBytes), nonceBytes, ad);
}

bothPaths('minkms §6.2 vectors: sub-keys and ciphertexts for AES256 and ChaCha20', () => {
  for (const type of KEY_TYPES) {
    const v = vectors[type];
    const subKey =
      type === 'AES256' ? new HmacSha256(masterKey).digest(iv) : hchacha20(masterKey, iv);
    assert.equal(subKey.toString('hex'), v.subKey);
    const sealed = Buffer.from(v.sealed, 'hex');
    assert.deepEqual(aeadSeal(type, subKey, nonce, plaintext, aad), sealed);
    const raw = Buffer.concat([sealed, iv, nonce]);
    assert.equal(raw.length, 76);
    assert.deepEqual(new SecretKey(type, masterKey).open(raw, aad), plaintext);
    // Raw input is opened with the key's own type: the other type cannot open it.
    const other = type === 'AES256' ? 'ChaCha20' : 'AES256';
    assert.throws(() => new SecretKey(other, masterKey).open(raw, aad), NotAuthenticError);
  }
});

bothPaths(
  'legacy JSON ciphertexts open with the algorithm they name, under either key type',
  () => {
    const cases = [
      ['AES-256-GCM-HMAC-SHA-256', vectors.AES256.sealed],
      ['ChaCha20Poly1305', vectors.ChaCha20.sealed],
    ] as const;
    for (const [aead, sealedHex] of cases) {
      const sealed = Buffer.from(sealedHex, 'hex');
      for (const type of KEY_TYPES) {
        const key = new SecretKey(type, masterKey);
        assert.deepEqual(key.open(legacyJson(aead, sealed), aad), plaintext);
        assert.deepEqual(key.open(legacyJson(aead, sealed, 'ignored-id'), aad), plaintext);
        assert.throws(
          () => key.open(legacyJson(aead, sealed), Buffer.from('{}')),
          NotAuthenticError,
        );
      }
    }
    // A name outside the two is not accepted (upstream: ErrDecrypt).
    const aes = Buffer.from(vectors.AES256.sealed, 'hex');
    assert.throws(
      () => new SecretKey('AES256', masterKey).open(legacyJson('AES-256-GCM', aes), aad),
      NotAuthenticError,
    );
  },
);

bothPaths('legacy MessagePack ciphertexts open with the algorithm they name', () => {
  const cases = [
    ['AES256-GCM_SHA256', vectors.AES256.sealed],
    ['AES256', vectors.AES256.sealed],
    ['XCHACHA20-POLY1305', vectors.ChaCha20.sealed],
    ['ChaCha20', vectors.ChaCha20.sealed],
  ] as const;
  for (const [name, sealedHex] of cases) {
    for (const type of KEY_TYPES) {
      const ciphertext = legacyMsgpack(name, Buffer.from(sealedHex, 'hex'));
      assert.deepEqual(new SecretKey(type, masterKey).open(ciphertext, aad), plaintext);
    }
  }
  const truncated = legacyMsgpack('AES256', Buffer.from(vectors.AES256.sealed, 'hex')).subarray(
    0,
    90,
  );
  assert.throws(() => new SecretKey('AES256', masterKey).open(truncated, aad), NotAuthenticError);
});

bothPaths(
  'a v<N>: prefix is tolerated, and a raw ciphertext that starts with "v1:" still opens',
  () => {
    const key = new SecretKey('AES256', masterKey);
    const raw = Buffer.concat([Buffer.from(vectors.AES256.sealed, 'hex'), iv, nonce]);
    assert.deepEqual(key.open(Buffer.concat([Buffer.from('v1:'), raw]), aad), plaintext);
    assert.deepEqual(key.open(Buffer.concat([Buffer.from('v4294967295:'), raw]), aad), plaintext);

    // GCM is a stream cipher: choose the plaintext so that the ciphertext begins with "v1:".
    const subKey = new HmacSha256(masterKey).digest(iv);
    const keystream = aeadSeal('AES256', subKey, nonce, Buffer.alloc(8)).subarray(0, 3);
    const chosen = Buffer.concat([Buffer.from('v1:'), Buffer.from('rest!')]);
    for (let i = 0; i < 3; i++) chosen[i]! ^= keystream[i]!;
    const sealed = aeadSeal('AES256', subKey, nonce, chosen, aad);
    assert.equal(sealed.subarray(0, 3).toString(), 'v1:');
    assert.deepEqual(key.open(Buffer.concat([sealed, iv, nonce]), aad), chosen);
  },
);

bothPaths(
  'SecretKey.seal output opens with @noble/ciphers, and noble output opens with SecretKey',
  () => {
    for (let i = 0; i < 100; i++) {
      const type = KEY_TYPES[i % 2]!;
      const keyBytes = randomBytes(32);
      const key = new SecretKey(type, keyBytes);
      const message = randomBytes(i);
      const ad = randomBytes(i % 7);
      const sealed = key.seal(message, ad);
      assert.equal(sealed.length, message.length + 44);
      const n = sealed.length;
      const [ivPart, noncePart] = [sealed.subarray(n - 28, n - 12), sealed.subarray(n - 12)];
      assert.deepEqual(
        Buffer.from(
          nobleAead(type, keyBytes, ivPart, noncePart, ad).decrypt(sealed.subarray(0, n - 28)),
        ),
        message,
      );
      const [iv2, nonce2] = [randomBytes(16), randomBytes(12)];
      const noble = nobleAead(type, keyBytes, iv2, nonce2, ad).encrypt(message);
      assert.deepEqual(key.open(Buffer.concat([noble, iv2, nonce2]), ad), message);
    }
  },
);

bothPaths('generateDataKey: fresh keys of the requested length whose ciphertext opens', () => {
  for (const type of KEY_TYPES) {
    const key = SecretKey.generate(type);
    const a = key.generateDataKey();
    const b = key.generateDataKey(32, aad);
    assert.equal(a.plaintext.length, 32);
    assert.equal(a.ciphertext.length, 76);
    assert.notDeepEqual(a.plaintext, b.plaintext);
    assert.deepEqual(key.open(a.ciphertext), a.plaintext);
    assert.deepEqual(key.open(b.ciphertext, aad), b.plaintext);
    const long = key.generateDataKey(1024, aad);
    assert.equal(long.plaintext.length, 1024);
    assert.deepEqual(key.open(long.ciphertext, aad), long.plaintext);
    assert.throws(() => key.generateDataKey(0), RangeError);
    assert.throws(() => key.generateDataKey(1.5), RangeError);
  }
});

const keyArb = fc.record({
  type: fc.constantFrom(...KEY_TYPES),
  bytes: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});
const bytesArb = (maxLength: number) => fc.uint8Array({ maxLength });

bothPaths('property: seal then open returns the plaintext', () => {
  fc.assert(
    fc.property(keyArb, bytesArb(300), bytesArb(64), (k, message, ad) => {
      const key = new SecretKey(k.type, k.bytes);
      assert.deepEqual(key.open(key.seal(message, ad), ad), Buffer.from(message));
    }),
    { numRuns: 300 },
  );
});

bothPaths('property: any single bit flip anywhere is rejected with NotAuthenticError', () => {
  fc.assert(
    fc.property(keyArb, bytesArb(100), bytesArb(32), fc.nat(), (k, message, ad, bit) => {
      const key = new SecretKey(k.type, k.bytes);
      const sealed = key.seal(message, ad);
      const index = bit % (sealed.length * 8);
      sealed[index >> 3]! ^= 1 << (index & 7);
      assert.throws(() => key.open(sealed, ad), NotAuthenticError);
    }),
    { numRuns: 500 },
  );
});

bothPaths(
  'property: wrong associated data or a wrong key is rejected with NotAuthenticError',
  () => {
    fc.assert(
      fc.property(
        keyArb,
        keyArb,
        bytesArb(100),
        bytesArb(32),
        bytesArb(32),
        (k, k2, message, ad, ad2) => {
          const key = new SecretKey(k.type, k.bytes);
          const sealed = key.seal(message, ad);
          if (!Buffer.from(ad).equals(Buffer.from(ad2))) {
            assert.throws(() => key.open(sealed, ad2), NotAuthenticError);
          }
          if (!Buffer.from(k.bytes).equals(Buffer.from(k2.bytes))) {
            assert.throws(
              () => new SecretKey(k.type, k2.bytes).open(sealed, ad),
              NotAuthenticError,
            );
          }
          const otherType = k.type === 'AES256' ? 'ChaCha20' : 'AES256';
          assert.throws(
            () => new SecretKey(otherType, k.bytes).open(sealed, ad),
            NotAuthenticError,
          );
        },
      ),
      { numRuns: 200 },
    );
  },
);

const garbageArb = fc.oneof(
  bytesArb(200),
  bytesArb(200).map((b) => Buffer.concat([Buffer.of(0x95), b])),
  bytesArb(200).map((b) => Buffer.concat([Buffer.from('{'), b])),
  bytesArb(200).map((b) => Buffer.concat([Buffer.from('v7:'), b])),
  fc
    .record({
      aead: fc.constantFrom('AES-256-GCM-HMAC-SHA-256', 'ChaCha20Poly1305', 'x'),
      iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      bytes: bytesArb(64),
    })
    .map((r) =>
      Buffer.from(
        JSON.stringify({
          aead: r.aead,
          iv: Buffer.from(r.iv).toString('base64'),
          nonce: Buffer.from(r.nonce).toString('base64'),
          bytes: Buffer.from(r.bytes).toString('base64'),
        }),
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('AES256-GCM_SHA256', 'XCHACHA20-POLY1305'),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      bytesArb(64),
    )
    .map(([name, i, n, s]) =>
      Buffer.concat([
        Buffer.of(0x95, 0xa0 | name.length),
        Buffer.from(name),
        Buffer.of(0xa0),
        Buffer.of(0xc4, 16),
        i,
        Buffer.of(0xc4, 12),
        n,
        Buffer.of(0xc4, s.length),
        s,
      ]),
    ),
);

bothPaths('property: random and structured garbage always gives NotAuthenticError', () => {
  fc.assert(
    fc.property(keyArb, garbageArb, bytesArb(16), (k, garbage, ad) => {
      assert.throws(() => new SecretKey(k.type, k.bytes).open(garbage, ad), NotAuthenticError);
    }),
    { numRuns: 1000 },
  );
});

bothPaths('constructor validation, generate, equals and exportKeyMaterial', () => {
  assert.throws(() => new SecretKey('AES256', Buffer.alloc(31)), RangeError);
  assert.throws(() => new SecretKey('AES-256' as KeyType, Buffer.alloc(32)), TypeError);
  const bytes = randomBytes(32);
  const key = new SecretKey('ChaCha20', bytes);
  bytes.fill(0);
  const exported = key.exportKeyMaterial();
  assert.notDeepEqual(exported, bytes, 'the constructor must copy the key');
  exported.fill(0);
  assert.notDeepEqual(key.exportKeyMaterial(), exported, 'export must return a copy');
  assert.ok(key.equals(new SecretKey('ChaCha20', key.exportKeyMaterial())));
  assert.ok(!key.equals(new SecretKey('AES256', key.exportKeyMaterial())));
  assert.ok(!SecretKey.generate().equals(SecretKey.generate()));
  assert.equal(SecretKey.generate().type, 'AES256');
  assert.equal(SecretKey.generate('ChaCha20').type, 'ChaCha20');
});

bothPaths('the key bytes do not appear in JSON, inspect or string forms', () => {
  const key = SecretKey.generate();
  const material = key.exportKeyMaterial();
  const forms = [
    JSON.stringify(key),
    JSON.stringify({ nested: key }),
    inspect(key, { showHidden: true, depth: 5 }),
    inspect({ nested: key }),
    String(key),
  ];
  for (const form of forms) {
    for (const encoding of ['hex', 'base64', 'base64url'] as const) {
      assert.ok(!form.includes(material.toString(encoding)), form);
    }
    assert.ok(form.includes('AES256'), form);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(key)), { type: 'AES256', key: '[redacted]' });
});

// Tests for API keys: the published k1:→h1: vectors, the kes:v1: form, k2: (ECDSA) keys, parse
// errors with the upstream messages, and that the secret never leaks through errors, inspect or
// JSON.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  createECDH,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { ApiKey, InvalidApiKeyError, parseApiKey } from './api-key.ts';
import { openssl, skipWithoutOpenssl, tempDir } from './test-support.ts';

// docs/protocol/kms.md (kms-go examples, aead mtls tests, aead gist root key).
const K1_VECTORS = [
  [
    'k1:d7cY_5k8HbBGkZpoy2hGmvkxg83QDBXsA_nFXDfTk2E',
    'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw',
  ],
  [
    'k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw',
    'h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0',
  ],
  [
    'k1:XyTL0XrjcoTYxPbiWQpxA_HOc8PJWhgRU-TGqTRszmI',
    'h1:P6S2opeJYDnCsuLMAmA7j7m0RCxP7EiZFL4JWKVqWLs',
  ],
] as const;
// docs/protocol/kes.md example key.
const KES_EXAMPLE = 'kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc';
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

test('k1: vectors give the published h1: identities', () => {
  for (const [key, identity] of K1_VECTORS) {
    const apiKey = parseApiKey(key);
    assert.equal(apiKey.identity.toH1(), identity);
    assert.equal(apiKey.format, 'k1');
    assert.equal(apiKey.toK1(), key);
    assert.equal(apiKey.toText(), key);
  }
});

test('RFC 8032 test 1: seed → public key, identity = SHA-256(Ed25519 SPKI)', () => {
  const seed = Buffer.from(
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'hex',
  );
  const publicKey = Buffer.from(
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    'hex',
  );
  const apiKey = ApiKey.fromSeed(seed);
  const spki = apiKey.publicKey.export({ type: 'spki', format: 'der' });
  assert.deepEqual(spki, Buffer.concat([ED25519_SPKI_PREFIX, publicKey]));
  const expected = createHash('sha256').update(spki).digest('hex');
  assert.equal(apiKey.identity.toHex(), expected);
  assert.equal(apiKey.toK1(), 'k1:' + seed.toString('base64url'));
  assert.equal(apiKey.toKes(), 'kes:v1:' + Buffer.concat([Buffer.of(0), seed]).toString('base64'));
});

test('kes:v1: form: round trip with k1:, prefix optional', () => {
  const key = parseApiKey(KES_EXAMPLE);
  assert.equal(key.format, 'kes');
  assert.equal(key.toKes(), KES_EXAMPLE);
  assert.equal(key.toText(), KES_EXAMPLE);
  assert.equal(key.toKes().length, 51);
  const bare = parseApiKey(KES_EXAMPLE.slice('kes:v1:'.length));
  assert.ok(bare.identity.equals(key.identity));
  const viaK1 = parseApiKey(key.toK1());
  assert.ok(viaK1.identity.equals(key.identity));
  assert.ok(viaK1.equals(key));
  for (const [k1, h1] of K1_VECTORS) {
    assert.equal(parseApiKey(parseApiKey(k1).toKes()).identity.toH1(), h1);
  }
});

test(
  'KES example identity agrees with openssl on the same seed',
  { skip: skipWithoutOpenssl },
  (t) => {
    const dir = tempDir(t);
    const key = parseApiKey(KES_EXAMPLE);
    const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(dir, 'key.pem'), pem, { mode: 0o600 });
    openssl(dir, 'pkey', '-in', 'key.pem', '-pubout', '-outform', 'DER', '-out', 'pub.der');
    const digest = openssl(dir, 'dgst', '-sha256', '-r', 'pub.der').split(' ')[0];
    assert.equal(key.identity.toHex(), digest);
  },
);

test('parse errors: upstream KES messages and clear k1 messages', () => {
  const typeOne = Buffer.concat([Buffer.of(1), Buffer.alloc(32, 9)]).toString('base64');
  const short = Buffer.alloc(32, 9).toString('base64');
  const cases: [string, string | RegExp][] = [
    ['kes:v1:' + short, 'kes: invalid API key: invalid length'],
    [short, 'kes: invalid API key: invalid length'],
    ['', 'kes: invalid API key: invalid length'],
    ['kes:v1:' + typeOne, 'kes: invalid API key: unsupported type'],
    ['kes:v1:' + typeOne.slice(1), 'kes: invalid API key: not standard base64'],
    [
      'kes:v1:' + KES_EXAMPLE.slice(7).replace('+', '-'),
      'kes: invalid API key: not standard base64',
    ],
    [
      'k1:' + 'A'.repeat(42),
      /'k1:' must be followed by 43 base64url characters .* got 42 characters$/,
    ],
    ['k1:' + 'A'.repeat(44), /got 44 characters$/],
    ['k1:' + 'A'.repeat(42) + '+', /got 43 characters including characters outside/],
    ['k1:' + 'A'.repeat(42) + '=', /including characters outside/],
    ['k2:' + 'A'.repeat(43), /not a valid P-256 private key/], // the scalar 0
    ['k2:' + '_'.repeat(42) + 'w', /not a valid P-256 private key/], // 0xff…: ≥ the group order
    ['k2:' + '_'.repeat(43), /not canonical base64url/], // nonzero padding bits
    ['k2:' + 'A'.repeat(42), /must hold a 32, 48 or 66-byte ECDSA scalar .* got 31 bytes/],
    ['k2:' + 'B'.repeat(40), /got 30 bytes/],
    ['k2:' + 'A'.repeat(42) + '=', /without padding/],
    ['k2:' + 'A'.repeat(42) + '+', /without padding/],
    ['k2:', /without padding/],
    ['k3:abc', /unsupported type 'k3:'/],
    [K1_VECTORS[0][0] + '\n', /contains whitespace/],
    [K1_VECTORS[0][1], /this is an identity, not an API key/],
    [parseApiKey(K1_VECTORS[0][0]).identity.toHex(), /this is an identity/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseApiKey(text),
      (error: unknown) => {
        assert.ok(error instanceof InvalidApiKeyError, text);
        if (typeof message === 'string') assert.equal(error.message, message, text);
        else assert.match(error.message, message, text);
        return true;
      },
      text,
    );
  }
});

test('the seed never appears in errors, strings, JSON or inspect output', () => {
  const key = ApiKey.generate('k1');
  const k1 = key.toK1();
  const kes = key.toKes();
  const secrets = [k1.slice(3), kes.slice(7), k1.slice(3, 20), kes.slice(9, 26)];
  const outputs = [
    String(key),
    // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the case under test
    `${key}`,
    JSON.stringify({ key }),
    inspect(key),
    inspect({ nested: [key] }, { depth: 5, showHidden: true }),
  ];
  for (const variant of [k1.slice(0, -1), k1 + 'A', kes.slice(0, -1), kes.slice(0, -4) + '!!!!']) {
    try {
      parseApiKey(variant);
      assert.fail(`parsed ${variant.length} characters`);
    } catch (error) {
      assert.ok(error instanceof InvalidApiKeyError);
      outputs.push(error.message, inspect(error));
    }
  }
  for (const output of outputs) {
    for (const secret of secrets) assert.ok(!output.includes(secret), `leaked in: ${output}`);
  }
  assert.equal(String(key), `ApiKey(${key.identity.toH1()})`);
  assert.equal(String(parseApiKey(kes)), `ApiKey(${key.identity.toHex()})`);
});

test('generate, fromSeed and fromPrivateKey', () => {
  const a = ApiKey.generate();
  const b = ApiKey.generate('kes');
  assert.equal(a.format, 'k1');
  assert.equal(b.format, 'kes');
  assert.ok(!a.equals(b));
  assert.ok(!a.identity.equals(b.identity));

  const seed = Buffer.alloc(32, 5);
  const fromSeed = ApiKey.fromSeed(seed);
  seed.fill(0); // the key keeps its own copy
  assert.ok(fromSeed.equals(ApiKey.fromSeed(Buffer.alloc(32, 5))));
  assert.throws(() => ApiKey.fromSeed(Buffer.alloc(31)), /32 bytes, got 31/);

  const again = ApiKey.fromPrivateKey(a.privateKey);
  assert.equal(again.format, 'kes');
  assert.equal(again.toK1(), a.toK1());
  assert.throws(
    () => ApiKey.fromPrivateKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey),
    /only an Ed25519 private key has an API key, got a ec private key/,
  );
  assert.throws(() => ApiKey.fromPrivateKey(a.publicKey), /public/);
});

test('privateKey signs, and the identity is SHA-256 of 302a300506032b6570032100 || pub', () => {
  const key = ApiKey.generate();
  const message = Buffer.from('hello');
  const signature = sign(null, message, key.privateKey);
  assert.ok(verify(null, message, createPublicKey(key.privateKey), signature));
  const x = key.publicKey.export({ format: 'jwk' }).x!;
  const spki = Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(x, 'base64url')]);
  assert.equal(key.identity.toHex(), createHash('sha256').update(spki).digest('hex'));
});

// SubjectPublicKeyInfo prefixes for uncompressed EC points (RFC 5480), written out here so that
// the identity check does not go through the code under test.
const EC_SPKI_PREFIX = {
  prime256v1: '3059301306072a8648ce3d020106082a8648ce3d030107034200',
  secp384r1: '3076301006072a8648ce3d020106052b81040022036200',
  secp521r1: '30819b301006072a8648ce3d020106052b8104002303818600',
} as const;

test('k2: ECDSA keys of all three curves: identity = SHA-256(SPKI), signing, round trip', () => {
  for (const [curve, length] of [
    ['prime256v1', 32],
    ['secp384r1', 48],
    ['secp521r1', 66],
  ] as const) {
    const ecdh = createECDH(curve);
    ecdh.generateKeys();
    const scalar = Buffer.alloc(length);
    const raw = ecdh.getPrivateKey();
    raw.copy(scalar, length - raw.length); // fixed width, as aead.dev/mtls writes it
    const text = 'k2:' + scalar.toString('base64url');
    const key = parseApiKey(text);
    assert.equal(key.format, 'k2', curve);
    assert.equal(key.toText(), text);
    assert.equal(key.toK2(), text);
    const spki = Buffer.concat([Buffer.from(EC_SPKI_PREFIX[curve], 'hex'), ecdh.getPublicKey()]);
    assert.equal(key.identity.toHex(), createHash('sha256').update(spki).digest('hex'), curve);
    assert.equal(key.privateKey.asymmetricKeyDetails?.namedCurve, curve);
    const signature = sign('sha256', Buffer.from('hello'), key.privateKey);
    assert.ok(verify('sha256', Buffer.from('hello'), key.publicKey, signature));
    assert.equal(String(key), `ApiKey(${key.identity.toH1()})`);
    assert.ok(key.equals(ApiKey.fromEcdsaScalar(scalar)));
    assert.ok(!key.equals(ApiKey.generate()));
    assert.throws(() => key.toK1(), /no 'k1:' or 'kes:v1:' form/);
    assert.throws(() => key.toKes(), /no 'k1:' or 'kes:v1:' form/);
    for (const output of [String(key), JSON.stringify({ key }), inspect(key)]) {
      assert.ok(!output.includes(text.slice(3)), 'the scalar never leaks');
    }
  }
  assert.throws(() => ApiKey.generate().toK2(), /no k2: form/);
});

test('property: every Ed25519 seed survives its k1: and kes:v1: text, with one identity', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const key = ApiKey.fromSeed(seed);
      const k1 = parseApiKey(key.toK1());
      const kes = parseApiKey(key.toKes());
      assert.ok(k1.equals(key));
      assert.ok(kes.equals(key));
      assert.equal(kes.identity.toH1(), key.identity.toH1());
    }),
    { numRuns: 50 },
  );
});

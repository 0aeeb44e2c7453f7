// parseCiphertext: raw splitting, legacy JSON / MessagePack readings built from the spec, the
// `v<N>:` prefix, and fallback to raw when a structure does not parse.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { isOnlyRaw, parseCiphertext } from './ciphertext.ts';
import { NotAuthenticError } from './errors.ts';

const iv = Buffer.from('202122232425262728292a2b2c2d2e2f', 'hex');
const nonce = Buffer.from('303132333435363738393a3b', 'hex');
// Fixed bytes (not random) so that no test can flake: its base64 contains '+' and '/'.
const sealed = Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 67 + 1) & 0xff));

function msgpack(algorithm: string, keyId: string, fields: Buffer[]): Buffer {
  const str = (s: string): Buffer =>
    s.length < 32
      ? Buffer.concat([Buffer.of(0xa0 | s.length), Buffer.from(s)])
      : Buffer.concat([Buffer.of(0xd9, s.length), Buffer.from(s)]);
  const bin = (b: Buffer): Buffer => Buffer.concat([Buffer.of(0xc4, b.length), b]);
  return Buffer.concat([Buffer.of(0x95), str(algorithm), str(keyId), ...fields.map(bin)]);
}

test('raw: the last 28 bytes are iv and nonce, the rest is ciphertext ‖ tag', () => {
  const readings = parseCiphertext(Buffer.concat([sealed, iv, nonce]));
  assert.equal(readings.length, 1);
  assert.deepEqual(readings[0], { format: 'raw', sealed, iv, nonce });
});

test('raw: inputs shorter than tag + iv + nonce (44 bytes) have no reading', () => {
  for (const length of [0, 1, 28, 29, 43]) {
    assert.throws(() => parseCiphertext(randomBytes(length)), NotAuthenticError);
  }
  assert.equal(parseCiphertext(Buffer.alloc(44, 1))[0]?.sealed.length, 16);
});

test('isOnlyRaw: only where parseCiphertext has exactly the one raw reading of the whole input', () => {
  // SecretKey.open's fast path relies on it; first bytes that start a prefix or a structure
  // (`v`, 0x95, `{`) are drawn often, and each must go the general way.
  const first = fc.oneof(fc.constantFrom(0x76, 0x95, 0x7b), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(first, fc.uint8Array({ maxLength: 120 }), (lead, rest) => {
      const bytes = Buffer.concat([Buffer.of(lead), rest]);
      if (!isOnlyRaw(bytes)) {
        assert.ok(bytes.length < 44 || [0x76, 0x95, 0x7b].includes(lead));
        return;
      }
      const readings = parseCiphertext(bytes);
      assert.equal(readings.length, 1);
      assert.equal(readings[0]!.format, 'raw');
      assert.equal(readings[0]!.sealed.length + 28, bytes.length);
    }),
  );
  // A prefixed raw ciphertext has two readings: never the fast path.
  const prefixed = Buffer.concat([Buffer.from('v1:'), sealed, iv, nonce]);
  assert.equal(isOnlyRaw(prefixed), false);
  assert.equal(parseCiphertext(prefixed).length, 2);
});

test('legacy JSON with and without id; the algorithm comes from "aead"', () => {
  const base = {
    iv: iv.toString('base64'),
    nonce: nonce.toString('base64'),
    bytes: sealed.toString('base64'),
  };
  const aes = { aead: 'AES-256-GCM-HMAC-SHA-256', id: '66687aadf862bd776c8fc18b8e9f8e20', ...base };
  assert.deepEqual(parseCiphertext(Buffer.from(JSON.stringify(aes))), [
    { format: 'json', algorithm: 'AES256', keyId: aes.id, sealed, iv, nonce },
  ]);
  const chacha = { aead: 'ChaCha20Poly1305', ...base };
  assert.deepEqual(parseCiphertext(Buffer.from(JSON.stringify(chacha))), [
    { format: 'json', algorithm: 'ChaCha20', sealed, iv, nonce },
  ]);
});

test('legacy JSON that breaks the rules is read as raw bytes instead', () => {
  const good = {
    aead: 'ChaCha20Poly1305',
    iv: iv.toString('base64'),
    nonce: nonce.toString('base64'),
    bytes: sealed.toString('base64'),
  };
  const broken = [
    { ...good, aead: 'AES-256-GCM' },
    { ...good, iv: iv.subarray(1).toString('base64') },
    { ...good, nonce: Buffer.concat([nonce, nonce]).toString('base64') },
    { ...good, bytes: sealed.toString('base64url') },
    { ...good, bytes: 'AAAA' },
    { ...good, id: 7 },
    [good],
  ];
  for (const value of broken) {
    const text = Buffer.from(JSON.stringify(value));
    const readings = parseCiphertext(text);
    assert.equal(readings.length, 1);
    assert.equal(readings[0]?.format, 'raw');
    assert.deepEqual(readings[0].nonce, text.subarray(-12));
  }
});

test('legacy MessagePack with each algorithm name', () => {
  const names = [
    ['AES256-GCM_SHA256', 'AES256'],
    ['XCHACHA20-POLY1305', 'ChaCha20'],
    ['AES256', 'AES256'],
    ['ChaCha20', 'ChaCha20'],
  ] as const;
  const keyId = '66687aadf862bd776c8fc18b8e9f8e20';
  for (const [name, algorithm] of names) {
    const bytes = msgpack(name, keyId, [iv, nonce, sealed]);
    assert.deepEqual(parseCiphertext(bytes), [
      { format: 'msgpack', algorithm, keyId, sealed, iv, nonce },
    ]);
  }
  // The exact header of the spec's example: 95 b1 "AES256-GCM_SHA256" d9 20 <32 hex> c4 10 … c4 0c …
  const example = msgpack('AES256-GCM_SHA256', keyId, [iv, nonce, sealed]);
  assert.equal(example.subarray(0, 2).toString('hex'), '95b1');
  assert.equal(example.subarray(19, 21).toString('hex'), 'd920');
  assert.equal(example.subarray(53, 55).toString('hex'), 'c410');
});

test('MessagePack with other encodings of the same values (str8/16, bin16/32) parses', () => {
  const bytes = Buffer.concat([
    Buffer.of(0x95, 0xda, 0x00, 0x08),
    Buffer.from('ChaCha20'),
    Buffer.of(0xa0),
    Buffer.of(0xc5, 0x00, 0x10),
    iv,
    Buffer.of(0xc6, 0, 0, 0, 0x0c),
    nonce,
    Buffer.of(0xc4, sealed.length),
    sealed,
  ]);
  assert.deepEqual(parseCiphertext(bytes), [
    { format: 'msgpack', algorithm: 'ChaCha20', sealed, iv, nonce },
  ]);
});

test('MessagePack that breaks the rules is read as raw bytes instead', () => {
  const keyId = '0123456789abcdef0123456789abcdef';
  const broken = [
    Buffer.concat([msgpack('AES256', keyId, [iv, nonce, sealed]), Buffer.of(0)]),
    msgpack('AES256', keyId, [iv.subarray(1), nonce, sealed]),
    msgpack('AES256', keyId, [iv, nonce.subarray(1), sealed]),
    msgpack('AES-256-GCM', keyId, [iv, nonce, sealed]),
    msgpack('AES256', keyId, [iv, nonce, sealed]).subarray(0, 80),
  ];
  for (const bytes of broken) {
    const readings = parseCiphertext(bytes);
    assert.equal(readings.length, 1);
    assert.equal(readings[0]?.format, 'raw');
  }
});

test('a v<N>: prefix is stripped for the first reading; the whole input is the second', () => {
  const raw = Buffer.concat([sealed, iv, nonce]);
  const readings = parseCiphertext(Buffer.concat([Buffer.from('v12:'), raw]));
  assert.equal(readings.length, 2);
  assert.deepEqual(readings[0], { format: 'raw', version: 12, sealed, iv, nonce });
  assert.equal(readings[1]?.sealed.length, sealed.length + 4);

  const json = JSON.stringify({
    aead: 'ChaCha20Poly1305',
    iv: iv.toString('base64'),
    nonce: nonce.toString('base64'),
    bytes: sealed.toString('base64'),
  });
  const prefixedJson = parseCiphertext(Buffer.from(`v1:${json}`));
  assert.deepEqual(prefixedJson[0], {
    format: 'json',
    algorithm: 'ChaCha20',
    version: 1,
    sealed,
    iv,
    nonce,
  });

  for (const notPrefix of ['v:', 'x1:', 'v12345678901:', 'v1-']) {
    const input = Buffer.concat([Buffer.from(notPrefix), raw]);
    const only = parseCiphertext(input);
    assert.equal(only.length, 1, notPrefix);
    assert.equal(only[0]?.version, undefined);
  }
  // Too short after the prefix: only the whole-input reading remains.
  assert.equal(parseCiphertext(Buffer.concat([Buffer.from('v1:'), raw.subarray(0, 42)])).length, 1);
});

test('never throws anything but NotAuthenticError on random input', () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(i % 120);
    if (i % 3 === 0) bytes[0] = 0x95;
    if (i % 3 === 1) bytes[0] = 0x7b;
    try {
      for (const reading of parseCiphertext(bytes)) assert.equal(reading.nonce.length, 12);
    } catch (error) {
      assert.ok(error instanceof NotAuthenticError);
    }
  }
});

test('property: a raw ciphertext and its legacy JSON form read back as their parts', () => {
  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  fc.assert(
    fc.property(bytes(16, 200), bytes(16, 16), bytes(12, 12), (s, i, n) => {
      const [sealedPart, ivPart, noncePart] = [Buffer.from(s), Buffer.from(i), Buffer.from(n)];
      const raw = parseCiphertext(Buffer.concat([sealedPart, ivPart, noncePart]));
      assert.ok(
        raw.some(
          (r) =>
            r.format === 'raw' &&
            r.sealed.equals(sealedPart) &&
            r.iv.equals(ivPart) &&
            r.nonce.equals(noncePart),
        ),
      );
      const json = JSON.stringify({
        aead: 'ChaCha20Poly1305',
        iv: ivPart.toString('base64'),
        nonce: noncePart.toString('base64'),
        bytes: sealedPart.toString('base64'),
      });
      const [first] = parseCiphertext(Buffer.from(json));
      assert.equal(first?.format, 'json');
      assert.ok(
        first.sealed.equals(sealedPart) && first.iv.equals(ivPart) && first.nonce.equals(noncePart),
      );
    }),
  );
});

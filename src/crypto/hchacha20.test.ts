// HChaCha20 from the OpenSSL keystream, checked against the draft-irtf-cfrg-xchacha vector and
// @noble/ciphers' independent implementation.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hchacha } from '@noble/ciphers/chacha.js';
import { hchacha20 } from './hchacha20.ts';

function nobleHChaCha20(key: Uint8Array, nonce: Uint8Array): Buffer {
  const words = (bytes: Uint8Array): Uint32Array => {
    const out = new Uint32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = Buffer.from(bytes).readUInt32LE(4 * i);
    return out;
  };
  const out = new Uint32Array(8);
  hchacha(words(Buffer.from('expand 32-byte k')), words(key), words(nonce), out);
  const bytes = Buffer.alloc(32);
  out.forEach((w, i) => bytes.writeUInt32LE(w, 4 * i));
  return bytes;
}

test('draft-irtf-cfrg-xchacha §2.2.1 test vector', () => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const nonce = Buffer.from('000000090000004a0000000031415927', 'hex');
  assert.equal(
    hchacha20(key, nonce).toString('hex'),
    '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc',
  );
});

test('agrees with @noble/ciphers on 1000 random inputs and on counter-word edge cases', () => {
  const nonces = [
    Buffer.alloc(16, 0xff),
    Buffer.alloc(16, 0),
    Buffer.from('ffffffff000000000000000000000000', 'hex'),
    Buffer.from('feffffff000000000000000000000000', 'hex'),
  ];
  for (let i = 0; i < 1000; i++) nonces.push(randomBytes(16));
  for (const nonce of nonces) {
    const key = randomBytes(32);
    assert.deepEqual(hchacha20(key, nonce), nobleHChaCha20(key, nonce));
  }
});

test('accepts unaligned Uint8Array views and writes into a given output buffer', () => {
  const backing = randomBytes(32 + 16 + 3);
  const key = new Uint8Array(backing.buffer, backing.byteOffset + 1, 32);
  const nonce = new Uint8Array(backing.buffer, backing.byteOffset + 33, 16);
  const out = Buffer.alloc(40, 0xaa);
  const returned = hchacha20(key, nonce, out);
  assert.equal(returned, out);
  assert.deepEqual(out.subarray(0, 32), nobleHChaCha20(key, nonce));
  assert.deepEqual(out.subarray(32), Buffer.alloc(8, 0xaa));
});

test('rejects wrong key, nonce and output sizes', () => {
  assert.throws(() => hchacha20(Buffer.alloc(31), Buffer.alloc(16)), RangeError);
  assert.throws(() => hchacha20(Buffer.alloc(32), Buffer.alloc(12)), RangeError);
  assert.throws(() => hchacha20(Buffer.alloc(32), Buffer.alloc(16), Buffer.alloc(31)), RangeError);
});

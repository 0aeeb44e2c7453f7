// Tests for the store's AES-256-GCM sealer: round trip, and every tampering makes open throw.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AES_GCM_OVERHEAD, AesGcmSealer } from './aes-gcm-sealer.ts';

const key = randomBytes(32);
const aad = Buffer.from('record 7');

test('seal then open returns the plaintext; output is nonce ‖ ciphertext ‖ tag', () => {
  const sealer = new AesGcmSealer(key);
  const plaintext = Buffer.from('a command');
  const sealed = sealer.seal(plaintext, aad);
  assert.equal(sealed.length, plaintext.length + AES_GCM_OVERHEAD);
  assert.deepEqual(sealer.open(sealed, aad), plaintext);
  assert.notDeepEqual(sealer.seal(plaintext, aad), sealed, 'a fresh nonce each time');
  assert.deepEqual(sealer.open(sealer.seal(Buffer.alloc(0), aad), aad), Buffer.alloc(0));
});

test('open rejects another key, other associated data, any flipped bit and short input', () => {
  const sealer = new AesGcmSealer(key);
  const sealed = sealer.seal(Buffer.from('payload'), aad);
  assert.throws(() => new AesGcmSealer(randomBytes(32)).open(sealed, aad), /authentication/);
  assert.throws(() => sealer.open(sealed, Buffer.from('record 8')), /authentication/);
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    const copy = Buffer.from(sealed);
    copy[bit >> 3]! ^= 1 << (bit & 7);
    assert.throws(() => sealer.open(copy, aad), /authentication/, `bit ${bit}`);
  }
  assert.throws(() => sealer.open(sealed.subarray(0, 27), aad), /authentication/);
  assert.throws(() => new AesGcmSealer(randomBytes(16)), RangeError);
});

test('the key never shows in inspect output', async () => {
  const { inspect } = await import('node:util');
  assert.equal(inspect(new AesGcmSealer(key)), 'AesGcmSealer {}');
});

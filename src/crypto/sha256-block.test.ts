// The SHA-256 compression function against node:crypto: every one-block message (0–55 bytes)
// hashed from the initial state, and a two-block message continued from a saved state.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SHA256_INITIAL_STATE, sha256Compress, sha256LastBlock } from './sha256-block.ts';

function digestOf(state: Int32Array): Buffer {
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) out.writeInt32BE(state[i]!, 4 * i);
  return out;
}

test('one block: SHA-256 of every message length 0..55, the FIPS "abc" vector among them', () => {
  const w = new Int32Array(64);
  const state = new Int32Array(8);
  sha256LastBlock(w, Buffer.from('abc'), 0);
  sha256Compress(SHA256_INITIAL_STATE, w, state);
  assert.equal(
    digestOf(state).toString('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  for (let length = 0; length <= 55; length++) {
    const message = randomBytes(length);
    sha256LastBlock(w, message, 0);
    sha256Compress(SHA256_INITIAL_STATE, w, state);
    assert.deepEqual(digestOf(state), createHash('sha256').update(message).digest(), `${length}`);
  }
});

test('a saved state continues the hash: a 64-byte block, then the rest', () => {
  const w = new Int32Array(64);
  const state = new Int32Array(8);
  for (let length = 0; length <= 55; length += 5) {
    const first = randomBytes(64);
    const rest = randomBytes(length);
    for (let i = 0; i < 16; i++) w[i] = first.readInt32BE(4 * i);
    sha256Compress(SHA256_INITIAL_STATE, w, state);
    sha256LastBlock(w, rest, 64);
    sha256Compress(state, w, state);
    const expected = createHash('sha256').update(first).update(rest).digest();
    assert.deepEqual(digestOf(state), expected, `${length}`);
  }
});

test('the last block refuses more than 55 bytes', () => {
  assert.throws(() => sha256LastBlock(new Int32Array(64), Buffer.alloc(56), 0), RangeError);
});

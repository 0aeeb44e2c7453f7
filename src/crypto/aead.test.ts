// Wycheproof AES-GCM (256-bit key, 96-bit IV, 128-bit tag) and ChaCha20-Poly1305 through the AEAD
// primitive SecretKey uses: valid cases seal and open, invalid ones are rejected.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { aeadOpen, aeadSeal } from './aead.ts';
import { NotAuthenticError } from './errors.ts';
import type { KeyType } from './key-type.ts';

interface AeadCase {
  tcId: number;
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface AeadGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: AeadCase[];
}

function load(file: string): AeadGroup[] {
  // Tests run from dist/src/crypto; the vectors stay in the source tree.
  const url = new URL(`../../../src/crypto/testdata/wycheproof/${file}`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { testGroups: AeadGroup[] }).testGroups;
}

function run(algorithm: KeyType, groups: AeadGroup[]): { valid: number; invalid: number } {
  const counts = { valid: 0, invalid: 0 };
  for (const group of groups) {
    for (const c of group.tests) {
      const [key, iv, aad, msg] = [c.key, c.iv, c.aad, c.msg].map((h) => Buffer.from(h, 'hex'));
      const sealed = Buffer.from(c.ct + c.tag, 'hex');
      const label = `${algorithm} tcId ${c.tcId}`;
      assert.notEqual(c.result, 'acceptable', `${label}: no acceptable cases expected`);
      if (c.result === 'valid') {
        assert.deepEqual(aeadSeal(algorithm, key!, iv!, msg!, aad), sealed, `${label} seal`);
        assert.deepEqual(aeadOpen(algorithm, key!, iv!, sealed, aad), msg, `${label} open`);
        counts.valid++;
      } else {
        assert.throws(() => aeadOpen(algorithm, key!, iv!, sealed, aad), NotAuthenticError, label);
        counts.invalid++;
      }
    }
  }
  return counts;
}

test('Wycheproof AES-GCM: every 256-bit key / 12-byte IV / 16-byte tag case', () => {
  const groups = load('aes_gcm_test.json').filter(
    (g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128,
  );
  const counts = run('AES256', groups);
  assert.deepEqual(counts, { valid: 39, invalid: 27 });
});

test('Wycheproof ChaCha20-Poly1305: every case, including wrong nonce sizes', () => {
  const counts = run('ChaCha20', load('chacha20_poly1305_test.json'));
  assert.deepEqual(counts, { valid: 256, invalid: 69 });
});

test('AES-GCM with a non-12-byte IV is rejected on open and refused on seal', () => {
  const groups = load('aes_gcm_test.json').filter((g) => g.keySize === 256 && g.ivSize !== 96);
  let checked = 0;
  for (const c of groups.flatMap((g) => g.tests)) {
    const [key, iv, aad] = [c.key, c.iv, c.aad].map((h) => Buffer.from(h, 'hex'));
    const sealed = Buffer.from(c.ct + c.tag, 'hex');
    assert.throws(() => aeadOpen('AES256', key!, iv!, sealed, aad), NotAuthenticError);
    assert.throws(() => aeadSeal('AES256', key!, iv!, Buffer.alloc(1), aad), RangeError);
    checked++;
  }
  assert.ok(checked > 0);
});

test('a sealed part shorter than the tag, or a wrong key length, is not authentic', () => {
  const key = Buffer.alloc(32, 1);
  const nonce = Buffer.alloc(12, 2);
  for (const algorithm of ['AES256', 'ChaCha20'] as const) {
    assert.throws(() => aeadOpen(algorithm, key, nonce, Buffer.alloc(15)), NotAuthenticError);
    const sealed = aeadSeal(algorithm, key, nonce, Buffer.from('data'));
    assert.throws(() => aeadOpen(algorithm, key.subarray(1), nonce, sealed), NotAuthenticError);
    assert.deepEqual(aeadOpen(algorithm, key, nonce, sealed), Buffer.from('data'));
  }
});

test('aeadSeal writes into a caller buffer at an offset', () => {
  const key = Buffer.alloc(32, 7);
  const nonce = Buffer.alloc(12, 9);
  const out = Buffer.alloc(3 + 5 + 16 + 2, 0xee);
  aeadSeal('AES256', key, nonce, Buffer.from('hello'), Buffer.from('ad'), out, 3);
  assert.deepEqual(
    out.subarray(3, 24),
    aeadSeal('AES256', key, nonce, Buffer.from('hello'), Buffer.from('ad')),
  );
  assert.deepEqual([...out.subarray(0, 3), ...out.subarray(24)], [0xee, 0xee, 0xee, 0xee, 0xee]);
  assert.throws(
    () => aeadSeal('AES256', key, nonce, Buffer.from('hello'), undefined, out, 10),
    RangeError,
  );
});

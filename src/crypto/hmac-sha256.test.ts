// Wycheproof HMAC-SHA256 through both the prepared-pad HmacSha256 (short and long messages, long
// keys) and the one-shot helper.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HmacSha256, hmacSha256 } from './hmac-sha256.ts';

interface MacCase {
  tcId: number;
  key: string;
  msg: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface MacGroup {
  tagSize: number;
  tests: MacCase[];
}

const url = new URL(
  '../../../src/crypto/testdata/wycheproof/hmac_sha256_test.json',
  import.meta.url,
);
const groups = (JSON.parse(readFileSync(url, 'utf8')) as { testGroups: MacGroup[] }).testGroups;

test('Wycheproof HMAC-SHA256: valid tags match, invalid ones do not', () => {
  const counts = { valid: 0, invalid: 0 };
  for (const group of groups) {
    for (const c of group.tests) {
      const key = Buffer.from(c.key, 'hex');
      const msg = Buffer.from(c.msg, 'hex');
      const tag = Buffer.from(c.tag, 'hex');
      const prepared = new HmacSha256(key).digest(msg).subarray(0, group.tagSize / 8);
      const oneShot = hmacSha256(key, msg).subarray(0, group.tagSize / 8);
      assert.deepEqual(prepared, oneShot, `tcId ${c.tcId}`);
      assert.equal(prepared.equals(tag), c.result === 'valid', `tcId ${c.tcId}`);
      counts[c.result === 'valid' ? 'valid' : 'invalid']++;
    }
  }
  assert.deepEqual(counts, { valid: 66, invalid: 108 });
});

test('HmacSha256 stays correct across repeated use and message lengths 0..100', () => {
  for (const keyLength of [0, 16, 32, 64, 65, 100]) {
    const key = randomBytes(keyLength);
    const mac = new HmacSha256(key);
    for (let length = 0; length <= 100; length++) {
      const msg = randomBytes(length);
      assert.deepEqual(mac.digest(msg), createHmac('sha256', key).update(msg).digest());
    }
  }
});

test('HmacSha256.digestInto writes the same MAC into the given bytes, up to 55-byte messages', () => {
  for (const keyLength of [0, 32, 65]) {
    const key = randomBytes(keyLength);
    const mac = new HmacSha256(key);
    const out = Buffer.alloc(40, 0xee);
    for (let length = 0; length <= 55; length++) {
      const msg = randomBytes(length);
      mac.digestInto(msg, out);
      assert.deepEqual(out.subarray(0, 32), createHmac('sha256', key).update(msg).digest());
      assert.deepEqual(out.subarray(32), Buffer.alloc(8, 0xee));
    }
    assert.throws(() => mac.digestInto(randomBytes(56), out), RangeError);
    assert.throws(() => mac.digestInto(randomBytes(16), Buffer.alloc(31)), RangeError);
  }
});

// HsmKey: parsing and its distinct errors (never echoing the secret), text round trip, redaction,
// and the HKDF derivations pinned to vectors and re-computed by an independent RFC 5869 HKDF.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { HsmKeyFormatError, type HsmKeyFormatProblem } from './errors.ts';
import { HSM_KEY_LABELS, HsmKey } from './hsm-key.ts';

const keyBytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const keyText = 'hsm:aes256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

/** RFC 5869 HKDF-SHA256 with an empty salt and one output block, written out with createHmac. */
function rfc5869(ikm: Buffer, info: string): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  return createHmac('sha256', prk)
    .update(Buffer.concat([Buffer.from(info), Buffer.of(1)]))
    .digest();
}

test('derivations are pinned: a change to labels or KDF breaks this test', () => {
  const key = HsmKey.parse(keyText);
  assert.equal(
    key.rekSealingKey().toString('hex'),
    '3a1b88864055c9fff5f26d05ee56116d363a094043106df7394edbfa12ff1f86',
  );
  assert.equal(
    key.rootApiKeySeed().toString('hex'),
    '2e70d4adb3725881c58835c2728767e1708ce4691574f8ecd71853c8239f2501',
  );
  assert.equal(
    key.clusterTrustKey().toString('hex'),
    '8ad3835919b8adfd6be397e2b7dd954995249167fdaaa09ae255b6cfe1bd9357',
  );
  assert.equal(
    key.backupSealingKey().toString('hex'),
    '2f17e4f144b41bafdf51c016f057c7893e17c8f369351f9acfbee58df2645db4',
  );
  assert.deepEqual(HSM_KEY_LABELS, {
    rekSealing: 'keyhold/v1/rek-sealing',
    rootApiKey: 'keyhold/v1/root-api-key',
    clusterTrust: 'keyhold/v1/cluster-trust',
    backupSealing: 'keyhold/v1/backup-sealing',
    auditChain: 'keyhold/v1/audit-chain',
  });
});

test('derivations equal an independent HKDF-SHA256 for random keys, and differ per label', () => {
  for (let i = 0; i < 20; i++) {
    const key = HsmKey.generate();
    const bytes = Buffer.from(key.toString().slice('hsm:aes256:'.length), 'base64');
    const derived = [
      key.rekSealingKey(),
      key.rootApiKeySeed(),
      key.clusterTrustKey(),
      key.backupSealingKey(),
      key.auditChainKey(),
    ];
    assert.deepEqual(derived[0], rfc5869(bytes, HSM_KEY_LABELS.rekSealing));
    assert.deepEqual(derived[1], rfc5869(bytes, HSM_KEY_LABELS.rootApiKey));
    assert.deepEqual(derived[2], rfc5869(bytes, HSM_KEY_LABELS.clusterTrust));
    assert.deepEqual(derived[3], rfc5869(bytes, HSM_KEY_LABELS.backupSealing));
    assert.deepEqual(derived[4], rfc5869(bytes, HSM_KEY_LABELS.auditChain));
    assert.equal(new Set(derived.map((d) => d.toString('hex'))).size, 5);
    for (const d of derived) assert.ok(!d.equals(bytes));
  }
});

test('parse ↔ toString round trip; generate gives distinct well-formed keys', () => {
  assert.equal(HsmKey.parse(keyText).toString(), keyText);
  assert.equal(HsmKey.parse(`  ${keyText}\n`).toString(), keyText);
  const a = HsmKey.generate();
  const b = HsmKey.generate();
  assert.match(a.toString(), /^hsm:aes256:[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(a.toString(), b.toString());
  assert.equal(HsmKey.parse(a.toString()).toString(), a.toString());
  assert.deepEqual(HsmKey.parse(a.toString()).rekSealingKey(), a.rekSealingKey());
});

test('parse errors are distinct and never contain the secret', () => {
  const b64 = keyBytes.toString('base64');
  const cases: [string, HsmKeyFormatProblem][] = [
    [b64, 'prefix'],
    [`hsm:aes128:${b64}`, 'prefix'],
    [`HSM:AES256:${b64}`, 'prefix'],
    ['', 'prefix'],
    [`hsm:aes256:${keyBytes.toString('base64url')}`, 'base64'],
    [`hsm:aes256:${b64.slice(0, -1)}`, 'base64'],
    [`hsm:aes256:${b64.replace('A', '!')}`, 'base64'],
    [`hsm:aes256:${keyBytes.subarray(0, 31).toString('base64')}`, 'length'],
    [`hsm:aes256:${Buffer.concat([keyBytes, keyBytes]).toString('base64')}`, 'length'],
    ['hsm:aes256:', 'length'],
  ];
  for (const [text, problem] of cases) {
    assert.throws(
      () => HsmKey.parse(text),
      (error: unknown) => {
        assert.ok(error instanceof HsmKeyFormatError, text);
        assert.equal(error.problem, problem, text);
        const secret = text.slice('hsm:aes256:'.length);
        if (secret.length > 0) assert.ok(!error.message.includes(secret), error.message);
        assert.ok(!error.message.includes(b64.slice(0, 8)), error.message);
        return true;
      },
    );
  }
});

test('JSON and inspect forms are redacted', () => {
  const key = HsmKey.parse(keyText);
  const secret = keyText.slice('hsm:aes256:'.length);
  for (const form of [
    JSON.stringify({ key }),
    inspect(key),
    inspect({ key }, { showHidden: true }),
  ]) {
    assert.ok(!form.includes(secret), form);
    assert.ok(form.includes('[redacted]'), form);
  }
});

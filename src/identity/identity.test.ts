// Tests for the Identity value: both encodings, parsing with clear errors, equality, and
// the hash being taken over exactly the SPKI bytes.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { Identity, InvalidIdentityError, identityOfSpki, parseIdentity } from './identity.ts';

// Appendix A.6 of docs/protocol/kes.md: SHA-256 of 32 zero bytes.
const ZERO32_SHA256 = '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925';

test('identityOfSpki hashes exactly the given bytes', () => {
  const identity = identityOfSpki(Buffer.alloc(32));
  assert.equal(identity.toHex(), ZERO32_SHA256);
  assert.equal(identity.toH1(), 'h1:' + Buffer.from(ZERO32_SHA256, 'hex').toString('base64url'));
  assert.equal(identity.toH1().length, 46);
  assert.equal(identity.toHex().length, 64);
  assert.equal(identity.format('hex'), identity.toHex());
  assert.equal(identity.format('h1'), identity.toH1());
});

test('identity of a real key matches an independent SHA-256 of its exported SPKI', () => {
  for (const type of ['ed25519', 'ec'] as const) {
    const { publicKey } =
      type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(spki).digest('hex');
    assert.equal(identityOfSpki(spki).toHex(), expected);
  }
});

test('parseIdentity accepts both encodings of the same value', () => {
  const identity = identityOfSpki(Buffer.from('spki'));
  const fromHex = parseIdentity(identity.toHex());
  const fromH1 = parseIdentity(identity.toH1());
  assert.ok(fromHex.equals(identity));
  assert.ok(fromH1.equals(identity));
  assert.ok(fromHex.equals(fromH1));
  assert.equal(fromHex.toH1(), identity.toH1());
  assert.equal(fromH1.toHex(), identity.toHex());
  assert.ok(!identityOfSpki(Buffer.from('other')).equals(identity));
});

test('parseIdentity: clear errors that never echo the input', () => {
  const valid = identityOfSpki(Buffer.from('x'));
  const cases: [string, RegExp][] = [
    ['', /expected 'h1:' \+ 43 base64url characters or 64 lowercase hex digits/],
    ['disabled', /invalid identity \(8 characters\)/],
    [valid.toHex().toUpperCase(), /hex identities must be lowercase/],
    [valid.toHex().slice(1), /a hex identity has 64 digits, got 63/],
    [valid.toH1().slice(0, -1), /'h1:' must be followed by 43 base64url characters .*got 42/],
    [valid.toH1().slice(0, -1) + '+', /got 43 characters including characters outside/],
    [valid.toH1() + '=', /got 44/],
    [' ' + valid.toHex(), /invalid identity/],
    ['k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw', /this is an API key \(a secret\)/],
    ['kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc', /this is an API key/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseIdentity(text),
      (error: unknown) => {
        assert.ok(error instanceof InvalidIdentityError, text);
        assert.match(error.message, message, text);
        if (text.length > 8) assert.ok(!error.message.includes(text.slice(3, 20)), 'echoed input');
        return true;
      },
    );
  }
});

test('fromDigest copies and checks length; digest returns a copy', () => {
  const bytes = Buffer.alloc(32, 1);
  const identity = Identity.fromDigest(bytes);
  bytes.fill(2);
  assert.deepEqual(identity.digest, Buffer.alloc(32, 1));
  identity.digest.fill(3);
  assert.deepEqual(identity.digest, Buffer.alloc(32, 1));
  assert.throws(() => Identity.fromDigest(Buffer.alloc(31)), /32 bytes, got 31/);
});

test('string, JSON and inspect forms', () => {
  const identity = identityOfSpki(Buffer.alloc(32));
  assert.equal(String(identity), identity.toH1());
  assert.equal(JSON.stringify({ identity }), JSON.stringify({ identity: identity.toH1() }));
  assert.equal(inspect(identity), `Identity(${identity.toH1()})`);
});

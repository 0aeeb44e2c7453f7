// Checks the proof a browser sends to sign in with an API key it never sends: a signature, made
// in WebCrypto with the key the page derived from the API key, over a message that names the
// server and a challenge the server issued (docs/console.md#signing-in). `k1:` and `kes:v1:` keys
// sign with Ed25519; `k2:` keys with ECDSA on the curve their length names (P-256, P-384, P-521).

import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { identityOfSpki } from '../identity/index.ts';
import { badRequest } from '../model/errors.ts';

/** What the browser signs: a fixed label, the host it talks to, and the challenge. */
export function signInMessage(host: string, challenge: string): Buffer {
  return Buffer.from(`keyhold console sign-in v1\n${host}\n${challenge}`, 'utf8');
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The curves a `k2:` key may be on, with the hash WebCrypto's ECDSA uses for each (the curve's
 * own size, as is usual) and the length of an IEEE P1363 signature (r || s), which is the form
 * WebCrypto produces.
 */
const ECDSA_CURVES = new Map([
  ['prime256v1', { hash: 'sha256', signature: 64 }],
  ['secp384r1', { hash: 'sha384', signature: 96 }],
  ['secp521r1', { hash: 'sha512', signature: 132 }],
]);

/** Which signature a proof carries: Ed25519 (`k1:`, `kes:v1:`) or ECDSA (`k2:`). */
export type ProofAlgorithm = 'Ed25519' | 'ECDSA';

/**
 * The `h1:` identity of `publicKey` if `signature` (base64url) signs the sign-in message; null
 * for a signature that does not verify. For Ed25519, `publicKey` is the raw 32-byte key and the
 * signature 64 bytes; for ECDSA, `publicKey` is the key's SubjectPublicKeyInfo (DER) and the
 * signature r || s. Throws BAD_REQUEST for values that are not a key or a signature at all.
 */
export function verifySignIn(
  host: string,
  challenge: string,
  publicKey: string,
  signature: string,
  algorithm: ProofAlgorithm = 'Ed25519',
): string | null {
  if (!BASE64URL.test(signature)) throw badRequest('signature must be base64url');
  const sig = Buffer.from(signature, 'base64url');
  const message = signInMessage(host, challenge);
  let key: KeyObject;
  let ok: boolean;
  if (algorithm === 'ECDSA') {
    key = ecdsaPublicKey(publicKey);
    const curve = ECDSA_CURVES.get(key.asymmetricKeyDetails?.namedCurve ?? '')!;
    if (sig.length !== curve.signature) {
      throw badRequest(`signature must be an ECDSA signature r || s of ${curve.signature} bytes`);
    }
    ok = verify(curve.hash, message, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } else {
    if (!BASE64URL.test(publicKey) || Buffer.from(publicKey, 'base64url').length !== 32) {
      throw badRequest('publicKey must be a raw Ed25519 public key (32 bytes, base64url)');
    }
    if (sig.length !== 64) {
      throw badRequest('signature must be an Ed25519 signature (64 bytes, base64url)');
    }
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    } catch {
      throw badRequest('publicKey is not an Ed25519 public key');
    }
    ok = verify(null, message, key, sig);
  }
  if (!ok) return null;
  // The identity of the key as the server re-encodes it, the same SPKI a `k2:` or `k1:` client
  // certificate carries (src/identity/api-key.ts).
  return identityOfSpki(key.export({ type: 'spki', format: 'der' })).toH1();
}

/** An ECDSA public key on P-256, P-384 or P-521 from its SPKI (base64url DER). */
function ecdsaPublicKey(spki: string): KeyObject {
  const refuse = () =>
    badRequest(
      'publicKey must be the SubjectPublicKeyInfo (DER, base64url) of a P-256, P-384 or P-521 key',
    );
  if (!BASE64URL.test(spki) || spki.length > 400) throw refuse();
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki, 'base64url'), format: 'der', type: 'spki' });
  } catch {
    throw refuse();
  }
  if (key.asymmetricKeyType !== 'ec') throw refuse();
  if (!ECDSA_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '')) throw refuse();
  return key;
}

// Checks the proof a browser sends to sign in with an API key it never sends: an Ed25519
// signature, made with the key derived from the `k1:` seed in WebCrypto, over a message that
// names the server and a challenge the server issued (docs/console.md#signing-in).

import { createPublicKey, verify } from 'node:crypto';
import { identityOfSpki } from '../identity/index.ts';
import { badRequest } from '../model/errors.ts';

/** What the browser signs: a fixed label, the host it talks to, and the challenge. */
export function signInMessage(host: string, challenge: string): Buffer {
  return Buffer.from(`keyhold console sign-in v1\n${host}\n${challenge}`, 'utf8');
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The `h1:` identity of `publicKey` (raw 32-byte Ed25519, base64url) if `signature` (64 bytes,
 * base64url) signs the sign-in message; null for a signature that does not verify. Throws
 * BAD_REQUEST for values that are not a key or a signature at all.
 */
export function verifySignIn(
  host: string,
  challenge: string,
  publicKey: string,
  signature: string,
): string | null {
  if (!BASE64URL.test(publicKey) || Buffer.from(publicKey, 'base64url').length !== 32) {
    throw badRequest('publicKey must be a raw Ed25519 public key (32 bytes, base64url)');
  }
  if (!BASE64URL.test(signature) || Buffer.from(signature, 'base64url').length !== 64) {
    throw badRequest('signature must be an Ed25519 signature (64 bytes, base64url)');
  }
  let key;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
  } catch {
    throw badRequest('publicKey is not an Ed25519 public key');
  }
  const ok = verify(null, signInMessage(host, challenge), key, Buffer.from(signature, 'base64url'));
  if (!ok) return null;
  return identityOfSpki(key.export({ type: 'spki', format: 'der' })).toH1();
}

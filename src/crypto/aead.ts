// The AEAD primitive under every Keyhold ciphertext: AES-256-GCM or ChaCha20-Poly1305 with a
// 32-byte key, 12-byte nonce and 16-byte tag, straight from node:crypto.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { NotAuthenticError } from './errors.ts';
import type { KeyType } from './key-type.ts';

export const AEAD_KEY_LENGTH = 32;
export const AEAD_NONCE_LENGTH = 12;
export const AEAD_TAG_LENGTH = 16;

const EMPTY = Buffer.alloc(0);
/** The options of every cipher and decipher: one object, not a new one per ciphertext. */
const TAG_OPTIONS = Object.freeze({ authTagLength: AEAD_TAG_LENGTH });

/**
 * Seals `plaintext` → ciphertext ‖ tag (plaintext.length + 16 bytes). Writes at `out[offset…]`
 * when `out` is given (it must have room) and returns `out`; otherwise returns a new Buffer.
 * Throws RangeError for a wrong key or nonce length (a programming error, not bad input).
 */
export function aeadSeal(
  algorithm: KeyType,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array = EMPTY,
  out?: Buffer,
  offset = 0,
): Buffer {
  if (key.length !== AEAD_KEY_LENGTH) throw new RangeError('AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LENGTH) throw new RangeError('AEAD nonce must be 12 bytes');
  const target = out ?? Buffer.allocUnsafe(plaintext.length + AEAD_TAG_LENGTH);
  if (offset + plaintext.length + AEAD_TAG_LENGTH > target.length) {
    throw new RangeError('AEAD output buffer is too small');
  }
  const cipher =
    algorithm === 'AES256'
      ? createCipheriv('aes-256-gcm', key, nonce, TAG_OPTIONS)
      : createCipheriv('chacha20-poly1305', key, nonce, TAG_OPTIONS);
  if (associatedData.length > 0) cipher.setAAD(associatedData);
  const body = cipher.update(plaintext);
  // Stream ciphers: update returns everything and final returns nothing.
  cipher.final();
  body.copy(target, offset);
  cipher.getAuthTag().copy(target, offset + body.length);
  return target;
}

/**
 * Opens ciphertext ‖ tag, or returns undefined when anything is wrong: key or nonce length, a
 * sealed part shorter than the tag, a tag or associated-data mismatch. The partial plaintext of a
 * failed attempt is zeroed before it is dropped.
 */
export function aeadTryOpen(
  algorithm: KeyType,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData: Uint8Array = EMPTY,
): Buffer | undefined {
  if (
    key.length !== AEAD_KEY_LENGTH ||
    nonce.length !== AEAD_NONCE_LENGTH ||
    sealed.length < AEAD_TAG_LENGTH
  ) {
    return undefined;
  }
  const split = sealed.length - AEAD_TAG_LENGTH;
  let plaintext: Buffer | undefined;
  try {
    const decipher =
      algorithm === 'AES256'
        ? createDecipheriv('aes-256-gcm', key, nonce, TAG_OPTIONS)
        : createDecipheriv('chacha20-poly1305', key, nonce, TAG_OPTIONS);
    decipher.setAuthTag(sealed.subarray(split));
    if (associatedData.length > 0) decipher.setAAD(associatedData);
    plaintext = decipher.update(sealed.subarray(0, split));
    decipher.final();
    return plaintext;
  } catch {
    plaintext?.fill(0);
    return undefined;
  }
}

/** Like `aeadTryOpen`, but throws NotAuthenticError instead of returning undefined. */
export function aeadOpen(
  algorithm: KeyType,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  associatedData: Uint8Array = EMPTY,
): Buffer {
  const plaintext = aeadTryOpen(algorithm, key, nonce, sealed, associatedData);
  if (plaintext === undefined) throw new NotAuthenticError();
  return plaintext;
}

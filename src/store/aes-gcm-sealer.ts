// AES-256-GCM Sealer: the store's own blob format `nonce(12) ‖ ciphertext ‖ tag(16)` with a fresh
// random nonce per seal. Not the KES ciphertext format; used for records, snapshots and the REK.

import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { Sealer } from './sealer.ts';

/** Bytes a sealed blob adds to its plaintext: nonce plus tag. */
export const AES_GCM_OVERHEAD = 28;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * AES-256-GCM with random 96-bit nonces. The key is copied into a KeyObject; the caller may wipe
 * its own copy afterwards. `open` throws `Error('message authentication failed')` on any
 * mismatch (wrong key, altered blob or associated data, or a blob too short to be sealed).
 * Random nonces bound one key to about 2^32 seals (NIST SP 800-38D); the store's write rate is
 * orders of magnitude below that.
 */
export class AesGcmSealer implements Sealer {
  readonly #key: KeyObject;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError('AES-256-GCM key must be 32 bytes');
    this.#key = createSecretKey(Buffer.from(key));
  }

  seal(plaintext: Uint8Array, aad: Uint8Array): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    const final = cipher.final();
    return Buffer.concat([nonce, body, final, cipher.getAuthTag()]);
  }

  open(sealed: Uint8Array, aad: Uint8Array): Buffer {
    if (sealed.length < AES_GCM_OVERHEAD) throw new Error('message authentication failed');
    const nonce = sealed.subarray(0, NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([body, decipher.final()]);
    } catch {
      body.fill(0);
      throw new Error('message authentication failed');
    }
  }

  /** Never print key material, even by accident. */
  [INSPECT](): string {
    return 'AesGcmSealer {}';
  }
}

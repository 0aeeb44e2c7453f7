// A 32-byte master key with its algorithm: seals data keys into the KES/MinIO raw ciphertext format
// and opens raw and legacy ciphertexts. The hot path of generate / encrypt / decrypt.

import { timingSafeEqual } from 'node:crypto';
import { AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, aeadSeal, aeadTryOpen } from './aead.ts';
import {
  CIPHERTEXT_IV_LENGTH,
  CIPHERTEXT_OVERHEAD,
  isOnlyRaw,
  parseCiphertext,
} from './ciphertext.ts';
import { NotAuthenticError } from './errors.ts';
import { hchacha20 } from './hchacha20.ts';
import { HmacSha256 } from './hmac-sha256.ts';
import { isKeyType, type KeyType } from './key-type.ts';
import { NATIVE_ALGORITHM, dataKeyCrypto } from './native-crypto.ts';
import { randomPool } from './random-pool.ts';

export type { KeyType } from './key-type.ts';

/** Length of every secret key in bytes. */
export const SECRET_KEY_LENGTH = 32;

/** A freshly generated data key: the plaintext to use and its ciphertext to store. */
export interface DataKey {
  readonly plaintext: Buffer;
  readonly ciphertext: Buffer;
}

const EMPTY = Buffer.alloc(0);
/**
 * Where an AES256 sealing key is derived: one buffer for the process, used synchronously and
 * zeroed right after each use, instead of a new 32-byte Buffer per ciphertext.
 */
const SUB_KEY = Buffer.alloc(SECRET_KEY_LENGTH);
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A master key. Ciphertexts are `AEAD(subKey, nonce, plaintext, aad) ‖ iv(16) ‖ nonce(12)` with
 * fresh random iv and nonce, where subKey = HMAC-SHA256(key, iv) for AES256 (AEAD AES-256-GCM)
 * and HChaCha20(key, iv) for ChaCha20 (AEAD ChaCha20-Poly1305): byte-compatible with KES, minkms
 * and MinIO's static key. The key bytes never leave the object except via `exportKeyMaterial`.
 * Sealing and opening run in the native addon when it loaded (./native-crypto.ts), else here on
 * node:crypto; both give the same bytes and the same errors.
 */
export class SecretKey {
  readonly #type: KeyType;
  readonly #key: Buffer;
  #hmac: HmacSha256 | undefined;

  /** Copies `key` (exactly 32 bytes). Throws RangeError/TypeError for a wrong length or type. */
  constructor(type: KeyType, key: Uint8Array) {
    if (!isKeyType(type)) throw new TypeError('secret key type must be AES256 or ChaCha20');
    if (key.length !== SECRET_KEY_LENGTH) throw new RangeError('secret key must be 32 bytes');
    this.#type = type;
    this.#key = Buffer.alloc(SECRET_KEY_LENGTH);
    this.#key.set(key);
  }

  /** A new random key (from the OS CSPRNG via the pool). */
  static generate(type: KeyType = 'AES256'): SecretKey {
    const bytes = randomPool.take(SECRET_KEY_LENGTH);
    try {
      return new SecretKey(type, bytes);
    } finally {
      bytes.fill(0);
    }
  }

  get type(): KeyType {
    return this.#type;
  }

  /** Seals `plaintext` → raw ciphertext of plaintext.length + 44 bytes. */
  seal(plaintext: Uint8Array, associatedData: Uint8Array = EMPTY): Buffer {
    const n = plaintext.length;
    const out = Buffer.allocUnsafe(n + CIPHERTEXT_OVERHEAD);
    const ivStart = n + AEAD_TAG_LENGTH;
    const nonceStart = ivStart + CIPHERTEXT_IV_LENGTH;
    randomPool.fill(out, ivStart, CIPHERTEXT_OVERHEAD - AEAD_TAG_LENGTH);
    const native = dataKeyCrypto.native;
    if (native !== null) {
      native.seal(NATIVE_ALGORITHM[this.#type], this.#key, plaintext, associatedData, out);
      return out;
    }
    const subKey = this.#subKey(this.#type, out.subarray(ivStart, nonceStart));
    // A throw in between leaves SUB_KEY's bytes behind until the next ciphertext overwrites them:
    // aeadSeal throws only for lengths, which are fixed here.
    aeadSeal(this.#type, subKey, out.subarray(nonceStart), plaintext, associatedData, out, 0);
    subKey.fill(0);
    return out;
  }

  /**
   * Opens a raw, legacy JSON or legacy MessagePack ciphertext, optionally `v<N>:`-prefixed.
   * Legacy formats are opened with the algorithm they record (a strict superset of upstream, which
   * needs it for MinIO's ChaCha20 JSON ciphertexts under keys imported as AES256); raw ones with
   * this key's type. Throws NotAuthenticError, and nothing else, for any input that does not open.
   */
  open(ciphertext: Uint8Array, associatedData: Uint8Array = EMPTY): Buffer {
    const native = dataKeyCrypto.native;
    if (native !== null && isOnlyRaw(ciphertext)) {
      // The one reading parseCiphertext would give (sealed ‖ iv ‖ nonce), without the list and
      // the reading object: every data key MinIO decrypts is such a ciphertext.
      const nonceStart = ciphertext.length - AEAD_NONCE_LENGTH;
      const ivStart = nonceStart - CIPHERTEXT_IV_LENGTH;
      const plaintext = Buffer.allocUnsafe(ivStart - AEAD_TAG_LENGTH);
      const iv = ciphertext.subarray(ivStart, nonceStart);
      const sealed = ciphertext.subarray(0, ivStart);
      const nonce = ciphertext.subarray(nonceStart);
      const code = NATIVE_ALGORITHM[this.#type];
      if (native.open(code, this.#key, iv, nonce, sealed, associatedData, plaintext)) {
        return plaintext;
      }
      throw new NotAuthenticError();
    }
    for (const reading of parseCiphertext(ciphertext)) {
      const algorithm = reading.algorithm ?? this.#type;
      if (native !== null) {
        // Every reading's sealed part holds at least the 16-byte tag (./ciphertext.ts).
        const plaintext = Buffer.allocUnsafe(reading.sealed.length - AEAD_TAG_LENGTH);
        const { iv, nonce, sealed } = reading;
        const code = NATIVE_ALGORITHM[algorithm];
        if (native.open(code, this.#key, iv, nonce, sealed, associatedData, plaintext)) {
          return plaintext;
        }
        continue;
      }
      const subKey = this.#subKey(algorithm, reading.iv);
      const plaintext = aeadTryOpen(
        algorithm,
        subKey,
        reading.nonce,
        reading.sealed,
        associatedData,
      );
      subKey.fill(0);
      if (plaintext !== undefined) return plaintext;
    }
    throw new NotAuthenticError();
  }

  /** A random data key of `length` bytes (default 32) and its raw ciphertext under this key. */
  generateDataKey(length = 32, associatedData: Uint8Array = EMPTY): DataKey {
    if (!Number.isSafeInteger(length) || length < 1) {
      throw new RangeError('data key length must be a positive integer');
    }
    const plaintext = randomPool.take(length);
    return { plaintext, ciphertext: this.seal(plaintext, associatedData) };
  }

  /** Constant-time comparison of type and key bytes. */
  equals(other: SecretKey): boolean {
    return timingSafeEqual(this.#key, other.#key) && this.#type === other.#type;
  }

  /**
   * A copy of the 32 key bytes: SECRET. Only for sealing the key into storage or encoding a
   * keystore value; never log, return or persist it unsealed. The caller should zero it after use.
   */
  exportKeyMaterial(): Buffer {
    return Buffer.from(this.#key);
  }

  /** Redacted: `{ type, key: '[redacted]' }`. */
  toJSON(): { type: KeyType; key: string } {
    return { type: this.#type, key: '[redacted]' };
  }

  toString(): string {
    return `SecretKey(${this.#type}, [redacted])`;
  }

  [INSPECT](): string {
    return this.toString();
  }

  /**
   * HMAC-SHA256(key, iv) or HChaCha20(key, iv): the per-ciphertext AEAD key. The AES256 one is
   * SUB_KEY itself: the caller uses it at once and zeroes it.
   */
  #subKey(algorithm: KeyType, iv: Buffer): Buffer {
    if (algorithm === 'ChaCha20') return hchacha20(this.#key, iv);
    this.#hmac ??= new HmacSha256(this.#key);
    this.#hmac.digestInto(iv, SUB_KEY);
    return SUB_KEY;
  }
}

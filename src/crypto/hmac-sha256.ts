// HMAC-SHA256 (RFC 2104) with the key's pads prepared once, so that deriving a sealing key from a
// 16-byte IV costs two one-shot SHA-256 calls instead of a fresh createHmac per ciphertext.

import { createHmac, hash } from 'node:crypto';

const BLOCK = 64;
const DIGEST = 32;
/** Longest message taking the prepared-pad path; longer ones use createHmac. */
const SHORT_MESSAGE = 32;

/**
 * An HMAC-SHA256 key ready for repeated use. Any key length is accepted (keys longer than the
 * 64-byte block are hashed first, as RFC 2104 says). Not reentrant across threads, which JS
 * cannot do anyway: `digest` is synchronous and uses per-key scratch space.
 */
export class HmacSha256 {
  readonly #key: Buffer;
  /** (key ⊕ ipad) ‖ room for a short message. */
  readonly #inner: Buffer;
  /** (key ⊕ opad) ‖ room for the inner digest. */
  readonly #outer: Buffer;

  constructor(key: Uint8Array) {
    const memory = Buffer.alloc(key.length + BLOCK + SHORT_MESSAGE + BLOCK + DIGEST);
    this.#key = memory.subarray(0, key.length);
    this.#key.set(key);
    this.#inner = memory.subarray(key.length, key.length + BLOCK + SHORT_MESSAGE);
    this.#outer = memory.subarray(key.length + BLOCK + SHORT_MESSAGE);
    const k = key.length > BLOCK ? hash('sha256', key, 'buffer') : key;
    for (let i = 0; i < BLOCK; i++) {
      const b = i < k.length ? k[i]! : 0;
      this.#inner[i] = b ^ 0x36;
      this.#outer[i] = b ^ 0x5c;
    }
  }

  /** HMAC-SHA256(key, message) as a new 32-byte Buffer. */
  digest(message: Uint8Array): Buffer {
    if (message.length > SHORT_MESSAGE) {
      return createHmac('sha256', this.#key).update(message).digest();
    }
    const inner = this.#inner;
    inner.set(message, BLOCK);
    const innerDigest = hash('sha256', inner.subarray(0, BLOCK + message.length), 'buffer');
    const outer = this.#outer;
    outer.set(innerDigest, BLOCK);
    innerDigest.fill(0);
    return hash('sha256', outer, 'buffer');
  }
}

/** One-shot HMAC-SHA256(key, message) → 32 bytes. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

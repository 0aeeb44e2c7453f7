// HMAC-SHA256 (RFC 2104) with the key's inner and outer SHA-256 states computed once, so that
// deriving a sealing key from a 16-byte IV costs two SHA-256 compressions in place instead of two
// node:crypto calls (or a fresh createHmac) per ciphertext.

import { createHmac, hash } from 'node:crypto';
import { SHA256_INITIAL_STATE, sha256Compress, sha256LastBlock } from './sha256-block.ts';

const BLOCK = 64;
const DIGEST = 32;
/** Longest message taking the precomputed-state path: what fits in one block after the pad. */
const SHORT_MESSAGE = 55;

// Scratch space shared by every key: `digest` is synchronous and zeroes both before returning.
const schedule = new Int32Array(64);
const state = new Int32Array(8);

/**
 * An HMAC-SHA256 key ready for repeated use. Any key length is accepted (keys longer than the
 * 64-byte block are hashed first, as RFC 2104 says). Not reentrant across threads, which JS
 * cannot do anyway.
 */
export class HmacSha256 {
  readonly #key: Buffer;
  /** SHA-256 state after the block key ⊕ ipad. */
  readonly #inner = new Int32Array(8);
  /** SHA-256 state after the block key ⊕ opad. */
  readonly #outer = new Int32Array(8);

  constructor(key: Uint8Array) {
    this.#key = Buffer.from(key);
    const k = key.length > BLOCK ? hash('sha256', key, 'buffer') : key;
    for (const [pad, out] of [
      [0x36, this.#inner],
      [0x5c, this.#outer],
    ] as const) {
      for (let i = 0; i < 16; i++) {
        let word = 0;
        for (let j = 0; j < 4; j++) word = (word << 8) | ((k[4 * i + j] ?? 0) ^ pad);
        schedule[i] = word;
      }
      sha256Compress(SHA256_INITIAL_STATE, schedule, out);
    }
    schedule.fill(0);
  }

  /** HMAC-SHA256(key, message) as a new 32-byte Buffer. */
  digest(message: Uint8Array): Buffer {
    if (message.length > SHORT_MESSAGE) {
      return createHmac('sha256', this.#key).update(message).digest();
    }
    const out = Buffer.allocUnsafe(DIGEST);
    this.#short(message, out);
    return out;
  }

  /**
   * HMAC-SHA256(key, message) written to `out[0, 32)`, for messages of at most 55 bytes (a
   * sealing key from a 16-byte IV): the hot path, which allocates nothing. Throws RangeError for a
   * longer message or a shorter `out`.
   */
  digestInto(message: Uint8Array, out: Uint8Array): void {
    if (message.length > SHORT_MESSAGE) throw new RangeError('digestInto takes at most 55 bytes');
    if (out.length < DIGEST) throw new RangeError('digestInto needs 32 bytes of output');
    this.#short(message, out);
  }

  #short(message: Uint8Array, out: Uint8Array): void {
    // Inner hash: the key block is already in #inner, the message is the last block.
    sha256LastBlock(schedule, message, BLOCK);
    sha256Compress(this.#inner, schedule, state);
    // Outer hash: the inner digest (32 bytes) and its padding, after the key block in #outer.
    schedule.set(state);
    schedule[8] = 0x80000000 | 0;
    schedule.fill(0, 9, 15);
    schedule[15] = (BLOCK + DIGEST) * 8;
    sha256Compress(this.#outer, schedule, state);
    for (let i = 0; i < 8; i++) {
      const word = state[i]!;
      out[4 * i] = word >>> 24;
      out[4 * i + 1] = word >>> 16;
      out[4 * i + 2] = word >>> 8;
      out[4 * i + 3] = word;
    }
    schedule.fill(0);
    state.fill(0);
  }
}

/** One-shot HMAC-SHA256(key, message) → 32 bytes. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

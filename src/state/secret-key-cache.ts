// A bounded cache of SecretKey objects by key record id: the hot path reuses one SecretKey (and its
// prepared HMAC pads) per hot key instead of making one per request, and cold keys cost nothing.

import type { SecretKey } from '../crypto/index.ts';

/**
 * Two generations of at most `capacity` entries each: a hit in the young one costs one Map
 * lookup, a hit in the old one moves the entry to the young one, and when the young one is full
 * it becomes the old one (dropping the previous old one). Keys used at least once per
 * `capacity` distinct lookups stay cached, like an LRU without per-hit bookkeeping.
 */
export class SecretKeyCache {
  readonly #capacity: number;
  #young = new Map<number, SecretKey>();
  #old = new Map<number, SecretKey>();

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError('cache capacity must be a positive integer');
    }
    this.#capacity = capacity;
  }

  /** Number of cached keys (both generations). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  get(id: number): SecretKey | undefined {
    const young = this.#young.get(id);
    if (young) return young;
    const old = this.#old.get(id);
    if (old) {
      this.#old.delete(id);
      this.set(id, old);
    }
    return old;
  }

  set(id: number, key: SecretKey): void {
    if (this.#young.size >= this.#capacity) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(id, key);
  }

  delete(id: number): void {
    this.#young.delete(id);
    this.#old.delete(id);
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }
}

// Per-process pool of OS CSPRNG bytes, fetched in large blocks with randomFillSync so that IVs,
// nonces and data keys cost a copy instead of a system call each.

import { randomFillSync } from 'node:crypto';

/** Default size of one block fetched from the OS CSPRNG. */
export const RANDOM_POOL_BLOCK_SIZE = 16 * 1024;
/** Requests up to this many bytes are copied and zeroed byte by byte. */
const SHORT_FILL = 64;

/**
 * Hands out fresh random bytes, each byte exactly once: the region given away is zeroed in the
 * pool immediately, and the whole block is refilled from the OS CSPRNG when it runs short.
 *
 * State lives in this process's memory only. node:cluster workers and child processes are new
 * processes (Node never forks a running heap) and worker_threads get their own module instance,
 * so no two executions can ever share or replay pool bytes.
 */
export class RandomPool {
  readonly #block: Buffer;
  /** Index of the first unused byte; equal to the block length when the pool is empty. */
  #next: number;

  /** @param blockSize bytes fetched per refill (≥ 64). The pool starts empty and fills lazily. */
  constructor(blockSize: number = RANDOM_POOL_BLOCK_SIZE) {
    if (!Number.isSafeInteger(blockSize) || blockSize < 64) {
      throw new RangeError('random pool block size must be an integer ≥ 64');
    }
    this.#block = Buffer.alloc(blockSize);
    this.#next = blockSize;
  }

  /** Returns `n` fresh random bytes in a new Buffer. */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    this.fill(out, 0, n);
    return out;
  }

  /**
   * Overwrites `target[offset, offset + length)` with fresh random bytes. Requests larger than a
   * quarter block go straight to the OS CSPRNG so they do not drain the pool.
   */
  fill(target: Uint8Array, offset = 0, length: number = target.length - offset): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > target.length
    ) {
      throw new RangeError('random pool fill range is outside the target');
    }
    const block = this.#block;
    if (length > block.length >>> 2) {
      randomFillSync(target, offset, length);
      return;
    }
    let start = this.#next;
    if (start + length > block.length) {
      randomFillSync(block);
      start = 0;
    }
    const end = start + length;
    if (length <= SHORT_FILL) {
      // IVs, nonces and data keys: a byte loop costs less than copy() and fill() calls.
      for (let i = 0; i < length; i++) {
        target[offset + i] = block[start + i]!;
        block[start + i] = 0;
      }
    } else {
      block.copy(target, offset, start, end);
      block.fill(0, start, end);
    }
    this.#next = end;
  }
}

/** The process-wide pool used by the crypto core. */
export const randomPool: RandomPool = new RandomPool();

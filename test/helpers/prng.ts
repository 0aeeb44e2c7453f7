// Test harness: a small seeded pseudo-random generator (SplitMix32-style mixing over a 32-bit
// counter) for fault schedules that can be replayed: a failing run prints its seed, and running
// again with KEYHOLD_FAULT_SEED=that seed makes the same choices in the same order.

/** The environment variable that fixes the seed of a fault run. */
export const SEED_ENV = 'KEYHOLD_FAULT_SEED';

/** Deterministic numbers from a 32-bit seed. Not for cryptography. */
export class Prng {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
      throw new RangeError(`a seed is an integer from 0 to 2^32-1, got ${seed}`);
    }
    this.seed = seed;
    this.#state = seed;
  }

  /** The seed from KEYHOLD_FAULT_SEED if set (decimal or 0x hex), else a fresh random one. */
  static fromEnv(env: Readonly<Record<string, string | undefined>> = process.env): Prng {
    const text = env[SEED_ENV]?.trim();
    if (text === undefined || text === '') {
      return new Prng(Math.floor(Math.random() * 0x1_0000_0000));
    }
    const seed = Number(text);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
      throw new RangeError(`${SEED_ENV}='${text}' is not an integer from 0 to 4294967295`);
    }
    return new Prng(seed);
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs n >= 1, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `how many` distinct elements of `items`, in random order. */
  sample<T>(items: readonly T[], howMany: number): T[] {
    if (howMany > items.length) throw new RangeError(`cannot pick ${howMany} of ${items.length}`);
    return this.shuffle(items).slice(0, howMany);
  }
}

// Byte-level mutators of the coverage-guided fuzzer: the libFuzzer-style set (flip, insert,
// delete, duplicate, splice, interesting numbers, dictionary tokens), driven by a seeded PRNG so
// that a run is replayable from its seed.

import { Prng } from '../helpers/prng.ts';

/** Integers at the edges of the length and count fields our parsers read. */
const INTERESTING = [
  0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
  0xffffffff,
];

/** A seeded random source with the helpers the mutators need. */
export class Rng {
  readonly #prng: Prng;
  constructor(seed: number) {
    this.#prng = new Prng(seed >>> 0);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.#prng.nextUint32() % n;
  }
  chance(p: number): boolean {
    return this.#prng.nextUint32() / 0x1_0000_0000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** What a mutation may draw on besides the input: the corpus (to splice) and the tokens. */
export interface MutationContext {
  readonly rng: Rng;
  readonly dictionary: readonly Buffer[];
  readonly corpus: readonly Buffer[];
  readonly maxLen: number;
}

type Mutator = (input: Buffer, ctx: MutationContext) => Buffer;

const at = (input: Buffer, ctx: MutationContext): number => ctx.rng.int(input.length + 1);

const MUTATORS: readonly Mutator[] = [
  // flip one bit
  (input, { rng }) => {
    if (input.length === 0) return Buffer.from([rng.int(256)]);
    const out = Buffer.from(input);
    out[rng.int(out.length)]! ^= 1 << rng.int(8);
    return out;
  },
  // replace one byte with a random one
  (input, { rng }) => {
    if (input.length === 0) return Buffer.from([rng.int(256)]);
    const out = Buffer.from(input);
    out[rng.int(out.length)] = rng.int(256);
    return out;
  },
  // insert random bytes
  (input, ctx) => {
    const i = at(input, ctx);
    const bytes = Buffer.from(Array.from({ length: 1 + ctx.rng.int(8) }, () => ctx.rng.int(256)));
    return Buffer.concat([input.subarray(0, i), bytes, input.subarray(i)]);
  },
  // delete a range
  (input, { rng }) => {
    if (input.length === 0) return input;
    const i = rng.int(input.length);
    const n = 1 + rng.int(Math.min(16, input.length - i));
    return Buffer.concat([input.subarray(0, i), input.subarray(i + n)]);
  },
  // duplicate a range in place (grows repeated structure: nesting, runs of `*`)
  (input, { rng }) => {
    if (input.length === 0) return input;
    const i = rng.int(input.length);
    const n = 1 + rng.int(Math.min(64, input.length - i));
    const piece = input.subarray(i, i + n);
    const copies = 1 + rng.int(rng.chance(0.1) ? 64 : 4);
    return Buffer.concat([
      input.subarray(0, i + n),
      ...Array<Buffer>(copies).fill(piece),
      input.subarray(i + n),
    ]);
  },
  // overwrite with an interesting integer (1, 2 or 4 bytes, either byte order)
  (input, { rng }) => {
    const width = rng.pick([1, 2, 4]);
    if (input.length < width) return input;
    const out = Buffer.from(input);
    const value = rng.pick(INTERESTING) >>> 0;
    const i = rng.int(out.length - width + 1);
    if (width === 1) out[i] = value & 0xff;
    else if (width === 2) {
      if (rng.chance(0.5)) out.writeUInt16BE(value & 0xffff, i);
      else out.writeUInt16LE(value & 0xffff, i);
    } else if (rng.chance(0.5)) out.writeUInt32BE(value, i);
    else out.writeUInt32LE(value, i);
    return out;
  },
  // add or subtract a small number from a byte (walks length fields and digits)
  (input, { rng }) => {
    if (input.length === 0) return input;
    const out = Buffer.from(input);
    const i = rng.int(out.length);
    out[i] = (out[i]! + rng.pick([-2, -1, 1, 2, 16, -16])) & 0xff;
    return out;
  },
  // insert a dictionary token
  (input, ctx) => {
    if (ctx.dictionary.length === 0) return input;
    const i = at(input, ctx);
    return Buffer.concat([input.subarray(0, i), ctx.rng.pick(ctx.dictionary), input.subarray(i)]);
  },
  // overwrite with a dictionary token
  (input, ctx) => {
    if (ctx.dictionary.length === 0) return input;
    const token = ctx.rng.pick(ctx.dictionary);
    const i = ctx.rng.int(Math.max(1, input.length - token.length + 1));
    return Buffer.concat([input.subarray(0, i), token, input.subarray(i + token.length)]);
  },
  // splice: our head with the tail of another corpus entry
  (input, ctx) => {
    if (ctx.corpus.length === 0) return input;
    const other = ctx.rng.pick(ctx.corpus);
    return Buffer.concat([
      input.subarray(0, at(input, ctx)),
      other.subarray(ctx.rng.int(other.length + 1)),
    ]);
  },
  // copy a range of the input over another place of it
  (input, { rng }) => {
    if (input.length < 2) return input;
    const from = rng.int(input.length);
    const n = 1 + rng.int(Math.min(32, input.length - from));
    const to = rng.int(input.length);
    const out = Buffer.from(input);
    input.copy(out, to, from, from + n);
    return out;
  },
];

/** 1 to 5 stacked mutations of `input` (as libFuzzer does), cut to `maxLen` bytes. */
export function mutate(input: Buffer, ctx: MutationContext): Buffer {
  let out = input;
  for (let n = 1 + ctx.rng.int(5); n > 0; n--) out = ctx.rng.pick(MUTATORS)(out, ctx);
  return out.length > ctx.maxLen ? out.subarray(0, ctx.maxLen) : out;
}

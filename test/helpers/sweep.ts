// Test harness: how deep the exhaustive damage sweeps go. By default a sweep over every offset
// (or bit) takes a seeded, evenly spread sample of them; KEYHOLD_SWEEP=all (CI) takes every one,
// and also widens the HTTP/1.1 differential fuzz (test/http1-differential.test.ts).

import type { Prng } from './prng.ts';

/** The environment variable that asks for the exhaustive sweeps (`all`). */
export const SWEEP_ENV = 'KEYHOLD_SWEEP';

/** True when KEYHOLD_SWEEP=all; false when unset or empty; anything else is an error. */
export function sweepAll(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const value = env[SWEEP_ENV]?.trim();
  if (value === undefined || value === '') return false;
  if (value !== 'all') throw new RangeError(`${SWEEP_ENV} must be 'all' or unset, not '${value}'`);
  return true;
}

/**
 * Every item when KEYHOLD_SWEEP=all; else one seeded pick from each run of `stride` consecutive
 * items (the last run may be shorter), so the sample is spread evenly over all of them and every
 * region longer than `stride` items has at least one. Order is kept.
 */
export function spread<T>(items: readonly T[], stride: number, prng: Prng): T[] {
  if (sweepAll()) return [...items];
  const out: T[] = [];
  for (let start = 0; start < items.length; start += stride) {
    out.push(items[start + prng.int(Math.min(stride, items.length - start))]!);
  }
  return out;
}

/** Which depth ran, for a test's diagnostics. */
export function sweepDepth(stride: number): string {
  return sweepAll()
    ? `every case (${SWEEP_ENV}=all)`
    : `1 in ${stride}, seeded (${SWEEP_ENV}=all: every case)`;
}

// Splits a history into independent parts (one per key), for models whose objects do not interact.

import type { Operation } from './checker.ts';

/** The history's operations grouped by `keyOf`, each group in the history's order. */
export function partitionBy<I, O>(
  history: readonly Operation<I, O>[],
  keyOf: (op: Operation<I, O>) => string,
): Operation<I, O>[][] {
  const parts = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    const key = keyOf(op);
    const part = parts.get(key);
    if (part) part.push(op);
    else parts.set(key, [op]);
  }
  return [...parts.values()];
}

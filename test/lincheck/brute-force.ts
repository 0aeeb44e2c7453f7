// A reference linearizability check by plain enumeration of orders, for cross-checking the real
// checker on small histories (it is exponential: keep histories to a handful of operations).

import type { Model, Operation } from './checker.ts';

/**
 * True iff some order of each part's operations respects real time (an operation that returned
 * strictly before another was called comes first) and every step of the model accepts it.
 */
export function bruteForceLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
): boolean {
  const parts = model.partition ? model.partition(history) : [history];
  return parts.every((part) => someOrder(model, part, new Set(), model.init()));
}

function someOrder<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  placed: Set<number>,
  state: S,
): boolean {
  if (placed.size === ops.length) return true;
  const waiting = ops.filter((_, i) => !placed.has(i));
  for (const [i, op] of ops.entries()) {
    if (placed.has(i) || waiting.some((other) => other.return < op.call)) continue;
    const [ok, next] = model.step(state, op.input, op.output);
    if (!ok) continue;
    placed.add(i);
    const found = someOrder(model, ops, placed, next);
    placed.delete(i);
    if (found) return true;
  }
  return false;
}

// The sequential specification of one register with read, write and compare-and-set, as Jepsen's
// etcd tests use it (the register starts empty, written as nil).

import type { Model } from './checker.ts';

/** An operation on the register. */
export type RegisterInput =
  | { readonly op: 'read' }
  | { readonly op: 'write'; readonly value: number }
  | { readonly op: 'cas'; readonly from: number; readonly to: number };

/**
 * A response: the value read (null while the register was never written), a write's
 * acknowledgement, whether a compare-and-set swapped, or unknown (a timeout: any response fits).
 */
export type RegisterOutput =
  | { readonly kind: 'read'; readonly value: number | null }
  | { readonly kind: 'written' }
  | { readonly kind: 'cas'; readonly swapped: boolean }
  | { readonly kind: 'unknown' };

/** The register's value; null before the first write. */
export type RegisterState = number | null;

/**
 * A read must return the current value; a write always succeeds; a compare-and-set swaps iff the
 * current value equals `from` and must say whether it did. Unknown outputs fit any state, and the
 * operation still changes the state (when linearized last, that is the same as not happening).
 */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    const unknown = output.kind === 'unknown';
    switch (input.op) {
      case 'read':
        return [unknown || (output.kind === 'read' && output.value === state), state];
      case 'write':
        return [unknown || output.kind === 'written', input.value];
      case 'cas': {
        const swaps = state === input.from;
        const fits = unknown || (output.kind === 'cas' && output.swapped === swaps);
        return [fits, swaps ? input.to : state];
      }
    }
  },
  equal: (a, b) => a === b,
  hash: (state) => (state === null ? 0x7fffffff : state | 0),
  describe: (state) => (state === null ? 'nil' : String(state)),
};

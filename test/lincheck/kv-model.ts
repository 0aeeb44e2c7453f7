// The sequential specification of a key-value store with get, put and append on string values,
// checked one key at a time (the format of Porcupine's key-value histories).

import type { Model } from './checker.ts';
import { hashString } from './hash-string.ts';
import { partitionBy } from './partition-by.ts';

/** An operation on one key; `value` is what put writes or append adds (empty for get). */
export interface KvInput {
  readonly op: 'get' | 'put' | 'append';
  readonly key: string;
  readonly value: string;
}

/** The value a get returned (put and append return ''), or unknown (any response fits). */
export type KvOutput =
  { readonly kind: 'value'; readonly value: string } | { readonly kind: 'unknown' };

/**
 * One key's value, initially ''. get returns it, put replaces it, append concatenates. The history
 * is partitioned by key, so each part's state is a single string.
 */
export const kvModel: Model<string, KvInput, KvOutput> = {
  init: () => '',
  step(state, input, output) {
    switch (input.op) {
      case 'get':
        return [output.kind === 'unknown' || output.value === state, state];
      case 'put':
        return [true, input.value];
      case 'append':
        return [true, state + input.value];
    }
  },
  equal: (a, b) => a === b,
  hash: hashString,
  partition: (history) => partitionBy(history, (op) => op.input.key),
  describe: (state) => JSON.stringify(state),
};

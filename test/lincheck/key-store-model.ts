// The sequential specification of Keyhold's key store as a cluster test observes it: create,
// delete, status, generate/encrypt and decrypt under named keys, checked one key at a time.

import type { Model } from './checker.ts';
import { partitionBy } from './partition-by.ts';

/**
 * An operation on the key `key`. A generate or encrypt that names an `id` lets a later decrypt
 * (`sealedBy: id`) refer to the ciphertext it produced; ids are unique within a history.
 */
export type KeyStoreInput =
  | { readonly op: 'create' | 'delete' | 'status'; readonly key: string }
  | { readonly op: 'generate' | 'encrypt'; readonly key: string; readonly id?: number }
  | { readonly op: 'decrypt'; readonly key: string; readonly sealedBy: number };

/**
 * A response: success, "already exists" (create), "not found" (any operation on a missing key;
 * status answers ok or not-found), "not authentic" (decrypt of a ciphertext the key did not seal),
 * or unknown (a timeout or a lost connection: any response fits).
 */
export type KeyStoreOutput = {
  readonly kind: 'ok' | 'exists' | 'not-found' | 'not-authentic' | 'unknown';
};

/**
 * One key: whether it exists, how many times it was created (deleting and creating it again makes
 * new key material), and the incarnation each remembered ciphertext was sealed under, sorted by id.
 */
export interface KeyState {
  readonly exists: boolean;
  readonly incarnation: number;
  readonly sealed: readonly (readonly [id: number, incarnation: number])[];
}

/**
 * create succeeds iff the key is missing (else "exists"); delete, status, generate and encrypt
 * succeed iff it exists (else "not found"); decrypt of a ciphertext succeeds iff the key exists in
 * the incarnation that sealed it (else "not found" or "not authentic").
 */
export const keyStoreModel: Model<KeyState, KeyStoreInput, KeyStoreOutput> = {
  init: () => ({ exists: false, incarnation: 0, sealed: [] }),
  step(state, input, { kind }) {
    const fits = (expected: KeyStoreOutput['kind']): boolean =>
      kind === 'unknown' || kind === expected;
    if (!state.exists) {
      if (input.op === 'create') {
        return [fits('ok'), { ...state, exists: true, incarnation: state.incarnation + 1 }];
      }
      return [fits('not-found'), state];
    }
    switch (input.op) {
      case 'create':
        return [fits('exists'), state];
      case 'delete':
        return [fits('ok'), { ...state, exists: false }];
      case 'status':
        return [fits('ok'), state];
      case 'generate':
      case 'encrypt':
        if (input.id === undefined || kind !== 'ok') return [fits('ok'), state];
        return [true, { ...state, sealed: remember(state.sealed, input.id, state.incarnation) }];
      case 'decrypt': {
        const sealedUnder = state.sealed.find(([id]) => id === input.sealedBy)?.[1];
        if (sealedUnder === undefined) return [kind === 'unknown', state];
        return [fits(sealedUnder === state.incarnation ? 'ok' : 'not-authentic'), state];
      }
    }
  },
  equal: (a, b) =>
    a.exists === b.exists &&
    a.incarnation === b.incarnation &&
    a.sealed.length === b.sealed.length &&
    a.sealed.every(([id, inc], i) => b.sealed[i]![0] === id && b.sealed[i]![1] === inc),
  hash(state) {
    let h = Math.imul(state.incarnation, 2) + (state.exists ? 1 : 0);
    for (const [id, inc] of state.sealed) h = Math.imul(h ^ id, 0x01000193) ^ inc;
    return h >>> 0;
  },
  partition: (history) => partitionBy(history, (op) => op.input.key),
  describe: (state) =>
    `${state.exists ? 'exists' : 'missing'} (created ${state.incarnation} time(s))`,
};

function remember(sealed: KeyState['sealed'], id: number, incarnation: number): KeyState['sealed'] {
  const at = sealed.findIndex(([other]) => other > id);
  const entry = [id, incarnation] as const;
  return at < 0 ? [...sealed, entry] : [...sealed.slice(0, at), entry, ...sealed.slice(at)];
}

// The contract every external key store of the KES gateway mode fulfils (docs/keystores.md):
// opaque values by name, created only if absent, read, deleted, listed, and a health probe. The
// values are KES's stored-key text; a store never interprets them.

import { KeyholdError } from '../model/errors.ts';

/** A key store: the backend a KES gateway keeps its master keys in. */
export interface KeyStore {
  /** Short description for logs and the start banner, e.g. `vault https://host:8200 (kv v2)`. */
  readonly description: string;
  /**
   * Stores `value` under `name` unless the name exists. Exactly one of two concurrent creators
   * succeeds; the other gets KeyExistsError. Never overwrites.
   */
  create(name: string, value: string): Promise<void>;
  /** The stored value; KeyNotFoundError if there is none. */
  get(name: string): Promise<string>;
  /** Removes the key; KeyNotFoundError if there was none (where the store can tell). */
  delete(name: string): Promise<void>;
  /** Every key name (unsorted, unfiltered is fine; callers sort and page). */
  list(prefix: string): Promise<string[]>;
  /** Probes the store with its credentials; throws StoreUnreachableError or another error. */
  status(): Promise<void>;
  /** Releases timers, connections and renewal loops. */
  close(): Promise<void>;
}

/** The name exists already (KES: 400 `key already exists`). */
export class KeyExistsError extends Error {
  constructor(name: string) {
    super(`key '${name}' already exists`);
    this.name = 'KeyExistsError';
  }
}

/** No value under the name (KES: 404 `key does not exist`). */
export class KeyNotFoundError extends Error {
  constructor(name: string) {
    super(`key '${name}' does not exist`);
    this.name = 'KeyNotFoundError';
  }
}

/**
 * The store cannot be reached at all (connection refused, timeout, sealed): what KES reports as
 * `keystore_unreachable` and answers `/v1/ready` with 504.
 */
export class StoreUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnreachableError';
  }
}

/** KES's client-facing answer to a store failure of `op` (never the store's own text). */
export function storeFailure(op: 'create' | 'read' | 'delete' | 'list'): KeyholdError {
  const message = op === 'list' ? 'failed to list keys' : `failed to ${op} key`;
  return new KeyholdError('BAD_GATEWAY', message);
}

/** Sorted, de-duplicated names starting with `prefix`, from `continueAt` on, at most `limit`. */
export function pageNames(
  names: readonly string[],
  prefix: string,
  continueAt: string,
  limit: number,
): { items: string[]; continueAt: string } {
  const sorted = [...new Set(names)].filter((n) => n.startsWith(prefix)).sort(compareNames);
  const start = continueAt === '' ? 0 : sorted.findIndex((n) => compareNames(n, continueAt) >= 0);
  const from = start < 0 ? sorted.length : start;
  const items = sorted.slice(from, from + limit);
  const next = sorted[from + limit];
  return { items, continueAt: next ?? '' };
}

/** Byte order of the UTF-8 names, as Go's sort.Strings orders them. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The message of any thrown value (for logs; never sent to clients). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

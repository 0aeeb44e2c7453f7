// The identity records of every enclave. An identity is registered per enclave: the same public
// key may hold one record in each of several enclaves, each created, changed and deleted by that
// enclave alone. So no answer inside one enclave depends on whether the identity exists in
// another (docs/identity.md). Kept twice: by enclave (sorted, for listings) and by identity
// (every record of one identity, to resolve a caller's rights).

import type { IdentityRecord } from './entities.ts';
import type { Page } from './sorted-names.ts';
import { SortedNames } from './sorted-names.ts';

export class Identities {
  readonly #byEnclave = new Map<string, SortedNames<IdentityRecord>>();
  readonly #byIdentity = new Map<string, Map<string, IdentityRecord>>();
  #size = 0;

  /** Number of records (an identity of several enclaves counts once per enclave). */
  get size(): number {
    return this.#size;
  }

  /** The identity's record in `enclave`. */
  get(enclave: string, identity: string): IdentityRecord | undefined {
    return this.#byIdentity.get(identity)?.get(enclave);
  }

  has(enclave: string, identity: string): boolean {
    return this.get(enclave, identity) !== undefined;
  }

  /** Every record of the identity, one per enclave it is registered in. */
  recordsOf(identity: string): IterableIterator<IdentityRecord> {
    return (this.#byIdentity.get(identity) ?? NONE).values();
  }

  /** Adds or replaces the record of `record.identity` in `record.enclave`. */
  set(record: IdentityRecord): void {
    let records = this.#byIdentity.get(record.identity);
    if (!records)
      this.#byIdentity.set(record.identity, (records = new Map<string, IdentityRecord>()));
    if (!records.has(record.enclave)) this.#size++;
    records.set(record.enclave, record);
    let names = this.#byEnclave.get(record.enclave);
    if (!names) this.#byEnclave.set(record.enclave, (names = new SortedNames<IdentityRecord>()));
    names.set(record.identity, record);
  }

  delete(enclave: string, identity: string): boolean {
    const records = this.#byIdentity.get(identity);
    if (!records?.delete(enclave)) return false;
    if (records.size === 0) this.#byIdentity.delete(identity);
    this.#byEnclave.get(enclave)?.delete(identity);
    this.#size--;
    return true;
  }

  /** Removes every record of `enclave`; returns them. */
  deleteEnclave(enclave: string): IdentityRecord[] {
    const names = this.#byEnclave.get(enclave);
    if (!names) return [];
    const removed = [...names.values()];
    for (const record of removed) this.delete(enclave, record.identity);
    this.#byEnclave.delete(enclave);
    return removed;
  }

  clear(): void {
    this.#byEnclave.clear();
    this.#byIdentity.clear();
    this.#size = 0;
  }

  /** Every record of every enclave. */
  *values(): IterableIterator<IdentityRecord> {
    for (const names of this.#byEnclave.values()) yield* names.values();
  }

  /** Records of one enclave, in `h1:` order, with listing paging. */
  page(enclave: string, prefix: string, continueAt: string, limit: number): Page<IdentityRecord> {
    const names = this.#byEnclave.get(enclave);
    return names ? names.page(prefix, continueAt, limit) : { items: [], continueAt: '' };
  }
}

const NONE: ReadonlyMap<string, IdentityRecord> = new Map();

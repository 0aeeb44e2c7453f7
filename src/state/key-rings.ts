// The key rings of one enclave: name → versions, where a ring with its one version (the common
// case) costs just a name and a record id in the state's KeySlab. KeyRing / KeyVersion objects are
// small views made when a request reads a key, never stored.

import type { KeyType, SecretKey } from '../crypto/index.ts';
import type { KeySlab, VersionFields } from './key-slab.ts';
import type { Page } from './sorted-names.ts';
import { SortedNames } from './sorted-names.ts';

/**
 * One version of a key: the secret, its optional HMAC key, and who made it when. A view of the
 * state's compact key records, valid until the state changes: use it at once, don't keep it.
 */
export interface KeyVersion {
  readonly version: number;
  readonly type: KeyType;
  /** The key, from a bounded cache (made on first use). */
  readonly key: SecretKey;
  /** 32-byte HMAC-SHA256 key for KEY:MAC / KES hmac (SECRET); null for keys imported without. */
  readonly hmacKey: Buffer | null;
  readonly createdAt: Date;
  readonly createdBy: string;
  /** True when the key material came from outside (KEY:IMPORT). */
  readonly imported: boolean;
}

/**
 * A named key with its live versions (at least one). Version numbers only ever grow, even after
 * deletion. A view like KeyVersion: valid until the state changes.
 */
export interface KeyRing {
  readonly name: string;
  /** The highest version number ever assigned (the next one is `highest + 1`). */
  readonly highest: number;
  /** Number of live versions. */
  readonly versionCount: number;
  /** The live version with the highest number. */
  latest(): KeyVersion;
  /** Live version `version`, if any. */
  version(version: number): KeyVersion | undefined;
  /** Every live version, in ascending version order. */
  versions(): KeyVersion[];
}

/** A ring with several versions, or whose one version is not its highest ever. */
interface MultiSlot {
  readonly highest: number;
  /** Record ids in ascending version order (never empty). */
  readonly ids: readonly number[];
}

/** A record id when the ring has exactly one version and it is the highest ever assigned. */
type Slot = number | MultiSlot;

export class KeyRings {
  readonly #rings = new SortedNames<Slot>();
  readonly #slab: KeySlab;
  #nameChars = 0;

  /** @param slab where the versions live (shared by every enclave of a state). */
  constructor(slab: KeySlab) {
    this.#slab = slab;
  }

  get size(): number {
    return this.#rings.size;
  }

  /** Total length of all ring names, in UTF-16 code units (sizes a snapshot). */
  get nameChars(): number {
    return this.#nameChars;
  }

  has(name: string): boolean {
    return this.#rings.has(name);
  }

  get(name: string): KeyRing | undefined {
    const slot = this.#rings.get(name);
    return slot === undefined ? undefined : new RingView(this.#slab, name, slot);
  }

  /** A page of rings in byte order of their names (see SortedNames.page). */
  page(prefix: string, continueAt: string, limit: number): Page<KeyRing> {
    const page = this.#rings.pageNames(prefix, continueAt, limit);
    return {
      items: page.names.map((name) => new RingView(this.#slab, name, this.#rings.get(name)!)),
      continueAt: page.continueAt,
    };
  }

  /** Adds version `highest + 1` to ring `name`, creating the ring if needed; returns it. */
  add(name: string, fields: Omit<VersionFields, 'version'>): number {
    const slot = this.#rings.get(name);
    const version = slot === undefined ? 1 : highestOf(this.#slab, slot) + 1;
    const id = this.#slab.add({ ...fields, version });
    if (slot === undefined) {
      this.#rings.set(name, id);
      this.#nameChars += name.length;
    } else this.#rings.set(name, { highest: version, ids: [...idsOf(slot), id] });
    return version;
  }

  /** True if ring `name` has live version `version`. */
  hasVersion(name: string, version: number): boolean {
    const slot = this.#rings.get(name);
    return slot !== undefined && idsOf(slot).some((id) => this.#slab.version(id) === version);
  }

  /**
   * Deletes version `version` (0 = the latest) of ring `name`, and the ring with its last version.
   * Does nothing if either is missing.
   */
  deleteVersion(name: string, version: number): void {
    const slot = this.#rings.get(name);
    if (slot === undefined) return;
    const ids = idsOf(slot);
    const doomed =
      version === 0 ? ids[ids.length - 1] : ids.find((id) => this.#slab.version(id) === version);
    if (doomed === undefined) return;
    const highest = highestOf(this.#slab, slot);
    const rest = ids.filter((id) => id !== doomed);
    this.#slab.free(doomed);
    if (rest.length === 0) {
      this.#rings.delete(name);
      this.#nameChars -= name.length;
    } else if (rest.length === 1 && this.#slab.version(rest[0]!) === highest)
      this.#rings.set(name, rest[0]!);
    else this.#rings.set(name, { highest, ids: rest });
  }

  /** Deletes ring `name` with all its versions. */
  deleteRing(name: string): void {
    const slot = this.#rings.get(name);
    if (slot === undefined) return;
    for (const id of idsOf(slot)) this.#slab.free(id);
    this.#rings.delete(name);
    this.#nameChars -= name.length;
  }

  /** Deletes every ring (zeroing their key material). */
  clear(): void {
    for (const slot of this.#rings.values()) for (const id of idsOf(slot)) this.#slab.free(id);
    this.#rings.clear();
    this.#nameChars = 0;
  }

  /**
   * Calls `fn` for each ring in byte order of names with its highest version and record ids
   * (ascending versions). `ids` may be a reused array: read it during the call only.
   */
  forEachSorted(fn: (name: string, highest: number, ids: readonly number[]) => void): void {
    const one = [0];
    for (const name of this.#rings.sortedNames()) {
      const slot = this.#rings.get(name);
      if (slot === undefined) continue;
      if (typeof slot === 'number') {
        one[0] = slot;
        fn(name, this.#slab.version(slot), one);
      } else {
        fn(name, slot.highest, slot.ids);
      }
    }
  }

  /**
   * Adds a ring whose versions are already in the slab (a snapshot being loaded): `ids` in
   * ascending version order, each at most `highest`, not empty. With `sorted`, the caller
   * guarantees `name` is new and greater than every name loaded before (see SortedNames.append).
   */
  load(name: string, highest: number, ids: readonly number[], sorted = false): void {
    const only = ids.length === 1 ? ids[0]! : undefined;
    const slot =
      only !== undefined && this.#slab.version(only) === highest
        ? only
        : { highest, ids: [...ids] };
    if (sorted || !this.#rings.has(name)) this.#nameChars += name.length;
    if (sorted) this.#rings.append(name, slot);
    else this.#rings.set(name, slot);
  }
}

function idsOf(slot: Slot): readonly number[] {
  return typeof slot === 'number' ? [slot] : slot.ids;
}

function highestOf(slab: KeySlab, slot: Slot): number {
  return typeof slot === 'number' ? slab.version(slot) : slot.highest;
}

class RingView implements KeyRing {
  readonly name: string;
  readonly #slab: KeySlab;
  readonly #slot: Slot;
  /** The latest version's view, made once: both are valid until the state changes. */
  #latest: KeyVersion | undefined;

  constructor(slab: KeySlab, name: string, slot: Slot) {
    this.#slab = slab;
    this.name = name;
    this.#slot = slot;
  }

  get highest(): number {
    return highestOf(this.#slab, this.#slot);
  }

  get versionCount(): number {
    return typeof this.#slot === 'number' ? 1 : this.#slot.ids.length;
  }

  latest(): KeyVersion {
    const slot = this.#slot;
    return (this.#latest ??= new VersionView(
      this.#slab,
      typeof slot === 'number' ? slot : slot.ids[slot.ids.length - 1]!,
    ));
  }

  version(version: number): KeyVersion | undefined {
    for (const id of idsOf(this.#slot)) {
      if (this.#slab.version(id) === version) return new VersionView(this.#slab, id);
    }
    return undefined;
  }

  versions(): KeyVersion[] {
    return idsOf(this.#slot).map((id) => new VersionView(this.#slab, id));
  }
}

class VersionView implements KeyVersion {
  readonly version: number;
  readonly #slab: KeySlab;
  readonly #id: number;
  readonly #generation: number;

  constructor(slab: KeySlab, id: number) {
    this.#slab = slab;
    this.#id = id;
    this.#generation = slab.generation(id);
    this.version = slab.version(id);
  }

  get type(): KeyType {
    return this.#slab.type(this.#record());
  }

  get key(): SecretKey {
    return this.#slab.secretKey(this.#record());
  }

  get hmacKey(): Buffer | null {
    return this.#slab.hmacKey(this.#record());
  }

  get createdAt(): Date {
    return new Date(this.#slab.createdAt(this.#record()));
  }

  get createdBy(): string {
    return this.#slab.createdBy(this.#record());
  }

  get imported(): boolean {
    return this.#slab.imported(this.#record());
  }

  toJSON(): { version: number; type: KeyType } {
    return { version: this.version, type: this.type };
  }

  /** The record id, after checking the version was not deleted since this view was made. */
  #record(): number {
    if (this.#slab.generation(this.#id) !== this.#generation) {
      throw new Error(`key version ${this.version} was deleted or replaced after it was read`);
    }
    return this.#id;
  }
}

// Compact storage of key versions: fixed-size records in a few large shared slabs (key material,
// HMAC key, creation time, version, creator, flags) addressed by record id, so that a million keys
// cost about a hundred bytes each instead of a graph of objects. Deleted records are zeroed.

import type { KeyType } from '../crypto/index.ts';
import { SecretKey } from '../crypto/index.ts';
import { SecretKeyCache } from './secret-key-cache.ts';

/**
 * Layout of one key version, shared with the binary snapshot (which stores the first
 * `VERSION_BYTES` of each record verbatim):
 *
 * | offset | bytes | field                                                          |
 * |-------:|------:|----------------------------------------------------------------|
 * |      0 |    32 | key material                                                   |
 * |     32 |    32 | HMAC-SHA256 key (zero when the version has none)               |
 * |     64 |     8 | creation time, ms since the epoch, float64 LE                  |
 * |     72 |     4 | version number, u32 LE (≥ 1)                                   |
 * |     76 |     4 | creator: index into the creator table, u32 LE                  |
 * |     80 |     1 | flags: 1 = ChaCha20 (else AES256), 2 = imported, 4 = HMAC key  |
 */
export const VERSION_BYTES = 81;
export const VERSION_AT = { key: 0, hmacKey: 32, createdAt: 64, version: 72, creator: 76 } as const;
export const VERSION_FLAGS_AT = 80;
export const FLAG_CHACHA20 = 1;
export const FLAG_IMPORTED = 2;
export const FLAG_HMAC = 4;
export const KNOWN_FLAGS = FLAG_CHACHA20 | FLAG_IMPORTED | FLAG_HMAC;

/** In memory a record also carries a u32 generation (bumped at each reuse) at offset 84. */
const GENERATION_AT = 84;
const RECORD_BYTES = 88;
/**
 * A slab holds 2^19 records (46 MB of address space). That is above glibc's largest mmap
 * threshold (32 MiB), so the C allocator maps each slab on its own: its pages become resident
 * only as records are written (a small state costs little), and it never sits above freed heap
 * memory that could then not be returned to the system (as smaller slabs did after a snapshot).
 */
const SLAB_SHIFT = 19;
const SLAB_MASK = (1 << SLAB_SHIFT) - 1;
const SLAB_BYTES = (SLAB_MASK + 1) * RECORD_BYTES;
const KEY_LENGTH = 32;

/** What a new key version holds (from a `key.create` command). */
export interface VersionFields {
  readonly version: number;
  readonly type: KeyType;
  readonly key: Uint8Array;
  readonly hmacKey: Uint8Array | null;
  readonly at: number;
  readonly by: string;
  readonly imported: boolean;
}

/**
 * The key versions of one state. Record ids are small integers; a freed id is reused by a later
 * version with a new generation, so a stale reference is detected (see `generation`).
 * `SecretKey` objects are made on first use and kept in a bounded cache: a process that never
 * seals or opens (the primary of a worker pool) never makes one.
 */
export class KeySlab {
  readonly #slabs: Buffer[] = [];
  readonly #free: number[] = [];
  #next = 0;
  readonly #creators: string[] = [];
  readonly #creatorIds = new Map<string, number>();
  readonly #cache: SecretKeyCache;

  /** @param cacheSize SecretKey objects kept per cache generation (hot keys stay cached). */
  constructor(cacheSize = 4096) {
    this.#cache = new SecretKeyCache(cacheSize);
  }

  /** Number of live records. */
  get count(): number {
    return this.#next - this.#free.length;
  }

  /** The creator table, in index order (the snapshot stores it so records copy verbatim). */
  get creators(): readonly string[] {
    return this.#creators;
  }

  /** Index of `identity` in the creator table, adding it if new. */
  intern(identity: string): number {
    let id = this.#creatorIds.get(identity);
    if (id === undefined) {
      id = this.#creators.length;
      this.#creators.push(identity);
      this.#creatorIds.set(identity, id);
    }
    return id;
  }

  /** Stores a new version; returns its record id. */
  add(fields: VersionFields): number {
    if (fields.key.length !== KEY_LENGTH) throw new RangeError('secret key must be 32 bytes');
    if (fields.hmacKey && fields.hmacKey.length !== KEY_LENGTH) {
      throw new RangeError('HMAC key must be 32 bytes');
    }
    const id = this.#allocate();
    const slab = this.#slab(id);
    const at = offsetOf(id);
    slab.set(fields.key, at + VERSION_AT.key);
    if (fields.hmacKey) slab.set(fields.hmacKey, at + VERSION_AT.hmacKey);
    slab.writeDoubleLE(fields.at, at + VERSION_AT.createdAt);
    slab.writeUInt32LE(fields.version, at + VERSION_AT.version);
    slab.writeUInt32LE(this.intern(fields.by), at + VERSION_AT.creator);
    slab[at + VERSION_FLAGS_AT] =
      (fields.type === 'ChaCha20' ? FLAG_CHACHA20 : 0) |
      (fields.imported ? FLAG_IMPORTED : 0) |
      (fields.hmacKey ? FLAG_HMAC : 0);
    return id;
  }

  /**
   * Stores a version record copied from a snapshot (`VERSION_BYTES` at `offset` of `source`),
   * whose creator index must already be valid here (the caller checks). Returns its record id.
   */
  addRecord(source: Buffer, offset: number): number {
    const id = this.#allocate();
    const slab = this.#slab(id);
    const at = offsetOf(id);
    copyBytes(source, offset, slab, at, VERSION_BYTES);
    if ((slab[at + VERSION_FLAGS_AT]! & FLAG_HMAC) === 0) {
      slab.fill(0, at + VERSION_AT.hmacKey, at + VERSION_AT.hmacKey + KEY_LENGTH);
    }
    return id;
  }

  /** Copies the `VERSION_BYTES` of record `id` to `target` at `offset` (for snapshots). */
  copyRecord(id: number, target: Buffer, offset: number): void {
    copyBytes(this.#slab(id), offsetOf(id), target, offset, VERSION_BYTES);
  }

  /** Zeroes record `id` and makes it reusable. */
  free(id: number): void {
    const at = offsetOf(id);
    this.#slab(id).fill(0, at, at + GENERATION_AT);
    this.#cache.delete(id);
    this.#free.push(id);
  }

  /** Zeroes every record (the state was replaced); the slab must not be used afterwards. */
  wipe(): void {
    for (const slab of this.#slabs) slab.fill(0);
    this.#cache.clear();
  }

  /** Changes each time the record id is reused: a reference checks it to detect staleness. */
  generation(id: number): number {
    return this.#slab(id).readUInt32LE(offsetOf(id) + GENERATION_AT);
  }

  version(id: number): number {
    return this.#slab(id).readUInt32LE(offsetOf(id) + VERSION_AT.version);
  }

  type(id: number): KeyType {
    return (this.#flags(id) & FLAG_CHACHA20) !== 0 ? 'ChaCha20' : 'AES256';
  }

  imported(id: number): boolean {
    return (this.#flags(id) & FLAG_IMPORTED) !== 0;
  }

  /** Milliseconds since the epoch. */
  createdAt(id: number): number {
    return this.#slab(id).readDoubleLE(offsetOf(id) + VERSION_AT.createdAt);
  }

  createdBy(id: number): string {
    return this.#creators[this.#slab(id).readUInt32LE(offsetOf(id) + VERSION_AT.creator)] ?? '';
  }

  /**
   * The 32-byte HMAC key, or null: SECRET, and a view of the slab, valid until the record is
   * freed (it then reads zeros). Use it at once; never keep, log or return it.
   */
  hmacKey(id: number): Buffer | null {
    if ((this.#flags(id) & FLAG_HMAC) === 0) return null;
    const at = offsetOf(id) + VERSION_AT.hmacKey;
    return this.#slab(id).subarray(at, at + KEY_LENGTH);
  }

  /** The version's SecretKey, from the cache or made (and cached) now. */
  secretKey(id: number): SecretKey {
    let key = this.#cache.get(id);
    if (!key) {
      const at = offsetOf(id);
      key = new SecretKey(this.type(id), this.#slab(id).subarray(at, at + KEY_LENGTH));
      this.#cache.set(id, key);
    }
    return key;
  }

  #flags(id: number): number {
    return this.#slab(id)[offsetOf(id) + VERSION_FLAGS_AT]!;
  }

  #slab(id: number): Buffer {
    const slab = this.#slabs[id >>> SLAB_SHIFT];
    if (!slab) throw new RangeError(`no key record ${id}`);
    return slab;
  }

  #allocate(): number {
    let id = this.#free.pop();
    if (id === undefined) {
      id = this.#next++;
      if (id >>> SLAB_SHIFT === this.#slabs.length) this.#slabs.push(Buffer.alloc(SLAB_BYTES));
    }
    const slab = this.#slab(id);
    const at = offsetOf(id) + GENERATION_AT;
    // Never 0, so a wiped slab reads as stale.
    slab.writeUInt32LE((slab.readUInt32LE(at) % 0xfffffffe) + 1, at);
    return id;
  }
}

function offsetOf(id: number): number {
  return (id & SLAB_MASK) * RECORD_BYTES;
}

/** Copies a record; a plain loop beats Buffer#copy's per-call view allocations at this size. */
function copyBytes(from: Buffer, start: number, to: Buffer, at: number, n: number): void {
  for (let i = 0; i < n; i++) to[at + i] = from[start + i]!;
}

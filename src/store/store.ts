// The durable store: an append-only log of sealed, opaque records with group commit, plus
// snapshots that let it drop old log segments. The same log is later the replicated log.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AesGcmSealer } from './aes-gcm-sealer.ts';
import { DirLock } from './dir-lock.ts';
import { describeError, StoreError } from './errors.ts';
import { EMPTY_MANIFEST, encodeSlot, SLOT_OFFSETS, type Manifest } from './manifest.ts';
import { encodeRecord, MAX_RECORD_PAYLOAD } from './record.ts';
import { planRecovery, REK_NAME, type RecoveryPlan, type RetainedSegment } from './recovery.ts';
import { encodeRekFile, REK_BYTES, STORE_ID_BYTES } from './rek-file.ts';
import type { Sealer } from './sealer.ts';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES, segmentName } from './segment.ts';
import { encodeSnapshot, snapshotName } from './snapshot-file.ts';
import { fsyncDir, nodeStoreFs, writeAll, writeFileAtomic, type StoreFs } from './store-fs.ts';

export type { Sealer } from './sealer.ts';

/** Default size after which the log starts a new segment file. */
export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
/** A write batch stops growing at this many payload bytes (it always holds at least one record). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** How to open a store. */
export interface OpenOptions {
  /** The data directory; created with mode 0700 if missing. */
  readonly dir: string;
  /** Seals the REK: a sealer keyed by `HsmKey.rekSealingKey()`. */
  readonly rekSealer: Sealer;
  /** File-system calls; tests inject faults or count fsyncs here. Default: node:fs. */
  readonly fs?: StoreFs;
  /** Start a new segment once the current one reaches this size. Default 64 MiB. */
  readonly maxSegmentBytes?: number;
}

/**
 * The state found at open: the newest usable snapshot and every record after it, in index order.
 * `warnings` lists what recovery repaired or noticed (for example a torn final write it cut off);
 * the caller should print them to stderr.
 */
export interface Recovered {
  readonly snapshot: { readonly index: number; readonly payload: Buffer } | null;
  readonly records: { readonly index: number; readonly payload: Buffer }[];
  readonly warnings: string[];
}

interface Pending {
  readonly index: number;
  readonly payload: Buffer;
  readonly resolve: (index: number) => void;
  readonly reject: (error: unknown) => void;
}

interface ActiveSegment {
  readonly fd: number;
  readonly entry: RetainedSegment;
  size: number;
}

/**
 * A store directory opened for writing by this process (it holds the directory's `LOCK`).
 * Records are opaque bytes numbered 1, 2, 3…; the store never interprets them.
 */
export class Store {
  readonly #dir: string;
  readonly #fs: StoreFs;
  readonly #sealer: Sealer;
  readonly #storeId: Buffer;
  readonly #lock: DirLock;
  readonly #maxSegmentBytes: number;
  /** Segment files holding records after the snapshot, oldest first; the last one is active. */
  readonly #segments: RetainedSegment[];
  #snapshots: string[];
  #active: ActiveSegment | null = null;
  /** The `rek` file, open for updating the manifest in place. */
  #rekFd: number | null = null;
  /** The manifest as last written (it may not have reached the disk yet, see #noteDurable). */
  #manifest: Manifest;
  /** The slot the next #noteDurable writes. */
  #nextSlot: 0 | 1 = 0;
  /** The manifest on disk is synced (no #noteDurable since the last #writeManifest). */
  #manifestSynced = true;
  #lastIndex: number;
  #durableIndex: number;
  #snapshotIndex: number;
  #pending: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #failure: StoreError | null = null;
  #closing = false;
  #closed: Promise<void> | null = null;

  private constructor(
    options: { dir: string; fs: StoreFs; maxSegmentBytes: number; lock: DirLock },
    keys: { sealer: Sealer; storeId: Buffer },
    plan: RecoveryPlan,
  ) {
    this.#dir = options.dir;
    this.#fs = options.fs;
    this.#lock = options.lock;
    this.#maxSegmentBytes = options.maxSegmentBytes;
    this.#sealer = keys.sealer;
    this.#storeId = keys.storeId;
    this.#segments = [...plan.segments];
    this.#snapshots = [...plan.badSnapshots];
    if (plan.snapshot) this.#snapshots.push(plan.snapshot.name);
    this.#lastIndex = plan.lastIndex;
    this.#durableIndex = plan.lastIndex;
    this.#snapshotIndex = plan.snapshot?.index ?? 0;
    this.#manifest = plan.keys?.manifest ?? EMPTY_MANIFEST;
  }

  /**
   * Opens (or creates: only a directory without `rek`) the store in `options.dir`: takes the
   * directory lock, unseals the REK, loads the newest valid snapshot and the records after it,
   * checks them against the manifest, cuts off a torn final write, records what it recovered in
   * the manifest (upgrading a `rek` of format 1), and removes leftovers. Rejects with a
   * `StoreError` and changes nothing on disk when the directory is corrupt (`corrupt`, naming
   * file and byte offset: a damaged file, or a snapshot, segment or acknowledged records the
   * manifest names that are missing), was sealed under another HSM key (`wrong-key`), is from a
   * newer format (`unsupported-version`), or is in use (`locked`).
   */
  static async open(options: OpenOptions): Promise<{ store: Store; recovered: Recovered }> {
    const fsys = options.fs ?? nodeStoreFs;
    const dir = options.dir;
    const maxSegmentBytes = options.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
    if (!Number.isSafeInteger(maxSegmentBytes) || maxSegmentBytes < SEGMENT_HEADER_BYTES) {
      throw new RangeError(`maxSegmentBytes must be an integer >= ${SEGMENT_HEADER_BYTES}`);
    }
    const warnings = await prepareDir(fsys, dir);
    const lock = await DirLock.acquire(fsys, dir);
    let rek: Buffer | null = null;
    let store: Store | null = null;
    try {
      const plan = await planRecovery(fsys, dir, options.rekSealer);
      rek = plan.keys?.rek ?? randomBytes(REK_BYTES);
      const storeId = plan.keys?.storeId ?? randomBytes(STORE_ID_BYTES);
      store = new Store(
        { dir, fs: fsys, maxSegmentBytes, lock },
        { sealer: new AesGcmSealer(rek), storeId },
        plan,
      );
      // A new store, or one whose `rek` predates the manifest, gets a whole new `rek` file.
      const rekFile =
        plan.keys === null || plan.keys.version === 1
          ? (manifest: Manifest) => encodeRekFile(options.rekSealer, rek!, storeId, manifest)
          : null;
      await store.#repair(plan, rekFile);
      return {
        store,
        recovered: {
          snapshot: plan.snapshot && { index: plan.snapshot.index, payload: plan.snapshot.payload },
          records: plan.records,
          warnings: [...warnings, ...plan.warnings],
        },
      };
    } catch (error) {
      if (store) await store.#closeFiles();
      await lock.release().catch(() => undefined);
      throw error;
    } finally {
      rek?.fill(0);
    }
  }

  /** The highest index handed out: the last appended record, durable or still pending. */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** The highest index known to be on disk (fsynced). */
  get durableIndex(): number {
    return this.#durableIndex;
  }

  /** The index of the newest snapshot (0 when there is none). */
  get snapshotIndex(): number {
    return this.#snapshotIndex;
  }

  /**
   * Appends one record and resolves with its index once its bytes are fsynced. Indexes are
   * assigned in call order and the promises resolve in that order. Appends made while a write is
   * in progress are committed together with one write and one fdatasync. Rejects with `failed`
   * after an I/O error, and from then on the store refuses every write (reopen to recover);
   * rejects with `closed` after `close()`, and with a RangeError for a payload over 64 MiB.
   * The payload is copied; the copy is wiped once sealed.
   */
  append(payload: Uint8Array): Promise<number> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    if (payload.length > MAX_RECORD_PAYLOAD) {
      return Promise.reject(new RangeError(`record payload exceeds ${MAX_RECORD_PAYLOAD} bytes`));
    }
    return new Promise<number>((resolve, reject) => {
      this.#lastIndex += 1;
      this.#pending.push({
        index: this.#lastIndex,
        payload: Buffer.from(payload),
        resolve,
        reject,
      });
      this.#flushing ??= this.#flushLoop();
    });
  }

  /**
   * Writes a snapshot of the state as of `index` (tmp file, fsync, rename, fsync directory), then
   * deletes older snapshots and the log segments whose records are all at or below `index`.
   * `index` must not be below the current snapshot. An `index` beyond `lastIndex` installs a
   * snapshot received from elsewhere (the cluster's state transfer): the log restarts after it,
   * and this needs an idle log (no append in flight). I/O errors fail the store as for `append`.
   */
  snapshot(index: number, payload: Uint8Array): Promise<void> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    if (!Number.isSafeInteger(index) || index < this.#snapshotIndex) {
      return Promise.reject(
        new RangeError(
          `snapshot index ${index} is invalid or below the current snapshot ${this.#snapshotIndex}`,
        ),
      );
    }
    if (index > this.#lastIndex) {
      if (this.#durableIndex !== this.#lastIndex) {
        return Promise.reject(
          new Error(`cannot install a snapshot at ${index} while appends are in flight`),
        );
      }
      this.#lastIndex = index;
    }
    const copy = Buffer.from(payload);
    let file: Buffer;
    try {
      file = encodeSnapshot(this.#sealer, this.#storeId, index, copy);
    } finally {
      copy.fill(0);
    }
    return this.#exclusive(() => this.#writeSnapshot(index, file));
  }

  /**
   * Waits for pending appends and snapshots, then closes files and removes the lock. Appends
   * after `close()` is called reject with `closed`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing = true;
    this.#closed ??= (async () => {
      while (this.#flushing) await this.#flushing;
      try {
        // A clean shutdown leaves the exact durable index on disk.
        await this.#exclusive(() =>
          this.#failure || this.#rekFd === null || this.#manifestSynced
            ? Promise.resolve()
            : this.#writeManifest({ durable: this.#durableMark() }),
        );
      } finally {
        await this.#closeFiles();
        await this.#lock.release();
      }
    })();
    return this.#closed;
  }

  #refusal(): StoreError | null {
    if (this.#failure) return this.#failure;
    if (this.#closing) return new StoreError('closed', 'store is closed');
    return null;
  }

  /** Runs `task` after every earlier exclusive task: batches and snapshots never interleave. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #flushLoop(): Promise<void> {
    try {
      // Let every append made in the current tick join the first batch.
      await Promise.resolve();
      while (this.#pending.length > 0) await this.#exclusive(() => this.#writeBatch());
    } finally {
      this.#flushing = null;
    }
  }

  /** Writes the pending records as one batch: one write and one fdatasync. Never throws. */
  async #writeBatch(): Promise<void> {
    let bytes = 0;
    let take = 0;
    while (take < this.#pending.length && (take === 0 || bytes < MAX_BATCH_BYTES)) {
      bytes += this.#pending[take]!.payload.length;
      take += 1;
    }
    const batch = this.#pending.splice(0, take);
    if (this.#failure) {
      for (const item of batch) item.reject(this.#failure);
      return;
    }
    const first = batch[0]!.index;
    const last = batch.at(-1)!.index;
    let what = 'open a log segment';
    try {
      let active = this.#active;
      if (
        active === null ||
        active.size >= this.#maxSegmentBytes ||
        active.entry.lastIndex + 1 !== first
      ) {
        active = await this.#roll(first);
      }
      const records = batch.map((item, position) => {
        const record = encodeRecord(
          this.#sealer,
          this.#storeId,
          item.index,
          position,
          item.payload,
        );
        item.payload.fill(0);
        return record;
      });
      const data = Buffer.concat(records);
      what = `write to ${join(this.#dir, active.entry.name)}`;
      await writeAll(this.#fs, active.fd, data, active.size);
      what = `fdatasync ${join(this.#dir, active.entry.name)}`;
      await this.#fs.fdatasync(active.fd);
      active.size += data.length;
      active.entry.lastIndex = last;
      this.#durableIndex = last;
    } catch (error) {
      const failure = this.#fail(what, error);
      await this.#dropPartialWrite();
      for (const item of batch) item.reject(failure);
      return;
    }
    try {
      // Before the acknowledgement, so that a process crash cannot hide an acknowledged record.
      await this.#noteDurable(last);
    } catch (error) {
      // The batch is durable: acknowledge it; later writes are refused.
      this.#fail(`write ${join(this.#dir, REK_NAME)}`, error);
    }
    for (const item of batch) item.resolve(item.index);
  }

  /** The highest index whose state is on disk, in the log or in a snapshot. */
  #durableMark(): number {
    return Math.max(this.#durableIndex, this.#snapshotIndex);
  }

  /**
   * Records a new manifest durably. A change of the files it names (a new segment or snapshot),
   * or `both`, writes both slots, each synced before the next is written: one of them always
   * holds the new manifest or its predecessor, and after both, no slot names a file that may now
   * be deleted. It must precede every deletion. A higher durable index alone needs one slot.
   */
  async #writeManifest(change: Partial<Omit<Manifest, 'sequence'>>, both = false): Promise<void> {
    const fd = this.#rekFd!;
    const layoutChanged =
      (change.snapshot ?? this.#manifest.snapshot) !== this.#manifest.snapshot ||
      (change.segment ?? this.#manifest.segment) !== this.#manifest.segment;
    for (let i = both || layoutChanged ? 2 : 1; i > 0; i--) {
      const next = { ...this.#manifest, ...change, sequence: this.#manifest.sequence + 1 };
      await writeAll(this.#fs, fd, encodeSlot(this.#storeId, next), SLOT_OFFSETS[this.#nextSlot]);
      await this.#fs.fdatasync(fd);
      this.#manifest = next;
      this.#nextSlot = this.#nextSlot === 0 ? 1 : 0;
    }
    this.#manifestSynced = true;
  }

  /**
   * Records a higher durable index in one slot (alternating) without syncing it: it reaches the
   * disk with the kernel's writeback or the next #writeManifest. No fsync on the write path, and
   * never ahead of the truth: it is written only once the records are synced.
   */
  async #noteDurable(index: number): Promise<void> {
    const next = { ...this.#manifest, durable: index, sequence: this.#manifest.sequence + 1 };
    await writeAll(
      this.#fs,
      this.#rekFd!,
      encodeSlot(this.#storeId, next),
      SLOT_OFFSETS[this.#nextSlot],
    );
    this.#nextSlot = this.#nextSlot === 0 ? 1 : 0;
    this.#manifest = next;
    this.#manifestSynced = false;
  }

  async #closeFiles(): Promise<void> {
    for (const fd of [this.#active?.fd, this.#rekFd]) {
      if (fd !== undefined && fd !== null) await this.#fs.close(fd).catch(() => undefined);
    }
    this.#active = null;
    this.#rekFd = null;
  }

  /**
   * After a failed batch, best effort: cut the segment back to its last synced size, so that the
   * rejected records do not reappear at the next open. If this fails too, recovery will treat
   * the partial batch as a torn write, or find its records intact (they were never acknowledged,
   * so either outcome is allowed).
   */
  async #dropPartialWrite(): Promise<void> {
    const active = this.#active;
    if (active === null) return;
    try {
      await this.#fs.ftruncate(active.fd, active.size);
      await this.#fs.fdatasync(active.fd);
    } catch {
      // Already failed; the original error is the one reported.
    }
  }

  /** Closes the active segment (already synced) and durably creates a new one at `firstIndex`. */
  async #roll(firstIndex: number): Promise<ActiveSegment> {
    if (this.#active) {
      const fd = this.#active.fd;
      this.#active = null;
      await this.#fs.close(fd);
    }
    const name = segmentName(firstIndex);
    const path = join(this.#dir, name);
    const tmp = `${path}.tmp`;
    const fd = await this.#fs.open(tmp, 'w', 0o600);
    try {
      await writeAll(this.#fs, fd, encodeSegmentHeader(this.#storeId, firstIndex), 0);
      await this.#fs.fsync(fd);
      await this.#fs.rename(tmp, path);
      await fsyncDir(this.#fs, this.#dir);
    } catch (error) {
      await this.#fs.close(fd).catch(() => undefined);
      throw error;
    }
    const entry: RetainedSegment = { name, firstIndex, lastIndex: firstIndex - 1, validBytes: 0 };
    this.#segments.push(entry);
    this.#active = { fd, entry, size: SEGMENT_HEADER_BYTES };
    // From now on the segment must exist: recovery refuses a directory that lost it.
    await this.#writeManifest({ segment: firstIndex, durable: this.#durableMark() });
    return this.#active;
  }

  async #writeSnapshot(index: number, file: Buffer): Promise<void> {
    if (this.#failure) throw this.#failure;
    const name = snapshotName(index);
    const path = join(this.#dir, name);
    try {
      await writeFileAtomic(this.#fs, this.#dir, path, file);
    } catch (error) {
      throw this.#fail(`write ${path}`, error);
    }
    this.#snapshotIndex = index;
    const obsolete = this.#snapshots.filter((other) => other !== name);
    this.#snapshots = [name];
    try {
      // The manifest names the files that stay before any other file is deleted.
      const kept = this.#segments.filter((segment) => segment.lastIndex > index);
      await this.#writeManifest({
        snapshot: index,
        segment: kept.at(-1)?.firstIndex ?? 0,
        durable: this.#durableMark(),
      });
    } catch (error) {
      throw this.#fail(`write ${join(this.#dir, REK_NAME)}`, error);
    }
    await this.#compact(obsolete);
  }

  /** Deletes `extra` files and the segments the snapshot covers, then syncs the directory. */
  async #compact(extra: string[]): Promise<void> {
    const doomed = [...extra];
    while (this.#segments.length > 0 && this.#segments[0]!.lastIndex <= this.#snapshotIndex) {
      const segment = this.#segments.shift()!;
      if (this.#active?.entry === segment) {
        const fd = this.#active.fd;
        this.#active = null;
        await this.#fs.close(fd).catch(() => undefined);
      }
      doomed.push(segment.name);
    }
    if (doomed.length === 0) return;
    try {
      for (const name of doomed) await unlinkIfPresent(this.#fs, join(this.#dir, name));
      await fsyncDir(this.#fs, this.#dir);
    } catch (error) {
      throw this.#fail(`compact ${this.#dir}`, error);
    }
  }

  /**
   * Applies the recovery plan's repairs, opens the newest segment for appending, and records what
   * was recovered in the manifest (writing a whole new `rek` with `rekFile` for a new store or an
   * old-format one) before deleting the files the recovered state supersedes.
   */
  async #repair(
    plan: RecoveryPlan,
    rekFile: ((manifest: Manifest) => Buffer) | null,
  ): Promise<void> {
    const fsys = this.#fs;
    const rekPath = join(this.#dir, REK_NAME);
    await io(`repair ${this.#dir}`, async () => {
      if (plan.torn) {
        const fd = await fsys.open(join(this.#dir, plan.torn.name), 'r+');
        try {
          await fsys.ftruncate(fd, plan.torn.offset);
          await fsys.fsync(fd);
        } finally {
          await fsys.close(fd);
        }
      }
      const newest = this.#segments.at(-1);
      if (newest) {
        const fd = await fsys.open(join(this.#dir, newest.name), 'r+');
        this.#active = { fd, entry: newest, size: newest.validBytes };
        // A crashed writer may have left unsynced bytes that recovery just read: sync them
        // before the manifest counts them, and before anything new is acknowledged after them.
        await fsys.fdatasync(fd);
      }
      const recovered = {
        snapshot: plan.snapshot?.index ?? 0,
        segment: newest?.firstIndex ?? 0,
        durable: plan.lastIndex,
      };
      const current = this.#manifest;
      // Files are deleted below: no slot may still name them (a crash may have interrupted the
      // writing of the manifest that superseded them).
      const deleting =
        plan.obsolete.some((name) => !name.endsWith('.tmp')) || (plan.keys?.damagedSlots ?? 0) > 0;
      const changed =
        rekFile !== null ||
        deleting ||
        current.snapshot !== recovered.snapshot ||
        current.segment !== recovered.segment ||
        current.durable !== recovered.durable;
      if (plan.snapshot && changed) {
        // A crashed writer's snapshot may not be durable yet: it must be before the manifest
        // names it and before the files it supersedes are deleted.
        const fd = await fsys.open(join(this.#dir, plan.snapshot.name), 'r');
        try {
          await fsys.fsync(fd);
        } finally {
          await fsys.close(fd);
        }
      }
      if (rekFile !== null) {
        await fsyncDir(fsys, this.#dir);
        this.#manifest = { ...recovered, sequence: current.sequence + 1 };
        await writeFileAtomic(fsys, this.#dir, rekPath, rekFile(this.#manifest));
        this.#rekFd = await fsys.open(rekPath, 'r+');
      } else {
        this.#rekFd = await fsys.open(rekPath, 'r+');
        if (changed) {
          // The renames of a crashed writer's files, too, before the manifest counts them.
          await fsyncDir(fsys, this.#dir);
          await this.#writeManifest(recovered, deleting);
        }
      }
      for (const name of plan.obsolete) await unlinkIfPresent(fsys, join(this.#dir, name));
      await fsyncDir(fsys, this.#dir);
    });
  }

  /** Marks the store failed (once), rejects everything pending, returns the failure. */
  #fail(what: string, error: unknown): StoreError {
    this.#failure ??= new StoreError(
      'failed',
      `store failed and refuses further writes (restart to recover): ${what}: ${describeError(error)}`,
      { cause: error },
    );
    const pending = this.#pending.splice(0);
    for (const item of pending) item.reject(this.#failure);
    return this.#failure;
  }
}

async function unlinkIfPresent(fsys: StoreFs, path: string): Promise<void> {
  try {
    await fsys.unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

async function io<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError('io', `cannot ${what}: ${describeError(error)}`, { cause: error });
  }
}

/** Creates `dir` (mode 0700) if needed; warns when an existing one is open to other users. */
async function prepareDir(fsys: StoreFs, dir: string): Promise<string[]> {
  return io(`prepare ${dir}`, async () => {
    let stat;
    try {
      stat = await fsys.stat(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await fsys.mkdir(dir, 0o700);
      return [];
    }
    if (!stat.isDirectory()) throw new Error('not a directory');
    const mode = stat.mode & 0o777;
    return (mode & 0o077) === 0
      ? []
      : [`${dir} has mode 0${mode.toString(8)}: other users can list it; chmod 700 is recommended`];
  });
}

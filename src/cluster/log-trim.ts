// Trimming the cluster's log in etcd (docs/cluster.md, "Trimming the log"): periodically, the
// lowest live member writes a sealed snapshot of the whole state in chunks, then the trim record
// `P trim` naming it, then deletes the log entries at or below the trim horizon (a revision every
// member has applied, and at least one trim interval old) and compacts etcd's history there. A
// node whose log position is below the horizon (a new node, or one restarted after the trim)
// loads the snapshot, then the log after it.

import type { Etcd3 } from 'etcd3';
import { prefixEnd, withTimeout } from './etcd-client.ts';
import type { ClusterKeys } from './etcd-layout.ts';
import { deleteChunks, readChunks, writeChunks } from './snapshot-chunks.ts';
import type { SnapshotRef } from './snapshot-chunks.ts';

/** Every 5 minutes by default: also the shortest time a request id is remembered. */
export const DEFAULT_TRIM_INTERVAL_MS = 5 * 60_000;
/** Trim once this many log entries lie at or below the horizon. */
export const DEFAULT_TRIM_THRESHOLD = 10_000;
/** Deletes per transaction: under etcd's default limit of 128 operations. */
const DELETES_PER_TXN = 100;
/** Log keys listed per read when deleting (keys only). */
const LIST_PAGE = 1000;
const CALL_MS = 10_000;

/** What the trim record `P trim` says (sealed, bound to its key). */
export interface TrimRecord {
  readonly v: 1;
  /** The snapshot holds the state after every log entry created at or below this revision. */
  readonly revision: number;
  /** Log entries created at or below this revision may be gone (`trimmed <= revision`). */
  readonly trimmed: number;
  readonly snapshot: SnapshotRef;
}

/** The trim record as read, with the etcd revision of the read and the record's own. */
export interface ReadTrim {
  readonly record: TrimRecord | null;
  /** The record's mod revision (0: none yet): the compare of the next trim. */
  readonly mod: number;
  /** The revision the read saw (read the rest of a catch-up at it). */
  readonly readRevision: number;
}

/** Reads and opens the trim record; throws naming the key if it was not sealed for it. */
export async function readTrim(client: Etcd3, keys: ClusterKeys): Promise<ReadTrim> {
  const key = keys.layout.trimKey;
  const res = await withTimeout(
    client.kv.range({ key: Buffer.from(key) }),
    CALL_MS,
    'the trim record',
  );
  const readRevision = Number(res.header.revision);
  const kv = res.kvs[0];
  if (!kv) return { record: null, mod: 0, readRevision };
  return {
    record: decodeTrim(keys.open(key, kv.value)),
    mod: Number(kv.mod_revision),
    readRevision,
  };
}

function decodeTrim(bytes: Buffer): TrimRecord {
  const r = JSON.parse(bytes.toString('utf8')) as Partial<Record<keyof TrimRecord, unknown>>;
  const s = r.snapshot as Partial<Record<keyof SnapshotRef, unknown>> | undefined;
  if (
    r.v !== 1 ||
    !Number.isSafeInteger(r.revision) ||
    !Number.isSafeInteger(r.trimmed) ||
    (r.trimmed as number) > (r.revision as number) ||
    typeof s?.id !== 'string' ||
    !Number.isSafeInteger(s.chunks) ||
    typeof s.sha256 !== 'string'
  ) {
    throw new Error('the trim record is not one this version understands');
  }
  return {
    v: 1,
    revision: r.revision as number,
    trimmed: r.trimmed as number,
    snapshot: { id: s.id, chunks: s.chunks as number, sha256: s.sha256 },
  };
}

/** Reads the snapshot of `record` at `revision`; errors say it is the trim snapshot. */
export async function readTrimSnapshot(
  client: Etcd3,
  keys: ClusterKeys,
  record: TrimRecord,
  revision: number,
): Promise<Buffer> {
  try {
    return await readChunks(client, keys, record.snapshot, revision);
  } catch (error) {
    throw new Error(
      `cannot load the cluster's snapshot at revision ${record.revision} (the log before it was trimmed): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** What the trimmer needs from its node. */
export interface TrimNode {
  readonly client: Etcd3;
  readonly keys: ClusterKeys;
  /** The state's snapshot payload and the revision it reflects, taken between two events. */
  capture(): Promise<{ revision: number; payload: Buffer }>;
  /** Newest revision whose events this node processed. */
  processed(): number;
  /** Newest revision every member is known to have applied. */
  stable(): number;
  /** This node is the one to trim now (the lowest live member). */
  leads(): boolean;
  info(message: string): void;
  warn(message: string): void;
}

export interface TrimOptions {
  /** Milliseconds between passes (DEFAULT_TRIM_INTERVAL_MS). */
  readonly interval: number;
  /** Trim once this many entries are at or below the horizon (DEFAULT_TRIM_THRESHOLD). */
  readonly threshold: number;
}

/**
 * Runs a pass every interval. The horizon of a pass is the smaller of `stable` (every member has
 * applied it: a paused member holds the trim back) and the revision this node had processed at
 * the previous pass (so an entry stays at least one interval after this node applied it, which is
 * before its write was acknowledged: the request-id window).
 */
export class Trimmer {
  readonly #node: TrimNode;
  readonly #options: TrimOptions;
  #timer: NodeJS.Timeout | null = null;
  #previous = 0;
  #compacted = 0;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(node: TrimNode, options: TrimOptions) {
    this.#node = node;
    this.#options = options;
  }

  start(): void {
    if (this.#timer) return;
    this.#previous = this.#node.processed();
    this.#timer = setInterval(() => {
      this.#running = this.#running
        .then(() => this.pass())
        .catch((error: unknown) => {
          if (!this.#stopped) this.#node.warn(`cluster log trim: ${(error as Error).message}`);
        });
    }, this.#options.interval);
    this.#timer.unref();
  }

  /**
   * Stops the timer. A pass under way is not waited for (with etcd unreachable it could hold a
   * shutdown for its timeouts): every step of a trim is safe to cut short (chunks of a trim that
   * never wrote its record are collected by the next trim, and entries left undeleted by a
   * later one; a reader never reads entries at or below the record's horizon).
   */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One pass: trim when due, then compact etcd's history up to the horizon. */
  async pass(): Promise<void> {
    const node = this.#node;
    const horizon = Math.min(node.stable(), this.#previous);
    this.#previous = node.processed();
    if (horizon <= 0 || !node.leads()) return;
    const current = await readTrim(node.client, node.keys);
    if (horizon > (current.record?.trimmed ?? 0)) {
      const logPrefix = node.keys.layout.logPrefix;
      // Keys, not a count: etcd's count ignores the creation-revision filter.
      const due = await withTimeout(
        node.client.kv.range({
          key: Buffer.from(logPrefix),
          range_end: prefixEnd(logPrefix),
          max_create_revision: horizon,
          keys_only: true,
          limit: this.#options.threshold,
        }),
        CALL_MS,
        'counting log entries',
      );
      if (due.kvs.length >= this.#options.threshold) await this.#trim(horizon, current);
    }
    if (horizon > this.#compacted) {
      // etcd keeps every old version (heartbeats are one per node per second) until compacted.
      // Live keys survive compaction: a node catching up reads those, never the history.
      try {
        await withTimeout(
          node.client.kv.compact({ revision: String(horizon) }),
          CALL_MS,
          'compacting etcd',
        );
      } catch (error) {
        // Another node (or etcd's own auto-compaction) compacted further already.
        if (!/compacted/i.test((error as Error).message)) throw error;
      }
      this.#compacted = horizon;
    }
  }

  async #trim(horizon: number, current: ReadTrim): Promise<void> {
    const { client, keys } = this.#node;
    const { revision, payload } = await this.#node.capture();
    let snapshot: SnapshotRef;
    try {
      snapshot = await writeChunks(client, keys, payload);
    } finally {
      payload.fill(0);
    }
    const record: TrimRecord = { v: 1, revision, trimmed: horizon, snapshot };
    const key = keys.layout.trimKey;
    // Compare: nobody trimmed since this pass read the record (two members may both think they
    // lead for a moment); the loser's chunks go.
    const result = await withTimeout(
      client
        .if(key, 'Mod', '==', current.mod)
        .then(client.put(key).value(keys.seal(key, Buffer.from(JSON.stringify(record)))))
        .commit(),
      CALL_MS,
      'the trim record',
    );
    if (!result.succeeded) {
      await deleteChunks(client, keys, snapshot.id);
      return;
    }
    const written = Number(result.header.revision);
    await this.#collectChunks(snapshot.id, written);
    const deleted = await this.#deleteLog(horizon);
    this.#node.info(
      `cluster log trimmed: ${deleted} entries at or below revision ${horizon} deleted; ` +
        `snapshot ${snapshot.id} (${snapshot.chunks} chunk${snapshot.chunks === 1 ? '' : 's'}) at revision ${revision}`,
    );
  }

  /**
   * Deletes the chunks of every snapshot other than `keep` written before the trim record at
   * `written`: the previous trim's, an import's, and those of a trim that lost or crashed. Chunks
   * written later belong to a trim still under way (whose compare will fail).
   */
  async #collectChunks(keep: string, written: number): Promise<void> {
    const { client, keys } = this.#node;
    const prefix = keys.layout.snapshotPrefix();
    const res = await withTimeout(
      client.kv.range({
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        max_create_revision: written - 1,
        keys_only: true,
      }),
      CALL_MS,
      'listing snapshot chunks',
    );
    const ids = new Set<string>();
    for (const kv of res.kvs) {
      const id = kv.key.toString().slice(prefix.length).split('/')[0]!;
      if (id !== keep) ids.add(id);
    }
    for (const id of ids) await deleteChunks(client, keys, id);
  }

  /**
   * Deletes the log entries created at or below `horizon`, at most 100 per transaction. Listed in
   * key order without a filter, a page at a time: etcd 3.4 answers a range filtered by creation
   * revision by reading every key in it, so listing 100 entries at a time that way read the
   * whole log for each hundred.
   */
  async #deleteLog(horizon: number): Promise<number> {
    const { client, keys } = this.#node;
    const logPrefix = keys.layout.logPrefix;
    const end = prefixEnd(logPrefix);
    let from = Buffer.from(logPrefix);
    let deleted = 0;
    for (;;) {
      const res = await withTimeout(
        client.kv.range({ key: from, range_end: end, keys_only: true, limit: LIST_PAGE }),
        CALL_MS,
        'listing trimmed log entries',
      );
      const due = res.kvs.filter((kv) => Number(kv.create_revision) <= horizon);
      for (let i = 0; i < due.length; i += DELETES_PER_TXN) {
        const batch = due.slice(i, i + DELETES_PER_TXN);
        await withTimeout(
          client
            .if(keys.layout.trimKey, 'Create', '>', 0)
            .then(...batch.map((kv) => client.delete().key(kv.key.toString())))
            .commit(),
          CALL_MS,
          'deleting trimmed log entries',
        );
        deleted += batch.length;
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return deleted;
      from = Buffer.concat([last.key, Buffer.of(0)]);
    }
  }
}

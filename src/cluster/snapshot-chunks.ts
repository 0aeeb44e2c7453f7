// A whole-state snapshot stored in etcd as sealed chunks under `P snap/ID/N`: written one chunk
// per request (etcd refuses requests over 1.5 MiB), each chunk sealed to its own key, and read
// back with every chunk opened for its key and the whole checked against the SHA-256 its mark
// or trim record holds. A chunk that is missing, altered, or moved from another key is refused.

import { createHash, randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { withTimeout } from './etcd-client.ts';
import type { ClusterKeys } from './etcd-layout.ts';

/** Bytes of snapshot payload per chunk: one put each, well under etcd's 1.5 MiB request limit. */
export const CHUNK_BYTES = 1024 * 1024;
const CALL_MS = 20_000;

/** Where a snapshot's chunks are and what they hold. */
export interface SnapshotRef {
  readonly id: string;
  readonly chunks: number;
  /** Hex SHA-256 of the concatenated payload. */
  readonly sha256: string;
}

/** Writes `payload` as the chunks of a new snapshot (a fresh random id) and says where. */
export async function writeChunks(
  client: Etcd3,
  keys: ClusterKeys,
  payload: Buffer,
): Promise<SnapshotRef> {
  const id = randomBytes(16).toString('hex');
  let chunks = 0;
  for (let offset = 0; offset < payload.length || chunks === 0; offset += CHUNK_BYTES) {
    const key = keys.layout.snapshotChunk(id, chunks);
    const piece = payload.subarray(offset, offset + CHUNK_BYTES);
    await withTimeout(
      client.put(key).value(keys.seal(key, piece)).exec(),
      CALL_MS,
      'writing a snapshot chunk',
    );
    chunks++;
  }
  return { id, chunks, sha256: createHash('sha256').update(payload).digest('hex') };
}

/**
 * Reads the snapshot `ref` (at etcd revision `revision` when given, so that it is the one a
 * reader saw referenced at that revision): one chunk per read, since a gRPC answer is limited.
 * Throws naming the snapshot and the chunk's etcd key when anything does not check.
 */
export async function readChunks(
  client: Etcd3,
  keys: ClusterKeys,
  ref: SnapshotRef,
  revision?: number,
): Promise<Buffer> {
  const pieces: Buffer[] = [];
  try {
    for (let n = 0; n < ref.chunks; n++) {
      const key = keys.layout.snapshotChunk(ref.id, n);
      const res = await withTimeout(
        client.kv.range({ key: Buffer.from(key), ...(revision ? { revision } : {}) }),
        CALL_MS,
        'a snapshot chunk',
      );
      const kv = res.kvs[0];
      if (!kv) {
        throw new Error(
          `snapshot ${ref.id}: chunk ${n} of ${ref.chunks} (etcd key ${key}) is missing: refused`,
        );
      }
      try {
        pieces.push(keys.open(key, kv.value));
      } catch (error) {
        throw new Error(`snapshot ${ref.id}: ${(error as Error).message}`, { cause: error });
      }
    }
    const payload = Buffer.concat(pieces);
    if (createHash('sha256').update(payload).digest('hex') !== ref.sha256) {
      payload.fill(0);
      throw new Error(
        `snapshot ${ref.id}: its chunks do not add up to the snapshot its record names (digest mismatch): refused`,
      );
    }
    return payload;
  } finally {
    for (const piece of pieces) piece.fill(0);
  }
}

/** Deletes every chunk of snapshot `id` (one range delete: a handful of keys). */
export async function deleteChunks(client: Etcd3, keys: ClusterKeys, id: string): Promise<void> {
  await withTimeout(
    client.delete().prefix(keys.layout.snapshotPrefix(id)).exec(),
    CALL_MS,
    'deleting snapshot chunks',
  );
}

// Finding or creating the cluster under a prefix: the cluster record with the sealed REK, the
// refusals (another HSM key, a prefix holding something else), and the import of a single
// node's state as the first log entry (chunks of at most 1 MiB, one transaction each).

import { randomBytes, randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { HsmKey } from '../crypto/index.ts';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';
import { prefixEnd, withTimeout } from './etcd-client.ts';
import { ClusterKeys, EtcdLayout, aadOf } from './etcd-layout.ts';
import { encodeEntry } from './log-entry.ts';
import { writeChunks } from './snapshot-chunks.ts';

const CALL_MS = 5000;

interface ClusterRecord {
  readonly v: 1;
  readonly id: string;
  /** Base64 of the REK sealed under the HSM's REK sealing key, bound to this etcd key. */
  readonly rek: string;
}

export interface OpenedCluster {
  readonly id: string;
  readonly keys: ClusterKeys;
  /** This call created the cluster. */
  readonly created: boolean;
}

/**
 * Opens the cluster under `layout.prefix`, creating it if the prefix is empty. `singleNode`
 * returns the snapshot payload of the node's single-node state, or null when it has none; it is
 * called only when the prefix is empty (import), and `hasSingleNode` says whether there is any
 * (a non-empty prefix with single-node state is refused, so the state is never silently left).
 */
export async function openCluster(
  client: Etcd3,
  layout: EtcdLayout,
  hsmKey: HsmKey,
  singleNode: { readonly present: boolean; readonly dir: string; load(): Promise<Buffer> },
  endpoints: string,
): Promise<OpenedCluster> {
  for (let attempt = 0; ; attempt++) {
    const found = await withTimeout(
      client.get(layout.cluster).buffer(),
      CALL_MS,
      'the cluster record read',
    );
    if (found) {
      const opened = openRecord(layout, hsmKey, found, endpoints);
      if (singleNode.present) {
        throw new Error(
          `${singleNode.dir} holds a single node's state, and etcd prefix ${layout.prefix} already holds cluster ${opened.id}: ` +
            `joining would leave that state behind. Move ${singleNode.dir} away to join the cluster, ` +
            `or start on an empty prefix to import it into a new cluster.`,
        );
      }
      return { ...opened, created: false };
    }
    const others = await withTimeout(
      client.kv.range({
        key: Buffer.from(layout.prefix),
        range_end: prefixEnd(layout.prefix),
        keys_only: true,
        limit: 100,
      }),
      CALL_MS,
      'a range read',
    );
    const foreign = others.kvs.filter(
      (kv) => !kv.key.toString().startsWith(layout.snapshotPrefix()),
    );
    if (foreign.length > 0) {
      throw new Error(
        `etcd prefix ${layout.prefix} at ${endpoints} holds data that is not a Keyhold cluster (e.g. ${foreign[0]!.key.toString()}): refusing to use it`,
      );
    }
    const created = await create(client, layout, hsmKey, singleNode);
    if (created) return created;
    // Another node created it at the same moment: open theirs.
    if (attempt > 3) throw new Error('could not create or open the cluster record');
  }
}

function openRecord(
  layout: EtcdLayout,
  hsmKey: HsmKey,
  value: Buffer,
  endpoints: string,
): { id: string; keys: ClusterKeys } {
  let record: ClusterRecord;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<
      Record<keyof ClusterRecord, unknown>
    >;
    if (parsed.v !== 1 || typeof parsed.id !== 'string' || typeof parsed.rek !== 'string') {
      throw new Error('bad record');
    }
    record = { v: 1, id: parsed.id, rek: parsed.rek };
  } catch {
    throw new Error(`etcd key ${layout.cluster} at ${endpoints} is not a Keyhold cluster record`);
  }
  const sealer = new AesGcmSealer(hsmKey.rekSealingKey());
  let rek: Buffer;
  try {
    rek = sealer.open(Buffer.from(record.rek, 'base64'), aadOf(layout.cluster));
  } catch {
    throw new Error(
      `this node's HSM key cannot unseal cluster ${record.id} at etcd prefix ${layout.prefix}: ` +
        `the cluster was created with another HSM key (start the node with the cluster's HSM key)`,
    );
  }
  try {
    return { id: record.id, keys: new ClusterKeys(layout, rek) };
  } finally {
    rek.fill(0);
  }
}

async function create(
  client: Etcd3,
  layout: EtcdLayout,
  hsmKey: HsmKey,
  singleNode: { readonly present: boolean; load(): Promise<Buffer> },
): Promise<OpenedCluster | null> {
  const id = randomUUID();
  const rek = randomBytes(32);
  const sealedRek = new AesGcmSealer(hsmKey.rekSealingKey()).seal(rek, aadOf(layout.cluster));
  const keys = new ClusterKeys(layout, rek);
  rek.fill(0);
  const record: ClusterRecord = { v: 1, id, rek: sealedRek.toString('base64') };
  const ops = [client.put(layout.cluster).value(JSON.stringify(record))];
  if (singleNode.present) {
    // Left-over chunks of an import that crashed before creating the cluster.
    await withTimeout(
      client.delete().prefix(layout.snapshotPrefix()).exec(),
      CALL_MS,
      'deleting old chunks',
    );
    const payload = await singleNode.load();
    const mark = await writeChunks(client, keys, payload);
    payload.fill(0);
    const logKey = layout.log(randomBytes(16).toString('hex'));
    const entry = encodeEntry({ kind: 'snapshot', mark });
    ops.push(client.put(logKey).value(keys.seal(logKey, entry)));
  }
  const result = await withTimeout(
    client
      .if(layout.cluster, 'Create', '==', 0)
      .then(...ops)
      .commit(),
    CALL_MS,
    'creating the cluster',
  );
  return result.succeeded ? { id, keys, created: true } : null;
}

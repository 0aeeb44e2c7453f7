// This node's sealed copy of the cluster state in `DIR/cluster/` (the store of src/store): every
// applied log entry with its etcd revision, and snapshots. A restart loads it and serves reads
// before etcd answers, or without etcd at all.

import type { HsmKey } from '../crypto/index.ts';
import { decodeCommand } from '../state/commands.ts';
import { decodeSnapshot, encodeSnapshot } from '../state/snapshot.ts';
import { State } from '../state/state.ts';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';
import { Store } from '../store/store.ts';
import { applyTracked } from './touched.ts';

const FORMAT = 1;
const RECORD_COMMAND = 1;
const RECORD_MEMBERS = 2;
/** Only the header: every member has applied everything up to its `stable`. */
const RECORD_STABLE = 3;

/** What a snapshot of the local copy records besides the state. */
export interface CopyMeta {
  readonly clusterId: string;
  /** The newest etcd revision the state reflects. */
  readonly revision: number;
  /** Every member was known to have applied everything up to this revision. */
  readonly stable: number;
  readonly members: readonly string[];
  /** This node saw its own removal (it must not serve again until added anew). */
  readonly removed: boolean;
}

export interface LoadedCopy {
  readonly meta: CopyMeta;
  readonly state: State;
  /** Entries after `meta.stable`: in flight until etcd confirms every member applied them. */
  readonly inFlight: { revision: number; objects: string[] }[];
}

export class LocalCopy {
  readonly #store: Store;
  #sinceSnapshot = 0;

  private constructor(store: Store) {
    this.#store = store;
  }

  /** Opens (or creates) `dir`; `loaded` is null when it holds nothing yet. */
  static async open(
    dir: string,
    hsmKey: HsmKey,
    warn: (message: string) => void,
  ): Promise<{ copy: LocalCopy; loaded: LoadedCopy | null }> {
    const { store, recovered } = await Store.open({
      dir,
      rekSealer: new AesGcmSealer(hsmKey.rekSealingKey()),
    });
    for (const warning of recovered.warnings) warn(warning);
    const copy = new LocalCopy(store);
    if (!recovered.snapshot) return { copy, loaded: null };
    const payload = recovered.snapshot.payload;
    const metaLength = payload.readUInt32BE(0);
    let meta = JSON.parse(payload.subarray(4, 4 + metaLength).toString('utf8')) as CopyMeta;
    const state = decodeSnapshot(payload.subarray(4 + metaLength));
    const inFlight: { revision: number; objects: string[] }[] = [];
    for (const record of recovered.records) {
      const p = record.payload;
      if (p[0] !== FORMAT) throw new Error(`unknown local cluster record format ${String(p[0])}`);
      const revision = p.readDoubleBE(1);
      const stable = p.readDoubleBE(9);
      const kind = p[17];
      const body = p.subarray(18);
      if (kind === RECORD_COMMAND) {
        const objects = applyTracked(state, decodeCommand(body));
        inFlight.push({ revision, objects });
      } else if (kind === RECORD_MEMBERS) {
        const { members, removed } = JSON.parse(body.toString('utf8')) as {
          members: string[];
          removed: boolean;
        };
        meta = { ...meta, members, removed };
      }
      meta = { ...meta, revision, stable: Math.max(meta.stable, stable) };
    }
    copy.#sinceSnapshot = recovered.records.length;
    const stable = meta.stable;
    return {
      copy,
      loaded: { meta, state, inFlight: inFlight.filter((f) => f.revision > stable) },
    };
  }

  /** Appends an applied command (resolves once fsynced). */
  appendCommand(revision: number, stable: number, command: Buffer): Promise<void> {
    return this.#append(revision, stable, RECORD_COMMAND, command);
  }

  /** Records a change of membership. */
  appendMembers(
    revision: number,
    stable: number,
    members: readonly string[],
    removed: boolean,
  ): Promise<void> {
    return this.#append(
      revision,
      stable,
      RECORD_MEMBERS,
      Buffer.from(JSON.stringify({ members, removed })),
    );
  }

  /** Records that every member is now known to have applied up to `stable`. */
  appendStable(revision: number, stable: number): Promise<void> {
    return this.#append(revision, stable, RECORD_STABLE, Buffer.alloc(0));
  }

  /** True once enough records accumulated that the next snapshot is due. */
  get snapshotDue(): boolean {
    return this.#sinceSnapshot >= 10_000;
  }

  /** Writes the whole state (after every append so far). */
  async snapshot(meta: CopyMeta, state: State): Promise<void> {
    const head = Buffer.from(JSON.stringify(meta));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(head.length);
    const body = encodeSnapshot(state);
    const payload = Buffer.concat([len, head, body]);
    body.fill(0);
    this.#sinceSnapshot = 0;
    try {
      await this.#store.snapshot(this.#store.lastIndex, payload);
    } finally {
      payload.fill(0);
    }
  }

  close(): Promise<void> {
    return this.#store.close();
  }

  async #append(revision: number, stable: number, kind: number, body: Buffer): Promise<void> {
    const head = Buffer.alloc(18);
    head[0] = FORMAT;
    head.writeDoubleBE(revision, 1);
    head.writeDoubleBE(stable, 9);
    head[17] = kind;
    const payload = Buffer.concat([head, body]);
    this.#sinceSnapshot++;
    try {
      await this.#store.append(payload);
    } finally {
      payload.fill(0);
    }
  }
}

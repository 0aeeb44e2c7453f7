// A worker's view of the state owner: a replica of the primary's state, kept current by the
// commands the primary broadcasts, and writes, backups and metrics sent to the primary.

import type { ClusterControl, NodeStatus } from '../../core/cluster-control.ts';
import type { ReadCheck } from '../../core/read-wait.ts';
import { clusterView } from '../../cluster/cluster-view.ts';
import type { ClusterStatus } from '../../cluster/cluster-node.ts';
import { nextWriteName } from '../../core/request-id.ts';
import { KeyholdError, reviveError } from '../../model/errors.ts';
import type { Command } from '../../state/commands.ts';
import { decodeCommand, encodeCommand } from '../../state/commands.ts';
import { decodeSnapshot } from '../../state/snapshot.ts';
import type { State } from '../../state/state.ts';
import type { GatherTopic, StateOwner } from '../state-owner.ts';
import type { SessionOp } from '../../console/session-table.ts';
import { IdleCollector } from './collect-garbage.ts';
import type { ClusterStart, ToPrimary, ToWorker } from './messages.ts';
import { WorkerCluster } from './worker-cluster.ts';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** Backup pieces are sent to the primary in messages of about this size, one at a time. */
const UPLOAD_PIECE_BYTES = 1 << 20;

export class WorkerOwner implements StateOwner {
  readonly state: State;
  readonly #send: (message: ToPrimary) => void;
  readonly #pending = new Map<number, Pending>();
  readonly #idle = new IdleCollector();
  #nextId = 1;
  #nextUpload = 1;
  /** False once the primary reported that its storage failed (`/v1/health/ready?write`). */
  #storageWritable = true;
  /** A cluster node's worker: its progress and the node's condition (null: a single node). */
  readonly #cluster: WorkerCluster | null;
  // A cluster node's worker only (absent otherwise, as the StateOwner interface says).
  readonly checkRead?: (read: ReadCheck) => void;
  readonly readable?: () => boolean;
  /** Whether a write can succeed now: the cluster's condition, or this node's storage. */
  readonly writable: () => boolean;
  readonly clusterControl?: (self: () => NodeStatus) => ClusterControl;

  /**
   * @param snapshot the state at the moment this worker joined (streamed before `init`); zeroed
   *   once decoded.
   * @param cluster a cluster node's progress at that moment.
   */
  constructor(snapshot: Buffer, send: (message: ToPrimary) => void, cluster?: ClusterStart) {
    this.state = decodeSnapshot(snapshot);
    snapshot.fill(0);
    this.#send = send;
    this.#cluster = cluster ? new WorkerCluster(cluster) : null;
    const c = this.#cluster;
    this.writable = c ? () => c.writable() : () => this.#storageWritable;
    if (c) {
      this.checkRead = (read) => c.checkRead(this.state, read);
      this.readable = () => c.readable();
      this.clusterControl = (self) => ({
        status: async () =>
          clusterView((await this.#clusterRequest('status', '')) as ClusterStatus, self()),
        addNode: async (host) => {
          await this.#clusterRequest('add', host);
        },
        removeNode: async (host) => {
          await this.#clusterRequest('remove', host);
        },
      });
    }
  }

  #clusterRequest(op: 'status' | 'add' | 'remove', host: string): Promise<unknown> {
    return this.#request((id) => ({ type: 'cluster', id, op, host }));
  }

  /**
   * Replaces the state (a restore, a cluster's snapshot mark) by `snapshot` (streamed before
   * `reset`), then zeroes it.
   */
  reset(snapshot: Buffer, cluster?: ClusterStart): void {
    this.state.replaceWith(decodeSnapshot(snapshot));
    snapshot.fill(0);
    if (cluster) this.#cluster?.restart(cluster);
    this.#send({ type: 'applied', index: this.#cluster?.revision ?? this.state.commit });
  }

  /** Handles the state-related messages from the primary; returns false for others. */
  handle(message: ToWorker): boolean {
    switch (message.type) {
      case 'writes-refused':
        this.#storageWritable = false;
        return true;
      case 'apply': {
        if (message.revisions && this.#cluster) {
          const revisions = message.revisions;
          message.commands.forEach((command, i) =>
            this.#cluster!.apply(this.state, revisions[i]!, decodeCommand(command)),
          );
          this.#send({ type: 'applied', index: this.#cluster.revision });
          this.#idle.note(message.commands.length);
          return true;
        }
        let index = message.first;
        for (const command of message.commands) {
          // A command the snapshot this worker started from already holds is skipped.
          if (index > this.state.commit) {
            this.state.apply(decodeCommand(command));
            this.state.commit = index;
          }
          index++;
        }
        this.#send({ type: 'applied', index: this.state.commit });
        this.#idle.note(message.commands.length);
        return true;
      }
      case 'stable':
        this.#cluster?.advance(message.stable);
        return true;
      case 'condition':
        if (this.#cluster) this.#cluster.condition = message.condition;
        return true;
      case 'reply': {
        const pending = this.#pending.get(message.id);
        if (!pending) return true;
        this.#pending.delete(message.id);
        if (message.error) {
          pending.reject(reviveError(message.error.code, message.error.message));
        } else {
          pending.resolve(message.value);
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** Resolves once the primary committed the command and every worker (this one too) applied it. */
  async submit(command: Command): Promise<void> {
    const name = nextWriteName();
    await this.#request((id) => ({
      type: 'submit',
      id,
      command: encodeCommand(command),
      ...(name === undefined ? {} : { name }),
    }));
  }

  async backup(): Promise<Buffer> {
    return Buffer.from((await this.#request((id) => ({ type: 'backup', id }))) as Uint8Array);
  }

  /**
   * Forwards the backup to the primary in ~1 MiB pieces, each once the previous one was
   * accepted: this worker holds one piece at a time, and a refusal stops the upload at once.
   * The first piece goes as it arrives, so that a wrong start is refused before more is read.
   */
  async restore(backup: AsyncIterable<Uint8Array>): Promise<void> {
    const upload = this.#nextUpload++;
    let pieces: Uint8Array[] = [];
    let size = 0;
    let sent = 0;
    const flush = async (): Promise<void> => {
      const bytes = Buffer.concat(pieces, size);
      pieces = [];
      sent += size;
      size = 0;
      await this.#request((id) => ({ type: 'restore-piece', id, upload, bytes }));
    };
    try {
      for await (const piece of backup) {
        pieces.push(piece);
        size += piece.length;
        if (size >= UPLOAD_PIECE_BYTES || sent === 0) await flush();
      }
      if (size > 0) await flush();
    } catch (error) {
      this.#send({ type: 'restore-abort', upload });
      throw error;
    }
    await this.#request((id) => ({ type: 'restore', id, upload }));
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return (await this.#request((id) => ({ type: 'metrics', id }))) as {
      contentType: string;
      body: string;
    };
  }

  /** Every worker's value of `what` (this one's included), through the primary. */
  async gather(what: GatherTopic): Promise<unknown[]> {
    return (await this.#request((id) => ({ type: 'gather', id, what }))) as unknown[];
  }

  /** Runs a web console session operation in the primary, which holds the node's sessions. */
  consoleSession(op: SessionOp): Promise<unknown> {
    return this.#request((id) => ({ type: 'console-session', id, op }));
  }

  /** Fails every request still waiting (the primary went away). */
  abandon(): void {
    for (const pending of this.#pending.values()) {
      pending.reject(new KeyholdError('UNAVAILABLE', 'the node is shutting down'));
    }
    this.#pending.clear();
  }

  #request(make: (id: number) => ToPrimary): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send(make(id));
    });
  }
}

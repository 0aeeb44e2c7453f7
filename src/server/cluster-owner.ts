// The StateOwner of a cluster node: requests read the node's in-memory replica (through the wait
// rule) and writes go through etcd. What the HTTPS front needs, in place of the single node's
// LocalOwner; opened by `KeyholdServer.start` when the options name an etcd.

import type { ClusterControl, NodeStatus } from '../core/cluster-control.ts';
import type { ReadCheck } from '../core/read-wait.ts';
import type { HsmKey } from '../crypto/index.ts';
import { nextWriteName } from '../core/request-id.ts';
import { KeyholdError } from '../model/errors.ts';
import { sealedBackupOf } from '../state/backup.ts';
import type { Command } from '../state/commands.ts';
import { encodeSnapshot } from '../state/snapshot.ts';
import type { State } from '../state/state.ts';
import type { EventLog } from '../observe/event-log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { ClusterNode } from '../cluster/cluster-node.ts';
import type { ClusterTiming, Replicas } from '../cluster/cluster-node.ts';
import type { EtcdOptions } from '../cluster/etcd-client.ts';
import { clusterView } from '../cluster/cluster-view.ts';
import type { StateOwner } from './state-owner.ts';

export interface ClusterOwnerOptions {
  readonly dir: string;
  readonly hsmKey: HsmKey;
  readonly etcd: EtcdOptions;
  readonly log: EventLog;
  /** Enclave the first member creates in a new cluster. */
  readonly defaultEnclave: string;
  readonly rootIdentity: string;
  readonly node?: ClusterTiming;
  /** The node's worker processes, when it has any (src/server/workers/primary.ts). */
  readonly replicas?: Replicas;
}

export class ClusterOwner implements StateOwner {
  readonly node: ClusterNode;
  readonly #options: ClusterOwnerOptions;
  metricsSource: Metrics | null = null;

  private constructor(node: ClusterNode, options: ClusterOwnerOptions) {
    this.node = node;
    this.#options = options;
  }

  /** The timings the node was opened with (a worker pool hands them to its workers). */
  get timing(): ClusterTiming {
    return this.#options.node ?? {};
  }

  static async open(options: ClusterOwnerOptions): Promise<ClusterOwner> {
    const node = await ClusterNode.open({
      dir: options.dir,
      hsmKey: options.hsmKey,
      etcd: options.etcd,
      warn: (m) => options.log.warn(m),
      info: (m) => options.log.info(m),
      ...options.node,
      ...(options.replicas ? { replicas: options.replicas } : {}),
    });
    return new ClusterOwner(node, options);
  }

  /** Joins the cluster under the node's public `HOST:PORT` (after the server listens). */
  async start(host: string): Promise<void> {
    await this.node.start(host);
    const enclave = this.#options.defaultEnclave;
    if (this.node.isMember && !this.state.enclaves.has(enclave)) {
      try {
        await this.node.submit({
          op: 'enclave.create',
          enclave,
          at: Date.now(),
          by: this.#options.rootIdentity,
        });
      } catch (error) {
        // Another member created it first, or a member is down: the next start tries again.
        if (!(error instanceof KeyholdError && error.code === 'ENCLAVE_EXISTS')) {
          this.#options.log.warn(`creating the default enclave: ${String(error)}`);
        }
      }
    }
  }

  get state(): State {
    return this.node.state;
  }

  /** `requestName`: the write's name when a worker forwards it (else taken from the request). */
  submit(command: Command, requestName: string | undefined = nextWriteName()): Promise<void> {
    return this.node.submit(command, requestName);
  }

  /**
   * Membership through etcd. `delete_cluster_on_host` is not acted on: a removed node stops
   * serving either way, and its state directory is wiped by the operator (docs/cluster.md).
   */
  clusterControl(self: () => NodeStatus): ClusterControl {
    return {
      status: () => clusterView(this.node.status(), self()),
      addNode: (host) => this.node.addNode(host),
      removeNode: (host) => this.node.removeNode(host),
    };
  }

  readable(): boolean {
    return this.node.isMember;
  }

  writable(): boolean {
    return this.node.writeRefusal() === null;
  }

  checkRead(read: ReadCheck): void {
    this.node.checkRead(read);
  }

  /** A sealed backup of this node's replica (restorable into a single node). */
  backup(): Promise<Buffer> {
    this.node.checkRead({
      caller: { identity: '', root: true, rootIdentity: '' },
      object: 'enclave',
      list: true,
    });
    return Promise.resolve(sealedBackupOf(encodeSnapshot(this.state), this.#options.hsmKey));
  }

  restore(): Promise<void> {
    return Promise.reject(
      new KeyholdError(
        'NOT_IMPLEMENTED',
        'restoring a backup into a cluster is not supported yet: restore it into a single node, then start that node with --etcd on an empty prefix to import it',
      ),
    );
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    const registry = this.metricsSource?.registry;
    if (!registry) return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' };
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  close(): Promise<void> {
    return this.node.close();
  }
}

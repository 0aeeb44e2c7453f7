// The membership of a node that runs alone, without etcd: CLUSTER:STATUS answers as a single
// MinIO KMS node does (one node, id 0, up, its own leader), and adding or removing nodes is
// refused with what to do instead, since there is no cluster to change.

import { arch, availableParallelism, cpus, platform } from 'node:os';
import { KeyholdError } from '../model/errors.ts';
import type { ClusterControl, ClusterView, NodeStatus } from './cluster-control.ts';
import { nodeHost } from './cluster-control.ts';

/** The HSM name a Keyhold node reports (its software HSM key). */
export const SOFT_HSM = 'hsm:keyhold:soft';

export interface SingleNodeInfo {
  /** `host:port` this node is reached at (its public host, else its listen address). */
  readonly host: () => string;
  /** State changes applied so far. */
  readonly commit: () => number;
  readonly version: string;
  /** When the node started (ms since the epoch). */
  readonly startedAt: number;
  readonly now?: () => number;
}

export class SingleNodeCluster implements ClusterControl {
  readonly #info: SingleNodeInfo;

  constructor(info: SingleNodeInfo) {
    this.#info = info;
  }

  status(): ClusterView {
    const info = this.#info;
    const host = info.host();
    const node: NodeStatus = {
      id: 0,
      host,
      version: info.version,
      apiVersion: 'v1',
      uptimeMs: Math.max(0, (info.now ?? Date.now)() - info.startedAt),
      role: 'Leader',
      commit: info.commit(),
      nodes: new Map([[0, host]]),
      leaderId: 0,
      // No peers: no heartbeats and no elections to time.
      sinceHeartbeatMs: 0,
      heartbeatIntervalMs: 0,
      electionTimeoutMs: 0,
      os: platform(),
      arch: arch(),
      cpus: cpus().length,
      usableCpus: availableParallelism(),
      heapBytes: process.memoryUsage().heapUsed,
      stackBytes: 0,
      hsms: [SOFT_HSM],
      configuredHsms: [SOFT_HSM],
    };
    return { up: [node], down: new Map() };
  }

  addNode(host: string): Promise<void> {
    const target = nodeHost(host);
    return Promise.reject(
      new KeyholdError(
        'CONFLICT',
        `cannot add ${target}: this node runs alone, without etcd; a cluster needs every node started with --etcd (see docs/cluster.md)`,
      ),
    );
  }

  removeNode(host: string): Promise<void> {
    const target = nodeHost(host);
    const self = target === this.#info.host();
    return Promise.reject(
      new KeyholdError(
        'CONFLICT',
        self
          ? `cannot remove ${target}: it is this node, which runs alone, without etcd`
          : `cannot remove ${target}: it is not a member; this node runs alone, without etcd`,
      ),
    );
  }
}

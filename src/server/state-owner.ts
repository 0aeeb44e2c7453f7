// What serving requests needs from whoever owns the durable state: this process's engine
// (single-process mode, and the primary of a worker pool), or the primary seen from a worker.

import type { CommandSink } from '../core/core.ts';
import type { ClusterControl, NodeStatus } from '../core/cluster-control.ts';
import type { State } from '../state/state.ts';

/** What `gather` can collect from every worker. */
export type GatherTopic = 'kes-counts';

export interface StateOwner extends CommandSink {
  /** The state requests read: the engine's own, or a worker's replica of it. */
  readonly state: State;
  /** A sealed backup of the whole state. */
  backup(): Promise<Buffer>;
  /**
   * Replaces the whole state with a sealed backup, consumed piece by piece as it arrives (so it
   * can be refused early, and a worker forwards it instead of holding it).
   */
  restore(backup: AsyncIterable<Uint8Array>): Promise<void>;
  /** Prometheus text for every process of the node. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** A worker pool: asks every worker for a value (e.g. its KES counters); absent otherwise. */
  gather?(what: GatherTopic): Promise<unknown[]>;
  /** A cluster node: whether a write can succeed now (absent: always). */
  writable?(): boolean;
  /** A cluster node: whether it serves reads (a member; absent: always). */
  readable?(): boolean;
  /**
   * A cluster node: joins the cluster under `host` (its public HOST:PORT), once the node listens
   * (absent: nothing to join).
   */
  start?(host: string): Promise<void>;
  /**
   * A cluster node: its membership, given this node's own status as a single node would report
   * it (absent: a single node without etcd, SingleNodeCluster).
   */
  clusterControl?(self: () => NodeStatus): ClusterControl;
}

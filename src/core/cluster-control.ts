// What the core asks of cluster membership, whoever provides it: the etcd cluster engine, or a
// single node without etcd (single-node-cluster.ts). The KMS API's CLUSTER:STATUS, ADDNODE and
// REMOVENODE commands (docs/protocol/kms.md, Cluster) are answered through it.

import { badRequest } from '../model/errors.ts';

/** One node as the answering node sees it: the fields of CLUSTER:STATUS's per-node status. */
export interface NodeStatus {
  /** Node id (the first node is 0). */
  readonly id: number;
  /** `host:port` clients and peers reach the node at. */
  readonly host: string;
  readonly version: string;
  readonly apiVersion: string;
  readonly uptimeMs: number;
  /** `Leader`, `Follower` or `Candidate`, as MinIO's KMS names them. */
  readonly role: string;
  /** State changes applied. */
  readonly commit: number;
  /** Every member as this node knows them: id → `host:port`. */
  readonly nodes: ReadonlyMap<number, string>;
  /** Id of the leader; negative without one. */
  readonly leaderId: number;
  /** Milliseconds since the last heartbeat this node saw from the leader (0 on the leader). */
  readonly sinceHeartbeatMs: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly os: string;
  readonly arch: string;
  readonly cpus: number;
  readonly usableCpus: number;
  readonly heapBytes: number;
  readonly stackBytes: number;
  /** HSMs with a sealed root key entry. */
  readonly hsms: readonly string[];
  /** HSMs with a configuration. */
  readonly configuredHsms: readonly string[];
}

/** The cluster as one node sees it: full status of the nodes it reached, address of the others. */
export interface ClusterView {
  readonly up: readonly NodeStatus[];
  /** Unreachable members: id → `host:port`. */
  readonly down: ReadonlyMap<number, string>;
}

export interface RemoveNodeOptions {
  /**
   * MinIO KMS's `delete_cluster_on_host`: the removed node wipes its cluster membership and comes
   * back as a fresh single node, instead of only refusing to serve.
   */
  readonly deleteClusterOnHost: boolean;
}

/** Membership operations; each caller is already authorized (SysAdmin) by the face. */
export interface ClusterControl {
  /** Every member, reachable or not, as this node sees them now. */
  status(): ClusterView | Promise<ClusterView>;
  /** Makes the running node at `host` (same HSM key, same etcd prefix) a member. */
  addNode(host: string): Promise<void>;
  /**
   * Removes `host` from the members; does not wait for `host` itself, so it works when `host`
   * is dead (the operator's statement that it is).
   */
  removeNode(host: string, options: RemoveNodeOptions): Promise<void>;
}

/** Port of a node when a host names none (MinIO KMS's default). */
export const DEFAULT_NODE_PORT = 7373;

/**
 * Normalizes the HOST argument of add/remove to `host:port` (port 7373 if none; IPv6 in
 * brackets); throws BAD_REQUEST for anything else (schemes, paths, spaces).
 */
export function nodeHost(text: string): string {
  const trimmed = text.trim();
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(trimmed);
  const port = m?.[3] === undefined ? DEFAULT_NODE_PORT : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw badRequest(`invalid node address '${trimmed.slice(0, 256)}': expected HOST[:PORT]`);
  }
  return `${m[1] === undefined ? m[2]! : `[${m[1]}]`}:${port}`;
}

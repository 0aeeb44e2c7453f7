// CLUSTER:STATUS of a cluster node as a ClusterView (src/core/cluster-control.ts): every member
// by id (its position in the sorted member list), reachable ones in `up` — this node with its own
// details, the others with what etcd tells about them — and the rest in `down`. There is no
// leader (etcd orders writes), so `leaderId` is -1 and `role` is `Follower`; `commit` is the
// revision the member has applied.

import type { ClusterView, NodeStatus } from '../core/cluster-control.ts';
import type { ClusterStatus } from './cluster-node.ts';

/** `self` is this node's own status as a single node (version, uptime, machine). */
export function clusterView(
  status: ClusterStatus,
  self: NodeStatus,
  now = Date.now(),
): ClusterView {
  const nodes = new Map<number, string>();
  status.members.forEach((m, id) => nodes.set(id, m.host));
  const up: NodeStatus[] = [];
  const down = new Map<number, string>();
  status.members.forEach((m, id) => {
    if (!m.reachable) {
      down.set(id, m.host);
      return;
    }
    const since = m.self || m.lastHeartbeat === 0 ? 0 : Math.max(0, now - m.lastHeartbeat);
    // Of another member this node knows only its address and progress, not its machine.
    const machine = m.self
      ? self
      : {
          ...self,
          version: '',
          uptimeMs: 0,
          os: '',
          arch: '',
          cpus: 0,
          usableCpus: 0,
          heapBytes: 0,
        };
    up.push({
      ...machine,
      id,
      host: m.host,
      role: 'Follower',
      commit: m.appliedRevision,
      nodes,
      leaderId: -1,
      sinceHeartbeatMs: since,
    });
  });
  return { up, down };
}

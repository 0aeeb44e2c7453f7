// CLUSTER:STATUS of a cluster node, in MinIO KMS's shape: every member by id, reachable ones in
// `nodesUp` (this node with its own details; the others with what etcd tells about them), the
// others in `nodesDown`. Ids are positions in the sorted member list; there is no leader (etcd
// orders writes), so `leaderId` is -1 and `role` is `Follower`; `commit` is the applied revision.

import type { ResponseOf } from '../protocol/kms/index.ts';
import type { ServerStatusResponse } from '../protocol/kms/pb/keyhold/kms/v1/response.ts';
import type { ClusterStatus } from './cluster-node.ts';

type Status = ResponseOf<'CLUSTER:STATUS'>;

/** `self` is this node's own single-node status (version, uptime, machine). */
export function clusterStatusResponse(status: ClusterStatus, self: ServerStatusResponse): Status {
  const nodes: Record<number, string> = {};
  status.members.forEach((m, id) => (nodes[id] = m.host));
  const nodesUp: Status['nodesUp'] = {};
  const nodesDown: Status['nodesDown'] = {};
  const now = Date.now();
  status.members.forEach((m, id) => {
    if (!m.reachable) {
      nodesDown[id] = m.host;
      return;
    }
    const since = m.self || m.lastHeartbeat === 0 ? 0 : Math.max(0, now - m.lastHeartbeat);
    nodesUp[id] = {
      ...(m.self
        ? self
        : {
            ...self,
            version: '',
            uptime: undefined,
            os: '',
            arch: '',
            cpus: 0,
            usableCpus: 0,
            heapMemInUse: 0,
            stackMemInUse: 0,
          }),
      host: m.host,
      role: 'Follower',
      commit: m.appliedRevision,
      nodes,
      nodeId: id,
      leaderId: -1,
      lastHeartbeat: { seconds: Math.floor(since / 1000), nanos: (since % 1000) * 1e6 },
    };
  });
  return { nodesUp, nodesDown };
}

// Cluster commands (minkms names): `ls` lists the nodes of the cluster, `stat` shows each node's
// status (role, version, uptime, commit, resources). Both use CLUSTER:STATUS (SysAdmin only).

import type { ClusterStatus, NodeStatus } from '../sdk/index.ts';
import type { Command } from './command.ts';
import { defineClientCommand } from './client-options.ts';
import { printJsonValue, printList, printStat } from './kms-format.ts';

interface NodeRow {
  readonly id: number;
  readonly host: string;
  readonly up: boolean;
  readonly status: NodeStatus | undefined;
}

function nodesOf(cluster: ClusterStatus): NodeRow[] {
  const rows: NodeRow[] = [];
  for (const [id, status] of cluster.nodesUp)
    rows.push({ id, host: status.host, up: true, status });
  for (const [id, host] of cluster.nodesDown) rows.push({ id, host, up: false, status: undefined });
  return rows.sort((a, b) => a.id - b.id);
}

function seconds(d: { seconds: number; nanos: number } | undefined): number {
  return d ? d.seconds + d.nanos / 1e9 : 0;
}

/** `3d4h5m6s`, without zero leading units. */
export function formatDuration(totalSeconds: number): string {
  let s = Math.floor(totalSeconds);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (s >= size || parts.length > 0) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  parts.push(`${s}s`);
  return parts.join('');
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export const lsCommand: Command = defineClientCommand({
  name: 'ls',
  summary: 'List the nodes of the cluster',
  synopsis: '[options]',
  description: 'Lists every node of the cluster with its role and whether it is reachable.',
  positionals: [0, 0],
  async run({ client, json }) {
    const nodes = nodesOf(await client.clusterStatus());
    printList(
      json,
      nodes,
      (n) => ({ id: n.id, host: n.host, role: n.status?.role ?? '', up: n.up }),
      ['ID', 'HOST', 'ROLE', 'STATUS'],
      (n) => [String(n.id), n.host, n.status?.role ?? '-', n.up ? 'up' : 'down'],
    );
    return 0;
  },
});

export const statCommand: Command = defineClientCommand({
  name: 'stat',
  summary: 'Show the status of each cluster node',
  synopsis: '[options]',
  description: `Shows each node's role, version, uptime, commit (state changes applied), leader,
platform and memory, as the answering node sees the cluster.`,
  positionals: [0, 0],
  async run({ client, json }) {
    const nodes = nodesOf(await client.clusterStatus());
    if (json) {
      printJsonValue(
        nodes.map((n) => {
          const s = n.status;
          if (!s) return { id: n.id, host: n.host, up: false };
          return {
            id: n.id,
            host: n.host,
            up: true,
            role: s.role,
            version: s.version,
            api_version: s.apiVersion,
            uptime_seconds: seconds(s.uptime),
            commit: s.commit,
            leader_id: s.leaderId,
            nodes: Object.fromEntries(Object.entries(s.nodes)),
            os: s.os,
            arch: s.arch,
            cpus: s.cpus,
            usable_cpus: s.usableCpus,
            heap_bytes: s.heapMemInUse,
            hsms: s.hsms,
          };
        }),
      );
      return 0;
    }
    printStat(
      false,
      nodes,
      () => null,
      (n) => {
        const s = n.status;
        if (!s)
          return [
            ['Node', `${n.id} (${n.host})`],
            ['Status', 'down'],
          ];
        return [
          ['Node', `${n.id} (${n.host})`],
          ['Status', 'up'],
          ['Role', s.role],
          ['Version', `${s.version} (API ${s.apiVersion})`],
          ['Uptime', formatDuration(seconds(s.uptime))],
          ['Commit', String(s.commit)],
          ['Leader', s.leaderId < 0 ? 'none' : String(s.leaderId)],
          ['Platform', `${s.os}/${s.arch}, ${s.usableCpus} of ${s.cpus} CPUs`],
          ['Heap', mebibytes(s.heapMemInUse)],
          ['HSMs', s.hsms.join(', ')],
        ];
      },
      true,
    );
    return 0;
  },
});

export const CLUSTER_COMMANDS: readonly Command[] = [lsCommand, statCommand];

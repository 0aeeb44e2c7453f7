// Cluster commands (minkms names): `ls` lists the nodes of the cluster, `stat` shows each node's
// status (role, version, uptime, commit, heartbeats, resources), both from CLUSTER:STATUS;
// `add-node` and `rm-node` change the membership (CLUSTER:ADDNODE, CLUSTER:REMOVENODE). All are
// SysAdmin only.

import { InvalidEndpointError, normalizeEndpoint } from '../sdk/endpoints.ts';
import type { ClusterStatus, NodeStatus } from '../sdk/index.ts';
import type { Command } from './command.ts';
import { UsageError } from './command.ts';
import { defineClientCommand } from './client-options.ts';
import { printJsonValue, printList, printStat } from './kms-format.ts';
import { print } from './output.ts';

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
  description: `Lists every member of the cluster, reachable or not, with its role, as the answering
node sees it (a node cut off from the others may see them all as down). A single node without
etcd lists itself as the one node, its own leader. Requires SysAdmin.`,
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
  description: `Shows each member's role, version, uptime, commit (state changes applied), leader,
time since its last heartbeat, platform and memory, as the answering node sees the cluster;
unreachable members show as down with their address. Requires SysAdmin.`,
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
            last_heartbeat_seconds: seconds(s.lastHeartbeat),
            heartbeat_interval_seconds: seconds(s.heartbeatInterval),
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
          ...heartbeatRow(s),
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

/** The last-heartbeat row, for nodes that have peers (a single node has no heartbeats). */
function heartbeatRow(s: NodeStatus): [string, string][] {
  const interval = seconds(s.heartbeatInterval);
  if (interval === 0) return [];
  return [['Heartbeat', `${formatDuration(seconds(s.lastHeartbeat))} ago (every ${interval}s)`]];
}

/** The HOST argument as \`host:port\` (port 7373 if omitted). */
function hostArgument(text: string): string {
  try {
    return normalizeEndpoint(text);
  } catch (error) {
    if (error instanceof InvalidEndpointError) throw new UsageError(error.message);
    throw error;
  }
}

export const addNodeCommand: Command = defineClientCommand({
  name: 'add-node',
  summary: 'Add a node to the cluster',
  synopsis: 'HOST[:PORT] [options]',
  description: `Makes the node at HOST (port 7373 if omitted) a member of the cluster of the server the
command is sent to (-s). HOST must be a running Keyhold node started with the cluster's HSM key
and the same etcd endpoints and prefix (--etcd, --etcd-prefix), with --host equal to HOST, and
not yet a member. It loads the whole state from etcd and catches up; only then does it count as
a member, and from then on every write waits for it too. Until it is a member it answers
clients with 503 and a message saying how to add it.

A node running alone without etcd cannot add nodes: it answers 409 and says so.
Requires SysAdmin.`,
  positionals: [1, 1],
  async run({ client, args, json }) {
    const host = hostArgument(args.positionals[0]!);
    await client.addNode(host);
    if (json) printJsonValue({ added: host });
    else print(`Added node ${host}.`);
    return 0;
  },
});

export const rmNodeCommand: Command = defineClientCommand({
  name: 'rm-node',
  summary: 'Remove a node from the cluster',
  synopsis: 'HOST[:PORT] [options]',
  description: `Removes the node at HOST (port 7373 if omitted) from the cluster's members. The removal
is a write that does not wait for HOST itself, so it succeeds while HOST is down; once it is
acknowledged, writes stop waiting for HOST. Use it to take a node out for good, or to unblock
writes after a node has died (while a member is down, every write fails naming it).

Removing a node that is unreachable is your statement that it is dead. If it is in fact still
running:
  - as long as it is cut off from etcd it cannot learn that it was removed: it keeps
    answering the clients that can still reach it from the state it had, which no longer
    receives the cluster's writes. A key deleted, an identity removed or a policy revoked
    after its removal is still honoured there. It accepts no write (it cannot reach etcd).
    (A bounded-staleness mode that would stop such reads is not built yet: docs/cluster.md.)
  - as soon as it reaches etcd again it sees its removal and stops serving: every request
    gets 503 until it is added back with 'keyhold add-node'.
So stop the node (and keep it stopped, or block its clients) before you remove it whenever you
can, and never remove a node only because it is slow.

A node running alone without etcd has no members to remove: it answers 409 and says so.
Requires SysAdmin.`,
  positionals: [1, 1],
  async run({ client, args, json }) {
    const host = hostArgument(args.positionals[0]!);
    await client.removeNode(host);
    if (json) printJsonValue({ removed: host });
    else print(`Removed node ${host}.`);
    return 0;
  },
});

export const CLUSTER_COMMANDS: readonly Command[] = [
  lsCommand,
  statCommand,
  addNodeCommand,
  rmNodeCommand,
];

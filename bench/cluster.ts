// `npm run bench:cluster`: a 3-node Keyhold cluster on a 3-member etcd, all on loopback, beside a
// single node in the same run (the machine is shared, so only same-run ratios mean anything):
// - KES generate throughput of one cluster node / a single node (alternating rounds, median);
// - create-key latency on the cluster (sequential KEY:CREATE, p50 and p99);
// - the time a new node takes to join a cluster holding N keys, and a restarted node to catch up
//   after M writes made while it was down.
// Needs Debian's etcd-server. Prints a table and one JSON line.

import { parseArgs } from 'node:util';
import { KesClient } from '../src/sdk/index.ts';
import { startEtcd } from '../test/helpers/etcd-process.ts';
import type { EtcdCluster } from '../test/helpers/etcd-process.ts';
import { addNode, kms, readable, startNode, until } from '../test/helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from '../test/helpers/cluster-nodes.ts';
import { startServer } from '../test/helpers/server-process.ts';
import type { ServerProcess } from '../test/helpers/server-process.ts';
import { nodeLoad, sleep } from './load.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    creates: { type: 'string', default: '200' },
    'join-keys': { type: 'string', default: '100000' },
    'catch-up-writes': { type: 'string', default: '10000' },
  },
});
const CONNECTIONS = Number(values.connections);
/** Creates in flight at once when filling the cluster (each is one etcd write). */
const FILL_CONCURRENCY = 32;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Creates `count` keys named `PREFIX-i` through `node`, FILL_CONCURRENCY at a time. */
async function fill(node: ClusterNodeProcess, prefix: string, count: number): Promise<void> {
  const client = new KesClient({
    endpoints: node.server.endpoint,
    apiKey: node.server.rootApiKey,
    insecure: true,
  });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await client.createKey(`${prefix}-${next++}`);
  };
  await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
}

/** True once `node` answers KEY:STATUS for `name` (it has applied the write that created it). */
async function has(node: ClusterNodeProcess, name: string): Promise<boolean> {
  try {
    return (await kms(node, 'KEY:STATUS', [{ name, version: 0 }])).status === 200;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  let etcd: EtcdCluster | null = null;
  let single: ServerProcess | null = null;
  const nodes: ClusterNodeProcess[] = [];
  try {
    etcd = await startEtcd(3);
    single = await startServer({ args: ['--workers', '0'] });
    for (let i = 0; i < 3; i++) nodes.push(await startNode({ endpoints: etcd.endpoints }));
    const [first, second, third] = nodes as [
      ClusterNodeProcess,
      ClusterNodeProcess,
      ClusterNodeProcess,
    ];
    await until('the first node to serve', () => readable(first), 30_000);
    await addNode(first, second);
    await addNode(first, third);

    // Throughput: one node of the cluster against a single node, alternating rounds.
    const targets: [string, ServerProcess][] = [
      ['single node', single],
      ['cluster node', first.server],
    ];
    for (const [, server] of targets) {
      const client = new KesClient({
        endpoints: server.endpoint,
        apiKey: server.rootApiKey,
        insecure: true,
      });
      await client.createKey('bench');
    }
    const context = Buffer.from('{"bucket":"bucket/object"}').toString('base64');
    const runs: { server: string; rps: number; p50_us: number; p99_us: number }[] = [];
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [name, server] of targets) {
        const result = await nodeLoad({
          url: `https://${server.endpoint}/v1/key/generate/bench`,
          method: 'PUT',
          body: Buffer.from(JSON.stringify({ context })),
          contentType: 'application/json',
          apiKey: server.rootApiKey,
          connections: CONNECTIONS,
          warmupMs: Number(values.warmup),
          durationMs: Number(values.duration),
        });
        runs.push({ server: name, rps: result.rps, p50_us: result.p50_us, p99_us: result.p99_us });
        await sleep(200);
      }
    }
    const ratios = runs
      .filter((r) => r.server === 'cluster node')
      .map((r, i) => r.rps / runs.filter((s) => s.server === 'single node')[i]!.rps)
      .sort((a, b) => a - b);
    const generateRatio = ratios[Math.floor(ratios.length / 2)]!;

    // Create-key latency: one key per request, one after the other, on the cluster and alone.
    const createLatency = async (create: (name: string) => Promise<void>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < Number(values.creates); i++) {
        const t0 = process.hrtime.bigint();
        await create(`latency-${i}`);
        out.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return out.sort((a, b) => a - b);
    };
    const clusterCreates = await createLatency(async (name) => {
      const res = await kms(first, 'KEY:CREATE', [{ name, type: 'AES256', addVersion: false }]);
      if (res.status !== 200) throw new Error(`KEY:CREATE: ${res.status} ${res.error}`);
    });
    const singleClient = new KesClient({
      endpoints: single.endpoint,
      apiKey: single.rootApiKey,
      insecure: true,
    });
    const singleCreates = await createLatency((name) => singleClient.createKey(name));

    // Catch-up: stop the third node, write while it is down (after removing it, as an operator
    // would, so that writes do not wait for it), add it back and time until it has the last write.
    const catchUpWrites = Number(values['catch-up-writes']);
    await third.server.stop();
    const removed = await kms(first, 'CLUSTER:REMOVENODE', [
      { host: third.host, deleteClusterOnHost: false },
    ]);
    if (removed.status !== 200) throw new Error(`rm-node: ${removed.status} ${removed.error}`);
    await fill(first, 'catch-up', catchUpWrites);
    const catchUpStart = Date.now();
    await third.restart();
    await addNode(first, third);
    await until(
      'the restarted node to catch up',
      () => has(third, `catch-up-${catchUpWrites - 1}`),
      120_000,
    );
    const catchUpMs = Date.now() - catchUpStart;

    // Join: fill the cluster to N keys, start a fresh node and time until it serves the last one.
    const joinKeys = Number(values['join-keys']);
    await fill(first, 'join', joinKeys);
    const joinStart = Date.now();
    const fourth = await startNode({ endpoints: etcd.endpoints });
    nodes.push(fourth);
    await addNode(first, fourth);
    await until(
      'the new node to serve every key',
      () => has(fourth, `join-${joinKeys - 1}`),
      300_000,
    );
    const joinMs = Date.now() - joinStart;

    const lines = [
      ...runs.map(
        (r) =>
          `KES generate  ${r.server.padEnd(13)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_us.toFixed(0)} µs  p99 ${r.p99_us.toFixed(0)} µs`,
      ),
      '',
      `generate, cluster node / single node (median of rounds): ${generateRatio.toFixed(2)}× (target ≥ 0.95×)`,
      `create key, 3 nodes + 3 etcd members: p50 ${percentile(clusterCreates, 50).toFixed(1)} ms, p99 ${percentile(clusterCreates, 99).toFixed(1)} ms ` +
        `(single node: p50 ${percentile(singleCreates, 50).toFixed(1)} ms, p99 ${percentile(singleCreates, 99).toFixed(1)} ms; target p50 ≤ 10 ms)`,
      `a removed node restarted and added back after ${catchUpWrites} writes serves the last one after ${(catchUpMs / 1000).toFixed(1)} s (target ≤ 5 s)`,
      `a new node joins a cluster of ${joinKeys + catchUpWrites + Number(values.creates) + 1} keys and serves the last one after ${(joinMs / 1000).toFixed(1)} s (target ≤ 10 s)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stdout.write(
      JSON.stringify({
        runs,
        generateRatio,
        createMs: {
          cluster: { p50: percentile(clusterCreates, 50), p99: percentile(clusterCreates, 99) },
          single: { p50: percentile(singleCreates, 50), p99: percentile(singleCreates, 99) },
        },
        catchUp: { writes: catchUpWrites, ms: catchUpMs },
        join: { keys: joinKeys, ms: joinMs },
      }) + '\n',
    );
  } finally {
    for (const node of nodes) await node.server.stop().catch(() => undefined);
    await single?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
  }
}

await main();

// `npm run bench:cluster`: a 3-node Keyhold cluster on a 3-member etcd, all on loopback, beside a
// single node in the same run (the machine is shared, so only same-run ratios mean anything),
// every Keyhold node with `--workers` worker processes:
// - KES generate throughput of one cluster node / a single node (alternating rounds, median);
// - latency of one request at a time, p50 and p99: create key on the cluster and on the single
//   node, with a plain etcd put (same etcd, same run) as the floor's unit: a cluster create is
//   one etcd transaction, then every member's applied record, one etcd put each in parallel;
//   generate and decrypt on each cluster node and on the single node; a generate on another
//   node right after a create (it waits until every member applied the create);
// - the time a new node takes to join a cluster holding N keys and its memory, and a restarted
//   node to catch up after M writes made while it was down.
// Needs Debian's etcd-server. Prints a table and one JSON line.

import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { KesClient, KesError } from '../src/sdk/index.ts';
import { startEtcd } from '../test/helpers/etcd-process.ts';
import type { EtcdCluster } from '../test/helpers/etcd-process.ts';
import {
  addNode,
  kms,
  readable,
  startNode,
  until,
  workerPids,
} from '../test/helpers/cluster-nodes.ts';
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
    /** Sequential requests per latency figure. */
    requests: { type: 'string', default: '200' },
    workers: { type: 'string', default: '2' },
    'join-keys': { type: 'string', default: '100000' },
    'catch-up-writes': { type: 'string', default: '10000' },
    /** Creates in flight at once when filling the cluster (spread over its members). */
    'fill-concurrency': { type: 'string', default: '96' },
  },
});
const CONNECTIONS = Number(values.connections);
const WORKERS = values.workers;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

interface Latency {
  readonly p50: number;
  readonly p99: number;
}

/** Runs `once(i)` `count` times one after the other; p50 and p99 in ms. */
async function latency(count: number, once: (i: number) => Promise<unknown>): Promise<Latency> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await once(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out.sort((a, b) => a - b);
  return { p50: percentile(out, 50), p99: percentile(out, 99) };
}

function show(l: Latency): string {
  return `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`;
}

function kesClient(server: ServerProcess): KesClient {
  return new KesClient({ endpoints: server.endpoint, apiKey: server.rootApiKey, insecure: true });
}

/**
 * Creates `count` keys named `PREFIX-i`, `concurrency` at a time spread over `nodes`; resolves
 * with the writes per second.
 */
async function fill(
  nodes: readonly ClusterNodeProcess[],
  prefix: string,
  count: number,
  concurrency = Number(values['fill-concurrency']),
): Promise<number> {
  const clients = nodes.map((n) => kesClient(n.server));
  let next = 0;
  const started = performance.now();
  const worker = async (w: number): Promise<void> => {
    const client = clients[w % clients.length]!;
    while (next < count) {
      const name = `${prefix}-${next++}`;
      // A loaded machine makes etcd calls time out: the node then refuses writes for a moment
      // (503, "etcd is unreachable") and the fill tries again; an attempt that landed anyway
      // makes the retry answer "already exists".
      for (let attempt = 0; ; attempt++) {
        try {
          await client.createKey(name);
          break;
        } catch (error) {
          if (error instanceof KesError && /already exists/.test(error.message)) break;
          if (!(error instanceof KesError && error.status === 503) || attempt >= 20) throw error;
          refusals++;
          await sleep(250);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return count / ((performance.now() - started) / 1000);
}

/** Writes the fills saw refused for a moment (503) and tried again. */
let refusals = 0;

/** Resident memory of a process and its high-water mark, in MiB (Linux /proc). */
function memoryOf(pid: number | undefined): { rss: number; peak: number } {
  if (pid === undefined) return { rss: 0, peak: 0 };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number =>
      Number(/\d+/.exec(status.split(`${field}:`)[1] ?? '')?.[0] ?? 0);
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  } catch {
    return { rss: 0, peak: 0 };
  }
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
    single = await startServer({ args: ['--workers', WORKERS] });
    for (let i = 0; i < 3; i++) {
      nodes.push(await startNode({ endpoints: etcd.endpoints, workers: Number(WORKERS) }));
    }
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
    for (const [, server] of targets) await kesClient(server).createKey('bench');
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

    // Latency, one request at a time, every client on a kept-alive connection. The unit of a
    // cluster write's floor: a plain etcd put on the same etcd, from this process.
    const requests = Number(values.requests);
    const etcdClient = new Etcd3({ hosts: etcd.endpoints.split(',') });
    let etcdPut: Latency;
    try {
      etcdPut = await latency(requests, (i) =>
        etcdClient.put('/bench/put').value(String(i)).exec(),
      );
    } finally {
      etcdClient.close();
    }
    const singleClient = kesClient(single);
    const clients = nodes.slice(0, 3).map((n) => kesClient(n.server));
    const [firstClient, secondClient] = clients as [KesClient, KesClient, KesClient];
    const clusterCreate = await latency(requests, (i) => firstClient.createKey(`latency-${i}`));
    const singleCreate = await latency(requests, (i) => singleClient.createKey(`latency-${i}`));
    // A read on another node right after the write: it waits until every member applied it.
    const readAfterWrite = await latency(requests, async (i) => {
      await firstClient.createKey(`raw-${i}`);
      await secondClient.generateKey(`raw-${i}`);
    });
    const ctx = Buffer.from('bucket/object');
    const perNode = async (client: KesClient): Promise<{ generate: Latency; decrypt: Latency }> => {
      const sealed = (await client.generateKey('bench', ctx)).ciphertext;
      return {
        generate: await latency(requests, () => client.generateKey('bench', ctx)),
        decrypt: await latency(requests, () => client.decrypt('bench', sealed, ctx)),
      };
    };
    const singleReads = await perNode(singleClient);
    const clusterReads: { generate: Latency; decrypt: Latency }[] = [];
    for (const client of clients) clusterReads.push(await perNode(client));
    const latencyLines = [
      `etcd put (this process, same etcd): ${show(etcdPut)}`,
      `create key, 3 nodes + 3 etcd members: ${show(clusterCreate)} (${(clusterCreate.p50 / etcdPut.p50).toFixed(1)} etcd puts; target p50 ≤ 10 ms)`,
      `create key, single node:              ${show(singleCreate)}`,
      `create on node 1, then generate on node 2: ${show(readAfterWrite)}`,
      `generate, single node:  ${show(singleReads.generate)}; decrypt ${show(singleReads.decrypt)}`,
      ...clusterReads.map(
        (r, i) =>
          `generate, cluster node ${i + 1}: ${show(r.generate)}; decrypt ${show(r.decrypt)}`,
      ),
    ];
    // The long parts follow: what is measured so far goes out now (stderr), in case they fail.
    process.stderr.write(`${latencyLines.join('\n')}\n`);

    // Catch-up: stop the third node, write while it is down (after removing it, as an operator
    // would, so that writes do not wait for it), add it back and time until it has the last write.
    const catchUpWrites = Number(values['catch-up-writes']);
    let catchUpMs = 0;
    let catchUpFillRate = 0;
    if (catchUpWrites > 0) {
      await third.server.stop();
      const removed = await kms(first, 'CLUSTER:REMOVENODE', [
        { host: third.host, deleteClusterOnHost: false },
      ]);
      if (removed.status !== 200) throw new Error(`rm-node: ${removed.status} ${removed.error}`);
      catchUpFillRate = await fill([first, second], 'catch-up', catchUpWrites);
      const catchUpStart = Date.now();
      await third.restart();
      await addNode(first, third);
      await until(
        'the restarted node to catch up',
        () => has(third, `catch-up-${catchUpWrites - 1}`),
        120_000,
      );
      catchUpMs = Date.now() - catchUpStart;
      process.stderr.write(`catch-up: ${catchUpMs} ms (${catchUpFillRate.toFixed(0)} writes/s)\n`);
    }

    // Join: fill the cluster to N keys, start a fresh node and time until it serves the last one.
    const joinKeys = Number(values['join-keys']);
    let joinMs = 0;
    let joinFillRate = 0;
    let joinMemory = { rss: 0, peak: 0, workersRss: 0 };
    const totalKeys = joinKeys + catchUpWrites + 3 * requests + 1;
    if (joinKeys > 0) {
      joinFillRate = await fill(nodes, 'join', joinKeys);
      process.stderr.write(`join: filled at ${joinFillRate.toFixed(0)} writes/s\n`);
      const joinStart = Date.now();
      const fourth = await startNode({ endpoints: etcd.endpoints, workers: Number(WORKERS) });
      nodes.push(fourth);
      await addNode(first, fourth);
      await until(
        'the new node to serve every key',
        () => has(fourth, `join-${joinKeys - 1}`),
        // Catching up reads the whole log from etcd: give a large one time (10 ms a key).
        Math.max(300_000, joinKeys * 10),
      );
      joinMs = Date.now() - joinStart;
      const primary = memoryOf(fourth.server.child.pid);
      const workersRss = workerPids(fourth).reduce((sum, pid) => sum + memoryOf(pid).rss, 0);
      joinMemory = { ...primary, workersRss };
    }

    const lines = [
      `${WORKERS} worker processes per Keyhold node; load average at the end ${loadAverage()}`,
      ...runs.map(
        (r) =>
          `KES generate  ${r.server.padEnd(13)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_us.toFixed(0)} µs  p99 ${r.p99_us.toFixed(0)} µs`,
      ),
      '',
      `generate, cluster node / single node (median of rounds): ${generateRatio.toFixed(2)}× (target ≥ 0.95×)`,
      ...latencyLines,
      catchUpWrites > 0
        ? `a removed node restarted and added back after ${catchUpWrites} writes (${catchUpFillRate.toFixed(0)} writes/s) serves the last one after ${(catchUpMs / 1000).toFixed(1)} s (target ≤ 5 s)`
        : 'catch-up: skipped (--catch-up-writes 0)',
      joinKeys > 0
        ? `a new node joins a cluster of ${totalKeys} keys (filled at ${joinFillRate.toFixed(0)} writes/s) and serves the last one after ${(joinMs / 1000).toFixed(1)} s (target ≤ 10 s); ` +
          `its primary: ${joinMemory.rss.toFixed(0)} MiB resident, ${joinMemory.peak.toFixed(0)} MiB peak; its workers: ${joinMemory.workersRss.toFixed(0)} MiB resident`
        : 'join: skipped (--join-keys 0)',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stdout.write(
      JSON.stringify({
        workers: Number(WORKERS),
        load: loadAverage(),
        runs,
        generateRatio,
        etcdPutMs: etcdPut,
        createMs: { cluster: clusterCreate, single: singleCreate },
        readAfterWriteMs: readAfterWrite,
        generateMs: { single: singleReads.generate, cluster: clusterReads.map((r) => r.generate) },
        decryptMs: { single: singleReads.decrypt, cluster: clusterReads.map((r) => r.decrypt) },
        fillRefusals: refusals,
        catchUp: { writes: catchUpWrites, ms: catchUpMs, fillPerSecond: catchUpFillRate },
        join: { keys: totalKeys, ms: joinMs, fillPerSecond: joinFillRate, memoryMiB: joinMemory },
      }) + '\n',
    );
  } finally {
    for (const node of nodes) await node.server.stop().catch(() => undefined);
    await single?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
  }
}

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}

await main();

// `npm run bench:cluster`: a 3-node Keyhold cluster on a 3-member etcd, all on loopback, beside a
// single node in the same run (the machine is shared, so only same-run ratios mean anything),
// every Keyhold node with `--workers` worker processes:
// - KES generate throughput of one cluster node / a single node (alternating rounds, median);
// - latency of one request at a time, p50 and p99: create key on the cluster and on the single
//   node, with a plain etcd put (same etcd, same run) as the floor's unit: a cluster create is
//   one etcd transaction, then every member's applied record, one etcd put each in parallel
//   (timed too: three puts at once from this process);
//   generate and decrypt on each cluster node and on the single node; a generate on another
//   node right after a create (it waits until every member applied the create);
// - the time a new node takes to join a cluster holding N keys and its memory, twice: against the
//   whole log (no trim yet) and against a trimmed one (the trim's snapshot and the log after
//   it); and a restarted node to catch up after M writes made while it was down. Each with its
//   phases: the process started (caught up from etcd, workers forked), added, serving; and the
//   node's own account of its catch-up (etcd reads, decode and apply, local copy).
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
    /** Leave out the join against a trimmed log (it restarts the trimming member). */
    'no-trimmed-join': { type: 'boolean', default: false },
    /** Keys written after the trim, before the second join. */
    'trimmed-join-tail': { type: 'string', default: '1000' },
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
      // (503, "etcd is unreachable"; or 500 while etcd3's circuit breaker is open on an etcd
      // member that failed three times) and the fill tries again; an attempt that landed
      // anyway makes the retry answer "already exists".
      for (let attempt = 0; ; attempt++) {
        try {
          await client.createKey(name);
          break;
        } catch (error) {
          if (error instanceof KesError && /already exists/.test(error.message)) break;
          const passing =
            error instanceof KesError && (error.status === 503 || error.status === 500);
          if (!passing || attempt >= 20) throw error;
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

/** Where a catch-up's time went, as the node itself reports it (its "caught up" line). */
function caughtUpLine(node: ClusterNodeProcess): string {
  const lines = node.server.output().match(/cluster: caught up .*$/gm) ?? [];
  return (lines[lines.length - 1] ?? '(no catch-up line)').replace(/^.*cluster: /, '');
}

interface Phases {
  /** From the start (or restart) of the process until it serves the last key. */
  ms: number;
  /** Until its readiness line: it caught up from etcd and its workers listen. */
  startMs: number;
  /** add-node, once started. */
  addMs: number;
  /** Until it answers the last key, once added. */
  serveMs: number;
  caughtUp: string;
}

/** Starts (or restarts) `node` through `launch`, adds it through `via`, waits until it has `last`. */
async function timeJoin(
  launch: () => Promise<ClusterNodeProcess>,
  via: ClusterNodeProcess,
  last: string,
): Promise<{ node: ClusterNodeProcess; phases: Phases }> {
  const t0 = performance.now();
  const node = await launch();
  const t1 = performance.now();
  await addNode(via, node);
  const t2 = performance.now();
  await until('the node to serve the last key', () => has(node, last), 120_000);
  const t3 = performance.now();
  return {
    node,
    phases: {
      ms: t3 - t0,
      startMs: t1 - t0,
      addMs: t2 - t1,
      serveMs: t3 - t2,
      caughtUp: caughtUpLine(node),
    },
  };
}

function showPhases(p: Phases): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return `${s(p.ms)} (started ${s(p.startMs)}, added ${s(p.addMs)}, serving ${s(p.serveMs)}; the node: ${p.caughtUp})`;
}

/** Resident memory of a node's primary (now, peak) and of its workers, MiB. */
function memoryOfNode(node: ClusterNodeProcess): { rss: number; peak: number; workersRss: number } {
  const primary = memoryOf(node.server.child.pid);
  const workersRss = workerPids(node).reduce((sum, pid) => sum + memoryOf(pid).rss, 0);
  return { ...primary, workersRss };
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
    // No trim while measuring (the first join reads the whole log); the trimmed join restarts
    // the trimming member with a short interval.
    const nodeOptions = {
      endpoints: etcd.endpoints,
      workers: Number(WORKERS),
      args: ['--etcd-trim-interval', '1h'],
      // A node catching up from etcd answers once it has: generous for a large log.
      timeout: Math.max(120_000, Number(values['join-keys']) * 3),
    };
    for (let i = 0; i < 3; i++) nodes.push(await startNode(nodeOptions));
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
    // What a create's second commit is made of: every member puts its applied record at once.
    let etcdPuts3: Latency;
    try {
      etcdPut = await latency(requests, (i) =>
        etcdClient.put('/bench/put').value(String(i)).exec(),
      );
      etcdPuts3 = await latency(requests, (i) =>
        Promise.all([0, 1, 2].map((n) => etcdClient.put(`/bench/put${n}`).value(String(i)).exec())),
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
      `etcd put (this process, same etcd): ${show(etcdPut)}; three puts at once: ${show(etcdPuts3)}`,
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
    let catchUp: Phases | null = null;
    let catchUpFillRate = 0;
    if (catchUpWrites > 0) {
      await third.server.stop();
      const removed = await kms(first, 'CLUSTER:REMOVENODE', [
        { host: third.host, deleteClusterOnHost: false },
      ]);
      if (removed.status !== 200) throw new Error(`rm-node: ${removed.status} ${removed.error}`);
      catchUpFillRate = await fill([first, second], 'catch-up', catchUpWrites);
      catchUp = (
        await timeJoin(
          async () => {
            await third.restart();
            return third;
          },
          first,
          `catch-up-${catchUpWrites - 1}`,
        )
      ).phases;
      process.stderr.write(
        `catch-up after ${catchUpWrites} writes (${catchUpFillRate.toFixed(0)} writes/s): ${showPhases(catchUp)}\n`,
      );
    }

    // Join: fill the cluster to N keys, start a fresh node and time until it serves the last one;
    // first against the whole log, then (after a trim) against the snapshot and the log after it.
    const joinKeys = Number(values['join-keys']);
    let join: Phases | null = null;
    let joinFillRate = 0;
    let joinMemory = { rss: 0, peak: 0, workersRss: 0 };
    let trimmedJoin: Phases | null = null;
    let trimmedMemory = { rss: 0, peak: 0, workersRss: 0 };
    let trimMs = 0;
    const tail = Number(values['trimmed-join-tail']);
    const totalKeys = joinKeys + catchUpWrites + 3 * requests + 1;
    if (joinKeys > 0) {
      joinFillRate = await fill(nodes, 'join', joinKeys);
      process.stderr.write(`join: filled at ${joinFillRate.toFixed(0)} writes/s\n`);
      const joined = await timeJoin(() => startNode(nodeOptions), first, `join-${joinKeys - 1}`);
      nodes.push(joined.node);
      join = joined.phases;
      joinMemory = memoryOfNode(joined.node);
      process.stderr.write(`join, whole log of ${totalKeys} keys: ${showPhases(join)}\n`);

      if (!values['no-trimmed-join']) {
        // The member that trims (the lowest host) restarts with a 2 s interval: its second pass
        // trims everything every member applied before its first.
        const leader = [...nodes].sort((a, b) => (a.host < b.host ? -1 : 1))[0]!;
        const trimStart = performance.now();
        await leader.server.stop();
        await leader.restart(['--etcd-trim-interval', '2s']);
        await until(
          'the log to be trimmed',
          () => Promise.resolve(/cluster log trimmed/.test(leader.server.output())),
          300_000,
        );
        trimMs = performance.now() - trimStart;
        process.stderr.write(
          `trim: ${(trimMs / 1000).toFixed(1)} s after the restart (${/cluster log trimmed.*$/m.exec(leader.server.output())?.[0] ?? ''})\n`,
        );
        if (tail > 0) await fill(nodes, 'tail', tail);
        const last = tail > 0 ? `tail-${tail - 1}` : `join-${joinKeys - 1}`;
        const trimmed = await timeJoin(() => startNode(nodeOptions), first, last);
        nodes.push(trimmed.node);
        trimmedJoin = trimmed.phases;
        trimmedMemory = memoryOfNode(trimmed.node);
        process.stderr.write(
          `join, trimmed log of ${totalKeys + tail} keys (${tail} after the trim): ${showPhases(trimmedJoin)}\n`,
        );
      }
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
      catchUp
        ? `a removed node restarted and added back after ${catchUpWrites} writes (${catchUpFillRate.toFixed(0)} writes/s) serves the last one after ${showPhases(catchUp)} (target ≤ 5 s)`
        : 'catch-up: skipped (--catch-up-writes 0)',
      join
        ? `a new node joins a cluster of ${totalKeys} keys, the whole log (filled at ${joinFillRate.toFixed(0)} writes/s), and serves the last one after ${showPhases(join)} (target ≤ 10 s); ` +
          `its primary: ${joinMemory.rss.toFixed(0)} MiB resident, ${joinMemory.peak.toFixed(0)} MiB peak; its workers: ${joinMemory.workersRss.toFixed(0)} MiB resident`
        : 'join: skipped (--join-keys 0)',
      trimmedJoin
        ? `a new node joins the cluster of ${totalKeys + tail} keys after a trim (the trim took ${(trimMs / 1000).toFixed(1)} s from the restart) and serves the last one after ${showPhases(trimmedJoin)}; ` +
          `its primary: ${trimmedMemory.rss.toFixed(0)} MiB resident, ${trimmedMemory.peak.toFixed(0)} MiB peak; its workers: ${trimmedMemory.workersRss.toFixed(0)} MiB resident`
        : 'trimmed join: skipped',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stdout.write(
      JSON.stringify({
        workers: Number(WORKERS),
        load: loadAverage(),
        runs,
        generateRatio,
        etcdPutMs: etcdPut,
        etcdThreePutsMs: etcdPuts3,
        createMs: { cluster: clusterCreate, single: singleCreate },
        readAfterWriteMs: readAfterWrite,
        generateMs: { single: singleReads.generate, cluster: clusterReads.map((r) => r.generate) },
        decryptMs: { single: singleReads.decrypt, cluster: clusterReads.map((r) => r.decrypt) },
        fillRefusals: refusals,
        catchUp: { writes: catchUpWrites, fillPerSecond: catchUpFillRate, ...catchUp },
        join: { keys: totalKeys, fillPerSecond: joinFillRate, memoryMiB: joinMemory, ...join },
        trimmedJoin: trimmedJoin
          ? { keys: totalKeys + tail, trimMs, memoryMiB: trimmedMemory, ...trimmedJoin }
          : null,
      }) + '\n',
    );
  } catch (error) {
    // What the nodes said last (their warnings name what failed).
    for (const node of nodes) {
      process.stderr.write(`--- ${node.host}\n${node.server.output().slice(-3000)}\n`);
    }
    throw error;
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

// Cluster nodes with worker processes: the primary owns the etcd connection and the replica, the
// workers serve from copies of it. Every cluster rule must hold on every worker: a change is
// acknowledged only once every worker of every member has it, and a deletion is refused by every
// worker of every node as soon as it is acknowledged.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startNode, until, workerPids, writable } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();

const NONE = Buffer.alloc(0);
const WORKERS = 2;
/** Requests per node per check: each opens a new connection, so they spread over the workers. */
const SPREAD = 6;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('cluster nodes with worker processes', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  const nodes: ClusterNodeProcess[] = [];

  before(async () => {
    etcd = await startEtcd(1);
    // A short apply timeout: a worker that does not apply a write is replaced within 2 s.
    const args = ['--apply-timeout', '2s'];
    nodes.push(await startNode({ endpoints: etcd.endpoints, workers: WORKERS, args }));
    nodes.push(await startNode({ endpoints: etcd.endpoints, workers: WORKERS, args }));
    await addNode(nodes[0]!, nodes[1]!);
  });

  after(async () => {
    for (const n of nodes) {
      n.resume();
      await n.server.kill();
    }
    await etcd.stop();
  });

  it('runs the workers it was asked for', () => {
    for (const node of nodes) assert.equal(workerPids(node).length, WORKERS, node.host);
  });

  it('a created key is served by every worker of every node once acknowledged', async () => {
    const [a, b] = nodes as [ClusterNodeProcess, ClusterNodeProcess];
    for (let i = 0; i < 5; i++) {
      const name = `k${i}`;
      const writer = i % 2 === 0 ? a : b;
      const created = await kms(writer, 'KEY:CREATE', [{ name, type: '', addVersion: false }]);
      assert.equal(created.status, 200, created.error);
      const reads = [];
      for (const node of nodes) {
        for (let j = 0; j < SPREAD; j++) {
          reads.push(
            kms(node, 'KEY:GENERATE', [
              { name, version: 0, associatedData: NONE, length: 32 },
            ]).then((res) => assert.equal(res.status, 200, `${node.host}: ${res.error}`)),
          );
        }
      }
      await Promise.all(reads);
    }
  });

  it('a deleted key is refused by every worker of every node once acknowledged', async () => {
    const [a, b] = nodes as [ClusterNodeProcess, ClusterNodeProcess];
    for (let i = 0; i < 5; i++) {
      const name = `k${i}`;
      const writer = i % 2 === 0 ? b : a;
      const deleted = await kms(writer, 'KEY:DELETE', [{ name, version: 0, allVersions: true }]);
      assert.equal(deleted.status, 200, deleted.error);
      const reads = [];
      for (const node of nodes) {
        for (let j = 0; j < SPREAD; j++) {
          reads.push(
            kms(node, 'KEY:GENERATE', [
              { name, version: 0, associatedData: NONE, length: 32 },
            ]).then((res) => assert.equal(res.status, 404, `${node.host}: ${res.error}`)),
          );
        }
      }
      await Promise.all(reads);
    }
  });

  it('a write is not acknowledged while a worker of a member has not applied it', async () => {
    const [a, b] = nodes as [ClusterNodeProcess, ClusterNodeProcess];
    await until('writes to be possible', () => writable(a));
    const [frozen] = workerPids(b);
    assert.ok(frozen !== undefined);
    process.kill(frozen, 'SIGSTOP');
    try {
      const created = await kms(a, 'KEY:CREATE', [
        { name: 'past-frozen', type: '', addVersion: false },
      ]);
      assert.equal(created.status, 200, created.error);
      // The acknowledgement came only once B's primary had replaced the frozen worker, which
      // could not apply it: by then that worker is gone, so it can never serve the old state.
      assert.equal(
        alive(frozen),
        false,
        'the frozen worker still exists after the acknowledgement',
      );
    } finally {
      if (alive(frozen)) process.kill(frozen, 'SIGCONT');
    }
    await until('B to run its workers again', () =>
      Promise.resolve(workerPids(b).length === WORKERS),
    );
    for (let j = 0; j < SPREAD; j++) {
      const res = await kms(b, 'KEY:STATUS', [{ name: 'past-frozen', version: 0 }]);
      assert.equal(res.status, 200, res.error);
    }
  });

  it('membership and status work through a worker', async () => {
    const [a] = nodes as [ClusterNodeProcess, ClusterNodeProcess];
    const status = await kms(a, 'CLUSTER:STATUS', [{}]);
    assert.equal(status.status, 200, status.error);
    const third = await startNode({ endpoints: etcd.endpoints, workers: WORKERS });
    nodes.push(third);
    // Not a member yet: every worker says how to add it.
    const refused = await kms(third, 'KEY:STATUS', [{ name: 'past-frozen', version: 0 }]);
    assert.equal(refused.status, 503);
    assert.match(refused.error, /add-node/);
    await addNode(a, third);
    for (let j = 0; j < SPREAD; j++) {
      const res = await kms(third, 'KEY:STATUS', [{ name: 'past-frozen', version: 0 }]);
      assert.equal(res.status, 200, res.error);
    }
    const removed = await kms(a, 'CLUSTER:REMOVENODE', [
      { host: third.host, deleteClusterOnHost: false },
    ]);
    assert.equal(removed.status, 200, removed.error);
    await until('the removed node to stop serving on every worker', async () => {
      const answers = await Promise.all(
        Array.from({ length: SPREAD }, () =>
          kms(third, 'KEY:STATUS', [{ name: 'past-frozen', version: 0 }]),
        ),
      );
      return answers.every((res) => res.status === 503);
    });
  });
});

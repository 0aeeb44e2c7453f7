// etcd members failing under a 3-node Keyhold cluster: with one of three etcd members paused
// (SIGSTOP: it answers nothing and fails nothing), every node keeps answering reads,
// writes go through the other members, and every acknowledged key is usable on every node.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { kms, startMembers, until } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();

const NONE = Buffer.alloc(0);

describe('cluster on etcd: a paused etcd member', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  const nodes: ClusterNodeProcess[] = [];

  before(async () => {
    etcd = await startEtcd(3);
    nodes.push(...(await startMembers(etcd.endpoints)));
    const created = await kms(nodes[0]!, 'KEY:CREATE', [
      { name: 'before', type: '', addVersion: false },
    ]);
    assert.equal(created.status, 200, created.error);
    // Every node knows every member applied the create before an etcd member is paused: a node
    // that learns the others' progress through the watch the pause then stalls (~12 s until it
    // moves to another member) would hold the read back for longer than a read waits (10 s).
    for (const node of nodes) {
      await until(
        `${node.host} reads the key`,
        async () =>
          (await kms(node, 'KEY:STATUS', [{ name: 'before', version: 0 }])).status === 200,
        15_000,
      );
    }
  });

  after(async () => {
    for (const m of etcd.members) m.resume();
    for (const n of nodes) await n.server.kill();
    await etcd.stop();
  });

  for (const member of [0, 1]) {
    it(`etcd member ${member + 1} paused: reads answer, writes go through the others`, async () => {
      etcd.members[member]!.pause();
      try {
        for (const node of nodes) {
          const res = await kms(node, 'KEY:GENERATE', [
            { name: 'before', version: 0, associatedData: NONE, length: 32 },
          ]);
          assert.equal(res.status, 200, res.error);
        }
        for (const [i, node] of nodes.entries()) {
          const name = `during-${member}-${i}`;
          let last = '';
          await until(
            `a write on node ${i + 1} (${last})`,
            async () => {
              const res = await kms(node, 'KEY:CREATE', [{ name, type: '', addVersion: false }]);
              last = res.error;
              // A retry of a write whose first answer was lost finds its key already there.
              return res.status === 200 || res.status === 409;
            },
            30_000,
          );
          for (const other of nodes) {
            const res = await kms(other, 'KEY:STATUS', [{ name, version: 0 }]);
            assert.equal(res.status, 200, `${name} on ${other.host}: ${res.error}`);
          }
        }
      } finally {
        etcd.members[member]!.resume();
      }
    });
  }
});

// The cluster engine with real processes on 127.0.0.1: three etcd members and three Keyhold
// nodes. A key created on one node is usable on the others right after the acknowledgement; a
// deleted key is refused by every node right after the acknowledgement; a paused node blocks
// writes with an error naming it while the others keep serving reads; rm-node unblocks writes
// and the removed node stops serving once it sees its removal.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startNode, until, writable } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();
if (missing) console.log(missing);

const NONE = Buffer.alloc(0);

describe('cluster on etcd: 3 etcd members, 3 nodes', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  const nodes: ClusterNodeProcess[] = [];

  before(async () => {
    etcd = await startEtcd(3);
    for (let i = 0; i < 3; i++) nodes.push(await startNode({ endpoints: etcd.endpoints }));
  });

  after(async () => {
    for (const n of nodes) {
      n.resume();
      await n.server.kill();
    }
    await etcd?.stop();
  });

  it('a node that is not a member answers 503 saying how to add it', async () => {
    const res = await kms(nodes[1]!, 'KEY:LIST', [{ prefix: '', continueAt: '', limit: 0 }]);
    assert.equal(res.status, 503);
    assert.match(res.error, /not a member/);
    assert.match(res.error, new RegExp(`add-node ${nodes[1]!.host}`));
    await addNode(nodes[0]!, nodes[1]!);
    await addNode(nodes[0]!, nodes[2]!);
    const status = await kms(nodes[2]!, 'CLUSTER:STATUS', [{}]);
    assert.equal(status.status, 200);
    const hosts = Object.values(status.responses[0]!.nodesUp).map(
      (n) => (n as { host: string }).host,
    );
    assert.deepEqual(hosts.sort(), nodes.map((n) => n.host).sort());
  });

  it('a key created on node 1 generates and decrypts on nodes 2 and 3 right after the ack', async () => {
    for (let i = 0; i < 5; i++) {
      const name = `k-${i}`;
      const created = await kms(nodes[0]!, 'KEY:CREATE', [{ name, type: '', addVersion: false }]);
      assert.equal(created.status, 200, created.error);
      const generated = await kms(nodes[1]!, 'KEY:GENERATE', [
        { name, version: 0, associatedData: NONE, length: 32 },
      ]);
      assert.equal(generated.status, 200, generated.error);
      const key = generated.responses[0]!;
      const decrypted = await kms(nodes[2]!, 'KEY:DECRYPT', [
        { name, version: 0, ciphertext: Buffer.from(key.ciphertext), associatedData: NONE },
      ]);
      assert.equal(decrypted.status, 200, decrypted.error);
      assert.deepEqual(Buffer.from(decrypted.responses[0]!.plaintext), Buffer.from(key.plaintext));
    }
  });

  it('a key deleted on node 2 is refused by every node right after the ack', async () => {
    for (let i = 0; i < 5; i++) {
      const name = `k-${i}`;
      const deleted = await kms(nodes[1]!, 'KEY:DELETE', [{ name, version: 0, allVersions: true }]);
      assert.equal(deleted.status, 200, deleted.error);
      for (const node of nodes) {
        const res = await kms(node, 'KEY:GENERATE', [
          { name, version: 0, associatedData: NONE, length: 32 },
        ]);
        assert.equal(res.status, 404, `${node.host} still serves deleted key ${name}`);
      }
    }
  });

  it('concurrent creates of one key on different nodes: exactly one wins', async () => {
    const results = await Promise.all(
      nodes.map((n) => kms(n, 'KEY:CREATE', [{ name: 'contended', type: '', addVersion: false }])),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409]);
  });

  it('a paused node blocks writes naming it; the others serve reads; rm-node unblocks', async () => {
    const created = await kms(nodes[0]!, 'KEY:CREATE', [
      { name: 'untouched', type: '', addVersion: false },
    ]);
    assert.equal(created.status, 200, created.error);
    const paused = nodes[2]!;
    paused.pause();
    // Its lease expires within a few seconds: from then on writes are refused up front.
    await until('node 1 to see node 3 down', async () => !(await writable(nodes[0]!)));
    const refused = await kms(nodes[0]!, 'KEY:CREATE', [
      { name: 'blocked', type: '', addVersion: false },
    ]);
    assert.equal(refused.status, 503);
    assert.match(refused.error, new RegExp(paused.host.replace(/\./g, '\\.')));
    for (const node of nodes.slice(0, 2)) {
      const res = await kms(node, 'KEY:GENERATE', [
        { name: 'untouched', version: 0, associatedData: NONE, length: 32 },
      ]);
      assert.equal(res.status, 200, res.error);
    }
    const removed = await kms(nodes[1]!, 'CLUSTER:REMOVENODE', [
      { host: paused.host, deleteClusterOnHost: false },
    ]);
    assert.equal(removed.status, 200, removed.error);
    const written = await kms(nodes[0]!, 'KEY:CREATE', [
      { name: 'after-rm', type: '', addVersion: false },
    ]);
    assert.equal(written.status, 200, written.error);
    // The removed node, resumed, sees its removal and stops serving.
    paused.resume();
    await until('the removed node to refuse requests', async () => {
      const res = await kms(paused, 'KEY:LIST', [{ prefix: '', continueAt: '', limit: 0 }]);
      return res.status === 503 && /removed/.test(res.error);
    });
  });
});

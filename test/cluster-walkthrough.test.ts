// MinIO KMS's own cluster walk-through, on Keyhold nodes over a 3-member etcd: three nodes,
// create a key on one, read it on the others, stop two, the survivor still answers reads and
// refuses a write (naming the stopped nodes), bring them back, write again.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { kms, startMembers, until, writable } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();

const NONE = Buffer.alloc(0);

describe('the MinIO KMS cluster walk-through', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  const nodes: ClusterNodeProcess[] = [];

  before(async () => {
    etcd = await startEtcd(3);
    nodes.push(...(await startMembers(etcd.endpoints)));
  });

  after(async () => {
    for (const n of nodes) await n.server.kill();
    await etcd.stop();
  });

  it('create on one, read on the others, stop two, survive, bring back, write again', async () => {
    const [a, b, c] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const created = await kms(a, 'KEY:CREATE', [{ name: 'minio', type: '', addVersion: false }]);
    assert.equal(created.status, 200, created.error);
    let ciphertext = Buffer.alloc(0);
    let plaintext = Buffer.alloc(0);
    for (const node of [b, c]) {
      const res = await kms(node, 'KEY:GENERATE', [
        { name: 'minio', version: 0, associatedData: NONE, length: 32 },
      ]);
      assert.equal(res.status, 200, res.error);
      ciphertext = Buffer.from(res.responses[0]!.ciphertext);
      plaintext = Buffer.from(res.responses[0]!.plaintext);
    }

    await b.server.stop();
    await c.server.stop();
    // The survivor answers key status, generate and decrypt…
    const status = await kms(a, 'KEY:STATUS', [{ name: 'minio', version: 0 }]);
    assert.equal(status.status, 200, status.error);
    const generated = await kms(a, 'KEY:GENERATE', [
      { name: 'minio', version: 0, associatedData: NONE, length: 32 },
    ]);
    assert.equal(generated.status, 200, generated.error);
    const decrypted = await kms(a, 'KEY:DECRYPT', [
      { name: 'minio', version: 0, ciphertext, associatedData: NONE },
    ]);
    assert.equal(decrypted.status, 200, decrypted.error);
    assert.deepEqual(Buffer.from(decrypted.responses[0]!.plaintext), plaintext);
    // …and refuses a write, naming the nodes it needs.
    await until('the survivor to see the others gone', async () => !(await writable(a)));
    const refused = await kms(a, 'KEY:CREATE', [{ name: 'refused', type: '', addVersion: false }]);
    assert.equal(refused.status, 503);
    for (const node of [b, c]) assert.ok(refused.error.includes(node.host), refused.error);

    await b.restart();
    await c.restart();
    await until('writes to be possible again', () => writable(a));
    const again = await kms(a, 'KEY:CREATE', [{ name: 'again', type: '', addVersion: false }]);
    assert.equal(again.status, 200, again.error);
    for (const node of [b, c]) {
      const res = await kms(node, 'KEY:GENERATE', [
        { name: 'again', version: 0, associatedData: NONE, length: 32 },
      ]);
      assert.equal(res.status, 200, res.error);
    }
    // The refused write left nothing behind.
    const gone = await kms(b, 'KEY:STATUS', [{ name: 'refused', version: 0 }]);
    assert.equal(gone.status, 404);
  });
});

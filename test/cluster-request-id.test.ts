// Request ids make retries safe on a cluster: a write sent again with the same
// `Keyhold-Request-Id` (after a lost answer, to the same node or another, through a worker or
// not) is answered as the first attempt was and applied once: a create is not refused with
// "already exists" and an added version is not added twice. Without an id a retry applies again.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startNode } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();

function id(): Record<string, string> {
  return { 'Keyhold-Request-Id': randomBytes(16).toString('hex') };
}

describe('request ids on a cluster', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  let a: ClusterNodeProcess;
  let b: ClusterNodeProcess;

  before(async () => {
    etcd = await startEtcd(1);
    // One node in a single process, one with workers: the name must cross to the primary.
    a = await startNode({ endpoints: etcd.endpoints, workers: 0 });
    b = await startNode({ endpoints: etcd.endpoints, workers: 2 });
    await addNode(a, b);
  });

  after(async () => {
    await a.server.kill();
    await b.server.kill();
    await etcd.stop();
  });

  it('a retried create answers as the first attempt did, on any node', async () => {
    const header = id();
    const create = [{ name: 'once', type: '', addVersion: false }];
    const first = await kms(a, 'KEY:CREATE', create, 'default', header);
    assert.equal(first.status, 200, first.error);
    for (const node of [a, b, b]) {
      const again = await kms(node, 'KEY:CREATE', create, 'default', header);
      assert.equal(again.status, 200, `${node.host}: ${again.error}`);
    }
    // Without the id, the same create is a new write and is refused.
    const plain = await kms(b, 'KEY:CREATE', create);
    assert.equal(plain.status, 409, plain.error);
  });

  it('a retried add-version adds one version', async () => {
    const created = await kms(b, 'KEY:CREATE', [{ name: 'versions', type: '', addVersion: false }]);
    assert.equal(created.status, 200, created.error);
    const header = id();
    const add = [{ name: 'versions', type: '', addVersion: true }];
    for (const node of [b, a, b]) {
      const res = await kms(node, 'KEY:CREATE', add, 'default', header);
      assert.equal(res.status, 200, `${node.host}: ${res.error}`);
    }
    for (const node of [a, b]) {
      const second = await kms(node, 'KEY:STATUS', [{ name: 'versions', version: 2 }]);
      assert.equal(second.status, 200, second.error);
      const third = await kms(node, 'KEY:STATUS', [{ name: 'versions', version: 3 }]);
      assert.equal(third.status, 404, 'the retried add-version was applied twice');
    }
    // A new id is a new write: a third version.
    const another = await kms(a, 'KEY:CREATE', add, 'default', id());
    assert.equal(another.status, 200, another.error);
    const third = await kms(b, 'KEY:STATUS', [{ name: 'versions', version: 3 }]);
    assert.equal(third.status, 200, third.error);
  });

  it('an id reused for another write does not stand for it', async () => {
    const header = id();
    const one = await kms(
      a,
      'KEY:CREATE',
      [{ name: 'r1', type: '', addVersion: false }],
      'default',
      header,
    );
    assert.equal(one.status, 200, one.error);
    const two = await kms(
      b,
      'KEY:CREATE',
      [{ name: 'r2', type: '', addVersion: false }],
      'default',
      header,
    );
    assert.equal(two.status, 200, two.error);
    const status = await kms(a, 'KEY:STATUS', [{ name: 'r2', version: 0 }]);
    assert.equal(status.status, 200, 'the second write was taken for the first');
  });

  it('a malformed id is refused and nothing is written', async () => {
    const bad = { 'Keyhold-Request-Id': 'short' };
    const res = await kms(
      a,
      'KEY:CREATE',
      [{ name: 'bad-id', type: '', addVersion: false }],
      'default',
      bad,
    );
    assert.equal(res.status, 400);
    assert.match(res.error, /Keyhold-Request-Id|keyhold-request-id/i);
    const status = await kms(b, 'KEY:STATUS', [{ name: 'bad-id', version: 0 }]);
    assert.equal(status.status, 404);
  });
});

// Creating and joining a cluster on etcd, and what is refused: another HSM key, a prefix holding
// something that is not a Keyhold cluster, a record copied to another etcd key, single-node
// state that would be left behind. A single node's state is imported into an empty prefix, and a
// node restarted while etcd is down serves reads from its local copy.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { kms, startNode } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';
import { startServer, tempDir } from './helpers/server-process.ts';

const missing = etcdMissing();

const NONE = Buffer.alloc(0);
const OTHER_HSM_KEY = 'hsm:aes256:' + Buffer.alloc(32, 0x17).toString('base64');

/** Starting must fail: resolves with what the process printed. */
async function failedStart(start: () => Promise<unknown>): Promise<string> {
  try {
    await start();
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail('the node started');
}

describe('cluster bootstrap on etcd', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  let client: Etcd3;
  const running: ClusterNodeProcess[] = [];
  const temps: (() => void)[] = [];

  before(async () => {
    etcd = await startEtcd(1);
    client = new Etcd3({ hosts: etcd.endpoints });
  });

  after(async () => {
    for (const n of running) await n.server.kill();
    client.close();
    await etcd.stop();
    for (const remove of temps) remove();
  });

  function dir(): string {
    const t = tempDir();
    temps.push(t.remove);
    return t.dir;
  }

  it('a node with another HSM key cannot unseal the cluster and stops', async () => {
    const a = await startNode({ endpoints: etcd.endpoints, prefix: '/a/', dir: dir() });
    running.push(a);
    const output = await failedStart(() =>
      startNode({ endpoints: etcd.endpoints, prefix: '/a/', hsmKey: OTHER_HSM_KEY, dir: dir() }),
    );
    assert.match(output, /cannot unseal cluster .* created with another HSM key/);
  });

  it('a log record copied to another etcd key is refused by every node', async () => {
    const a = running[0]!;
    for (const op of ['create', 'delete', 'create'] as const) {
      const res =
        op === 'create'
          ? await kms(a, 'KEY:CREATE', [{ name: 'victim', type: '', addVersion: false }])
          : await kms(a, 'KEY:DELETE', [{ name: 'victim', version: 0, allVersions: true }]);
      assert.equal(res.status, 200, res.error);
    }
    // Replay the deletion (the log entry before the last) under a new log key.
    const log = await client.getAll().prefix('/a/log/').sort('Create', 'Ascend').exec();
    const deletion = log.kvs[log.kvs.length - 2]!;
    await client.put(`/a/log/${randomBytes(16).toString('hex')}`).value(deletion.value);
    // A node joining now reads the copy during catch-up; the running one sees it in its watch.
    const b = await startNode({ endpoints: etcd.endpoints, prefix: '/a/', dir: dir() });
    running.push(b);
    assert.match(b.server.output(), /refusing log entry .*not sealed for it/);
    for (let i = 0; i < 20 && !/refusing log entry/.test(a.server.output()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(a.server.output(), /refusing log entry .*not sealed for it/);
    const status = await kms(a, 'KEY:STATUS', [{ name: 'victim', version: 0 }]);
    assert.equal(status.status, 200, 'the replayed deletion took effect');
  });

  it('a prefix holding data that is not a Keyhold cluster is refused', async () => {
    await client.put('/c/something').value('else');
    const output = await failedStart(() =>
      startNode({ endpoints: etcd.endpoints, prefix: '/c/', dir: dir() }),
    );
    assert.match(output, /holds data that is not a Keyhold cluster/);
  });

  it("a single node's state is imported into an empty prefix; etcd down, it still serves reads", async () => {
    const d = dir();
    const single = await startServer({ dir: d, args: ['--workers', '0'] });
    const fake = { host: '', dir: d, server: single } as unknown as ClusterNodeProcess;
    const created = await kms(fake, 'KEY:CREATE', [
      { name: 'imported', type: '', addVersion: false },
    ]);
    assert.equal(created.status, 200, created.error);
    await single.stop();

    // Single-node state and an existing cluster: refused, nothing left behind silently.
    const refused = await failedStart(() =>
      startNode({ endpoints: etcd.endpoints, prefix: '/a/', dir: d }),
    );
    assert.match(refused, /holds a single node's state/);

    const node = await startNode({ endpoints: etcd.endpoints, prefix: '/d/', dir: d });
    const status = await kms(node, 'KEY:STATUS', [{ name: 'imported', version: 0 }]);
    assert.equal(status.status, 200, status.error);
    const written = await kms(node, 'KEY:CREATE', [{ name: 'later', type: '', addVersion: false }]);
    assert.equal(written.status, 200, written.error);

    await node.server.stop();
    for (const m of etcd.members) await m.kill();
    await node.restart();
    running.push(node);
    for (const name of ['imported', 'later']) {
      const res = await kms(node, 'KEY:GENERATE', [
        { name, version: 0, associatedData: NONE, length: 32 },
      ]);
      assert.equal(res.status, 200, res.error);
    }
    const offline = await kms(node, 'KEY:CREATE', [
      { name: 'offline', type: '', addVersion: false },
    ]);
    assert.equal(offline.status, 503);
    assert.match(offline.error, /etcd/);
  });
});

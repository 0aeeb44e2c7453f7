// Catching up from etcd (docs/cluster.md, "Catching up and compaction"): log keys are named by
// request ids, so etcd lists them in an order unrelated to their revisions, and a node catching
// up must apply them in revision order all the same. Pairs "create K, then delete K" whose log
// keys sort the other way round would leave K in place on a node that applied them in key order.
// Both ways a catch-up reads the log are covered: a node a few hundred revisions behind (one
// filtered read), and one more than LOG_PAGE (2,000) revisions behind, restarted or new (the log
// paged in key order).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startNode } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();
const PREFIX = '/catch-up/';
/** 2^-20: the chance that no pair's keys sort against its revisions. */
const PAIRS = 20;
/** The node's LOG_PAGE: a node further behind than this many revisions pages the log. */
const LOG_PAGE = 2000;

async function status(node: ClusterNodeProcess, name: string): Promise<number> {
  return (await kms(node, 'KEY:STATUS', [{ name, version: 0 }])).status;
}

describe('catching up from etcd', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  let client: Etcd3;
  const nodes: ClusterNodeProcess[] = [];
  const start = async (): Promise<ClusterNodeProcess> => {
    const node = await startNode({ endpoints: etcd.endpoints, prefix: PREFIX });
    nodes.push(node);
    return node;
  };
  const revision = async (): Promise<number> =>
    Number((await client.kv.range({ key: Buffer.from(PREFIX) })).header.revision);
  const names = Array.from({ length: PAIRS }, (_, i) => `pair-${i}`);

  before(async () => {
    etcd = await startEtcd(1);
    client = new Etcd3({ hosts: etcd.endpoints.split(',') });
  });

  after(async () => {
    for (const node of nodes) await node.server.kill();
    client.close();
    await etcd.stop();
  });

  it('applies the log in revision order, whatever order etcd lists the keys in', async () => {
    const [a, b, near, far] = [await start(), await start(), await start(), await start()];
    await addNode(a, b);
    // `near` and `far` caught up when they started (and follow the log without being members,
    // so writes do not wait for them); they miss every write below.
    await near.server.stop();
    await far.server.stop();
    const stopped = await revision();
    for (const name of names) {
      const created = await kms(a, 'KEY:CREATE', [{ name, type: '', addVersion: false }]);
      assert.equal(created.status, 200, created.error);
      const deleted = await kms(b, 'KEY:DELETE', [{ name, version: 0, allVersions: true }]);
      assert.equal(deleted.status, 200, deleted.error);
    }
    const last = await kms(a, 'KEY:CREATE', [{ name: 'last', type: '', addVersion: false }]);
    assert.equal(last.status, 200, last.error);

    // The pairs' log keys, in revision order: create, delete, create, delete…
    const end = Buffer.from(`${PREFIX}log/`);
    end[end.length - 1]!++;
    const log = (
      await client.kv.range({
        key: Buffer.from(`${PREFIX}log/`),
        range_end: end,
        min_create_revision: stopped + 1,
        keys_only: true,
      })
    ).kvs
      .map((kv) => ({ key: kv.key.toString(), revision: Number(kv.create_revision) }))
      .sort((x, y) => x.revision - y.revision);
    assert.equal(log.length, 2 * PAIRS + 1, 'one log entry per write');
    const inverted = names.filter((_, i) => log[2 * i]!.key > log[2 * i + 1]!.key);
    assert.ok(inverted.length > 0, 'some pair has its delete listed before its create');

    const check = async (node: ClusterNodeProcess, what: string): Promise<void> => {
      await addNode(a, node);
      assert.equal(await status(node, 'last'), 200, `${what}: caught up to the last write`);
      for (const name of inverted) {
        assert.equal(
          await status(node, name),
          404,
          `${what}: ${name} was deleted after its create`,
        );
      }
    };

    // A few hundred revisions behind: one read filtered by creation revision.
    assert.ok((await revision()) - stopped <= LOG_PAGE);
    await near.restart();
    await check(near, 'a node a few revisions behind');

    // More than LOG_PAGE revisions behind (revisions are etcd-wide: puts outside the prefix).
    for (let i = 0; i < LOG_PAGE + 100; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          client
            .put(`/elsewhere/${i + j}`)
            .value('x')
            .exec(),
        ),
      );
    }
    assert.ok((await revision()) - stopped > LOG_PAGE);
    await far.restart();
    await check(far, 'a node far behind');
    await check(await start(), 'a new node');
  });
});

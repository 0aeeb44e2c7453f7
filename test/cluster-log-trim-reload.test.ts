// After the log in etcd was trimmed (src/cluster/log-trim.ts, docs/cluster.md "Trimming the
// log"): a node that was away across a trim, and a new node, load the snapshot, then the log
// after it, and get the whole state; a snapshot chunk altered, or moved from another etcd key,
// is refused with an error naming the key.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMissing } from './helpers/etcd-process.ts';
import { addNode, kms, until } from './helpers/cluster-nodes.ts';
import { create, each, names, status, THRESHOLD, TrimCluster } from './helpers/trim-cluster.ts';

const missing = etcdMissing();

describe('loading the snapshot of a trimmed log', { skip: missing ?? false }, () => {
  let t: TrimCluster;

  before(async () => {
    t = await TrimCluster.start();
  });

  after(async () => {
    await t.stop();
  });

  it('brings a node that was away across a trim back from the snapshot', async () => {
    const { a, b } = t;
    const c = await t.node();
    await addNode(a, c);
    await create(a, ['before-away']);
    assert.equal(await status(c, 'before-away'), 200);
    await c.server.stop();
    const stopped = await t.revision();
    // The operator removes it (writes need every member), then the cluster moves on.
    const removed = await kms(a, 'CLUSTER:REMOVENODE', [
      { host: c.host, deleteClusterOnHost: false },
    ]);
    assert.equal(removed.status, 200, removed.error);
    const away = names('while-away', THRESHOLD + 2);
    await create(b, away);
    await each(a, 'KEY:DELETE', ['before-away']);
    await t.trimmedPast(stopped, await t.revision(), away.length + 1);
    await c.restart();
    assert.match(c.server.output(), /loading the snapshot at revision/);
    await addNode(a, c);
    for (const name of away) assert.equal(await status(c, name), 200, name);
    assert.equal(await status(c, 'before-away'), 404, 'a deletion trimmed from the log was lost');
  });

  it('refuses a snapshot chunk altered or moved in etcd; a new node joins from an intact one', async () => {
    const { a } = t;
    const start = await t.revision();
    const joined = names('join', THRESHOLD + 2);
    await create(a, joined);
    await t.trimmedPast(start, await t.revision(), joined.length);
    // No trim may replace the snapshot while it is altered: fewer entries than the threshold.
    await until(
      'fewer log entries than the threshold',
      async () => (await t.logEntries()) < THRESHOLD,
    );
    const chunks = await t.values('snap/');
    assert.equal(chunks.length, 1, 'one snapshot of one chunk');
    const { key, value: original } = chunks[0]!;
    const altered = Buffer.from(original);
    altered[altered.length - 20]! ^= 1;
    const moved = (await t.values('member/'))[0]!.value;
    for (const [what, value] of [
      ['altered', altered],
      ['moved', moved],
    ] as const) {
      await t.put(key, value);
      await assert.rejects(t.node(), (error: Error) => {
        assert.match(
          error.message,
          /cannot load the cluster's snapshot .*etcd key \/trim\/snap\/[0-9a-f]+\/000000 was not sealed for it by this cluster \(copied, moved or altered\): refused/,
          what,
        );
        return true;
      });
    }
    await t.put(key, original);
    const d = await t.node({ workers: 1 });
    await addNode(a, d);
    for (const name of joined) assert.equal(await status(d, name), 200, name);
    assert.equal(await status(d, 'while-away-0'), 200);
    assert.equal(await status(d, 'before-away'), 404);
  });
});

// The bounded-staleness mode (`--etcd-max-staleness`): a node that has not reached etcd for longer
// than its bound refuses reads with 503 and says why, while a node without the bound keeps
// answering from memory (the lone-survivor promise); both serve again once etcd answers.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startNode, until } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();

describe('cluster on etcd: bounded staleness', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  let lenient: ClusterNodeProcess;
  let strict: ClusterNodeProcess;

  before(async () => {
    etcd = await startEtcd(1);
    lenient = await startNode({ endpoints: etcd.endpoints });
    strict = await startNode({ endpoints: etcd.endpoints, args: ['--etcd-max-staleness', '3s'] });
    await addNode(lenient, strict);
    const created = await kms(lenient, 'KEY:CREATE', [{ name: 'k', type: '', addVersion: false }]);
    assert.equal(created.status, 200, created.error);
  });

  after(async () => {
    for (const m of etcd.members) m.resume();
    await lenient.server.kill();
    await strict.server.kill();
    await etcd.stop();
  });

  const status = (node: ClusterNodeProcess) => kms(node, 'KEY:STATUS', [{ name: 'k', version: 0 }]);

  it('both nodes answer while etcd answers', async () => {
    assert.equal((await status(lenient)).status, 200);
    assert.equal((await status(strict)).status, 200);
  });

  it('with etcd silent, the bounded node refuses reads and the other keeps serving', async () => {
    etcd.members[0]!.pause();
    try {
      let last = { status: 0, error: '' };
      await until(
        'the bounded node to refuse reads',
        async () => {
          last = await status(strict);
          return last.status === 503;
        },
        30_000,
      );
      assert.match(
        last.error,
        /has not reached etcd for [\d.]+ s, more than its --etcd-max-staleness of 3 s/,
      );
      const served = await status(lenient);
      assert.equal(served.status, 200, served.error);
    } finally {
      etcd.members[0]!.resume();
    }
    await until(
      'the bounded node to serve again',
      async () => (await status(strict)).status === 200,
      30_000,
    );
  });

  it('is refused without --etcd, and with a bad duration', () => {
    const cli = ['dist/cli/keyhold.js', 'server', '--dev', '/nonexistent-keyhold-dir'];
    const alone = spawnSync(process.execPath, [...cli, '--etcd-max-staleness', '3s'], {
      encoding: 'utf8',
    });
    assert.equal(alone.status, 2, alone.stderr);
    assert.match(alone.stderr, /--etcd-max-staleness needs a cluster \(--etcd\)/);
    const bad = spawnSync(
      process.execPath,
      [...cli, '--etcd', etcd.endpoints, '--etcd-max-staleness', 'soon'],
      { encoding: 'utf8' },
    );
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--etcd-max-staleness: invalid duration 'soon'/);
  });
});

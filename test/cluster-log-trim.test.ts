// Trimming the cluster's log in etcd (src/cluster/log-trim.ts, docs/cluster.md "Trimming the
// log"), against a real etcd and real nodes: etcd's keys and space stay bounded across many
// writes; a paused member holds the trim back; a request id is remembered for the trim interval
// and expires after it as documented. (Reloading from the snapshot: cluster-log-trim-reload.)

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { etcdMissing } from './helpers/etcd-process.ts';
import { kms, startNode, until } from './helpers/cluster-nodes.ts';
import { create, each, names, status, THRESHOLD, TrimCluster } from './helpers/trim-cluster.ts';

const missing = etcdMissing();

describe('trimming the log in etcd', { skip: missing ?? false }, () => {
  let t: TrimCluster;

  before(async () => {
    t = await TrimCluster.start();
  });

  after(async () => {
    await t.stop();
  });

  it("keeps etcd's keys and space bounded across many writes", async (ctx) => {
    const churn = names('churn', 12);
    const others: number[] = [];
    const log: number[] = [];
    const space: number[] = [];
    const rounds = 4;
    const first = await t.revision();
    for (let round = 0; round < rounds; round++) {
      const start = await t.revision();
      await create(round % 2 ? t.b : t.a, churn);
      await each(t.a, 'KEY:DELETE', churn);
      await t.trimmedPast(start, await t.revision(), 2 * churn.length);
      const entries = await t.logEntries();
      log.push(entries);
      others.push((await t.keys()) - entries);
      space.push(await t.inUse());
    }
    ctx.diagnostic(
      `log entries ${log.join(' ')}; other keys ${others.join(' ')}; bytes in use ${space.join(' ')}`,
    );
    // 96 writes went through the log. Left: at most the last round's entries and fewer than the
    // threshold before them; the cluster, member, applied, marker, trim and snapshot keys stay
    // the same; etcd's space in use does not grow with the writes.
    assert.ok(
      log.every((n) => n < 2 * churn.length + THRESHOLD),
      `log entries in etcd per round: ${log.join(', ')}`,
    );
    // (Within one: a trim under way at a measurement has written its chunk, not yet deleted the
    // previous snapshot's.)
    assert.ok(
      Math.max(...others) - Math.min(...others) <= 1,
      `other etcd keys per round: ${others.join(', ')}`,
    );
    // What bounds the space: etcd's history is compacted past the writes of the first round.
    assert.ok(await t.compactedPast(first), `etcd's history still holds revision ${first}`);
    // And as a gross check, the space itself. etcd's figure moves by whole 4 KiB pages between
    // about 40 and 100 KiB in runs where nothing grows (a first reading of 40 KiB, then 86 KiB,
    // failed a bound of twice the first reading): twice the first reading, but not below twice
    // 64 KiB.
    const floor = 64 * 1024;
    assert.ok(
      space[rounds - 1]! <= Math.max(space[0]!, floor) * 2,
      `etcd space in use per round: ${space.join(', ')}`,
    );
  });

  it('never trims a change a paused member has not applied', async () => {
    const { a, b } = t;
    const start = await t.revision();
    await create(a, names('applied', THRESHOLD + 2));
    const paused = await t.revision();
    b.pause();
    try {
      // Admitted while b still counts as alive: in the log, never applied by b.
      const held = names('held', THRESHOLD + 2);
      const writes = held.map((name) => create(a, [name]).catch(() => undefined));
      await until(
        'the held writes in etcd',
        async () => (await t.logEntries(paused)) >= held.length,
      );
      // What b applied before it paused is trimmed; what it has not is not.
      await t.trimmedPast(start, paused, THRESHOLD + 2);
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(
        (await t.logEntries(paused)) >= held.length,
        'a change b has not applied was trimmed',
      );
      await Promise.all(writes);
      b.resume();
      await until('b applied the held writes', async () => (await status(b, 'held-0')) === 200);
      await t.trimmedPast(paused, await t.revision(), held.length);
      for (const name of held) assert.equal(await status(b, name), 200, name);
    } finally {
      b.resume();
    }
  });

  it('answers a retry within the window as the first attempt, and as a new write after it', async () => {
    // A cluster of its own on the same etcd: one node, a window of 2 s (the retry below comes at
    // once, well inside it), trimming from one entry on.
    const node = await startNode({
      endpoints: t.etcd.endpoints,
      prefix: '/ids/',
      args: ['--etcd-trim-interval', '2s', '--etcd-trim-threshold', '1'],
      workers: 0,
    });
    t.nodes.push(node);
    const header = { 'Keyhold-Request-Id': randomBytes(16).toString('hex') };
    const request = [{ name: 'retried', type: '', addVersion: false }];
    const first = await kms(node, 'KEY:CREATE', request, 'default', header);
    assert.equal(first.status, 200, first.error);
    const written = await t.revision();
    const again = await kms(node, 'KEY:CREATE', request, 'default', header);
    assert.equal(again.status, 200, `a retry within the window: ${again.error}`);
    await until(
      'the write trimmed from the log',
      async () => (await t.logEntries(0, written, '/ids/')) === 0,
      30_000,
    );
    // Expired: the retry is a new write, refused as docs/cluster.md says.
    const late = await kms(node, 'KEY:CREATE', request, 'default', header);
    assert.equal(late.status, 409, late.error);
    assert.match(late.error, /already exists/);
  });
});

// Trimming the cluster's log in etcd (src/cluster/log-trim.ts, docs/cluster.md "Trimming the
// log"), against a real etcd and real nodes: etcd's keys and space stay bounded across many
// writes; a node that was away across a trim, and a new node, load the snapshot and get the
// whole state; a snapshot chunk altered or moved in etcd is refused; a paused member holds the
// trim back; a request id is remembered for the trim interval and expires after it as documented.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startNode, until } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();
const PREFIX = '/trim/';
const THRESHOLD = 10;
/** A pass every second, trimming from 10 old entries on. */
const TRIM = ['--etcd-trim-interval', '1s', '--etcd-trim-threshold', String(THRESHOLD)];

function range(prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  return { key: Buffer.from(prefix), range_end: end, ...extra };
}

describe('trimming the log in etcd', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  let client: Etcd3;
  let a: ClusterNodeProcess;
  let b: ClusterNodeProcess;
  const nodes: ClusterNodeProcess[] = [];

  /** Log entries created after `after` (exclusive) and at or below `upTo`. */
  async function logEntries(after = 0, upTo?: number): Promise<number> {
    // Keys, not etcd's count: the count ignores the creation-revision filters.
    const res = await client.kv.range(
      range(`${PREFIX}log/`, {
        keys_only: true,
        ...(after > 0 ? { min_create_revision: after + 1 } : {}),
        ...(upTo ? { max_create_revision: upTo } : {}),
      }),
    );
    return res.kvs.length;
  }

  async function keys(): Promise<number> {
    return Number((await client.kv.range(range(PREFIX, { count_only: true }))).count);
  }

  async function revision(): Promise<number> {
    return Number(
      (await client.kv.range({ key: Buffer.from(`${PREFIX}cluster`) })).header.revision,
    );
  }

  /** etcd's space in use (`dbSizeInUse`, through its JSON gateway). */
  async function inUse(): Promise<number> {
    const res = await fetch(`${etcd.members[0]!.clientUrl}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
    });
    const body = (await res.json()) as { dbSizeInUse?: string; dbSize?: string };
    return Number(body.dbSizeInUse ?? body.dbSize);
  }

  /**
   * Waits until a trim deleted one of the `count` log entries created after revision `from` (up
   * to `upTo`): a trim past `from`. (Entries fewer than the threshold may stay: no exact zero.)
   */
  async function trimmedPast(from: number, upTo: number, count: number): Promise<void> {
    await until(
      `a trim past revision ${from}`,
      async () => (await logEntries(from, upTo)) < count,
      30_000,
    );
  }

  /** One write per name (KEY:CREATE or KEY:DELETE), four at a time. */
  async function each(
    node: ClusterNodeProcess,
    op: 'KEY:CREATE' | 'KEY:DELETE',
    names: readonly string[],
  ): Promise<void> {
    for (let i = 0; i < names.length; i += 4) {
      await Promise.all(
        names.slice(i, i + 4).map(async (name) => {
          const res =
            op === 'KEY:CREATE'
              ? await kms(node, op, [{ name, type: '', addVersion: false }])
              : await kms(node, op, [{ name, version: 0, allVersions: true }]);
          assert.equal(res.status, 200, `${op} ${name}: ${res.error}`);
        }),
      );
    }
  }

  const create = (node: ClusterNodeProcess, names: readonly string[]): Promise<void> =>
    each(node, 'KEY:CREATE', names);

  async function status(node: ClusterNodeProcess, name: string): Promise<number> {
    return (await kms(node, 'KEY:STATUS', [{ name, version: 0 }])).status;
  }

  before(async () => {
    etcd = await startEtcd(1);
    client = new Etcd3({ hosts: etcd.endpoints.split(',') });
    const options = { endpoints: etcd.endpoints, prefix: PREFIX, args: TRIM, workers: 0 };
    a = await startNode(options);
    b = await startNode({ ...options, workers: 1 });
    nodes.push(a, b);
    await addNode(a, b);
  });

  after(async () => {
    if (process.env.TRIM_DEBUG)
      for (const node of nodes) process.stderr.write(`=== ${node.host}\n${node.server.output()}\n`);
    for (const node of nodes) await node.server.kill();
    client.close();
    await etcd.stop();
  });

  it("keeps etcd's keys and space bounded across many writes", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `churn-${i}`);
    const others: number[] = [];
    const log: number[] = [];
    const space: number[] = [];
    const rounds = 4;
    for (let round = 0; round < rounds; round++) {
      const start = await revision();
      await create(round % 2 ? b : a, names);
      await each(a, 'KEY:DELETE', names);
      await trimmedPast(start, await revision(), 2 * names.length);
      const entries = await logEntries();
      log.push(entries);
      others.push((await keys()) - entries);
      space.push(await inUse());
    }
    // 160 writes went through the log. Left: at most the last round's entries and fewer than
    // the threshold before them; the cluster, member, applied, marker, trim and snapshot keys
    // are the same after every round.
    assert.ok(
      log.every((n) => n < 2 * names.length + THRESHOLD),
      `log entries in etcd per round: ${log.join(', ')}`,
    );
    assert.ok(
      others.every((c) => c === others[0]),
      `other etcd keys per round: ${others.join(', ')}`,
    );
    assert.ok(
      space[rounds - 1]! <= space[0]! * 2,
      `etcd space in use per round: ${space.join(', ')}`,
    );
  });

  it('brings a node that was away across a trim back from the snapshot', async () => {
    const c = await startNode({
      endpoints: etcd.endpoints,
      prefix: PREFIX,
      args: TRIM,
      workers: 0,
    });
    nodes.push(c);
    await addNode(a, c);
    await create(a, ['before-away']);
    assert.equal(await status(c, 'before-away'), 200);
    await c.server.stop();
    const stopped = await revision();
    // The operator removes it (writes need every member), then the cluster moves on.
    const removed = await kms(a, 'CLUSTER:REMOVENODE', [
      { host: c.host, deleteClusterOnHost: false },
    ]);
    assert.equal(removed.status, 200, removed.error);
    const away = Array.from({ length: THRESHOLD + 2 }, (_, i) => `while-away-${i}`);
    await create(b, away);
    await each(a, 'KEY:DELETE', ['before-away']);
    await trimmedPast(stopped, await revision(), away.length + 1);
    await c.restart();
    assert.match(c.server.output(), /loading the snapshot at revision/);
    await addNode(a, c);
    for (const name of away) assert.equal(await status(c, name), 200, name);
    assert.equal(await status(c, 'before-away'), 404, 'a deletion trimmed from the log was lost');
  });

  it('refuses a snapshot chunk altered or moved in etcd, and a new node joins from an intact one', async () => {
    const start = await revision();
    await create(
      a,
      Array.from({ length: THRESHOLD + 2 }, (_, i) => `join-${i}`),
    );
    await trimmedPast(start, await revision(), THRESHOLD + 2);
    // No trim may replace the snapshot while it is altered: fewer entries than the threshold.
    await until(
      'fewer log entries than the threshold',
      async () => (await logEntries()) < THRESHOLD,
    );
    const chunks = await client.kv.range(range(`${PREFIX}snap/`));
    assert.equal(chunks.kvs.length, 1, 'one snapshot of one chunk');
    const key = chunks.kvs[0]!.key.toString();
    const original = Buffer.from(chunks.kvs[0]!.value);
    const member = (await client.kv.range(range(`${PREFIX}member/`))).kvs[0]!.value;
    const altered = Buffer.from(original);
    altered[altered.length - 20]! ^= 1;
    for (const [what, value] of [
      ['altered', altered],
      ['moved', Buffer.from(member)],
    ] as const) {
      await client.put(key).value(value).exec();
      await assert.rejects(
        startNode({ endpoints: etcd.endpoints, prefix: PREFIX, args: TRIM, workers: 0 }),
        (error: Error) => {
          assert.match(
            error.message,
            /cannot load the cluster's snapshot .*etcd key \/trim\/snap\/[0-9a-f]+\/000000 was not sealed for it by this cluster \(copied, moved or altered\): refused/,
            what,
          );
          return true;
        },
      );
    }
    await client.put(key).value(original).exec();
    const d = await startNode({
      endpoints: etcd.endpoints,
      prefix: PREFIX,
      args: TRIM,
      workers: 1,
    });
    nodes.push(d);
    await addNode(a, d);
    for (let i = 0; i < THRESHOLD + 2; i++) assert.equal(await status(d, `join-${i}`), 200);
    assert.equal(await status(d, 'while-away-0'), 200);
    assert.equal(await status(d, 'churn-0'), 404);
  });

  it('never trims a change a paused member has not applied', async () => {
    // Only a and b are members from here on (c and d go: writes need every member).
    for (const node of nodes.slice(2)) {
      const res = await kms(a, 'CLUSTER:REMOVENODE', [
        { host: node.host, deleteClusterOnHost: false },
      ]);
      assert.equal(res.status, 200, res.error);
      await node.server.kill();
    }
    nodes.splice(2);
    const start = await revision();
    await create(
      a,
      Array.from({ length: THRESHOLD + 2 }, (_, i) => `applied-${i}`),
    );
    const paused = await revision();
    b.pause();
    try {
      // Admitted while b still counts as alive: in the log, never applied by b.
      const held = Array.from({ length: THRESHOLD + 2 }, (_, i) => `held-${i}`);
      const writes = held.map((name) => create(a, [name]).catch(() => undefined));
      await until('the held writes in etcd', async () => (await logEntries(paused)) >= held.length);
      // What b applied before it paused is trimmed; what it has not is not.
      await trimmedPast(start, paused, THRESHOLD + 2);
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(
        (await logEntries(paused)) >= held.length,
        'a change b has not applied was trimmed',
      );
      await Promise.all(writes);
      b.resume();
      await until('b applied the held writes', async () => (await status(b, 'held-0')) === 200);
      await trimmedPast(paused, await revision(), held.length);
      for (const name of held) assert.equal(await status(b, name), 200, name);
    } finally {
      b.resume();
    }
  });

  it('answers a retry within the window as the first attempt, and as a new write after it', async () => {
    // A cluster of its own on the same etcd: one node, a window of 3 s (the retry below comes
    // at once, well inside it), trimming from one entry on.
    const node = await startNode({
      endpoints: etcd.endpoints,
      prefix: '/ids/',
      args: ['--etcd-trim-interval', '3s', '--etcd-trim-threshold', '1'],
      workers: 0,
    });
    nodes.push(node);
    const header = { 'Keyhold-Request-Id': randomBytes(16).toString('hex') };
    const create = [{ name: 'retried', type: '', addVersion: false }];
    const first = await kms(node, 'KEY:CREATE', create, 'default', header);
    assert.equal(first.status, 200, first.error);
    const written = Number(
      (await client.kv.range({ key: Buffer.from('/ids/cluster') })).header.revision,
    );
    const again = await kms(node, 'KEY:CREATE', create, 'default', header);
    assert.equal(again.status, 200, `a retry within the window: ${again.error}`);
    await until(
      'the write trimmed from the log',
      async () =>
        Number(
          (
            await client.kv.range({
              key: Buffer.from('/ids/log/'),
              range_end: Buffer.from('/ids/log0'),
              max_create_revision: written,
              keys_only: true,
            })
          ).kvs.length,
        ) === 0,
      30_000,
    );
    // Expired: the retry is a new write, refused as docs/cluster.md says.
    const late = await kms(node, 'KEY:CREATE', create, 'default', header);
    assert.equal(late.status, 409, late.error);
    assert.match(late.error, /already exists/);
  });
});

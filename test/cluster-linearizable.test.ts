// Linearizability of a 3-node cluster as clients see it: concurrent clients on every node create,
// delete, look up, generate with and decrypt under a few keys while an etcd member is paused and
// resumed; the recorded history (call and return times, outcomes) is checked against the key
// store's sequential model with our Wing–Gong–Lowe checker (test/lincheck/). The seed is printed
// and KEYHOLD_FAULT_SEED replays the same operations.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { checkLinearizable } from './lincheck/checker.ts';
import type { Operation } from './lincheck/checker.ts';
import { keyStoreModel } from './lincheck/key-store-model.ts';
import type { KeyStoreInput, KeyStoreOutput } from './lincheck/key-store-model.ts';
import { etcdMissing, startEtcd } from './helpers/etcd-process.ts';
import type { EtcdCluster } from './helpers/etcd-process.ts';
import { addNode, kms, startMembers, startNode } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';
import { Prng } from './helpers/prng.ts';
import { Link, TcpProxy } from './helpers/tcp-proxy.ts';

const missing = etcdMissing();
const KEYS = ['a', 'b'];
const CLIENTS_PER_NODE = 2;
const OPS_PER_CLIENT = 25;
const AD = Buffer.from('bucket/object');

type Op = Operation<KeyStoreInput, KeyStoreOutput>;

/** A ciphertext a client saw sealed, for later decrypts (by any client). */
interface Sealed {
  readonly id: number;
  readonly key: string;
  readonly version: number;
  readonly ciphertext: Buffer;
}

/**
 * Runs CLIENTS_PER_NODE clients on every node while `fault` runs (it says what it did), then
 * checks the history for linearizability.
 */
async function checkHistory(
  t: TestContext,
  nodes: readonly ClusterNodeProcess[],
  prng: Prng,
  fault: () => Promise<string>,
): Promise<void> {
  const history: Op[] = [];
  const sealed: Sealed[] = [];
  let nextId = 1;

  const run = async (
    client: number,
    input: KeyStoreInput,
    send: () => Promise<{ status: number; error: string }>,
    outcome: (res: { status: number; error: string }) => KeyStoreOutput['kind'] | null,
  ): Promise<void> => {
    const call = performance.now();
    let kind: KeyStoreOutput['kind'] = 'unknown';
    let ret = Infinity;
    try {
      const res = await send();
      const decided = outcome(res);
      if (decided !== null) {
        kind = decided;
        ret = performance.now();
      }
    } catch {
      // A lost connection: the operation may or may not have taken effect.
    }
    history.push({ client, input, output: { kind }, call, return: ret });
  };

  const common = (res: { status: number; error: string }): KeyStoreOutput['kind'] | null =>
    res.status === 200 ? 'ok' : res.status === 404 ? 'not-found' : null;

  const client = async (id: number, node: ClusterNodeProcess, choose: Prng): Promise<void> => {
    for (let i = 0; i < OPS_PER_CLIENT; i++) {
      const key = KEYS[choose.int(KEYS.length)]!;
      const roll = choose.int(10);
      if (roll < 2) {
        await run(
          id,
          { op: 'create', key },
          () => kms(node, 'KEY:CREATE', [{ name: key, type: '', addVersion: false }]),
          (res) => (res.status === 409 ? 'exists' : common(res)),
        );
      } else if (roll < 3) {
        await run(
          id,
          { op: 'delete', key },
          () => kms(node, 'KEY:DELETE', [{ name: key, version: 0, allVersions: true }]),
          common,
        );
      } else if (roll < 5) {
        await run(
          id,
          { op: 'status', key },
          () => kms(node, 'KEY:STATUS', [{ name: key, version: 0 }]),
          common,
        );
      } else if (roll < 8) {
        const sealId = nextId++;
        await run(
          id,
          { op: 'generate', key, id: sealId },
          async () => {
            const res = await kms(node, 'KEY:GENERATE', [
              { name: key, version: 0, associatedData: AD, length: 32 },
            ]);
            const answer = res.responses[0];
            if (res.status === 200 && answer) {
              sealed.push({
                id: sealId,
                key,
                version: answer.version,
                ciphertext: answer.ciphertext,
              });
            }
            return res;
          },
          common,
        );
      } else {
        const mine = sealed.filter((s) => s.key === key);
        if (mine.length === 0) continue;
        const s = mine[choose.int(mine.length)]!;
        await run(
          id,
          { op: 'decrypt', key, sealedBy: s.id },
          () =>
            kms(node, 'KEY:DECRYPT', [
              { name: key, version: s.version, ciphertext: s.ciphertext, associatedData: AD },
            ]),
          (res) => (res.status === 400 ? 'not-authentic' : common(res)),
        );
      }
    }
  };

  const clients = nodes.flatMap((node, n) =>
    Array.from({ length: CLIENTS_PER_NODE }, (_, c) => {
      const id = n * CLIENTS_PER_NODE + c;
      return client(id, node, new Prng((prng.seed + id * 7919) >>> 0));
    }),
  );
  const [, what] = await Promise.all([Promise.all(clients), fault()]);

  const decided = history.filter((op) => op.output.kind !== 'unknown').length;
  t.diagnostic(`${history.length} operations (${decided} with a definite answer); ${what}`);
  assert.ok(decided > history.length / 2, 'most operations must get a definite answer');
  const verdict = checkLinearizable(keyStoreModel, history, { timeoutMs: 60_000 });
  assert.ok(!('unknown' in verdict), 'the checker ran out of time');
  if (!verdict.ok) assert.fail(`not linearizable:\n${verdict.explanation}`);
}

describe('cluster on etcd: linearizable histories', { skip: missing ?? false }, () => {
  let etcd: EtcdCluster;
  const nodes: ClusterNodeProcess[] = [];

  before(async () => {
    etcd = await startEtcd(3);
    nodes.push(...(await startMembers(etcd.endpoints)));
  });

  after(async () => {
    for (const m of etcd.members) m.resume();
    for (const n of nodes) await n.server.kill();
    await etcd.stop();
  });

  it('concurrent clients on every node, an etcd member paused mid-run', async (t) => {
    const prng = Prng.fromEnv();
    t.diagnostic(`seed ${prng.seed} (replay: KEYHOLD_FAULT_SEED=${prng.seed})`);
    const member = prng.int(etcd.members.length);
    await checkHistory(t, nodes, prng, async () => {
      await new Promise((r) => setTimeout(r, 300 + prng.int(700)));
      etcd.members[member]!.pause();
      await new Promise((r) => setTimeout(r, 1500));
      etcd.members[member]!.resume();
      return `etcd member ${member + 1} paused for 1.5 s`;
    });
  });
});

describe(
  'cluster on etcd: linearizable histories across a cut Keyhold↔etcd link',
  { skip: missing ?? false },
  () => {
    let etcd: EtcdCluster;
    const nodes: ClusterNodeProcess[] = [];
    /** Each node's link to etcd: one TCP proxy per etcd member, all through this link. */
    const links: Link[] = [];
    const proxies: TcpProxy[] = [];

    before(async () => {
      etcd = await startEtcd(3);
      for (let i = 0; i < 3; i++) {
        const link = new Link(`node${i + 1}→etcd`);
        links.push(link);
        const endpoints: string[] = [];
        for (const m of etcd.members) {
          const proxy = await TcpProxy.start(Number(new URL(m.clientUrl).port), link);
          proxies.push(proxy);
          endpoints.push(`http://${proxy.address}`);
        }
        nodes.push(await startNode({ endpoints: endpoints.join(',') }));
      }
      for (const node of nodes.slice(1)) await addNode(nodes[0]!, node);
    });

    after(async () => {
      for (const link of links) link.heal();
      for (const n of nodes) await n.server.kill();
      for (const p of proxies) await p.close();
      await etcd.stop();
    });

    it('concurrent clients on every node, one node cut from etcd mid-run', async (t) => {
      const prng = Prng.fromEnv();
      t.diagnostic(`seed ${prng.seed} (replay: KEYHOLD_FAULT_SEED=${prng.seed})`);
      const victim = prng.int(links.length);
      const how = prng.int(2) === 0 ? 'refuse' : 'blackhole';
      await checkHistory(t, nodes, prng, async () => {
        await new Promise((r) => setTimeout(r, 300 + prng.int(700)));
        links[victim]!.cut(how);
        await new Promise((r) => setTimeout(r, 2000));
        links[victim]!.heal();
        return `node ${victim + 1}'s link to etcd cut (${how}) for 2 s`;
      });
      assert.ok(links[victim]!.accepted > 0, 'the node never reached etcd through its link');
    });
  },
);

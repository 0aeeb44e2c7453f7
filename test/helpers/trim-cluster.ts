// For the log-trimming tests: a cluster of two nodes on a private etcd with a short trim interval,
// what the test sees of the log in etcd (entries by creation revision, keys, space in use), and
// waiting for a trim. See test/cluster-log-trim*.test.ts.

import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { startEtcd } from './etcd-process.ts';
import type { EtcdCluster } from './etcd-process.ts';
import { addNode, kms, startNode, until } from './cluster-nodes.ts';
import type { ClusterNodeProcess, NodeOptions } from './cluster-nodes.ts';

export const THRESHOLD = 10;
/** A pass every second, trimming from THRESHOLD old entries on. */
export const TRIM_ARGS = ['--etcd-trim-interval', '1s', '--etcd-trim-threshold', String(THRESHOLD)];

function range(prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  return { key: Buffer.from(prefix), range_end: end, ...extra };
}

export class TrimCluster {
  readonly etcd: EtcdCluster;
  readonly client: Etcd3;
  readonly prefix: string;
  /** Every node started (killed by `stop`); the first two are members a and b. */
  readonly nodes: ClusterNodeProcess[] = [];

  private constructor(etcd: EtcdCluster, prefix: string) {
    this.etcd = etcd;
    this.prefix = prefix;
    this.client = new Etcd3({ hosts: etcd.endpoints.split(',') });
  }

  /** etcd, node a (no workers) and node b (one worker), both members. */
  static async start(prefix = '/trim/'): Promise<TrimCluster> {
    const cluster = new TrimCluster(await startEtcd(1), prefix);
    const a = await cluster.node({ workers: 0 });
    const b = await cluster.node({ workers: 1 });
    await addNode(a, b);
    return cluster;
  }

  get a(): ClusterNodeProcess {
    return this.nodes[0]!;
  }
  get b(): ClusterNodeProcess {
    return this.nodes[1]!;
  }

  /** Starts another node of this cluster (not a member until added). */
  async node(options: Partial<NodeOptions> = {}): Promise<ClusterNodeProcess> {
    const node = await startNode({
      endpoints: this.etcd.endpoints,
      prefix: this.prefix,
      args: TRIM_ARGS,
      workers: 0,
      ...options,
    });
    this.nodes.push(node);
    return node;
  }

  async stop(): Promise<void> {
    if (process.env.KEYHOLD_TRIM_DEBUG === '1') {
      for (const n of this.nodes) process.stderr.write(`=== ${n.host}\n${n.server.output()}\n`);
    }
    for (const node of this.nodes) await node.server.kill();
    this.client.close();
    await this.etcd.stop();
  }

  /** Log entries of `prefix` created after `after` (exclusive) and at or below `upTo`. */
  async logEntries(after = 0, upTo?: number, prefix = this.prefix): Promise<number> {
    // Keys, not etcd's count: the count ignores the creation-revision filters.
    const res = await this.client.kv.range(
      range(`${prefix}log/`, {
        keys_only: true,
        ...(after > 0 ? { min_create_revision: after + 1 } : {}),
        ...(upTo ? { max_create_revision: upTo } : {}),
      }),
    );
    return res.kvs.length;
  }

  /** Every key under the prefix. */
  async keys(): Promise<number> {
    return Number((await this.client.kv.range(range(this.prefix, { count_only: true }))).count);
  }

  /** The values under `P sub` (e.g. `snap/`). */
  async values(sub: string): Promise<{ key: string; value: Buffer }[]> {
    const res = await this.client.kv.range(range(this.prefix + sub));
    return res.kvs.map((kv) => ({ key: kv.key.toString(), value: Buffer.from(kv.value) }));
  }

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.put(key).value(value).exec();
  }

  /** etcd's current revision. */
  async revision(): Promise<number> {
    return Number((await this.client.kv.range({ key: Buffer.from(this.prefix) })).header.revision);
  }

  /** Whether etcd has compacted its history past `revision` (a read at it is refused). */
  async compactedPast(revision: number): Promise<boolean> {
    try {
      await this.client.kv.range({ key: Buffer.from(this.prefix), revision });
      return false;
    } catch (error) {
      if (/compacted/i.test(String(error))) return true;
      throw error;
    }
  }

  /** etcd's space in use (`dbSizeInUse`, through its JSON gateway). */
  async inUse(): Promise<number> {
    const res = await fetch(`${this.etcd.members[0]!.clientUrl}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
    });
    const body = (await res.json()) as { dbSizeInUse?: string; dbSize?: string };
    return Number(body.dbSizeInUse ?? body.dbSize);
  }

  /**
   * Waits until a trim deleted one of the `count` log entries created after revision `from` (up
   * to `upTo`): a trim past `from`. (Fewer entries than the threshold may stay: no exact zero.)
   */
  async trimmedPast(from: number, upTo: number, count: number): Promise<void> {
    await until(
      `a trim past revision ${from}`,
      async () => (await this.logEntries(from, upTo)) < count,
      30_000,
    );
  }
}

/** One write per name (KEY:CREATE or KEY:DELETE), four at a time; each must succeed. */
export async function each(
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

export function create(node: ClusterNodeProcess, names: readonly string[]): Promise<void> {
  return each(node, 'KEY:CREATE', names);
}

/** KEY:STATUS of `name`: its HTTP status. */
export async function status(node: ClusterNodeProcess, name: string): Promise<number> {
  return (await kms(node, 'KEY:STATUS', [{ name, version: 0 }])).status;
}

/** `count` names `stem-0` … */
export function names(stem: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${stem}-${i}`);
}

// Keyhold cluster nodes for the cluster engine's tests: real `keyhold server --etcd` processes on
// fixed loopback ports (so a restarted node keeps its host), and a KMS request helper.

import { execFileSync } from 'node:child_process';
import type { KmsCommandName, RequestOf, ResponseOf } from '../../src/protocol/kms/index.ts';
import { decodeKmsResponse, encodeKmsRequest } from '../../src/protocol/kms/index.ts';
import { rawRequest } from './raw-https.ts';
import { freePort } from './etcd-process.ts';
import { ServerExit, startServer, tempDir } from './server-process.ts';
import type { ServerProcess } from './server-process.ts';

export interface ClusterNodeProcess {
  readonly host: string;
  readonly dir: string;
  server: ServerProcess;
  /** Starts it again with the same DIR and port (and `args`, if given, in place of its own). */
  restart(args?: readonly string[]): Promise<void>;
  pause(): void;
  resume(): void;
}

export interface NodeOptions {
  readonly endpoints: string;
  readonly prefix?: string;
  readonly hsmKey?: string;
  readonly dir?: string;
  /** More `keyhold server` arguments. */
  readonly args?: readonly string[];
  /**
   * Worker processes (`--workers`); default `KEYHOLD_CLUSTER_WORKERS` or 0, so that every cluster
   * suite can be run against nodes with workers too.
   */
  readonly workers?: number;
  /** Milliseconds to wait for it to start (startServer's default: 60 s). */
  readonly timeout?: number;
}

/** The worker processes of a node (the children of its primary). */
export function workerPids(node: ClusterNodeProcess): number[] {
  const pid = node.server.child.pid;
  if (pid === undefined) return [];
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
}

/** Sends `signal` to the node's primary and every worker (a frozen or thawed machine). */
function signalAll(node: ClusterNodeProcess, signal: NodeJS.Signals): void {
  const workers = workerPids(node);
  node.server.child.kill(signal);
  for (const pid of workers) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * Starts a node on a free fixed port; `restart` starts it again with the same DIR and port. The
 * port is free when chosen but not held: if another test file's process takes it before the node
 * listens (EADDRINUSE), the first start tries another one.
 */
export async function startNode(options: NodeOptions): Promise<ClusterNodeProcess> {
  const dir = options.dir ?? tempDir().dir;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const args = [
      '--etcd',
      options.endpoints,
      '--workers',
      String(options.workers ?? Number(process.env.KEYHOLD_CLUSTER_WORKERS ?? '0')),
      '--address',
      host,
      '--host',
      host,
      ...(options.prefix ? ['--etcd-prefix', options.prefix] : []),
    ];
    const launch = (more: readonly string[] = options.args ?? []): Promise<ServerProcess> =>
      startServer({
        dir,
        args: [...args, ...more],
        ...(options.hsmKey ? { hsmKey: options.hsmKey } : {}),
        ...(options.timeout ? { timeout: options.timeout } : {}),
      });
    let server: ServerProcess;
    try {
      server = await launch();
    } catch (error) {
      if (attempt < 5 && error instanceof ServerExit && error.output.includes('EADDRINUSE')) {
        continue;
      }
      throw error;
    }
    const node: ClusterNodeProcess = {
      host,
      dir,
      server,
      restart: async (more) => {
        node.server = await launch(more);
      },
      pause: () => signalAll(node, 'SIGSTOP'),
      resume: () => signalAll(node, 'SIGCONT'),
    };
    return node;
  }
}

export interface KmsAnswer<N extends KmsCommandName> {
  readonly status: number;
  /** The error text of a refused request ('' on success). */
  readonly error: string;
  readonly responses: ResponseOf<N>[];
}

/** Sends one KMS command (root API key) to a node. */
export async function kms<N extends KmsCommandName>(
  node: ClusterNodeProcess,
  name: N,
  requests: RequestOf<N>[],
  enclave = 'default',
  headers: Record<string, string> = {},
): Promise<KmsAnswer<N>> {
  const body = encodeKmsRequest(name, requests);
  const path = name.startsWith('CLUSTER:') ? '/v1/kms' : `/v1/kms/${enclave}`;
  const res = await rawRequest(
    node.server.endpoint,
    node.server.rootApiKey,
    'POST',
    path,
    body,
    headers,
  );
  if (res.status !== 200) {
    return { status: res.status, error: res.body.toString('utf8'), responses: [] };
  }
  return { status: 200, error: '', responses: decodeKmsResponse(name, res.body) };
}

/**
 * Polls `probe` every 100 ms until it returns true (or throws after `ms`, naming `what`, which may
 * be a function for what the probe saw last).
 */
export async function until(
  what: string | (() => string),
  probe: () => Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Adds `node` through `via` (retrying while `via` has not yet seen it running). */
export async function addNode(via: ClusterNodeProcess, node: ClusterNodeProcess): Promise<void> {
  let last = '';
  await until(
    () => `adding ${node.host}: ${last}`,
    async () => {
      const res = await kms(via, 'CLUSTER:ADDNODE', [{ host: node.host }]);
      last = res.error;
      return res.status === 200;
    },
  );
}

export async function writable(node: ClusterNodeProcess): Promise<boolean> {
  const res = await rawRequest(
    node.server.endpoint,
    node.server.rootApiKey,
    'GET',
    '/v1/health/ready?write',
  );
  return res.status === 200;
}

export async function readable(node: ClusterNodeProcess): Promise<boolean> {
  const res = await rawRequest(
    node.server.endpoint,
    node.server.rootApiKey,
    'GET',
    '/v1/health/ready',
  );
  return res.status === 200;
}

/** Starts `count` nodes on `endpoints` and makes the later ones members through the first. */
export async function startMembers(endpoints: string, count = 3): Promise<ClusterNodeProcess[]> {
  const nodes: ClusterNodeProcess[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startNode({ endpoints }));
  for (const node of nodes.slice(1)) await addNode(nodes[0]!, node);
  return nodes;
}

// The cluster commands of the CLI and SDK against real single-node servers (no etcd): `ls` and
// `stat` show the one node as MinIO KMS's single node does; `add-node` / `rm-node` are refused with
// a clear 409; only a SysAdmin may run them. And the CLI's failover: with several servers given,
// a killed one is skipped.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KmsApiError } from '../src/sdk/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { CLI, startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let server: ServerProcess;

before(async () => {
  server = await startServer({ args: ['--workers', '0'] });
});
after(async () => {
  await server.stop();
});

/** Runs the CLI as root against `servers` (default: the test server), without KMS settings of the machine. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(KEYHOLD|MINIO_KMS)_/.test(name)) clean[name] = value;
  }
  const full = {
    ...clean,
    KEYHOLD_SERVER: server.endpoint,
    KEYHOLD_API_KEY: server.rootApiKey,
    ...env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: full });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${String(run.code)}: ${run.stderr}`);
  return run;
}

/** Exit 1 with one line on stderr matching `message`. */
function fails(run: Run, message: RegExp): void {
  assert.equal(run.code, 1, `expected exit 1, got ${String(run.code)}: ${run.stdout}${run.stderr}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, message);
}

describe('cluster commands on a single node without etcd', () => {
  it('ls --json: one node, id 0, this server, its own leader, up', async () => {
    const nodes = JSON.parse(ok(await cli(['ls', '-k', '--json'])).stdout) as unknown;
    assert.deepEqual(nodes, [{ id: 0, host: server.endpoint, role: 'Leader', up: true }]);
  });

  it('stat --json: the node knows itself as the only member and leader, no heartbeats', async () => {
    const [node, ...rest] = JSON.parse(ok(await cli(['stat', '-k', '--json'])).stdout) as Record<
      string,
      unknown
    >[];
    assert.equal(rest.length, 0);
    assert.equal(node!['host'], server.endpoint);
    assert.equal(node!['role'], 'Leader');
    assert.equal(node!['leader_id'], 0);
    assert.deepEqual(node!['nodes'], { '0': server.endpoint });
    assert.equal(node!['last_heartbeat_seconds'], 0);
    assert.equal(node!['heartbeat_interval_seconds'], 0);
    assert.deepEqual(node!['hsms'], ['hsm:keyhold:soft']);
    const text = ok(await cli(['stat', '-k'])).stdout;
    assert.match(text, /^Node: +0 \(127\.0\.0\.1:\d+\)$/m);
    assert.doesNotMatch(text, /^Heartbeat:/m);
  });

  it('add-node is refused with 409 and what to do instead', async () => {
    fails(
      await cli(['add-node', '127.0.0.1:1', '-k']),
      /^keyhold: .*cannot add 127\.0\.0\.1:1: this node runs alone, without etcd; a cluster needs every node started with --etcd/,
    );
    const root = clientFor(server.endpoint, server.rootApiKey);
    try {
      const error = await root.addNode('node2.example.net').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof KmsApiError, String(error));
      assert.equal(error.status, 409);
      assert.match(error.message, /cannot add node2\.example\.net:7373: this node runs alone/);
    } finally {
      root.close();
    }
  });

  it('rm-node is refused with 409, for this node and for any other', async () => {
    fails(
      await cli(['rm-node', server.endpoint, '-k']),
      /cannot remove 127\.0\.0\.1:\d+: it is this node, which runs alone, without etcd/,
    );
    fails(
      await cli(['rm-node', 'node2.example.net', '-k']),
      /cannot remove node2\.example\.net:7373: it is not a member; this node runs alone, without etcd/,
    );
  });

  it('a bad HOST is a usage error before anything is sent', async () => {
    const run = await cli(['add-node', 'http://node2:7373', '-k']);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /only reachable over https.*See 'keyhold add-node --help'/);
    assert.equal((await cli(['rm-node', '-k'])).code, 2);
  });

  it('only a SysAdmin may add or remove nodes', async () => {
    const admin = ApiKey.generate();
    ok(await cli(['add-identity', admin.identity.toH1(), '--admin', '-k']));
    const env = { KEYHOLD_API_KEY: admin.toK1() };
    fails(await cli(['add-node', 'node2', '-k'], env), /access denied: insufficient permissions/);
    fails(await cli(['rm-node', 'node2', '-k'], env), /access denied: insufficient permissions/);
    fails(await cli(['ls', '-k'], env), /access denied: insufficient permissions/);
  });

  it('--help of rm-node says what happens when the node is not actually dead', async () => {
    const help = ok(await cli(['rm-node', '--help'])).stdout;
    assert.match(help, /^Usage: keyhold rm-node HOST\[:PORT\]/);
    assert.match(help, /your statement that it is dead/);
    assert.match(help, /If it is in fact still\s+running/);
    assert.match(help, /still honoured there/);
    assert.match(help, /stops serving: every request\s+gets 503/);
    const addHelp = ok(await cli(['add-node', '--help'])).stdout;
    assert.match(addHelp, /same etcd endpoints and prefix/);
    const overview = ok(await cli(['--help'])).stdout;
    assert.match(overview, /^ {2}add-node +Add a node to the cluster$/m);
    assert.match(overview, /^ {2}rm-node +Remove a node from the cluster$/m);
  });
});

describe('CLI failover between servers', () => {
  it('with two servers given, commands keep working when one is killed', async () => {
    const second = await startServer({ args: ['--workers', '0'] });
    const both = `${second.endpoint},${server.endpoint}`;
    try {
      // Both answer first (the same HSM key: the same root API key).
      assert.equal(second.rootApiKey, server.rootApiKey);
      for (const one of [second.endpoint, server.endpoint]) {
        const [node] = JSON.parse(ok(await cli(['ls', '-k', '--json', '-s', one])).stdout) as {
          host: string;
        }[];
        assert.equal(node!.host, one);
      }
      await second.kill();
      for (let i = 0; i < 6; i++) {
        const viaEnv = JSON.parse(
          ok(await cli(['ls', '-k', '--json'], { KEYHOLD_SERVER: both })).stdout,
        ) as { host: string }[];
        assert.deepEqual(
          viaEnv.map((n) => n.host),
          [server.endpoint],
        );
      }
      // -s with commas too, and a write (never reached the dead server, so it is safe to retry).
      ok(await cli(['add-key', `failover-${process.pid}`, '-k', '-s', both]));
      const keys = ok(await cli(['ls-key', '-k', '-s', both, '--json'])).stdout;
      assert.match(keys, new RegExp(`failover-${process.pid}`));
    } finally {
      await second.kill();
    }
  });

  it('when every server is down the error names each of them', async () => {
    const dead = await startServer({ args: ['--workers', '0'] });
    await dead.kill();
    const run = await cli(['ls', '-k', '-s', `${dead.endpoint},127.0.0.1:1`]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(dead.endpoint.replace(/\./g, '\\.')));
    assert.match(run.stderr, /127\.0\.0\.1:1/);
  });
});

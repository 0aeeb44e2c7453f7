// A private etcd launcher for the cluster engine's tests: N etcd members on 127.0.0.1 (free
// ports found by binding port 0), each a real `etcd` process with its own data directory. When
// etcd is not installed, `etcdMissing()` says so in one line (and KEYHOLD_REQUIRE_ETCD=1 makes
// that a failure instead of a skip).

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killGroupAtExit, OWN_GROUP } from './own-process-group.ts';

const ETCD = process.env.KEYHOLD_ETCD_BIN ?? 'etcd';

/** Null when etcd runs here; otherwise the reason, for one loud skip line. */
export function etcdMissing(): string | null {
  const probe = spawnSync(ETCD, ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return null;
  const message = `SKIP: etcd not installed — apt-get install etcd-server (looked for '${ETCD}')`;
  if (process.env.KEYHOLD_REQUIRE_ETCD === '1') {
    throw new Error(`${message}, and KEYHOLD_REQUIRE_ETCD=1 requires it`);
  }
  return message;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  child: ChildProcess;
  output: string;
  start(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every client URL, comma-separated (what `--etcd` takes). */
  readonly endpoints: string;
  stop(): Promise<void>;
}

/** Starts `n` etcd members forming one cluster and resolves once it answers. */
export async function startEtcd(n = 1): Promise<EtcdCluster> {
  // Ports are found free, released, then given to etcd: another process of the test run may
  // take one in between, and etcd exits with "address already in use". Then the cluster starts
  // again on other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(n);
    } catch (error) {
      const taken = error instanceof Error && error.message.includes('address already in use');
      if (!taken || attempt >= 3) throw error;
    }
  }
}

async function startEtcdOnce(n: number): Promise<EtcdCluster> {
  const base = mkdtempSync(join(tmpdir(), 'keyhold-etcd-'));
  const specs: { name: string; client: number; peer: number }[] = [];
  for (let i = 1; i <= n; i++) {
    specs.push({ name: `n${i}`, client: await freePort(), peer: await freePort() });
  }
  const initial = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const members = specs.map((s): EtcdMember => {
    const clientUrl = `http://127.0.0.1:${s.client}`;
    const member: EtcdMember = {
      name: s.name,
      clientUrl,
      child: null as unknown as ChildProcess,
      output: '',
      start: async () => {
        const child = killGroupAtExit(
          spawn(
            ETCD,
            [
              '--name',
              s.name,
              '--data-dir',
              join(base, s.name),
              '--listen-client-urls',
              clientUrl,
              '--advertise-client-urls',
              clientUrl,
              '--listen-peer-urls',
              `http://127.0.0.1:${s.peer}`,
              '--initial-advertise-peer-urls',
              `http://127.0.0.1:${s.peer}`,
              '--initial-cluster',
              initial,
              '--initial-cluster-state',
              'new',
              '--heartbeat-interval',
              '50',
              '--election-timeout',
              '500',
              '--log-level',
              'error',
            ],
            { ...OWN_GROUP, stdio: ['ignore', 'pipe', 'pipe'] },
          ),
        );
        member.child = child;
        child.stdout.on('data', (c: Buffer) => (member.output += c.toString()));
        child.stderr.on('data', (c: Buffer) => (member.output += c.toString()));
        await Promise.resolve();
      },
      kill: async () => {
        if (member.child.exitCode !== null || member.child.signalCode !== null) return;
        const exited = new Promise((r) => member.child.once('exit', r));
        member.child.kill('SIGKILL');
        await exited;
      },
      pause: () => void member.child.kill('SIGSTOP'),
      resume: () => void member.child.kill('SIGCONT'),
    };
    return member;
  });
  await Promise.all(members.map((m) => m.start()));
  const endpoints = members.map((m) => m.clientUrl).join(',');
  try {
    await waitHealthy(members);
  } catch (error) {
    await Promise.all(members.map((m) => m.kill()));
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
  return {
    members,
    endpoints,
    stop: async () => {
      for (const m of members) m.resume();
      await Promise.all(members.map((m) => m.kill()));
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * Polls each member's /health until all report healthy (15 s at most); fails at once when a
 * member has exited.
 */
async function waitHealthy(members: readonly EtcdMember[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (const m of members) {
    for (;;) {
      if (m.child.exitCode !== null || m.child.signalCode !== null) {
        // Its last words (the reason) may still be in the pipes: wait until they are read.
        const { stdout, stderr } = m.child;
        if (!(stdout?.readableEnded && stderr?.readableEnded)) {
          await new Promise((resolve) => m.child.once('close', resolve));
        }
        throw new Error(`etcd ${m.name} exited before it became healthy:\n${m.output}`);
      }
      try {
        const res = await fetch(`${m.clientUrl}/health`);
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline)
        throw new Error(`etcd ${m.name} did not become healthy:\n${m.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

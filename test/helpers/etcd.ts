// Test harness: a real etcd cluster of 1, 3 or 5 members (the `etcd` binary of Debian's
// etcd-server package) on 127.0.0.1, in temporary data directories. Every member's advertised
// peer URL is a TcpProxy that routes each connection to the Link of the member that dialled it
// (etcd's peer requests name their sender in the X-Server-From header), so tests can cut, delay
// or reset any directed etcd↔etcd link; members can be stopped cleanly, killed with SIGKILL,
// frozen with SIGSTOP/SIGCONT and restarted on their data directory. See docs/testing-cluster.md.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Link, TcpProxy } from './tcp-proxy.ts';
import { killGroupAtExit, OWN_GROUP } from './own-process-group.ts';

/** What to run to get etcd. */
export const ETCD_INSTALL_HINT = 'sudo apt-get install etcd-server';
/** Set to 1 (as CI does) to fail instead of skipping when etcd is missing. */
export const REQUIRE_ETCD_ENV = 'KEYHOLD_REQUIRE_ETCD';

/**
 * The etcd binary: $KEYHOLD_ETCD_BIN if set, else `etcd` on the PATH; undefined when there is
 * none.
 */
export function findEtcd(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const candidates = env.KEYHOLD_ETCD_BIN
    ? [env.KEYHOLD_ETCD_BIN]
    : (env.PATH ?? '')
        .split(':')
        .filter((d) => d !== '')
        .map((d) => join(d, 'etcd'));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not this one
    }
  }
  return undefined;
}

let announced = false;

/**
 * Options for a `describe` of tests that need etcd: `{}` when etcd is installed; `{ skip }`
 * with one loud line naming the package when it is not; and a thrown error instead of a skip
 * when KEYHOLD_REQUIRE_ETCD=1, so CI cannot pass by skipping.
 */
export function etcdSuite(env: Readonly<Record<string, string | undefined>> = process.env): {
  skip?: string;
} {
  if (findEtcd(env) !== undefined) return {};
  if (env[REQUIRE_ETCD_ENV] === '1') {
    throw new Error(
      `${REQUIRE_ETCD_ENV}=1 but etcd is not installed: run '${ETCD_INSTALL_HINT}' (or set KEYHOLD_ETCD_BIN)`,
    );
  }
  const line = `SKIPPED: etcd is not installed, the etcd cluster tests did not run (${ETCD_INSTALL_HINT})`;
  if (!announced) {
    announced = true;
    process.stderr.write(`\n*** ${line} ***\n\n`);
  }
  return { skip: line };
}

/** A free port on 127.0.0.1 (bound to port 0, then released: another process may take it first). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * etcd's member id (as its X-Server-From header and `member list` show it, hex): the first 8
 * bytes of SHA-1 over the sorted peer URLs joined, then the cluster token.
 */
export function etcdMemberId(peerUrls: readonly string[], token: string): string {
  const hash = createHash('sha1')
    .update([...peerUrls].sort().join('') + token)
    .digest();
  return hash.readBigUInt64BE(0).toString(16);
}

export interface EtcdClusterOptions {
  /** Members (default 3). */
  readonly size?: 1 | 3 | 5;
  /** etcd's --heartbeat-interval in ms (default 100, etcd's own). */
  readonly heartbeatMs?: number;
  /** etcd's --election-timeout in ms (default 1000, etcd's own). */
  readonly electionMs?: number;
  /** How long `start` waits for every member to be healthy (default 30 s). */
  readonly timeoutMs?: number;
}

/** Attempts at binding a member's ports before giving up (another process may take a free port). */
const PORT_ATTEMPTS = 5;

/** One etcd member: its process, ports, data directory and peer links. */
export class EtcdMember {
  readonly name: string;
  /** Member id, hex (as `member list` shows it). */
  readonly id: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The advertised peer URL's proxy: other members reach this member through it. */
  readonly peerFront: TcpProxy;
  /** Links into this member, by the dialling member's name; `?` carries unidentified traffic. */
  readonly inbound: ReadonlyMap<string, Link>;
  #clientPort = 0;
  #child: ChildProcess | null = null;
  #exited: Promise<number | null> = Promise.resolve(null);
  #paused = false;
  readonly #cluster: EtcdCluster;

  constructor(
    cluster: EtcdCluster,
    name: string,
    id: string,
    dataDir: string,
    peerFront: TcpProxy,
    inbound: ReadonlyMap<string, Link>,
  ) {
    this.#cluster = cluster;
    this.name = name;
    this.id = id;
    this.dataDir = dataDir;
    this.logFile = `${dataDir}.log`;
    this.peerFront = peerFront;
    this.inbound = inbound;
  }

  /** `http://127.0.0.1:PORT` clients use (direct, no proxy). */
  get clientUrl(): string {
    return `http://127.0.0.1:${this.#clientPort}`;
  }

  get clientPort(): number {
    return this.#clientPort;
  }

  /** `http://127.0.0.1:PORT` of the peer proxy, as the cluster knows this member. */
  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerFront.port}`;
  }

  /** True while the process runs (stopped with SIGSTOP counts as running). */
  get running(): boolean {
    return this.#child !== null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** What etcd logged so far (its stderr and stdout, across restarts). */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Starts the process on its data directory. Its client port stays the one it had when that is
   * still free; ports taken by another process meanwhile are replaced and the attempt repeated.
   */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`etcd member ${this.name} is already running`);
    let failure = '';
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      if (this.#clientPort === 0 || attempt > 0) this.#clientPort = await freePort();
      const peerPort =
        attempt === 0 && this.peerFront.targetPort !== 0
          ? this.peerFront.targetPort
          : await freePort();
      this.peerFront.retarget(peerPort);
      const problem = await this.#spawn(peerPort);
      if (problem === null) return;
      failure = problem;
      if (!/address already in use/.test(problem)) break;
    }
    throw new Error(`etcd member ${this.name} did not start: ${failure}`);
  }

  /** Spawns the process; resolves null once its ports are open, else what went wrong. */
  async #spawn(peerPort: number): Promise<string | null> {
    const cluster = this.#cluster;
    const fd = openSync(this.logFile, 'a');
    const args = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', cluster.initialCluster,
      '--initial-cluster-token', cluster.token,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', String(cluster.heartbeatMs),
      '--election-timeout', String(cluster.electionMs),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ]; // prettier-ignore
    // Its own process group (members are frozen with SIGSTOP), killed if the test process exits
    // without stopping it.
    const child = killGroupAtExit(
      spawn(cluster.binary, args, { ...OWN_GROUP, stdio: ['ignore', fd, fd] }),
    );
    closeSync(fd);
    this.#child = child;
    this.#paused = false;
    this.#exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (this.#child === child) this.#child = null;
        resolve(code ?? (signal === null ? null : -1));
      }),
    );
    const state = { exited: false };
    void this.#exited.then(() => (state.exited = true));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (state.exited) {
        const tail = this.log().trim().split('\n').slice(-5).join('\n');
        return `it exited at once; the end of ${this.logFile}:\n${tail}`;
      }
      if ((await listening(this.#clientPort)) && (await listening(peerPort))) return null;
      await sleep(50);
    }
    await this.kill();
    return `its ports did not open within 15 s (see ${this.logFile})`;
  }

  /** GET /health: true when the member has a leader and can serve a linearizable read. */
  async healthy(timeoutMs = 2000): Promise<boolean> {
    if (!this.#child || this.#paused) return false;
    try {
      const res = await fetch(`${this.clientUrl}/health`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.json()) as { health?: unknown };
      return res.ok && (body.health === 'true' || body.health === true);
    } catch {
      return false;
    }
  }

  /** Waits until `healthy()`; throws with the log's end after `timeoutMs`. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.healthy()) return;
      if (!this.#child) break;
      await sleep(100);
    }
    const tail = this.log().trim().split('\n').slice(-5).join('\n');
    throw new Error(
      `etcd member ${this.name} is not healthy after ${timeoutMs} ms; log ends:\n${tail}`,
    );
  }

  /** SIGTERM (etcd shuts down cleanly) and wait for the exit; SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGTERM');
    if (this.#paused) this.resume(); // a stopped process acts on SIGTERM only once continued
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL (a crash: nothing flushed beyond what etcd already fsynced) and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGSTOP: the process freezes, its sockets stay open (a stalled machine). */
  pause(): void {
    if (!this.#child) throw new Error(`etcd member ${this.name} is not running`);
    this.#child.kill('SIGSTOP');
    this.#paused = true;
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    if (!this.#child) return;
    this.#child.kill('SIGCONT');
    this.#paused = false;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Stops (or kills, with `kill: true`) and starts again on the same data directory. */
  async restart(options: { kill?: boolean } = {}): Promise<void> {
    if (options.kill) await this.kill();
    else await this.stop();
    await this.start();
  }
}

/** A running etcd cluster; `stop()` ends every member and removes the data. */
export class EtcdCluster {
  readonly binary: string;
  readonly token: string;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** Parent of the members' data directories and logs. */
  readonly baseDir: string;
  readonly members: readonly EtcdMember[];
  /** `name=peerURL,…` as every member was started with. */
  readonly initialCluster: string;

  private constructor(binary: string, options: EtcdClusterOptions, fronts: TcpProxy[]) {
    const size = options.size ?? 3;
    this.binary = binary;
    this.baseDir = mkdtempSync(join(tmpdir(), 'keyhold-etcd-'));
    this.token = `keyhold-test-${process.pid}-${Date.now()}`;
    this.heartbeatMs = options.heartbeatMs ?? 100;
    this.electionMs = options.electionMs ?? 1000;
    const names = Array.from({ length: size }, (_, i) => `m${i}`);
    this.initialCluster = names
      .map((name, i) => `${name}=http://127.0.0.1:${fronts[i]!.port}`)
      .join(',');
    const ids = new Map(
      names.map((name, i) => [
        etcdMemberId([`http://127.0.0.1:${fronts[i]!.port}`], this.token),
        name,
      ]),
    );
    this.members = names.map((name, i) => {
      const inbound = new Map<string, Link>();
      for (const from of [...names.filter((n) => n !== name), '?']) {
        inbound.set(from, new Link(`${from}→${name}`));
      }
      return new EtcdMember(
        this,
        name,
        [...ids.keys()][i]!,
        join(this.baseDir, name),
        fronts[i]!,
        inbound,
      );
    });
    // Each front routes a connection by the X-Server-From header of its first request.
    for (const [i, front] of fronts.entries()) {
      const inbound = this.members[i]!.inbound;
      front.setRoute((bytes) => {
        const text = bytes.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return null;
        const from = /\r\nx-server-from:\s*([0-9a-f]+)/i.exec(text.slice(0, end))?.[1];
        const sender = from === undefined ? undefined : ids.get(from.toLowerCase());
        return inbound.get(sender ?? '?')!;
      });
    }
  }

  /** Starts a cluster and waits until every member is healthy. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const binary = findEtcd();
    if (binary === undefined) throw new Error(`etcd is not installed (${ETCD_INSTALL_HINT})`);
    const size = options.size ?? 3;
    // Target port 0 until each member has its own; nothing dials a front before then.
    const fronts = await Promise.all(Array.from({ length: size }, () => TcpProxy.start(0)));
    const cluster = new EtcdCluster(binary, options, fronts);
    try {
      await Promise.all(cluster.members.map((m) => m.start()));
      await Promise.all(cluster.members.map((m) => m.waitHealthy(options.timeoutMs ?? 30_000)));
    } catch (error) {
      await cluster.stop({ keepData: true });
      throw new Error(`${(error as Error).message}\n(data and logs kept in ${cluster.baseDir})`, {
        cause: error,
      });
    }
    return cluster;
  }

  /** The member called `name` (m0, m1, …). */
  member(name: string): EtcdMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  }

  /** Client URLs of every member (direct). */
  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** The link carrying what member `from` sends to member `to` (on connections `from` opens). */
  peerLink(from: string, to: string): Link {
    const link = this.member(to).inbound.get(from);
    if (!link) throw new Error(`no peer link ${from}→${to}`);
    return link;
  }

  /** Every link into and out of `name`: cutting them all partitions it from the others. */
  linksOf(name: string): Link[] {
    const out: Link[] = [...this.member(name).inbound.values()];
    for (const m of this.members) if (m.name !== name) out.push(this.peerLink(name, m.name));
    return out;
  }

  /** Cuts every peer link of `name` (`refuse` default, or `blackhole`). */
  isolate(name: string, how: 'refuse' | 'blackhole' = 'refuse'): void {
    for (const link of this.linksOf(name)) link.cut(how);
  }

  /** Heals every peer link. */
  healAll(): void {
    for (const m of this.members) for (const link of m.inbound.values()) link.heal();
  }

  /** Members answering /health now. */
  async healthyMembers(): Promise<string[]> {
    const health = await Promise.all(this.members.map((m) => m.healthy()));
    return this.members.filter((_, i) => health[i]).map((m) => m.name);
  }

  /** Stops every member (continuing paused ones), closes the proxies, removes the data. */
  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    const keep = options.keepData === true || process.env.KEYHOLD_KEEP_ETCD_DATA === '1';
    // A clean stop of every member at once takes etcd ~7 s (each leader tries to hand over to
    // members that are stopping too); when the data goes anyway, there is nothing to keep clean.
    await Promise.all(this.members.map((m) => (keep ? m.stop() : m.kill())));
    await Promise.all(this.members.map((m) => m.peerFront.close()));
    if (!keep) {
      rmSync(this.baseDir, { recursive: true, force: true });
    }
  }
}

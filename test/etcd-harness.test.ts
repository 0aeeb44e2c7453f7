// Tests of the cluster test harness itself (test/helpers/etcd.ts, tcp-proxy.ts, prng.ts): the
// proxy really cuts, blackholes, delays, resets and heals; a real 3-member etcd routed through
// the peer proxies keeps serving with one member cut off, loses quorum with two, and heals; a
// member survives SIGKILL + restart and SIGSTOP/SIGCONT; 1- and 5-member clusters start. Without
// etcd the etcd suites skip with one loud line (fail when KEYHOLD_REQUIRE_ETCD=1).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, etcdMemberId, etcdSuite } from './helpers/etcd.ts';
import type { EtcdMember } from './helpers/etcd.ts';
import { FaultSchedule } from './helpers/fault-schedule.ts';
import type { FaultProcess } from './helpers/fault-schedule.ts';
import { Prng } from './helpers/prng.ts';
import { Link, TcpProxy } from './helpers/tcp-proxy.ts';

// ── the proxy, against a plain echo server ────────────────────────────────

async function echoServer(): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy()); // the proxy resets connections on purpose
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function portOf(server: Server): number {
  return (server.address() as { port: number }).port;
}

/** A connection whose received bytes and end (or error code) are recorded. */
async function dial(port: number): Promise<{
  socket: Socket;
  received: () => string;
  closed: Promise<string>;
}> {
  const socket = connect({ host: '127.0.0.1', port });
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const closed = new Promise<string>((resolve) => {
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    socket.once('close', () => resolve('closed'));
  });
  // A refused connection may fail before 'connect' (the RST can arrive with the handshake).
  await Promise.race([once(socket, 'connect').catch(() => undefined), closed]);
  return { socket, received: () => text, closed };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  assert.fail(`timed out waiting for: ${what}`);
}

describe('tcp proxy', () => {
  let echo: Server;
  let proxy: TcpProxy;
  let link: Link;

  before(async () => {
    echo = await echoServer();
    link = new Link('test');
    proxy = await TcpProxy.start(portOf(echo), link);
  });
  beforeEach(() => link.heal());
  after(async () => {
    await proxy.close();
    echo.close();
  });

  it('forwards both ways while open', async () => {
    const c = await dial(proxy.port);
    c.socket.write('hello');
    await until('echo', () => c.received() === 'hello');
    c.socket.end();
    assert.equal(await c.closed, 'closed');
    assert.ok(link.accepted >= 1);
  });

  it('refuse resets open connections and new ones; heal restores', async () => {
    const c = await dial(proxy.port);
    c.socket.write('x');
    await until('echo', () => c.received() === 'x');
    link.cut('refuse');
    assert.equal(await c.closed, 'ECONNRESET');
    const d = await dial(proxy.port);
    assert.equal(await d.closed, 'ECONNRESET');
    link.heal();
    const e = await dial(proxy.port);
    e.socket.write('back');
    await until('echo after heal', () => e.received() === 'back');
    e.socket.destroy();
  });

  it('blackhole holds data in both directions and delivers it in order on heal', async () => {
    const c = await dial(proxy.port);
    link.cut('blackhole');
    c.socket.write('one,');
    c.socket.write('two');
    // A fresh connection is accepted but silent too.
    const d = await dial(proxy.port);
    d.socket.write('three');
    await sleep(300);
    assert.equal(c.received(), '');
    assert.equal(d.received(), '');
    link.heal();
    await until('held data', () => c.received() === 'one,two' && d.received() === 'three');
    c.socket.destroy();
    d.socket.destroy();
  });

  it('delay holds every chunk at least that long, in order', async () => {
    const c = await dial(proxy.port);
    link.delay(400);
    const sent = Date.now();
    for (const part of ['a', 'b', 'c', 'd']) c.socket.write(part);
    await sleep(100);
    // 100 ms into a 400 ms delay, nothing can have come back (a lower bound, not a timing claim).
    assert.equal(c.received(), '');
    await until('delayed echo', () => c.received() === 'abcd');
    assert.ok(Date.now() - sent >= 400);
    link.heal();
    c.socket.destroy();
  });

  it('a chunk is never overtaken: not when the delay shrinks, not when a blackhole heals', async () => {
    const c = await dial(proxy.port);
    link.delay(300);
    c.socket.write('a');
    await sleep(20);
    link.delay(0);
    c.socket.write('b');
    link.delay(150);
    await sleep(20);
    c.socket.write('c');
    link.cut('blackhole');
    c.socket.write('d');
    await sleep(20);
    link.heal();
    c.socket.write('e');
    await until('all five', () => c.received().length === 5);
    assert.equal(c.received(), 'abcde');
    c.socket.destroy();
  });

  it('reset sends RST on open connections and leaves the link open', async () => {
    const c = await dial(proxy.port);
    c.socket.write('x');
    await until('echo', () => c.received() === 'x');
    link.reset();
    assert.equal(await c.closed, 'ECONNRESET');
    assert.equal(link.mode, 'open');
    const d = await dial(proxy.port);
    d.socket.write('y');
    await until('echo after reset', () => d.received() === 'y');
    d.socket.destroy();
  });

  it('a router picks the link per connection from its first bytes', async () => {
    const a = new Link('a');
    const b = new Link('b');
    const routed = await TcpProxy.start(portOf(echo), (bytes) => {
      const text = bytes.toString();
      if (!text.includes('\n')) return null;
      return text.startsWith('A') ? a : b;
    });
    try {
      b.cut('refuse');
      const viaA = await dial(routed.port);
      viaA.socket.write('A');
      viaA.socket.write('1\n');
      await until('A echoed', () => viaA.received() === 'A1\n');
      const viaB = await dial(routed.port);
      viaB.socket.write('B\n');
      assert.equal(await viaB.closed, 'ECONNRESET');
      assert.deepEqual([a.accepted, b.accepted], [1, 1]);
      viaA.socket.destroy();
    } finally {
      await routed.close();
    }
  });
});

describe('seeded PRNG', () => {
  it('replays the same choices from the same seed and differs across seeds', () => {
    const run = (seed: number) => {
      const r = new Prng(seed);
      return [r.nextUint32(), r.int(10), r.pick(['a', 'b', 'c']), r.shuffle([1, 2, 3, 4, 5])];
    };
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43));
    assert.equal(Prng.fromEnv({ KEYHOLD_FAULT_SEED: '0x2a' }).seed, 42);
    assert.throws(() => Prng.fromEnv({ KEYHOLD_FAULT_SEED: 'soon' }), /KEYHOLD_FAULT_SEED='soon'/);
  });

  it('spreads int(n) over its whole range', () => {
    const r = new Prng(7);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[r.int(6)]!++;
    for (const c of counts) assert.ok(c > 800 && c < 1200, `counts ${counts.join(',')}`);
  });
});

describe('fault schedule', () => {
  /** A process that only records what was done to it. */
  function fake(name: string): FaultProcess {
    const p = { name, running: true, paused: false };
    return Object.assign(p, {
      kill: () => Promise.resolve(void (p.running = false)),
      start: () => Promise.resolve(void (p.running = true)),
      pause: () => void (p.paused = true),
      resume: () => void (p.paused = false),
    });
  }

  async function run(seed: number, steps: number): Promise<string[]> {
    const processes = ['a', 'b', 'c'].map(fake);
    const links = ['a→b', 'b→a', 'a→c'].map((n) => new Link(n));
    const schedule = new FaultSchedule(new Prng(seed), { processes, links }, { maxDown: 1 });
    for (let i = 0; i < steps; i++) await schedule.step();
    const down = processes.filter((p) => !p.running || p.paused).length;
    assert.ok(down <= 1, `at most one process down, got ${down}`);
    await schedule.healAll();
    assert.ok(processes.every((p) => p.running && !p.paused));
    assert.ok(links.every((l) => l.mode === 'open' && l.delayMs === 0));
    return schedule.history;
  }

  it('replays the same faults from the same seed, keeps maxDown, and heals everything', async () => {
    const first = await run(1234, 200);
    assert.deepEqual(await run(1234, 200), first);
    assert.notDeepEqual(await run(4321, 200), first);
    for (const kind of ['kill', 'pause', 'restart', 'resume', 'cut', 'delay', 'reset', 'heal']) {
      assert.ok(
        first.some((h) => h.startsWith(`${kind} `)),
        `${kind} in ${first.join('; ')}`,
      );
    }
  });
});

describe('etcd skip helper', () => {
  const helper = fileURLToPath(new URL('./helpers/etcd.js', import.meta.url));
  function probe(env: Record<string, string>): Promise<{ code: number; out: string }> {
    const script = `import(${JSON.stringify(helper)}).then((m) => console.log(JSON.stringify(m.etcdSuite())))`;
    return new Promise((resolve) => {
      execFile(process.execPath, ['-e', script], { env }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout + stderr });
      });
    });
  }

  it('skips with one loud line naming the package when etcd is missing', async () => {
    const { code, out } = await probe({ PATH: '/nonexistent' });
    assert.equal(code, 0, out);
    const loud = out.split('\n').filter((l) => l.includes('sudo apt-get install etcd-server'));
    assert.equal(loud.length, 2, out); // the stderr banner and the skip reason the runner prints
    assert.match(out, /"skip":"SKIPPED: etcd is not installed/);
  });

  it('fails instead when KEYHOLD_REQUIRE_ETCD=1', async () => {
    const { code, out } = await probe({ PATH: '/nonexistent', KEYHOLD_REQUIRE_ETCD: '1' });
    assert.notEqual(code, 0);
    assert.match(out, /KEYHOLD_REQUIRE_ETCD=1 but etcd is not installed/);
  });
});

// ── a real etcd ───────────────────────────────────────────────────────────

/** A client of one member only, without retries, each call bounded: failures show at once. */
function pinnedClient(member: EtcdMember): Etcd3 {
  return new Etcd3({
    hosts: member.clientUrl,
    dialTimeout: 2000,
    faultHandling: { host: () => noop, global: noop },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 3000 }),
  });
}

async function writes(client: Etcd3, key: string, value: string): Promise<boolean> {
  try {
    await client.put(key).value(value);
    return true;
  } catch (error) {
    if (process.env.KEYHOLD_TEST_DEBUG) console.error(`put ${key}: ${String(error)}`);
    return false;
  }
}

describe('etcd cluster of 3 through peer proxies', etcdSuite(), () => {
  let cluster: EtcdCluster;
  const clients = new Map<string, Etcd3>();
  const client = (name: string): Etcd3 => clients.get(name)!;
  const survivorsHealthy = async (...names: string[]) => {
    for (const name of names) await cluster.member(name).waitHealthy();
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    for (const m of cluster.members) clients.set(m.name, pinnedClient(m));
  });
  after(async () => {
    for (const c of clients.values()) c.close();
    // `before` may have failed to start it.
    await (cluster as EtcdCluster | undefined)?.stop();
  });

  it("member ids match etcd's member list, and peer traffic goes through the links", async () => {
    const { members } = await client('m0').cluster.memberList({});
    const listed = new Map(members.map((m) => [BigInt(m.ID).toString(16), m]));
    for (const m of cluster.members) {
      const entry = listed.get(m.id);
      assert.ok(entry, `member ${m.name} (${m.id}) in ${[...listed.keys()].join(',')}`);
      assert.equal(entry.name, m.name);
      assert.deepEqual(entry.peerURLs, [m.peerUrl]);
      assert.equal(m.id, etcdMemberId([m.peerUrl], cluster.token));
    }
    // Every ordered pair of members talks through its own link (X-Server-From routed).
    for (const from of cluster.members) {
      for (const to of cluster.members) {
        if (from === to) continue;
        assert.ok(cluster.peerLink(from.name, to.name).accepted > 0, `${from.name}→${to.name}`);
      }
    }
  });

  it('keeps serving with one member cut off, loses quorum with two, heals', async () => {
    assert.ok(await writes(client('m0'), 'k', 'v0'));
    cluster.isolate('m2');
    await until('m2 unhealthy', async () => !(await cluster.member('m2').healthy()));
    // If m2 led, m0 and m1 elect a new leader first (a proposal made meanwhile is dropped).
    await survivorsHealthy('m0', 'm1');
    assert.ok(await writes(client('m0'), 'k', 'v1'), 'a write with 2 of 3 members');
    assert.ok(await writes(client('m1'), 'k', 'v2'), 'a write through the other survivor');
    assert.equal(await client('m0').get('k').string(), 'v2');
    assert.equal(await writes(client('m2'), 'k', 'lost'), false, 'the isolated member refuses');

    cluster.isolate('m1');
    await until('m0 unhealthy', async () => !(await cluster.member('m0').healthy()));
    assert.equal(await writes(client('m0'), 'k', 'lost'), false, 'no quorum: writes fail');
    assert.deepEqual(await cluster.healthyMembers(), []);

    cluster.healAll();
    for (const m of cluster.members) await m.waitHealthy();
    assert.ok(await writes(client('m2'), 'k', 'v3'));
    for (const m of cluster.members) assert.equal(await client(m.name).get('k').string(), 'v3');
  });

  it('a blackholed peer link is a partition too, and heals', async () => {
    cluster.isolate('m1', 'blackhole');
    await until('m1 unhealthy', async () => !(await cluster.member('m1').healthy()));
    await survivorsHealthy('m0', 'm2');
    assert.ok(await writes(client('m0'), 'b', '1'));
    cluster.healAll();
    await cluster.member('m1').waitHealthy();
    assert.equal(await client('m1').get('b').string(), '1');
  });

  it('a member killed with SIGKILL restarts on its data dir and catches up', async () => {
    const m2 = cluster.member('m2');
    await m2.kill();
    assert.equal(m2.running, false);
    await survivorsHealthy('m0', 'm1');
    assert.ok(await writes(client('m0'), 'after-kill', 'yes'));
    await m2.start();
    await m2.waitHealthy();
    assert.equal(await client('m2').get('after-kill').string(), 'yes');
  });

  it('a member frozen with SIGSTOP answers nothing; SIGCONT brings it back', async () => {
    const m1 = cluster.member('m1');
    m1.pause();
    assert.equal(await m1.healthy(), false);
    await survivorsHealthy('m0', 'm2');
    assert.ok(await writes(client('m0'), 'during-stop', 'yes'));
    m1.resume();
    await m1.waitHealthy();
    assert.equal(await client('m1').get('during-stop').string(), 'yes');
  });
});

describe('a seeded fault run on a 3-member etcd', etcdSuite(), () => {
  it('loses no acknowledged write, and every member converges after healing', async (t) => {
    const prng = Prng.fromEnv();
    const steps = Number(process.env.KEYHOLD_FAULT_STEPS ?? 12);
    t.diagnostic(
      `fault seed ${prng.seed} (replay: KEYHOLD_FAULT_SEED=${prng.seed}), ${steps} steps`,
    );
    const cluster = await EtcdCluster.start({ size: 3 });
    const links = cluster.members.flatMap((to) =>
      cluster.members
        .filter((from) => from !== to)
        .map((from) => cluster.peerLink(from.name, to.name)),
    );
    const schedule = new FaultSchedule(prng, { processes: cluster.members, links }, { maxDown: 1 });
    const writer = new Etcd3({
      hosts: cluster.clientUrls,
      dialTimeout: 2000,
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 2000 }),
    });
    const keys = ['w0', 'w1', 'w2', 'w3'];
    const acked = new Map(keys.map((k) => [k, 0]));
    /** Values whose put failed or timed out: their outcome is unknown. */
    const unknown = new Map(keys.map((k) => [k, new Set<number>()]));
    let attempts = 0;
    let running = true;
    // One writer per key, each writing 1, 2, 3…: a later acknowledgement never has a lower value.
    const writers = keys.map(async (key) => {
      for (let n = 1; running; n++) {
        attempts++;
        if (await writes(writer, key, String(n))) acked.set(key, n);
        else {
          unknown.get(key)!.add(n);
          await sleep(50);
        }
      }
    });
    const clients: Etcd3[] = [];
    try {
      for (let i = 0; i < steps; i++) {
        const done = await schedule.step();
        t.diagnostic(`step ${i}: ${done}`);
        await sleep(prng.between(100, 600));
      }
      running = false;
      await Promise.all(writers);
      await schedule.healAll();
      for (const m of cluster.members) await m.waitHealthy();
      const context = `seed ${prng.seed}; faults: ${schedule.history.join('; ')}`;
      const readAll = async (): Promise<Record<string, number>[]> => {
        const seen: Record<string, number>[] = [];
        for (const m of cluster.members) {
          const c = pinnedClient(m);
          clients.push(c);
          const values: Record<string, number> = {};
          for (const key of keys) values[key] = Number((await c.get(key).string()) ?? 0);
          seen.push(values);
        }
        for (const values of seen)
          assert.deepEqual(values, seen[0], `members disagree (${context})`);
        return seen;
      };
      // No acknowledged write is lost. A put whose outcome was unknown may land late, even after
      // a later acknowledged one (its proposal waited on a cut-off member, then went through):
      // that is etcd keeping its word, as any linearizable store may order an unknown write
      // anywhere after it began. Seen once as 'w0: 10 < acked 11' where the put of 10 had timed
      // out. Any other value below the last acknowledged one would be a lost write.
      const [healed] = await readAll();
      for (const key of keys) {
        const value = healed![key]!;
        assert.ok(
          value >= acked.get(key)! || unknown.get(key)!.has(value),
          `${key}: ${value} < acked ${acked.get(key)} and not a write of unknown outcome (${context})`,
        );
      }
      // And the cluster takes writes again, everywhere.
      for (const key of keys) {
        assert.ok(await writes(writer, key, '1000000'), `write ${key} after healing (${context})`);
      }
      for (const values of await readAll()) {
        for (const key of keys) assert.equal(values[key], 1_000_000, `${key} (${context})`);
      }
      t.diagnostic(`${attempts} write attempts; faults: ${schedule.history.join('; ')}`);
    } finally {
      running = false;
      writer.close();
      for (const c of clients) c.close();
      await cluster.stop();
    }
  });
});

describe('etcd clusters of 1 and 5', etcdSuite(), () => {
  for (const size of [1, 5] as const) {
    it(`${size} member${size === 1 ? '' : 's'}: start healthy, write, stop`, async () => {
      const cluster = await EtcdCluster.start({ size });
      const c = pinnedClient(cluster.members[0]!);
      try {
        assert.equal(cluster.members.length, size);
        assert.ok(await writes(c, 'size', String(size)));
        assert.equal((await cluster.healthyMembers()).length, size);
      } finally {
        c.close();
        await cluster.stop();
      }
    });
  }
});

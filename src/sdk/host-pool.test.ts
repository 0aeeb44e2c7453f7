// Tests of the SDK's host selection: random healthy order, suspension for a period, and the
// fallback to suspended hosts (soonest to recover first) when nothing healthy is left.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostPool } from './host-pool.ts';

describe('HostPool', () => {
  it('rejects an empty or duplicated endpoint list', () => {
    assert.throws(() => new HostPool([]), /at least one endpoint/);
    assert.throws(() => new HostPool(['a:1', 'a:1']), /duplicate endpoint/);
  });

  it('puts every healthy host first, in random order', () => {
    const hosts = ['a:1', 'b:1', 'c:1', 'd:1'];
    const seen = new Set<string>();
    const pool = new HostPool(hosts);
    for (let i = 0; i < 200; i++) {
      const order = pool.order();
      assert.deepEqual([...order].sort(), hosts);
      seen.add(order[0]!);
    }
    assert.equal(seen.size, hosts.length, 'each host comes first sometimes');
  });

  it('tries a suspended host last until the suspension ends', () => {
    let now = 1000;
    const pool = new HostPool(['a:1', 'b:1', 'c:1'], { suspendMs: 500, now: () => now });
    pool.fail('b:1');
    assert.equal(pool.isSuspended('b:1'), true);
    for (let i = 0; i < 20; i++) assert.equal(pool.order()[2], 'b:1');
    now = 1499;
    assert.equal(pool.order()[2], 'b:1');
    now = 1500;
    assert.equal(pool.isSuspended('b:1'), false);
    const firsts = new Set<string>();
    for (let i = 0; i < 100; i++) firsts.add(pool.order()[0]!);
    assert.ok(firsts.has('b:1'), 'a recovered host is load-balanced again');
  });

  it('orders suspended hosts by the time they recover and forgets a host that answered', () => {
    let now = 0;
    const pool = new HostPool(['a:1', 'b:1', 'c:1'], { suspendMs: 100, now: () => now });
    pool.fail('c:1');
    now = 10;
    pool.fail('a:1');
    now = 20;
    pool.fail('b:1');
    assert.deepEqual(pool.order(), ['c:1', 'a:1', 'b:1']);
    pool.succeed('b:1');
    assert.deepEqual(pool.order(), ['b:1', 'c:1', 'a:1']);
  });
});

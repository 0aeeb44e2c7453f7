// The randomness pool: lengths and ranges, refills across block boundaries, no byte handed out
// twice, and independence of separate processes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { RandomPool, randomPool } from './random-pool.ts';

test('take returns fresh buffers of the requested length, including across refills', () => {
  const pool = new RandomPool(64);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const bytes = pool.take(12);
    assert.equal(bytes.length, 12);
    const hex = bytes.toString('hex');
    assert.ok(!seen.has(hex), 'a 96-bit value repeated: bytes were handed out twice');
    seen.add(hex);
  }
  assert.equal(pool.take(0).length, 0);
});

test('large requests bypass the pool and are still random', () => {
  const pool = new RandomPool(64);
  const a = pool.take(1000);
  const b = pool.take(1000);
  assert.equal(a.length, 1000);
  assert.ok(!a.equals(b));
});

test('fill writes exactly the requested range', () => {
  const target = Buffer.alloc(100, 0xee);
  randomPool.fill(target, 10, 28);
  assert.deepEqual(target.subarray(0, 10), Buffer.alloc(10, 0xee));
  assert.deepEqual(target.subarray(38), Buffer.alloc(62, 0xee));
  assert.notDeepEqual(target.subarray(10, 38), Buffer.alloc(28, 0xee));
  const whole = new Uint8Array(40);
  randomPool.fill(whole);
  assert.ok(whole.some((b) => b !== 0));
  assert.throws(() => randomPool.fill(target, 90, 11), RangeError);
  assert.throws(() => randomPool.fill(target, -1, 1), RangeError);
  assert.throws(() => randomPool.fill(target, 0.5, 1), RangeError);
  assert.throws(() => new RandomPool(10), RangeError);
});

test('output looks uniform: every byte value occurs in 64 KiB', () => {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < 4096; i++) for (const b of randomPool.take(16)) counts[b]!++;
  const min = Math.min(...counts);
  const max = Math.max(...counts);
  // Expected 256 per value; these bounds are > 8 standard deviations away.
  assert.ok(min > 120 && max < 400, `byte counts out of range: ${min}..${max}`);
});

test('separate processes draw different bytes', () => {
  const moduleUrl = new URL('./random-pool.js', import.meta.url).href;
  const script = `import { randomPool } from ${JSON.stringify(moduleUrl)};
    process.stdout.write(randomPool.take(32).toString('hex'));`;
  const draw = (): string =>
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
  const a = draw();
  const b = draw();
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.notEqual(a, b);
});

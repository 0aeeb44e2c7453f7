// Tests endpoint normalization and the order in which a client tries its endpoints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  KES_ENDPOINT_QUARANTINE_MS,
  KesEndpointPool,
  isLoopbackEndpoint,
  normalizeKesEndpoint,
  parseKesEndpoints,
} from './endpoints.ts';

describe('normalizeKesEndpoint', () => {
  it('adds https://, replaces http:// and drops trailing slashes', () => {
    assert.equal(normalizeKesEndpoint(' 127.0.0.1:7373 '), 'https://127.0.0.1:7373');
    assert.equal(normalizeKesEndpoint('http://kes:7373/'), 'https://kes:7373');
    assert.equal(normalizeKesEndpoint('https://[::1]:7373'), 'https://[::1]:7373');
    assert.equal(
      normalizeKesEndpoint('https://kes.example.com/prefix//'),
      'https://kes.example.com/prefix',
    );
  });

  it('rejects empty and malformed endpoints', () => {
    assert.throws(() => normalizeKesEndpoint('  '), TypeError);
    assert.throws(() => normalizeKesEndpoint('https://'), TypeError);
    assert.throws(() => normalizeKesEndpoint('kes:7373?x=1'), TypeError);
    assert.throws(() => normalizeKesEndpoint('user@kes:7373'), TypeError);
  });

  it('splits comma lists and drops empty entries', () => {
    assert.deepEqual(parseKesEndpoints('a:1, b:2,,'), ['https://a:1', 'https://b:2']);
  });

  it('recognizes loopback endpoints', () => {
    assert.ok(isLoopbackEndpoint('https://localhost:7373'));
    assert.ok(isLoopbackEndpoint('https://127.0.0.2:7373'));
    assert.ok(isLoopbackEndpoint('https://[::1]:7373'));
    assert.ok(!isLoopbackEndpoint('https://10.0.0.1:7373'));
    assert.ok(!isLoopbackEndpoint('https://kes.example.com'));
  });
});

describe('KesEndpointPool', () => {
  it('tries a loopback first endpoint first, and every endpoint once', () => {
    const pool = new KesEndpointPool(['127.0.0.1:1', 'b:2', 'c:3']);
    for (let i = 0; i < 20; i++) {
      const order = pool.order();
      assert.equal(order[0], 'https://127.0.0.1:1');
      assert.deepEqual([...order].sort(), ['https://127.0.0.1:1', 'https://b:2', 'https://c:3']);
    }
  });

  it('starts remote lists at varying endpoints and walks them round-robin', () => {
    const pool = new KesEndpointPool(['a:1', 'b:2', 'c:3']);
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const order = pool.order();
      firsts.add(order[0]!);
      const start = pool.endpoints.indexOf(order[0]!);
      assert.deepEqual(
        order,
        [0, 1, 2].map((k) => pool.endpoints[(start + k) % 3]),
      );
    }
    assert.equal(firsts.size, 3);
  });

  it('moves a failed endpoint to the end until its quarantine ends, or it succeeds', () => {
    let now = 1_000_000;
    const pool = new KesEndpointPool(['127.0.0.1:1', '127.0.0.1:2'], () => now);
    pool.fail('https://127.0.0.1:1');
    assert.deepEqual(pool.order(), ['https://127.0.0.1:2', 'https://127.0.0.1:1']);
    now += KES_ENDPOINT_QUARANTINE_MS - 1;
    assert.equal(pool.order()[0], 'https://127.0.0.1:2');
    now += 1;
    assert.equal(pool.order()[0], 'https://127.0.0.1:1');
    pool.fail('https://127.0.0.1:1');
    pool.succeed('https://127.0.0.1:1');
    assert.equal(pool.order()[0], 'https://127.0.0.1:1');
  });

  it('refuses an empty list and removes duplicates', () => {
    assert.throws(() => new KesEndpointPool([]), TypeError);
    assert.deepEqual(new KesEndpointPool(['a:1', 'https://a:1/']).endpoints, ['https://a:1']);
  });
});

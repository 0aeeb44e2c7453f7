// The overview's chart arithmetic: counters read from the node's Prometheus text, rates and
// percentile buckets per interval, console requests left out.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { intervalOf, parseCounters } from './metrics-history.ts';

const text = (ok: number, failed: number, refused: number, fast: number, slow: number): string =>
  [
    '# TYPE keyhold_http_requests_total counter',
    `keyhold_http_requests_total{route="/v1/kms/",code="200"} ${ok}`,
    `keyhold_http_requests_total{route="/v1/kms/",code="500"} ${failed}`,
    `keyhold_http_requests_total{route="/v1/kms/",code="403"} ${refused}`,
    `keyhold_http_requests_total{route="/console/",code="200"} 1000`,
    `keyhold_http_request_duration_seconds_bucket{le="0.001",route="/v1/kms/"} ${fast}`,
    `keyhold_http_request_duration_seconds_bucket{le="0.01",route="/v1/kms/"} ${fast + slow}`,
    `keyhold_http_request_duration_seconds_bucket{le="+Inf",route="/v1/kms/"} ${fast + slow}`,
    `keyhold_http_request_duration_seconds_bucket{le="+Inf",route="/console/"} 1000`,
  ].join('\n');

describe('metrics history', () => {
  it('reads the counters and leaves the console out', () => {
    const s = parseCounters(text(10, 2, 3, 15, 0), 0);
    assert.equal(s.requests, 15);
    assert.equal(s.errors, 2);
    assert.equal(s.refusals, 3);
    assert.equal(s.buckets.get(Infinity), 15);
  });

  it('turns two samples into rates and percentile buckets', () => {
    const a = parseCounters(text(10, 0, 0, 10, 0), 0);
    const b = parseCounters(text(108, 1, 1, 100, 10), 10_000);
    const p = intervalOf(a, b);
    assert.equal(p.requestsPerSecond, 10);
    assert.equal(p.errorsPerSecond, 0.1);
    assert.equal(p.refusalsPerSecond, 0.1);
    assert.equal(p.p50Ms, 1); // 90 of 100 answered within 1 ms
    assert.equal(p.p99Ms, 10);
  });

  it('has no percentiles for an idle interval', () => {
    const a = parseCounters(text(10, 0, 0, 10, 0), 0);
    const p = intervalOf(a, parseCounters(text(10, 0, 0, 10, 0), 10_000));
    assert.equal(p.requestsPerSecond, 0);
    assert.equal(p.p50Ms, null);
  });
});

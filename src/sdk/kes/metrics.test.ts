// Tests the Prometheus text parser and the kes_* summary the client builds from it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KesResponseError } from './errors.ts';
import { parseKesMetrics, parsePrometheusText } from './metrics.ts';

const TEXT = `# HELP kes_http_request_success Number of requests that have been served successfully.
# TYPE kes_http_request_success counter
kes_http_request_success{code="200"} 7
kes_http_request_success{code="204"} 3
kes_http_request_error{code="404"} 2
kes_http_request_error{code="403"} 1
kes_http_request_failure{code="502"} 1
kes_http_request_active 1
# TYPE kes_http_response_time histogram
kes_http_response_time_bucket{le="0.01"} 9
kes_http_response_time_bucket{le="0.05"} 11
kes_http_response_time_bucket{le="+Inf"} 14
kes_http_response_time_sum 0.25
kes_http_response_time_count 14
kes_log_audit_events 4
kes_log_error_events 0
kes_system_up_time 12.5
kes_system_num_cpu 8
kes_system_num_cpu_used 2
kes_system_num_threads 10
kes_system_mem_heap_used 1.048576e+06
kes_system_mem_heap_objects 0
kes_system_mem_stack_used 0
other_metric{path="a\\"b\\\\c\\nd",x="y"} NaN 1700000000000
`;

describe('parsePrometheusText', () => {
  it('reads labels with escapes, special values and timestamps', () => {
    const samples = parsePrometheusText(TEXT);
    const other = samples.find((s) => s.name === 'other_metric')!;
    assert.deepEqual(other.labels, { path: 'a"b\\c\nd', x: 'y' });
    assert.ok(Number.isNaN(other.value));
    assert.equal(samples.find((s) => s.labels.le === '+Inf')!.value, 14);
  });

  it('names the malformed line', () => {
    assert.throws(
      () => parsePrometheusText('ok 1\nbad{x=1} 2\n'),
      (e: unknown) => {
        assert.ok(e instanceof KesResponseError);
        assert.match(e.message, /line 2/);
        return true;
      },
    );
    assert.throws(() => parsePrometheusText('name abc\n'), KesResponseError);
    assert.throws(() => parsePrometheusText('name 1 2 3\n'), KesResponseError);
  });
});

describe('parseKesMetrics', () => {
  it('sums labelled counters and reads the histogram and system gauges', () => {
    const m = parseKesMetrics(TEXT);
    assert.equal(m.requestOk, 10);
    assert.equal(m.requestErr, 3);
    assert.equal(m.requestFail, 1);
    assert.equal(m.requestActive, 1);
    assert.equal(m.auditEvents, 4);
    assert.deepEqual(
      [...m.latencyHistogram],
      [
        [0.01, 9],
        [0.05, 11],
        [Infinity, 14],
      ],
    );
    assert.equal(m.upTime, 12.5);
    assert.equal(m.cpus, 8);
    assert.equal(m.usableCpus, 2);
    assert.equal(m.heapAlloc, 1048576);
  });

  it('reads missing families as zero', () => {
    const m = parseKesMetrics('');
    assert.equal(m.requestOk, 0);
    assert.equal(m.latencyHistogram.size, 0);
  });
});

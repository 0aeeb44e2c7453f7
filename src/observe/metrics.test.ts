// The request metrics are counted in plain numbers and exported when scraped: the exposition must
// be what prom-client's own Counter and Histogram give for the same requests, in the Prometheus
// text format, in OpenMetrics, and added up across worker processes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { Metrics } from './metrics.ts';

type Observation = [route: string, status: number, seconds: number];

/** prom-client's own metrics fed the same requests: the reference. */
function reference(observations: readonly Observation[]): Registry {
  const registry = new Registry();
  const requests = new Counter({
    name: 'keyhold_http_requests_total',
    help: 'HTTP requests served, by route and status code.',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'keyhold_http_request_duration_seconds',
    help: 'Time from request start to response end, by route.',
    labelNames: ['route'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [registry],
  });
  for (const [route, status, seconds] of observations) {
    requests.labels(route, String(status)).inc();
    duration.labels(route).observe(seconds);
  }
  return registry;
}

function measured(observations: readonly Observation[]): Registry {
  const metrics = new Metrics(() => 0);
  for (const [route, status, seconds] of observations) metrics.observe(route, status, seconds);
  return metrics.registry;
}

/** The request metrics' lines (the process gauges differ from run to run). */
function requestLines(text: string): string {
  return text
    .split('\n')
    .filter((line) => line.includes('keyhold_http_'))
    .join('\n');
}

const observations = fc.array(
  fc.tuple(
    fc.constantFrom('/v1/kms/', '/v1/key/generate/', 'unknown'),
    fc.constantFrom(200, 403, 404, 500),
    fc.oneof(
      fc.constantFrom(0, 0.0001, 0.00025, 0.001, 1, 2),
      fc.double({ min: 0, max: 3, noNaN: true }),
    ),
  ),
  { maxLength: 40 },
);

describe('request metrics', () => {
  it('export what prom-client would, in both formats and aggregated', async () => {
    await fc.assert(
      fc.asyncProperty(observations, async (list) => {
        const ours = measured(list);
        const theirs = reference(list);
        assert.equal(requestLines(await ours.metrics()), requestLines(await theirs.metrics()));
        const aggregated = async (r: Registry): Promise<string> =>
          requestLines(
            await AggregatorRegistry.aggregate([
              await r.getMetricsAsJSON(),
              await r.getMetricsAsJSON(),
            ]).metrics(),
          );
        assert.equal(await aggregated(ours), await aggregated(theirs));
        const open = Registry.OPENMETRICS_CONTENT_TYPE as typeof Registry.PROMETHEUS_CONTENT_TYPE;
        ours.setContentType(open);
        theirs.setContentType(open);
        assert.equal(requestLines(await ours.metrics()), requestLines(await theirs.metrics()));
      }),
      { numRuns: 60 },
    );
  });

  it('count every request', async () => {
    const text = await measured([
      ['/v1/kms/', 200, 0.0003],
      ['/v1/kms/', 200, 0.02],
      ['/v1/kms/', 403, 2],
    ]).metrics();
    assert.match(text, /^keyhold_http_requests_total\{route="\/v1\/kms\/",code="200"\} 2$/m);
    assert.match(
      text,
      /^keyhold_http_request_duration_seconds_bucket\{le="0.0005",route="\/v1\/kms\/"\} 1$/m,
    );
    assert.match(text, /^keyhold_http_request_duration_seconds_count\{route="\/v1\/kms\/"\} 3$/m);
  });
});

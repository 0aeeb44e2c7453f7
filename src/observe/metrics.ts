// Prometheus metrics of one server process: request counts by route and status, latency
// histograms, and process gauges. Served as Prometheus text or OpenMetrics by content negotiation.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricObjectWithValues, MetricValue, MetricValueWithName } from 'prom-client';

const REQUESTS = 'keyhold_http_requests_total';
const REQUESTS_HELP = 'HTTP requests served, by route and status code.';
const DURATION = 'keyhold_http_request_duration_seconds';
const DURATION_HELP = 'Time from request start to response end, by route.';
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1] as const;

/** Requests of one (route, status code). */
interface StatusCount {
  readonly route: string;
  readonly code: string;
  count: number;
}

/** The latencies of one route, summed in the order observed (as prom-client sums them). */
interface RouteTimes {
  readonly route: string;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative), the last one for above the largest bound. */
  readonly buckets: Float64Array;
  readonly byStatus: Map<number, StatusCount>;
}

/**
 * What every request updates. prom-client's label children hash their label object on every
 * `inc` / `observe` (~3 % of a single-request generate's server CPU, by profile), so requests
 * only add to plain numbers here and the two metrics below read them when scraped.
 */
class RequestCounts {
  readonly #byRoute = new Map<string, RouteTimes>();
  /** Routes and (route, status code) pairs in the order first seen: the order prom-client exports. */
  readonly routes: RouteTimes[] = [];
  readonly statuses: StatusCount[] = [];

  observe(route: string, status: number, seconds: number): void {
    let times = this.#byRoute.get(route);
    if (times === undefined) {
      times = {
        route,
        count: 0,
        sum: 0,
        buckets: new Float64Array(BUCKETS.length + 1),
        byStatus: new Map(),
      };
      this.#byRoute.set(route, times);
      this.routes.push(times);
    }
    times.count++;
    times.sum += seconds;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    times.buckets[i]!++;
    let counted = times.byStatus.get(status);
    if (counted === undefined) {
      counted = { route, code: String(status), count: 0 };
      times.byStatus.set(status, counted);
      this.statuses.push(counted);
    }
    counted.count++;
  }

  reset(): void {
    this.#byRoute.clear();
    this.routes.length = 0;
    this.statuses.length = 0;
  }
}

/** `keyhold_http_requests_total{route,code}`, read from the plain counts. */
class RequestCounter extends Counter<'route' | 'code'> {
  // Not a #private field: prom-client's constructor calls reset() before fields are set.
  private readonly counts: RequestCounts | undefined;

  constructor(counts: RequestCounts, registry: Registry) {
    super({
      name: REQUESTS,
      help: REQUESTS_HELP,
      labelNames: ['route', 'code'],
      registers: [registry],
    });
    this.counts = counts;
  }

  override get(): Promise<MetricObjectWithValues<MetricValue<'route' | 'code'>>> {
    const values: MetricValue<'route' | 'code'>[] = [];
    for (const c of this.counts?.statuses ?? []) {
      values.push({ value: c.count, labels: { route: c.route, code: c.code } });
    }
    // The registry renames the counter for OpenMetrics (without `_total`): report its name now.
    return exported(Reflect.get(this, 'name') as string, REQUESTS_HELP, 'counter', values);
  }

  override reset(): void {
    // Also called by prom-client's constructor, before `counts` is set.
    this.counts?.reset();
  }
}

/**
 * `keyhold_http_request_duration_seconds{route}`, read from the plain per-route times, in the
 * shape prom-client's own histogram exports.
 */
class RequestHistogram extends Histogram<'route'> {
  private readonly counts: RequestCounts | undefined;

  constructor(counts: RequestCounts, registry: Registry) {
    super({
      name: DURATION,
      help: DURATION_HELP,
      labelNames: ['route'],
      buckets: [...BUCKETS],
      registers: [registry],
    });
    this.counts = counts;
  }

  override get(): Promise<MetricObjectWithValues<MetricValueWithName<'route'>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const { route, count, sum, buckets } of this.counts?.routes ?? []) {
      let cumulative = 0;
      const bucket = `${DURATION}_bucket`;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += buckets[i]!;
        values.push({ metricName: bucket, labels: { le: BUCKETS[i]!, route }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', route }, value: count });
      values.push({ metricName: `${DURATION}_sum`, labels: { route }, value: sum });
      values.push({ metricName: `${DURATION}_count`, labels: { route }, value: count });
    }
    return exported(DURATION, DURATION_HELP, 'histogram', values);
  }

  /** The registry prefers this for the text format; the values are already flat. */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<'route'>>> {
    return this.get();
  }

  override reset(): void {
    // Also called by prom-client's constructor, before `counts` is set.
    this.counts?.reset();
  }
}

/**
 * The object prom-client's registry and cluster aggregation read from a metric's `get()`: at run
 * time `type` is the lower-case name, which its typings (an enum) do not say, hence the cast.
 */
function exported<T extends MetricValue<string>>(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  values: T[],
): Promise<MetricObjectWithValues<T>> {
  return Promise.resolve({
    name,
    help,
    type,
    values,
    aggregator: 'sum',
  } as unknown as MetricObjectWithValues<T>);
}

export class Metrics {
  readonly registry = new Registry();
  readonly #counts = new RequestCounts();
  readonly #started = Date.now();

  constructor(countKeys: () => number) {
    new RequestCounter(this.#counts, this.registry);
    new RequestHistogram(this.#counts, this.registry);
    new Gauge({
      name: 'keyhold_keys',
      help: 'Keys held across all enclaves.',
      registers: [this.registry],
      collect() {
        this.set(countKeys());
      },
    });
    const started = this.#started;
    new Gauge({
      name: 'keyhold_uptime_seconds',
      help: 'Seconds since the server started.',
      registers: [this.registry],
      collect() {
        this.set((Date.now() - started) / 1000);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'keyhold_' });
  }

  /** Records one finished request. */
  observe(route: string, status: number, seconds: number): void {
    this.#counts.observe(route, status, seconds);
  }
}

// Prometheus metrics of one server process: request counts by route and status, latency
// histograms, and process gauges. Served as Prometheus text or OpenMetrics by content negotiation.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'route' | 'code'>;
  readonly #duration: Histogram<'route'>;
  readonly #started = Date.now();
  readonly #children = new Map<
    string,
    { requests: { inc(): void }; duration: { observe(value: number): void } }
  >();

  constructor(countKeys: () => number) {
    this.#requests = new Counter({
      name: 'keyhold_http_requests_total',
      help: 'HTTP requests served, by route and status code.',
      labelNames: ['route', 'code'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'keyhold_http_request_duration_seconds',
      help: 'Time from request start to response end, by route.',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [this.registry],
    });
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
    // Label children are cached: prom-client hashes the label object on every call otherwise.
    const key = `${route} ${status}`;
    let children = this.#children.get(key);
    if (!children) {
      children = {
        requests: this.#requests.labels(route, String(status)),
        duration: this.#duration.labels(route),
      };
      this.#children.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(seconds);
  }
}

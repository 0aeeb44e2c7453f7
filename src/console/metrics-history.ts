// The overview's charts: the node's request counters sampled every SAMPLE_MS into a ring of the
// last hour, turned into request rate, error rate and latency percentiles per interval. Every
// serving process samples from its start: whichever worker answers the overview has the hour.

/** Time between samples. */
export const SAMPLE_MS = 10_000;
/** Samples kept: one hour. */
const CAPACITY = 360;

/** The node-wide counters at one moment (console requests left out: they are the viewer). */
export interface CounterSample {
  readonly time: number;
  readonly requests: number;
  /** Answers with status 500 and above. */
  readonly errors: number;
  /** Answers with status 400–499. */
  readonly refusals: number;
  /** Cumulative latency histogram: upper bound in seconds → observations at or below it. */
  readonly buckets: ReadonlyMap<number, number>;
}

/** One interval of the charts. */
export interface IntervalPoint {
  readonly time: number;
  readonly requestsPerSecond: number;
  readonly errorsPerSecond: number;
  readonly refusalsPerSecond: number;
  /** Upper bound of the histogram bucket holding the 50th / 99th percentile, in ms (null: idle). */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

const LINE =
  /^(keyhold_http_requests_total|keyhold_http_request_duration_seconds_bucket)\{([^}]*)\} (\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Reads the request counters out of the Prometheus text the node serves. */
export function parseCounters(text: string, time: number): CounterSample {
  let requests = 0;
  let errors = 0;
  let refusals = 0;
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const labels = new Map<string, string>();
    for (const l of m[2]!.matchAll(LABEL)) labels.set(l[1]!, l[2]!);
    if ((labels.get('route') ?? '').startsWith('/console')) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    if (m[1] === 'keyhold_http_requests_total') {
      const code = Number(labels.get('code'));
      requests += value;
      if (code >= 500) errors += value;
      else if (code >= 400) refusals += value;
    } else {
      const le = labels.get('le') === '+Inf' ? Infinity : Number(labels.get('le'));
      buckets.set(le, (buckets.get(le) ?? 0) + value);
    }
  }
  return { time, requests, errors, refusals, buckets };
}

/** The interval between two samples. */
export function intervalOf(a: CounterSample, b: CounterSample): IntervalPoint {
  const seconds = Math.max(0.001, (b.time - a.time) / 1000);
  const count = b.requests - a.requests;
  const bounds = [...b.buckets.keys()].sort((x, y) => x - y);
  const quantile = (q: number): number | null => {
    const total = (b.buckets.get(Infinity) ?? 0) - (a.buckets.get(Infinity) ?? 0);
    if (total <= 0) return null;
    for (const le of bounds) {
      const below = (b.buckets.get(le) ?? 0) - (a.buckets.get(le) ?? 0);
      if (below >= q * total) return Number.isFinite(le) ? le * 1000 : null;
    }
    return null;
  };
  return {
    time: b.time,
    requestsPerSecond: Math.max(0, count) / seconds,
    errorsPerSecond: Math.max(0, b.errors - a.errors) / seconds,
    refusalsPerSecond: Math.max(0, b.refusals - a.refusals) / seconds,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
  };
}

export class MetricsHistory {
  readonly #read: () => Promise<string>;
  readonly #samples: CounterSample[] = [];
  #timer: NodeJS.Timeout | null = null;
  #sampling: Promise<void> | null = null;

  /** @param read the node's Prometheus text (every process of a worker pool). */
  constructor(read: () => Promise<string>) {
    this.#read = read;
  }

  /**
   * Starts sampling, the first sample one interval from now: not during start-up, where asking
   * a worker pool for its metrics would hold up a node that fails to start. The timer never
   * keeps the process alive.
   */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.#sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  /**
   * The intervals of the last hour, oldest first, ending with the one from the last sample to
   * now (not kept: it would leave slivers between the timer's samples).
   */
  async points(): Promise<IntervalPoint[]> {
    if (this.#timer === null) this.start();
    if (this.#samples.length === 0) await this.#sample();
    const out: IntervalPoint[] = [];
    for (let i = 1; i < this.#samples.length; i++) {
      out.push(intervalOf(this.#samples[i - 1]!, this.#samples[i]!));
    }
    const last = this.#samples.at(-1);
    if (last && Date.now() - last.time >= 1000) {
      try {
        out.push(intervalOf(last, parseCounters(await this.#read(), Date.now())));
      } catch {
        // The node's metrics are momentarily unavailable: the stored intervals still stand.
      }
    }
    return out;
  }

  /** Stops sampling (server shutdown). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #sample(): Promise<void> {
    this.#sampling ??= this.#read()
      .then((text) => {
        this.#samples.push(parseCounters(text, Date.now()));
        if (this.#samples.length > CAPACITY) this.#samples.shift();
      })
      .catch(() => undefined)
      .finally(() => {
        this.#sampling = null;
      });
    return this.#sampling;
  }
}

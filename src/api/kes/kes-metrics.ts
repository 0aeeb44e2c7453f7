// `/v1/metrics` of the KES face: KES's own metric names (docs/protocol/kes.md) in Prometheus text
// format. kms-go's parser is strict (every family needs a sample; all but the three request
// counters exactly one), so the exposition is written here rather than by a generic registry.

import { availableParallelism, cpus } from 'node:os';

/** The Content-Type of the Prometheus text format, as KES negotiates it by default. */
export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

const BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 3, 5, 10] as const;

/** The counters of one process, plain data so that a worker pool can add them up. */
export interface KesCounts {
  readonly success: [number, number][];
  readonly error: [number, number][];
  readonly failure: [number, number][];
  readonly buckets: number[];
  readonly active: number;
  readonly sum: number;
  readonly count: number;
  readonly errorEvents: number;
  readonly auditEvents: number;
}

/** Adds up the counters of several processes. */
export function mergeKesCounts(all: readonly KesCounts[]): KesCounts {
  const codes = (pick: (c: KesCounts) => [number, number][]): [number, number][] => {
    const sum = new Map<number, number>();
    for (const c of all) for (const [code, n] of pick(c)) sum.set(code, (sum.get(code) ?? 0) + n);
    return [...sum];
  };
  const total = (pick: (c: KesCounts) => number): number => all.reduce((n, c) => n + pick(c), 0);
  return {
    success: codes((c) => c.success),
    error: codes((c) => c.error),
    failure: codes((c) => c.failure),
    buckets: BUCKETS.map((_, i) => total((c) => c.buckets[i] ?? 0)),
    active: total((c) => c.active),
    sum: total((c) => c.sum),
    count: total((c) => c.count),
    errorEvents: total((c) => c.errorEvents),
    auditEvents: total((c) => c.auditEvents),
  };
}

export class KesMetrics {
  readonly #success = new Map<number, number>();
  readonly #error = new Map<number, number>();
  readonly #failure = new Map<number, number>();
  readonly #bucketCounts: number[] = BUCKETS.map(() => 0);
  readonly #started: number;
  #active = 0;
  #sum = 0;
  #count = 0;
  #errorEvents = 0;
  #auditEvents = 0;

  constructor(started: number = Date.now()) {
    this.#started = started;
  }

  /** A key/policy/identity request started; {@link finished} follows once it has closed. */
  started(): void {
    this.#active++;
  }

  /** A request counted by {@link started} closed with `status` after `seconds`. */
  finished(status: number, seconds: number): void {
    this.#active--;
    const counter =
      status >= 500
        ? this.#failure
        : status >= 400
          ? this.#error
          : status >= 200
            ? this.#success
            : null;
    if (counter) counter.set(status, (counter.get(status) ?? 0) + 1);
    this.#sum += seconds;
    this.#count++;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.#bucketCounts[i]!++;
  }

  /** One event written to an error-log subscriber. */
  errorEvent(): void {
    this.#errorEvents++;
  }

  /** One event written to an audit-log subscriber. */
  auditEvent(): void {
    this.#auditEvents++;
  }

  /** This process's counters. */
  counts(): KesCounts {
    return {
      success: [...this.#success],
      error: [...this.#error],
      failure: [...this.#failure],
      buckets: [...this.#bucketCounts],
      active: this.#active,
      sum: this.#sum,
      count: this.#count,
      errorEvents: this.#errorEvents,
      auditEvents: this.#auditEvents,
    };
  }

  /** The Prometheus text exposition of `counts` (by default this process's). */
  exposition(counts: KesCounts = this.counts()): string {
    const success = new Map(counts.success);
    const error = new Map(counts.error);
    const failure = new Map(counts.failure);
    const lines: string[] = [];
    const counter = (name: string, help: string, values: Map<number, number>): void => {
      if (values.size === 0) return; // a family without samples breaks kms-go's parser
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [code, n] of [...values].sort((a, b) => a[0] - b[0])) {
        lines.push(`${name}{code="${code}"} ${n}`);
      }
    };
    const single = (name: string, type: 'counter' | 'gauge', help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    counter(
      'kes_http_request_success',
      'Number of requests that have been served successfully.',
      success,
    );
    counter(
      'kes_http_request_error',
      'Number of request that failed due to some error. (HTTP 4xx status code)',
      error,
    );
    counter(
      'kes_http_request_failure',
      'Number of request that failed due to some internal failure. (HTTP 5xx status code)',
      failure,
    );
    single(
      'kes_http_request_active',
      'gauge',
      'Number of active requests that are not finished, yet.',
      counts.active,
    );
    lines.push(
      '# HELP kes_http_response_time Histogram of request response times spawning from 10ms to 10s.',
      '# TYPE kes_http_response_time histogram',
    );
    BUCKETS.forEach((le, i) => {
      lines.push(`kes_http_response_time_bucket{le="${le}"} ${counts.buckets[i] ?? 0}`);
    });
    lines.push(
      `kes_http_response_time_bucket{le="+Inf"} ${counts.count}`,
      `kes_http_response_time_sum ${counts.sum}`,
      `kes_http_response_time_count ${counts.count}`,
    );
    single(
      'kes_log_error_events',
      'counter',
      'Number of error log events written to error log targets.',
      counts.errorEvents,
    );
    single(
      'kes_log_audit_events',
      'counter',
      'Number of audit log events written to audit log targets.',
      counts.auditEvents,
    );
    const memory = process.memoryUsage();
    const uptime = Math.round((Date.now() - this.#started) / 10) / 100;
    single(
      'kes_system_up_time',
      'gauge',
      'The time the server has been up and running in seconds.',
      uptime,
    );
    single(
      'kes_system_num_cpu',
      'gauge',
      'The number of logical CPUs available on the system.',
      cpus().length,
    );
    single(
      'kes_system_num_cpu_used',
      'gauge',
      'The number of logical CPUs usable by the server.',
      availableParallelism(),
    );
    single(
      'kes_system_num_threads',
      'gauge',
      'The number of active handles (connections, timers) of the server process.',
      process.getActiveResourcesInfo().length,
    );
    single(
      'kes_system_mem_heap_used',
      'gauge',
      'The number of bytes used by the JavaScript heap.',
      memory.heapUsed,
    );
    single('kes_system_mem_heap_objects', 'gauge', 'Not measured by Node.js: always 0.', 0);
    single('kes_system_mem_stack_used', 'gauge', 'Not measured by Node.js: always 0.', 0);
    return lines.join('\n') + '\n';
  }
}

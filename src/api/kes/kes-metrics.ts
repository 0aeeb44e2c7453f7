// `/v1/metrics` of the KES face: KES's own metric names (research/kes.md §9.4) in Prometheus text
// format. kms-go's parser is strict (every family needs a sample; all but the three request
// counters exactly one), so the exposition is written here rather than by a generic registry.

import { availableParallelism, cpus } from 'node:os';

/** The Content-Type of the Prometheus text format, as KES negotiates it by default. */
export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

const BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 3, 5, 10] as const;

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

  /** A key/policy/identity request started; call the returned function once it finished. */
  begin(): (status: number) => void {
    this.#active++;
    const started = process.hrtime.bigint();
    let done = false;
    return (status) => {
      if (done) return;
      done = true;
      this.#active--;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
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
    };
  }

  /** One event written to an error-log subscriber. */
  errorEvent(): void {
    this.#errorEvents++;
  }

  /** One event written to an audit-log subscriber. */
  auditEvent(): void {
    this.#auditEvents++;
  }

  /** The Prometheus text exposition. */
  exposition(): string {
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
      this.#success,
    );
    counter(
      'kes_http_request_error',
      'Number of request that failed due to some error. (HTTP 4xx status code)',
      this.#error,
    );
    counter(
      'kes_http_request_failure',
      'Number of request that failed due to some internal failure. (HTTP 5xx status code)',
      this.#failure,
    );
    single(
      'kes_http_request_active',
      'gauge',
      'Number of active requests that are not finished, yet.',
      this.#active,
    );
    lines.push(
      '# HELP kes_http_response_time Histogram of request response times spawning from 10ms to 10s.',
      '# TYPE kes_http_response_time histogram',
    );
    BUCKETS.forEach((le, i) => {
      lines.push(`kes_http_response_time_bucket{le="${le}"} ${this.#bucketCounts[i]!}`);
    });
    lines.push(
      `kes_http_response_time_bucket{le="+Inf"} ${this.#count}`,
      `kes_http_response_time_sum ${this.#sum}`,
      `kes_http_response_time_count ${this.#count}`,
    );
    single(
      'kes_log_error_events',
      'counter',
      'Number of error log events written to error log targets.',
      this.#errorEvents,
    );
    single(
      'kes_log_audit_events',
      'counter',
      'Number of audit log events written to audit log targets.',
      this.#auditEvents,
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

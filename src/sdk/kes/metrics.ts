// `GET /v1/metrics` for the KES client: a Prometheus text-exposition parser and the summary
// kms-go/kes builds from the `kes_*` families (docs/protocol/kes.md).

import { KesResponseError } from './errors.ts';

/** One sample of a metric family. */
export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The `kes_*` metrics of a server, as kms-go's `Metric` reads them. */
export interface KesMetrics {
  /** Requests answered 2xx / 4xx / 5xx, and those in flight. */
  readonly requestOk: number;
  readonly requestErr: number;
  readonly requestFail: number;
  readonly requestActive: number;
  readonly auditEvents: number;
  readonly errorEvents: number;
  /** Response-time histogram: cumulative count per upper bound in seconds (`Infinity` last). */
  readonly latencyHistogram: ReadonlyMap<number, number>;
  /** Seconds since the server started. */
  readonly upTime: number;
  readonly cpus: number;
  readonly usableCpus: number;
  readonly threads: number;
  readonly heapAlloc: number;
  readonly heapObjects: number;
  readonly stackAlloc: number;
  /** Every sample in the response, including families other than `kes_*`. */
  readonly samples: readonly PrometheusSample[];
}

/**
 * Parses the Prometheus text format (version 0.0.4): comment and blank lines skipped, samples
 * `name{label="value",…} value [timestamp]` with `\\`, `\"` and `\n` escapes in label values.
 * Throws KesResponseError naming the first malformed line.
 */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (): never => {
      throw new KesResponseError(
        `invalid metrics response: line ${index + 1}: ${JSON.stringify(line.slice(0, 80))}`,
      );
    };
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line) ?? fail();
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      for (;;) {
        rest = rest.trimStart();
        if (rest.startsWith('}')) {
          rest = rest.slice(1);
          break;
        }
        const label =
          /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/.exec(rest) ?? fail();
        labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(label[0].length);
      }
    }
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') fail();
    const value = parseValue(fields[0]!) ?? fail();
    samples.push({ name, labels, value });
  });
  return samples;
}

/** Builds {@link KesMetrics} from a Prometheus text body; families that are missing count as 0. */
export function parseKesMetrics(text: string): KesMetrics {
  const samples = parsePrometheusText(text);
  const sum = (name: string): number =>
    samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);
  const histogram = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== 'kes_http_response_time_bucket') continue;
    const le = s.labels.le;
    const bound = le === undefined ? undefined : parseValue(le);
    if (bound !== undefined) histogram.set(bound, (histogram.get(bound) ?? 0) + s.value);
  }
  return {
    requestOk: sum('kes_http_request_success'),
    requestErr: sum('kes_http_request_error'),
    requestFail: sum('kes_http_request_failure'),
    requestActive: sum('kes_http_request_active'),
    auditEvents: sum('kes_log_audit_events'),
    errorEvents: sum('kes_log_error_events'),
    latencyHistogram: new Map([...histogram].sort((a, b) => a[0] - b[0])),
    upTime: sum('kes_system_up_time'),
    cpus: sum('kes_system_num_cpu'),
    usableCpus: sum('kes_system_num_cpu_used'),
    threads: sum('kes_system_num_threads'),
    heapAlloc: sum('kes_system_mem_heap_used'),
    heapObjects: sum('kes_system_mem_heap_objects'),
    stackAlloc: sum('kes_system_mem_stack_used'),
    samples,
  };
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

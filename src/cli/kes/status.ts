// `keyhold kes status` and `keyhold kes metric`: per-endpoint server state, the route table, and
// the `kes_*` Prometheus metrics.

import { setTimeout as sleep } from 'node:timers/promises';
import { flag, stringOption, UsageError } from '../command.ts';
import type { Command } from '../command.ts';
import { formatTable, print, printJson } from '../output.ts';
import {
  encodeKesStatus,
  type KesApiRoute,
  type KesMetrics,
  type KesStatus,
} from '../../sdk/kes/index.ts';
import { clientFrom, CONNECTION_OPTIONS, CONNECTION_USAGE, failure, reason } from './connection.ts';
import { parseDuration } from './duration.ts';
import { formatBytes, formatNanoseconds, formatSeconds } from './format.ts';

interface EndpointState {
  readonly endpoint: string;
  readonly status?: KesStatus;
  readonly api?: KesApiRoute[];
  readonly latencyMs: number;
  readonly error?: string;
}

const status: Command = {
  words: ['status'],
  summary: 'Show the state of each server endpoint',
  usage: `Usage: keyhold kes status [options]

Asks every endpoint for its state (GET /v1/status) and prints one row per endpoint:
version, uptime, CPUs, heap and keystore health. Exits 1 if an endpoint does not answer.

Options:
      --short    only endpoint, state and request latency
      --api      also list the API routes each endpoint serves (GET /v1/api)

With --json and one endpoint: the kes status JSON (version, os, arch, uptime, num_cpu, …);
with several: an array of {"endpoint", "status"|"error"}.

${CONNECTION_USAGE}
`,
  options: { ...CONNECTION_OPTIONS, short: { type: 'boolean' }, api: { type: 'boolean' } },
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError('expected no arguments');
    const base = clientFrom(args);
    const endpoints = base.endpoints;
    base.close();
    const states = await Promise.all(
      endpoints.map((endpoint) => probe(args, endpoint, flag(args, 'api'))),
    );
    if (flag(args, 'json')) {
      const encode = (s: EndpointState): Record<string, unknown> => ({
        ...(s.status ? encodeKesStatus(s.status) : {}),
        ...(s.api ? { api: s.api.map(encodeRoute) } : {}),
      });
      const only = states.length === 1 ? states[0]! : undefined;
      if (only?.status) printJson(encode(only));
      else
        printJson(
          states.map((s) =>
            s.status
              ? { endpoint: s.endpoint, status: encode(s) }
              : { endpoint: s.endpoint, error: s.error },
          ),
        );
    } else {
      const short = flag(args, 'short');
      const header = short
        ? ['Endpoint', 'State', 'Latency']
        : ['Endpoint', 'State', 'Version', 'Uptime', 'CPUs', 'Heap', 'Keystore', 'Latency'];
      const rows = states.map((s) => {
        const st = s.status;
        if (!st) return [s.endpoint, 'offline', short ? '' : (s.error ?? '')];
        const latency = `${s.latencyMs}ms`;
        if (short) return [s.endpoint, 'online', latency];
        const keystore = st.keystoreUnreachable
          ? 'unreachable'
          : st.keystoreUnavailable
            ? 'unavailable'
            : `ok${st.keystoreLatency > 0 ? ` (${formatNanoseconds(st.keystoreLatency)})` : ''}`;
        return [
          s.endpoint,
          'online',
          st.version,
          formatSeconds(st.uptime),
          `${st.numCpuUsed}/${st.numCpu}`,
          formatBytes(st.memHeapUsed),
          keystore,
          latency,
        ];
      });
      print(formatTable([header, ...rows]));
      for (const s of states) {
        if (!s.api) continue;
        print(`\nAPI of ${s.endpoint}:`);
        print(
          formatTable([
            ['Method', 'Path', 'Max body', 'Timeout'],
            ...[...s.api]
              .sort((a, b) => a.path.localeCompare(b.path))
              .map((r) => [
                r.method,
                r.path,
                String(r.maxBody),
                r.timeout > 0 ? `${r.timeout}s` : 'none',
              ]),
          ]),
        );
      }
    }
    return states.every((s) => s.status) ? 0 : 1;
  },
};

async function probe(
  args: Parameters<typeof clientFrom>[0],
  endpoint: string,
  api: boolean,
): Promise<EndpointState> {
  const client = clientFrom({ ...args, values: { ...args.values, server: endpoint } });
  const started = performance.now();
  try {
    const st = await client.status();
    const latencyMs = Math.max(1, Math.round(performance.now() - started));
    return { endpoint, status: st, latencyMs, ...(api ? { api: await client.apis() } : {}) };
  } catch (error) {
    return { endpoint, latencyMs: 0, error: reason(error) };
  } finally {
    client.close();
  }
}

function encodeRoute(r: KesApiRoute): Record<string, unknown> {
  return { method: r.method, path: r.path, max_body: r.maxBody, timeout: r.timeout };
}

const metric: Command = {
  words: ['metric'],
  summary: 'Show server metrics',
  usage: `Usage: keyhold kes metric [options]

Reads GET /v1/metrics and prints request counts (success, error, failure, active), the
response-time histogram and system figures. With --rate, keeps printing every DURATION
(e.g. 5s) with request rates per second since the previous sample, until interrupted.

Options:
      --rate DURATION    repeat every DURATION (Go syntax: 500ms, 5s, 1m)

${CONNECTION_USAGE}
`,
  options: { ...CONNECTION_OPTIONS, rate: { type: 'string' } },
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError('expected no arguments');
    const rateText = stringOption(args, 'rate');
    const rate = rateText === undefined ? undefined : parseDuration(rateText, '--rate');
    if (rate !== undefined && rate < 100) throw new UsageError('--rate must be at least 100ms');
    const client = clientFrom(args);
    const interrupted = new AbortController();
    const onSignal = (): void => {
      interrupted.abort();
    };
    process.once('SIGINT', onSignal);
    try {
      let previous: KesMetrics | undefined;
      for (;;) {
        let m: KesMetrics;
        try {
          m = await client.metrics();
        } catch (error) {
          throw failure('read metrics', error);
        }
        if (flag(args, 'json')) printJson(encodeMetrics(m));
        else print(formatMetrics(m, previous, rate));
        if (rate === undefined) return 0;
        previous = m;
        try {
          await sleep(rate, undefined, { signal: interrupted.signal });
        } catch {
          return 0;
        }
      }
    } finally {
      process.off('SIGINT', onSignal);
      client.close();
    }
  },
};

function encodeMetrics(m: KesMetrics): Record<string, unknown> {
  return {
    request_ok: m.requestOk,
    request_error: m.requestErr,
    request_failure: m.requestFail,
    request_active: m.requestActive,
    audit_events: m.auditEvents,
    error_events: m.errorEvents,
    latency_histogram: [...m.latencyHistogram].map(([le, count]) => ({
      le: le === Infinity ? '+Inf' : String(le),
      count,
    })),
    uptime: m.upTime,
    num_cpu: m.cpus,
    num_cpu_used: m.usableCpus,
    num_threads: m.threads,
    mem_heap_used: m.heapAlloc,
    mem_heap_objects: m.heapObjects,
    mem_stack_used: m.stackAlloc,
  };
}

function formatMetrics(
  m: KesMetrics,
  previous: KesMetrics | undefined,
  rateMs: number | undefined,
): string {
  const perSecond = (now: number, before: number | undefined): string =>
    previous === undefined || rateMs === undefined || before === undefined
      ? String(now)
      : `${now} (${((now - before) / (rateMs / 1000)).toFixed(1)}/s)`;
  const rows = [
    ['Requests OK', perSecond(m.requestOk, previous?.requestOk)],
    ['Requests 4xx', perSecond(m.requestErr, previous?.requestErr)],
    ['Requests 5xx', perSecond(m.requestFail, previous?.requestFail)],
    ['Requests active', String(m.requestActive)],
    ['Audit events', String(m.auditEvents)],
    ['Error events', String(m.errorEvents)],
    ['Uptime', formatSeconds(m.upTime)],
    ['CPUs', `${m.usableCpus}/${m.cpus}`],
    ['Heap', formatBytes(m.heapAlloc)],
  ];
  let below = 0;
  let lastBound = 0;
  for (const [le, n] of m.latencyHistogram) {
    const label =
      le === Infinity
        ? `Latency > ${Math.round(lastBound * 1000)}ms`
        : `Latency ≤ ${Math.round(le * 1000)}ms`;
    rows.push([label, String(n - below)]);
    below = n;
    lastBound = le;
  }
  return formatTable(rows) + (rateMs === undefined ? '' : '\n');
}

export const STATUS_VERBS: readonly Command[] = [status, metric];

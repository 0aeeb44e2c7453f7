// Load generation for the benchmarks: the Go client (bench/loadgen, how MinIO and the Go SDKs
// talk), a Node client, and CPU accounting of a server's whole process tree from /proc.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { clientCertificateForApiKey, parseApiKey } from '../src/identity/index.ts';

/** One load run's outcome, the Go load generator's JSON shape. */
export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50_us: number;
  readonly p99_us: number;
  readonly statuses: Record<string, number>;
  readonly connections?: number;
  /** Go client: measured responses that came over a resumed TLS session. */
  readonly resumed?: number;
  readonly first_error?: string;
}

export interface LoadSpec {
  readonly url: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly body?: Buffer;
  readonly contentType?: string;
  readonly apiKey: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Total requests per second to pace at (0 = as fast as possible). */
  readonly rate?: number;
  /** A new TLS connection for every request. */
  readonly noKeepAlive?: boolean;
  /** Go client, with noKeepAlive: resume the TLS session on each new connection. */
  readonly resume?: boolean;
  /** Per-request timeout of the Go client (its pre-1.23 dial cancellation shows with one). */
  readonly timeoutMs?: number;
}

/** Builds the Go load generator into `dir` with Debian's golang-go; null when Go is missing. */
export function buildGoLoadgen(dir: string): string | null {
  const out = join(dir, 'loadgen');
  try {
    execFileSync('go', ['build', '-o', out, '.'], {
      cwd: new URL('../../bench/loadgen/', import.meta.url).pathname,
      stdio: 'pipe',
      env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on', GOPROXY: 'off' },
    });
    return out;
  } catch {
    return null;
  }
}

/** Runs the Go load generator; `bodyFile` holds the request body. */
export function goLoad(
  binary: string,
  spec: LoadSpec,
  bodyFile: string | null,
  onStart?: (pid: number) => void,
): Promise<LoadResult> {
  const args = [
    '-url',
    spec.url,
    '-method',
    spec.method,
    '-api-key',
    spec.apiKey,
    '-c',
    String(spec.connections),
    '-d',
    `${spec.durationMs}ms`,
    '-warmup',
    `${spec.warmupMs}ms`,
    '-content-type',
    spec.contentType ?? 'application/octet-stream',
  ];
  if (bodyFile) args.push('-body', bodyFile);
  if (spec.rate) args.push('-rate', String(spec.rate));
  if (spec.noKeepAlive) args.push('-no-keepalive');
  if (spec.resume) args.push('-resume');
  if (spec.timeoutMs) args.push('-timeout', `${spec.timeoutMs}ms`);
  // BENCH_CLIENT_CPUS=LIST pins the load generator to those CPUs (taskset), e.g. the bench run
  // under `taskset -c 0` with BENCH_CLIENT_CPUS=1: server and client each on a core of its own.
  const pin = process.env.BENCH_CLIENT_CPUS;
  return new Promise((resolve, reject) => {
    const child =
      pin === undefined
        ? spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('taskset', ['-c', pin, binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) onStart?.(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`loadgen failed (${String(code)}): ${err}`));
      else resolve(JSON.parse(out) as LoadResult);
    });
  });
}

/**
 * The Node load generator: `connections` keep-alive TLS connections, one request in flight on
 * each, the API-key client certificate as the Go clients make it.
 */
export async function nodeLoad(spec: LoadSpec): Promise<LoadResult> {
  const cert = clientCertificateForApiKey(parseApiKey(spec.apiKey));
  const agent = new Agent({
    keepAlive: !spec.noKeepAlive,
    maxSockets: spec.connections,
    cert: cert.cert,
    key: cert.key,
    rejectUnauthorized: false,
  });
  const url = new URL(spec.url);
  const tally = new Tally();
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const start = process.hrtime.bigint();
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: spec.method,
          agent,
          headers: spec.body
            ? {
                'Content-Type': spec.contentType ?? 'application/octet-stream',
                'Content-Length': spec.body.length,
              }
            : {},
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            tally.response(String(res.statusCode), start);
            resolve();
          });
        },
      );
      req.on('error', () => {
        tally.error();
        resolve();
      });
      req.end(spec.body);
    });
  const result = await tally.window(
    spec,
    Array.from({ length: spec.connections }, async () => {
      while (!tally.stopping) await once();
    }),
  );
  agent.destroy();
  return result;
}

/**
 * What an in-process load generator counts (only inside the measured window), and the window
 * itself: warm-up, measurement, then stopping the connection loops and summarizing.
 */
export class Tally {
  /** Set when the window ends: connection loops finish their request and stop. */
  stopping = false;
  #measuring = false;
  #requests = 0;
  #errors = 0;
  readonly #latencies: number[] = [];
  readonly #statuses: Record<string, number> = {};

  /** A response with `status` to a request written at `sent` (process.hrtime.bigint()). */
  response(status: string, sent: bigint): void {
    if (!this.#measuring) return;
    this.#requests++;
    this.#statuses[status] = (this.#statuses[status] ?? 0) + 1;
    this.#latencies.push(Number(process.hrtime.bigint() - sent) / 1000);
  }

  error(): void {
    if (this.#measuring) this.#errors++;
  }

  /** Waits out the warm-up and the measured window over `loops` (running), then stops them. */
  async window(spec: LoadSpec, loops: readonly Promise<void>[]): Promise<LoadResult> {
    await sleep(spec.warmupMs);
    this.#measuring = true;
    const started = performance.now();
    await sleep(spec.durationMs);
    this.#measuring = false;
    const seconds = (performance.now() - started) / 1000;
    this.stopping = true;
    await Promise.all(loops);
    const latencies = this.#latencies.sort((a, b) => a - b);
    const pct = (p: number): number => latencies[Math.floor((latencies.length - 1) * p)] ?? 0;
    return {
      requests: this.#requests,
      errors: this.#errors,
      seconds,
      rps: this.#requests / seconds,
      p50_us: pct(0.5),
      p99_us: pct(0.99),
      statuses: this.#statuses,
    };
  }
}

/** CPU seconds (user + system) used so far by `pid` and all its descendants. */
export function treeCpuSeconds(pid: number): number {
  const ticks = 100; // USER_HZ on Linux
  let total = 0;
  for (const p of treePids(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      // the process ended
    }
  }
  return total;
}

/** Resident memory in bytes of `pid` and its descendants. */
export function treeRssBytes(pid: number): number {
  let total = 0;
  for (const p of treePids(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
      if (kb) total += Number(kb) * 1024;
    } catch {
      // the process ended
    }
  }
  return total;
}

function treePids(root: number): number[] {
  const children = new Map<number, number[]>();
  if (!existsSync('/proc')) return [root];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.pop()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The soak run behind `npm run soak` and its short CI test: a real server with the audit log on,
// a brief measurement of its maximum throughput for a mixed workload, then that workload paced
// at a fraction of the maximum for a long time, with errors, resident memory and latency
// percentiles recorded per window and checked at the end (docs/soak.md).

import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiKey, KmsClient, type DataKey } from '../src/sdk/index.ts';
import { startServer, tempDir } from '../test/helpers/server-process.ts';
import { sleep, treeRssBytes } from './load.ts';

export interface SoakOptions {
  /** Length of the paced phase. */
  readonly durationMs: number;
  /** Length of one reporting window (a minute in the long run). */
  readonly windowMs: number;
  /** Windows at the start of the paced phase that only warm up (not checked for growth/drift). */
  readonly warmupWindows: number;
  /** Length of the closed-loop maximum-throughput probe (0 with `rate`). */
  readonly probeMs: number;
  /** Operations per second to pace at; when absent, `fraction` × the probed maximum. */
  readonly rate?: number;
  readonly fraction: number;
  /** Concurrent requests of the probe (and the bound on requests in flight when paced). */
  readonly concurrency: number;
  /** Resident-memory growth of the server's processes over the end of warm-up that fails. */
  readonly maxGrowthBytes: number;
  /** Latency drift that fails: late median p50 over early median p50 (and `driftFloorMs` more). */
  readonly driftFactor: number;
  readonly driftFloorMs: number;
  /** Server arguments beyond the directory, address and audit log (e.g. `--workers 1`). */
  readonly serverArgs?: readonly string[];
  /** Called with each window as it closes. */
  readonly onWindow?: (w: SoakWindow) => void;
  /** Called with progress notes (the probe's result, the paced rate). */
  readonly onNote?: (line: string) => void;
}

/** One reporting window of the paced phase. */
export interface SoakWindow {
  readonly index: number;
  /** Seconds since the paced phase began, at the window's end. */
  readonly atSeconds: number;
  readonly ops: number;
  readonly errors: number;
  readonly opsPerSecond: number;
  /** Resident memory of the server's primary and workers at the window's end. */
  readonly rssBytes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Operations that could not be sent on time because `concurrency` were already in flight. */
  readonly late: number;
}

export interface SoakResult {
  readonly probedOpsPerSecond: number | null;
  readonly rate: number;
  readonly windows: readonly SoakWindow[];
  readonly errors: number;
  /** The first few error messages, for the report. */
  readonly errorSamples: readonly string[];
  readonly rssAfterWarmupBytes: number;
  readonly rssGrowthBytes: number;
  /** Median p50 of the first and last third of the checked windows. */
  readonly earlyP50Ms: number;
  readonly lateP50Ms: number;
  /** How often the audit log was rotated under the server (once per window). */
  readonly auditRotations: number;
  /** Why the run fails; empty when it passes. */
  readonly failures: readonly string[];
}

/**
 * The workload, per operation: 60 % KEY:GENERATE, 30 % KEY:DECRYPT of an earlier data key
 * (its plaintext checked), 10 % writes (KEY:CREATE of a fresh key, or KEY:DELETE of the oldest
 * once 32 exist, so the state stays bounded while the log keeps growing and gets snapshotted).
 * All as a User identity with a policy, so every request is authorized and audited.
 */
class Workload {
  readonly #client: KmsClient;
  readonly #recent: DataKey[] = [];
  readonly #created: string[] = [];
  #next = 0;
  #draw = 0;

  constructor(client: KmsClient) {
    this.#client = client;
  }

  async one(): Promise<void> {
    // A fixed cycle of 10 rather than random draws: the mix is exact in every window.
    const slot = this.#draw++ % 10;
    if (slot < 6 || (slot < 9 && this.#recent.length === 0)) {
      const key = await this.#client.generateKey('soak');
      if (this.#recent.length < 64) this.#recent.push(key);
      else this.#recent[this.#draw % 64] = key;
      return;
    }
    if (slot < 9) {
      const key = this.#recent[this.#draw % this.#recent.length]!;
      const plaintext = await this.#client.decrypt('soak', key.ciphertext);
      if (!plaintext.equals(key.plaintext)) throw new Error('KEY:DECRYPT returned another key');
      return;
    }
    if (this.#created.length >= 32) {
      await this.#client.deleteKey(this.#created.shift()!);
      return;
    }
    const name = `soak-w-${this.#next++}`;
    await this.#client.createKey(name);
    this.#created.push(name);
  }
}

/** Latencies and errors of one window. */
class Meter {
  latencies: number[] = [];
  errors = 0;
  late = 0;
  readonly samples: string[] = [];

  record(ms: number): void {
    this.latencies.push(ms);
  }

  fail(error: unknown): void {
    this.errors++;
    if (this.samples.length < 5) this.samples.push(String(error));
  }

  take(): { latencies: number[]; errors: number; late: number } {
    const out = { latencies: this.latencies, errors: this.errors, late: this.late };
    this.latencies = [];
    this.errors = 0;
    this.late = 0;
    return out;
  }
}

/** Runs a soak against a fresh server and returns what it measured and why it failed, if it did. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { dir, remove } = tempDir('keyhold-soak-');
  const audit = join(dir, 'audit.ndjson');
  const server = await startServer({
    dir: join(dir, 'state'),
    args: ['--audit-log', audit, ...(options.serverArgs ?? [])],
    timeout: 60_000,
  });
  const errorSamples: string[] = [];
  let auditRotations = 0;
  let probeErrors = 0;
  try {
    const client = await prepare(server.endpoint, server.rootApiKey, options.concurrency);
    const workload = new Workload(client);
    const meter = new Meter();
    const timed = async (): Promise<void> => {
      const start = performance.now();
      try {
        await workload.one();
        meter.record(performance.now() - start);
      } catch (error) {
        meter.fail(error);
      }
    };

    let probed: number | null = null;
    let rate = options.rate ?? 0;
    if (!options.rate) {
      probed = await probe(timed, options.concurrency, options.probeMs);
      const { errors } = meter.take();
      probeErrors = errors;
      rate = Math.max(1, Math.floor(probed * options.fraction));
      options.onNote?.(
        `probe: ${probed.toFixed(0)} ops/s closed-loop with ${options.concurrency} in flight` +
          `${errors ? `, ${errors} errors` : ''}; pacing at ${rate} ops/s (${options.fraction * 100} %)`,
      );
    } else {
      options.onNote?.(`pacing at ${rate} ops/s`);
    }

    // Paced phase: a 10 ms tick sends what is due; at most `concurrency` in flight.
    const windows: SoakWindow[] = [];
    let inFlight = 0;
    let sent = 0;
    const started = performance.now();
    let windowStart = started;
    const pending = new Set<Promise<void>>();
    while (performance.now() - started < options.durationMs) {
      const now = performance.now();
      const due = Math.floor(((now - started) / 1000) * rate) - sent;
      for (let i = 0; i < due; i++) {
        sent++;
        if (inFlight >= options.concurrency) {
          meter.late++;
          continue;
        }
        inFlight++;
        const p = timed().finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      if (now - windowStart >= options.windowMs) {
        const w = closeWindow(windows.length, meter, now - windowStart, now - started, server);
        windows.push(w);
        options.onWindow?.(w);
        windowStart = now;
        // Rotate the audit log as logrotate's `create` mode does (the server notices the rename
        // within a second, seals the old file and starts a new one) and drop the file from two
        // windows ago, so a long run exercises rotation without filling the disk.
        rmSync(`${audit}.1`, { force: true });
        try {
          renameSync(audit, `${audit}.1`);
          auditRotations++;
        } catch {
          // not yet created
        }
      }
      await sleep(10);
    }
    await Promise.all(pending);
    // Requests still in flight when the last window closed count too.
    probeErrors += meter.take().errors;
    errorSamples.push(...meter.samples);
    client.close();
    return judge(options, probed, rate, windows, probeErrors, errorSamples, auditRotations);
  } finally {
    await server.stop();
    remove();
  }
}

function closeWindow(
  index: number,
  meter: Meter,
  spanMs: number,
  atMs: number,
  server: { child: { pid?: number | undefined } },
): SoakWindow {
  const { latencies, errors, late } = meter.take();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.floor((latencies.length - 1) * p)] ?? 0;
  return {
    index,
    atSeconds: atMs / 1000,
    ops: latencies.length + errors,
    errors,
    opsPerSecond: (latencies.length + errors) / (spanMs / 1000),
    rssBytes: treeRssBytes(server.child.pid!),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: latencies.at(-1) ?? 0,
    late,
  };
}

function judge(
  options: SoakOptions,
  probed: number | null,
  rate: number,
  windows: readonly SoakWindow[],
  otherErrors: number,
  errorSamples: readonly string[],
  auditRotations: number,
): SoakResult {
  const failures: string[] = [];
  const errors = windows.reduce((n, w) => n + w.errors, otherErrors);
  if (errors > 0) failures.push(`${errors} errors, e.g. ${errorSamples.slice(0, 3).join(' | ')}`);
  const checked = windows.slice(options.warmupWindows);
  const base = windows[options.warmupWindows - 1]?.rssBytes ?? windows[0]?.rssBytes ?? 0;
  const peak = Math.max(base, ...checked.map((w) => w.rssBytes));
  const growth = peak - base;
  if (growth > options.maxGrowthBytes)
    failures.push(
      `resident memory grew by ${mib(growth)} after warm-up (bound ${mib(options.maxGrowthBytes)})`,
    );
  const third = Math.max(1, Math.floor(checked.length / 3));
  const median = (ws: readonly SoakWindow[]): number => {
    const xs = ws.map((w) => w.p50Ms).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)] ?? 0;
  };
  const early = median(checked.slice(0, third));
  const late = median(checked.slice(-third));
  if (late > early * options.driftFactor && late - early > options.driftFloorMs)
    failures.push(
      `latency drifted: median p50 ${early.toFixed(2)} ms early, ${late.toFixed(2)} ms late`,
    );
  if (checked.length === 0) failures.push('no window after warm-up: run longer');
  return {
    probedOpsPerSecond: probed,
    rate,
    windows,
    errors,
    errorSamples,
    rssAfterWarmupBytes: base,
    rssGrowthBytes: growth,
    earlyP50Ms: early,
    lateP50Ms: late,
    auditRotations,
    failures,
  };
}

/** Closed loop: `concurrency` requests always in flight for `ms`; returns operations/s. */
async function probe(op: () => Promise<void>, concurrency: number, ms: number): Promise<number> {
  let done = 0;
  let stop = false;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stop) {
        await op();
        done++;
        if (performance.now() - started >= ms) stop = true;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/**
 * The soak key and caller: a User identity whose policy allows what the workload does, so every
 * request goes through authentication, policy evaluation and the audit log.
 */
async function prepare(endpoint: string, rootApiKey: string, sockets: number): Promise<KmsClient> {
  const root = new KmsClient({ endpoints: endpoint, apiKey: rootApiKey, tls: { insecure: true } });
  const caller = ApiKey.generate('k1');
  await root.createKey('soak');
  await root.createPolicy('soak', {
    allow: {
      'KEY:GENERATE': ['soak'],
      'KEY:DECRYPT': ['soak'],
      'KEY:CREATE': ['soak-w-*'],
      'KEY:DELETE': ['soak-w-*'],
    },
  });
  await root.createIdentity(caller.identity.toH1());
  await root.assignPolicy('soak', caller.identity.toH1());
  root.close();
  return new KmsClient({
    endpoints: endpoint,
    apiKey: caller.toK1(),
    tls: { insecure: true },
    maxSockets: sockets,
  });
}

export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

// The fuzzing loop, run in a worker thread (run.ts is its watchdog): pick a corpus entry, mutate
// it, run the target, keep the input if V8's block coverage saw a new feature, report anything
// that is not one of the target's documented errors. At the end, the slowest inputs are re-run
// at 2x and 4x their size to catch super-linear time, and heap growth is checked.

import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { BlockCoverage } from './coverage.ts';
import { mutate, Rng } from './mutators.ts';
import type { MutationContext } from './mutators.ts';
import { FUZZ_TARGETS, InvariantError } from './targets.ts';
import type { FuzzTarget } from './targets.ts';

/** What run.ts hands the worker. */
export interface LoopData {
  readonly target: string;
  readonly seed: number;
  /** Stop fuzzing at this Date.now(); then the scale and memory checks run. */
  readonly until: number;
  /** Or after this many mutated inputs (a deterministic run, whatever the machine's load). */
  readonly maxExecs: number;
  /** How many of the slowest inputs the super-linear check re-runs at 4x size. */
  readonly scaleChecks: number;
  readonly corpus: readonly Uint8Array[];
  /** [0] = inputs started; [1] = length of the current input, whose bytes follow at byte 8. */
  readonly heartbeat: SharedArrayBuffer;
}

/** Messages the worker posts. */
export type LoopMessage =
  | { readonly type: 'corpus'; readonly input: Uint8Array }
  | {
      readonly type: 'finding';
      readonly kind: FindingKind;
      readonly signature: string;
      readonly detail: string;
      readonly input: Uint8Array;
    }
  | {
      readonly type: 'stats';
      readonly execs: number;
      readonly blocks: number;
      readonly done: boolean;
    };

export type FindingKind = 'crash' | 'invariant' | 'slow' | 'superlinear' | 'memory' | 'hang';

/** One input above this is re-run; still above it three times, it is a finding (inputs are ≤ a few KiB). */
const SLOW_MS = 250;
/** Time at 4x size over time at 1x above which the cost is super-linear (linear: 4, quadratic: 16). */
const SUPERLINEAR_RATIO = 10;
/** Heap growth over the run, beyond the corpus itself, that counts as a leak. */
const HEAP_GROWTH_LIMIT = 64 * 1024 * 1024;
/** Resident memory of the whole fuzzing process above which an input counts as a memory blow-up. */
const RSS_LIMIT = 1536 * 1024 * 1024;

/** How an error is reported: its class, message without numbers, and first frame in our code. */
function signature(kind: FindingKind, error: unknown): string {
  if (!(error instanceof Error)) return `${kind}: non-Error ${typeof error}`;
  const frame = (error.stack ?? '').split('\n').find((l) => l.includes('/src/')) ?? '';
  return `${kind}: ${error.name}: ${error.message.replace(/\d+/g, 'N').slice(0, 100)} ${frame.trim()}`;
}

function describe(error: unknown): string {
  return error instanceof Error
    ? (error.stack ?? `${error.name}: ${error.message}`)
    : String(error);
}

/** Runs `input` once; returns the error if it is a finding, otherwise null. */
function attempt(target: FuzzTarget, input: Buffer): { kind: FindingKind; error: unknown } | null {
  try {
    target.run(input);
    return null;
  } catch (error) {
    if (error instanceof InvariantError) return { kind: 'invariant', error };
    if (target.expected.some((cls) => error instanceof cls)) return null;
    return { kind: 'crash', error };
  }
}

/** Milliseconds one run of `input` takes: the best of 3 timings of enough runs to last ≥ 20 ms. */
function timeOf(target: FuzzTarget, input: Buffer, beat: (input: Buffer) => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    let runs = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < 20 && runs < 10_000) {
      beat(input);
      attempt(target, input);
      runs++;
      elapsed = performance.now() - start;
    }
    best = Math.min(best, elapsed / runs);
  }
  return best;
}

/** Ways to make an input k times larger: repeat it whole, or repeat its middle half. */
function grown(input: Buffer, k: number): Buffer[] {
  const q = Math.floor(input.length / 4);
  const middle = input.subarray(q, input.length - q);
  return [
    Buffer.concat(Array<Buffer>(k).fill(input)),
    Buffer.concat([
      input.subarray(0, q),
      ...Array<Buffer>(2 * k - 1).fill(middle),
      input.subarray(input.length - q),
    ]),
  ];
}

function main(): void {
  const data = workerData as LoopData;
  const port = parentPort!;
  const target = FUZZ_TARGETS.find((t) => t.name === data.target);
  if (!target) throw new Error(`no fuzz target '${data.target}'`);
  const counters = new Int32Array(data.heartbeat, 0, 2);
  const window = new Uint8Array(data.heartbeat, 8);
  // The watchdog reads the current input from shared memory if this thread stops answering.
  const beat = (input: Buffer): void => {
    const n = Math.min(input.length, window.length);
    window.set(input.subarray(0, n));
    Atomics.store(counters, 1, n);
    Atomics.add(counters, 0, 1);
  };
  const reported = new Set<string>();
  const report = (
    kind: FindingKind,
    error: unknown,
    input: Buffer,
    detail = describe(error),
  ): void => {
    const sig = signature(kind, error);
    if (reported.has(sig)) return;
    reported.add(sig);
    port.postMessage({
      type: 'finding',
      kind,
      signature: sig,
      detail,
      input,
    } satisfies LoopMessage);
  };

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const coverage = new BlockCoverage('/dist/src/');
  const rng = new Rng(data.seed);
  const corpus: Buffer[] = [];
  const ctx: MutationContext = {
    rng,
    dictionary: target.dictionary.map((t) => Buffer.from(t, 'latin1')),
    corpus,
    maxLen: target.maxLen,
  };
  let execs = 0;
  const slowest: { input: Buffer; ms: number }[] = [];

  /** Runs one input and checks everything but coverage. */
  const exec = (input: Buffer): void => {
    beat(input);
    const start = performance.now();
    const failure = attempt(target, input);
    const ms = performance.now() - start;
    execs++;
    if (failure) report(failure.kind, failure.error, input);
    if (process.memoryUsage.rss() > RSS_LIMIT) {
      report('memory', new Error(`resident memory above ${RSS_LIMIT / 2 ** 20} MiB`), input);
    }
    if (ms > SLOW_MS) {
      const again = Math.min(...[0, 1, 2].map(() => timeOf(target, input, beat)));
      if (again > SLOW_MS)
        report('slow', new Error(`one input takes ${again.toFixed(0)} ms`), input);
    }
    // Keep the 8 slowest inputs for the scale check.
    if (slowest.length < 8 || ms > slowest.at(-1)!.ms) {
      slowest.push({ input, ms });
      slowest.sort((a, b) => b.ms - a.ms);
      if (slowest.length > 8) slowest.pop();
    }
  };
  /** Runs one input alone (counts must be clean); keeps it if it reached a new block. */
  const execAlone = (input: Buffer, seeding: boolean): boolean => {
    exec(input);
    const fresh = coverage.take();
    coverage.add(fresh);
    if (fresh.length === 0 && !seeding) return false;
    corpus.push(input);
    if (!seeding) port.postMessage({ type: 'corpus', input } satisfies LoopMessage);
    return true;
  };

  coverage.take();
  for (const seed of data.corpus) execAlone(Buffer.from(seed), true);
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  gc();
  const heapAtStart = process.memoryUsage().heapUsed;
  let lastStats = Date.now();
  // Taking coverage costs milliseconds (V8 walks every function it has), far more than most
  // inputs. So inputs run in batches with one take per batch; only a batch that reached
  // something new is re-run input by input to find which one did. The batch grows while
  // nothing new turns up and shrinks to one input as soon as something does.
  let batchSize = 1;
  const batch: Buffer[] = [];
  const firstExec = execs;
  while (Date.now() < data.until && execs - firstExec < data.maxExecs) {
    // Favour recent finds a little: they are where the frontier is.
    const base = rng.chance(0.3)
      ? corpus[corpus.length - 1 - rng.int(Math.min(16, corpus.length))]!
      : rng.pick(corpus);
    const input = mutate(base, ctx);
    exec(input);
    batch.push(input);
    if (batch.length < batchSize) continue;
    const fresh = coverage.take();
    if (fresh.length === 0) {
      batchSize = Math.min(64, batchSize * 2);
    } else if (batch.length === 1) {
      coverage.add(fresh);
      corpus.push(input);
      port.postMessage({ type: 'corpus', input } satisfies LoopMessage);
    } else {
      // Re-run until every new block has an owner. A stateful target (a cache) may not reach a
      // block again on a re-run: such a block is recorded anyway, or every batch would find it.
      for (const one of batch) {
        execAlone(one, false);
        if (fresh.every((b) => coverage.seen.has(b))) break;
      }
      coverage.add(fresh);
      batchSize = 1;
    }
    batch.length = 0;
    if (Date.now() - lastStats > 1000) {
      lastStats = Date.now();
      port.postMessage({
        type: 'stats',
        execs,
        blocks: coverage.seen.size,
        done: false,
      } satisfies LoopMessage);
    }
  }

  // Super-linear time: the slowest inputs at 2x and 4x size.
  for (const { input } of slowest.slice(0, data.scaleChecks)) {
    if (input.length < 4) continue;
    const t1 = timeOf(target, input, beat);
    for (const bigger of grown(input, 4)) {
      const t4 = timeOf(target, bigger, beat);
      if (t4 < 1 || t4 / t1 < SUPERLINEAR_RATIO) continue;
      const t4again = timeOf(target, bigger, beat);
      const t1again = timeOf(target, input, beat);
      if (t4again / t1again < SUPERLINEAR_RATIO) continue;
      report(
        'superlinear',
        new Error(
          `${input.length} bytes: ${t1again.toFixed(3)} ms; ${bigger.length} bytes: ${t4again.toFixed(3)} ms`,
        ),
        bigger,
      );
    }
  }

  // Memory growth: what the heap kept over the run, beyond the corpus.
  gc();
  const corpusBytes = corpus.reduce((n, b) => n + b.length, 0);
  const growth = process.memoryUsage().heapUsed - heapAtStart - corpusBytes;
  if (growth > HEAP_GROWTH_LIMIT) {
    report(
      'memory',
      new Error(`heap grew by ${(growth / 2 ** 20).toFixed(0)} MiB over ${execs} inputs`),
      Buffer.alloc(0),
    );
  }
  coverage.stop();
  port.postMessage({
    type: 'stats',
    execs,
    blocks: coverage.seen.size,
    done: true,
  } satisfies LoopMessage);
}

main();

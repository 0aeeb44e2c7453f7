// The fuzzer's supervisor: runs the loop (loop.ts) in a worker thread and watches it. A worker
// that stops counting inputs for `hangMs` is terminated and its current input (read from shared
// memory) is a hang; one that runs out of heap is a memory finding. Either way a fresh worker
// goes on from the corpus gathered so far until the time is up.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FindingKind, LoopData, LoopMessage } from './loop.ts';
import { FUZZ_TARGETS } from './targets.ts';

/** The seed corpus in the repository (source tree, not dist/). */
export const CORPUS_DIR = new URL('../../../test/fuzz/corpus/', import.meta.url);

export interface FuzzOptions {
  readonly target: string;
  readonly seconds: number;
  readonly seed: number;
  /** Stop after this many mutated inputs, if that comes before `seconds`. */
  readonly maxExecs?: number;
  /** How many of the slowest inputs to re-run at 4x size at the end (default 8). */
  readonly scaleChecks?: number;
  /** No progress for this long is a hang. */
  readonly hangMs?: number;
  /** Write each new finding here (`<target>/<kind>-<hash>` and a `.txt` beside it). */
  readonly findingsDir?: string;
  /** Keep inputs that found new coverage here, and start from them next time. */
  readonly workDir?: string;
  readonly onStats?: (stats: FuzzStats) => void;
}

export interface FuzzStats {
  readonly target: string;
  readonly execs: number;
  readonly blocks: number;
  readonly corpus: number;
}

export interface Finding {
  readonly target: string;
  readonly kind: FindingKind;
  readonly signature: string;
  readonly detail: string;
  readonly input: Buffer;
  /** Where it was written, if a findings dir was given. */
  readonly file?: string;
}

export interface FuzzReport extends FuzzStats {
  readonly seconds: number;
  readonly findings: readonly Finding[];
}

/** The seed inputs of a target: every file of corpus/<target>/ (and of workDir, if any). */
export function seedCorpus(target: string, workDir?: string): Buffer[] {
  const dirs = [
    new URL(`${target}/`, CORPUS_DIR).pathname,
    ...(workDir ? [join(workDir, target)] : []),
  ];
  const out: Buffer[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) out.push(readFileSync(join(dir, name)));
  }
  return out;
}

/** Fuzzes one target for `seconds` (plus the end-of-run checks) and reports what it found. */
export async function fuzzTarget(options: FuzzOptions): Promise<FuzzReport> {
  const target = FUZZ_TARGETS.find((t) => t.name === options.target);
  if (!target) throw new Error(`no fuzz target '${options.target}'`);
  const hangMs = options.hangMs ?? 10_000;
  const started = Date.now();
  const until = started + options.seconds * 1000;
  const corpus = seedCorpus(target.name, options.workDir);
  const findings: Finding[] = [];
  const signatures = new Set<string>();
  let execs = 0;
  let blocks = 0;
  let seed = options.seed;

  const record = (kind: FindingKind, signature: string, detail: string, input: Buffer): void => {
    if (signatures.has(signature)) return;
    signatures.add(signature);
    let file: string | undefined;
    if (options.findingsDir) {
      const dir = join(options.findingsDir, target.name);
      mkdirSync(dir, { recursive: true });
      file = join(dir, `${kind}-${createHash('sha256').update(input).digest('hex').slice(0, 16)}`);
      writeFileSync(file, input);
      writeFileSync(
        `${file}.txt`,
        `${signature}\n\n${detail}\n\nreplay: npm run fuzz -- ${target.name} --replay ${file}\n`,
      );
    }
    findings.push({
      target: target.name,
      kind,
      signature,
      detail,
      input,
      ...(file ? { file } : {}),
    });
  };

  const saveCorpus = (input: Buffer): void => {
    corpus.push(input);
    if (!options.workDir) return;
    const dir = join(options.workDir, target.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, createHash('sha256').update(input).digest('hex').slice(0, 16)), input);
  };

  // One worker lifetime; resolves when it finishes, hangs or dies.
  const runWorker = (): Promise<'done' | 'restart'> =>
    new Promise((resolve) => {
      const heartbeat = new SharedArrayBuffer(8 + 4 * target.maxLen);
      const counters = new Int32Array(heartbeat, 0, 2);
      const current = (): Buffer =>
        Buffer.from(new Uint8Array(heartbeat, 8, Atomics.load(counters, 1)));
      const data: LoopData = {
        target: target.name,
        seed,
        until,
        maxExecs: options.maxExecs ?? Infinity,
        scaleChecks: options.scaleChecks ?? 8,
        corpus,
        heartbeat,
      };
      const worker = new Worker(new URL('./loop.js', import.meta.url), {
        workerData: data,
        resourceLimits: { maxOldGenerationSizeMb: 768 },
      });
      const base = { execs };
      let finished = false;
      let last = -1;
      let lastChange = Date.now();
      const watchdog = setInterval(() => {
        const now = Atomics.load(counters, 0);
        if (now !== last) {
          last = now;
          lastChange = Date.now();
          return;
        }
        if (Date.now() - lastChange < hangMs) return;
        clearInterval(watchdog);
        record(
          'hang',
          `hang: no progress for ${hangMs} ms`,
          `an input ran for more than ${hangMs} ms`,
          current(),
        );
        finished = true;
        void worker.terminate();
        resolve('restart');
      }, 100);
      worker.on('message', (message: LoopMessage) => {
        if (message.type === 'corpus') saveCorpus(Buffer.from(message.input));
        else if (message.type === 'finding') {
          record(message.kind, message.signature, message.detail, Buffer.from(message.input));
        } else {
          execs = base.execs + message.execs;
          blocks = Math.max(blocks, message.blocks);
          options.onStats?.({ target: target.name, execs, blocks, corpus: corpus.length });
          if (message.done) finished = true;
        }
      });
      worker.on('error', (error: Error & { code?: string }) => {
        if (finished) return;
        const kind: FindingKind = error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'crash';
        record(
          kind,
          `${kind}: worker died: ${error.code ?? error.name}: ${error.message.slice(0, 80)}`,
          error.stack ?? String(error),
          current(),
        );
      });
      worker.on('exit', () => {
        clearInterval(watchdog);
        if (!finished) {
          finished = true;
          resolve('restart');
        } else resolve('done');
      });
    });

  for (;;) {
    const outcome = await runWorker();
    if (outcome === 'done' || Date.now() >= until) break;
    seed = (seed + 1) >>> 0; // a restarted worker must not retrace the same path into the hang
  }
  return {
    target: target.name,
    seconds: (Date.now() - started) / 1000,
    execs,
    blocks,
    corpus: corpus.length,
    findings,
  };
}

// Coverage feedback for the fuzzer from V8 itself: precise block coverage through node:inspector.
// No instrumentation pass: V8 counts every basic block of every function it runs, and
// takePreciseCoverage hands the counts over (and resets them) after each input.

import { Session } from 'node:inspector';

interface Range {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly count: number;
}
interface TakeResult {
  readonly result: readonly {
    readonly scriptId: string;
    readonly url: string;
    readonly functions: readonly { readonly ranges: readonly Range[] }[];
  }[];
}

/**
 * Collects the blocks of the code under test that an input (or a batch of inputs) reached.
 * A block counts once it ran at all: hit counts are left out, because a batch's counts are the
 * sums of its inputs' and would show "new" counts that no single input has. Only scripts whose URL contains `scope` count (the project's compiled sources), so
 * the fuzzer's own code and Node's internals add no noise.
 */
export class BlockCoverage {
  readonly #session = new Session();
  readonly #scope: string;
  /** Every block seen so far, as `scriptId:start:end`. */
  readonly seen = new Set<string>();

  constructor(scope: string) {
    this.#scope = scope;
    this.#session.connect();
    this.#post('Profiler.enable');
    // callCount: counts, not just "ran"; detailed: per block, not per function.
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  // A session on the same thread dispatches synchronously: the callback has run when post returns.
  #post(method: string, params?: object): unknown {
    const answer: { out?: unknown; failure?: Error | null } = {};
    this.#session.post(method, params ?? {}, (error, result) => {
      answer.failure = error;
      answer.out = result;
    });
    if (answer.failure) throw answer.failure;
    return answer.out;
  }

  /**
   * Takes the counts since the last call and returns the blocks not seen before (without
   * recording them: see `add`). A function V8 did not run since the last take is absent from the
   * answer; within a function, a range with count 0 is a block that did not run.
   */
  take(): string[] {
    const taken = this.#post('Profiler.takePreciseCoverage') as TakeResult;
    const fresh: string[] = [];
    for (const script of taken.result) {
      if (!script.url.includes(this.#scope)) continue;
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count === 0) continue;
          const block = `${script.scriptId}:${range.startOffset}:${range.endOffset}`;
          if (!this.seen.has(block)) fresh.push(block);
        }
      }
    }
    return fresh;
  }

  /** Records blocks as seen. */
  add(blocks: readonly string[]): void {
    for (const block of blocks) this.seen.add(block);
  }

  stop(): void {
    this.#post('Profiler.stopPreciseCoverage');
    this.#session.disconnect();
  }
}

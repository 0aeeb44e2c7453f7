// A full garbage collection on demand, for the moments a process has just dropped a large
// transient (the ~100 MB snapshot a worker starts from): V8 collects only as it allocates, so an
// idle server would otherwise keep those dead buffers resident, in every process, indefinitely.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The flag that gives a process V8's collector as `gc`; the primary forks workers with it. */
export const EXPOSE_GC = '--expose-gc';

let gc: (() => void) | null | undefined;

/** Runs a full, synchronous collection (tens of ms per 100 MB of heap); a no-op if unavailable. */
export function collectGarbage(): void {
  if (gc === undefined) gc = exposedGc() ?? flaggedGc();
  gc?.();
}

/** `gc` of a process started with --expose-gc (every worker: see Primary's fork options). */
function exposedGc(): (() => void) | undefined {
  return (globalThis as { gc?: () => void }).gc;
}

/**
 * For a process started without the flag (the primary, or the single process, which the user
 * starts): turning the flag on at run time and creating a new context gives that context a `gc`
 * function. V8 does not promise that changing flags after start-up works, so workers get the
 * flag on their command line instead.
 */
function flaggedGc(): (() => void) | null {
  try {
    setFlagsFromString(EXPOSE_GC);
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

/**
 * Collects garbage once a burst of state changes has stopped. Creating a million keys leaves a
 * few hundred MB of dead objects and outgrown tables per process that V8 (which Node never tells
 * it is idle) would keep resident; this costs one full collection per burst, and only after
 * `quietMs` without changes, so never while requests are streaming in.
 */
export class IdleCollector {
  readonly #threshold: number;
  readonly #quietMs: number;
  readonly #collect: () => void;
  #count = 0;
  #last = 0;
  #timer: NodeJS.Timeout | null = null;

  /**
   * Calls `collect` after `threshold` changes (default 10,000) once `quietMs` (default 2 s) passed
   * without one.
   */
  constructor(threshold = 10_000, quietMs = 2_000, collect: () => void = collectGarbage) {
    this.#threshold = threshold;
    this.#quietMs = quietMs;
    this.#collect = collect;
  }

  /** Notes `n` state changes. */
  note(n: number): void {
    this.#count += n;
    this.#last = Date.now();
    if (this.#count >= this.#threshold && this.#timer === null) this.#wait(this.#quietMs);
  }

  #wait(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const quiet = Date.now() - this.#last;
      if (quiet < this.#quietMs) {
        this.#wait(this.#quietMs - quiet);
        return;
      }
      this.#count = 0;
      this.#collect();
      // V8 gives the emptied heap pages back to the system only in a later full collection.
      setTimeout(this.#collect, 200).unref();
    }, ms);
    this.#timer.unref();
  }
}

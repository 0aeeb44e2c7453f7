// A full garbage collection on demand, for the moments a process has just dropped a large
// transient (the ~100 MB snapshot a worker starts from): V8 collects only as it allocates, so an
// idle server would otherwise keep those dead buffers resident, in every process, indefinitely.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;

/** Runs a full, synchronous collection (tens of ms per 100 MB of heap); a no-op if unavailable. */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      // The documented way to reach V8's collector without starting node with --expose-gc: a new
      // context created while the flag is on gets a `gc` function.
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}

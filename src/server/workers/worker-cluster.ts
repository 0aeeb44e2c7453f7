// A cluster node's worker process: what it knows of the cluster, so that its copy of the state
// follows the same wait rule as the primary's (docs/cluster.md). The primary hands on every
// change with its etcd revision and every advance of `stable` (the revision every member, with
// all its workers, has applied); the worker computes which objects a change touches from its own
// copy, exactly as the primary did, and keeps them in flight until `stable` reaches it.

import type { ReadCheck } from '../../core/read-wait.ts';
import type { KeyholdError } from '../../model/errors.ts';
import type { Command } from '../../state/commands.ts';
import type { State } from '../../state/state.ts';
import { Progress, unavailable } from '../../cluster/progress.ts';
import { applyTracked } from '../../cluster/touched.ts';
import { stalenessRefusal, waitRule } from '../../cluster/wait-rule.ts';
import type { ClusterStart, NodeCondition } from './messages.ts';

export class WorkerCluster {
  /** Newest revision applied to this worker's copy. */
  revision: number;
  #progress: Progress;
  #condition: NodeCondition;
  /** performance.now() when `#condition` arrived (its `silentMs` grows from there). */
  #receivedAt = performance.now();

  constructor(start: ClusterStart) {
    this.revision = start.revision;
    this.#progress = progressFrom(start);
    this.#condition = start.condition;
  }

  /** The whole state was replaced: start again from the primary's progress. */
  restart(start: ClusterStart): void {
    const old = this.#progress;
    this.#progress = progressFrom(start);
    this.revision = start.revision;
    this.#setCondition(start.condition);
    // Reads waiting on the old flights run again and meet the new ones.
    old.advanceTo(Number.MAX_SAFE_INTEGER);
  }

  /** Applies the change at `revision` (one this copy does not hold yet) to `state`. */
  apply(state: State, revision: number, command: Command): void {
    if (revision <= this.revision) return;
    let objects: string[];
    try {
      objects = applyTracked(state, command);
    } catch {
      // It did not apply on the primary either (same state, same order); the primary warned.
      objects = [];
    }
    this.#progress.applied(revision, objects);
    this.revision = revision;
  }

  advance(stable: number): void {
    this.#progress.advanceTo(stable);
  }

  #setCondition(condition: NodeCondition): void {
    this.#condition = condition;
    this.#receivedAt = performance.now();
  }

  set condition(condition: NodeCondition) {
    this.#setCondition(condition);
  }

  /** The wait rule, membership and bounded staleness, as on the primary. */
  checkRead(state: State, read: ReadCheck): void {
    const refusal = this.#readRefusal();
    if (refusal) throw refusal;
    waitRule(state, this.#progress, read, this.#condition.readTimeout, () => '');
  }

  readable(): boolean {
    return this.#condition.notServing === null;
  }

  writable(): boolean {
    return this.#condition.notServing === null && this.#condition.writeRefusal === null;
  }

  #readRefusal(): KeyholdError | null {
    const c = this.#condition;
    if (c.notServing !== null) return unavailable(c.notServing);
    // The primary may be frozen: silence keeps growing here whether or not it sends news.
    const silent = c.silentMs + (performance.now() - this.#receivedAt);
    return stalenessRefusal(c.host, silent, c.maxStaleness, c.etcdError);
  }
}

function progressFrom(start: ClusterStart): Progress {
  // Liveness is the primary's business; this Progress only tracks flights and `stable`.
  const progress = new Progress(0);
  progress.stable = start.stable;
  for (const flight of start.flights) progress.applied(flight.revision, flight.objects);
  return progress;
}

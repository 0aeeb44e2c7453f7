// What this node knows of every member's progress, and the wait rule built on it: an object a
// change to which this node applied is "in flight" until every member is known to have applied
// that change; reads of it wait, reads of everything else do not (docs/cluster.md, the model in
// docs/cluster-model.md). Writers wait on the same knowledge for their acknowledgement.

import { KeyholdError } from '../model/errors.ts';

export interface MemberProgress {
  readonly host: string;
  /** Newest revision the member published as applied (0 = never seen). */
  applied: number;
  /** Monotonic ms (performance.now) when its heartbeat was last heard here (0 = never). */
  heardAt: number;
  /** It said it is stopping (a clean shutdown): down at once, not after the timeout. */
  stopped: boolean;
  /** Wall-clock ms of its last heartbeat heard here (0 = never), for status. */
  lastSeen: number;
}

interface Flight {
  readonly revision: number;
  readonly objects: readonly string[];
}

interface Waiter {
  readonly revision: number;
  readonly resolve: () => void;
}

/**
 * Tracks members and in-flight objects. `stable` is the newest revision every member is known to
 * have applied; it never goes back. Everything is synchronous and cheap when nothing is in flight.
 */
export class Progress {
  readonly members = new Map<string, MemberProgress>();
  /** A member not heard from for this long is down. */
  readonly livenessMs: number;
  /** Every member is known to have applied every revision up to this one. */
  stable = 0;
  readonly #flights: Flight[] = [];
  #waiters: Waiter[] = [];
  /** Called when a member stops being alive (writers waiting on it fail fast). */
  readonly #downWatchers = new Set<() => void>();
  /**
   * Called with the new `stable` whenever it advances, before any waiter is released: a node
   * with worker processes tells them first, so that a worker never waits longer than its node.
   */
  onAdvance: ((stable: number) => void) | null = null;

  constructor(livenessMs: number) {
    this.livenessMs = livenessMs;
  }

  /** Heard from within the liveness timeout, and not stopping. */
  isAlive(m: Pick<MemberProgress, 'heardAt' | 'stopped'>): boolean {
    return !m.stopped && m.heardAt > 0 && performance.now() - m.heardAt < this.livenessMs;
  }

  /** The progress record of `host` (created as never heard from, nothing applied). */
  member(host: string): MemberProgress {
    let m = this.members.get(host);
    if (!m) {
      m = { host, applied: 0, heardAt: 0, stopped: false, lastSeen: 0 };
      this.members.set(host, m);
    }
    return m;
  }

  /** Sets the member set (added members start unknown; removed ones are forgotten). */
  setMembers(hosts: Iterable<string>, known?: ReadonlyMap<string, MemberProgress>): void {
    const next = new Set(hosts);
    for (const host of [...this.members.keys()]) if (!next.has(host)) this.members.delete(host);
    for (const host of next) {
      const m = this.member(host);
      const k = known?.get(host);
      if (k) {
        m.applied = Math.max(m.applied, k.applied);
        m.heardAt = Math.max(m.heardAt, k.heardAt);
        m.stopped = k.stopped;
        m.lastSeen = Math.max(m.lastSeen, k.lastSeen);
      }
    }
    this.update();
  }

  /** Records that this node applied `revision`, a change to `objects` (now in flight). */
  applied(revision: number, objects: readonly string[]): void {
    if (objects.length > 0 && revision > this.stable) this.#flights.push({ revision, objects });
  }

  /** Recomputes `stable` from the members' applied revisions and releases what it resolves. */
  update(): void {
    let min = Infinity;
    for (const m of this.members.values()) min = Math.min(min, m.applied);
    if (min !== Infinity && min > this.stable) {
      this.stable = min;
      this.onAdvance?.(min);
    }
    this.#release();
    for (const watch of this.#downWatchers) watch();
  }

  /**
   * Sets `stable` from outside (a worker process, told by its primary, which computes it from
   * the members): releases the flights and waiters it resolves.
   */
  advanceTo(stable: number): void {
    if (stable <= this.stable) return;
    this.stable = stable;
    this.#release();
  }

  /** The changes in flight, oldest first (a new worker process starts with them). */
  flights(): { revision: number; objects: readonly string[] }[] {
    return this.#flights.map((f) => ({ revision: f.revision, objects: f.objects }));
  }

  #release(): void {
    let drop = 0;
    while (drop < this.#flights.length && this.#flights[drop]!.revision <= this.stable) drop++;
    if (drop > 0) this.#flights.splice(0, drop);
    if (this.#waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.#waiters) {
        if (w.revision <= this.stable) w.resolve();
        else still.push(w);
      }
      this.#waiters = still;
    }
  }

  /** The members that have not applied `revision` and are not alive. */
  downBehind(revision: number): string[] {
    const out: string[] = [];
    for (const m of this.members.values()) {
      if (!this.isAlive(m) && m.applied < revision) out.push(m.host);
    }
    return out;
  }

  /** Members that have not applied `revision`. */
  behind(revision: number): string[] {
    const out: string[] = [];
    for (const m of this.members.values()) if (m.applied < revision) out.push(m.host);
    return out;
  }

  /** The members not heard from within the liveness timeout. */
  down(): string[] {
    const out: string[] = [];
    for (const m of this.members.values()) if (!this.isAlive(m)) out.push(m.host);
    return out;
  }

  /**
   * The newest in-flight revision that changed an object the read depends on, or 0. `paths` are
   * the objects read; `list` marks the last path as a collection (a change inside it counts).
   */
  blockingRevision(paths: readonly string[], list: boolean): number {
    if (this.#flights.length === 0) return 0;
    let newest = 0;
    for (const flight of this.#flights) {
      if (flight.revision <= newest) continue;
      if (affects(flight.objects, paths, list)) newest = flight.revision;
    }
    return newest;
  }

  /** Resolves once every member has applied `revision`. */
  whenStable(revision: number): Promise<void> {
    if (revision <= this.stable) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ revision, resolve }));
  }

  /**
   * Resolves once every member applied `revision`; rejects with UNAVAILABLE when a member that
   * has not applied it is down, or after `timeoutMs` (then the outcome is unknown).
   */
  acknowledged(revision: number, timeoutMs: number, what: string): Promise<void> {
    if (revision <= this.stable) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: KeyholdError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#downWatchers.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = (): void => {
        const down = this.downBehind(revision);
        if (down.length > 0) {
          finish(
            unavailable(
              `${what} is recorded in the cluster but not acknowledged: node ${down.join(', ')} stopped responding before applying it. ` +
                `It takes effect when that node applies it, or once it is removed with rm-node.`,
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            unavailable(
              `${what} timed out waiting for node ${this.behind(revision).join(', ')} to apply it: its outcome is unknown ` +
                `(it is recorded in the cluster and takes effect once every member applied it)`,
            ),
          ),
        timeoutMs,
      );
      this.#downWatchers.add(check);
      void this.whenStable(revision).then(() => finish());
      check();
    });
  }
}

/** Does a change to `changed` affect a read of `paths` (see `blockingRevision`)? */
export function affects(
  changed: readonly string[],
  paths: readonly string[],
  list: boolean,
): boolean {
  for (const p of changed) {
    for (let i = 0; i < paths.length; i++) {
      const x = paths[i]!;
      if (p === x || x.startsWith(p + '/')) return true;
      if (list && i === paths.length - 1 && p.startsWith(x + '/')) return true;
    }
  }
  return false;
}

/**
 * A 503 carrying its own message (the catalogue's UNAVAILABLE has a fixed text; these say which
 * node or object is the reason).
 */
export function unavailable(message: string): KeyholdError {
  return new KeyholdError('SERVICE_UNAVAILABLE', message);
}

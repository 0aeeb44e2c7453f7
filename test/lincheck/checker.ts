// A linearizability checker: the Wing–Gong search with Lowe's memoization of
// (linearized set, model state), over any sequential model, one partition of the history at a time.

/** One completed (or indeterminate) operation of a concurrent history. */
export interface Operation<I, O> {
  /** Who issued it; only for explanations (the search orders by time alone). */
  readonly client: number;
  readonly input: I;
  readonly output: O;
  /** When it was invoked. */
  readonly call: number;
  /**
   * When its response arrived; `Infinity` for an operation whose outcome is unknown (a timeout, a
   * crash): such an operation may take effect at any point after its call, or not at all.
   */
  readonly return: number;
}

/**
 * A sequential specification. `step` says whether `output` is a correct response to `input` in
 * `state` and which state follows; it must be a pure function. `equal` and `hash` identify states
 * (equal states must hash alike). `partition`, when present, splits a history into independent
 * sub-histories (for example one per key); the history is linearizable iff every part is, because
 * linearizability is a local property.
 */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O): readonly [ok: boolean, next: S];
  equal(a: S, b: S): boolean;
  hash(state: S): number;
  partition?(history: readonly Operation<I, O>[]): readonly (readonly Operation<I, O>[])[];
  /** A readable form of a state, for explanations. */
  describe?(state: S): string;
}

/** Bounds on one check; the default is 10 s and no step limit. */
export interface CheckOptions {
  /** Wall-clock budget in milliseconds for the whole history. */
  readonly timeoutMs?: number;
  /** Budget of search steps (list positions visited) for the whole history. */
  readonly maxSteps?: number;
}

/**
 * Why a history is not linearizable: in the part (`partition`) that fails, the longest sequence of
 * operations the search could linearize, the model state after it, and the operation that had
 * already returned there yet could not take effect next (`stuck`).
 */
export interface Violation<S, I, O> {
  readonly ok: false;
  readonly partition: number;
  readonly linearized: readonly Operation<I, O>[];
  readonly state: S;
  readonly stuck: Operation<I, O>;
  /** The same in words, one line per operation. */
  readonly explanation: string;
}

/** The verdict: linearizable, not (with a violation), or unknown when the budget ran out. */
export type CheckResult<S, I, O> = { readonly ok: true } | Violation<S, I, O> | Timeout;
export interface Timeout {
  readonly unknown: 'timeout';
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Steps between clock readings. */
const CLOCK_EVERY = 1024;

/**
 * Decides whether `history` is linearizable with respect to `model`. Exact (no false verdict in
 * either direction) unless the budget runs out, in which case the answer is `{ unknown: 'timeout' }`.
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<S, I, O> {
  const budget = new Budget(options);
  const parts = model.partition ? model.partition(history) : [history];
  for (const [index, part] of parts.entries()) {
    const result = checkPart(model, part, index, budget);
    if (result !== true) return result;
  }
  return { ok: true };
}

class Budget {
  readonly #deadline: number;
  readonly #maxSteps: number;
  #steps = 0;

  constructor(options: CheckOptions) {
    this.#deadline = performance.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#maxSteps = options.maxSteps ?? Infinity;
  }

  /** Counts one step; false once the budget is spent. */
  spend(): boolean {
    this.#steps++;
    if (this.#steps > this.#maxSteps) return false;
    return this.#steps % CLOCK_EVERY !== 0 || performance.now() < this.#deadline;
  }
}

/**
 * The search over one part. Each operation becomes a call entry and a return entry in a doubly
 * linked list ordered by time (calls before returns at equal times, so touching intervals count as
 * concurrent). Linearizing an operation lifts both its entries out of the list; backtracking puts
 * them back exactly where they were (dancing links, undone in LIFO order).
 */
function checkPart<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  partition: number,
  budget: Budget,
): true | Violation<S, I, O> | Timeout {
  const n = ops.length;
  if (n === 0) return true;
  const list = new EntryList(ops);
  const linearized = new Bitset(n);
  const cache = new Map<number, { bits: readonly number[]; state: S }[]>();
  const stack: { entry: number; state: S }[] = [];
  let state = model.init();
  let deepest: { ops: number[]; state: S; stuck: number } | undefined;

  let entry = list.next[0]!;
  while (list.next[0] !== NIL) {
    if (!budget.spend()) return { unknown: 'timeout' };
    const op = list.op[entry]!;
    if (list.isCall(entry)) {
      const [ok, next] = model.step(state, ops[op]!.input, ops[op]!.output);
      let advanced = false;
      if (ok) {
        linearized.set(op);
        const key = (linearized.hash ^ Math.imul(model.hash(next) | 0, 0x9e3779b1)) >>> 0;
        const seen = cache.get(key);
        if (!seen || !contains(seen, linearized, next, model)) {
          const record = { bits: linearized.copy(), state: next };
          if (seen) seen.push(record);
          else cache.set(key, [record]);
          stack.push({ entry, state });
          state = next;
          list.lift(entry);
          entry = list.next[0]!;
          advanced = true;
        } else {
          linearized.clear(op);
        }
      }
      if (!advanced) entry = list.next[entry]!;
    } else {
      // An operation returned before any order could place it: undo the latest choice.
      if (deepest === undefined || stack.length > deepest.ops.length) {
        deepest = { ops: stack.map((s) => list.op[s.entry]!), state, stuck: op };
      }
      const top = stack.pop();
      if (top === undefined) return violation(model, ops, partition, deepest);
      entry = top.entry;
      state = top.state;
      linearized.clear(list.op[entry]!);
      list.unlift(entry);
      entry = list.next[entry]!;
    }
  }
  return true;
}

function contains<S>(
  seen: readonly { bits: readonly number[]; state: S }[],
  linearized: Bitset,
  state: S,
  model: Model<S, unknown, unknown>,
): boolean {
  for (const s of seen) if (linearized.equals(s.bits) && model.equal(s.state, state)) return true;
  return false;
}

function violation<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  partition: number,
  deepest: { ops: number[]; state: S; stuck: number },
): Violation<S, I, O> {
  const show = (op: Operation<I, O>): string =>
    `client ${op.client} [${op.call}, ${op.return}] ${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`;
  const linearized = deepest.ops.map((i) => ops[i]!);
  const stuck = ops[deepest.stuck]!;
  const state = model.describe ? model.describe(deepest.state) : JSON.stringify(deepest.state);
  const explanation = [
    `partition ${partition}: the longest linearizable prefix has ${linearized.length} operation(s):`,
    ...linearized.map((op) => `  ${show(op)}`),
    `then, in state ${state}, no order lets this operation take effect before it returned:`,
    `  ${show(stuck)}`,
  ].join('\n');
  return { ok: false, partition, linearized, state: deepest.state, stuck, explanation };
}

const NIL = -1;

/**
 * Entries 1..2n of a doubly linked list behind the sentinel 0. Entry `e` belongs to operation
 * `op[e]`; `match[e]` is the return entry of a call entry and NIL for a return entry.
 */
class EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly op: Int32Array;
  readonly match: Int32Array;

  constructor(ops: readonly { call: number; return: number }[]) {
    const events: { time: number; isReturn: number; op: number }[] = [];
    for (const [i, o] of ops.entries()) {
      if (!(o.call <= o.return)) throw new RangeError(`operation ${i} returns before its call`);
      events.push({ time: o.call, isReturn: 0, op: i }, { time: o.return, isReturn: 1, op: i });
    }
    // Array.prototype.sort is stable: equal events keep the history's order.
    events.sort((a, b) => a.time - b.time || a.isReturn - b.isReturn || 0);
    const size = events.length + 1;
    this.next = new Int32Array(size);
    this.prev = new Int32Array(size);
    this.op = new Int32Array(size).fill(NIL);
    this.match = new Int32Array(size).fill(NIL);
    const callEntry = new Int32Array(ops.length);
    for (const [k, event] of events.entries()) {
      const e = k + 1;
      this.op[e] = event.op;
      this.prev[e] = e - 1;
      this.next[e - 1] = e;
      if (event.isReturn === 0) callEntry[event.op] = e;
      else this.match[callEntry[event.op]!] = e;
    }
    this.next[size - 1] = NIL;
  }

  isCall(e: number): boolean {
    return this.match[e] !== NIL;
  }

  /** Removes call entry `e` and its return entry. */
  lift(e: number): void {
    const { next, prev } = this;
    next[prev[e]!] = next[e]!;
    prev[next[e]!] = prev[e]!; // a call entry is always followed by its own return at least
    const r = this.match[e]!;
    next[prev[r]!] = next[r]!;
    if (next[r] !== NIL) prev[next[r]!] = prev[r]!;
  }

  /** Puts back what the matching `lift(e)` removed; lifts must be undone in reverse order. */
  unlift(e: number): void {
    const { next, prev } = this;
    const r = this.match[e]!;
    next[prev[r]!] = r;
    if (next[r] !== NIL) prev[next[r]!] = r;
    next[prev[e]!] = e;
    prev[next[e]!] = e;
  }
}

/**
 * A set of operation indices with an order-independent hash kept up to date on every change. Words
 * hold 30 bits so they stay small integers in a plain array, which copies faster than a typed one.
 */
class Bitset {
  readonly #words: number[];
  hash = 0;

  constructor(size: number) {
    this.#words = new Array<number>(Math.ceil(size / 30)).fill(0);
  }

  set(i: number): void {
    this.#words[(i / 30) | 0]! |= 1 << (i % 30);
    this.hash ^= mix(i);
  }

  clear(i: number): void {
    this.#words[(i / 30) | 0]! &= ~(1 << (i % 30));
    this.hash ^= mix(i);
  }

  equals(other: readonly number[]): boolean {
    const words = this.#words;
    for (let w = 0; w < words.length; w++) if (words[w] !== other[w]) return false;
    return true;
  }

  copy(): readonly number[] {
    return this.#words.slice();
  }
}

/** A well-spread 32-bit value per index (murmur3's finalizer), so XOR-ing them makes a good hash. */
function mix(i: number): number {
  let h = Math.imul(i + 0x6a09e667, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

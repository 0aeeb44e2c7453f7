// Glob matching without backtracking: a pattern is a list of steps (one character, or a run of
// characters) and a name is matched by walking all live positions of the pattern at once.

/**
 * One step of a glob: a character test, taken once (`?`, a class, a literal) or any number of
 * times (`*`).
 */
export interface GlobStep {
  readonly repeat: boolean;
  accepts(char: string): boolean;
}

/**
 * A compiled glob. Matching costs O(name length × steps) at worst, whatever the pattern: it
 * keeps the set of pattern positions the name read so far can end at (a Thompson automaton),
 * never retrying a choice. A name shorter than the pattern's fixed steps is refused at once, so
 * the steps ever walked are at most about twice the name's length.
 */
export class Glob {
  readonly #steps: readonly GlobStep[];
  /** Steps that take exactly one character: the shortest name that can match. */
  readonly #minLength: number;
  readonly #hasRepeat: boolean;

  /** `steps` in pattern order; the caller merges consecutive repeats of the same step (`**`). */
  constructor(steps: readonly GlobStep[]) {
    this.#steps = steps;
    this.#minLength = steps.filter((s) => !s.repeat).length;
    this.#hasRepeat = steps.some((s) => s.repeat);
  }

  /** True if the whole of `chars` (the name as characters: code units or code points) matches. */
  matches(chars: ArrayLike<string>): boolean {
    const n = chars.length;
    if (n < this.#minLength || (!this.#hasRepeat && n !== this.#minLength)) return false;
    const steps = this.#steps;
    const m = steps.length;
    // Position p = the first p steps are done. `mark[p] === round` dedupes a round's positions.
    const mark = new Int32Array(m + 1).fill(-1);
    let live = new Int32Array(m + 1);
    let next = new Int32Array(m + 1);
    const add = (list: Int32Array, size: number, p: number, round: number): number => {
      // A repeat step may take nothing: reaching it reaches the positions after it too.
      while (mark[p] !== round) {
        mark[p] = round;
        list[size++] = p;
        if (p === m || !steps[p]!.repeat) break;
        p++;
      }
      return size;
    };
    let count = add(live, 0, 0, 0);
    for (let i = 0; i < n && count > 0; i++) {
      const char = chars[i]!;
      let size = 0;
      for (let j = 0; j < count; j++) {
        const p = live[j]!;
        if (p === m) continue;
        const step = steps[p]!;
        if (step.accepts(char)) size = add(next, size, step.repeat ? p : p + 1, i + 1);
      }
      [live, next] = [next, live];
      count = size;
    }
    for (let j = 0; j < count; j++) if (live[j] === m) return true;
    return false;
  }
}

// A name → value map that lists in byte order with prefix / continue-at / limit paging. Inserts and
// deletes are O(1); the sorted order is brought up to date only when a listing needs it, by
// sorting just the names added since and merging them in (O(n + k log k), not a full re-sort).

/** One page of a listing; `continueAt` is the first name of the next page, '' at the end. */
export interface Page<T> {
  readonly items: T[];
  readonly continueAt: string;
}

export class SortedNames<T> {
  readonly #map = new Map<string, T>();
  /** Names in byte order; may still hold deleted names (`#stale` of them at most). */
  #sorted: string[] = [];
  /** Names added since `#sorted` was last brought up to date, in insertion order. */
  #added: string[] = [];
  #stale = 0;

  get size(): number {
    return this.#map.size;
  }

  get(name: string): T | undefined {
    return this.#map.get(name);
  }

  has(name: string): boolean {
    return this.#map.has(name);
  }

  set(name: string, value: T): void {
    if (!this.#map.has(name)) this.#added.push(name);
    this.#map.set(name, value);
  }

  /**
   * Adds a name known to be absent and greater than every name added so far (a sorted bulk
   * load, as from a snapshot): skips the lookup and the later sort.
   */
  append(name: string, value: T): void {
    this.#map.set(name, value);
    if (this.#added.length === 0 && this.#stale === 0) this.#sorted.push(name);
    else this.#added.push(name);
  }

  delete(name: string): boolean {
    const had = this.#map.delete(name);
    if (had) this.#stale++;
    return had;
  }

  clear(): void {
    this.#map.clear();
    this.#sorted = [];
    this.#added = [];
    this.#stale = 0;
  }

  /** Values in insertion order. */
  values(): IterableIterator<T> {
    return this.#map.values();
  }

  /** Names and values in insertion order. */
  entries(): IterableIterator<[string, T]> {
    return this.#map.entries();
  }

  /** Every name in byte order (a shared array: do not modify; valid until the next change). */
  sortedNames(): readonly string[] {
    return this.#names(true);
  }

  /**
   * Lists names starting with `prefix`, from `continueAt` (inclusive) on, at most `limit` of them.
   * An empty `continueAt` starts at the first match.
   */
  page(prefix: string, continueAt: string, limit: number): Page<T> {
    const { names, continueAt: next } = this.pageNames(prefix, continueAt, limit);
    return { items: names.map((name) => this.#map.get(name)!), continueAt: next };
  }

  /** Like `page`, with the names instead of the values. */
  pageNames(
    prefix: string,
    continueAt: string,
    limit: number,
  ): { names: string[]; continueAt: string } {
    const sorted = this.#names();
    const from = continueAt !== '' && continueAt > prefix ? continueAt : prefix;
    const names: string[] = [];
    let i = lowerBound(sorted, from);
    for (; i < sorted.length && names.length < limit; i++) {
      const name = sorted[i]!;
      if (!name.startsWith(prefix)) return { names, continueAt: '' };
      if (this.#map.has(name)) names.push(name);
    }
    for (; i < sorted.length; i++) {
      const name = sorted[i]!;
      if (!name.startsWith(prefix)) break;
      if (this.#map.has(name)) return { names, continueAt: name };
    }
    return { names, continueAt: '' };
  }

  /** The sorted names, brought up to date; without `exact`, some deleted names may remain. */
  #names(exact = false): string[] {
    if (this.#added.length > 0) {
      this.#sorted = merge(this.#sorted, this.#added.sort(), this.#stale > 0 ? this.#map : null);
      this.#added = [];
      this.#stale = 0;
    } else if (this.#stale > 0 && (exact || this.#stale * 8 > this.#sorted.length)) {
      this.#sorted = this.#sorted.filter((name) => this.#map.has(name));
      this.#stale = 0;
    }
    return this.#sorted;
  }
}

/**
 * Merges sorted `added` into sorted `base` (byte order: UTF-16 code-unit order equals byte order
 * for the ASCII name grammar), dropping duplicates, and names not in `live` when it is given.
 */
function merge(base: string[], added: string[], live: Map<string, unknown> | null): string[] {
  const out: string[] = [];
  let i = 0;
  if (live === null) {
    // No deletion since the last merge: every added name is new and unique.
    for (const name of added) {
      const end = lowerBound(base, name, i);
      for (; i < end; i++) out.push(base[i]!);
      out.push(name);
    }
    for (; i < base.length; i++) out.push(base[i]!);
    return out;
  }
  let j = 0;
  let last: string | undefined;
  while (i < base.length || j < added.length) {
    const name =
      j >= added.length || (i < base.length && base[i]! <= added[j]!) ? base[i++]! : added[j++]!;
    if (name !== last && live.has(name)) {
      out.push(name);
      last = name;
    }
  }
  return out;
}

function lowerBound(names: string[], target: string, lo = 0): number {
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

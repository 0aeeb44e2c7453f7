// A name → value map that lists in byte order with prefix / continue-at / limit paging,
// keeping the sorted order lazily so that inserts stay O(1) and listing is O(log n + page).

/** One page of a listing; `continueAt` is the first name of the next page, '' at the end. */
export interface Page<T> {
  readonly items: T[];
  readonly continueAt: string;
}

export class SortedNames<T> {
  readonly #map = new Map<string, T>();
  #sorted: string[] | null = [];

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
    if (!this.#map.has(name)) this.#sorted = null;
    this.#map.set(name, value);
  }

  delete(name: string): boolean {
    const had = this.#map.delete(name);
    if (had) this.#sorted = null;
    return had;
  }

  clear(): void {
    this.#map.clear();
    this.#sorted = [];
  }

  values(): IterableIterator<T> {
    return this.#map.values();
  }

  /**
   * Lists names starting with `prefix`, from `continueAt` (inclusive) on, at most `limit` of them.
   * An empty `continueAt` starts at the first match.
   */
  page(prefix: string, continueAt: string, limit: number): Page<T> {
    const names = this.#names();
    const from = continueAt !== '' && continueAt > prefix ? continueAt : prefix;
    let i = lowerBound(names, from);
    const items: T[] = [];
    for (; i < names.length && items.length < limit; i++) {
      const name = names[i]!;
      if (!name.startsWith(prefix)) return { items, continueAt: '' };
      items.push(this.#map.get(name)!);
    }
    const next = names[i];
    return { items, continueAt: next !== undefined && next.startsWith(prefix) ? next : '' };
  }

  #names(): string[] {
    // Byte order (UTF-16 code-unit order equals byte order for the ASCII name grammar).
    this.#sorted ??= [...this.#map.keys()].sort();
    return this.#sorted;
  }
}

function lowerBound(names: string[], target: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

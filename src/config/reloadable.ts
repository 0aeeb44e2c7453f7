// A value that a reload (SIGHUP) replaces as a whole: readers take the current value per use,
// and listeners learn about each new one (e.g. to swap a TLS context).

/** Holds the current value of something a reload may change. */
export class Reloadable<T> {
  #value: T;
  readonly #listeners = new Set<(value: T) => void>();

  constructor(value: T) {
    this.#value = value;
  }

  /** The current value. */
  get(): T {
    return this.#value;
  }

  /** Replaces the value and tells every listener (in order of subscription). */
  set(value: T): void {
    this.#value = value;
    for (const listener of this.#listeners) listener(value);
  }

  /** Calls `listener` with every later value; returns the function that stops it. */
  onChange(listener: (value: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

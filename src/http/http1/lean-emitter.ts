// The event surface of the lean server's request and response: what node:events' EventEmitter
// offers them (on, once, off, emit, listenerCount), without its per-object set-up, which showed
// in the per-request profile (two emitters per request).

/** A listener; `listener` is set on the wrapper `once` registers, for `off`. */
type Listener = ((...args: never[]) => void) & { listener?: Listener };

/**
 * Listeners in registration order, as event/listener pairs in one list created on the first
 * `on`. Semantics as EventEmitter's: listeners run in the order added, with `this` the emitter;
 * an `emit` runs the listeners present when it started (one added or removed meanwhile does
 * not change that run); `off` removes the most recently added registration of a listener, also
 * one made with `once`; `emit('error')` with no 'error' listener throws the error.
 */
export class LeanEmitter {
  /** event, listener, event, listener, … */
  #pairs: (string | symbol | Listener)[] | null = null;

  on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (this.#pairs === null) this.#pairs = [event, listener];
    else this.#pairs.push(event, listener);
    return this;
  }

  addListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return this.on(event, listener);
  }

  once(event: string | symbol, listener: (...args: never[]) => void): this {
    const wrapper: Listener = (...args: never[]): void => {
      this.off(event, wrapper);
      listener.apply(this, args);
    };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  off(event: string | symbol, listener: (...args: never[]) => void): this {
    const pairs = this.#pairs;
    if (pairs === null) return this;
    for (let i = pairs.length - 2; i >= 0; i -= 2) {
      const l = pairs[i + 1] as Listener;
      if (pairs[i] === event && (l === listener || l.listener === listener)) {
        pairs.splice(i, 2);
        break;
      }
    }
    return this;
  }

  removeListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return this.off(event, listener);
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: string | symbol): this {
    const pairs = this.#pairs;
    if (pairs === null) return this;
    if (event === undefined) {
      this.#pairs = null;
      return this;
    }
    for (let i = pairs.length - 2; i >= 0; i -= 2) if (pairs[i] === event) pairs.splice(i, 2);
    return this;
  }

  listenerCount(event: string | symbol): number {
    const pairs = this.#pairs;
    if (pairs === null) return 0;
    let n = 0;
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === event) n++;
    return n;
  }

  /** Calls the listeners of `event` with `args`; true when there was one. */
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const pairs = this.#pairs;
    let first: Listener | null = null;
    let more: Listener[] | null = null;
    if (pairs !== null) {
      for (let i = 0; i < pairs.length; i += 2) {
        if (pairs[i] !== event) continue;
        const listener = pairs[i + 1] as Listener;
        if (first === null) first = listener;
        else (more ??= []).push(listener);
      }
    }
    if (first === null) {
      if (event === 'error')
        throw args[0] instanceof Error ? args[0] : new Error('Unhandled error');
      return false;
    }
    Reflect.apply(first, this, args);
    if (more !== null) for (const listener of more) Reflect.apply(listener, this, args);
    return true;
  }
}

// The event surface of the lean server's request and response: what node:events' EventEmitter
// offers them (on, once, off, emit, listenerCount), without its per-object set-up, which showed
// in the per-request profile (two emitters per request).

/** A listener; `listener` is set on the wrapper `once` registers, for `off`. */
type Listener = ((...args: never[]) => void) & { listener?: Listener };

/**
 * Listeners in registration order, kept as two parallel lists created on the first `on`.
 * Semantics as EventEmitter's: listeners run in the order added, with `this` the emitter; an
 * `emit` runs the listeners present when it started (one added or removed meanwhile does not
 * change that run); `off` removes the most recently added registration of a listener, also
 * one made with `once`; `emit('error')` with no 'error' listener throws the error.
 */
export class LeanEmitter {
  #names: (string | symbol)[] | null = null;
  #listeners: Listener[] | null = null;

  on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (this.#names === null) {
      this.#names = [event];
      this.#listeners = [listener];
    } else {
      this.#names.push(event);
      this.#listeners!.push(listener);
    }
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
    const names = this.#names;
    const listeners = this.#listeners;
    if (names === null || listeners === null) return this;
    for (let i = names.length - 1; i >= 0; i--) {
      const l = listeners[i]!;
      if (names[i] === event && (l === listener || l.listener === listener)) {
        names.splice(i, 1);
        listeners.splice(i, 1);
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
    const names = this.#names;
    const listeners = this.#listeners;
    if (names === null || listeners === null) return this;
    if (event === undefined) {
      this.#names = null;
      this.#listeners = null;
      return this;
    }
    for (let i = names.length - 1; i >= 0; i--) {
      if (names[i] === event) {
        names.splice(i, 1);
        listeners.splice(i, 1);
      }
    }
    return this;
  }

  listenerCount(event: string | symbol): number {
    const names = this.#names;
    if (names === null) return 0;
    let n = 0;
    for (const name of names) if (name === event) n++;
    return n;
  }

  /** Calls the listeners of `event` with `args`; true when there was one. */
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const names = this.#names;
    const listeners = this.#listeners;
    let first: Listener | null = null;
    let more: Listener[] | null = null;
    if (names !== null && listeners !== null) {
      for (let i = 0; i < names.length; i++) {
        if (names[i] !== event) continue;
        if (first === null) first = listeners[i]!;
        else (more ??= []).push(listeners[i]!);
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

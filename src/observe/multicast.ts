// Fan-out of events to live subscribers (log streams). In a worker pool the events of every
// process must reach subscribers in any process: then `publish` forwards to the primary, which
// relays to every process with subscribers, where `deliver` hands them out.

export type Subscriber<T> = (event: T) => void;

export class Multicast<T> {
  readonly #subscribers = new Set<Subscriber<T>>();
  #forward: Subscriber<T> | null = null;
  #onChange: ((delta: 1 | -1) => void) | null = null;

  /** Number of local subscribers. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** Publishes an event produced in this process. */
  publish(event: T): void {
    if (this.#forward) this.#forward(event);
    else this.deliver(event);
  }

  /** Hands an event to the local subscribers. */
  deliver(event: T): void {
    for (const subscriber of this.#subscribers) subscriber(event);
  }

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(subscriber: Subscriber<T>): () => void {
    this.#subscribers.add(subscriber);
    this.#onChange?.(1);
    return () => {
      if (this.#subscribers.delete(subscriber)) this.#onChange?.(-1);
    };
  }

  /** Worker pools: where published events go instead of local delivery (null = deliver locally). */
  setForward(forward: Subscriber<T> | null): void {
    this.#forward = forward;
  }

  /** Worker pools: told whenever a local subscriber comes or goes. */
  onSubscriberChange(listener: (delta: 1 | -1) => void): void {
    this.#onChange = listener;
  }
}

// Sending a state snapshot (about 100 MB for a million keys) to a worker in 1 MiB pieces, one at a
// time, so that neither process ever holds the whole payload in IPC buffers: a single large
// message costs each side one or two extra copies, which stay resident in the C heap afterwards.

import type { ToWorker } from './messages.ts';

const PIECE_BYTES = 1 << 20;

type Item = ToWorker | { readonly snapshot: Buffer; readonly then: ToWorker };

/** The end of an IPC channel to a worker (a node:cluster Worker). */
export interface MessageTarget {
  send(message: ToWorker, callback?: (error: Error | null) => void): boolean;
  isConnected(): boolean;
}

/**
 * The messages to one worker, in order. A snapshot goes as `snapshot` pieces, each sent once the
 * previous one was written, followed by the message that uses it (`init` or `reset`); messages
 * sent meanwhile wait their turn. When the worker goes away, whatever is left is dropped.
 */
export class WorkerOutbox {
  readonly #worker: MessageTarget;
  readonly #queue: Item[] = [];
  #streaming = false;

  constructor(worker: MessageTarget) {
    this.#worker = worker;
  }

  send(message: ToWorker): void {
    if (this.#streaming) this.#queue.push(message);
    else this.#worker.send(message);
  }

  /** Streams `snapshot` (which must not change meanwhile), then sends `then`. */
  sendSnapshot(snapshot: Buffer, then: ToWorker): void {
    this.#queue.push({ snapshot, then });
    if (!this.#streaming) this.#drain();
  }

  #drain(): void {
    for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
      if (!('snapshot' in item)) {
        this.#worker.send(item);
        continue;
      }
      this.#streaming = true;
      const { snapshot, then } = item;
      let offset = 0;
      const next = (error: Error | null): void => {
        if (error || !this.#worker.isConnected()) {
          this.#queue.length = 0;
          this.#streaming = false;
          return;
        }
        if (offset < snapshot.length) {
          const bytes = snapshot.subarray(offset, Math.min(offset + PIECE_BYTES, snapshot.length));
          offset += bytes.length;
          this.#worker.send({ type: 'snapshot', total: snapshot.length, bytes }, next);
          return;
        }
        this.#worker.send(then);
        this.#streaming = false;
        this.#drain();
      };
      next(null);
      return;
    }
  }
}

/** Puts a snapshot's pieces back together on the worker's side. */
export class SnapshotReceiver {
  #buffer: Buffer | null = null;
  #filled = 0;

  /** Adds the next piece of a snapshot of `total` bytes (pieces arrive in order). */
  add(total: number, bytes: Uint8Array): void {
    this.#buffer ??= Buffer.allocUnsafe(total);
    if (this.#buffer.length !== total || this.#filled + bytes.length > total) {
      throw new Error('snapshot pieces do not add up to their total');
    }
    this.#buffer.set(bytes, this.#filled);
    this.#filled += bytes.length;
  }

  /** The complete snapshot; the receiver starts over. Throws if it is incomplete. */
  take(): Buffer {
    const buffer = this.#buffer;
    if (buffer?.length !== this.#filled) throw new Error('snapshot incomplete');
    this.#buffer = null;
    this.#filled = 0;
    return buffer;
  }
}

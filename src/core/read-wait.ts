// A read that must wait: a cluster node throws ReadWait when an object the read depends on has a
// change in flight (applied here, not yet known applied by every member). The HTTP pipeline
// waits for `until` and runs the handler again; nothing was answered or changed before the throw.

import type { Caller } from './caller.ts';

/** What a read depends on, for a cluster node's wait rule (docs/cluster.md). */
export interface ReadCheck {
  readonly caller: Caller;
  /** The object read (`enclave/E/key/K`), or the collection listed (`enclave/E/key`). */
  readonly object: string;
  /** `object` is a collection: a change to anything inside it counts. */
  readonly list: boolean;
}

export class ReadWait extends Error {
  /** Resolves when the read may be tried again; rejects with the error to answer instead. */
  readonly until: Promise<void>;

  constructor(until: Promise<void>) {
    super('read waits for a change in flight');
    this.name = 'ReadWait';
    this.until = until;
  }
}

// The write path: check a command against the state, make it durable in the log, then apply it.
// Writes are serialized so that a check always sees every earlier write; reads never wait.

import { KeyholdError } from '../model/errors.ts';
import type { Command } from './commands.ts';
import { decodeCommand, encodeCommand } from './commands.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';
import { State } from './state.ts';

/** What the engine needs from durable storage (src/store's Store satisfies it). */
export interface CommandLog {
  append(payload: Uint8Array): Promise<number>;
  snapshot(index: number, payload: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** What a store recovered at open: the newest snapshot and the records after it. */
export interface RecoveredLog {
  readonly snapshot: { readonly index: number; readonly payload: Buffer } | null;
  readonly records: readonly { readonly index: number; readonly payload: Buffer }[];
}

export interface EngineOptions {
  /** Take a snapshot after this many records since the last one (default 10,000). */
  readonly snapshotEvery?: number;
  /** Called after each applied command (replication to workers, audit, metrics). */
  readonly onApplied?: (command: Command, index: number) => void;
}

export class Engine {
  readonly state: State;
  readonly #log: CommandLog;
  readonly #snapshotEvery: number;
  readonly #onApplied: ((command: Command, index: number) => void) | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #sinceSnapshot: number;
  #failed: Error | null = null;

  private constructor(
    state: State,
    log: CommandLog,
    sinceSnapshot: number,
    options: EngineOptions,
  ) {
    this.state = state;
    this.#log = log;
    this.#sinceSnapshot = sinceSnapshot;
    this.#snapshotEvery = options.snapshotEvery ?? 10_000;
    this.#onApplied = options.onApplied;
  }

  /** Rebuilds the state from what the log recovered and returns an engine writing to `log`. */
  static recover(log: CommandLog, recovered: RecoveredLog, options: EngineOptions = {}): Engine {
    const state = recovered.snapshot ? decodeSnapshot(recovered.snapshot.payload) : new State();
    for (const record of recovered.records) {
      state.apply(decodeCommand(record.payload));
      state.commit = record.index;
    }
    return new Engine(state, log, recovered.records.length, options);
  }

  /**
   * Checks, logs (fsync) and applies `command`. Resolves with its log index once the write is
   * durable and visible;
   * rejects with the client-facing error if the command does not apply, or if storage failed
   * (after which every further write is refused).
   */
  submit(command: Command): Promise<number> {
    const run = this.#tail.then(() => this.#write(command));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** The complete state as a snapshot payload (for backups), consistent with all earlier writes. */
  async exportSnapshot(): Promise<Buffer> {
    const run = this.#tail.then(() => encodeSnapshot(this.state));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Replaces the whole state with a snapshot payload (a restore): validated first, then made
   * durable as a snapshot after every earlier write, then swapped in.
   */
  restoreSnapshot(payload: Buffer): Promise<void> {
    const run = this.#tail.then(async () => {
      if (this.#failed) throw new KeyholdError('UNAVAILABLE', 'storage failed: writes are refused');
      let restored: State;
      try {
        restored = decodeSnapshot(payload);
      } catch (error) {
        throw new KeyholdError(
          'BAD_REQUEST',
          `invalid backup: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      const index = this.state.commit + 1;
      restored.commit = index;
      await this.#log.snapshot(index, encodeSnapshot(restored));
      this.state.replaceWith(restored);
      this.#sinceSnapshot = 0;
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Waits for pending writes, then closes the log. */
  async close(): Promise<void> {
    await this.#tail;
    await this.#log.close();
  }

  async #write(command: Command): Promise<number> {
    if (this.#failed) throw new KeyholdError('UNAVAILABLE', 'storage failed: writes are refused');
    this.state.check(command);
    let index: number;
    try {
      index = await this.#log.append(encodeCommand(command));
    } catch (error) {
      this.#failed = error instanceof Error ? error : new Error(String(error));
      throw new KeyholdError('UNAVAILABLE', 'storage failed: writes are refused');
    }
    this.state.apply(command);
    this.state.commit = index;
    this.#onApplied?.(command, index);
    if (++this.#sinceSnapshot >= this.#snapshotEvery) {
      this.#sinceSnapshot = 0;
      await this.#log.snapshot(index, encodeSnapshot(this.state));
    }
    return index;
  }
}

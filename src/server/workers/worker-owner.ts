// A worker's view of the state owner: a replica of the primary's state, kept current by the
// commands the primary broadcasts, and writes, backups and metrics sent to the primary.

import { KeyholdError } from '../../model/errors.ts';
import type { ErrorCode } from '../../model/errors.ts';
import type { Command } from '../../state/commands.ts';
import { decodeCommand, encodeCommand } from '../../state/commands.ts';
import { decodeSnapshot } from '../../state/snapshot.ts';
import type { State } from '../../state/state.ts';
import type { GatherTopic, StateOwner } from '../state-owner.ts';
import type { SessionOp } from '../../console/session-table.ts';
import { IdleCollector } from './collect-garbage.ts';
import type { ToPrimary, ToWorker } from './messages.ts';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** Backup pieces are sent to the primary in messages of about this size, one at a time. */
const UPLOAD_PIECE_BYTES = 1 << 20;

export class WorkerOwner implements StateOwner {
  readonly state: State;
  readonly #send: (message: ToPrimary) => void;
  readonly #pending = new Map<number, Pending>();
  readonly #idle = new IdleCollector();
  #nextId = 1;
  #nextUpload = 1;

  /**
   * @param snapshot the state at the moment this worker joined (streamed before `init`); zeroed
   *   once decoded.
   */
  constructor(snapshot: Buffer, send: (message: ToPrimary) => void) {
    this.state = decodeSnapshot(snapshot);
    snapshot.fill(0);
    this.#send = send;
  }

  /** Replaces the state (a restore) by `snapshot` (streamed before `reset`), then zeroes it. */
  reset(snapshot: Buffer): void {
    this.state.replaceWith(decodeSnapshot(snapshot));
    snapshot.fill(0);
    this.#send({ type: 'applied', index: this.state.commit });
  }

  /** Handles the state-related messages from the primary; returns false for others. */
  handle(message: ToWorker): boolean {
    switch (message.type) {
      case 'apply': {
        let index = message.first;
        for (const command of message.commands) {
          // A command the snapshot this worker started from already holds is skipped.
          if (index > this.state.commit) {
            this.state.apply(decodeCommand(command));
            this.state.commit = index;
          }
          index++;
        }
        this.#send({ type: 'applied', index: this.state.commit });
        this.#idle.note(message.commands.length);
        return true;
      }
      case 'reply': {
        const pending = this.#pending.get(message.id);
        if (!pending) return true;
        this.#pending.delete(message.id);
        if (message.error) {
          const { code, message: text, status } = message.error;
          pending.reject(new KeyholdError(code as ErrorCode, text, status));
        } else {
          pending.resolve(message.value);
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** Resolves once the primary committed the command and every worker (this one too) applied it. */
  async submit(command: Command): Promise<void> {
    await this.#request((id) => ({ type: 'submit', id, command: encodeCommand(command) }));
  }

  async backup(): Promise<Buffer> {
    return Buffer.from((await this.#request((id) => ({ type: 'backup', id }))) as Uint8Array);
  }

  /**
   * Forwards the backup to the primary in ~1 MiB pieces, each once the previous one was
   * accepted: this worker holds one piece at a time, and a refusal stops the upload at once.
   * The first piece goes as it arrives, so that a wrong start is refused before more is read.
   */
  async restore(backup: AsyncIterable<Uint8Array>): Promise<void> {
    const upload = this.#nextUpload++;
    let pieces: Uint8Array[] = [];
    let size = 0;
    let sent = 0;
    const flush = async (): Promise<void> => {
      const bytes = Buffer.concat(pieces, size);
      pieces = [];
      sent += size;
      size = 0;
      await this.#request((id) => ({ type: 'restore-piece', id, upload, bytes }));
    };
    try {
      for await (const piece of backup) {
        pieces.push(piece);
        size += piece.length;
        if (size >= UPLOAD_PIECE_BYTES || sent === 0) await flush();
      }
      if (size > 0) await flush();
    } catch (error) {
      this.#send({ type: 'restore-abort', upload });
      throw error;
    }
    await this.#request((id) => ({ type: 'restore', id, upload }));
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return (await this.#request((id) => ({ type: 'metrics', id }))) as {
      contentType: string;
      body: string;
    };
  }

  /** Every worker's value of `what` (this one's included), through the primary. */
  async gather(what: GatherTopic): Promise<unknown[]> {
    return (await this.#request((id) => ({ type: 'gather', id, what }))) as unknown[];
  }

  /** Runs a web console session operation in the primary, which holds the node's sessions. */
  consoleSession(op: SessionOp): Promise<unknown> {
    return this.#request((id) => ({ type: 'console-session', id, op }));
  }

  /** Fails every request still waiting (the primary went away). */
  abandon(): void {
    for (const pending of this.#pending.values()) {
      pending.reject(new KeyholdError('UNAVAILABLE', 'the node is shutting down'));
    }
    this.#pending.clear();
  }

  #request(make: (id: number) => ToPrimary): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send(make(id));
    });
  }
}

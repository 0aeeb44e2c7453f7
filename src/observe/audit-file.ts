// The audit log file: the one writer of `--audit-log FILE` in a node (the single process, or the
// primary of a worker pool, to which workers send their lines). It chains every line
// (audit-chain.ts), begins each file and run with a start record, ends it with a seal record,
// and reopens the file on SIGHUP or when it was renamed (logrotate's default `create` mode), so
// that the chain runs on across files (docs/audit.md).

import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { AuditChain, GENESIS, headOf } from './audit-chain.ts';
import type { ChainHead } from './audit-chain.ts';

/** How often the file's path is checked for a rename (logrotate). */
export const ROTATE_CHECK_MS = 1000;
/** How far back from the end a run's start looks for the last line: longer than any line. */
const TAIL_BYTES = 256 * 1024;

/** What AuditLog writes its gathered lines to. */
export interface AuditSink {
  /**
   * NDJSON lines, each ending in a newline, as UTF-8. The bytes are the caller's to reuse once
   * this returns: a sink copies what it keeps.
   */
  write(lines: Buffer): void;
  end(done: () => void): void;
}

export class AuditFile implements AuditSink {
  readonly #path: string;
  readonly #chain: AuditChain;
  readonly #onError: (error: Error) => void;
  /** Writes in order, one at a time: lines, seals and reopens never overtake each other. */
  #queue: Promise<void> = Promise.resolve();
  #handle: FileHandle | null = null;
  /** The open file's identity, to notice a rename. */
  #ino: number;
  #dev: number;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** The last write error reported: a full disk fails every write, and is reported once. */
  #failing = '';
  /** A rotation is queued and its new file not yet open. */
  #rotating = false;
  readonly #onSighup = (): void => this.rotate();

  /**
   * Opens (creating, mode 0600) `path` for appending and continues the chain from its last line
   * (a new chain when it has none). Throws at once if the file cannot be opened. Listens for
   * SIGHUP unless `sighup` is false.
   */
  static open(
    path: string,
    key: Buffer,
    onError: (error: Error) => void,
    sighup = true,
  ): AuditFile {
    const { head, prefix, stats } = readTail(path);
    const file = new AuditFile(
      path,
      new AuditChain(key, head ?? { mac: GENESIS, seq: 0 }),
      onError,
    );
    file.#ino = stats.ino;
    file.#dev = stats.dev;
    // A line a crash cut off stays alone on its line (the verifier reports it).
    file.#append(prefix + file.#chain.start(new Date()));
    file.#timer = setInterval(() => file.#checkRename(), ROTATE_CHECK_MS).unref();
    if (sighup) process.on('SIGHUP', file.#onSighup);
    return file;
  }

  private constructor(path: string, chain: AuditChain, onError: (error: Error) => void) {
    this.#path = path;
    this.#chain = chain;
    this.#onError = onError;
    this.#ino = 0;
    this.#dev = 0;
  }

  /** Where the chain stands (for tests and the banner). */
  get head(): ChainHead {
    return this.#chain.head;
  }

  /** Chains and appends NDJSON lines (each ending in a newline), as one write. */
  write(lines: Buffer): void {
    if (this.#closed || lines.length === 0) return;
    const out = this.#chain.nextLines(lines);
    if (out.length > 0) this.#append(out);
  }

  /** Ends this file with a seal record and continues the chain in a new file at the same path. */
  rotate(): void {
    if (this.#closed) return;
    this.#rotating = true;
    this.#append(this.#chain.seal(new Date(), 'rotate'));
    this.#queue = this.#queue
      .then(async () => {
        const handle = this.#handle;
        this.#handle = null;
        await handle?.close();
        await this.#openHandle();
      })
      .catch((error: unknown) => this.#onError(asError(error)))
      .finally(() => {
        this.#rotating = false;
      });
    this.#append(this.#chain.start(new Date()));
  }

  /** Seals the chain and closes the file. */
  end(done: () => void): void {
    if (this.#closed) {
      void this.#queue.then(done);
      return;
    }
    this.#append(this.#chain.seal(new Date(), 'close'));
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    process.off('SIGHUP', this.#onSighup);
    this.#queue = this.#queue
      .then(async () => {
        await this.#handle?.close();
        this.#handle = null;
      })
      .catch((error: unknown) => this.#onError(asError(error)));
    void this.#queue.then(done);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.end(resolve));
  }

  #append(text: string | Buffer): void {
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    this.#queue = this.#queue
      .then(async () => {
        if (!this.#handle) await this.#openHandle();
        await this.#handle!.write(bytes);
        if (this.#failing !== '') {
          this.#failing = '';
          this.#onError(new Error('writing again; lines were lost while writes failed'));
        }
      })
      .catch((error: unknown) => {
        const e = asError(error);
        if (e.message === this.#failing) return;
        this.#failing = e.message;
        this.#onError(e);
      });
  }

  async #openHandle(): Promise<void> {
    this.#handle = await open(this.#path, 'a', 0o600);
    const stats = await this.#handle.stat();
    this.#ino = stats.ino;
    this.#dev = stats.dev;
  }

  /** A file renamed away (or removed) is sealed and a new one started at the path. */
  #checkRename(): void {
    if (this.#closed || this.#rotating || !this.#handle) return;
    let stats: Stats | undefined;
    try {
      stats = statSync(this.#path);
    } catch {
      stats = undefined;
    }
    if (!stats || stats.ino !== this.#ino || stats.dev !== this.#dev) this.rotate();
  }
}

/**
 * Opens `path` (creating it) and reads where its chain stands: the head after its last complete
 * line, and a newline to write first when the file ends mid-line.
 */
function readTail(path: string): { head: ChainHead | null; prefix: string; stats: Stats } {
  const fd = openSync(path, 'a+', 0o600);
  try {
    const stats = fstatSync(fd);
    if (stats.size === 0) return { head: null, prefix: '', stats };
    const length = Math.min(stats.size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, stats.size - length);
    const text = buffer.toString('utf8');
    const prefix = text.endsWith('\n') ? '' : '\n';
    const lines = text.split('\n');
    // The last complete line: the one before the final newline.
    const last = lines.length >= 2 ? lines[lines.length - 2]! : '';
    return { head: headOf(last), prefix, stats };
  } finally {
    closeSync(fd);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

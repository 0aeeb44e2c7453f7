// Audit log: exactly one record per request, fanned out to a file and to live subscribers
// without ever blocking a request (slow subscribers lose records and are counted). File lines
// are gathered for up to FLUSH_INTERVAL_MS (or FLUSH_BYTES) and written at once: one file write
// per line cost ~4 µs of server CPU per request under load (~14 % of a single-key generate).
// The sink chains the lines (audit-file.ts), or, in a worker, sends them to the primary that does.

import type { AuditSink } from './audit-file.ts';
import { Multicast } from './multicast.ts';

export interface AuditRecord {
  readonly time: Date;
  /** `h1:` identity of the caller, '' without a client certificate. */
  readonly identity: string;
  readonly ip: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Seconds from request start to response end. */
  readonly duration: number;
}

export type AuditSubscriber = (record: AuditRecord) => void;

/** Longest a line waits before it is written: what a crash (not a shutdown) may lose. */
export const FLUSH_INTERVAL_MS = 10;
/** Pending bytes that trigger a write at once. */
const FLUSH_BYTES = 64 * 1024;
/** The pending buffer's size: a full batch and one more line of ordinary length. */
const PENDING_BYTES = FLUSH_BYTES + 16 * 1024;

export class AuditLog {
  /** Live subscribers (KES `/v1/log/audit`). */
  readonly stream = new Multicast<AuditRecord>();
  #sink: AuditSink | null;
  #count = 0;
  /**
   * Lines not yet handed to the sink, as the UTF-8 bytes they are written as: each line is
   * encoded once, here, instead of the batch being joined into one string and encoded at the
   * flush (a rope of hundreds of lines, flattened: ~3 % of a single request's in-process profile).
   * Reused from batch to batch: the sink consumes each batch before `write` returns.
   */
  #pending: Buffer | null = null;
  #at = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #lines = new AuditLineWriter();

  constructor(sink: AuditSink | null = null) {
    this.#sink = sink;
  }

  /** Number of records produced since start. */
  get count(): number {
    return this.#count;
  }

  record(record: AuditRecord): void {
    this.#count++;
    if (this.#sink) {
      const most = this.#lines.prepare(record);
      let pending = this.#pending;
      if (pending === null || this.#at + most > pending.length) {
        if (this.#at > 0) this.#flush();
        pending = this.#pending ??= Buffer.allocUnsafe(Math.max(PENDING_BYTES, most));
        if (most > pending.length) pending = Buffer.allocUnsafe(most);
        this.#pending = pending;
      }
      this.#at = this.#lines.write(record, pending, this.#at);
      if (this.#at >= FLUSH_BYTES) this.#flush();
      else this.#timer ??= setTimeout(this.#flush, FLUSH_INTERVAL_MS);
    }
    this.stream.publish(record);
  }

  /** Hands the gathered lines to the sink in one write (O_APPEND keeps them whole). */
  readonly #flush = (): void => {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const pending = this.#pending;
    const at = this.#at;
    this.#at = 0;
    if (pending === null || at === 0) return;
    // A buffer grown for one very long line is not kept.
    if (pending.length > PENDING_BYTES) this.#pending = null;
    // The sink queues what it cannot write at once: the file is local and fast.
    this.#sink?.write(pending.subarray(0, at));
  };

  subscribe(subscriber: AuditSubscriber): () => void {
    return this.stream.subscribe(subscriber);
  }

  async close(): Promise<void> {
    this.#flush();
    const sink = this.#sink;
    this.#sink = null;
    this.#pending = null;
    if (sink) await new Promise<void>((resolve) => sink.end(resolve));
  }
}

/** The most bytes after the request part: two numbers as JSON (24 each), `,"time":` and `}}\n`. */
const TAIL_BYTES = 24 + 8 + 24 + 3;
/** How many recent request parts are kept: the clients of a node are few and repeat. */
const RECENT = 8;

/** The bytes of a line between its time and its status code, for one (ip, path, method, identity). */
interface RequestPart {
  readonly ip: string;
  readonly path: string;
  readonly method: string;
  readonly identity: string;
  readonly bytes: Buffer;
}

/**
 * Writes audit lines as the UTF-8 bytes of exactly what `JSON.stringify` gives for
 * `{time, request: {ip, path, method, identity}, response: {code, time}}` plus a newline, the
 * shape of KES's audit log (docs/protocol/kes.md). A line is assembled from bytes made once and
 * reused: the head with the time (the same for every line of a millisecond) and the request part
 * (the same for every request of a client to one path: a node has few clients, each repeating
 * itself), then the two numbers written digit by digit. Building each line as a string and
 * encoding it cost ~0.4 µs per request, ~2 % of a single generate's server CPU.
 */
export class AuditLineWriter {
  #millis = NaN;
  #head: Buffer = Buffer.alloc(0);
  readonly #recent: (RequestPart | undefined)[] = new Array<RequestPart | undefined>(RECENT);
  /** Where the next new request part goes (round robin). */
  #next = 0;
  /** The part found or made last, the one the next {@link write} writes. */
  #last: RequestPart | undefined = undefined;

  /**
   * Makes ready to {@link write} `record`'s line (its head and request part, kept for the lines
   * after it) and returns the most bytes that line takes.
   */
  prepare(record: AuditRecord): number {
    const millis = record.time.getTime();
    if (millis !== this.#millis) {
      this.#millis = millis;
      this.#head = Buffer.from(
        '{"time":"' + record.time.toISOString() + '","request":{"ip":',
        'latin1',
      );
    }
    return this.#head.length + this.#part(record).bytes.length + TAIL_BYTES;
  }

  /**
   * Writes the line of the record last given to {@link prepare} into `out` at `at`, which has
   * room for it; returns where it ends.
   */
  write(record: AuditRecord, out: Buffer, at: number): number {
    out.set(this.#head, at);
    at += this.#head.length;
    const part = this.#last!.bytes;
    out.set(part, at);
    at += part.length;
    at = writeDigits(out, at, record.status);
    out.set(TIME_FIELD, at);
    at = writeDigits(out, at + TIME_FIELD.length, Math.round(record.duration * 1e9));
    out[at++] = 0x7d; // }
    out[at++] = 0x7d;
    out[at++] = 0x0a; // \n
    return at;
  }

  #part(record: AuditRecord): RequestPart {
    const last = this.#last;
    if (last !== undefined && isPartOf(last, record)) return last;
    for (const p of this.#recent) {
      if (p !== undefined && isPartOf(p, record)) return (this.#last = p);
    }
    const { ip, path, method, identity } = record;
    const bytes = Buffer.from(
      quote(ip) +
        ',"path":' +
        quote(path) +
        ',"method":' +
        quote(method) +
        ',"identity":' +
        quote(identity) +
        '},"response":{"code":',
    );
    const part: RequestPart = { ip, path, method, identity, bytes };
    this.#recent[this.#next] = part;
    this.#next = (this.#next + 1) % RECENT;
    return (this.#last = part);
  }
}

const TIME_FIELD = Buffer.from(',"time":', 'latin1');

/**
 * Whether `part` was made for `record`'s request. The identity and address come first: they are
 * the connection's own strings, so they compare at once when equal and differ early when not.
 */
function isPartOf(part: RequestPart, record: AuditRecord): boolean {
  return (
    part.identity === record.identity &&
    part.ip === record.ip &&
    part.method === record.method &&
    part.path === record.path
  );
}

/** Writes `n` as JSON.stringify does (at most 24 characters) at `at`; returns where it ends. */
function writeDigits(out: Buffer, at: number, n: number): number {
  if (!(Number.isSafeInteger(n) && n >= 0)) return at + out.write(JSON.stringify(n), at, 'latin1');
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const end = at + digits;
  let rest = n;
  for (let i = end - 1; i >= at; i--) {
    const next = Math.floor(rest / 10);
    out[i] = 0x30 + (rest - next * 10);
    rest = next;
  }
  return end;
}

/**
 * `JSON.stringify(s)`: printable ASCII other than `"` and `\` is quoted as is, anything else
 * goes to JSON.stringify.
 */
function quote(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

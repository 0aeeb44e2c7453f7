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
      const line = formatAuditLine(record);
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      const most = 3 * line.length;
      let pending = this.#pending;
      if (pending === null || this.#at + most > pending.length) {
        if (this.#at > 0) this.#flush();
        pending = this.#pending ??= Buffer.allocUnsafe(Math.max(PENDING_BYTES, most));
        if (most > pending.length) pending = Buffer.allocUnsafe(most);
        this.#pending = pending;
      }
      this.#at += pending.write(line, this.#at);
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

/**
 * One NDJSON line, the shape KES's audit log uses (docs/protocol/kes.md): exactly what
 * `JSON.stringify` gives for `{time, request: {ip, path, method, identity}, response: {code,
 * time}}`, written out because building and walking that object per request cost more. The
 * strings are quoted without `JSON.stringify` when they need no escape (the common case: ~80 ns
 * each), and the identity and address of the last line are reused: they repeat per connection.
 */
export function formatAuditLine(r: AuditRecord): string {
  const identity = r.identity;
  if (identity !== lastIdentity) {
    lastIdentity = identity;
    lastIdentityJson = quote(identity);
  }
  const ip = r.ip;
  if (ip !== lastIp) {
    lastIp = ip;
    lastIpJson = quote(ip);
  }
  return (
    '{"time":"' +
    isoTime(r.time) +
    '","request":{"ip":' +
    lastIpJson +
    ',"path":' +
    quote(r.path) +
    ',"method":' +
    quote(r.method) +
    ',"identity":' +
    lastIdentityJson +
    '},"response":{"code":' +
    String(r.status) +
    ',"time":' +
    String(Math.round(r.duration * 1e9)) +
    '}}\n'
  );
}

let lastIdentity = '';
let lastIdentityJson = '""';
let lastIp = '';
let lastIpJson = '""';

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

// Under load many records fall in the same millisecond: the last one's text is reused.
let lastMillis = NaN;
let lastIso = '';

/** `time.toISOString()`, remembered for the last millisecond asked. */
function isoTime(time: Date): string {
  const millis = time.getTime();
  if (millis !== lastMillis) {
    lastIso = time.toISOString();
    lastMillis = millis;
  }
  return lastIso;
}

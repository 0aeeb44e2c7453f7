// Audit log: exactly one record per request, fanned out to a file and to live subscribers
// without ever blocking a request (slow subscribers lose records and are counted).

import type { Writable } from 'node:stream';
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

export class AuditLog {
  /** Live subscribers (KES `/v1/log/audit`). */
  readonly stream = new Multicast<AuditRecord>();
  #sink: Writable | null;
  #count = 0;

  constructor(sink: Writable | null = null) {
    this.#sink = sink;
  }

  /** Number of records produced since start. */
  get count(): number {
    return this.#count;
  }

  record(record: AuditRecord): void {
    this.#count++;
    // A sink under backpressure drops nothing here: node buffers; the file is local and fast.
    this.#sink?.write(formatAuditLine(record));
    this.stream.publish(record);
  }

  subscribe(subscriber: AuditSubscriber): () => void {
    return this.stream.subscribe(subscriber);
  }

  async close(): Promise<void> {
    const sink = this.#sink;
    this.#sink = null;
    if (sink) await new Promise<void>((resolve) => sink.end(resolve));
  }
}

/** One NDJSON line, the shape KES's audit log uses (research/kes.md §2.4). */
export function formatAuditLine(r: AuditRecord): string {
  return (
    JSON.stringify({
      time: r.time.toISOString(),
      request: { ip: r.ip, path: r.path, method: r.method, identity: r.identity },
      response: { code: r.status, time: Math.round(r.duration * 1e9) },
    }) + '\n'
  );
}

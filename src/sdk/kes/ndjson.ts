// Newline-delimited JSON readers: the KES log streams (endless, one event per line) and the
// legacy NDJSON listings of KES ≤ v0.22 (docs/protocol/kes.md).

import type { Readable } from 'node:stream';
import { KesResponseError } from './errors.ts';

/** Longest line accepted in an NDJSON stream. */
export const MAX_NDJSON_LINE = 1 << 20;

/**
 * Yields each non-empty line of `source` parsed as a JSON object (CRLF tolerated). Throws
 * KesResponseError for a line that is not a JSON object or is longer than
 * {@link MAX_NDJSON_LINE}; a final line without a newline is still parsed.
 */
export async function* ndjsonObjects(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  let pending = '';
  for await (const chunk of source) {
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const value = parseLine(line);
      if (value !== undefined) yield value;
    }
    if (pending.length > MAX_NDJSON_LINE) {
      throw new KesResponseError(`NDJSON line longer than ${MAX_NDJSON_LINE} bytes`);
    }
  }
  const value = parseLine(pending);
  if (value !== undefined) yield value;
}

function parseLine(raw: string): Record<string, unknown> | undefined {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new KesResponseError(`invalid NDJSON line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KesResponseError(`invalid NDJSON line: not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * An open log stream: iterate it for events (the iteration ends when the server closes the
 * stream, or after {@link close}). Events are only those that happen after the stream opened.
 */
export class KesLogStream<T> implements AsyncIterable<T> {
  readonly #source: Readable;
  readonly #decode: (o: Record<string, unknown>) => T;
  #closed = false;

  constructor(source: Readable, decode: (o: Record<string, unknown>) => T) {
    this.#source = source;
    this.#decode = decode;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    try {
      for await (const o of ndjsonObjects(this.#source as AsyncIterable<Buffer>))
        yield this.#decode(o);
    } catch (error) {
      // close() destroys the socket mid-read; that is the normal end, not a failure.
      if (!this.#closed) throw error;
    }
  }

  /** Ends the stream and its connection. */
  close(): void {
    this.#closed = true;
    this.#source.destroy();
  }
}

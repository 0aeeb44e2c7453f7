// `/v1/log/audit` and `/v1/log/error`: NDJSON event streams to any number of subscribers, each
// event encoded once. A subscriber that reads too slowly loses events; requests never wait for
// it. (Upstream KES has sent no events at all since 2024-02, docs/protocol/kes.md: fixed here.)

import { parseIdentity } from '../../identity/index.ts';
import type { AuditRecord } from '../../observe/audit.ts';
import type { HttpRequest, HttpResponse } from '../../http/http-types.ts';
import type { LogEvent } from '../../observe/event-log.ts';
import { encodeGoJson, goTime } from './go-json.ts';

/** Bytes a subscriber may have pending before further events are dropped for it. */
export const MAX_PENDING_BYTES = 1024 * 1024;

/** Subscribes a listener to an event source; returns the unsubscribe function. */
export type EventSource<E> = (listener: (event: E) => void) => () => void;

/** One subscriber: how much it has pending since the socket stopped taking data. */
interface Subscriber {
  readonly res: HttpResponse;
  /** Waiting for 'drain'. */
  blocked: boolean;
  /** Bytes written since the last write that returned false. */
  pending: number;
}

/**
 * Fans one event source out to NDJSON responses. It subscribes to the source only while it has
 * subscribers, and encodes each event once for all of them.
 */
export class NdjsonBroadcast<E> {
  readonly #source: EventSource<E>;
  readonly #encode: (event: E) => string | null;
  readonly #onWrite: () => void;
  readonly #subscribers = new Set<Subscriber>();
  #unsubscribe: (() => void) | null = null;
  #dropped = 0;

  /**
   * @param encode the NDJSON line of an event, or null to skip it
   * @param onWrite called once per event written to a subscriber (metrics)
   */
  constructor(source: EventSource<E>, encode: (event: E) => string | null, onWrite: () => void) {
    this.#source = source;
    this.#encode = encode;
    this.#onWrite = onWrite;
  }

  /** Number of connected subscribers. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Events not delivered because their subscriber was too slow. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Answers 200 with an endless NDJSON body and keeps `res` subscribed until it closes. */
  attach(req: HttpRequest, res: HttpResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const subscriber: Subscriber = { res, blocked: false, pending: 0 };
    this.#subscribers.add(subscriber);
    this.#unsubscribe ??= this.#source((event) => {
      this.#publish(event);
    });
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0 && this.#unsubscribe) {
        this.#unsubscribe();
        this.#unsubscribe = null;
      }
    };
    res.once('close', leave);
    req.socket.once('close', leave);
  }

  #publish(event: E): void {
    let line: string | null | undefined;
    for (const subscriber of this.#subscribers) {
      if (subscriber.blocked && subscriber.pending > MAX_PENDING_BYTES) {
        this.#dropped++;
        continue;
      }
      line ??= this.#encode(event);
      if (line === null) return;
      const accepted = subscriber.res.write(line);
      this.#onWrite();
      if (subscriber.blocked) {
        subscriber.pending += line.length;
      } else if (!accepted) {
        subscriber.blocked = true;
        subscriber.pending = line.length;
        subscriber.res.once('drain', () => {
          subscriber.blocked = false;
          subscriber.pending = 0;
        });
      }
    }
  }
}

/**
 * The KES audit line (`AuditLogEvent`): request ip/path/identity (hex; omitted when empty) and
 * response code and time. `time` is in nanoseconds, as kms-go decodes it (a Go Duration).
 */
export function encodeAuditEvent(record: AuditRecord): string {
  const request: Record<string, string> = {};
  if (record.ip !== '') request.ip = record.ip;
  request.path = record.path;
  const identity = hexIdentity(record.identity);
  if (identity !== '') request.identity = identity;
  return encodeGoJson({
    time: goTime(record.time),
    request,
    response: { code: record.status, time: Math.round(record.duration * 1e9) },
  });
}

/** The KES error-log line: `{"message": <one slog text record>}`. */
export function encodeErrorEvent(event: LogEvent): string {
  return encodeGoJson({ message: slogText(event) });
}

/** One record in Go slog's text format: `time=… level=… msg=…`. */
export function slogText(event: LogEvent): string {
  return `time=${event.time.toISOString()} level=${slogLevel(event.level)} msg=${slogValue(event.message)}`;
}

/** slog's level names: DEBUG/INFO/WARN/ERROR, with `+n` for levels between them. */
export function slogLevel(level: number): string {
  const base =
    level >= 8 ? ['ERROR', 8] : level >= 4 ? ['WARN', 4] : level >= 0 ? ['INFO', 0] : ['DEBUG', -4];
  const delta = level - (base[1] as number);
  return delta === 0 ? (base[0] as string) : `${base[0] as string}${delta > 0 ? '+' : ''}${delta}`;
}

function slogValue(text: string): string {
  // slog quotes a value that is empty or has spaces, '=', '"' or non-printable characters.
  return text === '' || /[\s"=\p{C}]/u.test(text) ? JSON.stringify(text) : text;
}

/** An `h1:` identity as KES hex ('' stays ''; anything unparsable is passed through). */
export function hexIdentity(identity: string): string {
  if (identity === '') return '';
  try {
    return parseIdentity(identity).toHex();
  } catch {
    return identity;
  }
}

// The response object of the lean HTTP/1.1 server. `end(body)` on a fresh response renders the
// status line, headers and body into one buffer handed to one socket write (one TLS record for
// small bodies): that single write is where the lean server's speed comes from.

import { STATUS_CODES } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import type { HttpResponse } from '../http-types.ts';
import { latin1Write } from './latin1.ts';
import { LeanEmitter } from './lean-emitter.ts';
import type { Http1Request } from './request.ts';

/** The connection side of a response: ordered output and connection state. */
export interface ResponseSink {
  /**
   * Hands `data` to the socket in response order (held while earlier responses are pending).
   * `last` marks the end of this response. Returns false when the writer should wait for 'drain'.
   */
  send(res: Http1Response, data: Buffer, last: boolean): boolean;
  /** Destroys the connection. */
  destroy(): void;
  /** True when the connection will close after the current responses (server shutting down). */
  readonly closing: boolean;
  /** The current `Date` header value. */
  date(): string;
}

type HeaderValue = number | string | readonly string[];

const FRESH = 0;
/** writeHead called: headers fixed, not yet written. */
const HEAD = 1;
/** Headers written, body open (write / flushHeaders). */
const STREAMING = 2;
const ENDED = 3;

const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
/** Bodies above one TLS record's payload are written after the head, not copied into it. */
const COPY_LIMIT = 16 * 1024;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Anything a header value must not contain: CR and LF above all (response splitting). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** "HTTP/1.1 <status> <Node's reason>\r\n" by status, rendered on first use. */
const STATUS_LINES = new Map<number, string>();

function statusLine(status: number): string {
  let line = STATUS_LINES.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    STATUS_LINES.set(status, line);
  }
  return line;
}

let lastDate = '';
let lastDateLine = '';

/** "Date: <date>\r\n", rendered once per value of the Date header (once a second). */
function dateLine(date: string): string {
  if (date !== lastDate) {
    lastDate = date;
    lastDateLine = `Date: ${date}\r\n`;
  }
  return lastDateLine;
}

/**
 * Header names already found to be tokens (a handler's names are few and fixed): checked by
 * lookup instead of the regular expression. Bounded, so that names from elsewhere cannot grow it.
 */
const TOKEN_NAMES = new Set<string>();
const MAX_TOKEN_NAMES = 64;

function headerError(code: string, message: string): TypeError {
  return Object.assign(new TypeError(message), { code });
}

function checkHeader(name: string, value: HeaderValue | undefined): void {
  if (!TOKEN_NAMES.has(name)) {
    if (!TOKEN.test(name)) {
      throw headerError(
        'ERR_INVALID_HTTP_TOKEN',
        `Header name must be a valid HTTP token ["${name}"]`,
      );
    }
    if (TOKEN_NAMES.size < MAX_TOKEN_NAMES) TOKEN_NAMES.add(name);
  }
  if (value === undefined) {
    throw headerError(
      'ERR_HTTP_INVALID_HEADER_VALUE',
      `Invalid value "undefined" for header "${name}"`,
    );
  }
  if (typeof value === 'number') return;
  const values = typeof value === 'string' ? [value] : value;
  for (const v of values) {
    if (INVALID_VALUE.test(v)) {
      throw headerError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
    }
  }
}

// Headers the response framing depends on, noted while rendering.
const SEEN_LENGTH = 1;
const SEEN_ENCODING = 2;
const SEEN_DATE = 4;
const SEEN_CONNECTION = 8;

function emitFinish(res: Http1Response): void {
  res.emit('finish');
  res.closed();
}

function headersSentError(): Error {
  return Object.assign(new Error('Cannot set headers after they are sent to the client'), {
    code: 'ERR_HTTP_HEADERS_SENT',
  });
}

/**
 * One response. Headers are fixed by `writeHead` (or the first write) and rendered once.
 * 'finish' fires when the last byte has been handed to the socket, then 'close'; 'close' alone
 * when the connection ended first. 'drain' follows a `write` that returned false.
 */
export class Http1Response extends LeanEmitter implements HttpResponse {
  statusCode = 200;
  /** Reason phrase; Node's standard one when empty. */
  statusMessage = '';
  readonly req: Http1Request;

  readonly #sink: ResponseSink;
  /** Header lines rendered by writeHead (when no setHeader came first). */
  #lines: string | null = null;
  /** SEEN_* flags of the rendered lines. */
  #seen = 0;
  /** setHeader'd headers by lower-case name. */
  #set: Map<string, [string, HeaderValue]> | null = null;
  #state = FRESH;
  #chunked = false;
  #hasBody: boolean;
  #close: boolean;
  #finished = false;
  #closed = false;
  #needDrain = false;
  #timeoutMs = 0;
  #timeoutCallback: (() => void) | null = null;
  #replaced = false;

  constructor(req: Http1Request, keepAlive: boolean, sink: ResponseSink) {
    super();
    this.req = req;
    this.#sink = sink;
    this.#close = !keepAlive;
    this.#hasBody = req.method !== 'HEAD';
  }

  /**
   * 'close' and 'finish' fire at most once per response, so a once-listener for them is
   * registered as a plain listener: no wrapper closure per registration (the pipeline's one
   * 'close' listener per request showed in the profile as Node's `onceWrapper`).
   */
  override once(event: string | symbol, listener: (...args: never[]) => void): this {
    if (event === 'close' || event === 'finish') {
      return super.on(event, listener);
    }
    return super.once(event, listener);
  }

  get headersSent(): boolean {
    return this.#state !== FRESH;
  }

  /** True once `end()` was called. */
  get writableEnded(): boolean {
    return this.#state === ENDED;
  }

  /** True once the whole response was handed to the socket. */
  get writableFinished(): boolean {
    return this.#finished;
  }

  /** True once bytes of this response were produced (handed or held for the socket). */
  get started(): boolean {
    return this.#state === STREAMING || (this.#state === ENDED && !this.#replaced);
  }

  /** True when the connection closes after this response. */
  get closesConnection(): boolean {
    return this.#close;
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.#state !== FRESH) throw headersSentError();
    checkHeader(name, value);
    (this.#set ??= new Map()).set(name.toLowerCase(), [name, value]);
    return this;
  }

  /** A header set with setHeader (not one passed to writeHead). */
  getHeader(name: string): HeaderValue | undefined {
    return this.#set?.get(name.toLowerCase())?.[1];
  }

  removeHeader(name: string): void {
    if (this.#state !== FRESH) throw headersSentError();
    this.#set?.delete(name.toLowerCase());
  }

  writeHead(status: number, headers?: OutgoingHttpHeaders): this {
    if (this.#state !== FRESH) throw headersSentError();
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw Object.assign(new RangeError(`Invalid status code: ${String(status)}`), {
        code: 'ERR_HTTP_INVALID_STATUS_CODE',
      });
    }
    if (headers) {
      if (this.#set) {
        for (const name in headers) {
          const value = headers[name];
          if (value !== undefined) this.setHeader(name, value);
        }
      } else {
        // Validated and rendered once, here (as Node's writeHead does).
        let lines = '';
        for (const name in headers) {
          const value = headers[name];
          if (value === undefined) continue;
          checkHeader(name, value);
          lines += this.#line(name, value);
        }
        this.#lines = lines;
      }
    }
    this.statusCode = status;
    this.#state = HEAD;
    return this;
  }

  /** Sends `100 Continue` now if the client waits for it (before the final answer only). */
  writeContinue(): void {
    if (this.#state === FRESH || this.#state === HEAD) this.req.sendContinue();
  }

  flushHeaders(): void {
    if (this.#state === FRESH || this.#state === HEAD) {
      this.#send(Buffer.from(this.#render(-1), 'latin1'), false);
    }
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.#state === ENDED || this.#closed) return false;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const head = this.#state === STREAMING ? null : this.#render(-1);
    let out: Buffer;
    if (!this.#hasBody || data.length === 0) {
      if (head === null) return true;
      out = Buffer.from(head, 'latin1');
    } else if (this.#chunked) {
      const size = `${head ?? ''}${data.length.toString(16)}\r\n`;
      out = Buffer.concat([Buffer.from(size, 'latin1'), data, CRLF]);
    } else {
      out = head === null ? Buffer.from(data) : Buffer.concat([Buffer.from(head, 'latin1'), data]);
    }
    return this.#send(out, false);
  }

  end(chunk?: Uint8Array | string): this {
    if (this.#state === ENDED || this.#closed) return this;
    const body =
      chunk === undefined ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#state !== STREAMING) {
      // The fast path: status line, headers and body in one buffer, one write.
      const head = this.#render(body.length);
      this.#state = ENDED;
      const sent = this.#hasBody ? body : EMPTY;
      if (sent.length > COPY_LIMIT) {
        this.#sink.send(this, Buffer.from(head, 'latin1'), false);
        this.#sink.send(this, Buffer.from(sent), true);
        return this;
      }
      const out = Buffer.allocUnsafe(head.length + sent.length);
      latin1Write(out, head, 0);
      out.set(sent, head.length);
      this.#sink.send(this, out, true);
      return this;
    }
    this.#state = ENDED;
    let out: Buffer = EMPTY;
    if (this.#chunked) {
      out =
        body.length > 0 && this.#hasBody
          ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, CRLF, LAST_CHUNK])
          : LAST_CHUNK;
    } else if (this.#hasBody && body.length > 0) {
      out = Buffer.from(body);
    }
    this.#sink.send(this, out, true);
    return this;
  }

  /** Calls `callback` (default: destroy the connection) after `ms` without socket activity. */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    this.#timeoutCallback = callback ?? null;
    return this;
  }

  destroy(): this {
    this.#sink.destroy();
    return this;
  }

  /** For the connection: the inactivity limit set by `setTimeout`, 0 for none. */
  get timeoutMs(): number {
    return this.#finished || this.#closed ? 0 : this.#timeoutMs;
  }

  /** For the connection: the `setTimeout` limit passed. */
  timedOut(): void {
    this.#timeoutMs = 0;
    const callback = this.#timeoutCallback;
    this.#timeoutCallback = null;
    if (callback) callback();
    else this.#sink.destroy();
  }

  /** For the connection: the last byte was handed to the socket. */
  finished(): void {
    if (this.#finished || this.#closed) return;
    this.#finished = true;
    process.nextTick(emitFinish, this);
  }

  /** For the connection: the connection closed (or the response is complete). */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close');
  }

  /** For the connection: the socket drained after a `write` that returned false. */
  drained(): void {
    if (!this.#needDrain) return;
    this.#needDrain = false;
    this.emit('drain');
  }

  /** For the connection: answer this request with a bare error status instead (parse error). */
  replaceWithError(status: number): void {
    if (this.#state !== ENDED) this.#replaced = true;
    this.statusCode = status;
    this.#state = ENDED;
    this.#close = true;
  }

  #send(data: Buffer, last: boolean): boolean {
    if (this.#state !== ENDED) this.#state = STREAMING;
    const ok = this.#sink.send(this, data, last);
    if (!ok) this.#needDrain = true;
    return ok;
  }

  /** One rendered header line (several for an array value); notes framing headers. */
  #line(name: string, value: HeaderValue): string {
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'date') this.#seen |= SEEN_DATE;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          this.#seen |= SEEN_CONNECTION;
          if (/(?:^|[\s,])close(?:$|[\s,])/i.test(String(value))) this.#close = true;
        }
        break;
      case 14:
        if (name === 'Content-Length' || name.toLowerCase() === 'content-length') {
          this.#seen |= SEEN_LENGTH;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          this.#seen |= SEEN_ENCODING;
          if (/(?:^|,)\s*chunked\s*$/i.test(String(value))) this.#chunked = true;
        }
        break;
    }
    if (typeof value !== 'object') return `${name}: ${String(value)}\r\n`;
    let lines = '';
    for (const v of value) lines += `${name}: ${v}\r\n`;
    return lines;
  }

  /**
   * The status line and header section. `bodyLength` -1 means streaming: chunked framing on
   * HTTP/1.1, close-delimited on HTTP/1.0, unless the handler set Content-Length.
   */
  #render(bodyLength: number): string {
    const status = this.statusCode;
    if (status < 200 || status === 204 || status === 304) this.#hasBody = false;
    let lines = this.#lines;
    if (lines === null) {
      lines = '';
      if (this.#set)
        for (const [name, value] of this.#set.values()) lines += this.#line(name, value);
    }
    let head =
      (this.statusMessage === ''
        ? statusLine(status)
        : `HTTP/1.1 ${String(status)} ${this.statusMessage}\r\n`) + lines;
    const seen = this.#seen;
    if ((seen & SEEN_DATE) === 0) head += dateLine(this.#sink.date());
    if (this.#hasBody && (seen & (SEEN_LENGTH | SEEN_ENCODING)) === 0) {
      if (bodyLength >= 0) head += `Content-Length: ${String(bodyLength)}\r\n`;
      else if (this.req.httpVersionMinor === 1) {
        head += 'Transfer-Encoding: chunked\r\n';
        this.#chunked = true;
      } else {
        // HTTP/1.0 has no chunked coding: the body ends when the connection does.
        this.#close = true;
      }
    }
    if (this.#sink.closing) this.#close = true;
    // A body nobody reads (a refused request) is not waited for: the connection closes after
    // this answer instead of reading, or waiting for, what may still come.
    if (this.req.bodyUnread) this.#close = true;
    if ((seen & SEEN_CONNECTION) === 0) {
      if (this.#close) head += 'Connection: close\r\n';
      else if (this.req.httpVersionMinor === 0) head += 'Connection: keep-alive\r\n';
    }
    this.#state = this.#state === ENDED ? ENDED : STREAMING;
    return head + '\r\n';
  }
}

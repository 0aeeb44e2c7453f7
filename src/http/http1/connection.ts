// One TLS connection of the lean HTTP/1.1 server: parses requests as they arrive, answers them
// strictly in order (pipelining), applies back-pressure, answers garbage exactly once and closes,
// and enforces the headers / request / keep-alive / response timeouts.

import type { TLSSocket } from 'node:tls';
import type { HttpRequest, HttpResponse } from '../http-types.ts';
import { Http1Parser } from './parser.ts';
import type { ParseError, ParserHandler, RequestHead } from './parser.ts';
import { Http1Request } from './request.ts';
import type { BodyFlow } from './request.ts';
import { Http1Response } from './response.ts';
import type { ResponseSink } from './response.ts';
import type { IncomingHttpHeaders } from 'node:http';

/** Limits and timeouts of a connection (milliseconds; 0 disables a timeout). */
export interface ConnectionLimits {
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeadersCount: number;
  readonly maxBodyBuffered: number;
  readonly maxPipelined: number;
}

/** What a connection needs from its server. */
export interface ConnectionOwner {
  readonly limits: ConnectionLimits;
  readonly listener: (req: HttpRequest, res: HttpResponse) => void;
  /** True once the server is closing: finish the current responses, then close. */
  readonly closing: boolean;
  /** The coarse clock: a counter the server advances every `tickMs`. */
  readonly tick: number;
  readonly tickMs: number;
  date(): string;
  clientError(error: Error, socket: TLSSocket): void;
  /**
   * The connection answered `status` itself, no listener having seen the request (400, 408,
   * 413, 431 before a request head was complete, or 400 / 417 for one it refuses): so that
   * every answer can be accounted for. `head` when the request line and headers were read.
   */
  rejected(status: number, socket: TLSSocket, head: RequestHead | null): void;
  handlerError(error: unknown): void;
  forget(connection: Http1Connection): void;
}

/** One request/response pair in the connection's answer queue. */
interface Exchange {
  readonly res: Http1Response | null;
  /** Output held until the exchanges before this one are finished. */
  out: Buffer[] | null;
  /** All output of this exchange has been produced. */
  ended: boolean;
  /** A bare error answer that replaces the response (the connection closes after it). */
  error: Buffer | null;
  /** Body bytes of this request received so far (held for it until it is answered). */
  bodyBytes: number;
}

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
};

function bareResponse(status: number): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${String(status)} ${REASONS[status] ?? 'Error'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    'latin1',
  );
}

export class Http1Connection implements ParserHandler, ResponseSink, BodyFlow {
  readonly socket: TLSSocket;
  readonly #owner: ConnectionOwner;
  readonly #parser: Http1Parser;
  /** Answers in request order; the first one owns the socket's write side. */
  readonly #queue: Exchange[] = [];
  /** The exchange whose request body is being parsed. */
  #current: Exchange | null = null;
  /** Input not parsed yet because the connection is holding new requests back. */
  #pending: Buffer | null = null;
  #holding = false;
  #bodyPaused = false;
  #parsing = false;
  /** No more requests are read (close requested, error, or timeout). */
  #stopped = false;
  #closed = false;
  /** Bytes of later responses held behind the first one. */
  #heldBytes = 0;
  /** Body bytes of the requests in the queue: what their handlers may still hold. */
  #bodyBytes = 0;
  #lastActivity: number;
  /**
   * Tick of the first byte of the request being read (empty lines before it included), -1 while
   * no byte of a next request has arrived: the headers and request timeouts count from here.
   */
  #headStart = -1;

  constructor(socket: TLSSocket, owner: ConnectionOwner) {
    this.socket = socket;
    this.#owner = owner;
    this.#lastActivity = owner.tick;
    this.#parser = new Http1Parser(owner.limits, this);
    socket.on('data', (data: Buffer) => {
      this.#onData(data);
    });
    socket.on('drain', () => {
      this.#queue[0]?.res?.drained();
      this.#maybeResume();
    });
    socket.on('end', () => {
      // The peer will send nothing more; an unfinished request is dropped (as Node does).
      this.#stop();
    });
    socket.on('error', () => {
      // 'close' follows; a broken peer is not the server's error.
    });
    socket.on('close', () => {
      this.#onClose();
    });
  }

  /** True when no request is in progress and no answer is pending. */
  get idle(): boolean {
    return this.#queue.length === 0 && !this.#parser.inMessage;
  }

  get closing(): boolean {
    return this.#owner.closing;
  }

  date(): string {
    return this.#owner.date();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Called by the server every tick: timeouts. */
  check(): void {
    if (this.#closed) return;
    const { limits, tick, tickMs } = this.#owner;
    if (this.#headStart >= 0 && !this.#stopped) {
      const age = (tick - this.#headStart) * tickMs;
      // Slowloris: a request must arrive within these limits however slowly it trickles in,
      // be it bytes of its head or empty lines before it.
      if (
        (!this.#parser.headersDone && limits.headersTimeout > 0 && age >= limits.headersTimeout) ||
        (this.#parser.inMessage && limits.requestTimeout > 0 && age >= limits.requestTimeout)
      ) {
        this.#fail(408);
        return;
      }
    }
    const quiet = (tick - this.#lastActivity) * tickMs;
    if (this.idle) {
      if (
        (limits.keepAliveTimeout > 0 && quiet >= limits.keepAliveTimeout) ||
        this.#owner.closing
      ) {
        this.socket.destroy();
      }
      return;
    }
    for (const exchange of this.#queue) {
      const res = exchange.res;
      if (res && res.timeoutMs > 0 && quiet >= res.timeoutMs) res.timedOut();
    }
  }

  // Parser events.

  onMessageBegin(): void {
    if (this.#headStart < 0) this.#headStart = this.#owner.tick;
  }

  onHead(head: RequestHead): void {
    const req = new Http1Request(head, this.socket, this, this.#owner.limits.maxBodyBuffered);
    const res = new Http1Response(req, head.keepAlive, this);
    const exchange: Exchange = { res, out: null, ended: false, error: null, bodyBytes: 0 };
    this.#queue.push(exchange);
    this.#current = exchange;
    if (head.versionMinor === 1) {
      // Node's server rules: an HTTP/1.1 request must name its host (RFC 9112 §3.2)...
      if (head.headers.host === undefined) {
        this.#owner.rejected(400, this.socket, head);
        this.#fail(400);
        return;
      }
      // ...and an expectation other than 100-continue cannot be met (RFC 9110 §10.1.1).
      const expect = head.headers.expect;
      if (expect !== undefined) {
        if (!CONTINUE_EXPECTATION.test(expect)) {
          req.resume();
          res.writeHead(417, { 'Content-Length': 0 });
          res.end();
          this.#owner.rejected(417, this.socket, head);
          return;
        }
        // 100 Continue goes out once the body is read (request.ts): a request refused without
        // reading its body gets its final answer instead, and the body is never sent.
        req.awaitContinue();
      }
    }
    try {
      this.#owner.listener(req, res);
    } catch (error) {
      this.#owner.handlerError(error);
      this.socket.destroy();
    }
  }

  onBody(chunk: Buffer): void {
    const exchange = this.#current;
    if (!exchange?.res) return;
    exchange.bodyBytes += chunk.length;
    this.#bodyBytes += chunk.length;
    exchange.res.req.pushBody(chunk);
  }

  onMessageComplete(trailers: IncomingHttpHeaders | null): boolean {
    this.#headStart = -1;
    const exchange = this.#current;
    this.#current = null;
    const res = exchange?.res;
    if (res) {
      res.req.endBody(trailers);
      if (res.closesConnection) {
        // The client said close (or HTTP/1.0 without keep-alive): nothing after this request
        // is read, so bytes after it can never become a second, smuggled request.
        this.#stop();
        return false;
      }
    }
    if (this.#closed || this.#stopped) return false;
    return this.#roomForRequests();
  }

  // Response sink.

  send(res: Http1Response, data: Buffer, last: boolean): boolean {
    if (this.#closed) return false;
    const head = this.#queue[0];
    if (head?.res === res && head.error === null) {
      if (data.length > 0 && !this.socket.destroyed) this.socket.write(data);
      if (last) {
        head.ended = true;
        this.#finishFirst();
        return true;
      }
      this.#lastActivity = this.#owner.tick;
      return !this.socket.writableNeedDrain;
    }
    const exchange = this.#queue.find((e) => e.res === res);
    if (!exchange || exchange.error !== null) return false;
    if (data.length > 0) {
      (exchange.out ??= []).push(data);
      this.#heldBytes += data.length;
    }
    if (last) exchange.ended = true;
    return this.#heldBytes < this.socket.writableHighWaterMark;
  }

  // Body flow.

  sendContinue(req: Http1Request): void {
    const exchange = this.#queue.find((e) => e.res?.req === req);
    if (exchange?.res && !exchange.res.started) this.send(exchange.res, CONTINUE, false);
  }

  bodyPressure(paused: boolean): void {
    this.#bodyPaused = paused;
    if (paused) this.socket.pause();
    else if (!this.#holding && !this.#closed) this.socket.resume();
  }

  #onData(data: Buffer): void {
    this.#lastActivity = this.#owner.tick;
    if (this.#stopped || this.#closed) return;
    if (this.#holding) {
      // Arrived after we paused: keep it behind what is already waiting.
      this.#pending = this.#pending ? Buffer.concat([this.#pending, data]) : data;
      return;
    }
    this.#feed(data);
  }

  #feed(data: Buffer): void {
    // Bytes between requests (empty lines the parser skips) start the next one's deadline.
    if (this.#headStart < 0 && !this.#parser.inMessage) this.#headStart = this.#owner.tick;
    this.#parsing = true;
    let used: number;
    try {
      used = this.#parser.execute(data);
    } finally {
      this.#parsing = false;
    }
    const error = this.#parser.error;
    if (error) {
      this.#parseError(error);
      return;
    }
    if (used < data.length && !this.#stopped && !this.#closed) {
      // Enough requests are waiting for answers (or the client is not reading them): stop
      // reading until they are answered. Bounded pipelining, back-pressure on slow readers.
      this.#pending = data.subarray(used);
      this.#holding = true;
      this.socket.pause();
    }
  }

  /**
   * Whether another request may be started now: few enough are waiting for answers, the client
   * reads what it is sent, and the bodies of unanswered requests are small (so one connection
   * holds at most one large body at a time).
   */
  #roomForRequests(): boolean {
    const limits = this.#owner.limits;
    return (
      this.#queue.length < limits.maxPipelined &&
      !this.socket.writableNeedDrain &&
      this.#heldBytes < this.socket.writableHighWaterMark &&
      this.#bodyBytes <= limits.maxBodyBuffered
    );
  }

  /** Takes the first exchange off the queue. */
  #shift(): Exchange | undefined {
    const first = this.#queue.shift();
    if (first) this.#bodyBytes -= first.bodyBytes;
    return first;
  }

  #maybeResume(): void {
    if (!this.#holding || this.#parsing || this.#closed || this.#stopped) return;
    if (!this.#roomForRequests()) return;
    this.#holding = false;
    const pending = this.#pending;
    this.#pending = null;
    if (pending) this.#feed(pending);
    // #feed may have held input again or closed the connection.
    if (this.#readable()) this.socket.resume();
  }

  #readable(): boolean {
    return !this.#holding && !this.#bodyPaused && !this.#closed;
  }

  /** The first exchange has produced all its output: finish it and start the next ones. */
  #finishFirst(): void {
    for (;;) {
      const first = this.#queue[0];
      if (!first?.ended) break;
      this.#shift();
      const res = first.res;
      if (res) res.finished();
      if (first.error !== null || res?.closesConnection || this.#owner.closing) {
        this.#end();
        return;
      }
      const next = this.#queue[0];
      if (!next) break;
      if (next.error !== null) {
        this.#writeError(next);
        return;
      }
      if (next.out) {
        for (const data of next.out) {
          this.#heldBytes -= data.length;
          if (!this.socket.destroyed) this.socket.write(data);
        }
        next.out = null;
        this.#lastActivity = this.#owner.tick;
      }
    }
    if (this.#queue.length === 0) this.#lastActivity = this.#owner.tick;
    this.#maybeResume();
  }

  #writeError(exchange: Exchange): void {
    if (!this.socket.destroyed && exchange.error) this.socket.write(exchange.error);
    this.#shift();
    exchange.res?.closed();
    this.#end();
  }

  /**
   * Answers `status` once, after the answers already owed, and closes. The request being read
   * (if any) is abandoned: its handler sees 'aborted' and its response is replaced.
   */
  #fail(status: number): void {
    this.#stop();
    const error = bareResponse(status);
    const current = this.#current;
    this.#current = null;
    if (current) {
      const res = current.res;
      const started = res?.started ?? false;
      res?.replaceWithError(status);
      if (res && !res.req.complete) res.req.closed();
      if (!this.#queue.includes(current)) {
        // Its answer is already complete: close without another one.
        this.#end();
        return;
      }
      if (this.#queue[0] === current && started) {
        // Part of this answer is already on the wire: the only honest end is to cut it off.
        this.socket.destroy();
        return;
      }
      for (const data of current.out ?? []) this.#heldBytes -= data.length;
      current.out = null;
      current.ended = true;
      current.error = error;
    } else {
      this.#queue.push({ res: null, out: null, ended: true, error, bodyBytes: 0 });
      this.#owner.rejected(status, this.socket, null);
    }
    const first = this.#queue[0];
    if (first?.error) this.#writeError(first);
  }

  #parseError(error: ParseError): void {
    this.#owner.clientError(error, this.socket);
    this.#fail(error.status);
  }

  /** Reads no more requests. */
  #stop(): void {
    this.#stopped = true;
    this.#parser.abort();
    this.#pending = null;
    if (this.#holding) {
      this.#holding = false;
      if (!this.#closed) this.socket.resume();
    }
  }

  /** Closes after everything written so far has been flushed. */
  #end(): void {
    this.#stop();
    if (this.#closed) return;
    this.socket.end(() => {
      this.socket.destroy();
    });
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopped = true;
    this.#parser.abort();
    this.#pending = null;
    for (const exchange of this.#queue) {
      exchange.res?.req.closed();
      exchange.res?.closed();
    }
    this.#queue.length = 0;
    this.#bodyBytes = 0;
    this.#current = null;
    this.#owner.forget(this);
  }
}

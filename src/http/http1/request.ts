// The request object of the lean HTTP/1.1 server: method, target, headers, socket, and the body
// as 'data' / 'end' events. It satisfies HttpRequest structurally without a Readable stream, so
// the hot path allocates one small emitter per request (a LeanEmitter, not node:events').

import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { HttpRequest } from '../http-types.ts';
import { LeanEmitter } from './lean-emitter.ts';
import type { RequestHead } from './parser.ts';

/** What the request tells its connection about body flow control. */
export interface BodyFlow {
  /** `true`: the handler is not reading and too much is buffered (stop reading the socket). */
  bodyPressure(paused: boolean): void;
  /** Sends `100 Continue` for this request (in answer order). */
  sendContinue(req: Http1Request): void;
}

function connectionReset(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/**
 * One request. Body bytes are emitted as they are parsed once someone reads ('data' listener
 * or `resume()`) and until `pause()`, and buffered (up to a bound, then the socket is paused)
 * meanwhile. 'end' follows the last byte; 'aborted', 'error' (only if listened to) and 'close'
 * report a connection lost before the body was complete. A client that sent
 * `Expect: 100-continue` gets `100 Continue` when the body is first read (or on
 * `res.writeContinue()`), never before: a request refused without reading gets none.
 */
export class Http1Request extends LeanEmitter implements HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: '1.0' | '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: 0 | 1;
  readonly socket: TLSSocket;
  /** Trailer fields of a chunked body, once complete. */
  trailers: IncomingHttpHeaders = {};
  /** True once the whole body has been received. */
  complete = false;
  /** True when the connection closed before the body was complete. */
  aborted = false;

  readonly #flow: BodyFlow;
  readonly #limit: number;
  readonly #hasBody: boolean;
  #pending: Buffer[] | null = null;
  #pendingBytes = 0;
  #flowing = false;
  #flushScheduled = false;
  #pressured = false;
  #endEmitted = false;
  #awaitingContinue = false;
  #everFlowed = false;

  constructor(head: RequestHead, socket: TLSSocket, flow: BodyFlow, maxBuffered: number) {
    super();
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.httpVersionMinor = head.versionMinor;
    this.httpVersion = head.versionMinor === 1 ? '1.1' : '1.0';
    this.socket = socket;
    this.#flow = flow;
    this.#limit = maxBuffered;
    this.#hasBody = head.bodyLength !== 0;
  }

  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    super.on(event, listener);
    if (event === 'data') this.#startFlowing();
    return this;
  }

  /** Starts the flow of body events; with no 'data' listener the body is discarded. */
  resume(): this {
    this.#startFlowing();
    return this;
  }

  /** Stops the flow of body events until `resume()`; what arrives meanwhile is buffered. */
  pause(): this {
    this.#flowing = false;
    return this;
  }

  /** As Node's: true while body events flow, false when paused, null before anyone read. */
  get readableFlowing(): boolean | null {
    return this.#flowing ? true : this.#everFlowed ? false : null;
  }

  /** True when part of the body is still to come and nobody is reading it. */
  get bodyUnread(): boolean {
    return this.#hasBody && !this.complete && !this.#flowing;
  }

  /** For the connection: the client waits for `100 Continue` before it sends the body. */
  awaitContinue(): void {
    this.#awaitingContinue = true;
  }

  /** Sends `100 Continue` if the client waits for it and it was not sent yet. */
  sendContinue(): void {
    if (!this.#awaitingContinue) return;
    this.#awaitingContinue = false;
    this.#flow.sendContinue(this);
  }

  /** For the connection: a parsed slice of the body. */
  pushBody(chunk: Buffer): void {
    if (this.#flowing && !this.#flushScheduled) {
      this.emit('data', chunk);
      return;
    }
    (this.#pending ??= []).push(chunk);
    this.#pendingBytes += chunk.length;
    if (!this.#flowing && !this.#pressured && this.#pendingBytes > this.#limit) {
      this.#pressured = true;
      this.#flow.bodyPressure(true);
    }
  }

  /** For the connection: the body is complete. */
  endBody(trailers: IncomingHttpHeaders | null): void {
    this.complete = true;
    if (trailers) this.trailers = trailers;
    if (this.#flowing && !this.#flushScheduled) this.#emitEnd();
  }

  /** For the connection: the connection closed. */
  closed(): void {
    if (!this.complete && !this.aborted) {
      this.aborted = true;
      this.emit('aborted');
      if (this.listenerCount('error') > 0) this.emit('error', connectionReset());
    }
    this.emit('close');
  }

  #startFlowing(): void {
    if (this.#flowing) return;
    this.#flowing = true;
    this.#everFlowed = true;
    if (this.#awaitingContinue) this.sendContinue();
    if (this.#pressured) {
      this.#pressured = false;
      this.#flow.bodyPressure(false);
    }
    // Buffered data and 'end' go out on the next tick, so listeners attached right after this
    // one ('end' after 'data') still see them; new data waits behind them.
    if (this.#pending !== null || this.complete) {
      this.#flushScheduled = true;
      process.nextTick(() => {
        this.#flush();
      });
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const pending = this.#pending;
    this.#pending = null;
    this.#pendingBytes = 0;
    if (pending) for (const chunk of pending) this.emit('data', chunk);
    if (this.complete && !this.aborted) this.#emitEnd();
  }

  #emitEnd(): void {
    if (this.#endEmitted) return;
    this.#endEmitted = true;
    this.emit('end');
  }
}

// The lean HTTP/1.1 server: a tls.Server (so setSecureContext, setTicketKeys and node:cluster
// handle sharing work unchanged) whose secure connections are served by Http1Connection
// instead of node:https's machinery.

import { Server as TlsServer } from 'node:tls';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { HttpRequest, HttpResponse } from '../http-types.ts';
import { Http1Connection } from './connection.ts';
import type { ConnectionLimits, ConnectionOwner } from './connection.ts';
import type { RequestHead } from './parser.ts';

export interface Http1ServerOptions {
  /** Idle time before a kept-alive connection is closed; Node's default 5000 ms. 0 = never. */
  readonly keepAliveTimeout?: number;
  /** Time from a request's first byte to the end of its headers; default 60000 ms (Node). */
  readonly headersTimeout?: number;
  /** Time from a request's first byte to the end of its body; default 300000 ms (Node). */
  readonly requestTimeout?: number;
  /** Request-target + header names + values, in bytes; default 16384 (Node). */
  readonly maxHeaderSize?: number;
  /**
   * Headers beyond this many are left out of `req.headers`; default 1000, what Node's server
   * keeps by default (its documented 2000 counts names and values separately).
   */
  readonly maxHeadersCount?: number;
  /** Body bytes buffered for a handler that is not reading before the socket pauses; 64 KiB. */
  readonly maxBodyBuffered?: number;
  /** Requests read ahead of their answers on one connection; default 16. */
  readonly maxPipelined?: number;
  /** How often timeouts are checked (their resolution); default 1000 ms. */
  readonly connectionsCheckingInterval?: number;
}

export type Http1Listener = (req: HttpRequest, res: HttpResponse) => void;

/**
 * An HTTPS server for HTTP/1.1 over TLS. Events besides tls.Server's: 'clientError'
 * (error, socket) for requests answered 400/413/431 for a parse error (informational: the server
 * has already answered); 'rejected' (status, socket, head | null) for every answer the server
 * gave without calling the listener (parse errors, 408 timeouts, 400 without Host, 417), so each
 * can be audited; 'error' (error) for a listener that threw, when someone listens for it.
 */
export class Http1Server extends TlsServer implements ConnectionOwner {
  readonly limits: ConnectionLimits;
  readonly listener: Http1Listener;
  readonly tickMs: number;
  tick = 0;
  readonly #connections = new Set<Http1Connection>();
  #closing = false;
  #timer: NodeJS.Timeout | null = null;
  #date = '';

  constructor(tlsOptions: TlsOptions, listener: Http1Listener, options: Http1ServerOptions = {}) {
    super({
      noDelay: true,
      ...tlsOptions,
      ALPNProtocols: tlsOptions.ALPNProtocols ?? ['http/1.1'],
    });
    this.listener = listener;
    this.limits = {
      keepAliveTimeout: options.keepAliveTimeout ?? 5_000,
      headersTimeout: options.headersTimeout ?? 60_000,
      requestTimeout: options.requestTimeout ?? 300_000,
      maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
      maxHeadersCount: options.maxHeadersCount ?? 1_000,
      maxBodyBuffered: options.maxBodyBuffered ?? 64 * 1024,
      maxPipelined: options.maxPipelined ?? 16,
    };
    this.tickMs = options.connectionsCheckingInterval ?? 1_000;
    this.on('secureConnection', (socket: TLSSocket) => {
      if (this.#closing) {
        socket.destroy();
        return;
      }
      this.#connections.add(new Http1Connection(socket, this));
    });
    this.on('listening', () => {
      this.#startTimer();
    });
    this.on('close', () => {
      this.#stopTimer();
    });
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** The Date header value, rendered at most once per second (as Node does). */
  date(): string {
    if (this.#date === '') {
      const now = Date.now();
      this.#date = new Date(now).toUTCString();
      const expire = (): void => {
        this.#date = '';
      };
      setTimeout(expire, 1000 - (now % 1000)).unref();
    }
    return this.#date;
  }

  clientError(error: Error, socket: TLSSocket): void {
    if (this.listenerCount('clientError') > 0) this.emit('clientError', error, socket);
  }

  rejected(status: number, socket: TLSSocket, head: RequestHead | null): void {
    if (this.listenerCount('rejected') > 0) this.emit('rejected', status, socket, head);
  }

  handlerError(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  forget(connection: Http1Connection): void {
    this.#connections.delete(connection);
  }

  /**
   * Stops accepting connections and closes idle ones; busy ones close after their current
   * answers. `callback` runs once all are gone (as net.Server's close).
   */
  override close(callback?: (error?: Error) => void): this {
    this.#closing = true;
    super.close(callback);
    this.closeIdleConnections();
    return this;
  }

  /** Destroys every connection now. */
  closeAllConnections(): void {
    for (const connection of this.#connections) connection.destroy();
  }

  /** Destroys the connections with no request in progress. */
  closeIdleConnections(): void {
    for (const connection of this.#connections) if (connection.idle) connection.destroy();
  }

  #startTimer(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.tick++;
      for (const connection of this.#connections) connection.check();
    }, this.tickMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** Creates the lean HTTP/1.1-over-TLS server (call `listen` on it as on any net.Server). */
export function createHttp1Server(
  tlsOptions: TlsOptions,
  listener: Http1Listener,
  options?: Http1ServerOptions,
): Http1Server {
  return new Http1Server(tlsOptions, listener, options);
}

// `--http node`: Keyhold's request pipeline on node:https, with what it takes to behave as the
// lean server does: 100 Continue only once a body may be sent, every answer audited (also those
// node:https gives itself), long pipelined bursts answered in full, and a head that must arrive
// within the headers timeout of its first byte on a kept-alive connection too.

import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Pipeline } from './pipeline.ts';

/** node:https's own answers to requests it cannot parse, by error code (as it writes them). */
const BARE_ANSWERS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
};

/** The response node:https has in progress on a socket (an internal, stable for a decade). */
type HttpSocket = Socket & { _httpMessage?: { headersSent: boolean; statusCode: number } | null };

/** How often waiting heads are checked against the headers timeout (as node:http checks). */
const HEAD_CHECK_INTERVAL_MS = 1000;

/**
 * The head deadline node:http leaves out. Node times a head from the moment a message begins, and
 * its parser begins a message only at the request line: empty lines sent after a request never
 * start one, and each of them resets the keep-alive idle timer, so a client trickling CRLF every
 * few seconds would hold the connection forever. Here a head is timed from the first byte that
 * arrives while no request is open, and a connection whose head is late is answered 408.
 */
class HeadClock {
  /** Connections with bytes of a head not yet complete, and when its first byte came. */
  readonly #waiting = new Map<Socket, number>();
  /** Requests whose head came and whose answer is not yet finished, per connection. */
  readonly #open = new WeakMap<Socket, number>();
  /** Connections that received bytes while a request was open (a pipelined or trickled head). */
  readonly #pending = new WeakSet<Socket>();
  readonly #timer: NodeJS.Timeout;

  constructor(headersTimeout: number, onLate: (socket: Socket) => void) {
    this.#timer = setInterval(() => {
      const now = performance.now();
      for (const [socket, since] of this.#waiting) {
        if (now - since < headersTimeout) continue;
        this.#waiting.delete(socket);
        onLate(socket);
      }
    }, HEAD_CHECK_INTERVAL_MS).unref();
  }

  /** Bytes arrived on `socket`, before node:http's parser sees them. */
  bytes(socket: Socket): void {
    if ((this.#open.get(socket) ?? 0) > 0) this.#pending.add(socket);
    else if (!this.#waiting.has(socket)) this.#waiting.set(socket, performance.now());
  }

  /** A request's head is complete. */
  requestStarted(socket: Socket): void {
    this.#waiting.delete(socket);
    this.#pending.delete(socket);
    this.#open.set(socket, (this.#open.get(socket) ?? 0) + 1);
  }

  /** A request's answer is finished (or its connection gone). */
  requestEnded(socket: Socket): void {
    const open = (this.#open.get(socket) ?? 1) - 1;
    this.#open.set(socket, open);
    // Bytes that came in during the answer start the next head's clock now.
    if (open === 0 && this.#pending.has(socket) && !socket.destroyed) {
      this.#pending.delete(socket);
      this.#waiting.set(socket, performance.now());
    }
  }

  closed(socket: Socket): void {
    this.#waiting.delete(socket);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Writes node:https's own answer for `status` and closes the connection once it is sent. */
function answerBare(socket: Socket, status: number): void {
  // end(), not write() + destroy(): destroying a TLS socket drops what is still queued.
  socket.end(
    `HTTP/1.1 ${String(status)} ${REASONS[status] ?? 'Error'}\r\nConnection: close\r\n\r\n`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Creates the node:https server of `--http node` running `pipeline`. */
export function createNodeHttpsServer(options: ServerOptions, pipeline: Pipeline): Server {
  const heads = new HeadClock(options.headersTimeout ?? 60_000, (socket) => {
    if (!socket.writable) return;
    answerBare(socket, 408);
    pipeline.rejected(socket, 408);
  });
  const opened = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    heads.requestStarted(socket);
    res.once('close', () => heads.requestEnded(socket));
  };
  // Host is checked below instead, so that its refusal is audited like any other.
  const server = createServer({ ...options, requireHostHeader: false }, (req, res) => {
    opened(req, res);
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      res.writeHead(400, { Connection: 'close', 'Content-Length': 0 });
      res.end();
      pipeline.rejected(req.socket, 400, req.method, req.url);
      return;
    }
    pipeline(req, res);
  });
  server.on('close', () => heads.stop());
  server.maxRequestsPerSocket = 0;
  // Node 20's parser, fed directly by the TLS stream, is paused by its own flood control in the
  // middle of a long pipelined burst and fails with HPE_PAUSED (one answer, then the connection
  // is closed). Marking the TLS handle as taken makes node:http read through the socket's
  // 'data' events, whose pause() it handles correctly.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const handle = (socket as TLSSocket & { _handle?: { _consumed?: boolean } | null })._handle;
    if (handle) handle._consumed = true;
    // Ahead of node:http's parser, so that a head arriving whole is cleared by its own request.
    socket.prependListener('data', () => heads.bytes(socket));
    socket.once('close', () => heads.closed(socket));
  });
  // Without this listener node:https answers 100 Continue before the request is seen; the
  // pipeline sends it only once the caller may send the body (pipeline.ts).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    opened(req, res);
    pipeline(req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    opened(req, res);
    res.writeHead(417, { 'Content-Length': 0 });
    res.end();
    pipeline.rejected(req.socket, 417, req.method, req.url);
  });
  // Listening replaces node:https's own answer to a request it cannot parse: give the same
  // answer, then account for it.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: HttpSocket) => {
    const code = error.code ?? '';
    const status = BARE_ANSWERS[code] ?? (code.startsWith('HPE_') ? 400 : 0);
    const current = socket._httpMessage;
    if (status !== 0 && socket.writable && !current?.headersSent) {
      answerBare(socket, status);
      // A request being answered gets this status in its own record; otherwise record one.
      if (current) current.statusCode = status;
      else pipeline.rejected(socket, status);
      return;
    }
    socket.destroy(error);
  });
  return server;
}

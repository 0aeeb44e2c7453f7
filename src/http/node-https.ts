// `--http node`: Keyhold's request pipeline on node:https, with what it takes to behave as the
// lean server does: 100 Continue only once a body may be sent, every answer audited (also those
// node:https gives itself), and long pipelined bursts answered in full.

import { createServer } from 'node:https';
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

/** Creates the node:https server of `--http node` running `pipeline`. */
export function createNodeHttpsServer(options: ServerOptions, pipeline: Pipeline): Server {
  // Host is checked below instead, so that its refusal is audited like any other.
  const server = createServer({ ...options, requireHostHeader: false }, (req, res) => {
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      res.writeHead(400, { Connection: 'close', 'Content-Length': 0 });
      res.end();
      pipeline.rejected(req.socket, 400, req.method, req.url);
      return;
    }
    pipeline(req, res);
  });
  server.maxRequestsPerSocket = 0;
  // Node 20's parser, fed directly by the TLS stream, is paused by its own flood control in the
  // middle of a long pipelined burst and fails with HPE_PAUSED (one answer, then the connection
  // is closed). Marking the TLS handle as taken makes node:http read through the socket's
  // 'data' events, whose pause() it handles correctly.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const handle = (socket as TLSSocket & { _handle?: { _consumed?: boolean } | null })._handle;
    if (handle) handle._consumed = true;
  });
  // Without this listener node:https answers 100 Continue before the request is seen; the
  // pipeline sends it only once the caller may send the body (pipeline.ts).
  server.on('checkContinue', pipeline);
  server.on('checkExpectation', (req, res) => {
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
      // end(), not write() + destroy(): destroying a TLS socket drops what is still queued.
      socket.end(
        `HTTP/1.1 ${String(status)} ${REASONS[status] ?? 'Error'}\r\nConnection: close\r\n\r\n`,
      );
      // A request being answered gets this status in its own record; otherwise record one.
      if (current) current.statusCode = status;
      else pipeline.rejected(socket, status);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    socket.destroy(error);
  });
  return server;
}

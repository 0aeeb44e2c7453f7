// Starts TLS on a server's new connections only once the client has sent its first bytes, and
// closes connections that stay silent. Until then a connection costs no TLS state and is no
// handshake in progress (handshake-gate.ts); Node's handshake timeout only starts with TLS.

import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';

/** How long a new connection may stay silent before the server closes it. */
export const SILENT_CONNECTION_TIMEOUT_MS = 10_000;

/**
 * Defers the 'connection' listeners `server` has now (tls.Server's own, which starts TLS on the
 * connection, and any added before this call) until the connection's first bytes arrive, then
 * calls `onFirstBytes` and those listeners with the connection, its bytes still unread (TLS
 * reads what the socket has buffered). A connection silent for `timeoutMs`, or closed before
 * sending anything, is destroyed without ever reaching them.
 */
export function startTlsOnFirstBytes(
  server: TlsServer,
  onFirstBytes: (socket: Socket) => void = () => undefined,
  timeoutMs = SILENT_CONNECTION_TIMEOUT_MS,
): void {
  const listeners = server.rawListeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    // Until TLS owns the socket, its errors (a reset) are ours to absorb.
    socket.on('error', () => socket.destroy());
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once('readable', () => {
      socket.setTimeout(0);
      if (socket.readableLength === 0) {
        socket.destroy(); // the end of the stream, not data
        return;
      }
      onFirstBytes(socket);
      for (const listener of listeners) listener.call(server, socket);
    });
  });
}

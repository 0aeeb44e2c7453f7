// Listening on 127.0.0.1 and stopping with every connection dropped, for the test servers that
// stand in for a remote service (and can be stopped and started again on the same port).

import type { AddressInfo, Server, Socket } from 'node:net';

/** Listens on 127.0.0.1:`port` (0: any free port) and resolves with the port. */
export async function listenOnLoopback(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops listening and destroys the open connections (the service went away). */
export async function stopDroppingConnections(
  server: Server,
  sockets: Iterable<Socket>,
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  await closed;
}

// A TCP proxy on 127.0.0.1 that forwards to one upstream and can hold every chunk back for a
// settable delay (both directions, order kept): it makes one node's link to etcd slow, so that
// tests can show what the acknowledgement and the wait rule protect against.

import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface DelayProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Milliseconds each chunk is held back from now on (0 = none). */
  delay: number;
  close(): Promise<void>;
}

export async function startDelayProxy(upstream: {
  host: string;
  port: number;
}): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const proxy = { delay: 0 } as DelayProxy;
  const forward = (from: Socket, to: Socket): void => {
    from.on('data', (chunk) => {
      if (proxy.delay === 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), proxy.delay);
    });
    from.on('close', () => setTimeout(() => to.destroy(), proxy.delay));
    from.on('error', () => to.destroy());
  };
  const server: Server = createServer((client) => {
    const up = connect(upstream.port, upstream.host);
    sockets.add(client).add(up);
    client.on('close', () => sockets.delete(client));
    up.on('close', () => sockets.delete(up));
    forward(client, up);
    forward(up, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

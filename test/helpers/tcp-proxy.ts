// Test harness: a small TCP proxy (node:net) standing for one network link, so fault tests can cut,
// delay, reset and heal the links between Keyhold nodes and etcd, and between etcd members, on
// loopback. A Link holds the fault state; a TcpProxy listens on 127.0.0.1 port 0 and forwards every
// connection it accepts to a target through the link that `route` picks (one fixed link for
// Keyhold→etcd; for etcd peer traffic, the link of the member that dialled, see etcd.ts).

import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/**
 * What a link does with traffic:
 * - `open`: forwards (after `delayMs` per chunk, if set);
 * - `refuse`: resets every connection, open ones when cut and new ones as they arrive (a host
 *   that is down: the peer sees ECONNRESET at once);
 * - `blackhole`: forwards nothing and answers nothing, in either direction; connections stay
 *   open and their data waits (a partition: the peer sees silence until its own timeouts fire).
 *   Nothing is dropped, so a link healed before the peers give up carries on where it stopped,
 *   as TCP would after retransmitting.
 */
export type LinkMode = 'open' | 'refuse' | 'blackhole';

type Direction = 'toUpstream' | 'toClient';

/** A chunk read and when it may be passed on; `null` stands for the end of the stream. */
interface Due {
  readonly chunk: Buffer | null;
  readonly at: number;
}

/** One proxied connection: both sockets and, per direction, what waits to be passed on. */
interface Pipe {
  readonly client: Socket;
  upstream: Socket | null;
  /**
   * Chunks in arrival order. Only the head is ever written, so order holds whatever the delays
   * (a chunk read under a long delay is never overtaken by one read after the delay shrank),
   * and nothing is written while the link is blackholed.
   */
  readonly queue: Record<Direction, Due[]>;
  /** The one timer per direction waiting for the head's time. */
  readonly timer: Record<Direction, NodeJS.Timeout | null>;
}

/** The fault state of one directed link, shared by every connection that goes through it. */
export class Link {
  readonly name: string;
  #mode: LinkMode = 'open';
  #delayMs = 0;
  readonly #pipes = new Set<Pipe>();
  /** Connections accepted, over the link's life (lets tests check traffic really went through it). */
  accepted = 0;

  constructor(name: string) {
    this.name = name;
  }

  get mode(): LinkMode {
    return this.#mode;
  }

  get delayMs(): number {
    return this.#delayMs;
  }

  /** Open connections through the link. */
  get connections(): number {
    return this.#pipes.size;
  }

  /** Cuts the link: `refuse` (default) resets every connection, `blackhole` silences them. */
  cut(how: 'refuse' | 'blackhole' = 'refuse'): void {
    this.#mode = how;
    if (how === 'refuse') this.reset();
    else for (const pipe of this.#pipes) pause(pipe);
  }

  /** Holds every chunk `ms` milliseconds before passing it on (order kept); 0 ends the delay. */
  delay(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`delay must be ms >= 0, got ${ms}`);
    this.#delayMs = ms;
  }

  /** Resets (TCP RST) every open connection now; the link stays as it is for new ones. */
  reset(): void {
    for (const pipe of [...this.#pipes]) this.#destroy(pipe, true);
  }

  /** Back to a plain working link: no cut, no delay; held data is delivered. */
  heal(): void {
    this.#mode = 'open';
    this.#delayMs = 0;
    for (const pipe of this.#pipes) this.#flush(pipe);
  }

  /**
   * Takes over an accepted (paused) socket and forwards it to `port` on 127.0.0.1 through this
   * link; `firstBytes` were already read from it.
   */
  carry(client: Socket, port: number, firstBytes: Buffer[] = []): void {
    this.accepted++;
    if (this.#mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const now = Date.now();
    const pipe: Pipe = {
      client,
      upstream: null,
      queue: { toUpstream: firstBytes.map((chunk) => ({ chunk, at: now })), toClient: [] },
      timer: { toUpstream: null, toClient: null },
    };
    this.#pipes.add(pipe);
    client.on('error', () => this.#destroy(pipe, true));
    client.on('close', () => this.#destroy(pipe, false));
    client.on('end', () => this.#forward(pipe, null, 'toUpstream'));
    client.on('data', (chunk: Buffer) => this.#forward(pipe, chunk, 'toUpstream'));
    const upstream = connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
    pipe.upstream = upstream;
    upstream.on('error', () => this.#destroy(pipe, true));
    upstream.on('close', () => this.#destroy(pipe, false));
    upstream.on('end', () => this.#forward(pipe, null, 'toClient'));
    upstream.on('data', (chunk: Buffer) => this.#forward(pipe, chunk, 'toClient'));
    upstream.once('connect', () => this.#flush(pipe));
    if (this.#mode === 'blackhole') pause(pipe);
    else client.resume();
  }

  #forward(pipe: Pipe, chunk: Buffer | null, direction: Direction): void {
    pipe.queue[direction].push({ chunk, at: Date.now() + this.#delayMs });
    this.#pump(pipe, direction);
  }

  /** Writes every chunk that is due, in order; sets a timer for the next one. */
  #pump(pipe: Pipe, direction: Direction): void {
    const upstream = pipe.upstream;
    if (this.#mode !== 'open' || !upstream || upstream.connecting || !this.#pipes.has(pipe)) return;
    const [source, target] =
      direction === 'toUpstream' ? [pipe.client, upstream] : [upstream, pipe.client];
    const queue = pipe.queue[direction];
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.at <= now) {
      const { chunk } = queue.shift()!;
      if (target.destroyed) return;
      if (chunk === null) target.end();
      else if (!target.write(chunk)) {
        source.pause();
        target.once('drain', () => {
          if (this.#mode === 'open') source.resume();
        });
      }
    }
    if (queue.length > 0 && pipe.timer[direction] === null) {
      pipe.timer[direction] = setTimeout(() => {
        pipe.timer[direction] = null;
        this.#pump(pipe, direction);
      }, queue[0]!.at - now);
    }
  }

  #flush(pipe: Pipe): void {
    if (this.#mode !== 'open') return;
    this.#pump(pipe, 'toUpstream');
    this.#pump(pipe, 'toClient');
    pipe.client.resume();
    pipe.upstream?.resume();
  }

  #destroy(pipe: Pipe, reset: boolean): void {
    if (!this.#pipes.delete(pipe)) return;
    for (const timer of Object.values(pipe.timer)) if (timer) clearTimeout(timer);
    for (const socket of [pipe.client, pipe.upstream]) {
      if (!socket || socket.destroyed) continue;
      // resetAndDestroy needs a connected TCP handle; a socket still connecting is just destroyed.
      if (reset && !socket.connecting) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}

function pause(pipe: Pipe): void {
  pipe.client.pause();
  pipe.upstream?.pause();
}

/**
 * Picks the link of an accepted connection, given its first bytes (`null`: more bytes needed).
 * Called again with more bytes until it decides; it must decide by `ROUTE_PEEK_LIMIT` bytes.
 */
export type Router = (firstBytes: Buffer) => Link | null;

/** Most bytes a router may ask to see before it must pick a link. */
export const ROUTE_PEEK_LIMIT = 16 * 1024;

/** A listener on 127.0.0.1 (port 0) that forwards every connection to `targetPort`. */
export class TcpProxy {
  readonly #server: Server;
  #route: Router;
  #targetPort: number;
  readonly #accepted = new Set<Socket>();

  private constructor(server: Server, targetPort: number, route: Router) {
    this.#server = server;
    this.#targetPort = targetPort;
    this.#route = route;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /**
   * Starts a proxy to `targetPort` on 127.0.0.1. `via` is its one Link (a new one named after
   * the ports if omitted) or a Router choosing a link per connection.
   */
  static async start(targetPort: number, via?: Link | Router): Promise<TcpProxy> {
    const server = createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as { port: number }).port;
    const link = via ?? new Link(`127.0.0.1:${port}→127.0.0.1:${targetPort}`);
    return new TcpProxy(server, targetPort, typeof link === 'function' ? link : () => link);
  }

  /** The proxy's own port (what clients dial). */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** `127.0.0.1:PORT` of the proxy. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get targetPort(): number {
    return this.#targetPort;
  }

  /** Routes new connections through `via` (one Link, or a Router choosing per connection). */
  setRoute(via: Link | Router): void {
    this.#route = typeof via === 'function' ? via : () => via;
  }

  /** Points new connections at another port (a restarted process listening elsewhere). */
  retarget(port: number): void {
    this.#targetPort = port;
  }

  /** Stops listening and destroys every connection it accepted. */
  async close(): Promise<void> {
    for (const socket of this.#accepted) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#accepted.add(socket);
    socket.once('close', () => this.#accepted.delete(socket));
    socket.setNoDelay(true);
    const seen: Buffer[] = [];
    const decide = (): boolean => {
      const bytes = Buffer.concat(seen);
      const link = this.#route(bytes) ?? (bytes.length >= ROUTE_PEEK_LIMIT ? null : undefined);
      if (link === undefined) return false;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (link === null) socket.resetAndDestroy();
      else link.carry(socket, this.#targetPort, seen);
      return true;
    };
    const onData = (chunk: Buffer): void => {
      seen.push(chunk);
      decide();
    };
    const onEnd = (): void => {
      socket.destroy();
    };
    socket.on('error', () => socket.destroy());
    socket.pause();
    if (decide()) return;
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.resume();
  }
}

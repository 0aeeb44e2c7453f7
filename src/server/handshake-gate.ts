// Handshakes before reused connections: while TLS handshakes are in progress, requests on
// connections that already served one wait briefly (a few milliseconds at most).
//
// Why: Go's HTTP client before 1.23, with a per-request timeout, cancels a connection's TLS
// handshake when the request that started the dial is served first by another (reused)
// connection. A busy server that answers reused connections faster than it completes handshakes
// then keeps losing new connections: the client dials again and again, the server spends its
// time on aborted handshakes, and throughput collapses. Letting handshakes finish first lets the
// client's pool fill up, after which no more dials happen and nothing waits.

import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

/** The longest a request on a reused connection waits for handshakes. */
export const MAX_HANDSHAKE_WAIT_MS = 5;
/**
 * How long after another worker's handshakes finished this one still lets handshakes go first:
 * the news crosses the primary, so it arrives late, and dials come in bursts.
 */
export const REMOTE_QUIET_MS = 20;

const served = Symbol('keyhold.served');

export class HandshakeGate {
  /** Connections (by remote address and port) whose TLS handshake has not finished. */
  readonly #pending = new Set<string>();
  readonly #onLocalBusy: ((busy: boolean) => void) | undefined;
  #waiters: (() => void)[] = [];
  #remoteBusy = false;
  #remoteQuietSince = -Infinity;
  #timer: NodeJS.Timeout | null = null;

  /** @param onLocalBusy told when this process starts or stops having handshakes in progress. */
  constructor(onLocalBusy?: (busy: boolean) => void) {
    this.#onLocalBusy = onLocalBusy;
  }

  /** Follows the handshakes of `server`'s connections. */
  attach(server: TlsServer): void {
    server.on('connection', (raw: Socket) => {
      const key = keyOf(raw);
      this.#pending.add(key);
      if (this.#pending.size === 1) this.#onLocalBusy?.(true);
      raw.once('close', () => this.#done(key));
    });
    server.on('secureConnection', (socket: TLSSocket) => this.#done(keyOf(socket)));
    server.on('tlsClientError', (_error: Error, socket: TLSSocket) => this.#done(keyOf(socket)));
  }

  /** Another process of the node has (or no longer has) handshakes in progress. */
  setRemoteBusy(busy: boolean): void {
    if (this.#remoteBusy && !busy) this.#remoteQuietSince = performance.now();
    this.#remoteBusy = busy;
  }

  /**
   * Null when a request on `socket` may run now: its connection is new (its first request), or
   * no handshake is in progress here or (recently) in another worker. Otherwise a promise that
   * resolves when this process's handshakes finished, or after MAX_HANDSHAKE_WAIT_MS.
   */
  admit(socket: Socket): Promise<void> | null {
    const record = socket as Socket & { [served]?: true };
    if (record[served] !== true) {
      record[served] = true;
      return null;
    }
    const remote = this.#remoteBusy || performance.now() - this.#remoteQuietSince < REMOTE_QUIET_MS;
    if (this.#pending.size === 0 && !remote) return null;
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#timer ??= setTimeout(() => this.#release(), MAX_HANDSHAKE_WAIT_MS);
    });
  }

  #done(key: string): void {
    if (!this.#pending.delete(key)) return;
    if (this.#pending.size === 0) {
      this.#onLocalBusy?.(false);
      this.#release();
    }
  }

  #release(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

function keyOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${String(socket.remotePort)}`;
}

// Handshakes before reused connections: while TLS handshakes are in progress, requests on
// connections that already served one wait briefly (a few milliseconds at most). Only handshakes
// that progress count: from the client's first bytes, for HANDSHAKE_HOLD_MS at most.
//
// Why: Go's HTTP client before 1.23, with a per-request timeout, cancels a connection's TLS
// handshake when the request that started the dial is served first by another (reused)
// connection. A busy server that answers reused connections faster than it completes handshakes
// then keeps losing new connections: the client dials again and again, the server spends its
// time on aborted handshakes, and throughput collapses. Letting handshakes finish first lets the
// client's pool fill up, after which no more dials happen and nothing waits.

import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { startTlsOnFirstBytes } from './first-bytes.ts';

/** The longest a request on a reused connection waits for handshakes. */
export const MAX_HANDSHAKE_WAIT_MS = 5;
/**
 * How long a handshake holds requests, from the client's first bytes: one that takes longer
 * is stalled (or slow on purpose) and no longer makes anyone wait.
 */
export const HANDSHAKE_HOLD_MS = 250;
/**
 * How long after another worker's handshakes finished this one still lets handshakes go first:
 * the news crosses the primary, so it arrives late, and dials come in bursts.
 */
export const REMOTE_QUIET_MS = 20;

const served = Symbol('keyhold.served');

export class HandshakeGate {
  /**
   * Connections (by remote address and port) whose TLS handshake has not finished, each with
   * the timer that stops counting it after HANDSHAKE_HOLD_MS.
   */
  readonly #pending = new Map<string, NodeJS.Timeout>();
  readonly #onLocalBusy: ((busy: boolean) => void) | undefined;
  #waiters: (() => void)[] = [];
  #remoteBusy = false;
  #remoteQuietSince = -Infinity;
  #timer: NodeJS.Timeout | null = null;

  /** @param onLocalBusy told when this process starts or stops having handshakes in progress. */
  constructor(onLocalBusy?: (busy: boolean) => void) {
    this.#onLocalBusy = onLocalBusy;
  }

  /**
   * Follows the handshakes of `server`'s connections. TLS starts on a connection only when
   * its first bytes arrive (first-bytes.ts): a silent connection is no handshake in progress,
   * and is closed after a short timeout. Call before adding other 'connection' listeners.
   */
  attach(server: TlsServer): void {
    startTlsOnFirstBytes(server, (raw) => {
      const key = keyOf(raw);
      // A handshake that has not finished by then is stalled: it stops holding requests.
      const hold = setTimeout(() => this.#done(key), HANDSHAKE_HOLD_MS);
      hold.unref();
      this.#pending.set(key, hold);
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
    const hold = this.#pending.get(key);
    if (hold === undefined) return;
    clearTimeout(hold);
    this.#pending.delete(key);
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

// Test helper: a raw TLS connection to a server, with or without an API-key client certificate,
// that sends exact bytes and records everything the server answers, so tests can see what
// arrives before a body is sent, interim 100 responses, and when the server closes.

import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { clientCertificateForApiKey, parseApiKey } from '../../src/identity/index.ts';
import { parseResponses } from '../../src/http/http1/test-support.ts';
import type { ParsedResponse } from '../../src/http/http1/test-support.ts';

const certs = new Map<string, { cert: string; key: string }>();

/** One connection and what came back on it. */
export interface RawConnection {
  readonly socket: TLSSocket;
  /** Everything received so far. */
  received(): Buffer;
  /** The responses received so far (interim 1xx included). */
  responses(): ParsedResponse[];
  /** True once the server closed the connection (or it failed). */
  closed(): boolean;
  /**
   * Waits until `done()` holds, the connection closed, or `timeoutMs` passed; returns the
   * responses so far.
   */
  until(
    done: (responses: ParsedResponse[]) => boolean,
    timeoutMs?: number,
  ): Promise<ParsedResponse[]>;
  /**
   * Writes `total` bytes of `fill` in pieces, respecting back-pressure, until all is written or
   * the connection fails or closes; returns how many bytes were handed to the socket.
   */
  pump(total: number, fill?: number): Promise<number>;
}

/** Connects to `endpoint` (`HOST:PORT`); `apiKey` '' sends no client certificate. */
export async function openRaw(endpoint: string, apiKey = ''): Promise<RawConnection> {
  let cert = certs.get(apiKey);
  if (!cert && apiKey !== '') {
    const generated = clientCertificateForApiKey(parseApiKey(apiKey));
    cert = { cert: generated.cert, key: generated.key };
    certs.set(apiKey, cert);
  }
  const colon = endpoint.lastIndexOf(':');
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect(
      {
        host: endpoint.slice(0, colon),
        port: Number(endpoint.slice(colon + 1)),
        rejectUnauthorized: false,
        ...(cert ?? {}),
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {
    closed = true;
  });
  socket.on('close', () => {
    closed = true;
  });
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    received,
    responses: () => parseResponses(received()),
    closed: () => closed,
    until: async (done, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const responses = parseResponses(received());
        if (done(responses) || closed || Date.now() > deadline) return responses;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    pump: async (total, fill = 0x41) => {
      const piece = Buffer.alloc(256 * 1024, fill);
      let sent = 0;
      while (sent < total && !closed && !socket.destroyed) {
        const part = piece.subarray(0, Math.min(piece.length, total - sent));
        sent += part.length;
        if (!socket.write(part)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              socket.off('drain', done);
              socket.off('close', done);
              resolve();
            };
            socket.on('drain', done);
            socket.on('close', done);
          });
        }
      }
      return sent;
    },
  };
}

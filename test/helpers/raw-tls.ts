// Test helper: a raw TLS connection to a server, with or without an API-key client certificate,
// that sends exact bytes and records everything the server answers, so tests can see what
// arrives before a body is sent, interim 100 responses, and when the server closes.

import assert from 'node:assert/strict';
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

/** The head of a request announcing a body of `length` bytes (that is never sent). */
export function requestHead(method: string, path: string, length: number, extra = ''): string {
  return `${method} ${path} HTTP/1.1\r\nHost: k\r\nContent-Length: ${String(length)}\r\n${extra}\r\n`;
}

/**
 * Sends only the head of a request (with `Expect: 100-continue` when asked) and asserts that the
 * final answer — `status`, and `body` when given — comes before any body byte, without
 * `100 Continue`, and that the server then closes the connection instead of reading the body.
 */
export async function assertRefusedBeforeBody(
  endpoint: string,
  apiKey: string,
  request: { method: string; path: string; length: number; expectContinue: boolean },
  expect: { status: number; body?: string },
): Promise<void> {
  const { method, path, length, expectContinue } = request;
  const c = await openRaw(endpoint, apiKey);
  try {
    c.socket.write(
      requestHead(method, path, length, expectContinue ? 'Expect: 100-continue\r\n' : ''),
    );
    const responses = await c.until((r) => r.some((x) => x.status >= 200));
    assert.deepEqual(
      responses.map((r) => r.status),
      [expect.status],
      `${method} ${path}: answered ${String(expect.status)} before the body, without 100 Continue`,
    );
    if (expect.body !== undefined) assert.equal(responses[0]!.body.toString(), expect.body);
    assert.equal(responses[0]!.headers.connection, 'close');
    await c.until(() => false, 5000);
    assert.ok(c.closed(), 'the connection is closed instead of reading the body');
  } finally {
    c.socket.destroy();
  }
}

// Test support for the lean HTTP/1.1 server: a test certificate, a raw TLS client that sends
// exact bytes, a tolerant parser for what comes back, and an echo handler. Used by the tests only.

import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { createCertificate } from '../../identity/index.ts';
import type { HttpRequest, HttpResponse } from '../http-types.ts';

let certificate: { cert: string; key: string } | null = null;

/** A self-signed P-256 certificate for 127.0.0.1 (one per process). */
export function testCertificate(): { cert: string; key: string } {
  certificate ??= createCertificate({
    keyType: 'p256',
    commonName: 'localhost',
    ips: ['127.0.0.1'],
    dnsNames: ['localhost'],
    validFor: 24 * 60 * 60 * 1000,
  });
  return { cert: certificate.cert, key: certificate.key };
}

export interface RawResult {
  /** Everything the server sent. */
  readonly data: Buffer;
  /** True when the server closed the connection; false when it was still open after quietMs. */
  readonly closed: boolean;
}

export interface RawOptions {
  /** Give up waiting this long after the last byte received (or sent). */
  readonly quietMs?: number;
  /** Pause between the parts when `bytes` is a list. */
  readonly gapMs?: number;
}

/** Opens a TLS connection to 127.0.0.1:port. */
export function openTls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Sends `bytes` (parts with gaps between them) and collects the answer until close or quiet. */
export async function rawExchange(
  port: number,
  bytes: Buffer | readonly Buffer[],
  options: RawOptions = {},
): Promise<RawResult> {
  const quietMs = options.quietMs ?? 300;
  const socket = await openTls(port);
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        finish(false);
      }, quietMs);
    };
    socket.on('data', (data: Buffer) => {
      chunks.push(data);
      arm();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      finish(true);
    });
    const parts = Buffer.isBuffer(bytes) ? [bytes] : bytes;
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (socket.destroyed) return;
        socket.write(part);
      }
      arm();
    })();
  });
}

export interface ParsedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * Splits what a server sent into responses: Content-Length, chunked, or (last) until close.
 * Interim 1xx responses are included. An incomplete tail is ignored.
 */
export function parseResponses(data: Buffer): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let i = 0;
  while (i < data.length) {
    const end = data.indexOf('\r\n\r\n', i);
    if (end === -1) break;
    const lines = data.toString('latin1', i, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name] ?? ''}, ${value}` : value;
    }
    i = end + 4;
    if (status < 200 || status === 204 || status === 304) {
      out.push({ status, headers, body: Buffer.alloc(0) });
      continue;
    }
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', i);
        if (lineEnd === -1) return out;
        const size = parseInt(data.toString('latin1', i, lineEnd), 16);
        i = lineEnd + 2;
        if (size === 0) {
          i = data.indexOf('\r\n', i) + 2;
          break;
        }
        parts.push(data.subarray(i, i + size));
        i += size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts) });
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (i + length > data.length) break;
      out.push({ status, headers, body: data.subarray(i, i + length) });
      i += length;
    } else {
      out.push({ status, headers, body: data.subarray(i) });
      break;
    }
  }
  return out;
}

/** What the echo handler reports about a request. */
export interface Echo {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly headers: Record<string, unknown>;
  readonly trailers: Record<string, unknown>;
  /** base64 */
  readonly body: string;
}

/**
 * Answers every request with a JSON echo of method, target, version, headers, trailers and body,
 * then closes the connection (`Connection: close`), so one request is one exchange.
 */
export function echoHandler(req: HttpRequest, res: HttpResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const r = req as HttpRequest & { httpVersion: string; trailers: Record<string, unknown> };
    const echo: Echo = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: r.httpVersion,
      headers: { ...req.headers },
      trailers: { ...r.trailers },
      body: Buffer.concat(chunks).toString('base64'),
    };
    const body = Buffer.from(JSON.stringify(echo));
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
      Connection: 'close',
    });
    res.end(body);
  });
}

// Test helper: one raw HTTPS request over mTLS with an API-key client certificate, returning the
// status, headers and body exactly as received (no SDK in between).

import { request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { clientCertificateForApiKey, parseApiKey } from '../../src/identity/index.ts';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const certs = new Map<string, { cert: string; key: string }>();

/** Sends one request; `apiKey` '' sends no client certificate. */
export function rawRequest(
  endpoint: string,
  apiKey: string,
  method: string,
  path: string,
  body?: Uint8Array,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  let cert = certs.get(apiKey);
  if (!cert && apiKey !== '') {
    const generated = clientCertificateForApiKey(parseApiKey(apiKey));
    cert = { cert: generated.cert, key: generated.key };
    certs.set(apiKey, cert);
  }
  const [host, port] = [
    endpoint.slice(0, endpoint.lastIndexOf(':')),
    endpoint.slice(endpoint.lastIndexOf(':') + 1),
  ];
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        method,
        path,
        rejectUnauthorized: false,
        agent: false,
        ...(cert ?? {}),
        headers: {
          ...(body
            ? { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// The pipelining load generator: `connections` raw TLS connections with the API-key client
// certificate, each writing `depth` requests at once and the next `depth` once all of their
// responses arrived (HTTP/1.1 pipelining, which the Go and Node HTTP clients do not do).
// Latency is per request, from the write of its batch to its response.

import { connect, type TLSSocket } from 'node:tls';
import { clientCertificateForApiKey, parseApiKey } from '../src/identity/index.ts';
import { Tally, type LoadResult, type LoadSpec } from './load.ts';

const HEADER_END = Buffer.from('\r\n\r\n');

export async function pipelinedLoad(spec: LoadSpec, depth: number): Promise<LoadResult> {
  const { cert, key } = clientCertificateForApiKey(parseApiKey(spec.apiKey));
  const url = new URL(spec.url);
  const head =
    `${spec.method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
    (spec.body
      ? `Content-Type: ${spec.contentType ?? 'application/octet-stream'}\r\n` +
        `Content-Length: ${spec.body.length}\r\n`
      : '') +
    '\r\n';
  const one = Buffer.concat([Buffer.from(head, 'latin1'), spec.body ?? Buffer.alloc(0)]);
  const batch = Buffer.concat(Array.from({ length: depth }, () => one));

  const tally = new Tally();

  const run = (): Promise<void> =>
    new Promise((resolve) => {
      const socket: TLSSocket = connect({
        host: url.hostname,
        port: Number(url.port),
        cert,
        key,
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      let pending: Buffer = Buffer.alloc(0);
      let answered = 0;
      let sent = 0n;
      const send = (): void => {
        answered = 0;
        sent = process.hrtime.bigint();
        socket.write(batch);
      };
      socket.on('secureConnect', send);
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        for (;;) {
          const end = pending.indexOf(HEADER_END);
          if (end < 0) break;
          const header = pending.toString('latin1', 0, end);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(header)?.[1] ?? 0);
          const total = end + HEADER_END.length + length;
          if (pending.length < total) break;
          pending = pending.subarray(total);
          answered++;
          tally.response(header.slice(9, 12), sent);
        }
        if (answered === depth) {
          if (tally.stopping) socket.end();
          else send();
        }
      });
      socket.on('error', () => tally.error());
      socket.on('close', () => resolve());
    });

  return tally.window(spec, Array.from({ length: spec.connections }, run));
}

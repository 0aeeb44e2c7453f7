// The pipelining load generator: `connections` raw TLS connections with the API-key client
// certificate, each writing `depth` requests at once and the next `depth` once all of their
// responses arrived (HTTP/1.1 pipelining, which the Go and Node HTTP clients do not do).
// Latency is per request, from the write of its batch to its response.

import { connect, type TLSSocket } from 'node:tls';
import { clientCertificateForApiKey, parseApiKey } from '../src/identity/index.ts';
import { sleep, type LoadResult, type LoadSpec } from './load.ts';

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

  let measuring = false;
  let stop = false;
  let requests = 0;
  let errors = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};

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
          if (measuring) {
            requests++;
            const status = header.slice(9, 12);
            statuses[status] = (statuses[status] ?? 0) + 1;
            latencies.push(Number(process.hrtime.bigint() - sent) / 1000);
          }
        }
        if (answered === depth) {
          if (stop) socket.end();
          else send();
        }
      });
      socket.on('error', () => {
        if (measuring) errors++;
      });
      socket.on('close', () => resolve());
    });

  const loops = Array.from({ length: spec.connections }, run);
  await sleep(spec.warmupMs);
  measuring = true;
  const started = performance.now();
  await sleep(spec.durationMs);
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.floor((latencies.length - 1) * p)] ?? 0;
  return {
    requests,
    errors,
    seconds,
    rps: requests / seconds,
    p50_us: pct(0.5),
    p99_us: pct(0.99),
    statuses,
  };
}

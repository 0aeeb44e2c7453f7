// HTTP/1.1 hot-path benchmark: what a small request costs a server at each layer, each server in
// its own process, all answering a constant 100-byte body over TLS with a client certificate
// requested: bare TLS (one constant HTTP answer written per read: the floor under any HTTPS
// server), the lean server (src/http/http1) with a trivial handler, the same with async hooks
// turned on (one AsyncLocalStorage.run, as a scope anywhere in a process does), and node:https.
// Driven by the Go load generator (bench/loadgen, built here; a Node load loop without Go) over
// keep-alive connections, the servers alternated round by round. Prints a table and one JSON line.
// `node dist/bench/http1.js [--seconds 5] [--connections 32] [--rounds 2] [--rate N]` (--rate: a
// fixed total request rate for the load generator, to compare CPU per request at equal load)

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
// eslint-disable-next-line no-restricted-imports -- the bench measures what turning the hooks on costs
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ApiKey, clientCertificateForApiKey, createCertificate } from '../src/identity/index.ts';
import { createHttp1Server } from '../src/http/http1/index.ts';
import type { HttpRequest, HttpResponse } from '../src/http/http-types.ts';
import { buildGoLoadgen } from './load.ts';

const KINDS = ['tls', 'lean', 'lean-hooks', 'https'] as const;
type Kind = (typeof KINDS)[number];
const LABELS: Record<Kind, string> = {
  tls: 'bare TLS, constant answer per read',
  lean: 'lean http1, trivial handler',
  'lean-hooks': 'lean http1, async hooks on',
  https: 'node:https, trivial handler',
};

const WARMUP_MS = 2000;
const BODY = Buffer.from(JSON.stringify({ message: 'x'.repeat(86) }));

interface ServerStats {
  readonly requests: number;
  readonly cpuMicros: number;
}

interface Result {
  readonly kind: Kind;
  readonly rps: number;
  readonly cpuMicrosPerRequest: number;
  readonly p50Micros: number | null;
  readonly p99Micros: number | null;
  readonly errors: number;
}

/** Child process: one server of `kind`; reports CPU and request counts over IPC. */
async function serve(kind: Kind, certFile: string, keyFile: string): Promise<void> {
  // An empty scope: what turns Node's async hooks on for the rest of the process.
  if (kind === 'lean-hooks') await new AsyncLocalStorage().run({}, () => Promise.resolve());
  let requests = 0;
  let mark = { requests: 0, cpu: process.cpuUsage() };
  const handler = (req: HttpRequest, res: HttpResponse): void => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': BODY.length });
      res.end(BODY);
    });
  };
  const tls = {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2' as const,
    ALPNProtocols: ['http/1.1'],
  };
  // The floor: every read (a whole small request, as the load generator writes it) answered
  // with the same bytes, nothing parsed.
  const answer = Buffer.concat([
    Buffer.from(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${String(BODY.length)}\r\n\r\n`,
    ),
    BODY,
  ]);
  const server =
    kind === 'https'
      ? createServer({ ...tls, keepAliveTimeout: 120_000 }, handler)
      : kind === 'tls'
        ? createTlsServer(tls, (socket) => {
            socket.setNoDelay(true);
            socket.on('data', () => {
              requests++;
              socket.write(answer);
            });
          })
        : createHttp1Server(tls, handler, { keepAliveTimeout: 120_000 });
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on('message', (message: string) => {
    if (message === 'start') {
      mark = { requests, cpu: process.cpuUsage() };
    } else if (message === 'stop') {
      const cpu = process.cpuUsage(mark.cpu);
      const stats: ServerStats = {
        requests: requests - mark.requests,
        cpuMicros: cpu.user + cpu.system,
      };
      process.send?.(stats);
    } else if (message === 'exit') {
      process.exit(0);
    }
  });
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? NaN : Number(process.argv[i + 1]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `command` pinned to `cpu` when taskset exists (server and load on different cores). */
function pinned(cpu: number, command: string, args: string[], ipc: boolean): ChildProcess {
  const stdio = ipc
    ? (['ignore', 'inherit', 'inherit', 'ipc'] as const)
    : (['ignore', 'pipe', 'inherit'] as const);
  return existsSync('/usr/bin/taskset')
    ? spawn('/usr/bin/taskset', ['-c', String(cpu), command, ...args], { stdio: [...stdio] })
    : spawn(command, args, { stdio: [...stdio] });
}

function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve) => child.once('message', (m) => resolve(m as T)));
}

/** Load from the Go generator: the way kms-go / MinIO clients talk to a KMS. */
async function loadgenRun(
  loadgen: string,
  port: number,
  apiKey: string,
  connections: number,
  seconds: number,
  rate: number,
): Promise<{ rps: number; errors: number; p50: number | null; p99: number | null }> {
  const child = pinned(
    1,
    loadgen,
    [
      '-url',
      `https://127.0.0.1:${String(port)}/`,
      '-method',
      'GET',
      '-api-key',
      apiKey,
      '-c',
      String(connections),
      '-d',
      `${String(seconds)}s`,
      '-warmup',
      `${String(WARMUP_MS)}ms`,
      '-rate',
      String(rate),
    ],
    false,
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('close', r));
  const line = out.trim().split('\n').pop() ?? '{}';
  const r = JSON.parse(line) as { rps?: number; errors?: number; p50_us?: number; p99_us?: number };
  return { rps: r.rps ?? 0, errors: r.errors ?? 0, p50: r.p50_us ?? null, p99: r.p99_us ?? null };
}

/** Fallback load: keep-alive TLS connections in this process, one request in flight each. */
async function nodeLoad(
  port: number,
  apiKey: ApiKey,
  connections: number,
  seconds: number,
): Promise<{ rps: number; errors: number; p50: number | null; p99: number | null }> {
  const cert = clientCertificateForApiKey(apiKey);
  const request = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n');
  let measuring = false;
  let stop = false;
  let count = 0;
  let errors = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({
        port,
        host: '127.0.0.1',
        rejectUnauthorized: false,
        cert: cert.cert,
        key: cert.key,
      });
      let buffered: Buffer = Buffer.alloc(0);
      const send = (): void => {
        if (stop) {
          socket.destroy();
          resolve();
          return;
        }
        socket.write(request);
      };
      socket.on('secureConnect', send);
      socket.on('data', (data: Buffer) => {
        buffered = buffered.length ? Buffer.concat([buffered, data]) : data;
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end === -1) return;
          const length = /content-length: *(\d+)/i.exec(buffered.toString('latin1', 0, end));
          const total = end + 4 + Number(length?.[1] ?? 0);
          if (buffered.length < total) return;
          buffered = buffered.subarray(total);
          if (measuring) count++;
          send();
        }
      });
      socket.on('error', () => {
        errors++;
        resolve();
      });
    });
  const running = Array.from({ length: connections }, one);
  await sleep(WARMUP_MS);
  measuring = true;
  const started = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(running);
  return { rps: count / elapsed, errors, p50: null, p99: null };
}

async function measure(
  loadgen: string | null,
  kind: Kind,
  files: { cert: string; key: string },
  apiKey: ApiKey,
  connections: number,
  seconds: number,
  rate: number,
): Promise<Result> {
  const script = fileURLToPath(import.meta.url);
  const child = pinned(0, process.execPath, [script, 'serve', kind, files.cert, files.key], true);
  const { port } = await nextMessage<{ port: number }>(child);
  const load = loadgen
    ? loadgenRun(loadgen, port, apiKey.toK1(), connections, seconds, rate)
    : nodeLoad(port, apiKey, connections, seconds);
  await sleep(WARMUP_MS);
  child.send('start');
  await sleep(seconds * 1000);
  const stats = nextMessage<ServerStats>(child);
  child.send('stop');
  const { requests, cpuMicros } = await stats;
  const loaded = await load;
  child.send('exit');
  await new Promise((r) => child.once('close', r));
  return {
    kind,
    rps: loaded.rps,
    cpuMicrosPerRequest: requests > 0 ? cpuMicros / requests : 0,
    p50Micros: loaded.p50,
    p99Micros: loaded.p99,
    errors: loaded.errors,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const seconds = option('seconds', 5);
  const connections = option('connections', 32);
  const rounds = option('rounds', 2);
  const rate = option('rate', 0);
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-http1-'));
  try {
    const generated = createCertificate({
      keyType: 'p256',
      commonName: 'localhost',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost'],
      validFor: 24 * 60 * 60 * 1000,
    });
    const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    writeFileSync(files.cert, generated.cert);
    writeFileSync(files.key, generated.key, { mode: 0o600 });
    const apiKey = ApiKey.generate('k1');
    const loadgen = buildGoLoadgen(dir);
    const results: Record<Kind, Result[]> = { tls: [], lean: [], 'lean-hooks': [], https: [] };
    // Alternate the servers so drifting machine load hits them alike.
    for (let round = 0; round < rounds; round++) {
      for (const kind of KINDS) {
        results[kind].push(await measure(loadgen, kind, files, apiKey, connections, seconds, rate));
      }
    }
    const summary = (kind: Kind): { rps: number; cpuMicrosPerRequest: number; errors: number } => ({
      rps: Math.round(median(results[kind].map((r) => r.rps))),
      cpuMicrosPerRequest:
        Math.round(median(results[kind].map((r) => r.cpuMicrosPerRequest)) * 10) / 10,
      errors: results[kind].reduce((n, r) => n + r.errors, 0),
    });
    const summaries = Object.fromEntries(KINDS.map((kind) => [kind, summary(kind)])) as Record<
      Kind,
      ReturnType<typeof summary>
    >;
    const https = summaries.https.cpuMicrosPerRequest;
    const driver = loadgen ? 'loadgen' : 'node';
    process.stdout.write(
      `HTTP/1.1 over TLS, constant ${String(BODY.length)}-byte body, ${String(connections)} connections, ` +
        `${String(seconds)} s x ${String(rounds)} rounds (median), load: ${driver}` +
        `${rate > 0 ? `, fixed rate ${String(rate)}/s` : ''}\n\n` +
        `server                                 req/s   server CPU µs/req   vs node:https   errors\n` +
        KINDS.map((kind) => {
          const r = summaries[kind];
          return (
            `${LABELS[kind].padEnd(35)} ${String(r.rps).padStart(8)}   ` +
            `${r.cpuMicrosPerRequest.toFixed(1).padStart(17)}   ` +
            `${(r.cpuMicrosPerRequest / https).toFixed(2).padStart(12)}x   ${String(r.errors).padStart(6)}\n`
          );
        }).join(''),
    );
    process.stdout.write(
      JSON.stringify({
        bench: 'http1',
        driver,
        connections,
        seconds,
        rounds,
        rate,
        ...summaries,
        runs: results,
      }) + '\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as Kind, process.argv[4] ?? '', process.argv[5] ?? '');
} else {
  await main();
}

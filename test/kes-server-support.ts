// Support for the KES face's end-to-end tests: a real `keyhold server` process (optionally with
// a config file and a working directory), raw HTTPS requests over mTLS with API-key or file
// certificates, and NDJSON stream readers. Responses are returned byte for byte.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import {
  ApiKey,
  clientCertificateForApiKey,
  createCertificate,
  parseApiKey,
} from '../src/identity/index.ts';
import { ServerExit, TEST_HSM_KEY, spawnServer } from './helpers/server-process.ts';

/** A client certificate and its KES identity (hex). */
export interface ClientCert {
  readonly cert: string;
  readonly key: string;
  readonly identity: string;
  /** Set when made from an API key (`kes:v1:` text). */
  readonly apiKey?: string;
}

/** The certificate kms-go / kes-go make for an API key (a new one unless given). */
export function apiKeyCert(apiKey: ApiKey | string = ApiKey.generate('kes')): ClientCert {
  const key = typeof apiKey === 'string' ? parseApiKey(apiKey) : apiKey;
  const generated = clientCertificateForApiKey(key);
  return {
    cert: generated.cert,
    key: generated.key,
    identity: key.identity.toHex(),
    apiKey: key.toText(),
  };
}

/** A self-signed certificate as `kes identity new --key K --cert C` makes it (ECDSA or Ed25519). */
export function fileCert(
  dir: string,
  name: string,
  keyType: 'ed25519' | 'p256' = 'p256',
): ClientCert & { readonly certFile: string; readonly keyFile: string } {
  const generated = createCertificate({
    keyType,
    commonName: name,
    validFor: 24 * 60 * 60 * 1000,
    ips: ['127.0.0.1'],
    dnsNames: ['localhost'],
  });
  const certFile = join(dir, `${name}.cert`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, generated.cert);
  writeFileSync(keyFile, generated.key, { mode: 0o600 });
  return {
    cert: generated.cert,
    key: generated.key,
    identity: generated.identity.toHex(),
    certFile,
    keyFile,
  };
}

export interface KesResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  /** The body parsed as JSON (typed by the caller: tests check what they read). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T = unknown>(): T;
}

/** Options of one request. */
export interface RequestOptions {
  readonly body?: string | Buffer | object;
  readonly headers?: Record<string, string>;
  /** Reuse connections (default: a new connection per request). */
  readonly agent?: Agent;
}

/** One HTTPS request; `cert` null sends no client certificate. */
export function kes(
  endpoint: string,
  cert: ClientCert | { cert: string; key: string } | null,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<KesResponse> {
  const { host, port } = hostPort(endpoint);
  const body =
    options.body === undefined
      ? undefined
      : Buffer.isBuffer(options.body)
        ? options.body
        : Buffer.from(
            typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
          );
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method,
        path,
        rejectUnauthorized: false,
        agent: options.agent ?? false,
        ...(cert ? { cert: cert.cert, key: cert.key } : {}),
        headers: { ...(body ? { 'Content-Length': body.length } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all,
            text: all.toString(),
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
            json: <T>() => JSON.parse(all.toString()) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The exact bytes KES answers an error with. */
export function errorBody(message: string): string {
  return `{"message":${JSON.stringify(message)}\n}`;
}

function hostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, i), port: Number(endpoint.slice(i + 1)) };
}

/** A running server process. */
export interface KesServer {
  readonly endpoint: string;
  /** Working directory (holds the config file and anything the test wrote there). */
  readonly dir: string;
  /** The state directory. */
  readonly state: string;
  /** The root API key (`k1:`), '' when the config pins or disables the admin. */
  readonly rootApiKey: string;
  /** Certificate of the root API key, when there is one. */
  readonly root: ClientCert | null;
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output (from now on) matches `pattern`. */
  waitForOutput(pattern: RegExp, timeout?: number): Promise<string>;
  stop(): Promise<number | null>;
}

export interface StartOptions {
  /** Config file text, written to `DIR/config.yml` and passed with `--config`. */
  readonly config?: string;
  /** Files to write into the working directory first. */
  readonly files?: Record<string, string>;
  /** Working directory (default: a new temporary one, removed by `stop`). */
  readonly dir?: string;
  /** State directory (default `DIR/state`). */
  readonly state?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Worker processes (default 0: the single-process server). */
  readonly workers?: number;
  /** Expect the process to fail: resolve with its output and exit code instead. */
  readonly expectFailure?: boolean;
}

/** A fresh temporary directory. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'keyhold-kes-'));
}

/** Starts `keyhold server` and resolves once it is ready (its readiness line). */
export async function startKesServer(options: StartOptions = {}): Promise<KesServer> {
  const dir = options.dir ?? tempDir();
  const owned = options.dir === undefined;
  for (const [name, text] of Object.entries(options.files ?? {})) {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
  }
  const args: string[] = [
    'server',
    options.state ?? join(dir, 'state'),
    '--address',
    '127.0.0.1:0',
    '--workers',
    String(options.workers ?? 0),
  ];
  if (options.config !== undefined) {
    writeFileSync(join(dir, 'config.yml'), options.config);
    args.push('--config', 'config.yml');
  }
  args.push(...(options.args ?? []));
  let started;
  try {
    started = await spawnServer(args, {
      cwd: dir,
      env: { KEYHOLD_HSM_KEY: TEST_HSM_KEY, ...options.env },
      // As startServer: generous, so that a machine kept busy by other files is no failure.
      timeout: 60_000,
    });
  } catch (error) {
    if (error instanceof ServerExit && owned && options.expectFailure) {
      rmSync(dir, { recursive: true, force: true });
    }
    throw error;
  }
  const { server, ready } = started;
  const { child, exited, output } = server;
  const apiKey = ready.apiKey;
  return {
    endpoint: ready.endpoint.slice('https://'.length),
    dir,
    state: options.state ?? join(dir, 'state'),
    rootApiKey: apiKey ?? '',
    root: apiKey ? apiKeyCert(apiKey) : null,
    child,
    output,
    waitForOutput: (pattern, timeout = 10_000) => {
      const from = output().length;
      return new Promise((done, fail) => {
        const t = setTimeout(() => {
          unwatch();
          fail(
            new Error(`no output matching ${String(pattern)}; output:\n${output().slice(from)}`),
          );
        }, timeout);
        const look = (): void => {
          const m = pattern.exec(output().slice(from));
          if (!m) return;
          clearTimeout(t);
          unwatch();
          done(m[0]);
        };
        const unwatch = server.watch(look);
        look();
      });
    },
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (owned) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** The server process exited before it started. */
export { ServerExit } from './helpers/server-process.ts';

/** A live NDJSON stream (`/v1/log/audit`, `/v1/log/error`) and the lines it delivered. */
export interface Stream {
  readonly status: number;
  readonly contentType: string;
  readonly lines: string[];
  /** Resolves once a line satisfies `match`. */
  waitFor(match: (line: string) => boolean, timeout?: number): Promise<string>;
  close(): void;
}

/** Opens an NDJSON stream and collects its lines. */
export function openStream(endpoint: string, cert: ClientCert, path: string): Promise<Stream> {
  const { host, port } = hostPort(endpoint);
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method: 'GET', rejectUnauthorized: false, agent: false, ...cert },
      (res) => {
        const lines: string[] = [];
        const waiters = new Set<() => void>();
        let partial = '';
        res.on('data', (chunk: Buffer) => {
          partial += chunk.toString();
          const parts = partial.split('\n');
          partial = parts.pop()!;
          lines.push(...parts);
          for (const w of waiters) w();
        });
        res.on('error', () => undefined);
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          lines,
          waitFor: (match, timeout = 5000) =>
            new Promise((done, fail) => {
              const t = setTimeout(() => {
                waiters.delete(look);
                fail(new Error(`no matching line; got:\n${lines.join('\n')}`));
              }, timeout);
              const look = (): void => {
                const line = lines.find(match);
                if (line === undefined) return;
                clearTimeout(t);
                waiters.delete(look);
                done(line);
              };
              waiters.add(look);
              look();
            }),
          close: () => {
            req.destroy();
          },
        });
      },
    );
    req.on('error', (error) => {
      reject(error);
    });
    req.end();
  });
}

/**
 * Opens a stream on a raw TLS socket that never reads: the server's writes pile up in the
 * kernel's and its own buffers — the "slow subscriber".
 */
export function openStalledStream(
  endpoint: string,
  cert: ClientCert,
  path: string,
): Promise<TLSSocket> {
  const { host, port } = hostPort(endpoint);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ...cert }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** A keep-alive agent that does not verify the server (tests use self-signed certificates). */
export function keepAlive(cert: ClientCert): Agent {
  return new Agent({
    keepAlive: true,
    maxSockets: 1,
    rejectUnauthorized: false,
    cert: cert.cert,
    key: cert.key,
  });
}

// Helpers for the identity tests: the real `openssl` binary (tests skip with a message when
// it is absent), temporary directories, and real TLS handshakes on 127.0.0.1 port 0.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  type ConnectionOptions,
  type TLSSocket,
  type TlsOptions,
  connect,
  createServer,
} from 'node:tls';

function findOpenssl(): string | undefined {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** `openssl version` output, or undefined when no openssl is on PATH. */
export const opensslVersion = findOpenssl();

/** Pass as `{ skip }` to a test that needs openssl. */
export const skipWithoutOpenssl: string | false =
  opensslVersion === undefined
    ? 'openssl is not on PATH: skipping the openssl cross-checks'
    : false;

/** Runs openssl with `args` in `cwd`; returns stdout. Throws with stderr on failure. */
export function openssl(cwd: string, ...args: string[]): string {
  return execFileSync('openssl', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The identity openssl computes: `x509 -pubkey | pkey -pubin -outform DER | sha256sum`. */
export function opensslIdentityHex(certPath: string): string {
  const out = execFileSync(
    'sh',
    [
      '-c',
      'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum',
      'sh',
      certPath,
    ],
    { encoding: 'utf8' },
  );
  return out.split(' ')[0]!;
}

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-identity-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** What one client connection observed. */
export interface Connection<T> {
  /** The value the server-side callback returned for this connection. */
  readonly server: T;
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  readonly protocol: string | null;
  /** Whether the client resumed a session. */
  readonly reused: boolean;
  /** The session the client may resume later. */
  readonly session: Buffer | undefined;
}

/**
 * Starts a TLS server on 127.0.0.1 port 0 that calls `onSecure` for each connection, then
 * runs `body` with a `connect` function (one connection at a time), then closes the server.
 */
export async function withTlsServer<T>(
  serverOptions: TlsOptions,
  onSecure: (socket: TLSSocket) => T,
  body: (connect: (clientOptions: ConnectionOptions) => Promise<Connection<T>>) => Promise<void>,
): Promise<void> {
  let pending: { resolve: (value: T) => void; reject: (error: unknown) => void } | undefined;
  const server = createServer(serverOptions, (socket) => {
    socket.on('error', () => undefined);
    try {
      pending?.resolve(onSecure(socket));
    } catch (error) {
      pending?.reject(error);
    }
    socket.end('done');
  });
  server.on('tlsClientError', (error) => pending?.reject(error));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  const open = async (clientOptions: ConnectionOptions): Promise<Connection<T>> => {
    const fromServer = new Promise<T>((resolve, reject) => {
      pending = { resolve, reject };
    });
    const fromClient = new Promise<Omit<Connection<T>, 'server'>>((resolve, reject) => {
      let session: Buffer | undefined;
      let protocol: string | null = null;
      let reused = false;
      const client = connect({ host: '127.0.0.1', port: address.port, ...clientOptions });
      client.on('session', (ticket: Buffer) => (session = ticket));
      client.on('secureConnect', () => {
        // Read these now: after close they are no longer available.
        protocol = client.getProtocol();
        reused = client.isSessionReused();
      });
      client.on('error', reject);
      client.on('close', () => resolve({ protocol, reused, session }));
      client.resume();
    });
    const [serverValue, clientValue] = await Promise.all([fromServer, fromClient]);
    return { server: serverValue, ...clientValue };
  };
  try {
    await body(open);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// Helpers for the identity tests: the real `openssl` binary (tests skip with a message when
// it is absent), temporary directories, real TLS handshakes on 127.0.0.1 port 0, and hostile
// certificates (CA certificates, forged ones carrying someone else's public key).
import { execFileSync } from 'node:child_process';
import { type KeyObject, createPublicKey, sign } from 'node:crypto';
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
import { encodePem } from './certificate.ts';
import {
  DerTag,
  derBitString,
  derBoolean,
  derExplicit,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUtf8String,
} from './der.ts';

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

/** Options of {@link hostileCertificate}. */
export interface HostileCertificateOptions {
  /** The DER SubjectPublicKeyInfo the certificate carries (anyone's: public keys are public). */
  readonly spki: Uint8Array;
  /** The Ed25519 key that signs it (a CA of the attacker's, or the certified key itself). */
  readonly signer: KeyObject;
  /** basicConstraints cA TRUE (default FALSE). */
  readonly isCa?: boolean;
  /** Subject common name (default `hostile`); the issuer's is `hostile-ca`. */
  readonly commonName?: string;
  /**
   * Writes the serial number with a non-minimal length: BER that OpenSSL accepts and sends
   * on, but the strict DER reader refuses.
   */
  readonly nonMinimalLength?: boolean;
}

/**
 * A PEM certificate built to attack peer identification: any public key, any CA flag, signed
 * by any Ed25519 key. A server that does not CA-verify clients never checks that signature;
 * only the first certificate's key is proven by the TLS handshake.
 */
export function hostileCertificate(options: HostileCertificateOptions): string {
  const name = (cn: string): Buffer =>
    derSequence(derSet(derSequence(derOid('2.5.4.3'), derUtf8String(cn))));
  const algorithm = derSequence(derOid('1.3.101.112')); // Ed25519
  const now = Date.now();
  const serial = derInteger(now);
  const serialNumber = options.nonMinimalLength
    ? Buffer.concat([Buffer.of(DerTag.Integer, 0x81, serial.length - 2), serial.subarray(2)])
    : serial;
  const basicConstraints = options.isCa ? derSequence(derBoolean(true)) : derSequence();
  const tbs = derSequence(
    derExplicit(0, derInteger(2)),
    serialNumber,
    algorithm,
    name('hostile-ca'),
    derSequence(derTime(new Date(now - 60_000)), derTime(new Date(now + 86_400_000))),
    name(options.commonName ?? 'hostile'),
    options.spki,
    derExplicit(
      3,
      derSequence(
        derSequence(derOid('2.5.29.19'), derBoolean(true), derOctetString(basicConstraints)),
      ),
    ),
  );
  const signature = sign(null, tbs, options.signer);
  return encodePem('CERTIFICATE', derSequence(tbs, algorithm, derBitString(signature)));
}

/** The DER SubjectPublicKeyInfo of a key's public half. */
export function spkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

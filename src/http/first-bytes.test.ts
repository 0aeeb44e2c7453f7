// startTlsOnFirstBytes over real sockets: TLS handshakes work through it (the first bytes are
// handed over unread), silent connections are closed after the timeout without reaching TLS,
// and a reset or an end before any byte is absorbed.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import { ApiKey, clientCertificateForApiKey, createCertificate } from '../identity/index.ts';
import { identityOfTlsSocket } from '../identity/index.ts';
import { startTlsOnFirstBytes } from './first-bytes.ts';

const TIMEOUT_MS = 300;
const cert = createCertificate({ keyType: 'p256', commonName: 'test', validFor: 3_600_000 });
const server = createServer({
  cert: cert.cert,
  key: cert.key,
  requestCert: true,
  rejectUnauthorized: false,
});
let started = 0;
let tlsConnections = 0;
const identities: string[] = [];
server.on('connection', () => tlsConnections++);
startTlsOnFirstBytes(server, () => started++, TIMEOUT_MS);
server.on('secureConnection', (socket) => {
  identities.push(identityOfTlsSocket(socket)?.toH1() ?? '');
  socket.end('hello');
});
const listening = new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => server.close());

/** Waits end in a failure rather than a hang. */
const bounded = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(10_000) });

async function port(): Promise<number> {
  await listening;
  return (server.address() as AddressInfo).port;
}

async function tcp(): Promise<Socket> {
  const socket = connectTcp(await port(), '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

describe('startTlsOnFirstBytes', () => {
  it('TLS handshakes go through, the ClientHello handed over unread', async () => {
    const before = { started, tlsConnections };
    const apiKey = ApiKey.generate();
    const client = connect({
      port: await port(),
      host: '127.0.0.1',
      ...clientCertificateForApiKey(apiKey),
      rejectUnauthorized: false,
    });
    const [data] = (await once(client, 'data', bounded())) as [Buffer];
    assert.equal(data.toString(), 'hello');
    client.destroy();
    assert.equal(identities.at(-1), apiKey.identity.toH1());
    assert.deepEqual(
      { started: started - before.started, tls: tlsConnections - before.tlsConnections },
      { started: 1, tls: 1 },
    );
  });

  it('closes a silent connection after the timeout; TLS never sees it', async () => {
    const before = { started, tlsConnections };
    const socket = await tcp();
    const opened = performance.now();
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    await once(socket, 'close', bounded());
    const waited = performance.now() - opened;
    assert.ok(
      waited >= TIMEOUT_MS - 50 && waited < TIMEOUT_MS + 5_000,
      `closed after ${waited} ms`,
    );
    assert.equal(received, 0);
    assert.deepEqual({ started, tlsConnections }, before);
  });

  it('a connection that ends or resets before its first byte is dropped quietly', async () => {
    const before = { started, tlsConnections };
    const ended = await tcp();
    ended.end();
    await once(ended, 'close', bounded());
    const reset = await tcp();
    reset.resetAndDestroy();
    await once(reset, 'close', bounded());
    await new Promise((r) => setTimeout(r, 50)); // the server process did not crash on ECONNRESET
    assert.deepEqual({ started, tlsConnections }, before);
  });
});

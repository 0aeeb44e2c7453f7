// The handshake gate over real sockets: requests on reused connections wait while a TLS
// handshake is in progress, new connections and idle servers never wait, and waits are bounded.
// Only handshakes that progress count: a silent connection never does, a stalled handshake only
// for HANDSHAKE_HOLD_MS.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { connect as connectTls, createServer } from 'node:tls';
import { createCertificate } from '../identity/index.ts';
import { HANDSHAKE_HOLD_MS, HandshakeGate, MAX_HANDSHAKE_WAIT_MS } from './handshake-gate.ts';

const cert = createCertificate({
  keyType: 'p256',
  commonName: 'test',
  ips: ['127.0.0.1'],
  validFor: 3_600_000,
});
const server = createServer({ cert: cert.cert, key: cert.key }, (socket) => socket.end());
let busy: boolean[] = [];
const gate = new HandshakeGate((b) => busy.push(b));
gate.attach(server);
const listening = new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(null)));
after(() => server.close());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP connection that sends nothing yet. */
async function silentConnection(): Promise<Socket> {
  await listening;
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  await sleep(20); // let the server see the connection
  return socket;
}

/** A handshake that sent the start of a TLS record and then nothing: in progress, stalled. */
async function stalledHandshake(): Promise<Socket> {
  const socket = await silentConnection();
  socket.write(Buffer.of(0x16, 0x03, 0x01));
  await sleep(20);
  return socket;
}

describe('HandshakeGate', () => {
  it('lets first requests and idle servers through at once', () => {
    const conn = new Socket();
    assert.equal(gate.admit(conn), null, 'first request on a connection');
    assert.equal(gate.admit(conn), null, 'no handshake in progress');
  });

  it('holds reused connections until the handshake in progress ends', async () => {
    busy = [];
    const reused = new Socket();
    assert.equal(gate.admit(reused), null);
    const stalled = await stalledHandshake();
    assert.deepEqual(busy, [true]);
    const wait = gate.admit(reused);
    assert.ok(wait, 'a reused connection waits');
    assert.equal(gate.admit(new Socket()), null, 'a new connection does not');
    let released = false;
    void wait.then(() => (released = true));
    stalled.destroy();
    await wait;
    assert.ok(released);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(busy, [true, false]);
  });

  it('never holds a request longer than the bound', async () => {
    const reused = new Socket();
    assert.equal(gate.admit(reused), null);
    const stalled = await stalledHandshake();
    const started = performance.now();
    await gate.admit(reused);
    const waited = performance.now() - started;
    assert.ok(waited >= MAX_HANDSHAKE_WAIT_MS - 1 && waited < 500, `waited ${waited} ms`);
    stalled.destroy();
    await sleep(20); // its close ends the busy period before the next test
  });

  it('a connection that sends nothing is no handshake in progress', async () => {
    busy = [];
    const reused = new Socket();
    assert.equal(gate.admit(reused), null);
    const silent = await silentConnection();
    assert.equal(gate.admit(reused), null);
    assert.deepEqual(busy, []);
    silent.destroy();
  });

  it('a stalled handshake holds requests for HANDSHAKE_HOLD_MS only', async () => {
    busy = [];
    const reused = new Socket();
    assert.equal(gate.admit(reused), null);
    const stalled = await stalledHandshake();
    assert.ok(gate.admit(reused), 'held while the handshake may still be progressing');
    await sleep(HANDSHAKE_HOLD_MS + 50);
    assert.equal(gate.admit(reused), null, 'no longer held');
    assert.deepEqual(busy, [true, false]);
    stalled.destroy();
  });

  it('a real handshake counts from its ClientHello until it completes', async () => {
    busy = [];
    const client = connectTls({
      port: (server.address() as AddressInfo).port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
    });
    client.on('error', () => undefined);
    await once(client, 'secureConnect', { signal: AbortSignal.timeout(10_000) });
    await sleep(20);
    client.destroy();
    assert.deepEqual(busy, [true, false]);
  });

  it('holds reused connections while another worker handshakes, and a while after', async () => {
    const reused = new Socket();
    assert.equal(gate.admit(reused), null);
    gate.setRemoteBusy(true);
    assert.ok(gate.admit(reused));
    gate.setRemoteBusy(false);
    assert.ok(gate.admit(reused), 'the news from other workers arrives late: keep waiting briefly');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gate.admit(reused), null);
  });
});

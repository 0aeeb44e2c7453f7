// The handshake gate over real sockets: requests on reused connections wait while a TLS
// handshake is in progress, new connections and idle servers never wait, and waits are bounded.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createServer } from 'node:tls';
import { createCertificate } from '../identity/index.ts';
import { HandshakeGate, MAX_HANDSHAKE_WAIT_MS } from './handshake-gate.ts';

const cert = createCertificate({
  keyType: 'p256',
  commonName: 'test',
  ips: ['127.0.0.1'],
  validFor: 3_600_000,
});
const server = createServer({ cert: cert.cert, key: cert.key });
let busy: boolean[] = [];
const gate = new HandshakeGate((b) => busy.push(b));
gate.attach(server);
const listening = new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(null)));
after(() => server.close());

/** A TCP connection that never starts TLS: a handshake in progress, as far as the server knows. */
async function stalledHandshake(): Promise<Socket> {
  await listening;
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  await new Promise((r) => setTimeout(r, 20)); // let the server see the connection
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

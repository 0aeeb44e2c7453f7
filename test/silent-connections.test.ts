// Connections that never start a TLS handshake, or stall in its first bytes, against a real
// server: keep-alive requests are not held behind them, and the server closes both after 10 s.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SILENT_CONNECTION_TIMEOUT_MS } from '../src/http/first-bytes.ts';
import { HANDSHAKE_HOLD_MS, MAX_HANDSHAKE_WAIT_MS } from '../src/http/handshake-gate.ts';
import { HANDSHAKE_TIMEOUT_MS } from '../src/http/tls-policy.ts';
import { kes, keepAlive, startKesServer } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

let server: KesServer;
before(async () => {
  server = await startKesServer();
});
after(async () => {
  await server.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rawConnection(): Promise<Socket> {
  const i = server.endpoint.lastIndexOf(':');
  const socket = connect(Number(server.endpoint.slice(i + 1)), server.endpoint.slice(0, i));
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  await sleep(50); // let the server see it
  return socket;
}

/**
 * The fastest of 100 sequential requests on one kept-alive connection, in milliseconds. While
 * the gate holds requests, every one of them waits for its MAX_HANDSHAKE_WAIT_MS timer, so
 * even the fastest takes that long; load only makes requests slower, never faster, so this
 * tells held from not held on a busy machine too.
 */
async function fastestRequest(): Promise<number> {
  const agent = keepAlive(server.root!);
  try {
    const ms: number[] = [];
    for (let i = 0; i < 101; i++) {
      const started = performance.now();
      const res = await kes(server.endpoint, server.root, 'GET', '/v1/status', { agent });
      assert.equal(res.status, 200);
      if (i > 0) ms.push(performance.now() - started); // the first one opens the connection
    }
    return Math.min(...ms);
  } finally {
    agent.destroy();
  }
}

// A held request waits a MAX_HANDSHAKE_WAIT_MS timer (libuv may fire it up to a millisecond
// early); one that is not held takes about a millisecond here.
const NOT_HELD_MS = MAX_HANDSHAKE_WAIT_MS - 2;

describe('connections that do not progress hold no requests', () => {
  it('a connection that never sends a ClientHello', async () => {
    const silent = await rawConnection();
    try {
      const fastest = await fastestRequest();
      assert.ok(fastest < NOT_HELD_MS, `the fastest took ${fastest.toFixed(2)} ms: all were held`);
    } finally {
      silent.destroy();
    }
  });

  it('a handshake that stalls after its first bytes, once HANDSHAKE_HOLD_MS passed', async () => {
    const stalled = await rawConnection();
    try {
      stalled.write(Buffer.of(0x16, 0x03, 0x01)); // the start of a TLS record, nothing more
      await sleep(HANDSHAKE_HOLD_MS + 100);
      const fastest = await fastestRequest();
      assert.ok(fastest < NOT_HELD_MS, `the fastest took ${fastest.toFixed(2)} ms: all were held`);
    } finally {
      stalled.destroy();
    }
  });

  it('the server closes a silent connection and a stalled handshake after 10 s', async () => {
    const silent = await rawConnection();
    const stalled = await rawConnection();
    stalled.write(Buffer.of(0x16, 0x03, 0x01));
    const opened = performance.now();
    const closing = [silent, stalled].map(async (socket) => {
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      const closed = once(socket, 'close').then(() => 'closed');
      const limit = sleep(Math.max(SILENT_CONNECTION_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS) + 10_000);
      const outcome = await Promise.race([closed, limit.then(() => 'still open')]);
      socket.destroy();
      return { outcome, after: performance.now() - opened, received };
    });
    const [quiet, slow] = await Promise.all(closing);
    assert.equal(quiet!.outcome, 'closed', 'the silent connection');
    assert.equal(quiet!.received, 0, 'the server sent nothing on the silent connection');
    assert.ok(
      quiet!.after >= SILENT_CONNECTION_TIMEOUT_MS - 1_000,
      `closed after ${quiet!.after} ms`,
    );
    assert.equal(slow!.outcome, 'closed', 'the stalled handshake');
    assert.ok(slow!.after >= HANDSHAKE_TIMEOUT_MS - 1_000, `closed after ${slow!.after} ms`);
  });
});

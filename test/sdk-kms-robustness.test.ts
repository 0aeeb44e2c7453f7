// End-to-end robustness of the KMS API and the SDK: failover between endpoints when one is down
// or dies, and malformed requests sent raw over mTLS (garbage, truncated frames, unknown
// commands, oversize bodies) that must get a clear error while the server keeps serving. The
// servers are single processes (`--workers 0`): a request that brought the server down would
// not be hidden by a worker being replaced.

import assert from 'node:assert/strict';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodeFrames, errorFromResponse } from '../src/protocol/kms/index.ts';
import { clientCertificateForApiKey } from '../src/identity/index.ts';
import { KmsConnectionError, parseApiKey } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const SINGLE = ['--workers', '0'];

let server: ServerProcess;
let root: KmsClient;

before(async () => {
  server = await startServer({ args: SINGLE });
  root = clientFor(server.endpoint, server.rootApiKey);
  await root.createKey('probe');
});

after(async () => {
  root.close();
  await server.stop();
});

/** A 127.0.0.1 port nothing listens on (bound once, then released). */
async function deadEndpoint(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

/** The server still answers a real command. */
async function stillServes(): Promise<void> {
  const dek = await root.generateKey('probe');
  assert.deepEqual(await root.decrypt('probe', dek.ciphertext), dek.plaintext);
}

describe('failover', () => {
  it('load-balanced calls skip an endpoint that is down and suspend it', async () => {
    const dead = await deadEndpoint();
    const c = clientFor([dead, server.endpoint], server.rootApiKey);
    try {
      for (let i = 0; i < 20; i++) {
        const dek = await c.generateKey('probe');
        assert.equal(dek.plaintext.length, 32);
      }
      assert.equal(c.isSuspended(dead), true);
      assert.equal(c.isSuspended(server.endpoint), false);
    } finally {
      c.close();
    }
  });

  it('a direct call to a dead host fails with the host and the reason', async () => {
    const dead = await deadEndpoint();
    const c = clientFor([dead, server.endpoint], server.rootApiKey);
    try {
      const error = await c.version({ host: dead }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof KmsConnectionError);
      assert.deepEqual(
        error.failures.map((f) => f.host),
        [dead],
      );
      assert.match(error.message, /ECONNREFUSED/);
      assert.equal((await c.version({ host: server.endpoint })).host, server.endpoint);
    } finally {
      c.close();
    }
  });

  it('when every endpoint is down the error lists each of them', async () => {
    const dead = [await deadEndpoint(), await deadEndpoint()];
    const c = clientFor(dead, server.rootApiKey);
    try {
      const error = await c.live().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof KmsConnectionError);
      assert.deepEqual(error.failures.map((f) => f.host).sort(), [...dead].sort());
    } finally {
      c.close();
    }
  });

  it('a server that dies under a client with open connections is failed over', async () => {
    const second = await startServer({ args: SINGLE });
    const c = clientFor([server.endpoint, second.endpoint], server.rootApiKey, {
      maxSockets: 4,
    });
    try {
      // Open keep-alive connections to both servers.
      await Promise.all(Array.from({ length: 16 }, () => c.live()));
      await second.kill();
      const hosts = new Set<string>();
      for (let i = 0; i < 20; i++) hosts.add((await c.version()).host);
      assert.deepEqual([...hosts], [server.endpoint]);
      assert.equal(c.isSuspended(second.endpoint), true);
    } finally {
      c.close();
      await second.kill();
    }
  });
});

describe('malformed requests get a clear error and the server keeps serving', () => {
  async function send(
    body: Buffer,
    path = '/v1/kms',
  ): Promise<{ status: number; message: string }> {
    const res = await rawRequest(server.endpoint, server.rootApiKey, 'POST', path, body);
    assert.notEqual(res.headers['content-length'], undefined, 'errors carry a Content-Length');
    const error = errorFromResponse(res.status, res.headers['content-type'], res.body);
    return { status: res.status, message: error.message };
  }

  const frame = (cmd: number, payload: Buffer = Buffer.alloc(0)) => encodeFrames(cmd, [payload]);

  const cases: [string, () => Buffer, number, RegExp][] = [
    ['garbage', () => Buffer.from('this is not a KMS request at all'), 400, /.+/],
    ['an empty body', () => Buffer.alloc(0), 400, /no frame/],
    ['a truncated header', () => Buffer.from([0x00, 0xcf, 0x00]), 400, /truncated header/],
    [
      'a frame shorter than its length',
      () => frame(207, Buffer.from('0a0170', 'hex')).subarray(0, 7),
      400,
      /exceeds/,
    ],
    [
      'a frame followed by a partial one',
      () => Buffer.concat([frame(207, Buffer.from('0a0170', 'hex')), Buffer.from([0, 0xcf])]),
      400,
      /truncated header/,
    ],
    ['an unknown command code', () => frame(9999), 400, /unknown command code 9999/],
    ['KEY:LISTVERSIONS (not served)', () => frame(209), 501, /KEY:LISTVERSIONS/],
    [
      'mixed commands in one body',
      () => Buffer.concat([frame(204, Buffer.from('0a0170', 'hex')), frame(104)]),
      400,
      /same command/,
    ],
    [
      'a batch of writes',
      () =>
        Buffer.concat([
          frame(201, Buffer.from('0a0161', 'hex')),
          frame(201, Buffer.from('0a0162', 'hex')),
        ]),
      400,
      /exactly one frame/,
    ],
    [
      'a payload that is not protobuf',
      () => frame(204, Buffer.from([0xff, 0xff, 0xff])),
      400,
      /malformed/,
    ],
    [
      'a string field with invalid UTF-8',
      () => frame(204, Buffer.from([0x0a, 0x02, 0xc3, 0x28])),
      400,
      /UTF-8/,
    ],
  ];
  for (const [what, body, status, message] of cases) {
    it(what, async () => {
      const got = await send(body());
      assert.equal(got.status, status, got.message);
      assert.match(got.message, message);
      await stillServes();
    });
  }

  it('an oversize body is refused with 413 before it is sent', async () => {
    // Only the headers go out: the server must answer from the declared length alone, without
    // waiting for (or buffering) 16 MiB.
    const key = parseApiKey(server.rootApiKey);
    const { cert, key: pem } = clientCertificateForApiKey(key);
    const [host, port] = server.endpoint.split(':') as [string, string];
    let req!: ClientRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req = httpsRequest({
        host,
        port: Number(port),
        method: 'POST',
        path: '/v1/kms',
        cert,
        key: pem,
        rejectUnauthorized: false,
        agent: false,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': 16 * 1024 * 1024 + 1,
        },
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.flushHeaders();
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    req.destroy();
    const error = errorFromResponse(
      res.statusCode!,
      res.headers['content-type'],
      Buffer.concat(chunks),
    );
    assert.equal(error.status, 413);
    assert.match(error.message, /too large/);
    await stillServes();
  });

  it('wrong method and unknown path', async () => {
    const get = await rawRequest(server.endpoint, server.rootApiKey, 'GET', '/v1/kms');
    assert.equal(get.status, 405);
    const unknown = await rawRequest(server.endpoint, server.rootApiKey, 'POST', '/v1/nothing');
    assert.equal(unknown.status, 404);
    await stillServes();
  });

  it('replies carry Content-Length and are never gzipped, even when gzip is accepted', async () => {
    const res = await rawRequest(
      server.endpoint,
      server.rootApiKey,
      'POST',
      '/v1/kms/default',
      frame(208),
      { 'Accept-Encoding': 'gzip' },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(Number(res.headers['content-length']), res.body.length);
  });

  it('hundreds of bad requests in a row do not wear the server down', async () => {
    const bad = frame(9999);
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          rawRequest(server.endpoint, server.rootApiKey, 'POST', '/v1/kms', bad),
        ),
      );
    }
    await stillServes();
  });
});

// Batch amplification on the KMS API against a real server: a batch whose answer would exceed
// the documented bound is refused before any key is generated, so clients that send small
// batches asking for huge answers and never read them cannot grow the server; batches of
// realistic size are still answered.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_KMS_ANSWER } from '../src/api/kms/kms-routes.ts';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { childrenOf, mib, watchMemory } from './helpers/process-memory.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { openRaw } from './helpers/raw-tls.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const MiB = 1024 * 1024;

/** A KEY:GENERATE batch body of `frames` requests for `length`-byte data keys of key `k`. */
const generateBatch = (frames: number, length: number): Buffer =>
  encodeKmsRequest(
    'KEY:GENERATE',
    Array.from({ length: frames }, () => ({
      name: 'k',
      version: 0,
      associatedData: Buffer.alloc(0),
      length,
    })),
  );

let server: ServerProcess;
let root: KmsClient;

before(async () => {
  server = await startServer({ args: ['--workers', '2'] });
  root = clientFor(server.endpoint, server.rootApiKey, { enclave: 'default' });
  await root.createKey('k');
});

after(async () => {
  root.close();
  await server.stop();
});

describe('the answer bound of a batch', () => {
  it('refuses a batch whose answer would exceed it, before generating anything', async () => {
    // 10,000 frames of 14 bytes asking for 1024-byte keys: a ~21 MB answer.
    const res = await rawRequest(
      server.endpoint,
      server.rootApiKey,
      'POST',
      '/v1/kms/default',
      generateBatch(10_000, 1024),
      { Accept: 'application/json' },
    );
    assert.equal(res.status, 400);
    assert.match(
      res.body.toString(),
      new RegExp(`KEY:GENERATE batch of 10000 frames would answer .* more than ${MAX_KMS_ANSWER}`),
    );
  });

  it('answers the largest batches MinIO and kms-go clients send', async () => {
    const keys = await root.generateKeyBatch(Array.from({ length: 10_000 }, () => ({ name: 'k' })));
    assert.equal(keys.length, 10_000);
    const long = await root.generateKeyBatch(
      Array.from({ length: 1_900 }, () => ({ name: 'k', length: 1024 })),
    );
    assert.equal(long[0]!.plaintext.length, 1024);
  });

  it('leaves a key length out of range to the core to refuse, with its own message', async () => {
    const res = await rawRequest(
      server.endpoint,
      server.rootApiKey,
      'POST',
      '/v1/kms/default',
      generateBatch(1, 5000),
      { Accept: 'application/json' },
    );
    assert.equal(res.status, 400);
    assert.match(res.body.toString(), /invalid data key length 5000/);
  });

  it('clients that send amplifying batches and never read do not grow the server', async () => {
    const pid = server.child.pid!;
    const watch = watchMemory([pid, ...childrenOf(pid)]);
    const body = generateBatch(10_000, 1024);
    const request = Buffer.concat([
      Buffer.from(
        `POST /v1/kms/default HTTP/1.1\r\nHost: k\r\nContent-Length: ${String(body.length)}\r\n\r\n`,
      ),
      body,
    ]);
    const connections = await Promise.all(
      Array.from({ length: 32 }, () => openRaw(server.endpoint, server.rootApiKey)),
    );
    for (const c of connections) {
      c.socket.pause(); // never reads its answers
      c.socket.write(Buffer.concat([request, request]));
    }
    await new Promise((r) => setTimeout(r, 4000));
    const { total, perProcess } = watch.stop();
    for (const c of connections) c.socket.destroy();
    // 64 answers of ~21 MB each were asked for (over 1 GiB before the bound).
    assert.ok(
      total < 200 * MiB,
      `server grew by ${mib(total)} (${[...perProcess.values()].map(mib).join(', ')})`,
    );
  });
});

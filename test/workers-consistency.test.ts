// With several worker processes, a change is visible on every worker once the request that made
// it returned: a deleted key and a revoked policy are refused by all of them at once.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { childrenOf } from './helpers/process-memory.ts';

const GENERATE = (name: string): Buffer =>
  encodeKmsRequest('KEY:GENERATE', [
    { name, version: 0, associatedData: Buffer.from('{}'), length: 32 },
  ]);

/** Sends `count` requests, each on a new connection, so that they spread over the workers. */
async function statuses(server: ServerProcess, apiKey: string, body: Buffer, count: number) {
  const results = await Promise.all(
    Array.from({ length: count }, () =>
      rawRequest(server.endpoint, apiKey, 'POST', '/v1/kms/default', body),
    ),
  );
  return results.map((r) => r.status);
}

describe('worker pool consistency', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ args: ['--workers', '3'] });
  });
  after(async () => {
    await server.stop();
  });

  it('serves from several worker processes', () => {
    assert.match(server.output(), /Workers:\s+3/);
  });

  it('refuses a deleted key on every worker as soon as the delete returned', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `doomed-${round}`;
      const create = encodeKmsRequest('KEY:CREATE', [{ name, type: '', addVersion: false }]);
      const created = await rawRequest(
        server.endpoint,
        server.rootApiKey,
        'POST',
        '/v1/kms/default',
        create,
      );
      assert.equal(created.status, 200);
      // Every worker already knows the new key.
      assert.deepEqual(
        new Set(await statuses(server, server.rootApiKey, GENERATE(name), 12)),
        new Set([200]),
      );
      const del = encodeKmsRequest('KEY:DELETE', [{ name, version: 0, allVersions: true }]);
      const deleted = await rawRequest(
        server.endpoint,
        server.rootApiKey,
        'POST',
        '/v1/kms/default',
        del,
      );
      assert.equal(deleted.status, 200);
      assert.deepEqual(
        new Set(await statuses(server, server.rootApiKey, GENERATE(name), 12)),
        new Set([404]),
      );
    }
  });

  it('refuses a revoked policy on every worker as soon as the revocation returned', async () => {
    const user = ApiKey.generate('k1');
    const root = server.rootApiKey;
    const send = (name: Parameters<typeof encodeKmsRequest>[0], requests: unknown[]) =>
      rawRequest(
        server.endpoint,
        root,
        'POST',
        '/v1/kms/default',
        encodeKmsRequest(name, requests as never[]),
      );
    assert.equal(
      (await send('KEY:CREATE', [{ name: 'shared', type: '', addVersion: false }])).status,
      200,
    );
    assert.equal(
      (
        await send('POLICY:CREATE', [
          { name: 'gen', allow: { 'KEY:GENERATE': { rules: { 'shared*': {} } } }, deny: {} },
        ])
      ).status,
      200,
    );
    assert.equal(
      (
        await send('IDENTITY:CREATE', [
          { identity: user.identity.toH1(), privilege: 'User', isServiceAccount: false, tags: {} },
        ])
      ).status,
      200,
    );
    assert.equal(
      (await send('POLICY:ASSIGN', [{ identity: user.identity.toH1(), policy: 'gen' }])).status,
      200,
    );
    assert.deepEqual(
      new Set(await statuses(server, user.toK1(), GENERATE('shared'), 12)),
      new Set([200]),
    );
    assert.equal((await send('POLICY:DELETE', [{ name: 'gen' }])).status, 200);
    assert.deepEqual(
      new Set(await statuses(server, user.toK1(), GENERATE('shared'), 12)),
      new Set([403]),
    );
  });

  it('replaces a crashed worker and keeps serving', async () => {
    const workers = childrenOf(server.child.pid!);
    assert.equal(workers.length, 3);
    process.kill(workers[0]!, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (!/starting a new one/.test(server.output()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(server.output(), /exited \(SIGKILL\); starting a new one/);
    while (childrenOf(server.child.pid!).length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(childrenOf(server.child.pid!).length, 3);
    assert.deepEqual(
      new Set(await statuses(server, server.rootApiKey, GENERATE('shared'), 12)),
      new Set([200]),
    );
  });
});

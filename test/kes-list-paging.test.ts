// KES key listings page at 1024 names and continue at `?continue_at=`: the KES SDK walks every
// page of an enclave holding more keys than one page; an NDJSON listing streams them all.
// One server process (`--workers 0`): paging is the subject, not the process model.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KesClient } from '../src/sdk/kes/index.ts';
import { KmsClient } from '../src/sdk/index.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const COUNT = 1300;

describe('KES key listing pages', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ args: ['--workers', '0'] });
    const kms = new KmsClient({
      endpoints: [server.endpoint],
      apiKey: server.rootApiKey,
      tls: { insecure: true },
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < COUNT; i = next++) {
          await kms.createKey(`key-${String(i).padStart(5, '0')}`);
        }
      }),
    );
    kms.close();
  });
  after(async () => {
    await server.stop();
  });

  it('answers at most 1024 names with continue_at, and the next page from ?continue_at=', async () => {
    const json = { Accept: 'application/json' };
    const first = await rawRequest(
      server.endpoint,
      server.rootApiKey,
      'GET',
      '/v1/key/list/key-',
      undefined,
      json,
    );
    const page = JSON.parse(first.body.toString()) as { names: string[]; continue_at?: string };
    assert.equal(page.names.length, 1024);
    assert.equal(page.continue_at, 'key-01024');
    const second = await rawRequest(
      server.endpoint,
      server.rootApiKey,
      'GET',
      `/v1/key/list/key-?continue_at=${page.continue_at}`,
      undefined,
      json,
    );
    const rest = JSON.parse(second.body.toString()) as { names: string[]; continue_at?: string };
    assert.equal(rest.names.length, COUNT - 1024);
    assert.equal(rest.names[0], 'key-01024');
    assert.equal(rest.continue_at, undefined);
  });

  it('streams every key as NDJSON to a client that asks for no format', async () => {
    const res = await rawRequest(server.endpoint, server.rootApiKey, 'GET', '/v1/key/list/*');
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    // More than one page: written as it is read, so without a Content-Length.
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    const names = res.body
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { name: string }).name);
    assert.equal(names.length, COUNT);
    assert.deepEqual(names, [...names].sort());
  });

  it('lets the KES SDK iterate every key in order', async () => {
    const kes = new KesClient({
      endpoints: [server.endpoint],
      apiKey: server.rootApiKey,
      insecure: true,
    });
    const names: string[] = [];
    for await (const name of kes.listKeys('key-')) names.push(name);
    kes.close();
    assert.equal(names.length, COUNT);
    assert.deepEqual(names, [...names].sort());
  });
});

// KES /v1/metrics counts the requests of every worker process, not only the one that answers.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

describe('KES metrics with workers', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ args: ['--workers', '2'] });
  });
  after(async () => {
    await server.stop();
  });

  it('adds up the request counters of all workers', async () => {
    const n = 24;
    // Each request on a new connection, so that they spread over both workers.
    for (let i = 0; i < n; i++) {
      const res = await rawRequest(
        server.endpoint,
        server.rootApiKey,
        'GET',
        '/v1/key/describe/missing',
      );
      assert.equal(res.status, 404);
    }
    for (let i = 0; i < 3; i++) {
      const res = await rawRequest(server.endpoint, server.rootApiKey, 'GET', '/v1/metrics');
      assert.equal(res.status, 200);
      const text = res.body.toString();
      assert.match(text, /^kes_http_request_error\{code="404"\} (\d+)$/m);
      assert.equal(Number(/^kes_http_request_error\{code="404"\} (\d+)$/m.exec(text)![1]), n);
      assert.match(text, new RegExp(`^kes_http_response_time_count ${n}$`, 'm'));
    }
  });
});

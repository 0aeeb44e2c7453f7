// Requests refused by the HTTP layer itself (unparseable, headers too large, chunk extensions too
// large, no Host, an unmet Expect) still produce one audit record each, in both HTTP modes; and
// both modes answer every request of a long pipelined burst.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openRaw } from './helpers/raw-tls.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

interface Record {
  request: { path: string; method: string; identity: string; ip: string };
  response: { code: number };
}

for (const http of ['lean', 'node'] as const) {
  describe(`--http ${http}`, () => {
    let server: ServerProcess;
    const scratch = tempDir();
    const file = join(scratch.dir, 'audit.ndjson');

    before(async () => {
      server = await startServer({
        args: ['--http', http, '--workers', '0', '--audit-log', file],
      });
    });

    after(async () => {
      await server.stop();
      scratch.remove();
    });

    const records = (): Record[] =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record)
        // Request records only: the chain's start and seal records carry no request.
        .filter((r) => 'request' in r);

    /** Sends `bytes` on a new connection and returns the final status it was answered. */
    async function answer(bytes: string): Promise<number> {
      const c = await openRaw(server.endpoint);
      try {
        c.socket.write(bytes);
        const responses = await c.until((r) => r.some((x) => x.status >= 200));
        return responses.find((r) => r.status >= 200)?.status ?? 0;
      } finally {
        c.socket.destroy();
      }
    }

    it('audits requests the HTTP layer refuses', async () => {
      const cases: [string, string, number][] = [
        ['garbage', 'NOT A REQUEST\r\n\r\n', 400],
        ['no Host', 'GET /version HTTP/1.1\r\n\r\n', 400],
        [
          'headers too large',
          `GET /version HTTP/1.1\r\nHost: k\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
          431,
        ],
        [
          'chunk extensions too large',
          `GET /version HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(20_000)}\r\n`,
          413,
        ],
        ['unmet expectation', 'GET /version HTTP/1.1\r\nHost: k\r\nExpect: magic\r\n\r\n', 417],
      ];
      const before = records().length;
      for (const [what, bytes, status] of cases) {
        assert.equal(await answer(bytes), status, what);
      }
      let got: Record[] = [];
      for (let i = 0; i < 50; i++) {
        got = records().slice(before);
        if (got.length >= cases.length) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(
        got.map((r) => r.response.code),
        cases.map(([, , status]) => status),
        'one audit record per refused request',
      );
      for (const r of got) {
        assert.equal(r.request.identity, '');
        assert.equal(r.request.ip, '127.0.0.1');
      }
      // Where the request line was read, the record names it.
      assert.deepEqual([got[1]!.request.method, got[1]!.request.path], ['GET', '/version']);
      assert.deepEqual([got[4]!.request.method, got[4]!.request.path], ['GET', '/version']);
    });

    it('answers all of 1,000 requests pipelined in one write', async () => {
      const c = await openRaw(server.endpoint);
      try {
        c.socket.write('GET /v1/health/live HTTP/1.1\r\nHost: k\r\n\r\n'.repeat(1000));
        const responses = await c.until((r) => r.length >= 1000, 20_000);
        assert.equal(responses.length, 1000);
        assert.ok(responses.every((r) => r.status === 200));
        assert.equal(c.closed(), false);
      } finally {
        c.socket.destroy();
      }
    });
  });
}

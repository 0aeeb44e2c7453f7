// Every request, allowed or not, produces exactly one audit record (with several workers, whose
// lines the primary writes to the audit file).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

describe('audit log', () => {
  let server: ServerProcess;
  const scratch = tempDir();
  const file = join(scratch.dir, 'audit.ndjson');
  before(async () => {
    server = await startServer({ args: ['--audit-log', file, '--workers', '2'] });
  });
  after(async () => {
    await server.stop();
    scratch.remove();
  });

  it('writes one record per request: allowed, refused, unknown, malformed and unauthenticated', async () => {
    const stranger = ApiKey.generate('k1').toK1();
    const generate = encodeKmsRequest('KEY:GENERATE', [
      { name: 'nope', version: 0, associatedData: Buffer.alloc(0), length: 32 },
    ]);
    const requests: [string, string, string, Buffer | undefined, number][] = [
      [server.rootApiKey, 'GET', '/version', undefined, 200],
      [server.rootApiKey, 'POST', '/v1/kms/default', generate, 404],
      [stranger, 'POST', '/v1/kms/default', generate, 403],
      ['', 'POST', '/v1/kms/default', generate, 403],
      [server.rootApiKey, 'POST', '/v1/kms/default', Buffer.from([0, 1, 2]), 400],
      [server.rootApiKey, 'GET', '/no/such/path', undefined, 404],
      [server.rootApiKey, 'DELETE', '/v1/kms', undefined, 405],
      [stranger, 'GET', '/v1/health/metrics', undefined, 403],
    ];
    for (let round = 0; round < 5; round++) {
      for (const [key, method, path, body, status] of requests) {
        const res = await rawRequest(server.endpoint, key, method, path, body);
        assert.equal(res.status, status, `${method} ${path}`);
      }
    }
    const expected = requests.length * 5;
    // Records are written after the answer; give the writers a moment.
    let lines: string[] = [];
    for (let i = 0; i < 50; i++) {
      // Request records only: the chain's start record carries none (docs/audit.md).
      lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"request":'));
      if (lines.length >= expected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(lines.length, expected);
    const records = lines.map(
      (l) =>
        JSON.parse(l) as {
          request: { path: string; method: string; identity: string };
          response: { code: number };
        },
    );
    const codes = records.map((r) => r.response.code).sort();
    assert.deepEqual(codes, requests.flatMap(([, , , , s]) => Array<number>(5).fill(s)).sort());
    assert.ok(
      records.some((r) => r.request.identity === ''),
      'unauthenticated requests are audited',
    );
    assert.ok(
      !readFileSync(file, 'utf8').includes(server.rootApiKey),
      'no API key in the audit log',
    );
  });
});

// A request's head must arrive within the headers timeout (`--headers-timeout`, 30 s by default)
// of its first byte, whatever trickles in: a client sending an empty line every half second, on a
// fresh connection or after a request, is answered 408 and closed, and each 408 has its audit
// record. Both HTTP implementations are held to it, side by side (each against its own real
// server), with a 2-s timeout; the default itself is checked on the assembled server.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HTTP_HEADERS_TIMEOUT_MS } from '../src/server/keyhold-server.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { startFaceHarness } from './helpers/face-harness.ts';
import { openRaw } from './helpers/raw-tls.ts';
import type { RawConnection } from './helpers/raw-tls.ts';
import { startServer, tempDir } from './helpers/server-process.ts';

/** Sends CRLF every half second until the connection closes or `ms` pass. */
async function trickle(c: RawConnection, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!c.closed() && Date.now() < deadline) {
    c.socket.write('\r\n');
    await new Promise((r) => setTimeout(r, 500));
  }
}

it('the headers timeout is 30 s unless --headers-timeout says otherwise', async () => {
  assert.equal(HTTP_HEADERS_TIMEOUT_MS, 30_000);
  const harness = await startFaceHarness();
  try {
    assert.equal(harness.server.httpTimeouts.headersTimeout, 30_000);
  } finally {
    await harness.close();
  }
  const set = await startFaceHarness({ server: { headersTimeout: 2000 } });
  try {
    assert.equal(set.server.httpTimeouts.headersTimeout, 2000);
  } finally {
    await set.close();
  }
});

it('--headers-timeout below 1s, or not a duration, is a usage error', async () => {
  for (const [value, message] of [
    ['500ms', "--headers-timeout: at least 1s, not '500ms'"],
    ['soon', "--headers-timeout: invalid duration 'soon'"],
  ] as const) {
    const run = await runInProcess(['server', '--headers-timeout', value], {});
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.includes(message), run.stderr);
  }
});

// The two servers wait out the same 2 s at once.
describe('the headers timeout', { concurrency: true }, () => {
  for (const http of ['lean', 'node']) {
    it(`--http ${http}: empty lines trickled in do not keep a connection open past it`, async () => {
      const scratch = tempDir();
      const audit = join(scratch.dir, 'audit.ndjson');
      const server = await startServer({
        args: ['--http', http, '--workers', '0', '--audit-log', audit, '--headers-timeout', '2s'],
      });
      const fresh = await openRaw(server.endpoint);
      const reused = await openRaw(server.endpoint);
      try {
        reused.socket.write('GET /v1/health/live HTTP/1.1\r\nHost: k\r\n\r\n');
        assert.deepEqual(
          (await reused.until((r) => r.length > 0)).map((r) => r.status),
          [200],
        );
        const started = Date.now();
        // 2 s headers timeout, checked every second; a client that is never cut off would
        // trickle for the whole 20 s (the idle timeout is 120 s).
        await Promise.all([trickle(fresh, 20_000), trickle(reused, 20_000)]);
        const elapsed = Date.now() - started;
        for (const [c, expected] of [
          [fresh, [408]],
          [reused, [200, 408]],
        ] as const) {
          assert.ok(c.closed(), 'the server closed the connection');
          assert.deepEqual(
            c.responses().map((r) => r.status),
            expected,
          );
        }
        assert.ok(elapsed < 15_000, `cut off after ${String(elapsed)} ms`);
        await new Promise((r) => setTimeout(r, 200));
        const codes = readFileSync(audit, 'utf8')
          .split('\n')
          // Request records only: the chain's start and seal lines answer no request.
          .filter((l) => l.includes('"request":'))
          .map((l) => (JSON.parse(l) as { response: { code: number } }).response.code);
        assert.deepEqual(codes.sort(), [200, 408, 408], 'every answer has its audit record');
      } finally {
        fresh.socket.destroy();
        reused.socket.destroy();
        await server.stop();
        scratch.remove();
      }
    });
  }
});

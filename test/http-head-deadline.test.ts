// A request's head must arrive within the headers timeout (30 s) of its first byte, whatever
// trickles in: a client sending an empty line every two seconds, on a fresh connection or
// after a request, is answered 408 and closed (against a real server, the default lean HTTP mode), and
// each 408 has its audit record.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { openRaw } from './helpers/raw-tls.ts';
import type { RawConnection } from './helpers/raw-tls.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

let server: ServerProcess;
const scratch = tempDir();
const audit = join(scratch.dir, 'audit.ndjson');

before(async () => {
  // Pinned to the lean server, the default: with --http node, a client trickling empty lines
  // still had its connection open after 45 s (the second CI pass on --http node showed it; not
  // fixed yet), so this guarantee is the lean server's.
  server = await startServer({ args: ['--http', 'lean', '--workers', '0', '--audit-log', audit] });
});

after(async () => {
  await server.stop();
  scratch.remove();
});

/** Sends CRLF every two seconds until the connection closes or `ms` pass. */
async function trickle(c: RawConnection, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!c.closed() && Date.now() < deadline) {
    c.socket.write('\r\n');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

it('empty lines trickled in do not keep a connection open past the headers timeout', async () => {
  const fresh = await openRaw(server.endpoint);
  const reused = await openRaw(server.endpoint);
  try {
    reused.socket.write('GET /v1/health/live HTTP/1.1\r\nHost: k\r\n\r\n');
    assert.deepEqual(
      (await reused.until((r) => r.length > 0)).map((r) => r.status),
      [200],
    );
    const started = Date.now();
    // 30 s headers timeout, checked every second; a client that is never cut off would
    // trickle for the whole 45 s.
    await Promise.all([trickle(fresh, 45_000), trickle(reused, 45_000)]);
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
    assert.ok(elapsed < 40_000, `cut off after ${String(elapsed)} ms`);
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
  }
});

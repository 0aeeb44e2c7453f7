// Worker processes are started with --expose-gc on their command line (src/server/workers/
// collect-garbage.ts): they reach V8's collector without turning the flag on at run time.

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { childrenOf } from './helpers/process-memory.ts';
import { startServer } from './helpers/server-process.ts';

describe('worker processes', () => {
  it('run with --expose-gc in their arguments', async () => {
    const server = await startServer({ args: ['--workers', '2'] });
    try {
      const workers = childrenOf(server.child.pid!);
      assert.equal(workers.length, 2);
      for (const pid of workers) {
        const argv = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').split('\0');
        assert.ok(argv.includes('--expose-gc'), `worker ${String(pid)}: ${argv.join(' ')}`);
      }
    } finally {
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  });
});

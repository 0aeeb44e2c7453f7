// Request bodies are read only for callers that may send them, against real server processes in
// both HTTP modes: a refused request is answered before its body is sent (no 100 Continue),
// and its connection closed; anonymous floods of large bodies do not grow the workers; a restore
// is streamed to the process that owns the state, not held whole by the worker.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/sdk/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { childrenOf, mib, watchMemory } from './helpers/process-memory.ts';
import { assertRefusedBeforeBody, openRaw, requestHead } from './helpers/raw-tls.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const MiB = 1024 * 1024;

for (const http of ['lean', 'node'] as const) {
  describe(`--http ${http}`, () => {
    let server: ServerProcess;
    let workers: number[];
    /** A User of the default enclave: may use /v1/kms, not /v1/db. */
    let user: ApiKey;
    /** A certificate the server does not know. */
    const stranger = ApiKey.generate();

    before(async () => {
      server = await startServer({ args: ['--http', http, '--workers', '2'] });
      const pid = server.child.pid!;
      for (let i = 0; i < 100 && childrenOf(pid).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      workers = childrenOf(pid);
      user = ApiKey.generate();
      const root = clientFor(server.endpoint, server.rootApiKey, { enclave: 'default' });
      await root.createIdentity(user.identity.toH1());
      root.close();
    });

    after(async () => {
      await server.stop();
    });

    const refusedBeforeBody = (
      apiKey: string,
      method: string,
      path: string,
      length: number,
      expectContinue: boolean,
    ): Promise<void> =>
      assertRefusedBeforeBody(
        server.endpoint,
        apiKey,
        { method, path, length, expectContinue },
        { status: 403 },
      );

    it('refuses PUT /v1/db from an anonymous caller before its body', async () => {
      await refusedBeforeBody('', 'PUT', '/v1/db', 1024 * MiB, true);
      await refusedBeforeBody('', 'PUT', '/v1/db', 1024 * MiB, false);
    });

    it('refuses PUT /v1/db from a User and from an unknown identity before the body', async () => {
      await refusedBeforeBody(user.toK1(), 'PUT', '/v1/db', 512 * MiB, true);
      await refusedBeforeBody(stranger.toK1(), 'PUT', '/v1/db', 512 * MiB, false);
    });

    it('refuses /v1/kms from callers without any right before the body', async () => {
      await refusedBeforeBody('', 'POST', '/v1/kms/default', 16 * MiB, true);
      await refusedBeforeBody(stranger.toK1(), 'POST', '/v1/kms', 16 * MiB, false);
      // A User of another enclave cannot act in this one either.
      await refusedBeforeBody(user.toK1(), 'POST', '/v1/kms/other', 16 * MiB, false);
    });

    it('anonymous floods of large bodies do not grow the workers', async () => {
      const watch = watchMemory([server.child.pid!, ...workers]);
      const flood = async (path: string, size: number): Promise<void> => {
        const c = await openRaw(server.endpoint, '');
        c.socket.write(requestHead('PUT', path, size));
        await c.pump(size);
        c.socket.destroy();
      };
      await Promise.all([
        ...Array.from({ length: 6 }, () => flood('/v1/db', 64 * MiB)),
        ...Array.from({ length: 12 }, () => flood('/v1/kms/default', 16 * MiB)),
      ]);
      const { total, perProcess } = watch.stop();
      // 576 MiB were offered; buffering them (as before) grows the workers by at least that.
      assert.ok(
        total < 160 * MiB,
        `server grew by ${mib(total)} (${[...perProcess.values()].map(mib).join(', ')})`,
      );
    });

    it('streams a restore to the state owner: a bad start is refused before the rest is sent', async () => {
      const c = await openRaw(server.endpoint, server.rootApiKey);
      try {
        c.socket.write(requestHead('PUT', '/v1/db', 256 * MiB));
        c.socket.write(Buffer.alloc(64 * 1024, 0x20));
        const responses = await c.until((r) => r.some((x) => x.status >= 200));
        assert.deepEqual(
          responses.map((r) => r.status),
          [400],
        );
        assert.match(responses[0]!.body.toString(), /not a Keyhold backup/);
      } finally {
        c.socket.destroy();
      }
    });

    it('a large restore body is not held whole by the worker that receives it', async () => {
      const watch = watchMemory(workers);
      const c = await openRaw(server.endpoint, server.rootApiKey);
      try {
        const size = 128 * MiB;
        c.socket.write(requestHead('PUT', '/v1/db', size));
        // A backup's first bytes, then bytes that will not open.
        const magic = Buffer.from('KEYHOLD-BACKUP\x01', 'latin1');
        c.socket.write(magic);
        await c.pump(size - magic.length);
        const responses = await c.until((r) => r.some((x) => x.status >= 200), 30_000);
        assert.deepEqual(
          responses.map((r) => r.status),
          [400],
        );
        assert.match(responses[0]!.body.toString(), /invalid backup/);
      } finally {
        c.socket.destroy();
      }
      const { perProcess } = watch.stop();
      for (const [pid, growth] of perProcess) {
        assert.ok(growth < 64 * MiB, `worker ${String(pid)} grew by ${mib(growth)}`);
      }
      // The node still serves.
      const root = clientFor(server.endpoint, server.rootApiKey, { enclave: 'default' });
      try {
        await root.live();
      } finally {
        root.close();
      }
    });
  });
}

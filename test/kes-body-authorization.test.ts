// KES routes with a body refuse a caller that may not use them before reading a byte of the
// body, with KES's own answers (400 without a certificate, 403 for an identity whose rights do
// not cover the request, 400 for a name outside the grammar): an `Expect: 100-continue` gets
// the refusal instead of `100 Continue`, and the connection closes instead of reading the body.
// And the bodies all connections of a process hold at once are bounded: past the budget a request
// is answered `503` before its body (kms-go's KES client retries a 503).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/sdk/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { assertRefusedBeforeBody, openRaw, requestHead } from './helpers/raw-tls.ts';
import type { RawConnection } from './helpers/raw-tls.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const MB = 1_000_000;
const MiB = 1024 * 1024;

for (const http of ['lean', 'node'] as const) {
  describe(`KES face, --http ${http}`, () => {
    let server: ServerProcess;
    /** A User of the default enclave allowed only to generate with key `gen-*`. */
    const user = ApiKey.generate();
    /** A certificate the server does not know. */
    const stranger = ApiKey.generate();

    before(async () => {
      server = await startServer({ args: ['--http', http, '--workers', '0'] });
      const root = clientFor(server.endpoint, server.rootApiKey, { enclave: 'default' });
      await root.createPolicy('gen', { allow: { 'KEY:GENERATE': ['gen-*'] } });
      await root.createIdentity(user.identity.toH1());
      await root.assignPolicy('gen', user.identity.toH1());
      await root.createKey('gen-1');
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
      expect: { status: number; message: string },
      expectContinue: boolean,
    ): Promise<void> =>
      assertRefusedBeforeBody(
        server.endpoint,
        apiKey,
        { method, path, length, expectContinue },
        { status: expect.status, body: `{"message":${JSON.stringify(expect.message)}\n}` },
      );

    const FORBIDDEN = { status: 403, message: 'not authorized: insufficient permissions' };
    const NO_CERT = { status: 400, message: 'tls: client certificate is required' };

    it('refuses a caller without a certificate before the body', async () => {
      for (const expectContinue of [true, false]) {
        await refusedBeforeBody('', 'PUT', '/v1/key/generate/gen-1', MB, NO_CERT, expectContinue);
        await refusedBeforeBody('', 'POST', '/v1/policy/write/p', MB, NO_CERT, expectContinue);
      }
    });

    it('refuses an unknown identity on every route with a body before the body', async () => {
      const routes: [string, string, number][] = [
        ['PUT', '/v1/key/import/k', MB],
        ['PUT', '/v1/key/generate/k', MB],
        ['POST', '/v1/key/encrypt/k', MB],
        ['PUT', '/v1/key/decrypt/k', MB],
        ['PUT', '/v1/key/hmac/k', MB],
        ['POST', '/v1/key/bulk/decrypt/k', 4 * MB],
        ['POST', '/v1/policy/write/p', MB],
        ['POST', '/v1/policy/assign/p', MB],
      ];
      for (const [method, path, size] of routes) {
        await refusedBeforeBody(stranger.toK1(), method, path, size, FORBIDDEN, true);
      }
    });

    it('refuses a User whose policy does not cover the request, in KES order', async () => {
      await refusedBeforeBody(user.toK1(), 'PUT', '/v1/key/decrypt/gen-1', MB, FORBIDDEN, true);
      await refusedBeforeBody(user.toK1(), 'PUT', '/v1/key/generate/other', MB, FORBIDDEN, false);
      // Name validation first, as before: an invalid name is a 400 for anyone.
      await refusedBeforeBody(
        user.toK1(),
        'PUT',
        '/v1/key/generate/bad.name',
        MB,
        {
          status: 400,
          message: "key name 'bad.name' is empty, too long or contains invalid characters",
        },
        true,
      );
    });

    it('lets an allowed caller send its body after 100 Continue', async () => {
      const c = await openRaw(server.endpoint, user.toK1());
      try {
        const body = Buffer.from('{"context":"e30="}');
        c.socket.write(
          requestHead('PUT', '/v1/key/generate/gen-1', body.length, 'Expect: 100-continue\r\n'),
        );
        const interim = await c.until((r) => r.length > 0);
        assert.deepEqual(
          interim.map((r) => r.status),
          [100],
        );
        c.socket.write(body);
        const responses = await c.until((r) => r.some((x) => x.status >= 200));
        assert.deepEqual(
          responses.map((r) => r.status),
          [100, 200],
        );
      } finally {
        c.socket.destroy();
      }
    });

    it('bounds the request bodies all connections hold at once: 503 past the budget', async () => {
      // 24 KMS bodies of 16 MiB announce 384 MiB, more than the process's 256 MiB budget.
      const open: RawConnection[] = [];
      try {
        for (let i = 0; i < 24; i++) {
          const c = await openRaw(server.endpoint, user.toK1());
          open.push(c);
          c.socket.write(requestHead('POST', '/v1/kms/default', 16 * MiB));
          c.socket.write(Buffer.alloc(1024));
        }
        await Promise.all(open.map((c) => c.until((r) => r.length > 0, 2000)));
        const busy = open.filter((c) => c.responses().some((r) => r.status === 503));
        const waiting = open.filter((c) => c.responses().length === 0);
        assert.equal(busy.length, 8, 'the bodies past the budget are refused');
        assert.equal(waiting.length, 16, 'the bodies within the budget are being read');
        const answer = busy[0]!.responses()[0]!;
        assert.match(answer.body.toString(), /request bodies/);
        assert.equal(answer.headers['retry-after'], '1');
        // The same holds for KES routes (legacy bulk decrypt takes 4 MB).
        const kes = await openRaw(server.endpoint, user.toK1());
        open.push(kes);
        kes.socket.write(requestHead('POST', '/v1/key/generate/gen-1', 4000));
        const [refused] = await kes.until((r) => r.length > 0);
        assert.equal(refused?.status, 503);
        assert.match(refused.body.toString(), /^\{"message":".*request bodies/);
      } finally {
        for (const c of open) c.socket.destroy();
      }
      // Closed connections give their share back: the next request is served.
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const c = await openRaw(server.endpoint, user.toK1());
        try {
          const body = Buffer.from('{}');
          c.socket.write(
            requestHead('PUT', '/v1/key/generate/gen-1', body.length) + body.toString(),
          );
          const responses = await c.until((r) => r.some((x) => x.status >= 200));
          status = responses.at(-1)?.status ?? 0;
        } finally {
          c.socket.destroy();
        }
      }
      assert.equal(status, 200);
    });
  });
}

// The readiness line (docs/cli.md#readiness): a server started with KEYHOLD_READY=1 prints, once
// it listens, one JSON line that says what its banner says (including what seals data keys).

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TEST_HSM_KEY, spawnServer, tempDir } from './helpers/server-process.ts';

describe('keyhold server readiness line', () => {
  it('tells the endpoint, the bound address and the root API key the banner shows', async () => {
    const { dir } = tempDir();
    const { server, ready } = await spawnServer(
      ['server', dir, '--address', '127.0.0.1:0', '--workers', '0'],
      { env: { KEYHOLD_HSM_KEY: TEST_HSM_KEY }, timeout: 60_000 },
    );
    try {
      const banner = server.output();
      assert.match(ready.address, /^127\.0\.0\.1:\d+$/);
      assert.equal(ready.endpoint, `https://${ready.address}`);
      assert.equal(/Endpoint:\s+(\S+)/.exec(banner)?.[1], ready.endpoint);
      assert.equal(/API Key:\s+(k1:\S+)/.exec(banner)?.[1], ready.apiKey);
      assert.equal(/Identity:\s+(h1:\S+)/.exec(banner)?.[1], ready.identity);
      assert.equal(ready.state, dir);
      assert.equal(ready.workers, 0);
      // Which implementation seals data keys: the banner says it and why.
      const crypto = (ready as unknown as { crypto: string }).crypto;
      assert.ok(crypto === 'native' || crypto === 'node:crypto', crypto);
      assert.match(
        banner,
        crypto === 'native' ? /Data keys:\s+native addon/ : /Data keys:\s+node:crypto \(/,
      );
      // One line, after the banner.
      assert.ok(banner.trimEnd().endsWith('}'));
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says node:crypto seals data keys under KEYHOLD_NATIVE_CRYPTO=0', async () => {
    const { dir } = tempDir();
    const { server, ready } = await spawnServer(
      ['server', dir, '--address', '127.0.0.1:0', '--workers', '0'],
      { env: { KEYHOLD_HSM_KEY: TEST_HSM_KEY, KEYHOLD_NATIVE_CRYPTO: '0' }, timeout: 15_000 },
    );
    try {
      assert.equal((ready as unknown as { crypto: string }).crypto, 'node:crypto');
      assert.match(server.output(), /Data keys:\s+node:crypto \(KEYHOLD_NATIVE_CRYPTO=0\)/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

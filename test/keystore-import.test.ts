// `keyhold kes import --from-config`: every key of a KES gateway's store (here an fs store in
// every historical format, read through the config file as a gateway reads it) copied into a
// Keyhold server's sealed state; ciphertexts made with the stored keys still decrypt; a re-run
// skips what is there.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeKesKeyValue, SecretKey } from '../src/crypto/index.ts';
import { KesClient } from '../src/sdk/index.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { kesEnv, runCli } from './kes-cli-run.ts';

describe('keyhold kes import --from-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-import-'));
  const store = join(dir, 'keys');
  const current = randomBytes(32);
  const legacy = randomBytes(32);
  let server: ServerProcess;

  before(async () => {
    mkdirSync(store);
    writeFileSync(
      join(store, 'current'),
      encodeKesKeyValue({
        key: new SecretKey('ChaCha20', current),
        hmacKey: randomBytes(32),
        createdAt: new Date(),
      }),
    );
    writeFileSync(join(store, 'legacy'), JSON.stringify({ bytes: legacy.toString('base64') }));
    writeFileSync(join(store, 'broken'), 'not a key');
    writeFileSync(
      join(dir, 'kes.yml'),
      `admin:\n  identity: disabled\nkeystore:\n  fs:\n    path: ${store}\n`,
    );
    server = await startServer();
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports every key, keeps its material, reports the broken one, and re-runs safely', async () => {
    const args = ['kes', 'import', '-k', '--from-config', join(dir, 'kes.yml')];
    const first = await runCli(args, { env: kesEnv(server) });
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stdout, /^failed\s+broken\s+not a KES key value: /m);
    assert.match(first.stdout, /^imported\s+current\s+\(ChaCha20, with its HMAC key\)/m);
    assert.match(first.stdout, /^imported\s+legacy\s+\(AES256, legacy key without HMAC key\)/m);
    assert.match(first.stdout, /2 imported, 0 skipped, 1 failed \(3 keys in fs /);

    const client = new KesClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      insecure: true,
    });
    for (const [name, type, bytes] of [
      ['current', 'ChaCha20', current],
      ['legacy', 'AES256', legacy],
    ] as const) {
      const sealed = new SecretKey(type, bytes).seal(Buffer.from(name), Buffer.from('c'));
      const opened = await client.decrypt(name, sealed, Buffer.from('c'));
      assert.equal(opened.toString(), name);
    }

    const again = await runCli(args, { env: kesEnv(server) });
    assert.match(again.stdout, /0 imported, 2 skipped, 1 failed/);
    const missing = await runCli(['kes', 'import', '-k'], { env: kesEnv(server) });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--from-config FILE is required/);
  });
});

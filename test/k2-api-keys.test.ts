// `k2:` (ECDSA) API keys end to end: the SDK and the CLI authenticate with them over mTLS to a
// real server, which knows the client by the SHA-256 of its ECDSA public key, and
// `keyhold identity k2:…` prints that identity. One server process (`--workers 0`); the CLI runs
// in-process (`main(argv, io)`), and the binary once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createECDH } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseApiKey } from '../src/identity/index.ts';
import { KMS_API_ERRORS } from '../src/sdk/index.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { clientFor, rejectsWith } from './helpers/kms-assert.ts';
import { CLI, startServer, type ServerProcess } from './helpers/server-process.ts';

/** A fresh `k2:` key on `curve`, its scalar written at the curve's fixed width. */
function k2Key(curve: string, width: number): string {
  const ecdh = createECDH(curve);
  ecdh.generateKeys();
  const raw = ecdh.getPrivateKey();
  const scalar = Buffer.concat([Buffer.alloc(width - raw.length), raw]);
  return 'k2:' + scalar.toString('base64url');
}

describe('k2: (ECDSA) API keys', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ args: ['--workers', '0'] });
  });
  after(async () => {
    await server.stop();
  });

  for (const [curve, width] of [
    ['prime256v1', 32],
    ['secp384r1', 48],
    ['secp521r1', 66],
  ] as const) {
    it(`a ${curve} key is refused until its identity exists, then works through SDK and CLI`, async () => {
      const key = k2Key(curve, width);
      const identity = parseApiKey(key).identity.toH1();
      const client = clientFor(server.endpoint, key);
      await rejectsWith(client.listKeys(), KMS_API_ERRORS.permission);

      const root = clientFor(server.endpoint, server.rootApiKey);
      await root.createIdentity(identity, { privilege: 'Admin' });
      const name = `k2-${curve}`;
      await client.createKey(name);
      const dek = await client.generateKey(name);
      assert.equal(dek.plaintext.length, 32);
      assert.deepEqual(await client.decrypt(name, dek.ciphertext), dek.plaintext);

      const printed = await runInProcess(['identity', key], {});
      assert.equal(printed.code, 0, printed.stderr);
      assert.equal(printed.stdout.trim(), identity);
      if (curve === 'prime256v1') {
        const binary = execFileSync(process.execPath, [CLI, 'identity', key], { encoding: 'utf8' });
        assert.equal(binary.trim(), identity);
      }
      const listed = await runInProcess(
        ['ls-key', '-k', '-s', server.endpoint, '-a', key, '--json'],
        {},
      );
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok(listed.stdout.includes(name), listed.stdout);
    });
  }
});

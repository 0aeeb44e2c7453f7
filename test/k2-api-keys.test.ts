// `k2:` (ECDSA) API keys end to end: the SDK and the CLI authenticate with them over mTLS to a
// real server, which knows the client by the SHA-256 of its ECDSA public key, and
// `keyhold identity k2:…` prints that identity.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createECDH } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseApiKey } from '../src/identity/index.ts';
import { KMS_API_ERRORS } from '../src/sdk/index.ts';
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
    server = await startServer();
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

      const printed = execFileSync(process.execPath, [CLI, 'identity', key], {
        encoding: 'utf8',
      });
      assert.equal(printed.trim(), identity);
      const listed = execFileSync(
        process.execPath,
        [CLI, 'ls-key', '-k', '-s', server.endpoint, '-a', key, '--json'],
        { encoding: 'utf8' },
      );
      assert.ok(listed.includes(name), listed);
    });
  }
});

// End to end: `keyhold kes import-fs DIR` moves a KES `fs` keystore (one file per key, current
// base64-protobuf values and legacy JSON values) into Keyhold: keys decrypt what the old KES
// encrypted, HMAC keys are kept, bad files are named and fail the run, a re-run skips.
import assert from 'node:assert/strict';
import { randomBytes, createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeKesKeyValue, SecretKey, type KeyType } from '../src/crypto/index.ts';
import { KesClient } from '../src/sdk/kes/index.ts';
import { startServer, tempDir, type ServerProcess } from './helpers/server-process.ts';
import { kesEnv, runCli } from './kes-cli-run.ts';

interface FsKey {
  readonly name: string;
  readonly type: KeyType;
  readonly key: Buffer;
  readonly hmacKey?: Buffer;
  readonly value: string;
}

const ADMIN = 'a'.repeat(64);

function protobufKey(name: string, type: KeyType): FsKey {
  const key = randomBytes(32);
  const hmacKey = randomBytes(32);
  const value = encodeKesKeyValue({
    key: new SecretKey(type, key),
    hmacKey,
    createdAt: new Date('2024-03-01T12:00:00.123Z'),
    createdBy: ADMIN,
  });
  return { name, type, key, hmacKey, value };
}

// Legacy values as KES ≤ 2024-01 wrote them (docs/protocol/kes.md), written by hand.
function legacyKey(name: string, type: KeyType, json: (b64: string) => unknown): FsKey {
  const key = randomBytes(32);
  return { name, type, key, value: JSON.stringify(json(key.toString('base64'))) };
}

describe('migration from a KES fs keystore', () => {
  let server: ServerProcess;
  const tmp = tempDir('keyhold-fs-keystore-');
  const good: FsKey[] = [
    protobufKey('aes-key', 'AES256'),
    protobufKey('chacha-key', 'ChaCha20'),
    legacyKey('legacy-v022', 'AES256', (bytes) => ({
      version: 'v1',
      bytes,
      algorithm: 'AES256-GCM_SHA256',
      created_at: '2022-03-01T10:00:00Z',
      created_by: ADMIN,
    })),
    legacyKey('legacy-xchacha', 'ChaCha20', (bytes) => ({
      bytes,
      algorithm: 'XCHACHA20-POLY1305',
      created_at: '2023-05-01T10:00:00.5Z',
      created_by: ADMIN,
    })),
    legacyKey('legacy_bare', 'AES256', (bytes) => ({ bytes })),
  ];
  const keystore = join(tmp.dir, 'keystore');
  const clean = join(tmp.dir, 'clean');
  const badFiles = ['.tmp-aes-key', 'broken', 'sub'];

  before(async () => {
    mkdirSync(keystore);
    mkdirSync(clean);
    for (const k of good) {
      writeFileSync(join(keystore, k.name), k.value, { mode: 0o600 });
      writeFileSync(join(clean, k.name), k.value, { mode: 0o600 });
    }
    // A leftover temp file (invalid key name), a file that is no key value, a directory.
    writeFileSync(join(keystore, '.tmp-aes-key'), good[0]!.value);
    writeFileSync(join(keystore, 'broken'), 'not a key value');
    mkdirSync(join(keystore, 'sub'));
    server = await startServer();
  });
  after(async () => {
    await server.stop();
    tmp.remove();
  });

  it('checks every file in a dry run without importing', async () => {
    const r = await runCli(['kes', 'import-fs', '--dry-run', clean], { env: kesEnv(server) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /5 to import, 0 skipped, 0 failed \(5 files in /);
    assert.match(r.stdout, /ok\s+chacha-key\s+\(ChaCha20, with its HMAC key\)/);
    assert.match(r.stdout, /ok\s+legacy_bare\s+\(AES256, legacy key without HMAC key\)/);
    const ls = await runCli(['kes', 'key', 'ls', '-k', '--json'], { env: kesEnv(server) });
    assert.deepEqual(JSON.parse(ls.stdout), []);
  });

  it('imports every key, names every bad file, and exits 1 because of them', async () => {
    const r = await runCli(['kes', 'import-fs', '-k', keystore], { env: kesEnv(server) });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const k of good)
      assert.match(r.stdout, new RegExp(`^imported\\s+${k.name}\\s+\\(${k.type}`, 'm'));
    assert.match(r.stdout, /^failed\s+\.tmp-aes-key\s+the file name is not a valid key name/m);
    assert.match(r.stdout, /^failed\s+broken\s+not a KES key value: /m);
    assert.match(r.stdout, /^failed\s+sub\s+not a regular file/m);
    assert.match(r.stdout, /\n5 imported, 0 skipped, 3 failed \(8 files in .*keystore\)\n$/);

    const ls = await runCli(['kes', 'key', 'ls', '-k', '--json'], { env: kesEnv(server) });
    assert.deepEqual(JSON.parse(ls.stdout), good.map((k) => k.name).sort());
  });

  it('keeps each key: ciphertexts of the old keystore decrypt, algorithms match, HMAC keys are kept', async () => {
    const client = new KesClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      insecure: true,
    });
    try {
      for (const k of good) {
        const context = Buffer.from(`{"bucket":"bucket/${k.name}"}`);
        const plaintext = randomBytes(32);
        const ciphertext = new SecretKey(k.type, k.key).seal(plaintext, context);
        assert.deepEqual(await client.decrypt(k.name, ciphertext, context), plaintext, k.name);
        assert.equal((await client.describeKey(k.name)).algorithm, k.type, k.name);
        if (k.hmacKey) {
          const message = Buffer.from('message');
          const expected = createHmac('sha256', k.hmacKey).update(message).digest();
          assert.deepEqual(
            await client.hmac(k.name, message),
            expected,
            `${k.name}: HMAC key kept`,
          );
        }
      }
    } finally {
      client.close();
    }
  });

  it('skips what is already there on a re-run, still naming the bad files', async () => {
    const r = await runCli(['kes', 'import-fs', '-k', '--json', keystore], { env: kesEnv(server) });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as {
      imported: string[];
      skipped: string[];
      failed: { file: string; error: string }[];
    };
    assert.deepEqual(out.imported, []);
    assert.deepEqual(out.skipped, good.map((k) => k.name).sort());
    assert.deepEqual(
      out.failed.map((f) => f.file),
      badFiles,
    );

    const cleanRun = await runCli(['kes', 'import-fs', '-k', clean], { env: kesEnv(server) });
    assert.equal(cleanRun.code, 0, cleanRun.stdout + cleanRun.stderr);
    assert.match(cleanRun.stdout, /^skipped\s+aes-key\s+already on the server with the same key$/m);
    assert.match(cleanRun.stdout, /0 imported, 5 skipped, 0 failed/);
  });

  it('fails for a name that exists on the server with a different key', async () => {
    const created = await runCli(['kes', 'key', 'create', '-k', 'taken'], { env: kesEnv(server) });
    assert.equal(created.code, 0, created.stderr);
    const dir = join(tmp.dir, 'clash');
    mkdirSync(dir);
    writeFileSync(join(dir, 'taken'), protobufKey('taken', 'AES256').value);
    const r = await runCli(['kes', 'import-fs', '-k', dir], { env: kesEnv(server) });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^failed\s+taken\s+the server's key 'taken' is a different key/m);
  });

  it('stops with a connection error when the server is unreachable, and names a missing directory', async () => {
    const down = await runCli(['kes', 'import-fs', '-k', '-s', '127.0.0.1:1', clean], {
      env: kesEnv(server),
    });
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /keyhold: failed to reach the server: kes: connection error: .*ECONNREFUSED/,
    );
    const missing = await runCli(['kes', 'import-fs', '-k', join(tmp.dir, 'nope')], {
      env: kesEnv(server),
    });
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /cannot read keystore directory '.*nope': no such file or directory/,
    );
  });
});

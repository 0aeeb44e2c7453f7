// End to end: MinIO's static key (MINIO_KMS_SECRET_KEY=name:base64) moves to Keyhold with
// `keyhold kes import-minio-key`, and every ciphertext format MinIO's builtin KMS wrote (raw
// AES; legacy JSON with AES-256-GCM-HMAC-SHA-256 or ChaCha20Poly1305) then decrypts with the
// context MinIO sends, through the KES API (CLI and SDK) and the KMS API (KEY:DECRYPT, version 0).
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hchacha20 } from '../src/crypto/index.ts';
import { KES_ERRORS, KesClient, KesError } from '../src/sdk/kes/index.ts';
import { KmsClient } from '../src/sdk/index.ts';
import { startServer, tempDir, type ServerProcess } from './helpers/server-process.ts';
import { cleanEnv, kesEnv, runCli } from './kes-cli-run.ts';

type Aead = 'AES-256-GCM-HMAC-SHA-256' | 'ChaCha20Poly1305';

/** Seals `plaintext` as MinIO's builtin KMS does (docs/protocol/kes.md): returns the raw parts. */
function minioSeal(key: Buffer, aead: Aead, plaintext: Buffer, context: Buffer) {
  const iv = randomBytes(16);
  const nonce = randomBytes(12);
  const cipher =
    aead === 'AES-256-GCM-HMAC-SHA-256'
      ? createCipheriv('aes-256-gcm', createHmac('sha256', key).update(iv).digest(), nonce)
      : createCipheriv('chacha20-poly1305', hchacha20(key, iv), nonce, { authTagLength: 16 });
  cipher.setAAD(context);
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { iv, nonce, sealed };
}

/** Current MinIO (secret-key.go): raw `sealed ‖ iv ‖ nonce`, always AES. */
function minioRaw(key: Buffer, plaintext: Buffer, context: Buffer): Buffer {
  const { iv, nonce, sealed } = minioSeal(key, 'AES-256-GCM-HMAC-SHA-256', plaintext, context);
  return Buffer.concat([sealed, iv, nonce]);
}

/** MinIO 2020–2024 (single-key.go): JSON without an id. */
function minioJson(key: Buffer, aead: Aead, plaintext: Buffer, context: Buffer): Buffer {
  const { iv, nonce, sealed } = minioSeal(key, aead, plaintext, context);
  return Buffer.from(
    JSON.stringify({
      aead,
      iv: iv.toString('base64'),
      nonce: nonce.toString('base64'),
      bytes: sealed.toString('base64'),
    }),
  );
}

describe('migration from MINIO_KMS_SECRET_KEY', () => {
  let server: ServerProcess;
  const name = 'minio-default-key';
  const secret = randomBytes(32);
  const minioSecretKey = `${name}:${secret.toString('base64')}`;
  // Contexts MinIO sends: an object's, and the empty one of its own checks.
  const objectContext = Buffer.from('{"my-bucket":"my-bucket/photos/2024/cat.jpg"}');
  const emptyContext = Buffer.from('{}');
  const cases: { label: string; ciphertext: Buffer; context: Buffer; plaintext: Buffer }[] = [];

  before(async () => {
    server = await startServer();
    for (const context of [objectContext, emptyContext]) {
      const dek = () => randomBytes(32);
      let p = dek();
      cases.push({
        label: `raw AES ${context.toString()}`,
        ciphertext: minioRaw(secret, p, context),
        context,
        plaintext: p,
      });
      p = dek();
      cases.push({
        label: `JSON AES ${context.toString()}`,
        ciphertext: minioJson(secret, 'AES-256-GCM-HMAC-SHA-256', p, context),
        context,
        plaintext: p,
      });
      p = dek();
      cases.push({
        label: `JSON ChaCha20 ${context.toString()}`,
        ciphertext: minioJson(secret, 'ChaCha20Poly1305', p, context),
        context,
        plaintext: p,
      });
    }
  });
  after(() => server.stop());

  it('imports the key, checks it, and prints the MinIO settings', async () => {
    const r = await runCli(['kes', 'import-minio-key', '-k'], {
      env: kesEnv(server, { MINIO_KMS_SECRET_KEY: minioSecretKey }),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Imported MinIO's static key '${name}' as an AES256 key`));
    assert.match(r.stdout, new RegExp(`MINIO_KMS_KES_ENDPOINT=https://${server.endpoint}\\n`));
    assert.match(r.stdout, new RegExp(`MINIO_KMS_KES_KEY_NAME=${name}\\n`));
    assert.match(r.stdout, /MINIO_KMS_KES_API_KEY=/);
    assert.ok(!r.stdout.includes(secret.toString('base64')), 'the secret is never printed');
    const info = await runCli(['kes', 'key', 'info', name, '--json', '-k'], {
      env: kesEnv(server),
    });
    assert.equal((JSON.parse(info.stdout) as { algorithm: string }).algorithm, 'AES256');
  });

  it('decrypts every MinIO ciphertext format through the KES API with the kes CLI', async () => {
    for (const c of cases) {
      const r = await runCli(
        [
          'kes',
          'key',
          'decrypt',
          '-k',
          '--json',
          name,
          c.ciphertext.toString('base64'),
          c.context.toString('base64'),
        ],
        { env: kesEnv(server) },
      );
      assert.equal(r.code, 0, `${c.label}: ${r.stderr}`);
      assert.equal(
        (JSON.parse(r.stdout) as { plaintext: string }).plaintext,
        c.plaintext.toString('base64'),
        c.label,
      );
    }
  });

  it('decrypts them through the KES API with the SDK, and refuses a wrong context', async () => {
    const client = new KesClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      insecure: true,
    });
    try {
      for (const c of cases) {
        assert.deepEqual(await client.decrypt(name, c.ciphertext, c.context), c.plaintext, c.label);
        const wrong = await client
          .decrypt(name, c.ciphertext, Buffer.from('{"other":"other/x"}'))
          .catch((e: unknown) => e);
        assert.ok(KesError.matches(wrong, KES_ERRORS.decrypt), `${c.label}: ${String(wrong)}`);
      }
      // What MinIO does next with the same key works too: new DEKs that decrypt.
      const dek = await client.generateKey(name, objectContext);
      assert.deepEqual(await client.decrypt(name, dek.ciphertext, objectContext), dek.plaintext);
    } finally {
      client.close();
    }
  });

  it('decrypts them through the KMS API (KEY:DECRYPT with version 0)', async () => {
    const kms = new KmsClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      tls: { insecure: true },
    });
    for (const c of cases) {
      const plaintext = await kms.decrypt(name, c.ciphertext, {
        associatedData: c.context,
        version: 0,
      });
      assert.deepEqual(plaintext, c.plaintext, c.label);
    }
  });

  it('is safe to run again, and refuses a different key under the same name', async () => {
    const again = await runCli(['kes', 'import-minio-key', '-k', minioSecretKey, '--json'], {
      env: kesEnv(server),
    });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { name, status: 'already-imported' });

    const other = `${name}:${randomBytes(32).toString('base64')}`;
    const clash = await runCli(['kes', 'import-minio-key', '-k', other], { env: kesEnv(server) });
    assert.equal(clash.code, 1);
    assert.match(
      clash.stderr,
      /^keyhold: failed to import MinIO's key 'minio-default-key': the server's key 'minio-default-key' is a different key \(or algorithm\) than the one imported\n$/,
    );
  });

  it('reads the key from MINIO_KMS_SECRET_KEY_FILE and rejects malformed keys before connecting', async () => {
    const tmp = tempDir('keyhold-minio-key-');
    try {
      const file = join(tmp.dir, 'kms-secret');
      writeFileSync(file, minioSecretKey + '\n', { mode: 0o600 });
      const viaEnv = await runCli(['kes', 'import-minio-key', '-k', '--json'], {
        env: kesEnv(server, { MINIO_KMS_SECRET_KEY_FILE: file }),
      });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.deepEqual(JSON.parse(viaEnv.stdout), { name, status: 'already-imported' });
      const other = join(tmp.dir, 'other-secret');
      writeFileSync(other, `from-file:${randomBytes(32).toString('base64')}`, { mode: 0o600 });
      const viaFlag = await runCli(['kes', 'import-minio-key', '-k', '--json', '--file', other], {
        env: kesEnv(server),
      });
      assert.equal(viaFlag.code, 0, viaFlag.stderr);
      assert.deepEqual(JSON.parse(viaFlag.stdout), { name: 'from-file', status: 'imported' });
      const missing = await runCli(['kes', 'import-minio-key', '--file', join(tmp.dir, 'nope')], {
        env: kesEnv(server),
      });
      assert.equal(missing.code, 1);
      assert.match(
        missing.stderr,
        /cannot read MinIO secret key file '.*nope': no such file or directory/,
      );
    } finally {
      tmp.remove();
    }

    const noColon = await runCli(['kes', 'import-minio-key', 'just-base64'], { env: cleanEnv() });
    assert.equal(noColon.code, 2);
    assert.match(noColon.stderr, /a MinIO secret key is 'NAME:BASE64', found no ':'/);
    const short = await runCli(
      ['kes', 'import-minio-key', `k:${randomBytes(16).toString('base64')}`],
      { env: cleanEnv() },
    );
    assert.equal(short.code, 2);
    assert.match(short.stderr, /must be the base64 of 32 bytes/);
    const badName = await runCli(
      ['kes', 'import-minio-key', `my.key:${secret.toString('base64')}`],
      { env: cleanEnv() },
    );
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /'my\.key' is not a valid KES key name/);
    const none = await runCli(['kes', 'import-minio-key'], { env: cleanEnv() });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no key: give NAME:BASE64/);
  });

  it('also works as plain `kes key import NAME KEY` (key read from stdin)', async () => {
    const key = randomBytes(32);
    const imported = await runCli(['kes', 'key', 'import', '-k', 'plain-import', '-'], {
      env: kesEnv(server),
      input: key.toString('base64') + '\n',
    });
    assert.equal(imported.code, 0, imported.stderr);
    const ciphertext = minioJson(key, 'ChaCha20Poly1305', Buffer.from('dek'), emptyContext);
    const r = await runCli(
      [
        'kes',
        'key',
        'decrypt',
        '-k',
        'plain-import',
        ciphertext.toString('base64'),
        emptyContext.toString('base64'),
      ],
      { env: kesEnv(server) },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^plaintext\\s+${Buffer.from('dek').toString('base64')}\\n$`),
    );
  });
});

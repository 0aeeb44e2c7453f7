// The KMS face never echoes a secret: an API key (`k1:`, `k2:`, `kes:v1:`), an HSM key or a
// MinIO KMS secret key given where a key name, a listing prefix, a privilege, an algorithm or an
// enclave goes is neither quoted in the error message (protobuf or JSON) nor written to the
// audit log, against a real server with an audit log file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KmsApiError } from '../src/sdk/index.ts';
import type { KeyType, KmsClient, Privilege } from '../src/sdk/index.ts';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

let server: ServerProcess;
let root: KmsClient;
let sent = 0;
const logs = tempDir();
const auditFile = join(logs.dir, 'audit.ndjson');

before(async () => {
  server = await startServer({ args: ['--audit-log', auditFile] });
  root = clientFor(server.endpoint, server.rootApiKey, { enclave: 'default' });
});
after(async () => {
  root.close();
  await server.stop();
  logs.remove();
});

const SECRETS: Record<string, { text: string; body: string }> = {};
const add = (what: string, prefix: string, body: string): void => {
  SECRETS[what] = { text: prefix + body, body };
};
add('k1: API key', 'k1:', ApiKey.generate('k1').toK1().slice(3));
add('k2: API key', 'k2:', randomBytes(48).toString('base64url'));
add('kes:v1: API key', 'kes:v1:', ApiKey.generate('kes').toText().slice('kes:v1:'.length));
add('HSM key', 'hsm:aes256:', randomBytes(32).toString('base64'));
add('MinIO KMS secret key', 'my-minio-key:', randomBytes(32).toString('base64'));

function assertHidden(text: string, body: string, where: string): void {
  const probe = body.slice(8, 28);
  for (const trace of [probe, encodeURIComponent(probe)]) {
    assert.ok(!text.includes(trace), `${where} shows the secret (${trace}):\n${text}`);
  }
}

/** The error message of a refused call (every call here must be refused). */
async function message(call: Promise<unknown>): Promise<string> {
  sent++;
  try {
    await call;
  } catch (error) {
    if (error instanceof KmsApiError) return `${String(error.status)} ${error.message}`;
    throw error;
  }
  assert.fail('the call succeeded');
}

describe('KMS face: secrets are never echoed or audited', () => {
  for (const [what, { text, body }] of Object.entries(SECRETS)) {
    it(what, async () => {
      const answers = [
        await message(root.createKey(text)),
        await message(root.createKey(`name-${text}`)),
        await message(root.keyStatus(text)),
        await message(root.listKeys({ prefix: text })),
        await message(root.createPolicy(text, { allow: {} })),
        await message(root.createKey('ok-name', { type: text as KeyType })),
        await message(
          root.createIdentity(ApiKey.generate().identity.toH1(), { privilege: text as Privilege }),
        ),
        await message(root.createIdentity(text)),
        await message(root.keyStatus('ok-name', { enclave: text })),
      ];
      for (const answer of answers) assertHidden(answer, body, `error '${answer}'`);
      // Something was said about each (the test would pass vacuously on empty messages).
      assert.ok(
        answers.some((a) => a.includes('[redacted]')),
        answers.join('\n'),
      );
    });
  }

  it('nor in JSON error bodies', async () => {
    for (const { text, body } of Object.values(SECRETS)) {
      sent++;
      const res = await rawRequest(
        server.endpoint,
        server.rootApiKey,
        'POST',
        '/v1/kms/default',
        encodeKmsRequest('KEY:CREATE', [{ name: text, type: '', addVersion: false }]),
        { Accept: 'application/json' },
      );
      assert.equal(res.status, 400);
      assert.match(String(res.headers['content-type']), /json/);
      assertHidden(res.body.toString(), body, 'JSON error');
    }
  });

  it('nor in the audit log', async () => {
    const file = auditFile;
    let log = '';
    for (let i = 0; i < 50; i++) {
      log = readFileSync(file, 'utf8');
      if (log.split('\n').filter(Boolean).length >= sent) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(log.split('\n').filter(Boolean).length >= sent, 'one audit record per request');
    for (const { body } of Object.values(SECRETS)) assertHidden(log, body, 'the audit log');
  });
});

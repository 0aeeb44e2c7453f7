// A tenant's policy patterns cannot freeze the server: patterns built to make a backtracking
// matcher explode, and names far longer than the grammar allows, are answered at once on both
// faces, and the server keeps serving everyone else.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KMS_API_ERRORS } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor, rejectsWith } from './helpers/kms-assert.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { apiKeyCert, errorBody, kes } from './kes-server-support.ts';
import type { ClientCert } from './kes-server-support.ts';

const ENCLAVE = 'tenant';
/** About n^9/9! ways to place the stars over n characters: ~10^11 for 80. */
const EXPLOSIVE = '*a*a*a*a*a*a*a*a*a*b';
const LONG = 'a'.repeat(80); // the longest valid name

let server: ServerProcess;
let root: KmsClient;
let user: KmsClient;
let userCert: ClientCert;

before(async () => {
  server = await startServer();
  root = clientFor(server.endpoint, server.rootApiKey, { enclave: ENCLAVE, timeout: 20_000 });
  await root.createEnclave(ENCLAVE);
  await root.createKey('app-1-key-2-v1');
  await root.createPolicy('tricky', {
    allow: { 'KEY:GENERATE': [EXPLOSIVE], 'KEY:STATUS': ['app-*-key-*-v1'] },
  });
  const key = ApiKey.generate();
  await root.createIdentity(key.identity.toH1());
  await root.assignPolicy('tricky', key.identity.toH1());
  user = clientFor(server.endpoint, key.toK1(), { enclave: ENCLAVE, timeout: 20_000 });
  userCert = apiKeyCert(key);
  // The same kind of pattern as a legacy KES glob, written through the KES face.
  const rootCert = apiKeyCert(server.rootApiKey);
  const write = await kes(
    server.endpoint,
    rootCert,
    'POST',
    `/v1/policy/write/tricky?enclave=${ENCLAVE}`,
    { body: { allow: [`/v1/key/generate/${EXPLOSIVE}`, '/v1/key/describe/app-*-key-*-v1'] } },
  );
  assert.equal(write.status, 200, write.text);
});

after(async () => {
  user.close();
  root.close();
  // SIGKILL: a server stuck in a match would not get to its SIGTERM handler.
  await server.kill();
});

describe('policy patterns are matched without backtracking', () => {
  it('KMS: an explosive pattern against an 80-character name is decided at once', async () => {
    await rejectsWith(user.generateKey(LONG), KMS_API_ERRORS.permission);
    await rejectsWith(user.generateKeyBatch(Array(50).fill({ name: LONG })), {
      status: 403,
      message: /insufficient permissions/,
    });
    await rejectsWith(user.generateKey(`${LONG.slice(1)}b`), KMS_API_ERRORS.keyNotFound);
    assert.equal((await user.keyStatus('app-1-key-2-v1')).name, 'app-1-key-2-v1');
  });

  it('KES: an explosive legacy glob against an 80-character name is decided at once', async () => {
    const res = await kes(
      server.endpoint,
      userCert,
      'PUT',
      `/v1/key/generate/${LONG}?enclave=${ENCLAVE}`,
    );
    assert.equal(res.status, 403, res.text);
    assert.equal(res.text, errorBody('not authorized: insufficient permissions'));
  });

  it('KMS: a name beyond the grammar is refused before any pattern sees it', async () => {
    // 1 MiB names: quadratic for a backtracking `app-*-key-*-v1`, hopeless for the other.
    const huge = 'app-' + '-key-'.repeat(200_000) + 'v2';
    await rejectsWith(user.keyStatus(huge), { status: 400, message: /^key name '.*' is empty/ });
    await rejectsWith(user.generateKey('a'.repeat(1 << 20)), {
      status: 400,
      message: /^key name/,
    });
    // A caller with no rights in the enclave is refused before its body is even read.
    const stranger = clientFor(server.endpoint, ApiKey.generate().toK1(), { enclave: ENCLAVE });
    try {
      await rejectsWith(stranger.keyStatus(huge), { status: 403, message: /^access denied/ });
    } finally {
      stranger.close();
    }
  });

  it('the server still serves everyone', async () => {
    assert.equal((await root.generateKey('app-1-key-2-v1')).plaintext.length, 32);
  });
});

// No answer tells an enclave's Admin whether an identity exists in another enclave it cannot
// see. Identities are registered per enclave: `IDENTITY:CREATE` in enclave A of an identity that
// exists in enclave B succeeds (a record of A, independent of B's), and every probe from A —
// create, status, delete, policy assignment, list, keys and enclave commands naming B — answers
// the same whether the identity (or key, or enclave) exists in B or nowhere, on both faces.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KmsApiError } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor } from './helpers/kms-assert.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { apiKeyCert, kes } from './kes-server-support.ts';

let server: ServerProcess;
let root: KmsClient;
const adminA = ApiKey.generate(); // Admin of enclave A: the prober
const userB = ApiKey.generate(); // a User of B with a policy
const sysB = ApiKey.generate(); // a SysAdmin whose record is in B
const clients: KmsClient[] = [];
const h1 = (key: ApiKey): string => key.identity.toH1();
const fresh = (): string => h1(ApiKey.generate());
const client = (key: ApiKey, enclave: string): KmsClient => {
  const c = clientFor(server.endpoint, key.toK1(), { enclave });
  clients.push(c);
  return c;
};

/** What a call answered: `ok` or its exact error (status and message). */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    if (error instanceof KmsApiError) return `${String(error.status)} ${error.message}`;
    throw error;
  }
}

before(async () => {
  server = await startServer();
  root = clientFor(server.endpoint, server.rootApiKey);
  await root.createEnclave('a');
  await root.createEnclave('b');
  await root.createIdentity(h1(adminA), { privilege: 'Admin', enclave: 'a' });
  await root.createPolicy('reader', { allow: { 'KEY:STATUS': ['*'] } }, { enclave: 'b' });
  await root.createIdentity(h1(userB), { enclave: 'b' });
  await root.assignPolicy('reader', h1(userB), { enclave: 'b' });
  await root.createIdentity(h1(sysB), { privilege: 'SysAdmin', enclave: 'b' });
  await root.createKey('secret-b', { enclave: 'b' });
  await root.createPolicy('p', { allow: {} }, { enclave: 'a' });
});

after(async () => {
  for (const c of clients) c.close();
  root.close();
  await server.stop();
});

describe('KMS face: an Admin of A probing B', () => {
  it('status, delete and policy assignment answer as for an identity that exists nowhere', async () => {
    const a = client(adminA, 'a');
    for (const probe of [
      (id: string) => a.identityStatus(id),
      (id: string) => a.deleteIdentity(id),
      (id: string) => a.assignPolicy('p', id),
    ]) {
      const absent = await outcome(probe(fresh()));
      assert.equal(absent, '404 identity does not exist');
      assert.equal(await outcome(probe(h1(userB))), absent);
      assert.equal(await outcome(probe(h1(sysB))), absent);
    }
    const listed = await a.listIdentities();
    assert.deepEqual(
      listed.items.map((i) => i.identity),
      [h1(adminA)],
    );
  });

  it('IDENTITY:CREATE succeeds as for a new identity and leaves B untouched', async () => {
    const a = client(adminA, 'a');
    assert.equal(await outcome(a.createIdentity(fresh())), 'ok');
    assert.equal(await outcome(a.createIdentity(h1(userB))), 'ok');
    assert.equal(await outcome(a.createIdentity(h1(sysB))), 'ok');
    // Creating it again in A is the ordinary conflict, visible inside A.
    assert.equal(await outcome(a.createIdentity(h1(userB))), '409 identity already exists');

    const inB = await root.identityStatus(h1(userB), { enclave: 'b' });
    assert.equal(inB.privilege, 'User');
    assert.equal(inB.policy, 'reader');
    const inA = await a.identityStatus(h1(userB));
    assert.equal(inA.privilege, 'User');
    assert.equal(inA.policy, '');
    // The identity keeps B's rights in B and has only A's (none) in A.
    assert.equal((await client(userB, 'b').keyStatus('secret-b')).name, 'secret-b');
    assert.equal(
      await outcome(client(userB, 'a').listKeys()),
      '403 access denied: insufficient permissions',
    );
    // The SysAdmin keeps its rights; A's Admin deleting A's record cannot touch them.
    await a.deleteIdentity(h1(sysB));
    assert.equal((await root.identityStatus(h1(sysB), { enclave: 'b' })).privilege, 'SysAdmin');
    await client(sysB, 'b').listEnclaves();
    // Deleting A's record of the User leaves B's.
    await a.deleteIdentity(h1(userB));
    assert.equal((await client(userB, 'b').keyStatus('secret-b')).name, 'secret-b');
  });

  it('keys and enclave commands naming B answer as for a missing enclave or key', async () => {
    const a = client(adminA, 'a');
    const denied = '403 access denied: insufficient permissions';
    assert.equal(await outcome(a.keyStatus('secret-b', { enclave: 'b' })), denied);
    assert.equal(await outcome(a.keyStatus('nothing', { enclave: 'b' })), denied);
    assert.equal(await outcome(a.keyStatus('secret-b', { enclave: 'no-such' })), denied);
    assert.equal(await outcome(a.identityStatus(h1(userB), { enclave: 'b' })), denied);
    assert.equal(await outcome(a.identityStatus(fresh(), { enclave: 'no-such' })), denied);
    assert.equal(await outcome(a.enclaveStatus('b')), denied);
    assert.equal(await outcome(a.enclaveStatus('no-such')), denied);
    assert.equal(await outcome(a.createEnclave('b')), denied);
    assert.equal(await outcome(a.deleteEnclave('no-such')), denied);
  });
});

describe('KES face: an Admin of A probing B', () => {
  const hex = (id: string): string => Buffer.from(id.slice(3), 'base64url').toString('hex');
  const call = async (method: string, path: string): Promise<string> => {
    const res = await kes(server.endpoint, apiKeyCert(adminA), method, path);
    return `${String(res.status)} ${res.text}`;
  };

  it('identity describe and delete answer as for an identity that exists nowhere', async () => {
    const other = ApiKey.generate();
    await root.createIdentity(h1(other), { enclave: 'b' });
    for (const [method, route] of [
      ['GET', '/v1/identity/describe/'],
      ['DELETE', '/v1/identity/delete/'],
    ] as const) {
      const absent = await call(method, `${route}${hex(fresh())}?enclave=a`);
      assert.match(absent, /^404 /);
      assert.equal(await call(method, `${route}${hex(h1(other))}?enclave=a`), absent);
      assert.equal(await call(method, `${route}${hex(h1(sysB))}?enclave=a`), absent);
    }
  });

  it('keys of B answer as keys of a missing enclave', async () => {
    const existing = await call('GET', '/v1/key/describe/secret-b?enclave=b');
    assert.match(existing, /^403 /);
    assert.equal(await call('GET', '/v1/key/describe/nothing?enclave=b'), existing);
    assert.equal(await call('GET', '/v1/key/describe/secret-b?enclave=no-such'), existing);
  });
});

// IDENTITY:CREATE never rewrites an existing identity: creating one that exists is `409 identity
// already exists` for every caller, so nobody demotes a higher identity (then deletes it), turns
// another identity into its own service account, or builds a parent cycle.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KMS_API_ERRORS } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor, rejectsWith } from './helpers/kms-assert.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const ENCLAVE = 'tenant';
const EXISTS = { status: 409, message: 'identity already exists' } as const;
let server: ServerProcess;
let root: KmsClient;
const sysadmin = ApiKey.generate();
const admin = ApiKey.generate();
const user = ApiKey.generate(); // a User whose policy may create and delete identities
const peer = ApiKey.generate(); // another User
const clients: KmsClient[] = [];
const client = (key: ApiKey): KmsClient => {
  const c = clientFor(server.endpoint, key.toK1(), { enclave: ENCLAVE });
  clients.push(c);
  return c;
};
const h1 = (key: ApiKey): string => key.identity.toH1();

before(async () => {
  server = await startServer();
  root = clientFor(server.endpoint, server.rootApiKey, { enclave: ENCLAVE });
  await root.createEnclave(ENCLAVE);
  await root.createPolicy('creator', {
    allow: { 'IDENTITY:CREATE': ['*'], 'IDENTITY:DELETE': ['*'], 'IDENTITY:STATUS': ['*'] },
  });
  await root.createIdentity(h1(sysadmin), { privilege: 'SysAdmin' });
  await root.createIdentity(h1(admin), { privilege: 'Admin' });
  await root.createIdentity(h1(user));
  await root.assignPolicy('creator', h1(user));
  await root.createIdentity(h1(peer));
});

after(async () => {
  for (const c of clients) c.close();
  root.close();
  await server.stop();
});

describe('IDENTITY:CREATE of an existing identity', () => {
  it('an Admin cannot demote a SysAdmin (and so cannot delete it)', async () => {
    await rejectsWith(client(admin).createIdentity(h1(sysadmin)), EXISTS);
    const status = await root.identityStatus(h1(sysadmin));
    assert.equal(status.privilege, 'SysAdmin');
    await rejectsWith(client(admin).deleteIdentity(h1(sysadmin)), KMS_API_ERRORS.permission);
    await client(sysadmin).listEnclaves();
  });

  it('a User cannot demote an Admin', async () => {
    await rejectsWith(client(user).createIdentity(h1(admin)), EXISTS);
    assert.equal((await root.identityStatus(h1(admin))).privilege, 'Admin');
    await client(admin).listKeys();
  });

  it('a User cannot make another User its service account', async () => {
    await rejectsWith(client(user).createIdentity(h1(peer), { serviceAccount: true }), EXISTS);
    assert.equal((await root.identityStatus(h1(peer))).isServiceAccount, false);
    assert.deepEqual((await root.identityStatus(h1(user))).serviceAccounts, []);
  });

  it('a service account cannot make its parent its own service account (no cycle)', async () => {
    const account = ApiKey.generate();
    await client(user).createIdentity(h1(account), { serviceAccount: true });
    await rejectsWith(client(account).createIdentity(h1(user), { serviceAccount: true }), EXISTS);
    const status = await root.identityStatus(h1(user));
    assert.equal(status.isServiceAccount, false);
    assert.deepEqual(status.serviceAccounts, [h1(account)]);
  });

  it('the root cannot overwrite an identity either; delete and create replaces it', async () => {
    await rejectsWith(root.createIdentity(h1(peer), { privilege: 'Admin' }), EXISTS);
    assert.equal((await root.identityStatus(h1(peer))).privilege, 'User');
    await root.deleteIdentity(h1(peer));
    await root.createIdentity(h1(peer), { privilege: 'Admin' });
    assert.equal((await root.identityStatus(h1(peer))).privilege, 'Admin');
  });
});

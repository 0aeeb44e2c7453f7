// POLICY:ASSIGN (and KES's legacy /v1/policy/assign/) never lets a caller raise its own rights:
// a User allowed to assign policies may give them to others, but not to itself nor to the
// identity whose rights it exercises as a service account.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KMS_API_ERRORS } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor, rejectsWith } from './helpers/kms-assert.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { apiKeyCert, errorBody, kes } from './kes-server-support.ts';

const ENCLAVE = 'tenant';
let server: ServerProcess;
let root: KmsClient;
const user = ApiKey.generate(); // a User whose policy may assign every policy
const peer = ApiKey.generate(); // another User of the enclave
const admin = ApiKey.generate(); // the enclave's Admin
const account = ApiKey.generate(); // a service account of `user`
const stranger = ApiKey.generate(); // a User of another enclave
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
  await root.createEnclave('other');
  await root.createPolicy('delegate', {
    allow: { 'POLICY:ASSIGN': ['*'], 'IDENTITY:CREATE': ['*'], 'KEY:STATUS': ['*'] },
  });
  await root.createPolicy('powerful', { allow: { 'KEY:CREATE': ['*'], 'KEY:STATUS': ['*'] } });
  await root.createIdentity(h1(user));
  await root.assignPolicy('delegate', h1(user));
  await root.createIdentity(h1(peer));
  await root.createIdentity(h1(admin), { privilege: 'Admin' });
  await root.createIdentity(h1(stranger), { enclave: 'other' });
  await client(user).createIdentity(h1(account), { serviceAccount: true });
});

after(async () => {
  for (const c of clients) c.close();
  root.close();
  await server.stop();
});

describe('POLICY:ASSIGN to oneself (KMS API)', () => {
  it('a User cannot assign a policy to itself', async () => {
    await rejectsWith(client(user).assignPolicy('powerful', h1(user)), KMS_API_ERRORS.permission);
    assert.equal((await root.identityStatus(h1(user))).policy, 'delegate');
    await rejectsWith(client(user).createKey('mine'), KMS_API_ERRORS.permission);
  });

  it('nor can its service account assign one to the identity whose rights it exercises', async () => {
    await rejectsWith(
      client(account).assignPolicy('powerful', h1(user)),
      KMS_API_ERRORS.permission,
    );
    assert.equal((await root.identityStatus(h1(user))).policy, 'delegate');
    await rejectsWith(client(account).createKey('mine'), KMS_API_ERRORS.permission);
  });

  it('it may still assign policies to other Users of its enclave', async () => {
    await client(user).assignPolicy('powerful', h1(peer));
    assert.equal((await root.identityStatus(h1(peer))).policy, 'powerful');
    await client(peer).createKey('by-peer');
  });

  it('never to an Admin, nor to an identity of another enclave', async () => {
    await rejectsWith(client(user).assignPolicy('powerful', h1(admin)), {
      status: 400,
      message: /user identities/,
    });
    await rejectsWith(
      client(user).assignPolicy('powerful', h1(stranger)),
      KMS_API_ERRORS.identityNotFound,
    );
  });

  it('the root and Admins assign as before', async () => {
    await root.assignPolicy('delegate', h1(peer));
    await client(admin).assignPolicy('powerful', h1(peer));
    assert.equal((await root.identityStatus(h1(peer))).policy, 'powerful');
  });
});

describe('/v1/policy/assign/ to oneself (KES API)', () => {
  const assign = (who: ApiKey, policy: string, identity: ApiKey) =>
    kes(
      server.endpoint,
      apiKeyCert(who),
      'POST',
      `/v1/policy/assign/${policy}?enclave=${ENCLAVE}`,
      {
        body: { identity: identity.identity.toHex() },
      },
    );

  it('answers 403 identity cannot assign policy to itself, as KES', async () => {
    const res = await assign(user, 'powerful', user);
    assert.equal(res.status, 403, res.text);
    assert.equal(res.text, errorBody('identity cannot assign policy to itself'));
    assert.equal((await root.identityStatus(h1(user))).policy, 'delegate');
  });

  it('a service account is refused for its parent too', async () => {
    const res = await assign(account, 'powerful', user);
    assert.equal(res.status, 403, res.text);
    assert.equal(res.text, errorBody('identity cannot assign policy to itself'));
  });

  it('assigning to another identity works', async () => {
    const res = await assign(user, 'delegate', peer);
    assert.equal(res.status, 200, res.text);
    assert.equal((await root.identityStatus(h1(peer))).policy, 'delegate');
  });
});

// Deleting an identity, by any route, deletes its service accounts wherever they live: deleting
// an enclave removes the service accounts its identities made in other enclaves, so re-creating
// a parent never hands its rights back to them — also after a restart replays the log. One
// server process (`--workers 0`): the state's rules are the subject, not the process model.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KMS_API_ERRORS } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor, rejectsWith } from './helpers/kms-assert.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { apiKeyCert, kes } from './kes-server-support.ts';

let server: ServerProcess;
let root: KmsClient;
const clients: KmsClient[] = [];
const client = (key: ApiKey, enclave: string): KmsClient => {
  const c = clientFor(server.endpoint, key.toK1(), { enclave });
  clients.push(c);
  return c;
};
const h1 = (key: ApiKey): string => key.identity.toH1();

const SINGLE = ['--workers', '0'];

before(async () => {
  server = await startServer({ args: SINGLE });
  root = clientFor(server.endpoint, server.rootApiKey);
  for (const name of ['home', 'away', 'third']) await root.createEnclave(name);
});

after(async () => {
  for (const c of clients) c.close();
  root.close();
  await server.stop();
});

describe('deleting an enclave', () => {
  const sysadmin = ApiKey.generate(); // lives in 'home'
  const account = ApiKey.generate(); // its service account, in 'away'
  const nested = ApiKey.generate(); // the service account's own service account, in 'third'

  it('removes the service accounts its identities made in other enclaves', async () => {
    await root.createIdentity(h1(sysadmin), { privilege: 'SysAdmin', enclave: 'home' });
    await client(sysadmin, 'away').createIdentity(h1(account), { serviceAccount: true });
    await client(account, 'third').createIdentity(h1(nested), { serviceAccount: true });
    await client(nested, 'away').listEnclaves(); // a SysAdmin's rights, through two links

    await root.deleteEnclave('home');
    await rejectsWith(
      root.identityStatus(h1(account), { enclave: 'away' }),
      KMS_API_ERRORS.identityNotFound,
    );
    await rejectsWith(
      root.identityStatus(h1(nested), { enclave: 'third' }),
      KMS_API_ERRORS.identityNotFound,
    );
    await rejectsWith(client(account, 'away').listEnclaves(), KMS_API_ERRORS.permission);
  });

  it('re-creating the parent gives them nothing back, also after a restart', async () => {
    await root.createEnclave('home');
    await root.createIdentity(h1(sysadmin), { privilege: 'SysAdmin', enclave: 'home' });
    await rejectsWith(client(account, 'away').listEnclaves(), KMS_API_ERRORS.permission);
    await rejectsWith(client(nested, 'third').createKey('x'), KMS_API_ERRORS.permission);

    for (const c of clients.splice(0)) c.close();
    root.close();
    await server.stop();
    server = await startServer({ dir: server.dir, args: SINGLE });
    root = clientFor(server.endpoint, server.rootApiKey);
    await rejectsWith(client(account, 'away').listEnclaves(), KMS_API_ERRORS.permission);
    await rejectsWith(
      root.identityStatus(h1(nested), { enclave: 'third' }),
      KMS_API_ERRORS.identityNotFound,
    );
    await client(sysadmin, 'away').listEnclaves();
  });
});

describe('deleting an identity', () => {
  it('through the KMS API removes its service accounts in every enclave', async () => {
    const admin = ApiKey.generate();
    const account = ApiKey.generate();
    await root.createIdentity(h1(admin), { privilege: 'SysAdmin', enclave: 'home' });
    await client(admin, 'away').createIdentity(h1(account), { serviceAccount: true });
    await root.deleteIdentity(h1(admin), { enclave: 'home' });
    await rejectsWith(
      root.identityStatus(h1(account), { enclave: 'away' }),
      KMS_API_ERRORS.identityNotFound,
    );
  });

  it('through the KES API (legacy delete) too', async () => {
    const admin = ApiKey.generate();
    const account = ApiKey.generate();
    await root.createIdentity(h1(admin), { privilege: 'SysAdmin', enclave: 'home' });
    await client(admin, 'away').createIdentity(h1(account), { serviceAccount: true });
    const res = await kes(
      server.endpoint,
      apiKeyCert(server.rootApiKey),
      'DELETE',
      `/v1/identity/delete/${admin.identity.toHex()}?enclave=home`,
    );
    assert.equal(res.status, 200, res.text);
    await rejectsWith(
      root.identityStatus(h1(account), { enclave: 'away' }),
      KMS_API_ERRORS.identityNotFound,
    );
  });
});

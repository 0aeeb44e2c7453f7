// End-to-end permission matrix of the KMS API through the SDK: the root key, a SysAdmin identity,
// an enclave Admin, a User with a policy, and an unknown identity with a valid certificate, each
// running cluster, enclave, key, policy and identity commands against a real server.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, KMS_API_ERRORS, KmsApiError } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { clientFor, rejectsWith } from './helpers/kms-assert.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const ENCLAVE = 'acl';
const PRINCIPALS = ['root', 'sysadmin', 'admin', 'user', 'unknown'] as const;
type Principal = (typeof PRINCIPALS)[number];

let server: ServerProcess;
const clients = new Map<Principal, KmsClient>();
const keys = new Map<Principal, ApiKey>();
let ciphertext: Buffer;

before(async () => {
  server = await startServer();
  const root = clientFor(server.endpoint, server.rootApiKey, { enclave: ENCLAVE });
  clients.set('root', root);
  await root.createEnclave(ENCLAVE);
  await root.createEnclave('elsewhere');
  await root.createKey('app-1');
  await root.createKey('app-secret');
  await root.createKey('other');
  await root.createPolicy('app', {
    allow: {
      'KEY:GENERATE': ['app-*'],
      'KEY:DECRYPT': ['app-*'],
      'KEY:STATUS': ['*'],
    },
    deny: { 'KEY:GENERATE': ['app-secret'] },
  });
  ciphertext = (await root.generateKey('app-1')).ciphertext;

  for (const who of ['sysadmin', 'admin', 'user', 'unknown'] as const) {
    const key = ApiKey.generate();
    keys.set(who, key);
    clients.set(who, clientFor(server.endpoint, key.toK1(), { enclave: ENCLAVE }));
  }
  await root.createIdentity(keys.get('sysadmin')!.identity.toH1(), { privilege: 'SysAdmin' });
  await root.createIdentity(keys.get('admin')!.identity.toH1(), { privilege: 'Admin' });
  await root.createIdentity(keys.get('user')!.identity.toH1());
  await root.assignPolicy('app', keys.get('user')!.identity.toH1());
});

after(async () => {
  for (const client of clients.values()) client.close();
  await server.stop();
});

type Expect = 'ok' | 403 | 404;
interface Case {
  readonly what: string;
  readonly run: (c: KmsClient, who: Principal) => Promise<unknown>;
  readonly expect: Record<Principal, Expect>;
}

const all = (e: Expect, overrides: Partial<Record<Principal, Expect>> = {}) =>
  ({ root: e, sysadmin: e, admin: e, user: e, unknown: e, ...overrides }) as Record<
    Principal,
    Expect
  >;
const SYSADMIN_ONLY = all(403, { root: 'ok', sysadmin: 'ok' });
const ADMIN_UP = all(403, { root: 'ok', sysadmin: 'ok', admin: 'ok' });

const CASES: Case[] = [
  { what: 'CLUSTER:STATUS', run: (c) => c.clusterStatus(), expect: SYSADMIN_ONLY },
  { what: 'ENCLAVE:LIST', run: (c) => c.listEnclaves(), expect: SYSADMIN_ONLY },
  { what: 'ENCLAVE:STATUS', run: (c) => c.enclaveStatus(ENCLAVE), expect: SYSADMIN_ONLY },
  { what: 'ENCLAVE:CREATE', run: (c, who) => c.createEnclave(`e-${who}`), expect: SYSADMIN_ONLY },
  { what: 'metrics', run: (c) => c.metrics(), expect: SYSADMIN_ONLY },
  { what: 'backup', run: async (c) => (await c.backup()).resume(), expect: SYSADMIN_ONLY },
  { what: 'KEY:CREATE', run: (c, who) => c.createKey(`k-${who}`), expect: ADMIN_UP },
  { what: 'KEY:LIST', run: (c) => c.listKeys(), expect: ADMIN_UP },
  { what: 'KEY:STATUS', run: (c) => c.keyStatus('other'), expect: all('ok', { unknown: 403 }) },
  {
    what: 'KEY:GENERATE allowed name',
    run: (c) => c.generateKey('app-1'),
    expect: all('ok', { unknown: 403 }),
  },
  {
    what: 'KEY:GENERATE denied name',
    run: (c) => c.generateKey('app-secret'),
    expect: all('ok', { user: 403, unknown: 403 }),
  },
  { what: 'KEY:GENERATE other name', run: (c) => c.generateKey('other'), expect: ADMIN_UP },
  {
    what: 'KEY:DECRYPT allowed name',
    run: (c) => c.decrypt('app-1', ciphertext),
    expect: all('ok', { unknown: 403 }),
  },
  { what: 'KEY:ENCRYPT not in policy', run: (c) => c.encrypt('app-1', 'x'), expect: ADMIN_UP },
  {
    what: 'KEY:GENERATE a missing key the policy covers',
    run: (c) => c.generateKey('app-missing'),
    expect: all(404, { unknown: 403 }),
  },
  {
    what: 'KEY:GENERATE in another enclave',
    run: (c) => c.generateKey('app-1', { enclave: 'elsewhere' }),
    expect: all(404, { admin: 403, user: 403, unknown: 403 }),
  },
  {
    what: 'POLICY:CREATE',
    run: (c, who) => c.createPolicy(`p-${who}`, { allow: { 'KEY:LIST': ['*'] } }),
    expect: ADMIN_UP,
  },
  { what: 'POLICY:GET', run: (c) => c.getPolicy('app'), expect: ADMIN_UP },
  {
    what: 'IDENTITY:CREATE User',
    run: (c) => c.createIdentity(ApiKey.generate().identity.toH1()),
    expect: ADMIN_UP,
  },
  {
    what: 'IDENTITY:CREATE SysAdmin',
    run: (c) => c.createIdentity(ApiKey.generate().identity.toH1(), { privilege: 'SysAdmin' }),
    expect: SYSADMIN_ONLY,
  },
  { what: 'IDENTITY:LIST', run: (c) => c.listIdentities(), expect: ADMIN_UP },
];

describe('permission matrix', () => {
  for (const testCase of CASES) {
    it(testCase.what, async () => {
      for (const who of PRINCIPALS) {
        const expected = testCase.expect[who];
        const run = testCase.run(clients.get(who)!, who);
        if (expected === 'ok') {
          await assert.doesNotReject(run, `${who} may run ${testCase.what}`);
        } else if (expected === 403) {
          await rejectsWith(run, KMS_API_ERRORS.permission);
        } else {
          const error = await run.then(
            () => undefined,
            (e: unknown) => e,
          );
          assert.ok(error instanceof KmsApiError, `${who}: ${String(error)}`);
          assert.equal(error.status, 404, `${who}: ${error.message}`);
        }
      }
    });
  }
});

describe('identities without rights', () => {
  it('a request without a client certificate is refused with 403', async () => {
    const res = await rawRequest(
      server.endpoint,
      '',
      'POST',
      '/v1/kms',
      Buffer.from('006800000000', 'hex'), // ENCLAVE:LIST
    );
    assert.equal(res.status, 403);
  });

  it('a User whose policy was deleted loses its rights', async () => {
    const root = clients.get('root')!;
    const key = ApiKey.generate();
    await root.createPolicy('temp', { allow: { 'KEY:STATUS': ['*'] } });
    await root.createIdentity(key.identity.toH1());
    await root.assignPolicy('temp', key.identity.toH1());
    const c = clientFor(server.endpoint, key.toK1(), { enclave: ENCLAVE });
    try {
      await c.keyStatus('other');
      await root.deletePolicy('temp');
      await rejectsWith(c.keyStatus('other'), KMS_API_ERRORS.permission);
    } finally {
      c.close();
    }
  });

  it('a deleted identity is refused at once, on the same connection', async () => {
    const root = clients.get('root')!;
    const key = ApiKey.generate();
    await root.createIdentity(key.identity.toH1(), { privilege: 'Admin' });
    const c = clientFor(server.endpoint, key.toK1(), { enclave: ENCLAVE });
    try {
      await c.listKeys();
      await root.deleteIdentity(key.identity.toH1());
      await rejectsWith(c.listKeys(), KMS_API_ERRORS.permission);
    } finally {
      c.close();
    }
  });
});

// Who may do what on the KES face: config-file policies (allow/deny, deny wins, prefix
// patterns), identities from API keys and from certificate files, skip_auth, identities and
// policies made through the KMS API, and the legacy runtime policy calls, which persist.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import { KmsClient } from '../src/sdk/index.ts';
import {
  apiKeyCert,
  errorBody,
  fileCert,
  kes,
  startKesServer,
  tempDir,
} from './kes-server-support.ts';
import type { ClientCert, KesResponse, KesServer } from './kes-server-support.ts';

const CONFIG = `
admin:
  identity: \${ADMIN_ID}
policy:
  minio:
    allow:
      - /v1/key/create/minio-*
      - /v1/key/generate/minio-*
      - /v1/key/decrypt/minio-*
      - /v1/key/list/*
      - /v1/status
    deny:
      - /v1/key/generate/minio-internal*
    identities:
      - \${MINIO_ID}
  ops:
    paths:
      - /v1/metrics
      - /v1/log/audit
      - /v1/policy/*
      - /v1/identity/*
    identities:
      - \${OPS_ID}
api:
  /v1/ready:
    skip_auth: true
keys:
  - name: minio-default
`;

const dir = tempDir();
const adminKey = ApiKey.generate('kes');
const admin = apiKeyCert(adminKey);
const minio = apiKeyCert();
const ops = fileCert(dir, 'ops');
const stranger = apiKeyCert();
let server: KesServer;
let kms: KmsClient;

const FORBIDDEN = errorBody('not authorized: insufficient permissions');

function start(): Promise<KesServer> {
  return startKesServer({
    dir,
    config: CONFIG,
    env: { ADMIN_ID: admin.identity, MINIO_ID: minio.identity, OPS_ID: ops.identity },
  });
}

const as = (
  who: ClientCert,
  method: string,
  path: string,
  body?: string | object,
): Promise<KesResponse> =>
  // Listings as the current era's JSON (NDJSON is the default for clients that ask for nothing).
  kes(server.endpoint, who, method, path, {
    ...(body === undefined ? {} : { body }),
    headers: { Accept: 'application/json' },
  });

async function expectStatus(
  res: Promise<KesResponse>,
  status: number,
  body?: string,
): Promise<void> {
  const r = await res;
  assert.equal(r.status, status, r.text);
  if (body !== undefined) assert.equal(r.text, body);
}

before(async () => {
  server = await start();
  kms = new KmsClient({
    endpoints: server.endpoint,
    apiKey: adminKey.toK1(),
    tls: { insecure: true },
  });
});

after(async () => {
  kms.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('config-file policies', () => {
  it('the configured admin may do everything; predefined keys exist', async () => {
    assert.match(server.output(), /Root:\s+h1:/);
    const res = await as(admin, 'GET', '/v1/key/describe/minio-default');
    assert.equal(res.status, 200);
    assert.equal(res.json<{ created_by: string }>().created_by, admin.identity);
    await expectStatus(as(admin, 'GET', '/v1/metrics'), 200);
  });

  it('allow patterns grant by prefix; everything else is forbidden', async () => {
    await expectStatus(as(minio, 'PUT', '/v1/key/create/minio-app'), 200);
    await expectStatus(as(minio, 'POST', '/v1/key/generate/minio-app', { context: 'e30=' }), 200);
    await expectStatus(as(minio, 'GET', '/v1/status'), 200);
    await expectStatus(as(minio, 'PUT', '/v1/key/create/other-app'), 403, FORBIDDEN);
    await expectStatus(as(minio, 'GET', '/v1/key/describe/minio-app'), 403, FORBIDDEN);
    await expectStatus(as(minio, 'DELETE', '/v1/key/delete/minio-app'), 403, FORBIDDEN);
    await expectStatus(as(minio, 'GET', '/v1/metrics'), 403, FORBIDDEN);
    await expectStatus(as(minio, 'GET', '/v1/status/'), 404);
  });

  it('deny wins over allow', async () => {
    await expectStatus(as(admin, 'PUT', '/v1/key/create/minio-internal-1'), 200);
    await expectStatus(
      as(minio, 'PUT', '/v1/key/generate/minio-internal-1', { context: 'e30=' }),
      403,
      FORBIDDEN,
    );
    // The deny pattern names generate only: decrypt stays allowed.
    const dek = (
      await as(admin, 'PUT', '/v1/key/generate/minio-internal-1', { context: 'e30=' })
    ).json<{ ciphertext: string; plaintext: string }>();
    const dec = await as(minio, 'PUT', '/v1/key/decrypt/minio-internal-1', {
      ciphertext: dek.ciphertext,
      context: 'e30=',
    });
    assert.equal(dec.json<{ plaintext: string }>().plaintext, dek.plaintext);
  });

  it('listing is granted by /v1/key/list/*, with or without the trailing slash', async () => {
    for (const path of ['/v1/key/list', '/v1/key/list/', '/v1/key/list/minio-']) {
      await expectStatus(as(minio, 'GET', path), 200);
    }
  });

  it('name validation comes before authorization (400 before 403)', async () => {
    // Unlike upstream: no policy pattern is ever matched against a name outside the grammar.
    await expectStatus(
      as(minio, 'GET', '/v1/key/describe/bad.name'),
      400,
      errorBody("key name 'bad.name' is empty, too long or contains invalid characters"),
    );
    await expectStatus(as(minio, 'GET', '/v1/key/describe/good-name'), 403, FORBIDDEN);
    await expectStatus(
      as(minio, 'PUT', '/v1/key/create/minio-bad.name'),
      400,
      errorBody("key name 'minio-bad.name' is empty, too long or contains invalid characters"),
    );
  });

  it('an identity in no policy is forbidden everywhere, and unknown to itself', async () => {
    for (const [method, path] of [
      ['GET', '/v1/status'],
      ['PUT', '/v1/key/create/minio-x'],
      ['GET', '/v1/policy/list/'],
    ] as const) {
      await expectStatus(as(stranger, method, path), 403, FORBIDDEN);
    }
    await expectStatus(
      as(stranger, 'GET', '/v1/identity/self/describe'),
      404,
      errorBody('identity does not exist'),
    );
  });

  it('skip_auth opens a route to clients without a certificate', async () => {
    const res = await kes(server.endpoint, null, 'GET', '/v1/ready');
    assert.equal(res.status, 200);
    await expectStatus(
      kes(server.endpoint, null, 'GET', '/v1/status'),
      400,
      errorBody('tls: client certificate is required'),
    );
  });

  it('a file-based certificate is an identity; policies and identities are listed', async () => {
    await expectStatus(as(ops, 'GET', '/v1/metrics'), 200);
    const policies = await as(ops, 'GET', '/v1/policy/list/');
    assert.deepEqual(policies.json(), { names: ['minio', 'ops'], continue_at: '' });
    const read = (await as(ops, 'GET', '/v1/policy/read/minio')).json<Record<string, unknown>>();
    assert.deepEqual(read.allow, {
      '/v1/key/create/minio-*': {},
      '/v1/key/generate/minio-*': {},
      '/v1/key/decrypt/minio-*': {},
      '/v1/key/list/*': {},
      '/v1/status': {},
    });
    assert.deepEqual(read.deny, { '/v1/key/generate/minio-internal*': {} });
    assert.equal(read.created_by, admin.identity);
    const identities = (await as(ops, 'GET', '/v1/identity/list')).json<{ identities: string[] }>();
    assert.deepEqual(identities.identities, [admin.identity, minio.identity, ops.identity].sort());
    const described = (await as(ops, 'GET', `/v1/identity/describe/${minio.identity}`)).json<
      Record<string, unknown>
    >();
    assert.equal(described.policy, 'minio');
    assert.equal(described.created_by, admin.identity);
    await expectStatus(as(ops, 'GET', '/v1/key/list/'), 403, FORBIDDEN);
  });

  it('a non-admin describes itself (upstream answered 404), in the shape kms-go decodes', async () => {
    const res = await as(minio, 'GET', '/v1/identity/self/describe');
    assert.equal(res.status, 200);
    const self = res.json<Record<string, unknown>>();
    assert.equal(self.identity, minio.identity);
    assert.equal(self.admin, undefined);
    assert.equal(self.policy, 'minio');
    assert.deepEqual(self.deny, { '/v1/key/generate/minio-internal*': {} });
    assert.ok('/v1/status' in (self.allow as object));
    assert.equal(self.created_by, admin.identity);
  });
});

describe('identities and policies of the KMS API on the KES face', () => {
  it('an Admin of the default enclave may do everything there, nothing elsewhere', async () => {
    const enclaveAdmin = apiKeyCert();
    await kms.createIdentity(
      `h1:${Buffer.from(enclaveAdmin.identity, 'hex').toString('base64url')}`,
      {
        privilege: 'Admin',
      },
    );
    await expectStatus(as(enclaveAdmin, 'PUT', '/v1/key/create/anything'), 200);
    await expectStatus(as(enclaveAdmin, 'GET', '/v1/status'), 200);
    const self = (await as(enclaveAdmin, 'GET', '/v1/identity/self/describe')).json<{
      admin: boolean;
    }>();
    assert.equal(self.admin, true);
    await kms.createEnclave('elsewhere');
    await expectStatus(
      as(enclaveAdmin, 'PUT', '/v1/key/create/anything?enclave=elsewhere'),
      403,
      FORBIDDEN,
    );
    // Cluster-level paths are not an enclave Admin's.
    await expectStatus(as(enclaveAdmin, 'GET', '/v1/metrics'), 403, FORBIDDEN);
  });

  it('a SysAdmin may do everything, cluster-level paths included', async () => {
    const sysAdmin = apiKeyCert();
    await kms.createIdentity(sysAdmin.identity, { privilege: 'SysAdmin' });
    await expectStatus(as(sysAdmin, 'PUT', '/v1/key/create/sys-made?enclave=elsewhere'), 200);
    await expectStatus(as(sysAdmin, 'GET', '/v1/metrics'), 200);
  });

  it('a User with a KMS policy gets the KES operations its command rules name', async () => {
    const user = apiKeyCert();
    await kms.createPolicy('kms-user', { allow: { 'KEY:GENERATE': ['minio-*'] } });
    await kms.createIdentity(user.identity, { privilege: 'User' });
    await kms.assignPolicy('kms-user', user.identity);
    await expectStatus(as(user, 'PUT', '/v1/key/generate/minio-app', { context: 'e30=' }), 200);
    await expectStatus(as(user, 'PUT', '/v1/key/create/minio-new'), 403, FORBIDDEN);
  });
});

describe('legacy runtime policies (kes policy / kes identity of KES ≤ 2023)', () => {
  const app = apiKeyCert();

  it('write and assign a policy; its globs use the legacy path.Match rules', async () => {
    await expectStatus(
      as(admin, 'POST', '/v1/policy/write/app', {
        allow: ['/v1/key/create/app-*', '/v1/key/generate/app-*'],
        deny: ['/v1/key/*/app-secret'],
      }),
      200,
      '',
    );
    await expectStatus(
      as(admin, 'POST', '/v1/policy/assign/app', { identity: app.identity }),
      200,
      '',
    );
    await expectStatus(as(app, 'PUT', '/v1/key/create/app-1'), 200);
    await expectStatus(as(app, 'PUT', '/v1/key/generate/app-1', { context: 'e30=' }), 200);
    await expectStatus(as(app, 'PUT', '/v1/key/create/app-secret'), 403, FORBIDDEN);
    await expectStatus(as(app, 'PUT', '/v1/key/create/db-1'), 403, FORBIDDEN);
    const self = (await as(app, 'GET', '/v1/identity/self/describe')).json<
      Record<string, unknown>
    >();
    assert.equal(self.policy, 'app');
    assert.deepEqual(self.deny, { '/v1/key/*/app-secret': {} });
  });

  it('refuses to shadow the config file, and non-admins', async () => {
    await expectStatus(
      as(admin, 'POST', '/v1/policy/write/minio', { allow: [] }),
      400,
      errorBody("policy 'minio' is defined in the config file"),
    );
    await expectStatus(
      as(admin, 'POST', '/v1/policy/assign/app', { identity: minio.identity }),
      400,
      errorBody(`identity '${minio.identity}' has a policy in the config file`),
    );
    await expectStatus(
      as(minio, 'POST', '/v1/policy/write/mine', { allow: ['/v1/*'] }),
      403,
      FORBIDDEN,
    );
    await expectStatus(
      as(admin, 'PUT', '/v1/policy/write/app', { allow: [] }),
      405,
      errorBody("received method 'PUT' expected 'POST'"),
    );
    await expectStatus(
      as(admin, 'POST', '/v1/policy/assign/ghost', { identity: stranger.identity }),
      404,
      errorBody('policy does not exist'),
    );
    await expectStatus(
      as(admin, 'POST', '/v1/policy/write/app2', '{"allow":'),
      400,
      errorBody('invalid request body'),
    );
  });

  it('runtime policies are persistent, unlike in KES', async () => {
    await server.stop().catch(() => undefined);
    server = await start();
    kms.close();
    kms = new KmsClient({
      endpoints: server.endpoint,
      apiKey: adminKey.toK1(),
      tls: { insecure: true },
    });
    await expectStatus(as(app, 'PUT', '/v1/key/generate/app-1', { context: 'e30=' }), 200);
    const list = (await as(admin, 'GET', '/v1/policy/list/')).json<{ names: string[] }>();
    assert.deepEqual(list.names, ['app', 'kms-user', 'minio', 'ops']);
  });

  it('delete the policy, then the identity', async () => {
    await expectStatus(as(admin, 'DELETE', '/v1/policy/delete/app'), 200, '');
    await expectStatus(
      as(app, 'PUT', '/v1/key/generate/app-1', { context: 'e30=' }),
      403,
      FORBIDDEN,
    );
    await expectStatus(
      as(admin, 'DELETE', '/v1/policy/delete/app'),
      404,
      errorBody('policy does not exist'),
    );
    await expectStatus(as(admin, 'DELETE', `/v1/identity/delete/${app.identity}`), 200, '');
    await expectStatus(
      as(admin, 'GET', `/v1/identity/describe/${app.identity}`),
      404,
      errorBody('identity does not exist'),
    );
    await expectStatus(
      as(admin, 'DELETE', `/v1/identity/delete/${minio.identity}`),
      400,
      errorBody(`identity '${minio.identity}' has a policy in the config file`),
    );
  });
});

// The authorization matrix of the KES gateway (docs/testing-security.md#authorization-matrix):
// a real server started on a KES config with `keystore: fs:` (docs/keystores.md), where identities
// and policies come from the config file alone. Every key route (both eras, aliases included) is
// sent by the admin, an identity whose config-file policy allows the key routes, one whose policy
// allows none of them, an unknown identity, a client without certificate and a chain that tries to
// borrow the admin's identity. The expected answers are from docs/protocol/kes.md ("Who may do
// what", "Identities"); a key route without a row fails the first test.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyRoutes } from '../src/api/kes/kes-key-routes.ts';
import { ApiKey, clientCertificateForApiKey } from '../src/identity/index.ts';
import { hostileCertificate, spkiOf } from '../src/identity/test-support.ts';
import { assertCells, call, kesOutcome } from './helpers/authz-fixtures.ts';
import type { Credentials, Outcome } from './helpers/authz-fixtures.ts';
import { startKesServer, tempDir } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

const CALLERS = ['admin', 'allowed', 'notAllowed', 'unknown', 'none', 'borrowed'] as const;
type Caller = (typeof CALLERS)[number];
type Cells = Record<Caller, Outcome>;

const DENY: Outcome = { status: 403, message: 'not authorized: insufficient permissions' };
const NO_CERT: Outcome = { status: 400, message: 'tls: client certificate is required' };
/** The admin and the identity whose config-file policy allows `/v1/key/*`. */
const ALLOWED: Cells = {
  admin: 'ok',
  allowed: 'ok',
  notAllowed: DENY,
  unknown: DENY,
  none: NO_CERT,
  borrowed: NO_CERT,
};

interface Row {
  readonly route: string;
  readonly expect: Cells;
  resource?(n: number): Promise<string> | string;
  body?(): string;
  changed?(n: number): Promise<boolean>;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
let ciphertext = '';
let server: KesServer;
const work = tempDir();
const keys = {
  admin: ApiKey.generate(),
  allowed: ApiKey.generate(),
  notAllowed: ApiKey.generate(),
};
const credentials = {} as Record<Caller, Credentials>;
const asAdmin = (method: string, path: string, body?: string) =>
  call(server.endpoint, credentials.admin, method, path, body);
const present = async (name: string): Promise<boolean> =>
  (await asAdmin('GET', `/v1/key/describe/${name}`)).status === 200;

const ROWS: Row[] = [
  {
    route: 'PUT /v1/key/create/',
    expect: ALLOWED,
    resource: (n) => `c${String(n)}`,
    changed: (n) => present(`c${String(n)}`),
  },
  {
    route: 'PUT /v1/key/import/',
    expect: ALLOWED,
    resource: (n) => `i${String(n)}`,
    body: () => JSON.stringify({ key: Buffer.alloc(32, 3).toString('base64'), cipher: 'AES256' }),
    changed: (n) => present(`i${String(n)}`),
  },
  { route: 'GET /v1/key/describe/', expect: ALLOWED, resource: () => 'k' },
  { route: 'GET /v1/key/list/', expect: ALLOWED, resource: () => 'k' },
  { route: 'GET /v1/key/list', expect: ALLOWED },
  {
    route: 'DELETE /v1/key/delete/',
    expect: ALLOWED,
    resource: async (n) => {
      assert.equal((await asAdmin('PUT', `/v1/key/create/d${String(n)}`)).status, 200);
      return `d${String(n)}`;
    },
    changed: async (n) => !(await present(`d${String(n)}`)),
  },
  { route: 'PUT /v1/key/generate/', expect: ALLOWED, resource: () => 'k', body: () => '{}' },
  {
    route: 'PUT /v1/key/encrypt/',
    expect: ALLOWED,
    resource: () => 'k',
    body: () => JSON.stringify({ plaintext: b64('x') }),
  },
  {
    route: 'PUT /v1/key/decrypt/',
    expect: ALLOWED,
    resource: () => 'k',
    body: () => JSON.stringify({ ciphertext }),
  },
  {
    route: 'PUT /v1/key/hmac/',
    expect: ALLOWED,
    resource: () => 'k',
    body: () => JSON.stringify({ message: b64('m') }),
  },
  {
    route: 'POST /v1/key/bulk/decrypt/',
    expect: ALLOWED,
    resource: () => 'k',
    body: () => JSON.stringify([{ ciphertext }]),
  },
];

before(async () => {
  for (const who of ['admin', 'allowed', 'notAllowed'] as const) {
    const made = clientCertificateForApiKey(keys[who]);
    credentials[who] = { cert: made.cert, key: made.key };
  }
  const made = clientCertificateForApiKey(ApiKey.generate());
  credentials.unknown = { cert: made.cert, key: made.key };
  credentials.none = null;
  const attacker = generateKeyPairSync('ed25519').privateKey;
  credentials.borrowed = {
    cert:
      hostileCertificate({ spki: spkiOf(attacker), signer: attacker, isCa: true }) +
      hostileCertificate({ spki: spkiOf(keys.admin.privateKey), signer: attacker }),
    key: attacker.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
  const hex = (who: 'admin' | 'allowed' | 'notAllowed') => keys[who].identity.toHex();
  server = await startKesServer({
    dir: work,
    config: `admin:
  identity: ${hex('admin')}
policy:
  keys:
    allow:
    - /v1/key/*
    identities:
    - ${hex('allowed')}
  nothing:
    allow:
    - /v1/key/describe/nothing-*
    identities:
    - ${hex('notAllowed')}
keystore:
  fs:
    path: ${join(work, 'keys')}
`,
  });
  assert.equal((await asAdmin('PUT', '/v1/key/create/k')).status, 200);
  const sealed = await asAdmin('PUT', '/v1/key/encrypt/k', JSON.stringify({ plaintext: b64('s') }));
  ciphertext = (JSON.parse(sealed.body.toString()) as { ciphertext: string }).ciphertext;
});
after(async () => {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

let counter = 0;

describe('KES gateway authorization matrix', () => {
  it('has rows for every key route', () => {
    const routes = keyRoutes().flatMap((s) => [
      `${s.method} ${s.path}`,
      ...(s.aliases ?? []).map((a) => `${s.method} ${a}`),
    ]);
    const missing = routes
      .filter((r) => !ROWS.some((row) => row.route === r))
      .map((r) => `no expectation for ${r}`);
    assert.deepEqual(missing, []);
  });

  for (const row of ROWS) {
    it(row.route, async () => {
      const [method, route] = row.route.split(' ') as [string, string];
      const got = {} as Cells;
      await Promise.all(
        CALLERS.map(async (who) => {
          const n = ++counter;
          const resource = row.resource ? await row.resource(n) : '';
          const answer = await call(
            server.endpoint,
            credentials[who],
            method,
            route + encodeURIComponent(resource),
            row.body?.(),
          );
          got[who] = kesOutcome(answer);
          if (row.changed) {
            assert.equal(await row.changed(n), got[who] === 'ok', `${row.route} by ${who}`);
          }
        }),
      );
      assertCells(row.route, row.expect, got);
    });
  }
});

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
import {
  KMS_COMMANDS,
  decodeKmsResponse,
  encodeKmsRequest,
  kmsCommand,
} from '../src/protocol/kms/index.ts';
import type { KmsCommandName } from '../src/protocol/kms/index.ts';
import { EncryptRequest } from '../src/protocol/kms/pb/keyhold/kms/v1/request.ts';
import { assertCells, call, kesOutcome, kmsOutcome } from './helpers/authz-fixtures.ts';
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

/**
 * KMS key commands on the gateway's keys (docs/keystores.md#what-changes-in-gateway-mode): the
 * admin is the root; config-file policies are KES path policies and grant nothing on the KMS API
 * (docs/protocol/kms.md#authorization: anyone else is refused).
 */
const KMS_DENY: Outcome = { status: 403, message: 'access denied: insufficient permissions' };
const KMS_ADMIN: Cells = {
  admin: 'ok',
  allowed: KMS_DENY,
  notAllowed: KMS_DENY,
  unknown: KMS_DENY,
  none: KMS_DENY,
  borrowed: KMS_DENY,
};
interface KmsRow {
  readonly command: KmsCommandName;
  readonly expect: Cells;
  message(n: number): object;
  changed?(n: number): Promise<boolean>;
}
const KMS_ROWS: KmsRow[] = [
  {
    command: 'KEY:CREATE',
    expect: KMS_ADMIN,
    message: (n) => ({ name: `kc${String(n)}` }),
    changed: (n) => present(`kc${String(n)}`),
  },
  {
    command: 'KEY:IMPORT',
    expect: KMS_ADMIN,
    message: (n) => ({ name: `ki${String(n)}`, type: 'AES256', key: Buffer.alloc(32, 4) }),
    changed: (n) => present(`ki${String(n)}`),
  },
  { command: 'KEY:STATUS', expect: KMS_ADMIN, message: () => ({ name: 'k' }) },
  { command: 'KEY:LIST', expect: KMS_ADMIN, message: () => ({}) },
  { command: 'KEY:GENERATE', expect: KMS_ADMIN, message: () => ({ name: 'k', length: 32 }) },
  {
    command: 'KEY:ENCRYPT',
    expect: KMS_ADMIN,
    message: () => ({ name: 'k', plaintext: Buffer.of(1) }),
  },
  {
    command: 'KEY:DECRYPT',
    expect: KMS_ADMIN,
    message: () => ({ name: 'k', ciphertext: kmsCiphertext }),
  },
  { command: 'KEY:MAC', expect: KMS_ADMIN, message: () => ({ name: 'k', message: Buffer.of(1) }) },
  {
    command: 'KEY:DELETE',
    expect: KMS_ADMIN,
    message: (n) => {
      created.add(n);
      return { name: `kd${String(n)}`, allVersions: true };
    },
    changed: async (n) => !(await present(`kd${String(n)}`)),
  },
];
/** Cells of KEY:DELETE: their key is created before the request. */
const created = new Set<number>();
let kmsCiphertext = Buffer.alloc(0);

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
  const encrypted = await call(
    server.endpoint,
    credentials.admin,
    'POST',
    '/v1/kms',
    encodeKmsRequest('KEY:ENCRYPT', [
      EncryptRequest.fromPartial({ name: 'k', plaintext: Buffer.from('s') }),
    ]),
  );
  assert.equal(encrypted.status, 200, encrypted.body.toString());
  kmsCiphertext = Buffer.from(decodeKmsResponse('KEY:ENCRYPT', encrypted.body, 1)[0]!.ciphertext);
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

  it('has rows for every KMS key command the gateway serves', () => {
    const served = KMS_COMMANDS.filter((c) => c.name.startsWith('KEY:') && c.supported);
    const missing = served
      .filter((c) => !KMS_ROWS.some((row) => row.command === c.name))
      .map((c) => `no expectation for ${c.name}`);
    assert.deepEqual(missing, []);
  });

  for (const row of KMS_ROWS) {
    it(`KMS ${row.command}`, async () => {
      const got = {} as Cells;
      const request = kmsCommand(row.command).request as { fromPartial(o: object): object };
      await Promise.all(
        CALLERS.map(async (who) => {
          const n = ++counter;
          const message = row.message(n);
          if (created.has(n)) {
            assert.equal((await asAdmin('PUT', `/v1/key/create/kd${String(n)}`)).status, 200);
          }
          const body = encodeKmsRequest(row.command, [request.fromPartial(message)] as never[]);
          got[who] = kmsOutcome(
            await call(server.endpoint, credentials[who], 'POST', '/v1/kms', body),
          );
          if (row.changed) {
            assert.equal(await row.changed(n), got[who] === 'ok', `${row.command} by ${who}`);
          }
        }),
      );
      assertCells(`KMS ${row.command}`, row.expect, got);
    });
  }

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

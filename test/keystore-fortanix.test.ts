// Keyhold's Fortanix DSM key store against a protocol-faithful local DSM over TLS (its test CA
// named in the config's `tls.ca`): what the stand-in refuses, KES's exact requests and stored
// layout (an OPAQUE object named like the key, its value the base64 of the KES stored value,
// in the configured group), the connect sequence (health, session opened and closed), paging
// that ends whatever DSM's `start` means (KES loops forever), error texts as JSON or plain text,
// retries of 5xx, an unreachable store; then a real `keyhold server` over it: the KES API and
// SDK, a key KES wrote, wrong credentials at start, and an outage with the offline cache.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FortanixStoreConfig } from '../src/config/keystore-config.ts';
import { FortanixKeyStore } from '../src/keystore/fortanix/fortanix-keystore.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
} from '../src/keystore/keystore.ts';
import { FakeFortanix } from './helpers/fortanix-server.ts';
import type { FortanixApp } from './helpers/fortanix-server.ts';
import {
  gatewayConfig,
  gatewayParties,
  opensKesKey,
  outage,
  refusedStart,
  roundTrip,
} from './helpers/gateway-scenario.ts';
import { httpsCall } from './helpers/https-call.ts';
import { writeCaFile } from './helpers/tls-stand-in.ts';
import type { CaFile } from './helpers/tls-stand-in.ts';
import { startKesServer } from './kes-server-support.ts';

const APP: FortanixApp = { id: 'a1b2c3d4-app', secret: 's3cret', groups: ['g-kes', 'g-other'] };
const OTHER: FortanixApp = { id: 'e5f6-other', secret: 'other', groups: ['g-foreign'] };

let dsm: FakeFortanix;
let ca: CaFile;
let caFile: string;

before(async () => {
  dsm = await FakeFortanix.start([APP, OTHER]);
  ca = writeCaFile(dsm.ca);
  caFile = ca.file;
});
after(async () => {
  await dsm.stop();
  ca.remove();
});

const config = (overrides: Partial<FortanixStoreConfig> = {}): FortanixStoreConfig => ({
  kind: 'fortanix',
  endpoint: dsm.endpoint,
  groupId: 'g-kes',
  apiKey: FakeFortanix.apiKey(APP),
  ca: caFile,
  ...overrides,
});
const open = (overrides: Partial<FortanixStoreConfig> = {}) =>
  FortanixKeyStore.connect(config(overrides), { backoff: 5 });

describe('Fortanix DSM key store', () => {
  it('the stand-in refuses what DSM refuses', async () => {
    const basic = `Basic ${FakeFortanix.apiKey(APP)}`;
    const call = (method: string, path: string, body?: string, auth = basic) =>
      httpsCall(`${dsm.endpoint}${path}`, dsm.ca, {
        method,
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
    const good =
      '{"obj_type":"OPAQUE","name":"s","key_ops":["EXPORT"],"value":"dg==","enabled":true}';
    assert.equal((await call('GET', '/crypto/v1/keys', undefined, '')).status, 401);
    assert.equal(
      (
        await call(
          'GET',
          '/crypto/v1/keys',
          undefined,
          'Basic ' + Buffer.from('x:y').toString('base64'),
        )
      ).status,
      401,
    );
    for (const bad of [
      '{"obj_type":"OPAQUE","name":"s"',
      '{"obj_type":"AES","name":"s","key_ops":["EXPORT"],"value":"dg=="}',
      '{"obj_type":"OPAQUE","name":"s","key_ops":["EXPORT"],"value":"not base64!"}',
      '{"obj_type":"OPAQUE","name":"s","key_ops":["FLY"],"value":"dg=="}',
      '{"obj_type":"OPAQUE","name":"s","key_ops":["EXPORT"],"value":"dg==","surprise":1}',
    ]) {
      assert.equal((await call('PUT', '/crypto/v1/keys', bad)).status, 400, bad);
    }
    assert.equal(
      (
        await call(
          'PUT',
          '/crypto/v1/keys',
          good.replace('"enabled"', '"group_id":"g-foreign","enabled"'),
        )
      ).status,
      403,
    );
    assert.equal(dsm.objects.size, 0);
    assert.equal((await call('PUT', '/crypto/v1/keys', good)).status, 201);
    const taken = await call('PUT', '/crypto/v1/keys', good);
    assert.equal(taken.status, 409);
    assert.equal(taken.text, '{"message":"sobject already exists"}');
    const missing = await call('POST', '/crypto/v1/keys/export', '{"name":"nope"}');
    assert.equal(missing.status, 404);
    assert.equal(missing.text, '{"message":"sobject does not exist"}');
    assert.equal((await call('POST', '/crypto/v1/keys/export', '{"nom":"s"}')).status, 400);
    assert.equal((await call('GET', '/crypto/v1/keys?limit=0')).status, 400);
    assert.equal((await call('GET', '/crypto/v1/keys?sort=kid:desc')).status, 400);
    assert.equal((await call('GET', '/crypto/v1/keys?page=2')).status, 400);
    // Another app's groups are invisible.
    const other = `Basic ${FakeFortanix.apiKey(OTHER)}`;
    assert.equal((await call('POST', '/crypto/v1/keys/export', '{"name":"s"}', other)).status, 404);
    dsm.objects.clear();
  });

  it('connects as KES does and stores KES’s layout', async () => {
    dsm.requests.length = 0;
    const opened = dsm.sessionsOpened;
    const store = await open();
    try {
      assert.deepEqual(
        dsm.requests.map((r) => `${r.method} ${r.url}`),
        ['GET /sys/v1/health', 'POST /sys/v1/session/auth', 'POST /sys/v1/session/terminate'],
      );
      assert.equal(dsm.sessionsOpened, opened + 1);
      assert.equal(dsm.sessions.size, 0, 'the session was closed again');

      await store.create('my-key', 'STORED-VALUE');
      const create = dsm.requests.at(-1)!;
      assert.equal(`${create.method} ${create.url}`, 'PUT /crypto/v1/keys');
      assert.equal(create.headers.authorization, `Basic ${FakeFortanix.apiKey(APP)}`);
      assert.equal(create.headers['content-type'], 'application/json');
      assert.equal(
        create.body,
        `{"obj_type":"OPAQUE","name":"my-key","group_id":"g-kes","key_ops":["EXPORT","APPMANAGEABLE"],"value":"${Buffer.from('STORED-VALUE').toString('base64')}","enabled":true}`,
      );
      assert.equal(await store.get('my-key'), 'STORED-VALUE');
      assert.equal(dsm.requests.at(-1)!.body, '{"name":"my-key"}');
      await assert.rejects(store.create('my-key', 'OTHER'), KeyExistsError);
      await assert.rejects(store.get('nope'), KeyNotFoundError);

      // Without a group: none is sent, DSM uses the app's default group.
      const ungrouped = await open({ groupId: '' });
      await ungrouped.create('ungrouped', 'V');
      assert.doesNotMatch(dsm.requests.at(-1)!.body, /group_id/);
      assert.equal(dsm.objects.get('ungrouped')!.group_id, 'g-kes');
      await ungrouped.close();

      // A disabled object is an error, not a key.
      dsm.objects.get('my-key')!.enabled = false;
      await assert.rejects(store.get('my-key'), /disabled/);
      dsm.objects.get('my-key')!.enabled = true;

      await store.delete('my-key');
      assert.match(dsm.requests.at(-1)!.url, /^\/crypto\/v1\/keys\/[0-9a-f-]{36}$/);
      assert.equal(dsm.requests.at(-1)!.method, 'DELETE');
      assert.equal(dsm.objects.has('my-key'), false);
      await assert.rejects(store.delete('my-key'), KeyNotFoundError);

      // Plain-text errors (no JSON) are compared as KES compares them.
      dsm.textErrors = true;
      await assert.rejects(store.get('my-key'), KeyNotFoundError);
      await assert.rejects(store.create('ungrouped', 'X'), KeyExistsError);
      dsm.textErrors = false;
    } finally {
      await store.close();
      dsm.objects.clear();
    }
  });

  it('lists every page, whether `start` includes the named object or not; never loops', async () => {
    const store = await open();
    try {
      for (let i = 0; i < 250; i++) dsm.put(`page-${String(i).padStart(3, '0')}`, 'v');
      // Objects of other types and other apps' groups are no KES keys.
      dsm.put('an-aes-key', 'v', { objType: 'AES' });
      dsm.put('foreign', 'v', { groupId: 'g-foreign' });
      for (const inclusive of [false, true]) {
        dsm.startInclusive = inclusive;
        dsm.requests.length = 0;
        const names = await store.list('');
        assert.equal(names.length, 250);
        assert.equal(new Set(names).size, 250);
        const pages = dsm.requests.map((r) => r.url);
        assert.deepEqual(pages, [
          '/crypto/v1/keys?sort=name:asc&limit=100',
          // The AES object sorts first: it takes a place on the first page.
          '/crypto/v1/keys?sort=name:asc&limit=100&start=page-098',
          inclusive
            ? '/crypto/v1/keys?sort=name:asc&limit=100&start=page-197'
            : '/crypto/v1/keys?sort=name:asc&limit=100&start=page-198',
        ]);
      }
      dsm.startInclusive = false;
      // A DSM ignoring `start` would make KES loop forever; Keyhold fails the listing.
      dsm.ignoreStart = true;
      await assert.rejects(store.list(''), /does not advance/);
      dsm.ignoreStart = false;
      // A refused listing is an error (KES decodes the error body as a page).
      dsm.fail(1, { status: 403, json: { message: 'forbidden' } });
      await assert.rejects(store.list(''), /failed to list keys: 403: forbidden/);
      dsm.objects.clear();
      assert.deepEqual(await store.list(''), []);
    } finally {
      await store.close();
    }
  });

  it('retries 5xx as KES does; refused keys and an unreachable store fail clearly', async () => {
    const store = await open();
    try {
      dsm.put('retried', 'R');
      dsm.fail(2, { status: 503, text: 'busy' });
      assert.equal(await store.get('retried'), 'R');
      dsm.fail(3, { status: 503, text: 'busy' });
      await assert.rejects(store.get('retried'), /failed to fetch 'retried': 503: busy/);
      // The status probe is authenticated: a revoked key shows there.
      await store.status();
      const revoked = await FortanixKeyStore.connect(config(), { backoff: 5 });
      dsm.fail(1, { status: 401, json: { message: 'Authentication failed' } });
      await assert.rejects(revoked.status(), /status: 401: Authentication failed/);
      await revoked.close();
    } finally {
      await store.close();
      dsm.objects.clear();
    }
    await assert.rejects(
      open({ apiKey: Buffer.from(`${APP.id}:wrong`).toString('base64') }),
      /fortanix: failed to authenticate to 'https:\/\/127\.0\.0\.1:\d+': 401: Authentication failed: invalid API key/,
    );
    await assert.rejects(open({ endpoint: 'https://127.0.0.1:1' }), StoreUnreachableError);
    // Without the test CA the store's certificate is refused.
    await assert.rejects(open({ ca: '' }), StoreUnreachableError);
  });
});

// One test at a time: the outage test stops the stand-in, which a refused start running beside it
// would see as an unreachable store instead of a refusal.
describe('KES gateway over Fortanix DSM', () => {
  const { appKey, app, files } = gatewayParties();
  /** A KES config over the stand-in, the API key from the environment as KES deployments do. */
  const kesConfig = (endpoint: string) =>
    gatewayConfig(
      app,
      `keystore:
  fortanix:
    sdkms:
      endpoint: ${endpoint}
      group_id: g-kes
      credentials:
        key: \${FORTANIX_API_KEY}
      tls:
        ca: ${caFile}
`,
    );
  const start = (apiKey = FakeFortanix.apiKey(APP)) =>
    startKesServer({
      config: kesConfig(dsm.endpoint),
      files,
      env: { FORTANIX_API_KEY: apiKey },
    });

  it('serves keys in KES’s layout; opens a key KES wrote; survives an outage', async () => {
    const server = await start();
    try {
      const stored = (name: string) => {
        const object = dsm.objects.get(name);
        return object && Buffer.from(object.value, 'base64').toString();
      };
      await roundTrip(server, appKey, app, 'fortanix-key', stored);

      await opensKesKey(server, appKey, (name, value) => dsm.put(name, value), 9);

      await outage(server, appKey, app, dsm);
    } finally {
      await server.stop();
      dsm.objects.clear();
    }
  });

  it('refuses to start with a wrong API key', async () => {
    const output = await refusedStart(() =>
      start(Buffer.from(`${APP.id}:nope`).toString('base64')),
    );
    assert.match(output, /cannot connect to the key store: fortanix: failed to authenticate/);
  });
});

// Keyhold's Entrust KeyControl key store against a protocol-faithful local KeyControl (Secrets
// Vault API 1.0) over TLS (its test CA named in `tls.ca`): what the stand-in refuses, KES's
// exact requests (trailing-slash POSTs, `X-Vault-Auth`, no Content-Type on box calls) and
// stored layout (a secret named like the key, `secret_data` the base64 of the KES stored
// value), token renewal at half its lifetime and re-login when renewal fails, a token refused
// mid-operation replaced at once, a listing of every page without empty or expired names (KES
// reads one page and pads it with empty names); then a real `keyhold server` over it: the KES
// API and SDK, a key KES wrote, short-lived tokens, wrong credentials at start, an outage.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { EntrustStoreConfig } from '../src/config/keystore-config.ts';
import { EntrustKeyStore } from '../src/keystore/entrust/entrust-keystore.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
} from '../src/keystore/keystore.ts';
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
import { FakeKeyControl } from './helpers/keycontrol-server.ts';
import { startKesServer } from './kes-server-support.ts';

const VAULT = '3f0a2c6e-vault';
const BOX = 'kes-box';

let kc: FakeKeyControl;
let ca: CaFile;
let caFile: string;

before(async () => {
  kc = await FakeKeyControl.start({
    vaultId: VAULT,
    users: { kes: 'p4ss word' },
    boxes: [BOX, 'other-box'],
  });
  ca = writeCaFile(kc.ca);
  caFile = ca.file;
});
after(async () => {
  await kc.stop();
  ca.remove();
});

const config = (overrides: Partial<EntrustStoreConfig> = {}): EntrustStoreConfig => ({
  kind: 'entrust',
  endpoint: kc.endpoint,
  vaultId: VAULT,
  boxId: BOX,
  username: 'kes',
  password: 'p4ss word',
  ca: caFile,
  ...overrides,
});
const open = (overrides: Partial<EntrustStoreConfig> = {}, onError?: (m: string) => void) =>
  EntrustKeyStore.connect(config(overrides), { backoff: 5, ...(onError ? { onError } : {}) });

describe('Entrust KeyControl key store', () => {
  it('the stand-in refuses what KeyControl refuses', async () => {
    const call = (path: string, body: string, headers: Record<string, string> = {}) =>
      httpsCall(`${kc.endpoint}/vault/1.0/${path}`, kc.ca, { method: 'POST', headers, body });
    const json = { 'Content-Type': 'application/json' };
    assert.equal(
      (await call('Login/wrong-vault/', '{"username":"kes","password":"p4ss word"}', json)).status,
      404,
    );
    assert.equal(
      (await call(`Login/${VAULT}/`, '{"username":"kes","password":"nope"}', json)).status,
      401,
    );
    assert.equal((await call(`Login/${VAULT}/`, '{"user":"kes"}', json)).status, 400);
    const login = await call(`Login/${VAULT}/`, '{"username":"kes","password":"p4ss word"}', json);
    assert.equal(login.status, 200);
    const token = (JSON.parse(login.text) as { access_token: string }).access_token;
    const auth = { 'X-Vault-Auth': token };

    assert.equal((await call('GetBox/', `{"box_id":"${BOX}"}`)).status, 401);
    assert.equal(
      (await call('GetBox/', `{"box_id":"${BOX}"}`, { 'X-Vault-Auth': 'forged' })).status,
      401,
    );
    assert.equal((await call('GetBox/', `{"box_id":"${BOX}"}`, auth)).status, 200);
    assert.equal((await call('GetBox/', '{"box_id":"no-such-box"}', auth)).status, 404);
    assert.equal(
      (await call('GetBox/', `{"box_id":"${BOX}"}`, { ...auth, 'Content-Type': 'text/plain' }))
        .status,
      415,
    );
    assert.equal(
      (await call('GetBox', `{"box_id":"${BOX}"}`, auth)).status,
      404,
      'no trailing slash',
    );
    for (const bad of [
      `{"box_id":"${BOX}","name":"s","secret_data":"not base64!"}`,
      `{"box_id":"${BOX}","name":"","secret_data":"dg=="}`,
      `{"box_id":"${BOX}","name":"s","secret_data":"dg==","owner":"x"}`,
      `{"box_id":"${BOX}","name":"s"`,
    ]) {
      assert.equal((await call('CreateSecret/', bad, auth)).status, 400, bad);
    }
    assert.equal(kc.box(BOX).size, 0);
    const good = `{"box_id":"${BOX}","name":"s","secret_data":"dg=="}`;
    assert.equal((await call('CreateSecret/', good, auth)).status, 200);
    const taken = await call('CreateSecret/', good, auth);
    assert.equal(taken.status, 409);
    assert.equal(taken.text, '{"error":"Secret already exists"}');
    const missing = await call('CheckoutSecret/', `{"box_id":"${BOX}","secret_id":"nope"}`, auth);
    assert.equal(missing.status, 404);
    assert.equal(missing.text, '{"error":"Secret not found"}');
    assert.equal(
      (await call('ListSecretIds/', `{"box_id":"${BOX}","max_items":0}`, auth)).status,
      400,
    );
    assert.equal(
      (await call('ListSecretIds/', `{"box_id":"${BOX}","max_items":5,"next_token":"%%"}`, auth))
        .status,
      400,
    );
    assert.equal((await call('Renew/', '', auth)).status, 200);
    assert.equal(
      (await call('GetBox/', `{"box_id":"${BOX}"}`, auth)).status,
      401,
      'renewal replaced it',
    );
    kc.box(BOX).clear();
  });

  it('logs in, checks the box, and stores KES’s layout with KES’s requests', async () => {
    kc.requests.length = 0;
    const store = await open();
    try {
      assert.deepEqual(
        kc.requests.map((r) => r.url),
        [`/vault/1.0/Login/${VAULT}/`, '/vault/1.0/GetBox/'],
      );
      assert.equal(kc.requests[0]!.body, '{"username":"kes","password":"p4ss word"}');
      assert.equal(kc.requests[0]!.headers['content-type'], 'application/json');
      assert.equal(kc.requests[1]!.body, `{"box_id":"${BOX}"}`);

      await store.create('my-key', 'STORED-VALUE');
      const create = kc.requests.at(-1)!;
      assert.equal(create.url, '/vault/1.0/CreateSecret/');
      assert.equal(create.headers['content-type'], undefined, 'no Content-Type, as KES');
      assert.match(String(create.headers['x-vault-auth']), /^[0-9a-f]{48}$/);
      assert.equal(
        create.body,
        `{"box_id":"${BOX}","name":"my-key","secret_data":"${Buffer.from('STORED-VALUE').toString('base64')}"}`,
      );
      assert.equal(await store.get('my-key'), 'STORED-VALUE');
      assert.equal(kc.requests.at(-1)!.body, `{"box_id":"${BOX}","secret_id":"my-key"}`);
      await assert.rejects(store.create('my-key', 'OTHER'), KeyExistsError);
      await assert.rejects(store.get('nope'), KeyNotFoundError);
      await store.delete('my-key');
      assert.equal(kc.requests.at(-1)!.url, '/vault/1.0/DeleteSecret/');
      await assert.rejects(store.delete('my-key'), KeyNotFoundError);

      // Every page, no empty names, expired secrets left out.
      for (let i = 0; i < 600; i++) kc.put(BOX, `page-${String(i).padStart(3, '0')}`, 'v');
      kc.box(BOX).get('page-007')!.expired = true;
      kc.put('other-box', 'elsewhere', 'v');
      kc.requests.length = 0;
      const names = await store.list('');
      assert.equal(names.length, 599);
      assert.ok(names.every((n) => n.startsWith('page-')));
      assert.equal(kc.requests.length, 3);
      assert.equal(kc.requests[0]!.body, `{"box_id":"${BOX}","max_items":256}`);
      assert.match(
        kc.requests[1]!.body,
        /^\{"box_id":"kes-box","max_items":256,"next_token":"[A-Za-z0-9+/=]+"\}$/,
      );
      assert.equal((await store.list('page-1')).length, 100);
      kc.box(BOX).clear();
      assert.deepEqual(await store.list(''), []);
    } finally {
      await store.close();
    }
  });

  it('renews at half the lifetime; a failed renewal logs in again; a refused token is replaced', async () => {
    kc.tokenLifetime = 1;
    const errors: string[] = [];
    const store = await open({}, (m) => errors.push(m));
    try {
      const renewals = kc.renewals;
      for (let i = 0; i < 40 && kc.renewals < renewals + 2; i++) await sleep(100);
      assert.ok(kc.renewals >= renewals + 2, 'renewed twice');
      await store.status();

      // Renewal refused (the token expired early): a full login follows.
      const logins = kc.logins;
      kc.expireTokens();
      for (let i = 0; i < 40 && kc.logins === logins; i++) await sleep(100);
      assert.ok(kc.logins > logins, 'logged in again');
      assert.ok(
        errors.some((m) => /failed to renew auth token: .*401/.test(m)),
        errors.join(),
      );
      await store.status();

      kc.tokenLifetime = 1800;
      // Wait for a renewal that hands out a long-lived token, then expire it early.
      const now = kc.renewals + kc.logins;
      for (let i = 0; i < 40 && kc.renewals + kc.logins === now; i++) await sleep(100);
      kc.put(BOX, 'k', 'V');
      kc.expireTokens();
      const before = kc.logins;
      assert.equal(await store.get('k'), 'V');
      assert.equal(kc.logins, before + 1, 'one new login, then the call repeated');

      // Without `expires_at` a token is taken to live 5 minutes (KES's assumption).
      kc.omitExpiry = true;
      const assumed = await open();
      await assumed.status();
      await assumed.close();
      kc.omitExpiry = false;
    } finally {
      await store.close();
      kc.tokenLifetime = 1800;
      kc.box(BOX).clear();
    }
  });

  it('wrong credentials, a missing box, an unreachable store fail at connect; 5xx retried', async () => {
    await assert.rejects(
      open({ password: 'nope' }),
      /keycontrol: login failed: 401: Invalid username or password/,
    );
    await assert.rejects(
      open({ vaultId: 'other' }),
      /keycontrol: login failed: 404: Vault not found/,
    );
    await assert.rejects(
      open({ boxId: 'missing' }),
      /keycontrol: failed to fetch status: 404: Box not found/,
    );
    await assert.rejects(open({ endpoint: 'https://127.0.0.1:1' }), StoreUnreachableError);
    const store = await open();
    try {
      kc.put(BOX, 'r', 'R');
      kc.fail(2, { status: 503, text: 'unavailable' });
      assert.equal(await store.get('r'), 'R');
    } finally {
      await store.close();
      kc.box(BOX).clear();
    }
  });
});

// One test at a time: the outage test stops the stand-in, which a refused start running beside it
// would see as an unreachable store instead of a refusal.
describe('KES gateway over Entrust KeyControl', () => {
  const { appKey, app, files } = gatewayParties();
  const kesConfig = gatewayConfig(
    app,
    `keystore:
  entrust:
    keycontrol:
      endpoint: \${KC_ENDPOINT}
      vault_id: ${VAULT}
      box_id: ${BOX}
      credentials:
        username: kes
        password: \${KC_PASSWORD}
      tls:
        ca: \${KC_CA}
`,
  );
  const start = (password = 'p4ss word') =>
    startKesServer({
      config: kesConfig,
      files,
      env: { KC_ENDPOINT: kc.endpoint, KC_PASSWORD: password, KC_CA: caFile },
    });

  it('serves keys in KES’s layout with 2-second tokens; opens a key KES wrote; survives an outage', async () => {
    kc.tokenLifetime = 2;
    const server = await start();
    try {
      const renewals = kc.renewals;
      await roundTrip(server, appKey, app, 'keycontrol-key', (n) => {
        const secret = kc.box(BOX).get(n);
        return secret && Buffer.from(secret.data, 'base64').toString();
      });
      const client = await opensKesKey(
        server,
        appKey,
        (name, value) => kc.put(BOX, name, value),
        5,
      );
      for (let i = 0; i < 50 && kc.renewals < renewals + 3; i++) await sleep(100);
      assert.ok(kc.renewals >= renewals + 3, `${kc.renewals - renewals} renewals`);
      await client.generateKey('from-kes');
      await outage(server, appKey, app, kc);
    } finally {
      await server.stop();
      kc.tokenLifetime = 1800;
      kc.box(BOX).clear();
    }
  });

  it('refuses to start with a wrong password', async () => {
    const output = await refusedStart(() => start('wrong'));
    assert.match(output, /cannot connect to the key store: keycontrol: login failed: 401/);
  });
});

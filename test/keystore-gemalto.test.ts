// Keyhold's Thales CipherTrust Manager / Gemalto KeySecure key store against a protocol-faithful
// local CipherTrust over TLS (its test CA named in `tls.ca`): what the stand-in refuses, KES's
// exact requests and stored layout (a `seed` secret named like the key, the KES stored value
// as its material), JWT renewal at half its lifetime and after a failure every `retry`, a JWT
// refused mid-operation replaced at once, listing without KES's extra empty request, an
// out-of-sync page refused; then a real `keyhold server` over it: the KES API and SDK, a key
// KES wrote, renewal with 2-second tokens, a wrong refresh token at start, an outage.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { GemaltoStoreConfig } from '../src/config/keystore-config.ts';
import { GemaltoKeyStore } from '../src/keystore/gemalto/gemalto-keystore.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
} from '../src/keystore/keystore.ts';
import { FakeCipherTrust } from './helpers/ciphertrust-server.ts';
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

const REFRESH = 'rT0k3n-kes';

let cm: FakeCipherTrust;
let ca: CaFile;
let caFile: string;

before(async () => {
  cm = await FakeCipherTrust.start({ refreshTokens: { [REFRESH]: 'kes-domain', other: '' } });
  ca = writeCaFile(cm.ca);
  caFile = ca.file;
});
after(async () => {
  await cm.stop();
  ca.remove();
});

const config = (overrides: Partial<GemaltoStoreConfig> = {}): GemaltoStoreConfig => ({
  kind: 'gemalto',
  endpoint: cm.endpoint,
  token: REFRESH,
  domain: 'kes-domain',
  retry: 200,
  ca: caFile,
  ...overrides,
});

describe('CipherTrust / KeySecure key store', () => {
  it('the stand-in refuses what CipherTrust refuses', async () => {
    const call = (method: string, path: string, body?: string, auth = '') =>
      httpsCall(`${cm.endpoint}${path}`, cm.ca, {
        method,
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
    const login = (body: string) => call('POST', '/api/v1/auth/tokens', body);
    assert.equal(
      (await login(`{"grant_type":"refresh_token","refresh_token":"${REFRESH}","domain":""}`))
        .status,
      401,
      'a refresh token only works in its domain',
    );
    assert.equal((await login('{"grant_type":"password","username":"u"}')).status, 400);
    assert.equal((await login('{"grant_type":')).status, 400);
    const ok = await login(
      `{"grant_type":"refresh_token","refresh_token":"${REFRESH}","domain":"kes-domain"}`,
    );
    assert.equal(ok.status, 200);
    const bearer = `Bearer ${(JSON.parse(ok.text) as { jwt: string }).jwt}`;

    assert.equal((await call('GET', '/api/v1/vault/secrets')).status, 401);
    assert.equal(
      (await call('GET', '/api/v1/vault/secrets', undefined, 'Bearer eyJforged')).status,
      401,
    );
    assert.equal(
      (await call('GET', '/api/v1/vault/secrets?offset=1', undefined, bearer)).status,
      400,
    );
    for (const bad of [
      '{"name":"s","dataType":"seed"}',
      '{"name":"s","dataType":"key","material":"m"}',
      '{"name":"","dataType":"seed","material":"m"}',
      '{"name":"s","dataType":"seed","material":"m","extra":1}',
      'not json',
    ]) {
      assert.equal((await call('POST', '/api/v1/vault/secrets', bad, bearer)).status, 400, bad);
    }
    assert.equal(cm.secrets.size, 0);
    const good = '{"dataType":"seed","material":"m","name":"s"}';
    assert.equal((await call('POST', '/api/v1/vault/secrets', good, bearer)).status, 201);
    const taken = await call('POST', '/api/v1/vault/secrets', good, bearer);
    assert.equal(taken.status, 409);
    assert.equal(
      taken.text,
      '{"code":4,"codeDesc":"NCERRResourceAlreadyExists: Resource already exists"}',
    );
    const missing = await call(
      'POST',
      '/api/v1/vault/secrets/nope/export?type=name',
      undefined,
      bearer,
    );
    assert.equal(missing.status, 404);
    assert.equal(
      (await call('POST', '/api/v1/vault/secrets/s/export?type=label', undefined, bearer)).status,
      400,
    );
    cm.expireTokens();
    assert.equal(
      (await call('POST', '/api/v1/vault/secrets/s/export?type=name', undefined, bearer)).status,
      401,
    );
    cm.secrets.clear();
  });

  it('authenticates, stores and reads KES’s layout; lists without an extra request', async () => {
    cm.requests.length = 0;
    const store = await GemaltoKeyStore.connect(config(), { backoff: 5 });
    try {
      const login = cm.requests[0]!;
      assert.equal(`${login.method} ${login.url}`, 'POST /api/v1/auth/tokens');
      assert.equal(
        login.body,
        `{"grant_type":"refresh_token","refresh_token":"${REFRESH}","domain":"kes-domain"}`,
      );
      await store.create('my-key', 'STORED-VALUE');
      const create = cm.requests.at(-1)!;
      assert.equal(`${create.method} ${create.url}`, 'POST /api/v1/vault/secrets');
      assert.equal(create.body, '{"dataType":"seed","material":"STORED-VALUE","name":"my-key"}');
      assert.match(String(create.headers.authorization), /^Bearer eyJ/);
      assert.equal(await store.get('my-key'), 'STORED-VALUE');
      const get = cm.requests.at(-1)!;
      assert.equal(
        `${get.method} ${get.url}`,
        'POST /api/v1/vault/secrets/my-key/export?type=name',
      );
      assert.equal(get.body, '');
      await assert.rejects(store.create('my-key', 'OTHER'), KeyExistsError);
      await assert.rejects(store.get('nope'), KeyNotFoundError);
      await store.delete('my-key');
      assert.equal(cm.requests.at(-1)!.url, '/api/v1/vault/secrets/my-key?type=name');
      await assert.rejects(store.delete('my-key'), KeyNotFoundError);

      for (let i = 0; i < 400; i++) cm.put(`page-${i}`, 'v');
      cm.requests.length = 0;
      const names = await store.list('');
      assert.equal(names.length, 400);
      // Exactly two pages of 200: KES asks a third, empty one.
      assert.deepEqual(
        cm.requests.map((r) => r.url),
        ['/api/v1/vault/secrets?limit=200&skip=0', '/api/v1/vault/secrets?limit=200&skip=200'],
      );
      assert.equal((await store.list('page-1')).length, 111);
      cm.skewSkip = 1;
      await assert.rejects(
        store.list(''),
        /pagination is out-of-sync: tried to skip 0 but skipped 1/,
      );
      cm.skewSkip = 0;
      cm.secrets.clear();
      assert.deepEqual(await store.list(''), []);
    } finally {
      await store.close();
    }
  });

  it('renews the JWT at half its lifetime, retries a failed renewal, replaces a refused JWT', async () => {
    cm.tokenLifetime = 1;
    const errors: string[] = [];
    const store = await GemaltoKeyStore.connect(config(), {
      backoff: 5,
      onError: (m) => errors.push(m),
    });
    try {
      const issued = cm.tokensIssued;
      await sleep(1800);
      assert.ok(cm.tokensIssued >= issued + 2, `renewed ${cm.tokensIssued - issued} times`);
      await store.status();

      // A failed renewal (refresh token revoked) is reported and retried every `retry`.
      cm.refreshTokens.delete(REFRESH);
      await sleep(1200);
      assert.ok(
        errors.some((m) => /failed to renew the auth token: .*401/.test(m)),
        errors.join(),
      );
      cm.refreshTokens.set(REFRESH, 'kes-domain');
      cm.tokenLifetime = 300;
      await sleep(600);
      await store.status();

      // A JWT refused before its time: a new one, and the call is repeated.
      cm.put('k', 'V');
      cm.expireTokens();
      const before = cm.tokensIssued;
      assert.equal(await store.get('k'), 'V');
      assert.equal(cm.tokensIssued, before + 1);
    } finally {
      await store.close();
      cm.tokenLifetime = 300;
      cm.secrets.clear();
    }
  });

  it('5xx retried; a wrong refresh token, an unreachable store fail at connect', async () => {
    const store = await GemaltoKeyStore.connect(config(), { backoff: 5 });
    try {
      cm.put('r', 'R');
      cm.fail(2, { status: 502, text: 'bad gateway' });
      assert.equal(await store.get('r'), 'R');
      cm.fail(3, { status: 500, json: { code: 1, codeDesc: 'NCERRInternal: boom' } });
      await assert.rejects(
        store.get('r'),
        /gemalto: failed to access key 'r': 500: NCERRInternal: boom \(1\)/,
      );
    } finally {
      await store.close();
      cm.secrets.clear();
    }
    await assert.rejects(
      GemaltoKeyStore.connect(config({ token: 'wrong' }), { backoff: 5 }),
      /gemalto: authentication failed: 401: NCERRAuthenticationFailed: Invalid refresh token/,
    );
    await assert.rejects(
      GemaltoKeyStore.connect(config({ endpoint: 'https://127.0.0.1:1' }), { backoff: 5 }),
      StoreUnreachableError,
    );
  });
});

// One test at a time: the outage test stops the stand-in, which a refused start running beside it
// would see as an unreachable store instead of a refusal.
describe('KES gateway over CipherTrust / KeySecure', () => {
  const { appKey, app, files } = gatewayParties();
  const kesConfig = gatewayConfig(
    app,
    `keystore:
  gemalto:
    keysecure:
      endpoint: \${CM_ENDPOINT}
      credentials:
        token: \${CM_REFRESH_TOKEN}
        domain: kes-domain
        retry: 1s
      tls:
        ca: \${CM_CA}
`,
  );
  const start = (token = REFRESH) =>
    startKesServer({
      config: kesConfig,
      files,
      env: { CM_ENDPOINT: cm.endpoint, CM_REFRESH_TOKEN: token, CM_CA: caFile },
    });

  it('serves keys in KES’s layout with 2-second tokens; opens a key KES wrote; survives an outage', async () => {
    cm.tokenLifetime = 2;
    const server = await start();
    try {
      const issued = cm.tokensIssued;
      await roundTrip(server, appKey, app, 'ciphertrust-key', (n) => cm.secrets.get(n)?.material);
      const client = await opensKesKey(server, appKey, (name, value) => cm.put(name, value), 3);
      // Two more renewals (one a second) arrive while the gateway idles.
      for (let i = 0; i < 50 && cm.tokensIssued < issued + 3; i++) await sleep(100);
      assert.ok(cm.tokensIssued >= issued + 3, `${cm.tokensIssued - issued} JWTs issued`);
      await client.generateKey('from-kes');
      await outage(server, appKey, app, cm);
    } finally {
      await server.stop();
      cm.tokenLifetime = 300;
      cm.secrets.clear();
    }
  });

  it('refuses to start with a wrong refresh token', async () => {
    const output = await refusedStart(() => start('revoked'));
    assert.match(output, /cannot connect to the key store: gemalto: authentication failed: 401/);
  });
});

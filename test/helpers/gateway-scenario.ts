// Steps every key store's end-to-end test runs against a real `keyhold server` process in KES
// gateway mode: the KES API round trip through the KES SDK and raw requests (create, exists,
// generate, decrypt, list, describe, delete), and an outage of the store: cached keys keep
// serving, the store probe marks it offline (readiness 504), the `offline` tick evicts,
// and requests then fail with KES's errors until the store is back. Also what each such test
// sets up alike: the app's identity and the server's certificate, the KES config around the
// store's `keystore:` section, a key KES wrote opening, and a refused start.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseKesKeyValue } from '../../src/crypto/index.ts';
import { createCertificate } from '../../src/identity/index.ts';
import { ApiKey, KesClient } from '../../src/sdk/index.ts';
import type { ClientCert, KesServer } from '../kes-server-support.ts';
import { apiKeyCert, errorBody, kes } from '../kes-server-support.ts';
import { ServerExit } from './server-process.ts';

/** The gateway's one application (an API key and its identity) and the server's certificate. */
export function gatewayParties(): {
  appKey: ApiKey;
  app: ClientCert;
  files: Record<string, string>;
} {
  const appKey = ApiKey.generate('kes');
  const tls = createCertificate({
    keyType: 'p256',
    commonName: 'kes',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
  });
  return {
    appKey,
    app: apiKeyCert(appKey),
    files: { 'server.key': tls.key, 'server.cert': tls.cert },
  };
}

/**
 * A KES config as gateway deployments write it: the app allowed the key API, status and readiness;
 * a 2-s offline cache and a store probe every 500 ms instead of 10 s (so the outage is noticed,
 * and its eviction and recovery come, quickly; test/keystore-gateway.test.ts keeps the default);
 * `keystore` is the YAML of the store's section, starting at `keystore:`.
 */
export function gatewayConfig(app: ClientCert, keystore: string): string {
  return `address: 0.0.0.0:7373
admin:
  identity: disabled
tls:
  key: ./server.key
  cert: ./server.cert
cache:
  expiry:
    any: 5m
    unused: 5m
    offline: 2s
policy:
  app:
    allow: ["/v1/key/*", "/v1/status", "/v1/ready"]
    identities: ["${app.identity}"]
keyhold:
  keystore_probe_interval: 500ms
${keystore}`;
}

/**
 * A key KES created (its legacy JSON value, written into the store by `put`) opens: a data key
 * generated with it decrypts. Returns the client used.
 */
export async function opensKesKey(
  server: KesServer,
  appKey: ApiKey,
  put: (name: string, value: string) => void,
  fill: number,
): Promise<KesClient> {
  put(
    'from-kes',
    JSON.stringify({
      bytes: Buffer.alloc(32, fill).toString('base64'),
      algorithm: 'AES256-GCM_SHA256',
    }),
  );
  const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
  const dek = await client.generateKey('from-kes');
  assert.ok((await client.decrypt('from-kes', dek.ciphertext)).equals(dek.plaintext));
  return client;
}

/** What a server that must not start printed (fails the test if it started). */
export async function refusedStart(start: () => Promise<KesServer>): Promise<string> {
  const refused = await start().then(
    async (server) => {
      await server.stop();
      return assert.fail('the server started');
    },
    (error: unknown) => error,
  );
  assert.ok(refused instanceof ServerExit);
  return refused.output;
}

/** A stand-in that can go away and come back on the same port. */
export interface Outage {
  stop(): Promise<void>;
  listen(): Promise<void>;
}

/**
 * Creates `name` through the SDK, checks `stored(name)` (the value as the store holds it, after
 * the backend's own encoding is undone) is KES's format with the caller as creator, and that
 * KES's own reading of it opens a data key; then exists, list, delete and not-found answers.
 */
export async function roundTrip(
  server: KesServer,
  appKey: ApiKey,
  app: ClientCert,
  name: string,
  stored: (name: string) => string | undefined,
): Promise<void> {
  const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
  await client.createKey(name);
  const value = stored(name);
  assert.ok(value, `the store holds '${name}'`);
  const parsed = parseKesKeyValue(value);
  assert.equal(parsed.key.type, 'AES256');
  assert.equal(parsed.createdBy, app.identity);

  const context = Buffer.from('{"bucket":"b"}');
  const dek = await client.generateKey(name, context);
  assert.ok((await client.decrypt(name, dek.ciphertext, context)).equals(dek.plaintext));
  // KES, reading the same stored value, opens the ciphertext too.
  assert.ok(parsed.key.open(dek.ciphertext, context).equals(dek.plaintext));

  const again = await kes(server.endpoint, app, 'PUT', `/v1/key/create/${name}`);
  assert.equal(again.status, 400);
  assert.equal(again.text, errorBody('key already exists'));
  const listed: string[] = [];
  for await (const n of client.listKeys(name)) listed.push(n);
  assert.deepEqual(listed, [name]);

  await client.deleteKey(name);
  assert.equal(stored(name), undefined);
  const missing = await kes(server.endpoint, app, 'PUT', `/v1/key/generate/${name}`, { body: {} });
  assert.equal(missing.status, 404);
  assert.equal(missing.text, errorBody('key does not exist'));
  const deleted = await kes(server.endpoint, app, 'DELETE', `/v1/key/delete/${name}`);
  assert.equal(deleted.status, 404);
  assert.equal(deleted.text, errorBody('key does not exist'));
}

/**
 * The store goes away while `cached` is in the cache (the config's `cache.expiry.offline` must
 * be short and `any`/`unused` long): `cached` still serves, an uncached key is KES's 502; the
 * probe marks the store offline (status unreachable, readiness 504); the offline tick evicts,
 * and `cached` fails with 502 too. Back online, everything serves again.
 */
export async function outage(
  server: KesServer,
  appKey: ApiKey,
  app: ClientCert,
  store: Outage,
): Promise<void> {
  const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
  await client.createKey('cached');
  await client.createKey('uncached');
  await client.generateKey('cached');
  await store.stop();
  try {
    await client.generateKey('cached');
    const uncached = await kes(server.endpoint, app, 'PUT', '/v1/key/generate/uncached', {
      body: {},
    });
    assert.equal(uncached.status, 502);
    assert.equal(uncached.text, errorBody('failed to read key'));
    const created = await kes(server.endpoint, app, 'PUT', '/v1/key/create/while-down');
    assert.equal(created.status, 502);
    assert.equal(created.text, errorBody('failed to create key'));

    // The probe runs every 500 ms (gatewayConfig).
    let ready = 0;
    for (let i = 0; i < 60 && ready !== 504; i++) {
      ready = (await kes(server.endpoint, app, 'GET', '/v1/ready')).status;
      if (ready !== 504) await sleep(250);
    }
    assert.equal(ready, 504, 'the store is marked offline');
    const status = await kes(server.endpoint, app, 'GET', '/v1/status');
    assert.equal(status.json<Record<string, unknown>>().keystore_unreachable, true);

    let read = 0;
    let text = '';
    for (let i = 0; i < 40 && read !== 502; i++) {
      const answer = await kes(server.endpoint, app, 'PUT', '/v1/key/generate/cached', {
        body: {},
      });
      read = answer.status;
      text = answer.text;
      if (read !== 502) await sleep(250);
    }
    assert.equal(read, 502, 'evicted by the offline tick');
    assert.equal(text, errorBody('failed to read key'));
  } finally {
    await store.listen();
  }
  await client.generateKey('cached');
  await client.generateKey('uncached');
}

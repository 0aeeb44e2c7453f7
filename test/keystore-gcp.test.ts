// Keyhold's GCP Secret Manager key store (Google's official client on its REST transport)
// against a local Secret Manager and metadata server, through real `keyhold server` processes
// that trust the test CA via NODE_EXTRA_CA_CERTS: KES's layout (secret id = key name, the stored
// value as version 1's payload), create-if-absent (completing a secret KES left without a
// version; a racing writer's version 1 wins), paging, delete; each credential source the
// client library offers that runs locally: a service account in the config, a key file named by
// GOOGLE_APPLICATION_CREDENTIALS, the metadata server (with renewal after its token expires),
// and a wrong key or project refused at start.

import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKesKeyValue } from '../src/crypto/index.ts';
import { createCertificate } from '../src/identity/index.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { GcpKeyStore } from '../src/keystore/gcp/gcp-keystore.ts';
import { StoreUnreachableError } from '../src/keystore/keystore.ts';
import { FakeSecretManager } from './helpers/gcp-server.ts';
import { httpsCall } from './helpers/https-call.ts';
import { ServerExit, apiKeyCert, kes, startKesServer } from './kes-server-support.ts';

const account = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof account) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EMAIL = 'kes@my-project.iam.gserviceaccount.com';
const PROJECT = 'my-project';

describe('KES gateway over GCP Secret Manager', () => {
  let gcp: FakeSecretManager;
  let dir: string;
  const appKey = ApiKey.generate('kes');
  const app = apiKeyCert(appKey);
  const tls = createCertificate({
    keyType: 'p256',
    commonName: 'k',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
  });

  /** A KES config over the stand-in; `credentials` is the YAML under `secretmanager:`. */
  const config = (credentials: string, project = PROJECT) =>
    `admin:\n  identity: disabled\ntls:\n  key: ./s.key\n  cert: ./s.cert\npolicy:\n  app:\n    allow: ["/v1/key/*", "/v1/status"]\n    identities: ["${app.identity}"]\nkeystore:\n  gcp:\n    secretmanager:\n      project_id: ${project}\n      endpoint: ${gcp.endpoint}\n${credentials}`;
  // The private key on one line with literal \n sequences (single-quoted YAML keeps them).
  const serviceAccount = (key = pem(account)) =>
    `      credentials:\n        client_email: ${EMAIL}\n        client_id: "1"\n        private_key_id: k1\n        private_key: '${key.trim().replace(/\n/g, '\\n')}'\n`;
  const start = (yaml: string, env: Record<string, string> = {}, expectFailure = false) =>
    startKesServer({
      config: yaml,
      files: { 's.key': tls.key, 's.cert': tls.cert },
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), ...env },
      expectFailure,
    });

  before(async () => {
    gcp = await FakeSecretManager.start({
      project: PROJECT,
      projectNumber: '123456789',
      accounts: { [EMAIL]: { k1: account.publicKey } },
    });
    dir = mkdtempSync(join(tmpdir(), 'keyhold-gcp-'));
    writeFileSync(join(dir, 'ca.pem'), gcp.ca);
  });
  after(async () => {
    await gcp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the stand-in refuses what Secret Manager refuses', async () => {
    /** A service account's self-signed JWT, as Google's libraries make it. */
    const jwt = (claims: Record<string, unknown>, key = account.privateKey, kid = 'k1') => {
      const now = Math.floor(Date.now() / 1000);
      const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const unsigned = `${part({ alg: 'RS256', typ: 'JWT', kid })}.${part({
        iss: EMAIL,
        sub: EMAIL,
        scope: 'https://www.googleapis.com/auth/cloud-platform',
        iat: now,
        exp: now + 3600,
        ...claims,
      })}`;
      return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(key).toString('base64url')}`;
    };
    const secrets = `${gcp.endpoint}/v1/projects/${PROJECT}/secrets`;
    const call = (url: string, token: string, method = 'GET', body?: string) =>
      httpsCall(url, gcp.ca, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
    const good = jwt({});
    assert.equal((await call(secrets, good)).status, 200);
    const now = Math.floor(Date.now() / 1000);
    for (const refused of [
      jwt({}, other.privateKey),
      jwt({}, account.privateKey, 'k2'),
      jwt({ iat: now - 7200, exp: now - 3600 }),
      jwt({ exp: now + 7200 }),
      jwt({ scope: 'https://www.googleapis.com/auth/devstorage.read_only' }),
      jwt({ sub: 'someone@else' }),
      'ya29.unknown',
    ]) {
      const answer = await call(secrets, refused);
      assert.equal(answer.status, 401);
      assert.match(answer.text, /UNAUTHENTICATED/);
    }
    assert.equal((await call(`${secrets}?surprise=1`, good)).status, 400);
    assert.equal(
      (await call(`${secrets}?secretId=s`, good, 'POST', '{"replication":')).status,
      400,
    );
    assert.equal((await call(`${secrets}?secretId=s`, good, 'POST', '{}')).status, 400);
    assert.equal(
      (await call(`${secrets}?secretId=s`, good, 'POST', '{"replication":{"automatic":{}},"x":1}'))
        .status,
      400,
    );
    assert.equal(gcp.secrets.has('s'), false);
    assert.equal(
      (await call(`${secrets}?secretId=s`, good, 'POST', '{"replication":{"automatic":{}}}'))
        .status,
      200,
    );
    assert.equal(
      (await call(`${secrets}/s:addVersion`, good, 'POST', '{"payload":{"data":"%%"}}')).status,
      400,
    );
    assert.equal(
      (await call(`${secrets}/s:addVersion`, good, 'POST', '{"data":"dg=="}')).status,
      400,
    );
    assert.equal(gcp.secrets.get('s')!.length, 0);
    assert.equal((await call(`${gcp.endpoint}/v1/projects/other/secrets`, good)).status, 403);
    gcp.secrets.delete('s');
  });

  it('a service account in the config: KES’s layout, create-if-absent, version 1, paging', async () => {
    const server = await start(config(serviceAccount()));
    try {
      const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
      await client.createKey('my-key');
      const stored = Buffer.from(gcp.secrets.get('my-key')![0]!, 'base64').toString();
      assert.equal(parseKesKeyValue(stored).createdBy, app.identity);
      const dek = await client.generateKey('my-key');
      assert.ok((await client.decrypt('my-key', dek.ciphertext)).equals(dek.plaintext));
      await assert.rejects(client.createKey('my-key'), /key already exists/);
      // A later version never changes the key.
      gcp.secrets.get('my-key')!.push(Buffer.from('LATER').toString('base64'));
      assert.ok((await client.decrypt('my-key', dek.ciphertext)).equals(dek.plaintext));

      // A secret without versions (KES's second call failed) is completed, not "exists" forever.
      gcp.secrets.set('half', []);
      await client.createKey('half');
      assert.equal(gcp.secrets.get('half')!.length, 1);
      await client.describeKey('half');

      // Another writer adds its version between our two calls: its version 1 is the key.
      gcp.secrets.set('raced', []);
      gcp.beforeAddVersion = (id, versions) => {
        if (id === 'raced') versions.push(Buffer.from('THEIRS').toString('base64'));
      };
      await assert.rejects(client.createKey('raced'), /key already exists/);
      gcp.beforeAddVersion = undefined;
      assert.equal(gcp.secrets.get('raced')!.length, 2);

      await client.deleteKey('half');
      assert.equal(gcp.secrets.has('half'), false);
      await assert.rejects(client.deleteKey('half'), /key does not exist/);
      await assert.rejects(client.describeKey('nope'), /key does not exist/);

      for (let i = 0; i < 260; i++) gcp.secrets.set(`page-${i}`, ['dg==']);
      const listed: string[] = [];
      for await (const name of client.listKeys('page-')) listed.push(name);
      assert.equal(listed.length, 260);
      // Every call carried the account's self-signed JWT (no token endpoint is involved).
      assert.ok(gcp.requests.length > 0);
      assert.ok(gcp.requests.every((r) => r.auth === 'jwt'));
    } finally {
      await server.stop();
      for (const id of [...gcp.secrets.keys()]) gcp.secrets.delete(id);
    }
  });

  it('GOOGLE_APPLICATION_CREDENTIALS names a key file when the config has none', async () => {
    writeFileSync(
      join(dir, 'sa.json'),
      JSON.stringify({
        type: 'service_account',
        project_id: PROJECT,
        private_key_id: 'k1',
        private_key: pem(account),
        client_email: EMAIL,
        client_id: '1',
      }),
    );
    gcp.requests.length = 0;
    const server = await start(config(''), {
      GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'sa.json'),
    });
    try {
      const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
      await client.createKey('from-env');
      assert.equal(gcp.secrets.get('from-env')!.length, 1);
      assert.ok(gcp.requests.every((r) => r.auth === 'jwt'));
    } finally {
      await server.stop();
    }
  });

  it('the metadata server: its token, and a new one after that token expires', async () => {
    gcp.requests.length = 0;
    const server = await start(config(''), { GCE_METADATA_HOST: gcp.metadataHost });
    try {
      const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
      await client.createKey('from-metadata');
      assert.ok(gcp.requests.every((r) => r.auth === 'token'));
      const issued = gcp.metadataTokens;
      assert.ok(issued >= 1);
      gcp.expireTokens();
      // The refused token is replaced and the call repeated.
      await client.describeKey('from-metadata');
      assert.ok(gcp.metadataTokens > issued);
      const status = await kes(server.endpoint, app, 'GET', '/v1/status');
      assert.equal(status.json<Record<string, unknown>>().keystore_unavailable, undefined);
    } finally {
      await server.stop();
    }
  });

  it('a store that does not answer is unreachable (not a refusal)', async () => {
    // (No TLS is reached: the connection is refused, so the test CA is not needed in-process.)
    const store = await GcpKeyStore.connect({
      kind: 'gcp',
      projectId: PROJECT,
      endpoint: 'https://127.0.0.1:9',
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      credentials: {
        clientEmail: EMAIL,
        clientId: '1',
        privateKeyId: 'k1',
        privateKey: pem(account),
      },
    });
    try {
      await assert.rejects(store.status(), StoreUnreachableError);
    } finally {
      await store.close();
    }
  });

  it('a key the account does not have, or a foreign project, is refused at start', async () => {
    await assert.rejects(
      start(config(serviceAccount(pem(other))), {}, true),
      (error: unknown) =>
        error instanceof ServerExit &&
        /not usable[\s\S]*UNAUTHENTICATED|invalid authentication/.test(error.output),
    );
    await assert.rejects(
      start(config(serviceAccount(), 'someone-elses'), {}, true),
      (error: unknown) =>
        error instanceof ServerExit && /PERMISSION_DENIED|Permission denied/.test(error.output),
    );
  });
});
